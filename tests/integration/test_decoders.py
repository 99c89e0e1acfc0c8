"""The OpenFlamingo language models that are not LLaMA-shaped — MPT (ALiBi,
fused Wqkv, bias-free LayerNorm, clip_qkv), GPT-NeoX (per-head fused QKV,
partial rotary, parallel residual, biases) and BioGPT (learned positions with
transformers' offset, scaled embeddings) — against transformers' own classes
on the same random weights: last-position logits for prompts of several
lengths (one long enough to be processed in two chunks, the second reading
the KV cache the first wrote), greedy generations token for token, f32 and
bf16 checkpoints, safetensors and pytorch_model.bin.  Plus the GPT-NeoX / MPT
byte-level tokenizer (from the shared llama.cpp MPT vocabulary) against the
`tokenizers` library, and the one-line refusals."""
import json
import os
import random
import sys
import zlib
from pathlib import Path

import pytest
import torch

from llm_fixtures import CORPUS, make_bytelevel_tokenizer, randomize_, read_f32, rel_err, run_iris

sys.path.insert(0, str(Path(__file__).parent))
from test_llama_logits import iris_logits  # noqa: E402  (the existing --dump-logits pattern)

SEED = int(os.environ.get("IRIS_TEST_SEED", random.randrange(1 << 30)))
SHARED = Path(os.environ.get("IRIS_SHARED", "../shared")) / "testdata" / "tokenizers"


def build_config(arch, vocab, **over):
    from transformers import BioGptConfig, GPTNeoXConfig, MptConfig
    if arch == "mpt":
        # MptConfig has no eos by default; without one iris falls back to the
        # tokenizer's </s> (id 1) while the reference loop would run past it.
        kw = dict(d_model=64, n_heads=4, n_layers=2, max_seq_len=512, vocab_size=vocab, expansion_ratio=4,
                  bos_token_id=0, eos_token_id=1)
        attn = over.pop("attn_config", {})
        kw.update(over)
        return MptConfig(attn_config=attn, **kw)
    kw = dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=160,
              vocab_size=vocab, max_position_embeddings=512, bos_token_id=0, eos_token_id=1)
    kw.update(over)
    if arch == "gpt_neox":
        return GPTNeoXConfig(**kw)
    if arch == "biogpt":
        return BioGptConfig(**kw)
    raise ValueError(arch)


def build(arch, tmp_path, seed, dtype=torch.float32, safe=True, **over):
    """A random transformers model + byte-level tokenizer saved in tmp_path."""
    from transformers import AutoModelForCausalLM
    tok = make_bytelevel_tokenizer(tmp_path / "tokenizer.json")
    cfg = build_config(arch, tok.get_vocab_size(), **over)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    randomize_(model, seed)
    if dtype != torch.float32:
        model = model.to(dtype)
    model.save_pretrained(str(tmp_path), safe_serialization=safe)
    return model, tok


def prompts(seed, tok):
    """A one-word, a sentence-sized and a ~300-token prompt (> the 256-row chunk)."""
    rng = random.Random(seed)
    words = " ".join(CORPUS).split()
    long = rng.choice(words)
    while len(tok.encode(long).ids) < 290:
        long += " " + rng.choice(words)
    return ["fox", "What color is the triangle? The quick brown fox", long]


def hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1].float().numpy()


VARIANTS = [
    ("mpt", {}),
    # 6 heads: ALiBi slopes of a non-power-of-two head count; clip_qkv
    ("mpt", {"d_model": 96, "n_heads": 6, "attn_config": {"clip_qkv": 0.3}}),
    ("mpt", {"tie_word_embeddings": False, "attn_config": {"softmax_scale": 0.2}}),
    ("gpt_neox", {}),
    ("gpt_neox", {"use_parallel_residual": False, "rotary_pct": 1.0, "attention_bias": False,
                  "hidden_act": "gelu_new", "rotary_emb_base": 500.0}),
    ("gpt_neox", {"tie_word_embeddings": True, "rotary_pct": 0.5}),
    ("biogpt", {}),
    ("biogpt", {"scale_embedding": False, "hidden_act": "gelu_new"}),
]


@pytest.mark.parametrize("arch,over", VARIANTS, ids=[f"{a}-{i}" for i, (a, _) in enumerate(VARIANTS)])
def test_logits_match_transformers_f32(tmp_path, arch, over):
    seed = (SEED + zlib.crc32(f"{arch}{over}".encode())) % 100000  # stable: IRIS_TEST_SEED reproduces
    model, tok = build(arch, tmp_path, seed, **json.loads(json.dumps(over)))
    for prompt in prompts(seed, tok):
        ids = tok.encode(prompt).ids
        ref = hf_logits(model, ids)
        got = iris_logits(tmp_path, tmp_path, prompt=prompt)
        assert got.shape == ref.shape
        err = rel_err(got, ref)
        assert err <= 1e-4, (arch, over, len(ids), err, f"seed {SEED}")


@pytest.mark.parametrize("arch", ["mpt", "gpt_neox", "biogpt"])
def test_greedy_generation_matches_transformers(tmp_path, arch):
    """iris decodes with its KV cache; transformers recomputes the whole sequence."""
    model, tok = build(arch, tmp_path, seed=SEED % 1000 + 3)
    prompt = "What color is the triangle? The quick brown fox"
    cur, gen = list(tok.encode(prompt).ids), []
    eos = model.config.eos_token_id
    for _ in range(12):
        with torch.no_grad():
            t = int(model(torch.tensor([cur])).logits[0, -1].argmax())
        if t == eos:
            break
        gen.append(t)
        cur.append(t)
    p = run_iris(["run", "-m", str(tmp_path), "-p", prompt, "-n", "12", "--temp", "0", "--threads", "2"])
    assert p.stdout.rstrip("\n") == tok.decode(gen, skip_special_tokens=True), f"seed {SEED}"


@pytest.mark.parametrize("arch", ["mpt", "gpt_neox", "biogpt"])
def test_bf16_and_pytorch_bin_checkpoints(tmp_path, arch):
    """bf16 weights computed in f32 (a fresh f32 load of the same file), saved
    as pytorch_model.bin: the torch-pickle reader path."""
    from transformers import AutoModelForCausalLM
    model, tok = build(arch, tmp_path, seed=SEED % 1000 + 5, dtype=torch.bfloat16, safe=False)
    assert (tmp_path / "pytorch_model.bin").exists()
    f32 = AutoModelForCausalLM.from_pretrained(str(tmp_path), torch_dtype=torch.float32).eval()
    prompt = prompts(1, tok)[1]
    ref = hf_logits(f32, tok.encode(prompt).ids)
    got = iris_logits(tmp_path, tmp_path, prompt=prompt)
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)


def test_refusals(tmp_path):
    model, tok = build("mpt", tmp_path, seed=1)
    cfg_path = tmp_path / "config.json"
    cfg = json.loads(cfg_path.read_text())
    # qk_ln: transformers' MPT ignores it, so there is no reference to follow
    cfg["attn_config"]["qk_ln"] = True
    cfg_path.write_text(json.dumps(cfg))
    p = run_iris(["run", "-m", str(tmp_path), "-p", "hi"], check=False)
    assert p.returncode == 1 and "qk_ln" in p.stderr and p.stderr.count("\n") == 1
    cfg["attn_config"]["qk_ln"] = False
    cfg["attn_config"]["alibi_bias_max"] = 6  # transformers ignores it and uses 8
    cfg_path.write_text(json.dumps(cfg))
    p = run_iris(["run", "-m", str(tmp_path), "-p", "hi"], check=False)
    assert p.returncode == 1 and "alibi_bias_max" in p.stderr
    cfg["attn_config"]["alibi_bias_max"] = 8
    cfg["attn_config"]["alibi"] = False
    cfg_path.write_text(json.dumps(cfg))
    p = run_iris(["run", "-m", str(tmp_path), "-p", "hi"], check=False)
    assert p.returncode == 1 and "ALiBi" in p.stderr
    # a missing layer names the tensor
    cfg["attn_config"]["alibi"] = True
    cfg["n_layers"] = 3
    cfg_path.write_text(json.dumps(cfg))
    p = run_iris(["run", "-m", str(tmp_path), "-p", "hi"], check=False)
    assert p.returncode == 1 and "blocks.2" in p.stderr and p.stderr.count("\n") == 1
    # GPT-NeoX: rotary dims that cannot rotate
    neox = tmp_path / "neox"
    neox.mkdir()
    build("gpt_neox", neox, seed=2)
    ncfg = json.loads((neox / "config.json").read_text())
    ncfg["rotary_pct"] = 0.1  # 1.6 of 16 dims
    (neox / "config.json").write_text(json.dumps(ncfg))
    p = run_iris(["run", "-m", str(neox), "-p", "hi"], check=False)
    assert p.returncode == 1 and "rotary" in p.stderr
    # BioGPT's own tokenizer (Moses + BPE) needs merges.txt beside vocab.json
    bio = tmp_path / "bio"
    bio.mkdir()
    build("biogpt", bio, seed=3)
    (bio / "tokenizer.json").unlink()
    (bio / "vocab.json").write_text(json.dumps({"<s>": 0, "<pad>": 1, "</s>": 2}))
    p = run_iris(["run", "-m", str(bio), "-p", "hi"], check=False)
    assert p.returncode == 1 and "merges.txt" in p.stderr and p.stderr.count("\n") == 1


# ---- the GPT-NeoX / MPT tokenizer (gpt-neox-20b's tokenizer.json layout)

def neox_tokenizer(path):
    """gpt-neox-20b's tokenizer.json rebuilt with `tokenizers` from the shared
    llama.cpp MPT vocabulary: NFC, byte-level BPE, <|endoftext|> / <|padding|>
    special, and the whitespace-run tokens as normalized non-special added
    tokens."""
    gguf = pytest.importorskip("gguf")
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    src = SHARED / "ggml-vocab-mpt.gguf"
    if not src.exists():
        pytest.skip(f"{src} absent (shared tokenizer vectors not available)")
    r = gguf.GGUFReader(str(src))
    f = r.fields["tokenizer.ggml.tokens"]
    toks = [bytes(f.parts[i]).decode() for i in f.data][:50277]  # past 50276: MPT's [PAD] rows
    f = r.fields["tokenizer.ggml.merges"]
    merges = [tuple(bytes(f.parts[i]).decode().split(" ", 1)) for i in f.data]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(toks)}, merges=merges))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in toks[:2]])
    tok.add_tokens([AddedToken(t, special=False, normalized=True) for t in toks[50254:50277]])
    tok.save(str(path))
    return tok


def test_neox_tokenizer_matches_tokenizers(tmp_path):
    from test_tokenizers import iris_ids, texts
    tok = neox_tokenizer(tmp_path / "tokenizer.json")
    extra = ["a" + " " * 30 + "b", "x\n        y\n\t\t  z", "<|endoftext|>hello<|padding|>", "   "]
    bad = []
    for text in texts(40) + extra:
        want = tok.encode(text, add_special_tokens=True).ids
        got = iris_ids(tmp_path / "tokenizer.json", text, special=True, bos=True)
        if got != want:
            bad.append((text[:50], want[:12], got[:12]))
    assert not bad, f"{len(bad)} mismatches (seed {SEED}), first: {bad[:3]}"


# ---- training (CPU, full fine-tune) through `iris train`

@pytest.mark.parametrize("arch", ["mpt", "gpt_neox", "biogpt"])
def test_full_finetune_learns_and_saves_a_transformers_checkpoint(tmp_path, arch):
    """The loss falls, and the saved model is one transformers loads: its
    logits there and in iris agree."""
    from transformers import AutoModelForCausalLM
    from test_train import metrics, write_config, write_data
    base = tmp_path / "base"
    base.mkdir()
    build(arch, base, seed=SEED % 1000 + 9)
    cfg = write_config(tmp_path / "c.ini", base, write_data(tmp_path / "d.json", n=4),
                       **{"train.mode": "full", "train.lr": "1e-3", "train.max_steps": 60,
                          "train.schedule": "cosine", "train.warmup_ratio": 0.05, "run.save_steps": 0})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=900)
    m = metrics(tmp_path / "run")
    first, last = m[0]["loss"], min(r["loss"] for r in m[-5:])
    assert last < 0.5 * first, (arch, first, last)
    out = tmp_path / "run" / "model"
    tuned = AutoModelForCausalLM.from_pretrained(str(out), torch_dtype=torch.float32).eval()
    prompt = "What is item 3? The quick brown fox"
    from tokenizers import Tokenizer
    ids = Tokenizer.from_file(str(out / "tokenizer.json")).encode(prompt).ids
    ref = hf_logits(tuned, ids)
    got = iris_logits(out, tmp_path, prompt=prompt)
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)
    base_logits = iris_logits(base, tmp_path, prompt=prompt)
    assert rel_err(base_logits, ref) > 1e-3  # the weights did change


# ---- LoRA with PEFT's module names (a fused QKV has one adapter, as in PEFT)

LORA_TARGETS = {"mpt": ["Wqkv", "out_proj", "up_proj", "down_proj"],
                "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
                "biogpt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]}
# per architecture: a target list (iris short names for one), layers, rsLoRA
LORA_RUNS = {"mpt": ("all-linear", "all", "false"),
             "gpt_neox": ("qkv,o,down", "1", "true"),
             "biogpt": ("q_proj,v_proj,out_proj,fc1", "0", "false")}


def prompt_ids(base):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(base / "tokenizer.json")).encode("What is item 3? The quick brown fox").ids


@pytest.mark.parametrize("arch", ["mpt", "gpt_neox", "biogpt"])
def test_lora_adapter_loads_in_peft(tmp_path, arch):
    """An iris-trained adapter, exported in PEFT's format, loads with
    PeftModel on the transformers class and gives the logits of iris's merged
    model."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from test_train import write_config, write_data
    base = tmp_path / "base"
    base.mkdir()
    build(arch, base, seed=SEED % 1000 + 21)
    targets, layers, rs = LORA_RUNS[arch]
    cfg = write_config(tmp_path / "c.ini", base, write_data(tmp_path / "d.json"),
                       **{"train.max_steps": 6, "lora.targets": targets, "lora.layers": layers,
                          "lora.rslora": rs, "run.save_steps": 0})
    p = run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run")], timeout=600)
    run_iris(["export", str(tmp_path / "run"), "--adapter", "-o", str(tmp_path / "adapter")])
    run_iris(["export", str(tmp_path / "run"), "--merge", "-o", str(tmp_path / "merged")])
    acfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert set(acfg["target_modules"]) <= set(LORA_TARGETS[arch]), acfg["target_modules"]
    r = 8
    from safetensors.torch import load_file
    ad = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    n_params = sum(t.numel() for t in ad.values())
    assert f"{n_params} trainable parameters" in p.stdout + p.stderr, (n_params, p.stdout, p.stderr)
    fused = [k for k in ad if ("Wqkv" in k or "query_key_value" in k) and "lora_B" in k]
    for k in fused:
        assert ad[k].shape == (3 * 64, r), (k, ad[k].shape)
    base_model = AutoModelForCausalLM.from_pretrained(str(base), torch_dtype=torch.float32).eval()
    ids = prompt_ids(base)
    plain = hf_logits(base_model, ids)
    pm = PeftModel.from_pretrained(base_model, str(tmp_path / "adapter")).eval()
    ref = hf_logits(pm, ids)
    assert rel_err(plain, ref) > 1e-3, "the trained adapter should change the logits"
    got = iris_logits(tmp_path / "merged", tmp_path, prompt="What is item 3? The quick brown fox")
    err = rel_err(got, ref)
    assert err <= 1e-4, (arch, err, f"seed {SEED}")


@pytest.mark.parametrize("arch", ["mpt", "gpt_neox", "biogpt"])
def test_peft_adapter_loads_in_iris(tmp_path, arch):
    """A peft-made adapter (random nonzero A and B) merges in iris to peft's logits."""
    from peft import LoraConfig, get_peft_model
    base = tmp_path / "base"
    base.mkdir()
    model, _ = build(arch, base, seed=SEED % 1000 + 33)
    lc = LoraConfig(r=4, lora_alpha=12, target_modules=LORA_TARGETS[arch], use_rslora=arch == "biogpt",
                    lora_dropout=0.0, task_type="CAUSAL_LM")
    pm = get_peft_model(model, lc)
    g = torch.Generator().manual_seed(SEED % 1000 + 11)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_" in n:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    pm.save_pretrained(str(tmp_path / "peft"))
    pm.eval()
    ids = prompt_ids(base)
    ref = hf_logits(pm, ids)
    run_iris(["export", "--peft", str(tmp_path / "peft"), "--base", str(base), "--merge", "-o", str(tmp_path / "m")])
    err = rel_err(iris_logits(tmp_path / "m", tmp_path, prompt="What is item 3? The quick brown fox"), ref)
    assert err <= 1e-4, (arch, err, f"seed {SEED}")
    # and back out in PEFT's format, unchanged (names, fused shapes, values)
    run_iris(["export", "--peft", str(tmp_path / "peft"), "--base", str(base), "--adapter", "-o", str(tmp_path / "a2")])
    from safetensors.torch import load_file
    a = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "a2" / "adapter_model.safetensors"))
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k].float(), b[k].float()), k


@pytest.mark.parametrize("arch", ["mpt", "gpt_neox", "biogpt"])
def test_lora_memorisation(tmp_path, arch):
    from test_train import metrics, write_config, write_data
    base = tmp_path / "base"
    base.mkdir()
    build(arch, base, seed=SEED % 1000 + 45)
    cfg = write_config(tmp_path / "c.ini", base, write_data(tmp_path / "d.json", n=4),
                       **{"train.lr": "5e-3", "train.max_steps": 120, "lora.dropout": 0, "lora.r": 16,
                          "lora.alpha": 32, "train.schedule": "cosine", "train.warmup_ratio": 0.05,
                          "run.save_steps": 0})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=900)
    m = metrics(tmp_path / "run")
    first, last = m[0]["loss"], min(r["loss"] for r in m[-5:])
    assert last < 0.5 * first, (arch, first, last)


def test_lora_bad_target_lists_the_valid_names(tmp_path):
    from test_train import write_config, write_data
    build("mpt", tmp_path, seed=5)
    cfg = write_config(tmp_path / "c.ini", tmp_path, write_data(tmp_path / "d.json", n=2),
                       **{"lora.targets": "q_proj,gate_proj"})
    p = run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], check=False)
    assert p.returncode == 1, p.stderr
    assert "q_proj" in p.stderr and "Wqkv" in p.stderr and "out_proj" in p.stderr and "mpt" in p.stderr.lower()
    cfg = write_config(tmp_path / "c.ini", tmp_path, write_data(tmp_path / "d.json", n=2),
                       **{"lora.targets": "nonsense"})
    p = run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run2"), "-q"], check=False)
    assert p.returncode == 1 and "nonsense" in p.stderr and "query_key_value" in p.stderr, p.stderr


# ---- the CUDA backend (skips without a device)

def cuda_available():
    import subprocess
    from llm_fixtures import iris_bin
    out = subprocess.run([iris_bin(), "--version"], capture_output=True, text=True).stdout
    return "cuda" in out.split("backends:")[1].split("\n")[0] if "backends:" in out else False


@pytest.mark.parametrize("arch,over", [("mpt", {"n_heads": 6, "d_model": 96}), ("gpt_neox", {}), ("biogpt", {})])
def test_cuda_logits_match_cpu(tmp_path, arch, over):
    if not cuda_available():
        pytest.skip("no CUDA device: CUDA decoder tests skipped")
    build(arch, tmp_path, seed=21, **over)
    prompt = "What color is the triangle? The quick brown fox"
    cpu = iris_logits(tmp_path, tmp_path, prompt=prompt, extra=("--device", "cpu"))
    gpu = iris_logits(tmp_path, tmp_path, prompt=prompt, extra=("--device", "cuda"))
    assert rel_err(gpu, cpu) <= 2e-2, rel_err(gpu, cpu)  # bf16 weights on the GPU


def test_cuda_refuses_clip_qkv(tmp_path):
    if not cuda_available():
        pytest.skip("no CUDA device: CUDA decoder tests skipped")
    build("mpt", tmp_path, seed=22, attn_config={"clip_qkv": 0.5})
    p = run_iris(["run", "-m", str(tmp_path), "-p", "hi", "--device", "cuda"], check=False)
    assert p.returncode == 1 and "clip_qkv" in p.stderr and p.stderr.count("\n") == 1

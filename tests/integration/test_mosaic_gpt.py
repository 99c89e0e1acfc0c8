"""MosaicML's older "mosaic_gpt" checkpoint format (OpenFlamingo-3B's language
model, MPT-1B RedPajama-200B): a random transformers MptForCausalLM is saved,
then rewritten as a mosaic_gpt directory -- MosaicGPTConfig's flat keys
(d_model, n_heads, n_layers, mlp_ratio, max_seq_len, alibi, attn_clip_qkv,
softmax_scale, no_bias, ...) and its tensor names (blocks.N.ln_1,
attn.Wqkv, mlp.mlp_up, ln_f, ...) holding the same weights.  iris must give
transformers' logits for it (<= 1e-4 relative), load it as an OpenFlamingo
lang_model against open_flamingo's Flamingo, and refuse the mosaic_gpt
options it does not implement with a one-line message.  Training through
attn_qk_ln (and attn_clip_qkv) matches autograd on the same hooked reference:
a full fine-tune's first step, what it learns and saves, and OpenFlamingo
training whose frozen language model passes gradients through the norms."""
import json
import os
import random
import sys
import zlib
from pathlib import Path

import pytest
import torch

from llm_fixtures import read_f32, rel_err, run_iris

sys.path.insert(0, str(Path(__file__).parent))
from test_decoders import build, hf_logits, prompts  # noqa: E402
from test_llama_logits import iris_logits  # noqa: E402

SEED = int(os.environ.get("IRIS_TEST_SEED", random.randrange(1 << 30)))

# transformers' MPT name -> mosaic_gpt name: one table, the unit tests' reference's
sys.path.insert(0, str(Path(__file__).parents[1] / "ref"))
from decoder_ref import mosaic_name  # noqa: E402


def mosaic_config(cfg, **over):
    """MosaicGPTConfig keys for the network an MptConfig describes."""
    a = cfg.attn_config
    out = {"model_type": "mosaic_gpt", "architectures": ["MosaicGPT"], "d_model": cfg.d_model,
           "n_heads": cfg.n_heads, "n_layers": cfg.n_layers, "mlp_ratio": cfg.expansion_ratio,
           "max_seq_len": cfg.max_seq_len, "vocab_size": cfg.vocab_size, "alibi": True,
           "alibi_bias_max": 8, "attn_clip_qkv": a.clip_qkv, "attn_qk_ln": False,
           "softmax_scale": a.softmax_scale, "no_bias": True, "logit_scale": None, "prefix_lm": False,
           "attn_impl": "torch", "attn_pdrop": 0.0, "resid_pdrop": 0.0, "emb_pdrop": 0.0,
           "low_precision_layernorm": True, "embedding_fraction": 1.0, "init_device": "cpu",
           "tokenizer_name": "EleutherAI/gpt-neox-20b", "use_cache": False}
    out.update(over)
    return out


def write_mosaic(model, out_dir, fmt="bin", extra=None, **over):
    """The model's weights under mosaic_gpt names (lm_head dropped: the
    format always reads out through wte), `extra` tensors, and a mosaic_gpt
    config.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sd = {mosaic_name(k): v.detach().clone().contiguous() for k, v in model.state_dict().items()
          if k != "lm_head.weight"}
    sd.update(extra or {})
    if fmt == "bin":
        torch.save(sd, str(out_dir / "pytorch_model.bin"))
    else:
        from safetensors.torch import save_file
        save_file(sd, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps(mosaic_config(model.config, **over)))


def add_qk_layernorms(model, seed, bias=False, blocks=None, clip=None, lns=None):
    """mosaic_gpt's attn_qk_ln on a transformers MPT: torch LayerNorms over the
    whole width of q and of k, applied to Wqkv's output, after clamping q, k
    and v to [-clip, clip] when clip is given (mosaic_gpt's order; the model
    itself must not clamp then), as forward hooks.  Random weights (and
    biases; without them the LayerNorms have none, as iris's parameters);
    returns them under mosaic_gpt's names, and appends the LayerNorm modules
    to lns when given (their gradients are the q_ln / k_ln ones)."""
    g = torch.Generator().manual_seed(seed)
    d, extra = model.config.d_model, {}
    for i, blk in enumerate(blocks if blocks is not None else model.transformer.blocks):
        pair = []
        for part in ("q_ln", "k_ln"):
            ln = torch.nn.LayerNorm(d, eps=1e-5)
            with torch.no_grad():
                ln.weight.copy_(1 + 0.5 * torch.randn(d, generator=g))
                if bias:
                    ln.bias.copy_(0.2 * torch.randn(d, generator=g))
                else:
                    ln.register_parameter("bias", None)
            extra[f"transformer.blocks.{i}.attn.{part}.weight"] = ln.weight.detach().clone()
            if bias:
                extra[f"transformer.blocks.{i}.attn.{part}.bias"] = ln.bias.detach().clone()
            pair.append(ln)
        if lns is not None:
            lns += pair

        def hook(_mod, _inp, out, q_ln=pair[0], k_ln=pair[1]):
            if clip:
                out = out.clamp(-clip, clip)
            q, k, v = out.chunk(3, dim=-1)
            return torch.cat([q_ln(q), k_ln(k), v], dim=-1)
        blk.attn.Wqkv.register_forward_hook(hook)
    return extra


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_mosaic_gpt_qk_layernorm_matches_reference(tmp_path, bias):
    """attn_qk_ln (MPT-1B RedPajama-200B, OpenFlamingo-3B's language model):
    transformers' MPT has no QK LayerNorm, so the reference is transformers'
    MptForCausalLM with torch LayerNorms hooked onto q and k where
    mosaic_gpt's attention puts them.  The long prompt crosses a chunk, so
    normalised keys must be what the cache keeps."""
    seed = (SEED + 5 + bias) % 100000
    hf_dir, mdir = tmp_path / "hf", tmp_path / "mosaic"
    hf_dir.mkdir()
    model, tok = build("mpt", hf_dir, seed)
    plain = hf_logits(model, tok.encode("fox").ids)
    extra = add_qk_layernorms(model, seed, bias)
    write_mosaic(model, mdir, "safetensors", extra=extra, attn_qk_ln=True)
    relocate(hf_dir, mdir)
    for prompt in prompts(seed, tok):
        ref = hf_logits(model, tok.encode(prompt).ids)
        got = iris_logits(mdir, tmp_path, prompt=prompt)
        err = rel_err(got, ref)
        assert err <= 1e-4, (bias, err, f"seed {SEED}")
    # the norms are really read: without them the logits move
    assert rel_err(iris_logits(mdir, tmp_path, prompt="fox"), plain) > 1e-2
    # a missing q_ln weight is named
    from safetensors.torch import load_file, save_file
    sd = load_file(str(mdir / "model.safetensors"))
    del sd["transformer.blocks.1.attn.k_ln.weight"]
    save_file(sd, str(mdir / "model.safetensors"))
    p = run_iris(["run", "-m", str(mdir), "-p", "fox", "-n", "0"], check=False)
    assert p.returncode == 1 and "transformer.blocks.1.attn.k_ln.weight" in p.stderr, p.stderr


def relocate(src, dst):
    """Moves the tokenizer of a build() directory next to the mosaic files."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "tokenizer.json").write_bytes((src / "tokenizer.json").read_bytes())


VARIANTS = [
    ({}, "bin"),
    ({"d_model": 96, "n_heads": 6, "attn_config": {"clip_qkv": 0.3}}, "safetensors"),
    ({"attn_config": {"softmax_scale": 0.2}}, "bin"),
]


@pytest.mark.parametrize("over,fmt", VARIANTS, ids=["plain", "6heads-clip", "softmax-scale"])
def test_mosaic_gpt_logits_match_transformers_mpt(tmp_path, over, fmt):
    seed = (SEED + zlib.crc32(f"mosaic{over}".encode())) % 100000
    hf_dir, mdir = tmp_path / "hf", tmp_path / "mosaic"
    hf_dir.mkdir()
    model, tok = build("mpt", hf_dir, seed, **json.loads(json.dumps(over)))
    write_mosaic(model, mdir, fmt)
    relocate(hf_dir, mdir)
    for prompt in prompts(seed, tok):
        ref = hf_logits(model, tok.encode(prompt).ids)
        got = iris_logits(mdir, tmp_path, prompt=prompt)
        assert got.shape == ref.shape
        err = rel_err(got, ref)
        assert err <= 1e-4, (over, err, f"seed {SEED}")
    # the same directory really is read as mosaic_gpt: renamed back, it would not load
    cfg = json.loads((mdir / "config.json").read_text())
    cfg["model_type"] = "mpt"
    (mdir / "config.json").write_text(json.dumps(cfg))
    assert run_iris(["run", "-m", str(mdir), "-p", "fox", "-n", "0"], check=False).returncode != 0


REFUSALS = [
    ({"no_bias": False}, "no_bias"),
    ({"alibi": False}, "ALiBi"),
    ({"prefix_lm": True}, "prefix_lm"),
    ({"logit_scale": 0.5}, "logit_scale"),
]


@pytest.mark.parametrize("over,word", REFUSALS, ids=[w for _, w in REFUSALS])
def test_mosaic_gpt_unsupported_options_refused(tmp_path, over, word):
    hf_dir, mdir = tmp_path / "hf", tmp_path / "mosaic"
    hf_dir.mkdir()
    model, _ = build("mpt", hf_dir, 7)
    write_mosaic(model, mdir, "safetensors", **over)
    relocate(hf_dir, mdir)
    p = run_iris(["run", "-m", str(mdir), "-p", "fox", "-n", "0"], check=False)
    assert p.returncode == 1, p.stderr
    msg = p.stderr.strip()
    assert len(msg.splitlines()) == 1 and word in msg and "config.json" in msg, msg


def test_mosaic_gpt_missing_tensor_named(tmp_path):
    hf_dir, mdir = tmp_path / "hf", tmp_path / "mosaic"
    hf_dir.mkdir()
    model, _ = build("mpt", hf_dir, 3)
    write_mosaic(model, mdir, "safetensors")
    relocate(hf_dir, mdir)
    from safetensors.torch import load_file, save_file
    sd = load_file(str(mdir / "model.safetensors"))
    del sd["transformer.blocks.1.mlp.mlp_up.weight"]
    save_file(sd, str(mdir / "model.safetensors"))
    p = run_iris(["run", "-m", str(mdir), "-p", "fox", "-n", "0"], check=False)
    assert p.returncode == 1 and "transformer.blocks.1.mlp.mlp_up.weight" in p.stderr, p.stderr


@pytest.mark.parametrize("qk_ln", [False, True], ids=["plain", "qk-ln"])
def test_openflamingo_with_mosaic_gpt_lang_model(tmp_path, qk_ln):
    """open_flamingo's Flamingo around MptForCausalLM against iris reading the
    same language model from a mosaic_gpt directory (with attn_qk_ln, as
    OpenFlamingo-3B's MPT-1B has it: then MptForCausalLM with the hooked
    LayerNorms of add_qk_layernorms)."""
    import test_flamingo_model as tf
    seed = (SEED + 11) % 100000
    model, tok, _ = tf.build(tmp_path, seed, every_n=2)
    lm_dir = tmp_path / "lm"
    # the decoder as build() saved it (before OpenFlamingo grew its embedding), renamed
    from transformers import MptForCausalLM
    base = MptForCausalLM.from_pretrained(str(lm_dir)).eval()
    for f in ("model.safetensors", "pytorch_model.bin"):
        if (lm_dir / f).exists():
            (lm_dir / f).unlink()
    extra = {}
    if qk_ln:
        layers = [fl.decoder_layer for fl in model.lang_encoder.transformer.blocks]
        extra = add_qk_layernorms(model.lang_encoder, seed, blocks=layers)
    write_mosaic(base, lm_dir, "bin", extra=extra, attn_qk_ln=qk_ln)
    paths, vision_x = tf.images(tmp_path, seed)
    ids = tok.encode(tf.PROMPT).ids
    with torch.no_grad():
        ref = model(vision_x=vision_x, lang_x=torch.tensor([ids])).logits[0, -1].numpy()
    out = tmp_path / "logits.f32"
    run_iris(tf.iris_args(tmp_path, paths, tf.PROMPT, ["-n", "0", "--dump-logits", str(out)]))
    got = read_f32(out)
    assert got.shape == ref.shape
    err = rel_err(got, ref)
    assert err <= 1e-4, f"seed {SEED}: {err}"


def token_records(vocab, seed, n=2, length=24):
    """Pre-tokenized records (random ids, the first third of the labels masked):
    the loss needs no template or tokenizer to agree on."""
    g = torch.Generator().manual_seed(seed)
    recs = []
    for r in range(n):
        ids = torch.randint(2, vocab, (length + 3 * r,), generator=g).tolist()
        recs.append({"id": f"t{r}", "input_ids": ids, "labels": [-100] * (len(ids) // 3) + ids[len(ids) // 3:]})
    return recs


def clip_for(model, recs):
    """A clip_qkv that clamps about half of the first block's q, k and v on
    these records: small enough to matter.  It sits in the middle of the
    widest gap between neighbouring magnitudes near the median, so that no
    value lies within rounding of it (where the two sides may disagree on
    clamping: the gradient passes or not) -- and it is an f32 number."""
    blk = model.transformer.blocks[0]
    with torch.no_grad():
        x = torch.cat([model.transformer.wte(torch.tensor(r["input_ids"])) for r in recs])
        s = blk.attn.Wqkv(blk.norm_1(x)).abs().flatten().sort().values.double()
    lo, hi = int(0.4 * len(s)), int(0.6 * len(s))
    i = lo + int((s[lo + 1:hi + 1] - s[lo:hi]).argmax())
    return ((s[i] + s[i + 1]) / 2).float().item()


def adam_grads_err(run, ref):
    """The worst relative error of each trained tensor's gradient: after one
    AdamW step (no clipping) the checkpoint's exp_avg is (1 - beta1) times
    it; ref maps iris's parameter names to autograd's gradients, all of
    which must be there.  The scale has a floor of 1e-3 of the whole
    gradient's norm: k_ln's bias has a zero gradient in exact arithmetic
    (softmax ignores a per-row constant), so both sides hold rounding noise."""
    from safetensors.torch import load_file
    ck = load_file(str(run / "checkpoint.safetensors"))
    got = {k[:-len(".exp_avg")]: v for k, v in ck.items() if k.endswith(".exp_avg")}
    assert set(got) == set(ref), sorted(set(got) ^ set(ref))
    floor = 1e-3 * torch.sqrt(sum((g.double() ** 2).sum() for g in ref.values())).item()
    errs = {n: ((got[n].double() / 0.1 - g.double()).norm() / max(g.double().norm().item(), floor)).item()
            for n, g in ref.items()}
    worst = max(errs, key=errs.get)
    return errs[worst], worst


def first_step_reference(model, recs, params):
    """The batch's mean token loss and the gradient norm over params by
    autograd (train.max_grad_norm 0: iris reports the norm unclipped)."""
    model.zero_grad()
    for p in params:
        p.grad = None
    total, counted = 0.0, 0
    for r in recs:
        logits = model(torch.tensor([r["input_ids"]])).logits[0]
        lab = torch.tensor(r["labels"][1:])
        total = total + torch.nn.functional.cross_entropy(logits[:-1], lab, ignore_index=-100, reduction="sum")
        counted += int((lab >= 0).sum())
    loss = total / counted
    loss.backward()
    gnorm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params if p.grad is not None)).item()
    return loss.item(), gnorm


@pytest.mark.parametrize("bias,clip", [(False, False), (True, True)], ids=["qk-ln", "qk-ln-bias-clip"])
def test_qk_layernorm_first_training_step_matches_autograd(tmp_path, bias, clip):
    """A full fine-tune of a mosaic_gpt with attn_qk_ln (and attn_clip_qkv
    small enough to clamp): the first step's loss and gradient norm (every
    parameter, q_ln / k_ln included) equal autograd's through the hooked
    reference, and so does every tensor's gradient (float64 twin:
    tests/unit/test_decoder_grads.c)."""
    from test_train import metrics, write_config
    seed = (SEED + 41 + 2 * bias + clip) % 100000
    hf_dir, mdir = tmp_path / "hf", tmp_path / "mosaic"
    hf_dir.mkdir()
    model, tok = build("mpt", hf_dir, seed)
    recs = token_records(tok.get_vocab_size(), seed)
    c = clip_for(model, recs) if clip else None
    lns = []
    extra = add_qk_layernorms(model, seed, bias, clip=c, lns=lns)
    write_mosaic(model, mdir, "safetensors", extra=extra, attn_qk_ln=True, attn_clip_qkv=c)
    relocate(hf_dir, mdir)
    data = tmp_path / "d.json"
    data.write_text(json.dumps(recs))
    cfg = write_config(tmp_path / "c.ini", mdir, data, **{"train.mode": "full", "train.max_steps": 1,
                                                           "train.batch_size": len(recs), "train.max_grad_norm": 0})
    run = tmp_path / "run"
    p = run_iris(["train", str(cfg), "--run-dir", str(run)], timeout=600)
    params = list(model.parameters()) + [q for ln in lns for q in ln.parameters()]
    n_params = sum(q.numel() for q in params)
    assert f"{n_params} trainable parameters" in p.stdout + p.stderr, (n_params, p.stdout + p.stderr)
    ref_loss, ref_gnorm = first_step_reference(model, recs, params)
    m = metrics(run)[0]
    q_ln_norm = torch.sqrt(sum((q.grad.double() ** 2).sum() for ln in lns for q in ln.parameters())).item()
    print(f"loss iris {m['loss']:.7f} ref {ref_loss:.7f}; grad_norm iris {m['grad_norm']:.7f} ref "
          f"{ref_gnorm:.7f} (q_ln/k_ln part {q_ln_norm:.4f}); clip {c}")
    assert q_ln_norm > 1e-3 * ref_gnorm  # the norms' own gradients weigh in the total
    assert abs(m["loss"] - ref_loss) <= 1e-4 * ref_loss, f"seed {SEED}"
    assert abs(m["grad_norm"] - ref_gnorm) <= 1e-4 * ref_gnorm, f"seed {SEED}"
    ref = {mosaic_name(n): q.grad for n, q in model.named_parameters()}
    for i, ln in enumerate(lns):
        for kind, q in ln.named_parameters():
            ref[f"transformer.blocks.{i // 2}.attn.{('q_ln', 'k_ln')[i % 2]}.{kind}"] = q.grad
    worst, name = adam_grads_err(run, ref)
    print(f"  {len(ref)} gradients, worst rel err {worst:.2e} ({name})")
    assert worst <= 1e-4, (name, worst, f"seed {SEED}")


def test_qk_layernorm_full_finetune_learns_and_saves(tmp_path):
    """60 steps of a full fine-tune through attn_qk_ln: the loss falls, the
    saved model/ is a mosaic_gpt directory whose q_ln / k_ln moved, and the
    hooked reference loaded with its weights gives iris's logits for it."""
    from safetensors.torch import load_file
    from test_train import metrics, write_config, write_data
    seed = (SEED + 47) % 100000
    hf_dir, mdir = tmp_path / "hf", tmp_path / "mosaic"
    hf_dir.mkdir()
    model, tok = build("mpt", hf_dir, seed)
    lns = []
    extra = add_qk_layernorms(model, seed, lns=lns)
    write_mosaic(model, mdir, "safetensors", extra=extra, attn_qk_ln=True)
    relocate(hf_dir, mdir)
    cfg = write_config(tmp_path / "c.ini", mdir, write_data(tmp_path / "d.json", n=4),
                       **{"train.mode": "full", "train.lr": "1e-3", "train.max_steps": 60,
                          "train.schedule": "cosine", "train.warmup_ratio": 0.05, "run.save_steps": 0})
    run = tmp_path / "run"
    run_iris(["train", str(cfg), "--run-dir", str(run), "-q"], timeout=900)
    m = metrics(run)
    first, last = m[0]["loss"], min(r["loss"] for r in m[-5:])
    print(f"loss {first:.4f} -> {last:.4f}")
    assert last < 0.5 * first, (first, last, f"seed {SEED}")
    out = run / "model"
    assert json.loads((out / "config.json").read_text())["attn_qk_ln"] is True
    sd = load_file(str(out / "model.safetensors"))
    want = {mosaic_name(k) for k in model.state_dict() if k != "lm_head.weight"} | set(extra)
    assert set(sd) == want, sorted(set(sd) ^ want)
    for name, before in extra.items():
        assert (sd[name].float() - before).abs().max() > 1e-4, name  # the norms trained
    # the tuned weights into the reference (lm_head is wte's)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name != "lm_head.weight":
                t.copy_(sd[mosaic_name(name)].float())
        for i, ln in enumerate(lns):
            ln.weight.copy_(sd[f"transformer.blocks.{i // 2}.attn.{('q_ln', 'k_ln')[i % 2]}.weight"].float())
    prompt = "What is item 3? The quick brown fox"
    ref = hf_logits(model, tok.encode(prompt).ids)
    got = iris_logits(out, tmp_path, prompt=prompt)
    err = rel_err(got, ref)
    assert err <= 1e-4, (err, f"seed {SEED}")


def resave_flamingo_lm_with_qk_ln(model, lm_dir, seed):
    """The OpenFlamingo's MPT in lm_dir saved again as mosaic_gpt with
    attn_qk_ln, the same LayerNorms hooked onto model's decoder layers."""
    from transformers import MptForCausalLM
    base = MptForCausalLM.from_pretrained(str(lm_dir)).eval()
    for f in ("model.safetensors", "pytorch_model.bin"):
        if (lm_dir / f).exists():
            (lm_dir / f).unlink()
    layers = [fl.decoder_layer for fl in model.lang_encoder.transformer.blocks]
    extra = add_qk_layernorms(model.lang_encoder, seed, bias=True, blocks=layers)
    write_mosaic(base, lm_dir, "bin", extra=extra, attn_qk_ln=True)


def first_step_matches_autograd(cfg, run, ref_model, tok, media, recs, vision_x):
    """One step of iris train; its loss and gradient norm against
    open_flamingo's autograd on ref_model (whose .grad it leaves filled)."""
    import test_flamingo_lora as tfl
    run_iris(["train", str(cfg), "--run-dir", str(run)])
    loss, gnorm, _ = tfl.ref_loss_grad(ref_model, tok, media, recs, vision_x)
    m = tfl.metrics(run)[0]
    print(f"loss iris {m['loss']:.6f} ref {loss:.6f}; grad_norm iris {m['grad_norm']:.6f} ref {gnorm:.6f}")
    assert abs(m["loss"] - loss) <= 1e-4 * abs(loss), f"seed {SEED}"
    assert abs(m["grad_norm"] - gnorm) <= 1e-4 * gnorm, f"seed {SEED}"


def test_openflamingo_training_through_qk_layernorm(tmp_path):
    """OpenFlamingo-3B's case: its MPT-1B has attn_qk_ln.  Training the
    perceiver and cross-attention sends gradients down through the frozen
    decoder's QK LayerNorms; the first step's loss and gradient norm equal
    open_flamingo's autograd with the LayerNorms hooked on."""
    import test_flamingo_train as tt
    seed = (SEED + 17) % 1000 + 31
    model, tok, media, paths, vision_x, recs, cfg = tt.setup(tmp_path, seed, n_layers=3, every_n=1)
    resave_flamingo_lm_with_qk_ln(model, tmp_path / "lm", seed)
    first_step_matches_autograd(cfg, tmp_path / "run", model, tok, media, recs, vision_x)


def test_openflamingo_lora_through_qk_layernorm(tmp_path):
    """LoRA on an OpenFlamingo whose MPT has attn_qk_ln: the fused Wqkv
    adapter's output goes through the frozen QK LayerNorm.  Starting from a
    peft adapter (random A and B), the first step's loss, gradient norm and
    every adapter's gradient equal peft + autograd with the LayerNorms
    hooked on after peft wrapped Wqkv (so they see the adapter's output, as
    in mosaic_gpt)."""
    import test_flamingo_lora as tfl
    from test_train import write_config
    seed = (SEED + 19) % 100000
    model, tok, media, paths, vision_x, recs, _ = tfl.setup(tmp_path, seed, "mpt")
    # self_attn: Wqkv and out_proj are named alike in transformers' MPT and
    # mosaic_gpt (the feed-forward's names differ, so peft's keys would too)
    pm = tfl.peft_model(model, tfl.modules(model, "mpt", ["self_attn", "xattn"]), seed)
    adapter = tmp_path / "peft_adapter"
    pm.save_pretrained(str(adapter))
    resave_flamingo_lm_with_qk_ln(model, tmp_path / "lm", seed)  # hooked after peft wrapped Wqkv
    cfg = write_config(tmp_path / "c2.ini", tmp_path / "openflamingo.json", tmp_path / "data.json",
                       **{"data.template": "openflamingo", "data.image_folder": str(tmp_path), "train.mode": "lora",
                          "train.max_grad_norm": "0", "train.batch_size": "3", "train.max_steps": "1",
                          "lora.dropout": "0", "lora.init": str(adapter)})
    run = tmp_path / "run"
    first_step_matches_autograd(cfg, run, pm, tok, media, recs, vision_x)
    # iris names the decoder's adapters as in its checkpoint, peft through the Flamingo
    ref = {}
    for n, p_ in pm.named_parameters():
        if "lora_" not in n:
            continue
        name = n.replace(".default", "").replace("base_model.model.", "", 1)
        if name.startswith("lang_encoder.transformer.blocks.") and ".decoder_layer." in name:
            name = name.replace("lang_encoder.", "", 1).replace(".decoder_layer.", ".", 1)
        ref[name] = p_.grad
    assert any(".attn.Wqkv.lora_B" in n for n in ref)
    worst, name = adam_grads_err(run, ref)
    print(f"  {len(ref)} adapter gradients, worst rel err {worst:.2e} ({name})")
    assert worst <= 1e-4, (name, worst, f"seed {SEED}")

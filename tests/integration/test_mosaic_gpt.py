"""MosaicML's older "mosaic_gpt" checkpoint format (OpenFlamingo-3B's language
model, MPT-1B RedPajama-200B): a random transformers MptForCausalLM is saved,
then rewritten as a mosaic_gpt directory -- MosaicGPTConfig's flat keys
(d_model, n_heads, n_layers, mlp_ratio, max_seq_len, alibi, attn_clip_qkv,
softmax_scale, no_bias, ...) and its tensor names (blocks.N.ln_1,
attn.Wqkv, mlp.mlp_up, ln_f, ...) holding the same weights.  iris must give
transformers' logits for it (<= 1e-4 relative), load it as an OpenFlamingo
lang_model against open_flamingo's Flamingo, and refuse the mosaic_gpt
options it does not implement with a one-line message."""
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

# transformers' MPT name -> mosaic_gpt name (within "transformer.")
RENAMES = [(".norm_1.", ".ln_1."), (".norm_2.", ".ln_2."), (".ffn.up_proj.", ".mlp.mlp_up."),
           (".ffn.down_proj.", ".mlp.mlp_down."), ("transformer.norm_f.", "transformer.ln_f.")]


def mosaic_name(name):
    for a, b in RENAMES:
        name = name.replace(a, b)
    return name


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


def add_qk_layernorms(model, seed, bias=False, blocks=None):
    """mosaic_gpt's attn_qk_ln on a transformers MPT: torch LayerNorms over the
    whole width of q and of k, applied to Wqkv's output (mosaic_gpt applies
    them after its optional clamp; these tests leave clip_qkv off, where the
    two orders agree), as forward hooks.  Random weights (and biases); returns
    them under mosaic_gpt's names."""
    g = torch.Generator().manual_seed(seed)
    d, extra = model.config.d_model, {}
    for i, blk in enumerate(blocks if blocks is not None else model.transformer.blocks):
        lns = []
        for part in ("q_ln", "k_ln"):
            ln = torch.nn.LayerNorm(d, eps=1e-5)
            with torch.no_grad():
                ln.weight.copy_(1 + 0.5 * torch.randn(d, generator=g))
                ln.bias.copy_(0.2 * torch.randn(d, generator=g) if bias else torch.zeros(d))
            extra[f"transformer.blocks.{i}.attn.{part}.weight"] = ln.weight.detach().clone()
            if bias:
                extra[f"transformer.blocks.{i}.attn.{part}.bias"] = ln.bias.detach().clone()
            lns.append(ln)

        def hook(_mod, _inp, out, q_ln=lns[0], k_ln=lns[1]):
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


def test_training_through_qk_layernorm_refused(tmp_path):
    """iris has no backward for QK LayerNorm yet: training an OpenFlamingo
    whose language model has it says so in one line instead of training on
    wrong gradients."""
    import test_flamingo_train as tt
    from transformers import MptForCausalLM
    *_, cfg = tt.setup(tmp_path, 17)
    lm_dir = tmp_path / "lm"
    base = MptForCausalLM.from_pretrained(str(lm_dir)).eval()
    for f in ("model.safetensors", "pytorch_model.bin"):
        if (lm_dir / f).exists():
            (lm_dir / f).unlink()
    write_mosaic(base, lm_dir, "bin", extra=add_qk_layernorms(base, 17), attn_qk_ln=True)
    p = run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run")], check=False)
    assert p.returncode == 1, p.stderr
    msg = p.stderr.strip()
    assert len(msg.splitlines()) == 1 and "QK LayerNorm" in msg, msg

"""The trainable vision tower (model/train/clip_train.c) against PyTorch
autograd on transformers' CLIPVisionModel / SiglipVisionModel / the tower of a
LlavaForConditionalGeneration: random small towers, random pixels and a random
d(features); `iris vision-encode --grad` back-propagates it and writes every
tower parameter's gradient, which must match torch's (float64 reference)
within 1e-4 relative (f32), parameter by parameter.  Parameters after the
feature layer (and post_layernorm) get no gradient in torch and are not in
iris's set."""
import os
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from safetensors.numpy import load_file  # noqa: E402
from transformers import (CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlavaConfig,  # noqa: E402
                          LlavaForConditionalGeneration, SiglipVisionConfig, SiglipVisionModel)

IRIS = os.environ.get("IRIS_BIN", "bin/iris")
REL = 1e-4


def roughen(model, seed):
    """Spread every parameter (random init leaves LayerNorms at identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * r)
            else:
                p.copy_(0.08 * r)
    return model


def tower_config(kind, act, layers, image=32, patch=8):
    common = dict(hidden_size=32, intermediate_size=80, num_hidden_layers=layers, num_attention_heads=4,
                  patch_size=patch, image_size=image, hidden_act=act)
    return CLIPVisionConfig(**common) if kind == "clip" else SiglipVisionConfig(**common)


def run_grad(model_dir, tmp_path, pixels, dy, extra=()):
    pix, dyf, out, grads = (tmp_path / n for n in ("pix.f32", "dy.f32", "feats.f32", "g.safetensors"))
    pixels.astype(np.float32).tofile(pix)
    dy.astype(np.float32).tofile(dyf)
    args = [IRIS, "vision-encode", "-m", str(model_dir), "--pixels", str(pix), "--batch", str(len(pixels)),
            "--grad", str(dyf), "--grad-out", str(grads), "-o", str(out), *extra]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, dtype=np.float32), load_file(str(grads))


def compare(tower, prefix, feats_fn, pixels, got_feats, got_grads, dy):
    tower = tower.double()
    tower.zero_grad()
    f = feats_fn(tower, torch.from_numpy(pixels).double())
    ref = f.detach().numpy()
    assert got_feats.size == ref.size, (got_feats.size, ref.shape)
    err = np.abs(got_feats.reshape(ref.shape) - ref).max() / np.abs(ref).max()
    assert err <= REL, f"features: relative error {err:.3g}"
    (f * torch.from_numpy(dy).double()).sum().backward()
    checked = 0
    # k_proj.bias has an exactly zero gradient (softmax ignores a shift shared
    # by every key): judge such near-zero gradients against the overall scale
    scale = max(p.grad.norm().item() for p in tower.parameters() if p.grad is not None)
    for name, p in tower.named_parameters():
        key = prefix + name
        if p.grad is None:
            assert key not in got_grads, f"{key}: iris trains a parameter that cannot influence the features"
            continue
        assert key in got_grads, f"{key}: no gradient from iris ({sorted(got_grads)[:4]}...)"
        g = got_grads[key].astype(np.float64).reshape(p.shape)
        ref_g = p.grad.numpy()
        rel = np.linalg.norm(g - ref_g) / max(np.linalg.norm(ref_g), 1e-3 * scale)
        assert rel <= REL, f"{key}: relative error {rel:.3g}"
        checked += 1
    assert checked == len(got_grads), (checked, len(got_grads))
    return checked


@pytest.mark.parametrize("kind,act,layers,layer", [("clip", "quick_gelu", 3, -2), ("clip", "gelu", 2, -1),
                                                   ("siglip", "gelu_pytorch_tanh", 3, -2), ("clip", "quick_gelu", 2, 0)])
def test_bare_tower_gradients(tmp_path, kind, act, layers, layer):
    seed = int.from_bytes(os.urandom(4), "little")
    cfg = tower_config(kind, act, layers)
    model = (CLIPVisionModel if kind == "clip" else SiglipVisionModel)(cfg).eval()
    roughen(model, seed)
    d = tmp_path / "tower"
    model.save_pretrained(d, safe_serialization=True)
    rng = np.random.default_rng(seed)
    pixels = rng.standard_normal((3, 3, 32, 32))   # a batch of three images
    n_tok = (32 // 8) ** 2 + (1 if kind == "clip" else 0)
    dy = rng.standard_normal((3, n_tok, 32))

    def feats(tower, px):
        return tower(pixel_values=px, output_hidden_states=True).hidden_states[layer]
    got_f, got_g = run_grad(d, tmp_path, pixels, dy, ["--layer", str(layer)])
    n = compare(model, "", feats, pixels, got_f, got_g, dy)
    n_run = layer % (layers + 1)
    assert n == (5 if kind == "clip" else 3) + 16 * n_run, n   # embeddings (+ pre-LN) + layers


@pytest.mark.parametrize("strategy", ["default", "full"])
def test_llava_tower_gradients(tmp_path, strategy):
    """The tower inside a llava-hf checkpoint (vision_tower.vision_model.*),
    vision_feature_layer -2; "default" drops the class row from the features,
    so its gradient only arrives through attention."""
    seed = int.from_bytes(os.urandom(4), "little")
    torch.manual_seed(seed)
    cfg = LlavaConfig(vision_config=tower_config("clip", "quick_gelu", 3).to_dict(),
                      text_config=LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                              num_attention_heads=4, vocab_size=300).to_dict(),
                      vision_feature_layer=-2, vision_feature_select_strategy=strategy,
                      projector_hidden_act="gelu", image_token_index=299)
    model = roughen(LlavaForConditionalGeneration(cfg).eval(), seed)
    d = tmp_path / "llava"
    model.save_pretrained(d, safe_serialization=True)
    rng = np.random.default_rng(seed)
    pixels = rng.standard_normal((2, 3, 32, 32))
    rows = 16 + (1 if strategy == "full" else 0)
    dy = rng.standard_normal((2, rows, 32))

    def feats(tower, px):
        f = tower(px, output_hidden_states=True).hidden_states[-2]
        return f if strategy == "full" else f[:, 1:]
    got_f, got_g = run_grad(d, tmp_path, pixels, dy)
    assert all(k.startswith("vision_tower.vision_model.") for k in got_g)
    compare(model.vision_tower, "vision_tower.", feats, pixels, got_f, got_g, dy)


def test_grad_needs_matching_dy(tmp_path):
    model = roughen(CLIPVisionModel(tower_config("clip", "quick_gelu", 2)).eval(), 1)
    model.save_pretrained(tmp_path / "t", safe_serialization=True)
    px = np.zeros((1, 3, 32, 32), np.float32)
    px.tofile(tmp_path / "p.f32")
    np.zeros(5, np.float32).tofile(tmp_path / "dy.f32")
    r = subprocess.run([IRIS, "vision-encode", "-m", str(tmp_path / "t"), "--pixels", str(tmp_path / "p.f32"),
                        "--grad", str(tmp_path / "dy.f32"), "--grad-out", str(tmp_path / "g.st")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "dy.f32" in r.stderr and "float32" in r.stderr, r.stderr

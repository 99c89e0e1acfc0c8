"""iris vision-encode against transformers on small random vision towers.

Each test builds a random tower (CLIPVisionConfig / SiglipVisionConfig, a few
layers, hidden 64) -- inside a LlavaForConditionalGeneration when a projector
is involved -- saves it with save_pretrained (safetensors), runs iris on the
same pixels and compares with the reference's output:
max |iris - ref| <= 1e-4 * max |ref| (f32).
"""
import json
import os
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from PIL import Image  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel,  # noqa: E402
                          LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
                          SiglipVisionConfig, SiglipVisionModel)

IRIS = os.environ.get("IRIS_BIN", "bin/iris")
REL = 1e-4
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
torch.manual_seed(int.from_bytes(os.urandom(4), "little"))


def roughen(model):
    """Random init leaves LayerNorms at identity and tiny weights; spread every
    parameter so that a wrong op shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    return model


def vision_config(kind="clip", image=56, layers=3):
    common = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=layers,
                  num_attention_heads=4, patch_size=14, image_size=image)
    if kind == "clip":
        return CLIPVisionConfig(**common)
    return SiglipVisionConfig(**common)


def llava(tmp_path, image=56, layers=3, strategy="default", feature_layer=-2):
    cfg = LlavaConfig(vision_config=vision_config("clip", image, layers).to_dict(),
                      text_config=LlamaConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=1,
                                              num_attention_heads=4, vocab_size=300).to_dict(),
                      vision_feature_layer=feature_layer, vision_feature_select_strategy=strategy,
                      projector_hidden_act="gelu", image_token_index=299)
    model = roughen(LlavaForConditionalGeneration(cfg).eval())
    d = tmp_path / "llava"
    model.save_pretrained(d, safe_serialization=True)
    return model, d


def reference_features(model, pixels, layer=-2, strategy="default", project=True):
    with torch.no_grad():
        out = model.vision_tower(torch.from_numpy(pixels)[None], output_hidden_states=True)
        f = out.hidden_states[layer]
        if strategy == "default":
            f = f[:, 1:]
        if project:
            f = model.multi_modal_projector(f)
    return f[0].numpy()


def run_iris(model_dir, tmp_path, pixels=None, image=None, extra=()):
    out = tmp_path / "feats.f32"
    args = [IRIS, "vision-encode", "-m", str(model_dir), "-o", str(out)]
    if pixels is not None:
        pix = tmp_path / "pix.f32"
        pixels.astype(np.float32).tofile(pix)
        args += ["--pixels", str(pix)]
    else:
        args += ["-i", str(image)]
    r = subprocess.run(args + list(extra), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, dtype=np.float32)


def check(got, ref):
    assert got.size == ref.size, (got.size, ref.shape)
    err = np.abs(got.reshape(ref.shape) - ref).max() / np.abs(ref).max()
    assert err <= REL, f"relative error {err:.3g}"


def random_pixels(size):
    return np.random.default_rng().standard_normal((3, size, size)).astype(np.float32)


@pytest.mark.parametrize("image,layers,layer", [(56, 3, -2), (84, 2, -1), (56, 3, 0), (56, 3, 1)])
def test_llava_features(tmp_path, image, layers, layer):
    model, d = llava(tmp_path, image, layers, feature_layer=layer)
    px = random_pixels(image)
    check(run_iris(d, tmp_path, pixels=px), reference_features(model, px, layer))


def test_full_strategy_keeps_class_token(tmp_path):
    model, d = llava(tmp_path, strategy="full")
    px = random_pixels(56)
    ref = reference_features(model, px, -2, strategy="full")
    assert ref.shape[0] == 17
    check(run_iris(d, tmp_path, pixels=px), ref)


def test_tower_only(tmp_path):
    model, d = llava(tmp_path)
    px = random_pixels(56)
    check(run_iris(d, tmp_path, pixels=px, extra=["--no-projector"]),
          reference_features(model, px, -2, project=False))


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_from_image_file(tmp_path, mode):
    """The whole image path: PNG -> preprocessing -> tower -> projector."""
    model, d = llava(tmp_path)
    a = np.random.default_rng().integers(0, 256, (97, 150, 3), dtype=np.uint8)
    path = tmp_path / "img.png"
    Image.fromarray(a).save(path)
    img = Image.open(path).convert("RGB")
    if mode == "pad":
        side = max(img.size)
        sq = Image.new("RGB", (side, side), tuple(int(x * 255) for x in CLIP_MEAN))
        sq.paste(img, ((side - img.size[0]) // 2, (side - img.size[1]) // 2))
        img = sq
    proc = CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56},
                              image_mean=CLIP_MEAN, image_std=CLIP_STD)
    px = proc(img, return_tensors="np")["pixel_values"][0]
    check(run_iris(d, tmp_path, image=path, extra=["--mode", mode]), reference_features(model, px))


def rename_checkpoint(src_dir, dst_dir, rename, config_edit=None):
    dst_dir.mkdir()
    sd = load_file(str(src_dir / "model.safetensors"))
    save_file({rename(k): v.contiguous() for k, v in sd.items() if rename(k)}, str(dst_dir / "model.safetensors"))
    cfg = json.loads((src_dir / "config.json").read_text())
    if config_edit:
        config_edit(cfg)
    (dst_dir / "config.json").write_text(json.dumps(cfg))


def test_newer_key_spelling(tmp_path):
    """model.vision_tower.* without vision_model., model.multi_modal_projector.*"""
    model, d = llava(tmp_path)
    d2 = tmp_path / "renamed"
    rename_checkpoint(d, d2, lambda k: "model." + k.replace("vision_model.", "") if not k.startswith("language_model") else k)
    px = random_pixels(56)
    check(run_iris(d2, tmp_path, pixels=px), reference_features(model, px))


def test_original_llava_linear_projector(tmp_path):
    """Original LLaVA names: model.mm_projector (a single linear) -- the reference
    is that linear applied to the tower's features."""
    model, d = llava(tmp_path)
    d2 = tmp_path / "linear"
    w = torch.randn(48, 64) * 0.1
    b = torch.randn(48) * 0.1

    def rename(k):
        if k.startswith("multi_modal_projector"):
            return None
        return k
    rename_checkpoint(d, d2, rename)
    sd = load_file(str(d2 / "model.safetensors"))
    sd["model.mm_projector.weight"] = w
    sd["model.mm_projector.bias"] = b
    save_file(sd, str(d2 / "model.safetensors"))
    px = random_pixels(56)
    feats = reference_features(model, px, project=False)
    check(run_iris(d2, tmp_path, pixels=px), feats @ w.numpy().T + b.numpy())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights(tmp_path, dtype):
    """f16/bf16 checkpoints: the reference runs the same rounded weights in f32."""
    model, d = llava(tmp_path)
    model = model.to(dtype).to(torch.float32)
    d2 = tmp_path / "half"
    rename_checkpoint(d, d2, lambda k: k)
    save_file({k: v.to(dtype).contiguous() for k, v in load_file(str(d2 / "model.safetensors")).items()},
              str(d2 / "model.safetensors"))
    px = random_pixels(56)
    check(run_iris(d2, tmp_path, pixels=px), reference_features(model, px))


@pytest.mark.parametrize("image", [56, 62])
def test_bare_clip_vision_model(tmp_path, image):
    """A standalone CLIPVisionModel checkpoint (vision_model.* names)."""
    model = roughen(CLIPVisionModel(vision_config("clip", image, 3)).eval())
    d = tmp_path / "clip"
    model.save_pretrained(d, safe_serialization=True)
    px = random_pixels(image)
    with torch.no_grad():
        hs = model(torch.from_numpy(px)[None], output_hidden_states=True).hidden_states
    for layer in (-2, -1):
        check(run_iris(d, tmp_path, pixels=px, extra=["--layer", str(layer)]), hs[layer][0].numpy())


@pytest.mark.parametrize("image", [56, 62])
def test_bare_siglip_vision_model(tmp_path, image):
    """SigLIP: no class token, no pre-LN, patch conv bias, gelu-tanh.  62 px
    with 14 px patches: the conv drops the last 6 rows and columns, as the
    real so400m-patch14-384 tower does (384 = 27*14 + 6)."""
    model = roughen(SiglipVisionModel(vision_config("siglip", image, 3)).eval())
    d = tmp_path / "siglip"
    model.save_pretrained(d, safe_serialization=True)
    px = random_pixels(image)
    with torch.no_grad():
        hs = model(torch.from_numpy(px)[None], output_hidden_states=True).hidden_states
    for layer in (-2, -1):
        check(run_iris(d, tmp_path, pixels=px, extra=["--layer", str(layer)]), hs[layer][0].numpy())


# ---- bad checkpoints: one-line errors, exit 1

def run_bad(model_dir, tmp_path):
    px = tmp_path / "pix.f32"
    random_pixels(56).tofile(px)
    r = subprocess.run([IRIS, "vision-encode", "-m", str(model_dir), "--pixels", str(px)],
                       capture_output=True, text=True)
    return r.returncode, r.stderr


def test_missing_projector(tmp_path):
    _, d = llava(tmp_path)
    d2 = tmp_path / "noproj"
    rename_checkpoint(d, d2, lambda k: None if k.startswith("multi_modal_projector") else k)
    rc, err = run_bad(d2, tmp_path)
    assert rc == 1 and "projector" in err and len(err.strip().splitlines()) == 1, err


def test_wrong_layer_shape(tmp_path):
    _, d = llava(tmp_path)
    d2 = tmp_path / "wrong"

    def edit(cfg):
        cfg["vision_config"]["intermediate_size"] = 128
    rename_checkpoint(d, d2, lambda k: k, edit)
    rc, err = run_bad(d2, tmp_path)
    assert rc == 1 and "fc1" in err and len(err.strip().splitlines()) == 1, err


def test_missing_layer(tmp_path):
    _, d = llava(tmp_path)
    d2 = tmp_path / "short"
    rename_checkpoint(d, d2, lambda k: None if ".layers.2." in k else k)
    rc, err = run_bad(d2, tmp_path)
    assert rc == 1 and "layers.2" in err, err


def test_wrong_pixel_count(tmp_path):
    _, d = llava(tmp_path)
    px = tmp_path / "pix.f32"
    random_pixels(28).tofile(px)
    r = subprocess.run([IRIS, "vision-encode", "-m", str(d), "--pixels", str(px)], capture_output=True, text=True)
    assert r.returncode == 1 and "pix.f32" in r.stderr, r.stderr

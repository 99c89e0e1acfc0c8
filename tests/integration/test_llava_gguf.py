"""A GGUF LLaVA as llama.cpp publishes it — a language-model .gguf plus an
mmproj .gguf given with --mmproj — against transformers'
LlavaForConditionalGeneration on the same random weights, image and prompt.

The LM file is written by gguf_export.write_llama_gguf (llama.cpp's q/k
permutation), the mmproj by mmproj_export.write_mmproj_gguf (the converter's
names, dtypes, dropped last layer).  The reference is given llama.cpp's
GELU (tanh form) where llama.cpp uses it.  Preprocessing is LLaVA-1.5's pad mode, so
transformers is fed expand2square(image, mean colour)."""
import json

import numpy as np
import pytest
import torch
from transformers.activations import ACT2FN

from gguf_export import write_llama_gguf
from llava_fixtures import build_llava, expand2square, random_photo
from llm_fixtures import read_f32, rel_err, run_iris
from mmproj_export import write_mmproj_gguf

QUESTION = "USER: <image>\nWhat color is the triangle? ASSISTANT:"


def llama_cpp_llava(tmp_path, seed):
    """The reference for a GGUF pair computes what llama.cpp computes: ggml's
    GELU is the tanh form, in the projector and in a tower with use_gelu."""
    model, proc = build_llava(tmp_path, seed=seed)
    model.multi_modal_projector.act = ACT2FN["gelu_pytorch_tanh"]
    if model.config.vision_config.hidden_act == "gelu":
        for layer in model.vision_tower.vision_model.encoder.layers:
            layer.mlp.activation_fn = ACT2FN["gelu_pytorch_tanh"]
    return model, proc


def round_to_f16_(model):
    """The converter always stores the patch conv and the projector weights in
    f16; rounding them in the reference makes an f32 comparison exact."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "patch_embedding" in name or (name.startswith("multi_modal_projector.") and p.dim() == 2):
                p.copy_(p.half().float())


def write_pair(tmp_path, model, ftype="f32", vocab_has_image=False, **mmproj_kw):
    """The LM .gguf and the mmproj .gguf; returns their paths."""
    tok_json = tmp_path / "tokenizer.json"
    if not vocab_has_image:
        # llama.cpp's LLaVA-1.5 vocabulary has no <image> token: rename it
        tj = json.loads(tok_json.read_text())
        for a in tj["added_tokens"]:
            if a["content"] == "<image>":
                a["content"] = "<reserved_0>"
        tok_json = tmp_path / "tokenizer-noimage.json"
        tok_json.write_text(json.dumps(tj))
    lm = tmp_path / f"lm-{ftype}.gguf"
    write_llama_gguf(model.language_model, tok_json, lm, dtype=ftype)
    mmproj = tmp_path / f"mmproj-{ftype}.gguf"
    write_mmproj_gguf(model, mmproj, ftype=ftype, **mmproj_kw)
    return lm, mmproj


def hf_logits(model, proc, image, text):
    inputs = proc(text=text, images=image, return_tensors="pt")
    inputs.pop("token_type_ids", None)
    with torch.no_grad():
        out = model(**inputs)
    return out.logits[0, -1].float().numpy()


def padded(proc, im):
    mean = tuple(int(x * 255) for x in proc.image_processor.image_mean)
    return expand2square(im, mean)


def iris_logits(tmp_path, lm, mmproj, images, text, extra=()):
    out = tmp_path / "logits.f32"
    args = ["run", "-m", str(lm), "--mmproj", str(mmproj), "-p", text, "--template", "raw",
            "-n", "0", "--dump-logits", str(out), *extra]
    for im in images:
        args += ["-i", str(im)]
    run_iris(args)
    return read_f32(out)


@pytest.mark.parametrize("vocab_has_image", [False, True])
def test_gguf_pair_matches_transformers_f32(tmp_path, vocab_has_image):
    model, proc = llama_cpp_llava(tmp_path, 11)
    round_to_f16_(model)
    lm, mmproj = write_pair(tmp_path, model, "f32", vocab_has_image)
    img = tmp_path / "wide.png"
    im = random_photo(img, 90, 47, seed=3)
    ref = hf_logits(model, proc, padded(proc, im), QUESTION)
    got = iris_logits(tmp_path, lm, mmproj, [img], QUESTION)
    assert got.shape == ref.shape
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)


def test_gguf_pair_f16_weights(tmp_path):
    model, proc = llama_cpp_llava(tmp_path, 12)
    lm, mmproj = write_pair(tmp_path, model, "f16")
    img = tmp_path / "tall.png"
    im = random_photo(img, 41, 77, seed=4)
    ref = hf_logits(model, proc, padded(proc, im), QUESTION)
    got = iris_logits(tmp_path, lm, mmproj, [img], QUESTION)
    assert rel_err(got, ref) <= 2e-2, rel_err(got, ref)


def test_newer_converter_layout(tmp_path):
    """All layers kept with clip.vision.feature_layer, fc1/fc2 named ffn_up/ffn_down."""
    model, proc = llama_cpp_llava(tmp_path, 13)
    round_to_f16_(model)
    lm, mmproj = write_pair(tmp_path, model, "f32", style="new")
    img = tmp_path / "p.png"
    im = random_photo(img, 60, 60, seed=5)
    ref = hf_logits(model, proc, padded(proc, im), QUESTION)
    got = iris_logits(tmp_path, lm, mmproj, [img], QUESTION)
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)


def test_post_ln_in_the_file_is_applied(tmp_path):
    """An mmproj that keeps v.post_ln: llama.cpp normalises the last layer's
    output with it before the projector; so does iris."""
    model, proc = llama_cpp_llava(tmp_path, 17)
    round_to_f16_(model)
    vm = model.vision_tower.vision_model
    extra = {"v.post_ln.weight": vm.post_layernorm.weight.detach().numpy().astype(np.float32),
             "v.post_ln.bias": vm.post_layernorm.bias.detach().numpy().astype(np.float32)}
    lm, mmproj = write_pair(tmp_path, model, "f32", tensor_override=extra)
    img = tmp_path / "p.png"
    im = random_photo(img, 64, 50, seed=6)
    # the reference: the layer LLaVA reads (the second to last) followed by post_layernorm
    hook = vm.encoder.layers[-2].register_forward_hook(
        lambda mod, inp, out: (vm.post_layernorm(out[0]),) + tuple(out[1:]))
    try:
        ref = hf_logits(model, proc, padded(proc, im), QUESTION)
    finally:
        hook.remove()
    plain = hf_logits(model, proc, padded(proc, im), QUESTION)
    got = iris_logits(tmp_path, lm, mmproj, [img], QUESTION)
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)
    assert rel_err(got, plain) > 1e-3


def test_two_images_and_implicit_placeholder(tmp_path):
    model, proc = llama_cpp_llava(tmp_path, 14)
    round_to_f16_(model)
    lm, mmproj = write_pair(tmp_path, model, "f32")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    ia, ib = random_photo(a, 70, 50, seed=1), random_photo(b, 50, 70, seed=2)
    text = "USER: <image>\n<image>\nWhich is brighter? ASSISTANT:"
    ref = hf_logits(model, proc, [padded(proc, ia), padded(proc, ib)], text)
    got = iris_logits(tmp_path, lm, mmproj, [a, b], text)
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)
    # no <image> in the prompt: iris puts "<image>\n" in front of it
    ref = hf_logits(model, proc, padded(proc, ia), "<image>\nWhat is it?")
    got = iris_logits(tmp_path, lm, mmproj, [a], "What is it?")
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)


def test_chat_with_mmproj_matches_transformers(tmp_path):
    import re
    import subprocess
    from llm_fixtures import iris_bin
    model, proc = llama_cpp_llava(tmp_path, 15)
    round_to_f16_(model)
    lm, mmproj = write_pair(tmp_path, model, "f32")
    img = tmp_path / "p.png"
    im = random_photo(img, 80, 60, seed=3)
    dump = tmp_path / "turn.f32"
    p = subprocess.run([iris_bin(), "chat", "-m", str(lm), "--mmproj", str(mmproj), "-i", str(img),
                        "--template", "llava-hf", "-n", "0", "--dump-logits", str(dump)],
                       input="What is this?\nAnd the colour?\n", capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert len(re.findall(r"\[(\d+) new tokens processed", p.stderr)) == 2, p.stderr
    t2 = "USER: <image>\nWhat is this? ASSISTANT:  USER: And the colour? ASSISTANT:"
    ref = hf_logits(model, proc, padded(proc, im), t2)
    assert rel_err(read_f32(dump), ref) <= 1e-4


def _fails(tmp_path, lm, mmproj, img, needle, extra=()):
    p = run_iris(["run", "-m", str(lm), "--mmproj", str(mmproj), "-i", str(img), "-p", "hi", "-n", "1",
                  *extra], check=False)
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, p.stderr
    assert str(mmproj) in lines[0] and needle in lines[0], p.stderr
    return lines[0]


def test_bad_mmproj_files(tmp_path):
    model, proc = llama_cpp_llava(tmp_path, 16)
    lm, good = write_pair(tmp_path, model, "f16")
    img = tmp_path / "x.png"
    random_photo(img, 30, 30, seed=1)
    # the language model given as the mmproj
    _fails(tmp_path, lm, lm, img, "not a vision projector")
    # missing file, a text file, a safetensors file
    _fails(tmp_path, lm, tmp_path / "none.gguf", img, "no such")
    _fails(tmp_path, lm, tmp_path, img, "a directory")
    txt = tmp_path / "junk.gguf"
    txt.write_text("this is not a gguf file")
    _fails(tmp_path, lm, txt, img, "")
    _fails(tmp_path, lm, tmp_path / "model.safetensors", img, "not a GGUF file")
    # projector output width != the LM's hidden size
    d = model.config.text_config.hidden_size
    sd = model.state_dict()
    w2 = sd["multi_modal_projector.linear_2.weight"].numpy()[: d // 2].astype(np.float16)
    b2 = sd["multi_modal_projector.linear_2.bias"].numpy()[: d // 2].astype(np.float32)
    narrow = tmp_path / "narrow.gguf"
    write_mmproj_gguf(model, narrow, tensor_override={"mm.2.weight": w2, "mm.2.bias": b2})
    _fails(tmp_path, lm, narrow, img, f"{d // 2}-dim features")
    # not a LLaVA projector / another projector type / LLaVA-1.6 anyres
    for name, kv, needle in [
        ("nollava.gguf", {"clip.has_llava_projector": False}, "not a LLaVA projector"),
        ("novision.gguf", {"clip.has_vision_encoder": False}, "no vision encoder"),
        ("ldp.gguf", {"clip.projector_type": "ldp"}, "'ldp' is not supported"),
        ("anyres.gguf", {"clip.vision.image_grid_pinpoints": [336, 672, 672, 336]}, "anyres"),
        ("nosize.gguf", {"clip.vision.embedding_length": None}, "clip.vision.embedding_length"),
        ("silu.gguf", {"clip.use_silu": True}, "use_silu"),
        ("twolayers.gguf", {"clip.vision.feature_layer": [1, 2]}, "feature_layer"),
        ("badmean.gguf", {"clip.vision.image_std": [0.5, 0.0, 0.5]}, "image_std"),
        ("badblocks.gguf", {"clip.vision.block_count": 7}, "v.blk.2"),
    ]:
        f = tmp_path / name
        write_mmproj_gguf(model, f, kv_override=kv)
        _fails(tmp_path, lm, f, img, needle)
    # missing tensors
    for drop, needle in [(("v.blk.1.attn_q.weight",), "v.blk.1.attn_q.weight"),
                         (("mm.2.weight",), "mm.2.weight"),
                         (("v.position_embd.weight",), "v.position_embd.weight")]:
        f = tmp_path / ("drop-" + drop[0] + ".gguf")
        write_mmproj_gguf(model, f, drop=drop)
        _fails(tmp_path, lm, f, img, needle)
    # a wrongly shaped tensor
    f = tmp_path / "shape.gguf"
    write_mmproj_gguf(model, f, tensor_override={"v.blk.0.ln1.weight": np.ones(5, np.float32)})
    _fails(tmp_path, lm, f, img, "v.blk.0.ln1.weight")
    # a LLaVA checkpoint that already has its tower
    p = run_iris(["run", "-m", str(tmp_path), "--mmproj", str(good), "-i", str(img), "-p", "hi"], check=False)
    assert p.returncode == 1 and "already has its own vision tower" in p.stderr
    # the good file still works, and an image without --mmproj is refused for the GGUF LM
    run_iris(["run", "-m", str(lm), "--mmproj", str(good), "-i", str(img), "-p", "hi", "-n", "2"])
    p = run_iris(["run", "-m", str(lm), "-i", str(img), "-p", "hi"], check=False)
    assert p.returncode == 1 and "text-only" in p.stderr
    # <image> placeholders without images
    p = run_iris(["run", "-m", str(lm), "--mmproj", str(good), "-p", "USER: <image>\nhi ASSISTANT:",
                  "--template", "raw"], check=False)
    assert p.returncode == 1 and "<image>" in p.stderr

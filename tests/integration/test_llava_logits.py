"""iris's whole visual path (image -> preprocessing -> CLIP -> projector ->
splice -> decoder) against transformers' LlavaForConditionalGeneration with its
own processor, on the same random weights and image; multi-turn KV reuse."""
import numpy as np
import pytest
import torch

from llava_fixtures import build_llava, expand2square, random_photo
from llm_fixtures import read_f32, rel_err, run_iris

QUESTION = "USER: <image>\nWhat color is the triangle? ASSISTANT:"


def hf_logits(model, proc, image, text):
    inputs = proc(text=text, images=image, return_tensors="pt")
    inputs.pop("token_type_ids", None)
    with torch.no_grad():
        out = model(**{k: v.to(model.dtype) if v.is_floating_point() else v for k, v in inputs.items()})
    return out.logits[0, -1].float().numpy()


def iris_logits(tmp_path, image_path, text, mode="crop", extra=()):
    out = tmp_path / "logits.f32"
    run_iris(["run", "-m", str(tmp_path), "-i", str(image_path), "-p", text, "--template", "raw",
              "--preprocess", mode, "-n", "0", "--dump-logits", str(out), *extra])
    return read_f32(out)


@pytest.mark.parametrize("arch", ["llama", "gemma"])
def test_llava_logits_match_transformers_crop(tmp_path, arch):
    model, proc = build_llava(tmp_path, arch=arch, seed=2)
    img_path = tmp_path / "photo.png"
    im = random_photo(img_path, 97, 61, seed=5)
    ref = hf_logits(model, proc, im, QUESTION)
    got = iris_logits(tmp_path, img_path, QUESTION)
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)


def test_llava_logits_pad_mode_matches_expand2square(tmp_path):
    model, proc = build_llava(tmp_path, seed=4)
    img_path = tmp_path / "tall.png"
    im = random_photo(img_path, 40, 90, seed=6)
    mean = tuple(int(x * 255) for x in proc.image_processor.image_mean)
    ref = hf_logits(model, proc, expand2square(im, mean), QUESTION)
    got = iris_logits(tmp_path, img_path, QUESTION, mode="pad")
    assert rel_err(got, ref) <= 1e-4, rel_err(got, ref)


def test_llava_bf16(tmp_path):
    model, proc = build_llava(tmp_path, seed=8, dtype=torch.bfloat16)
    img_path = tmp_path / "photo.png"
    im = random_photo(img_path, 64, 64, seed=9)
    ref = hf_logits(model, proc, im, QUESTION)
    got = iris_logits(tmp_path, img_path, QUESTION)
    assert rel_err(got, ref) <= 2e-2, rel_err(got, ref)


def test_two_images_in_one_prompt(tmp_path):
    model, proc = build_llava(tmp_path, seed=3)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    ia, ib = random_photo(a, 70, 50, seed=1), random_photo(b, 50, 70, seed=2)
    text = "USER: <image>\n<image>\nWhich is brighter? ASSISTANT:"
    inputs = proc(text=text, images=[ia, ib], return_tensors="pt")
    inputs.pop("token_type_ids", None)
    with torch.no_grad():
        ref = model(**inputs).logits[0, -1].numpy()
    out = tmp_path / "l.f32"
    run_iris(["run", "-m", str(tmp_path), "-i", str(a), "-i", str(b), "-p", text, "--template", "raw",
              "--preprocess", "crop", "-n", "0", "--dump-logits", str(out)])
    assert rel_err(read_f32(out), ref) <= 1e-4


def test_image_errors(tmp_path):
    model, proc = build_llava(tmp_path, seed=1)
    img = tmp_path / "x.png"
    random_photo(img, 30, 30, seed=1)
    # <image> with no image
    p = run_iris(["run", "-m", str(tmp_path), "-p", "USER: <image>\nhi ASSISTANT:", "--template", "raw"], check=False)
    assert p.returncode == 1 and "<image>" in p.stderr
    # missing image, a text file named .jpg
    p = run_iris(["run", "-m", str(tmp_path), "-i", str(tmp_path / "none.png"), "-p", "hi"], check=False)
    assert p.returncode == 1 and "none.png" in p.stderr
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image at all")
    p = run_iris(["run", "-m", str(tmp_path), "-i", str(fake), "-p", "hi"], check=False)
    assert p.returncode == 1 and "fake.jpg" in p.stderr
    # an image given to a text-only model
    from llm_fixtures import build_model
    txt = tmp_path / "text"
    txt.mkdir()
    build_model("llama", txt, seed=1)
    p = run_iris(["run", "-m", str(txt), "-i", str(img), "-p", "hi"], check=False)
    assert p.returncode == 1 and "text-only" in p.stderr

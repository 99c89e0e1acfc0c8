"""iris compose: a CLIP tower + an LLM -> a LLaVA checkpoint that transformers
loads and that gives iris's logits; the "swap the LLM" ablation in one step."""
import json

import numpy as np
import pytest
import torch

from llava_fixtures import IMAGE_SIZE, PATCH, random_photo
from llm_fixtures import build_model, randomize_, read_f32, rel_err, run_iris


def make_clip(path, seed):
    from transformers import CLIPVisionConfig, CLIPVisionModel
    cfg = CLIPVisionConfig(hidden_size=40, intermediate_size=80, num_hidden_layers=3, num_attention_heads=4,
                           image_size=IMAGE_SIZE, patch_size=PATCH)
    m = CLIPVisionModel(cfg).eval()
    randomize_(m, seed, std=0.1)
    m.save_pretrained(str(path), safe_serialization=True)


@pytest.mark.parametrize("arch", ["llama", "gemma"])
def test_composed_model_loads_in_transformers_and_matches(tmp_path, arch):
    from transformers import CLIPImageProcessor, LlavaForConditionalGeneration
    clip, llm, out = tmp_path / "clip", tmp_path / "llm", tmp_path / "vlm"
    clip.mkdir()
    llm.mkdir()
    make_clip(clip, 1)
    build_model(arch, llm, seed=2)
    run_iris(["compose", "--vision", str(clip), "--llm", str(llm), "-o", str(out), "--seed", "7"])
    cfg = json.load(open(out / "config.json"))
    assert cfg["model_type"] == "llava"
    model = LlavaForConditionalGeneration.from_pretrained(str(out), torch_dtype=torch.float32).eval()
    tok = json.load(open(out / "tokenizer.json"))
    image_id = cfg["image_token_index"]
    assert any(a["content"] == "<image>" and a["id"] == image_id for a in tok["added_tokens"])
    # the projector is nn.Linear-initialised: bounded by 1/sqrt(fan_in)
    w1 = model.multi_modal_projector.linear_1.weight
    w1 = w1.detach()
    assert float(w1.abs().max()) <= 1 / np.sqrt(40) + 1e-6 and float(w1.std()) > 0.01

    img = tmp_path / "p.png"
    im = random_photo(img, 60, 45, seed=4)
    proc = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    pixels = proc(images=im, return_tensors="pt")["pixel_values"]
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(str(out / "tokenizer.json"))
    text = "USER: <image>\nWhat is it? ASSISTANT:"
    ids = t.encode(text).ids
    n_img = (IMAGE_SIZE // PATCH) ** 2
    exp = []
    for i in ids:
        exp += [image_id] * n_img if i == image_id else [i]
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([exp]), pixel_values=pixels).logits[0, -1].numpy()
    dump = tmp_path / "l.f32"
    run_iris(["run", "-m", str(out), "-i", str(img), "-p", text, "--template", "raw", "--preprocess", "crop",
              "-n", "0", "--dump-logits", str(dump)])
    assert rel_err(read_f32(dump), ref) <= 1e-4


def test_compose_errors(tmp_path):
    clip, llm = tmp_path / "clip", tmp_path / "llm"
    clip.mkdir()
    llm.mkdir()
    make_clip(clip, 1)
    build_model("llama", llm, seed=2)
    p = run_iris(["compose", "--vision", str(clip), "--llm", str(tmp_path / "none"), "-o", str(tmp_path / "o")],
                 check=False)
    assert p.returncode == 1 and "none" in p.stderr
    p = run_iris(["compose", "--vision", str(llm), "--llm", str(llm), "-o", str(tmp_path / "o")], check=False)
    assert p.returncode == 1
    p = run_iris(["compose", "--vision", str(clip)], check=False)
    assert p.returncode == 2

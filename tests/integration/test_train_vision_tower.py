"""iris train with train.vision_tower = true (the CLIP tower trained with the
projector and decoder): memorisation, exact resume after SIGKILL, the
trained tower in the run's model/ and in `iris export --merge` (read back by
transformers and by iris), and clear errors for configs that cannot train a
tower.  Gradients against transformers: test_train_llava.py."""
import json
import subprocess
import time

import numpy as np
import pytest
import torch

from llava_fixtures import build_llava, random_photo
from llm_fixtures import build_model, iris_bin, run_iris
from test_train import metrics, write_config, write_data

TOWER = "vision_tower.vision_model."


def image_data(tmp_path, n=4):
    recs = []
    words = ["red", "green", "blue", "gray", "pink", "teal"]
    for i in range(n):
        random_photo(tmp_path / f"{i}.png", 56 + 8 * i, 56, seed=10 + i)
        recs.append({"id": i, "image": f"{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": f"{words[i]} {words[i]}"}]})
    (tmp_path / "d.json").write_text(json.dumps(recs))
    return tmp_path / "d.json"


def tower_config(tmp_path, model, data, **over):
    opts = {"train.mode": "full", "train.vision_tower": "true", "data.template": "plain",
            "data.image_folder": str(tmp_path), "data.preprocess": "crop", "train.schedule": "constant",
            "train.warmup_steps": 0, "train.batch_size": 2, "train.grad_accum": 2}
    opts.update(over)
    return write_config(tmp_path / "c.ini", model, data, **opts)


@pytest.fixture
def llava_dir(tmp_path):
    (tmp_path / "m").mkdir()
    build_llava(tmp_path / "m", seed=2)
    return tmp_path / "m"


def test_memorisation_with_tower(tmp_path, llava_dir):
    cfg = tower_config(tmp_path, llava_dir, image_data(tmp_path), **{
        "train.max_steps": 200, "train.lr": "1e-3", "train.vision_lr": "5e-4", "run.save_steps": 0})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=1200)
    m = metrics(tmp_path / "run")
    print([round(r["loss"], 3) for r in m[::10]])
    first, last = m[0]["loss"], min(r["loss"] for r in m[-5:])
    assert last < 0.5 * first, (first, last)
    # the tower moved: its weights in model/ differ from the base's
    from safetensors.torch import load_file
    base = load_file(str(llava_dir / "model.safetensors"))
    out = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    assert set(out) == set(base)
    moved = [k for k in base if k.startswith(TOWER) and not torch.equal(base[k], out[k])]
    assert any("layers.0." in k for k in moved) and any("embeddings.patch_embedding" in k for k in moved), moved
    # layers after vision_feature_layer (-2 of 3) and post_layernorm: untouched
    for k in base:
        if k.startswith(TOWER + "encoder.layers.2.") or k.startswith(TOWER + "post_layernorm"):
            assert torch.equal(base[k], out[k]), k


def test_resume_after_sigkill_with_tower(tmp_path, llava_dir):
    cfg = tower_config(tmp_path, llava_dir, image_data(tmp_path), **{
        "train.max_steps": 60, "run.save_steps": 3, "train.lr": "1e-3", "train.threads": 1})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "a"), "-q"], timeout=900)
    full = [r["loss"] for r in metrics(tmp_path / "a")]
    p = subprocess.Popen([iris_bin(), "train", str(cfg), "--run-dir", str(tmp_path / "b"), "-q"],
                         stderr=subprocess.PIPE)
    mpath = tmp_path / "b" / "metrics.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        if mpath.exists() and len(mpath.read_text().splitlines()) >= 5:
            break
        time.sleep(0.02)
    p.kill()
    p.wait()
    assert (tmp_path / "b" / "checkpoint.safetensors").exists()
    assert p.returncode != 0 and len(metrics(tmp_path / "b")) < len(full), "the run ended before the kill"
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "b"), "--resume", "-q"], timeout=900)
    assert [r["loss"] for r in metrics(tmp_path / "b")] == full


def test_export_merge_carries_the_trained_tower(tmp_path, llava_dir):
    """The merged export holds the checkpoint's tower values; transformers loads
    it and iris's vision path on it gives transformers' features."""
    cfg = tower_config(tmp_path, llava_dir, image_data(tmp_path, 2), **{
        "train.max_steps": 3, "train.lr": "1e-2", "run.save_steps": 0, "train.batch_size": 1})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=600)
    run_iris(["export", str(tmp_path / "run"), "--merge", "-o", str(tmp_path / "x")], timeout=300)
    from safetensors.torch import load_file
    ck = load_file(str(tmp_path / "run" / "checkpoint.safetensors"))
    out = load_file(str(tmp_path / "x" / "model.safetensors"))
    tower = [k for k in ck if k.startswith(TOWER) and not k.endswith((".exp_avg", ".exp_avg_sq"))]
    assert len(tower) == 5 + 16 * 2, tower   # embeddings, pre-LN, layers 0-1 of 3
    for k in tower:
        assert torch.equal(ck[k].reshape(out[k].shape), out[k]), k
    same = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    for k in tower:
        assert torch.equal(same[k], out[k]), k
    from transformers import LlavaForConditionalGeneration
    model = LlavaForConditionalGeneration.from_pretrained(str(tmp_path / "x")).eval()
    px = np.random.default_rng(0).standard_normal((3, 56, 56)).astype(np.float32)
    px.tofile(tmp_path / "px.f32")
    run_iris(["vision-encode", "-m", str(tmp_path / "x"), "--pixels", str(tmp_path / "px.f32"),
              "-o", str(tmp_path / "f.f32")])
    got = np.fromfile(tmp_path / "f.f32", dtype=np.float32)
    with torch.no_grad():
        f = model.vision_tower(torch.from_numpy(px)[None], output_hidden_states=True).hidden_states[-2][:, 1:]
        ref = model.multi_modal_projector(f)[0].numpy()
    assert np.abs(got.reshape(ref.shape) - ref).max() <= 1e-4 * np.abs(ref).max()


def fails(args, *needles, code=1):
    p = run_iris(args, check=False, timeout=300)
    assert p.returncode == code, p.stderr
    for n in needles:
        assert n in p.stderr, (n, p.stderr)
    return p


def test_vision_tower_on_a_model_without_one(tmp_path):
    (tmp_path / "lm").mkdir()
    build_model("llama", tmp_path / "lm", seed=3)
    cfg = write_config(tmp_path / "c.ini", tmp_path / "lm", write_data(tmp_path / "d.json"),
                       **{"train.mode": "full", "train.vision_tower": "true"})
    fails(["train", str(cfg), "--run-dir", str(tmp_path / "r")], "vision_tower", "no vision tower")


@pytest.mark.parametrize("mode", ["projector", "lora"])
def test_vision_tower_needs_full_or_scratch(tmp_path, llava_dir, mode):
    cfg = tower_config(tmp_path, llava_dir, image_data(tmp_path, 1), **{"train.mode": mode})
    fails(["train", str(cfg), "--run-dir", str(tmp_path / "r")], "c.ini", "train.vision_tower", "full or scratch",
          mode)
    ok = tower_config(tmp_path, llava_dir, image_data(tmp_path, 1), **{"train.mode": mode, "train.vision_tower": "false"})
    fails(["train", str(ok), "--run-dir", str(tmp_path / "r2"), "--set", "train.vision_tower=true"],
          "train.vision_tower", "full or scratch", code=2)


def test_vision_lr_applies_to_the_tower(tmp_path, llava_dir):
    """AdamW's first step moves every element with a gradient by lr * g / (|g| + eps)
    ~ lr: the tower by vision_lr, the decoder by lr."""
    cfg = tower_config(tmp_path, llava_dir, image_data(tmp_path, 1), **{
        "train.max_steps": 1, "train.lr": "1e-2", "train.vision_lr": "1e-3", "train.batch_size": 1,
        "train.grad_accum": 1, "train.max_grad_norm": 0, "train.warmup_ratio": 0})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=300)
    from safetensors.torch import load_file
    base = load_file(str(llava_dir / "model.safetensors"))
    ck = load_file(str(tmp_path / "run" / "checkpoint.safetensors"))
    steps = {}
    for k in ("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight",
              "vision_tower.vision_model.embeddings.patch_embedding.weight",
              "language_model.model.layers.0.mlp.up_proj.weight"):
        steps[k] = (ck[k].reshape(base[k].shape) - base[k]).abs().max().item()
    assert all(abs(v - 1e-3) < 1e-4 for k, v in steps.items() if k.startswith("vision_tower")), steps
    assert abs(steps["language_model.model.layers.0.mlp.up_proj.weight"] - 1e-2) < 1e-3, steps


def test_resume_without_the_tower_is_refused(tmp_path, llava_dir):
    """A run that trained the tower resumed with train.vision_tower = false would
    silently freeze it: refused, naming a tower parameter."""
    cfg = tower_config(tmp_path, llava_dir, image_data(tmp_path, 1), **{
        "train.max_steps": 2, "run.save_steps": 1, "train.batch_size": 1, "train.grad_accum": 1})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=300)
    fails(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "--resume", "--set", "train.vision_tower=false",
           "--set", "train.max_steps=4"], "checkpoint.safetensors", "vision_tower.vision_model.",
          "does not train")

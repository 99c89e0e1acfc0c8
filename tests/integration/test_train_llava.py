"""Training through images: the projector's gradient and the loss of a LLaVA
record against transformers' LlavaForConditionalGeneration (same weights, same
batch), and a projector-only (stage 1) memorisation run."""
import json

import numpy as np
import pytest
import torch

from llava_fixtures import IMAGE_SIZE, PATCH, build_llava, random_photo
from llm_fixtures import run_iris
from test_train import metrics, write_config


def iris_encode(tok, text):
    """iris's tokenization of a training text: split at <image>, BOS first."""
    parts = text.split("<image>")
    ids = tok.encode(parts[0]).ids
    for p in parts[1:]:
        ids += [-200] + tok.encode(p, add_special_tokens=False).ids
    return ids


def llava_record_and_reference(tmp_path, seed, trainable):
    """A tiny LLaVA, one image record, and transformers' loss and gradients
    on that batch for the parameters trainable(name) selects.  Returns
    (model, proc, loss, grads by name)."""
    (tmp_path / "m").mkdir()
    model, proc = build_llava(tmp_path / "m", seed=seed)
    tok = proc.tokenizer._tokenizer
    random_photo(tmp_path / "a.png", 70, 60, seed=1)
    q, a = "What is in the picture?", "A smooth gradient."
    rec = {"id": "x", "image": "a.png", "conversations": [{"from": "human", "value": "<image>\n" + q},
                                                          {"from": "gpt", "value": a}]}
    (tmp_path / "d.json").write_text(json.dumps([rec]))
    prompt = f"USER: <image>\n{q} ASSISTANT:"
    text = prompt + f" {a}</s>"
    ids = iris_encode(tok, text)
    start = len(iris_encode(tok, prompt))
    labels = [-100] * start + ids[start:]
    n_img = (IMAGE_SIZE // PATCH) ** 2
    image_id = model.config.image_token_index
    k = ids.index(-200)
    ids = ids[:k] + [image_id] * n_img + ids[k + 1:]
    labels = labels[:k] + [-100] * n_img + labels[k + 1:]
    from PIL import Image
    pix = proc.image_processor(Image.open(tmp_path / "a.png"), return_tensors="pt")["pixel_values"]
    for n, p in model.named_parameters():
        p.requires_grad_(trainable(n))
    out = model(input_ids=torch.tensor([ids]), pixel_values=pix, labels=torch.tensor([labels]))
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return model, proc, out.loss.item(), grads


def check_against_reference(run_dir, loss, grads, groups):
    """iris's first step against transformers: the loss, the global gradient
    norm, and element-wise every gradient (after one AdamW step from zero
    moments exp_avg = (1 - beta1) * grad), with every group of parameter
    names (prefixes) present."""
    m = metrics(run_dir)[0]
    gn = torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values()))
    assert abs(m["loss"] - loss) <= 1e-4 * abs(loss), (m["loss"], loss)
    assert abs(m["grad_norm"] - gn.item()) <= 1e-4 * gn.item(), (m["grad_norm"], gn.item())
    from safetensors.torch import load_file
    ck = load_file(str(run_dir / "checkpoint.safetensors"))
    assert grads and all(n + ".exp_avg" in ck for n in grads), sorted(set(grads) - {k[:-8] for k in ck})
    ours_trained = {k[:-len(".exp_avg")] for k in ck if k.endswith(".exp_avg")}
    assert ours_trained == set(grads), sorted(ours_trained ^ set(grads))
    for g in groups:
        assert any(n.startswith(g) for n in grads), g
    scale = max(g.double().norm().item() for g in grads.values())
    for n, g in grads.items():
        ours = ck[n + ".exp_avg"].double() / 0.1
        # k_proj.bias of the tower has an exactly zero gradient (softmax is
        # shift-invariant): judge such against the overall scale
        err = (ours - g.double()).norm() / max(g.double().norm().item(), 1e-3 * scale)
        assert err <= 1e-4, (n, err.item())


def test_llava_loss_and_projector_grad_match_transformers(tmp_path):
    model, proc, loss, grads = llava_record_and_reference(tmp_path, 5, lambda n: "multi_modal_projector" in n)
    cfg = write_config(tmp_path / "c.ini", tmp_path / "m", tmp_path / "d.json",
                       **{"train.mode": "projector", "train.max_steps": 1, "train.batch_size": 1,
                          "data.image_folder": str(tmp_path), "train.max_grad_norm": 0,
                          "data.preprocess": "crop"})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=600)
    assert (tmp_path / "run" / "projector.safetensors").exists()
    check_against_reference(tmp_path / "run", loss, grads, ["multi_modal_projector."])


def test_llava_tower_projector_decoder_grads_match_transformers(tmp_path):
    """train.vision_tower = true in mode full: every parameter that reaches the
    loss (tower up to vision_feature_layer, projector, decoder) trains, with
    transformers' gradients."""
    model, proc, loss, grads = llava_record_and_reference(tmp_path, 6, lambda n: True)
    cfg = write_config(tmp_path / "c.ini", tmp_path / "m", tmp_path / "d.json",
                       **{"train.mode": "full", "train.vision_tower": "true", "train.max_steps": 1,
                          "train.batch_size": 1, "data.image_folder": str(tmp_path), "train.max_grad_norm": 0,
                          "data.preprocess": "crop"})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=600)
    check_against_reference(tmp_path / "run", loss, grads,
                            ["vision_tower.vision_model.embeddings.", "vision_tower.vision_model.encoder.layers.1.",
                             "vision_tower.vision_model.pre_layrnorm.", "multi_modal_projector.",
                             "language_model.model.layers.", "language_model.lm_head."])


def test_projector_only_memorisation(tmp_path):
    (tmp_path / "m").mkdir()
    build_llava(tmp_path / "m", seed=2)
    recs = []
    words = ["red", "green", "blue", "gray"]
    for i, w in enumerate(words):
        random_photo(tmp_path / f"{i}.png", 56 + 8 * i, 56, seed=10 + i)
        recs.append({"id": i, "image": f"{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": f"{w} {w}"}]})
    (tmp_path / "d.json").write_text(json.dumps(recs))
    cfg = write_config(tmp_path / "c.ini", tmp_path / "m", tmp_path / "d.json",
                       **{"train.mode": "projector", "train.max_steps": 200, "train.lr": "2e-2",
                          "data.template": "plain", "data.image_folder": str(tmp_path),
                          "train.schedule": "constant", "train.warmup_steps": 5, "run.save_steps": 0})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=1200)
    m = metrics(tmp_path / "run")
    print([round(r["loss"], 3) for r in m[::10]])
    first, last = m[0]["loss"], min(r["loss"] for r in m[-5:])
    assert last < 0.5 * first, (first, last)


@pytest.mark.parametrize("preset", ["llava15-stage1", "llava15-stage2-lora", "llava15-stage2-full"])
def test_presets_run(tmp_path, preset):
    """The shipped presets parse and run (one small step on a tiny LLaVA)."""
    (tmp_path / "m").mkdir()
    build_llava(tmp_path / "m", seed=1)
    random_photo(tmp_path / "0.png", 60, 56, seed=3)
    rec = {"id": 0, "image": "0.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"},
                                                        {"from": "gpt", "value": "red red"}]}
    (tmp_path / "d.json").write_text(json.dumps([rec, rec]))
    sets = [f"model.base={tmp_path / 'm'}", f"data.data={tmp_path / 'd.json'}",
            f"data.image_folder={tmp_path}", "train.max_steps=1", "train.batch_size=1", "train.grad_accum=2",
            "data.max_length=256", "train.threads=2"]
    args = ["train", f"config/train/{preset}.ini", "--run-dir", str(tmp_path / "run"), "-q"]
    for s in sets:
        args += ["--set", s]
    run_iris(args, timeout=600)
    m = metrics(tmp_path / "run")
    assert len(m) == 1 and m[0]["loss"] > 0
    used = (tmp_path / "run" / "config.ini").read_text()
    assert "grad_accum = 2" in used

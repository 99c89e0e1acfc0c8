"""iris train on an OpenFlamingo model against open_flamingo's own Flamingo
(the random small model of test_flamingo_model.py): the first step's loss and
gradient norm equal open_flamingo's autograd on the same batch, rendered in
OpenFlamingo's interleaved format; a small set is memorised and the run's
model/openflamingo.json serves the trained weights (iris run's logits equal
the reference model loaded with them); a SIGKILLed run resumes with the
losses of an uninterrupted one; bad configurations are refused clearly."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

from llm_fixtures import iris_bin, read_f32, rel_err, run_iris
from test_flamingo_model import SEED, build, images, iris_args
from test_train import write_config

QA = [("What color is the circle?", "red"), ("How many shapes are there?", "3"),
      ("What shape is at the top?", "square")]


def render(rec):
    """The text and trained character spans as flamingo_format.h documents."""
    text, spans = "", []
    turns = rec["conversations"]
    n_img = len(rec["image"]) if isinstance(rec["image"], list) else 1
    for i in range(0, len(turns), 2):
        q = turns[i]["value"]
        k = q.count("<image>")
        q = q.replace("<image>\n", "").replace("<image>", "").strip()
        text += "<image>" * (k if any("<image>" in t["value"] for t in turns) else (n_img if i == 0 else 0))
        if q:
            text += f"Question:{q} Short answer:"
        start = len(text)
        text += turns[i + 1]["value"] + "<|endofchunk|>"
        spans.append((start, len(text)))
    return text, spans


def ids_labels(tok, rec, media):
    text, spans = render(rec)
    ids = tok.encode(text).ids
    labels = [-100] * len(ids)
    prev = 0
    cuts = []
    for a, b in spans:
        cuts += [(a, 0), (b, 1)]
    for end, train in cuts:
        cnt = len(tok.encode(text[:end]).ids) if end < len(text) else len(ids)
        if train:
            for i in range(prev, cnt):
                labels[i] = -100 if ids[i] == media else ids[i]
        prev = cnt
    return ids, labels


def records(paths):
    return [
        {"id": "qa", "image": os.path.basename(paths[0]), "conversations": [
            {"from": "human", "value": "<image>\n" + QA[0][0]}, {"from": "gpt", "value": QA[0][1]},
            {"from": "human", "value": QA[1][0]}, {"from": "gpt", "value": QA[1][1]}]},
        {"id": "cap", "image": os.path.basename(paths[1]), "conversations": [
            {"from": "human", "value": "<image>"}, {"from": "gpt", "value": "a red circle above a square"}]},
        {"id": "two", "image": [os.path.basename(p) for p in paths], "conversations": [
            {"from": "human", "value": "<image>" + QA[0][0]}, {"from": "gpt", "value": QA[0][1]},
            {"from": "human", "value": "<image>" + QA[2][0]}, {"from": "gpt", "value": QA[2][1]}]},
    ]


def setup(tmp_path, seed, n_layers=2, every_n=1, **over):
    model, tok, (eoc, media) = build(tmp_path, seed, every_n=every_n, n_layers=n_layers)
    paths, vision_x = images(tmp_path, seed)
    recs = records(paths)
    data = tmp_path / "data.json"
    data.write_text(json.dumps(recs))
    kw = {"data.template": "openflamingo", "data.image_folder": str(tmp_path), "train.mode": "projector",
          "train.max_grad_norm": "0", "train.batch_size": "3", "train.lr": "1e-3", "train.max_steps": "1"}
    kw.update(over)
    cfg = write_config(tmp_path / "c.ini", tmp_path / "openflamingo.json", data, **kw)
    return model, tok, media, paths, vision_x, recs, cfg


def metrics(run):
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


def test_one_step_matches_open_flamingo(tmp_path):
    seed = SEED % 1000 + 31
    model, tok, media, paths, vision_x, recs, cfg = setup(tmp_path, seed, n_layers=3, every_n=1)
    run = tmp_path / "run"
    p = run_iris(["train", str(cfg), "--run-dir", str(run)])
    trainable = [p_ for _, p_ in model.named_parameters() if p_.requires_grad]
    n_trainable = sum(p_.numel() for p_ in trainable)
    assert f"{n_trainable} trainable parameters" in p.stdout + p.stderr, p.stdout + p.stderr
    model.zero_grad()
    total, counted = 0.0, 0
    per_rec_vx = [vision_x[:, :1], vision_x[:, 1:], vision_x]
    for rec, vx in zip(recs, per_rec_vx):
        ids, labels = ids_labels(tok, rec, media)
        logits = model(vision_x=vx, lang_x=torch.tensor([ids])).logits[0]
        lab = torch.tensor(labels[1:])
        total = total + torch.nn.functional.cross_entropy(logits[:-1], lab, ignore_index=-100, reduction="sum")
        counted += int((lab >= 0).sum())
    loss = total / counted
    loss.backward()
    gnorm = torch.sqrt(sum((p_.grad.double() ** 2).sum() for p_ in trainable if p_.grad is not None)).item()
    m = metrics(run)[0]
    print(f"loss iris {m['loss']:.6f} ref {loss.item():.6f}; grad_norm iris {m['grad_norm']:.6f} ref {gnorm:.6f}")
    assert abs(m["loss"] - loss.item()) <= 1e-4 * abs(loss.item()), f"seed {SEED}"
    assert abs(m["grad_norm"] - gnorm) <= 1e-4 * gnorm, f"seed {SEED}"


def test_memorise_and_serve(tmp_path):
    seed = SEED % 1000 + 37
    model, tok, media, paths, vision_x, recs, cfg = setup(
        tmp_path, seed, **{"train.max_steps": "200", "train.lr": "3e-3", "train.projector_lr": "3e-3",
                           "run.save_steps": "100"})
    run = tmp_path / "run"
    run_iris(["train", str(cfg), "--run-dir", str(run)])
    losses = [m["loss"] for m in metrics(run)]
    first = next(i for i, l in enumerate(losses) if l < losses[0] / 2)
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; below half at step {first + 1}")
    assert losses[-1] < losses[0] / 2
    mf = run / "model" / "openflamingo.json"
    assert mf.exists() and (run / "model" / "checkpoint.safetensors").exists()
    # the reference model with the trained weights gives iris run's logits
    from safetensors.torch import load_file
    sd = load_file(str(run / "model" / "checkpoint.safetensors"))
    missing = model.load_state_dict(sd, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    prompt = "<image>Question:" + QA[0][0] + " Short answer:"
    ids = tok.encode(prompt).ids
    with torch.no_grad():
        ref = model(vision_x=vision_x[:, :1], lang_x=torch.tensor([ids])).logits[0, -1].numpy()
    out = tmp_path / "logits.f32"
    run_iris(["run", "-m", str(mf), "-p", prompt, "-i", paths[0], "--threads", "2", "-n", "0",
              "--dump-logits", str(out)])
    err = rel_err(read_f32(out), ref)
    assert err <= 1e-4, f"seed {SEED}: {err}"
    # iris export writes the same form
    exp = tmp_path / "exported"
    run_iris(["export", str(run), "--merge", "-o", str(exp)])
    assert (exp / "openflamingo.json").exists() and (exp / "checkpoint.safetensors").exists()


def test_resume_after_sigkill(tmp_path):
    seed = SEED % 1000 + 41
    *_, cfg = setup(tmp_path, seed, **{"train.max_steps": "12", "run.save_steps": "3", "train.batch_size": "1",
                                       "train.grad_accum": "2", "train.schedule": "cosine",
                                       "train.warmup_steps": "2", "train.max_grad_norm": "1.0"})
    full = tmp_path / "full"
    run_iris(["train", str(cfg), "--run-dir", str(full)])
    killed = tmp_path / "killed"
    proc = subprocess.Popen([iris_bin(), "train", str(cfg), "--run-dir", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        mp = killed / "metrics.jsonl"
        if mp.exists() and len(mp.read_text().splitlines()) >= 7:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if len(metrics(killed)) >= 12:
        pytest.skip("the run finished before it could be killed")
    run_iris(["train", str(cfg), "--run-dir", str(killed), "--resume"])
    a, b = metrics(full), metrics(killed)
    assert [m["step"] for m in b] == list(range(1, 13))
    assert [m["loss"] for m in a] == [m["loss"] for m in b]
    assert [m["grad_norm"] for m in a] == [m["grad_norm"] for m in b]


def test_bad_configs(tmp_path):
    *_, paths, _, recs, cfg = setup(tmp_path, 43)
    def fails(**over):
        c = write_config(tmp_path / "bad.ini", tmp_path / "openflamingo.json", tmp_path / "data.json",
                         **dict({"data.template": "openflamingo", "data.image_folder": str(tmp_path),
                                 "train.mode": "projector"}, **over))
        p = run_iris(["train", str(c), "--run-dir", str(tmp_path / f"r{len(over)}{id(over)}")], check=False)
        assert p.returncode == 1, p.stderr
        return p.stderr
    assert "train.mode must be projector" in fails(**{"train.mode": "full"})
    assert "train.mode must be projector" in fails(**{"train.mode": "scratch"})
    assert "data.template must be openflamingo" in fails(**{"data.template": "llava-hf"})
    assert "unknown template" in fails(**{"data.template": "flamingo"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x", "image": [os.path.basename(paths[0])], "conversations": [
        {"from": "human", "value": "<image><image>Q"}, {"from": "gpt", "value": "A"}]}]))
    assert "names 2 <image> for 1 image files" in fails(**{"data.data": str(bad)})
    bad.write_text(json.dumps([{"id": "x", "image": "nope.png", "conversations": [
        {"from": "human", "value": "<image>Q"}, {"from": "gpt", "value": "A"}]}]))
    assert "nope.png' not found" in fails(**{"data.data": str(bad)})


@pytest.mark.parametrize("rec,msg", [
    ({"conversations": []}, "no \"conversations\" list"),
    ({"image": [3], "conversations": [{"from": "human", "value": "<image>Q"}, {"from": "gpt", "value": "A"}]},
     "must be a file name or a list"),
    ({"conversations": [{"from": "human", "value": "Q"}, {"from": "human", "value": "R"},
                        {"from": "gpt", "value": "A"}]}, "two human turns in a row"),
    ({"conversations": [{"from": "human", "value": "Q"}, {"from": "bot", "value": "A"}]}, "unknown role"),
    ({"conversations": [{"from": "human", "value": "Q"}]}, "no assistant"),
    ({"conversations": [{"from": "gpt", "value": "A <image>"}]}, "names 1 <image> for 0 image files"),
])
def test_bad_records(tmp_path, rec, msg):
    setup(tmp_path, 47)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([dict(rec, id="x")]))
    c = write_config(tmp_path / "bad.ini", tmp_path / "openflamingo.json", bad,
                     **{"data.template": "openflamingo", "data.image_folder": str(tmp_path),
                        "train.mode": "projector"})
    p = run_iris(["train", str(c), "--run-dir", str(tmp_path / "run")], check=False)
    assert p.returncode == 1 and msg in p.stderr and "record 0 (id \"x\")" in p.stderr, p.stderr

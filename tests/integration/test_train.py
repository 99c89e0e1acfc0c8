"""iris train / iris export against the references: PEFT adapters in both
directions (peft loads iris's adapter, iris loads peft's), merged checkpoints
in transformers, memorisation per trainable-set mode, exact resume after
SIGKILL, SIGTERM, and clear errors on bad input."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

from llm_fixtures import build_model, iris_bin, read_f32, rel_err, run_iris

PROMPT = "What is item 3? The quick brown fox"


def write_data(path, n=6, extra=()):
    recs = [{"id": f"r{i}", "conversations": [
        {"from": "human", "value": f"What is item {i}?"},
        {"from": "gpt", "value": f"Item {i} is the quick brown fox number {i * 7}."}]} for i in range(n)]
    recs += list(extra)
    path.write_text(json.dumps(recs, indent=1))
    return path


def write_config(path, model, data, **over):
    sec = {
        "model": {"base": str(model)},
        "data": {"data": str(data), "max_length": "200", "template": "llava-hf"},
        "train": {"mode": "lora", "lr": "3e-3", "max_steps": "20", "batch_size": "2", "grad_accum": "1",
                  "schedule": "constant", "warmup_steps": "0", "threads": "2", "seed": "7"},
        "lora": {"r": "8", "alpha": "16", "dropout": "0.05"},
        "run": {"save_steps": "5"},
    }
    for k, v in over.items():
        s, key = k.split(".")
        sec.setdefault(s, {})[key] = str(v)
    path.write_text("".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) for s, kv in sec.items()))
    return path


def metrics(run_dir):
    return [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    build_model("llama", d, seed=3)
    return d


def iris_logits(model_dir, tmp_path):
    out = tmp_path / "logits.f32"
    run_iris(["run", "-m", str(model_dir), "-p", PROMPT, "-n", "0", "--dump-logits", str(out), "--threads", "2"])
    return read_f32(out)


def hf_logits(model, tok):
    ids = tok.encode(PROMPT).ids
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1].float().numpy()


def test_iris_adapter_loads_in_peft_and_merged_in_transformers(base, tmp_path):
    from peft import PeftModel
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    cfg = write_config(tmp_path / "c.ini", base, write_data(tmp_path / "d.json"), **{"train.max_steps": 6})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=600)
    run_iris(["export", str(tmp_path / "run"), "--adapter", "-o", str(tmp_path / "adapter")])
    run_iris(["export", str(tmp_path / "run"), "--merge", "-o", str(tmp_path / "merged")])
    acfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert acfg["peft_type"] == "LORA" and acfg["r"] == 8 and acfg["lora_alpha"] == 16
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(tmp_path / "adapter"))
    peft_model.eval()
    ref = hf_logits(peft_model, tok)
    plain = hf_logits(AutoModelForCausalLM.from_pretrained(str(base)), tok)
    assert rel_err(plain, ref) > 1e-3, "the trained adapter should change the logits"
    merged = hf_logits(AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged")), tok)
    assert rel_err(merged, ref) < 1e-4
    ours = iris_logits(tmp_path / "merged", tmp_path)
    assert rel_err(ours, ref) < 1e-4


def test_peft_adapter_loads_in_iris(base, tmp_path):
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(str(base))
    lc = LoraConfig(r=4, lora_alpha=12, target_modules=["q_proj", "v_proj", "down_proj"], use_rslora=True,
                    lora_dropout=0.0, task_type="CAUSAL_LM")
    pm = get_peft_model(model, lc)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_" in n:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    pm.save_pretrained(str(tmp_path / "peft"))
    pm.eval()
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    ref = hf_logits(pm, tok)
    run_iris(["export", "--peft", str(tmp_path / "peft"), "--base", str(base), "--merge", "-o", str(tmp_path / "m")])
    assert rel_err(iris_logits(tmp_path / "m", tmp_path), ref) < 1e-4
    # and back out again in PEFT's format, unchanged
    run_iris(["export", "--peft", str(tmp_path / "peft"), "--base", str(base), "--adapter", "-o", str(tmp_path / "a2")])
    from safetensors.torch import load_file
    a = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "a2" / "adapter_model.safetensors"))
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k].float(), b[k].float()), k


@pytest.mark.parametrize("mode,lr", [("lora", "3e-3"), ("full", "1e-3"), ("scratch", "1e-3")])
def test_memorisation(base, tmp_path, mode, lr):
    cfg = write_config(tmp_path / "c.ini", base, write_data(tmp_path / "d.json", n=4),
                       **{"train.mode": mode, "train.lr": lr, "train.max_steps": 40, "lora.dropout": 0,
                          "train.schedule": "cosine", "train.warmup_ratio": 0.05, "run.save_steps": 0})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=900)
    m = metrics(tmp_path / "run")
    assert len(m) == 40 and [r["step"] for r in m] == list(range(1, 41))
    first, last = m[0]["loss"], min(r["loss"] for r in m[-5:])
    assert last < 0.5 * first, (mode, first, last)
    for r in m:
        assert set(r) >= {"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "mem_bytes", "wall_s"}
    out = tmp_path / "run" / ("adapter" if mode == "lora" else "model")
    assert out.is_dir()


def test_resume_after_sigkill_gives_identical_losses(base, tmp_path):
    data = write_data(tmp_path / "d.json")
    cfg = write_config(tmp_path / "c.ini", base, data, **{"train.max_steps": 16, "run.save_steps": 4})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "a"), "-q"], timeout=900)
    full = [r["loss"] for r in metrics(tmp_path / "a")]
    p = subprocess.Popen([iris_bin(), "train", str(cfg), "--run-dir", str(tmp_path / "b"), "-q"],
                         stderr=subprocess.PIPE)
    mpath = tmp_path / "b" / "metrics.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        if mpath.exists() and len(mpath.read_text().splitlines()) >= 6:
            break
        time.sleep(0.05)
    p.kill()
    p.wait()
    assert (tmp_path / "b" / "checkpoint.safetensors").exists()
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "b"), "--resume", "-q"], timeout=900)
    resumed = [r["loss"] for r in metrics(tmp_path / "b")]
    assert resumed == full


def test_sigterm_saves_and_stops(base, tmp_path):
    cfg = write_config(tmp_path / "c.ini", base, write_data(tmp_path / "d.json"),
                       **{"train.max_steps": 200, "run.save_steps": 0})
    p = subprocess.Popen([iris_bin(), "train", str(cfg), "--run-dir", str(tmp_path / "r")],
                         stderr=subprocess.PIPE, text=True)
    mpath = tmp_path / "r" / "metrics.jsonl"
    while p.poll() is None and not (mpath.exists() and mpath.read_text().count("\n") >= 2):
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "stopped at step" in err and (tmp_path / "r" / "checkpoint.safetensors").exists()
    done = len(metrics(tmp_path / "r"))
    assert done < 200
    r = run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "r"), "--resume", "-q",
                  "--set", "train.max_steps=" + str(done + 2)], timeout=600)
    assert len(metrics(tmp_path / "r")) == done + 2


def fails(args, *needles, timeout=300):
    p = run_iris(args, check=False, timeout=timeout)
    assert p.returncode == 1, p.stderr
    for n in needles:
        assert n in p.stderr, (n, p.stderr)
    assert p.stderr.startswith("iris "), p.stderr
    return p


def test_bad_inputs(base, tmp_path):
    data = write_data(tmp_path / "d.json")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(data.read_text()[:-40])
    fails(["train", str(write_config(tmp_path / "c1.ini", base, bad_json)), "--run-dir", str(tmp_path / "r1")],
          "bad.json", "malformed JSON")
    no_answer = write_data(tmp_path / "na.json", n=2, extra=[{"id": "lonely", "conversations": [
        {"from": "human", "value": "hello?"}]}])
    cfg = write_config(tmp_path / "c2.ini", base, no_answer, **{"data.shuffle": "false", "train.max_steps": 3})
    fails(["train", str(cfg), "--run-dir", str(tmp_path / "r2")], "record 2", "lonely", "no assistant")
    missing = write_data(tmp_path / "mi.json", n=0, extra=[{"id": "pic", "image": "nope.png", "conversations": [
        {"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "A cat."}]}])
    fails(["train", str(write_config(tmp_path / "c3.ini", base, missing, **{"data.image_folder": str(tmp_path)})),
           "--run-dir", str(tmp_path / "r3")], "pic", "nope.png", "not found")
    (tmp_path / "c4.ini").write_text(write_config(tmp_path / "c4.ini", base, data).read_text() + "[train]\nlearning_rat = 3\n")
    fails(["train", str(tmp_path / "c4.ini")], "c4.ini:", "unknown key", "learning_rat")
    fails(["train", str(write_config(tmp_path / "c5.ini", base, data, **{"lora.dropout": 1.5}))],
          "c5.ini", "lora.dropout", "out of range")
    fails(["train", str(write_config(tmp_path / "c6.ini", base, data, **{"train.schedule": "warp"}))],
          "train.schedule", "warp")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    if not os.access(ro, os.W_OK):  # root writes anywhere; test_unwritable_run_dir covers that case
        fails(["train", str(write_config(tmp_path / "c7.ini", base, data)), "--run-dir", str(ro / "run")],
              "run directory", "ro/run")


def test_unwritable_run_dir(base, tmp_path):
    data = write_data(tmp_path / "d.json")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    fails(["train", str(write_config(tmp_path / "c.ini", base, data)), "--run-dir", str(blocker / "run")],
          "run directory", "file/run")


def test_skip_bad_records_counts(base, tmp_path):
    extra = [{"id": "lonely", "conversations": [{"from": "human", "value": "hello?"}]},
             {"id": "pic", "image": "nope.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"},
                                                                   {"from": "gpt", "value": "A cat."}]}]
    data = write_data(tmp_path / "d.json", n=3, extra=extra)
    cfg = write_config(tmp_path / "c.ini", base, data, **{"data.skip_bad_records": "true", "train.max_steps": 3,
                                                          "data.image_folder": str(tmp_path)})
    p = run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "r")], timeout=600)
    assert "skipping: record 3" in p.stderr and "lonely" in p.stderr
    n = p.stderr.count("skipping: ")
    assert n >= 2 and f"{n} skipped" in p.stderr


def test_disk_full_keeps_previous_checkpoint(base, tmp_path):
    data = write_data(tmp_path / "d.json")
    cfg = write_config(tmp_path / "c.ini", base, data, **{"train.max_steps": 4, "run.save_steps": 2})
    run_dir = tmp_path / "r"
    run_iris(["train", str(cfg), "--run-dir", str(run_dir), "-q", "--set", "train.max_steps=2"], timeout=600)
    size = (run_dir / "checkpoint.safetensors").stat().st_size
    before = (run_dir / "checkpoint.safetensors").read_bytes()
    # A file-size limit below the checkpoint's size stands in for a full disk.
    limit_kb = size // 1024 // 2
    p = subprocess.run(["bash", "-c", f'ulimit -f {limit_kb}; exec "$0" "$@"', iris_bin(), "train", str(cfg),
                        "--run-dir", str(run_dir), "--resume", "-q"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 1, p.stderr
    assert "checkpoint of step 4" in p.stderr and "previous checkpoint is still in place" in p.stderr, p.stderr
    assert (run_dir / "checkpoint.safetensors").read_bytes() == before
    assert not [f for f in os.listdir(run_dir) if f.startswith(".") or "tmp" in f]
    run_iris(["train", str(cfg), "--run-dir", str(run_dir), "--resume", "-q"], timeout=600)
    assert len(metrics(run_dir)) == 4


VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the user's questions.")


@pytest.mark.parametrize("template", ["vicuna_v1", "llava-hf"])
def test_multi_turn_masking_loss_matches_transformers(base, tmp_path, template):
    """LLaVA's masking of a two-round conversation: only the answers and their
    </s> count.  iris's first-step loss must equal transformers' loss on labels
    built here independently (prefix token counts of the rendered text)."""
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    turns = [("What is item 1?", "Item 1 is a fox."), ("And item 2?", "A lazy dog, number 2.")]
    rec = {"id": "mt", "conversations": [c for q, a in turns for c in
                                         ({"from": "human", "value": q}, {"from": "gpt", "value": a})]}
    (tmp_path / "d.json").write_text(json.dumps([rec]))
    cfg = write_config(tmp_path / "c.ini", base, tmp_path / "d.json",
                       **{"data.template": template, "train.max_steps": 1, "train.batch_size": 1,
                          "train.mode": "full", "train.max_grad_norm": 0})
    run_iris(["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"], timeout=600)
    got = metrics(tmp_path / "run")[0]["loss"]
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    text = VICUNA_SYSTEM + " " if template == "vicuna_v1" else ""
    spans = []
    for q, a in turns:
        text += f"USER: {q} ASSISTANT:"
        start = len(text)
        text += f" {a}</s>"
        spans.append((start, len(text)))
    ids = tok.encode(text).ids
    labels = [-100] * len(ids)
    for s, e in spans:
        i, j = len(tok.encode(text[:s]).ids), len(tok.encode(text[:e]).ids)
        labels[i:j] = ids[i:j]
    assert labels[-1] == 1  # </s> trains
    model = AutoModelForCausalLM.from_pretrained(str(base))
    with torch.no_grad():
        ref = model(torch.tensor([ids]), labels=torch.tensor([labels])).loss.item()
    assert abs(got - ref) <= 1e-4 * ref, (got, ref)

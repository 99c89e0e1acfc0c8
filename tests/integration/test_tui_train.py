"""The Train panel: the form writes the run's INI and starts the trainer as a
child in its own session; the run's state, step/total, loss and ETA follow its
metrics.jsonl; its plot advances; stop (SIGTERM) and resume; the run outlives
the UI.  The trainer here is tests/integration/fake_trainer.py (through
IRIS_TRAIN_EXE), so the test checks the UI's side of the contract whatever
state the real trainer is in."""
import configparser
import os
import re
import signal
import sys
import time
from pathlib import Path

from tui_harness import Tui

HERE = Path(__file__).resolve().parent


def fake_exe(tmp_path):
    exe = tmp_path / "fake-iris"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fake_trainer.py'} \"$@\"\n")
    exe.chmod(0o755)
    return exe


def row(screen, name):
    for line in screen.split("\n"):
        if line.strip().startswith(name):
            return line
    return ""


def step_of(screen, name):
    m = re.search(r"(\d+)/(\d+)", row(screen, name))
    return int(m.group(1)) if m else -1


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] not in "ZX"


def test_form_start_plot_stop_resume_and_survive_exit(tmp_path):
    runs = tmp_path / "runs"
    data = tmp_path / "data.json"
    data.write_text("[]")
    env = {"IRIS_TRAIN_EXE": str(fake_exe(tmp_path)), "IRIS_RUNS": str(runs)}
    t = Tui(["--panel", "train", "-m", str(tmp_path / "base-model")], tmp_path, 100, 30, env=env)
    pids = []
    try:
        t.wait_for("no runs in")
        t.type("n")
        t.wait_for("new training run")
        t.send("C-u")
        t.type(str(data))                  # the dataset field has the focus
        t.send("Up", "Up")                 # run name
        t.send("C-u")
        t.type("first")
        for _ in range(11):                # to "steps"
            t.send("Down")
        t.send("C-u")
        t.type("40")
        t.send("Enter")
        s = t.wait_for("started first", timeout=10)
        ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
        ini.read(runs / "first" / "config.ini")
        assert ini["model"]["base"] == str(tmp_path / "base-model")
        assert ini["data"]["data"] == str(data)
        assert ini["train"]["mode"] == "lora" and float(ini["train"]["lr"]) == 2e-4
        assert ini["train"]["schedule"] == "cosine" and ini["train"]["warmup_steps"] == "3"
        assert ini["train"]["max_steps"] == "40"
        assert ini["lora"]["r"] == "8" and float(ini["lora"]["alpha"]) == 16
        assert ini["lora"]["targets"] == "q_proj,k_proj,v_proj,o_proj" and "template" not in ini["data"]
        s = t.wait_for(lambda s: "running" in row(s, "first") and step_of(s, "first") >= 3, timeout=20)
        assert "/40" in row(s, "first")
        assert re.search(r"\d+s\s*$", row(s, "first").rstrip())          # an ETA
        pid = int((runs / "first" / "ui.pid").read_text())
        pids.append(pid)
        assert os.getsid(pid) == pid       # its own session
        # Enter: the run's plot, advancing
        t.send("Enter")
        s1 = t.wait_for(lambda s: re.search(r"first [\d.]+ @(\d+)", s), timeout=10)
        n1 = int(re.search(r"first [\d.]+ @(\d+)", s1).group(1))
        s2 = t.wait_for(lambda s: int(re.search(r"first [\d.]+ @(\d+)", s).group(1)) > n1 + 2, timeout=20)
        assert "\u2800" < max(s2) or re.search("[\u2801-\u28ff]", s2)
        # stop, then resume from the checkpoint
        t.send("F3")
        t.type("s")
        s = t.wait_for(lambda s: "stopped" in row(s, "first"), timeout=20)
        stopped_at = step_of(s, "first")
        assert 0 < stopped_at < 40
        t.type("r")
        t.wait_for("resumed first", timeout=10)
        s = t.wait_for(lambda s: "done" in row(s, "first"), timeout=60)
        assert step_of(s, "first") == 40
        inv = (runs / "first" / "invocations.txt").read_text().splitlines()
        assert len(inv) == 2 and inv[1].endswith("--resume")
        steps = [int(l.split('"step": ')[1].split(",")[0]) for l in open(runs / "first" / "metrics.jsonl")]
        assert steps == list(range(1, 41))   # resumed exactly where it stopped
        # a second run keeps going after the UI quits
        t.type("n")
        t.wait_for("new training run")
        t.send("C-u")
        t.type(str(data))
        t.send("Up", "Up", "C-u")
        t.type("second")
        for _ in range(11):
            t.send("Down")
        t.send("C-u")
        t.type("200")
        t.send("Enter")
        t.wait_for("started second", timeout=10)
        pid2 = int((runs / "second" / "ui.pid").read_text())
        pids.append(pid2)
        t.send("C-q")
        for _ in range(50):
            if t.exited():
                break
            time.sleep(0.1)
        assert t.exited()
        time.sleep(0.5)
        assert alive(pid2)
        n_before = len(open(runs / "second" / "metrics.jsonl").read().splitlines())
        time.sleep(1.0)
        assert len(open(runs / "second" / "metrics.jsonl").read().splitlines()) > n_before
    finally:
        for p in pids:
            try:
                os.killpg(p, signal.SIGKILL)
            except OSError:
                pass
        t.close()


def start_one_run(tmp_path, base, name, data, env, edit_base=None):
    """Opens the form on base, fills the dataset (and, given edit_base, types
    a new base model), starts the run; returns its config.ini."""
    t = Tui(["--panel", "train", "-m", str(base)], tmp_path, 100, 30, env=env)
    try:
        t.wait_for(lambda s: "no runs in" in s or "step/total" in s)
        t.type("n")
        t.wait_for("new training run")
        t.send("C-u")
        t.type(str(data))
        t.send("Up", "Up", "C-u")
        t.type(name)
        if edit_base is not None:
            t.send("Down", "C-u")
            t.type(str(edit_base))
        t.send("Enter")
        t.wait_for("started " + name, timeout=10)
        ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
        ini.read(Path(env["IRIS_RUNS"]) / name / "config.ini")
        return ini
    finally:
        t.close()


def test_form_defaults_for_an_openflamingo_base(tmp_path):
    """An OpenFlamingo model trains on its own template, and its LoRA
    targets are OpenFlamingo's groups, not LLaMA's projection names -- also
    when the base field is changed to one after the form opened."""
    of = tmp_path / "of-model"
    of.mkdir()
    (of / "openflamingo.json").write_text("{}")
    data = tmp_path / "data.json"
    data.write_text("[]")
    env = {"IRIS_TRAIN_EXE": str(fake_exe(tmp_path)), "IRIS_RUNS": str(tmp_path / "runs")}
    ini = start_one_run(tmp_path, of, "of", data, env)
    assert ini["model"]["base"] == str(of)
    assert ini["data"]["template"] == "openflamingo" and ini["lora"]["targets"] == "attn"
    ini = start_one_run(tmp_path, tmp_path / "llava", "edited", data, env, edit_base=of)
    assert ini["model"]["base"] == str(of)
    assert ini["data"]["template"] == "openflamingo" and ini["lora"]["targets"] == "attn"


def test_form_refuses_bad_values(tmp_path):
    env = {"IRIS_TRAIN_EXE": str(fake_exe(tmp_path)), "IRIS_RUNS": str(tmp_path / "runs")}
    t = Tui(["--panel", "train", "-m", "base"], tmp_path, 80, 24, env=env)
    try:
        t.wait_for("no runs in")
        t.type("n")
        t.wait_for("new training run")
        t.send("Enter")                      # no dataset
        t.wait_for("dataset (JSON): missing or out of range")
        t.type("d.json")
        for _ in range(6):                   # to "learning rate"
            t.send("Down")
        t.send("C-u")
        t.type("fast")
        t.send("Enter")
        t.wait_for("learning rate: missing or out of range")
        t.send("Escape")
        t.wait_for("no runs in")
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
        t.alive()
    finally:
        t.close()


def test_real_trainer_run_and_its_plot(tmp_path):
    """With `iris train` built in: the form starts a real short LoRA run and
    the Plots panel follows it to the end."""
    import json
    import subprocess
    from llm_fixtures import build_model, iris_bin
    helptext = subprocess.run([iris_bin(), "--help"], capture_output=True, text=True).stdout
    if not re.search(r"^\s+train\s", helptext, re.M):
        import pytest
        pytest.skip("iris train is not built into this binary")
    base = tmp_path / "base"
    base.mkdir()
    build_model("llama", base, seed=3)
    data = tmp_path / "data.json"
    data.write_text(json.dumps([{"id": f"r{i}", "conversations": [
        {"from": "human", "value": f"What is item {i}?"},
        {"from": "gpt", "value": f"Item {i} is the quick brown fox number {i * 7}."}]} for i in range(6)]))
    t = Tui(["--panel", "train", "-m", str(base)], tmp_path, 100, 30, env={"IRIS_RUNS": str(tmp_path / "runs")})
    try:
        t.wait_for("no runs in")
        t.type("n")
        t.wait_for("new training run")
        t.send("C-u")
        t.type(str(data))
        t.send("Up", "Up", "C-u")
        t.type("real")
        for _ in range(11):
            t.send("Down")
        t.send("C-u")
        t.type("12")
        t.send("Enter")
        t.wait_for("started real", timeout=10)
        t.wait_for(lambda s: step_of(s, "real") >= 1, timeout=120, what="the first step")
        t.send("Enter")
        t.wait_for(lambda s: re.search(r"real [\d.]+ @(\d+)", s), timeout=30)
        t.wait_for(lambda s: re.search(r"real [\d.]+ @12\b", s), timeout=300, what="the last step plotted")
        t.send("F3")
        t.wait_for(lambda s: "done" in row(s, "real"), timeout=60)
        t.alive()
    finally:
        t.close()

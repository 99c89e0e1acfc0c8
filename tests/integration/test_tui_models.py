"""The Models panel against the local test Hub: pull by name with a progress
bar (the server throttled so the bar is seen moving), the pulled model listed
with details that match what the safetensors file holds (read here with the
safetensors package), handed to Chat, deleted after a confirmation; a failed
pull is reported without harm."""
import os

import numpy as np
from safetensors.numpy import load_file

from hub_server import Hub
from llava_fixtures import build_llava
from tui_harness import Tui


def test_pull_progress_details_use_and_delete(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    build_llava(src, seed=11)
    files = {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()}
    hub = Hub(lifetime=240).start()
    try:
        hub.add_commit("test-org/tiny-llava", files)
        size = len(files["model.safetensors"])
        hub.throttle = max(size // 4, 50_000)     # about four seconds for the weights
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf"), "IRIS_HUB_BACKOFF": "0.05",
               "IRIS_HUB_SPLIT_MIN": str(1 << 40)}
        t = Tui(["--panel", "models", "--device", "cpu"], tmp_path, 100, 30, env=env, builtin=False)
        try:
            t.wait_for("no local models")
            t.type("p")
            t.wait_for("pull (ORG/NAME")
            t.type("test-org/tiny-llava")
            t.send("Enter")
            s = t.wait_for(lambda s: "ETA" in s and "\u2588" in s, timeout=30, what="a progress bar")
            assert "test-org/tiny-llava" in s and "%" in s
            s = t.wait_for("pulled test-org/tiny-llava", timeout=60)
            assert "LlavaForConditionalGeneration" in s
            # details: parameters and dtype as the file holds them
            t.type("i")
            s = t.wait_for("parameters:")
            tensors = load_file(str(src / "model.safetensors"))
            n = sum(int(np.prod(v.shape)) for v in tensors.values())
            want = f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"
            assert f"parameters: {want} in {len(tensors)} tensors, dtype F32" in s, s
            # Enter: the model goes to Chat
            t.send("Enter")
            t.wait_for(lambda s: "loaded" in s and "Chat" in s.split("\n")[0], timeout=60)
            # /model takes a Hub name too
            t.type("/model test-org/tiny-llava")
            t.send("Enter")
            t.wait_for(lambda s: s.count("loaded") >= 2 and "models--test-org--tiny-llava" in s, timeout=60)
            t.send("F5")
            # delete: asked first
            t.type("d")
            t.wait_for("and its files? y/n")
            t.type("n")
            t.wait_for("not deleted")
            t.type("d")
            t.wait_for("y/n")
            t.type("y")
            t.wait_for("deleted test-org/tiny-llava")
            t.wait_for("no local models")
            assert not (tmp_path / "hf" / "hub" / "models--test-org--tiny-llava").exists()
            # a pull that fails leaves the panel working
            t.type("p")
            t.type("test-org/does-not-exist")
            t.send("Enter")
            t.wait_for("failed", timeout=60)
            t.alive()
        finally:
            t.close()
    finally:
        hub.stop()

"""The Compare panel: two models answer the same picture and questions side
by side, each with latency and tokens/s; a list of questions runs in a row,
each from a fresh conversation, so every answer equals what line-mode
`iris chat` gives for that model, picture and question alone (greedy)."""
import re
import subprocess

import pytest

from llava_fixtures import build_llava, random_photo
from llm_fixtures import iris_bin
from tui_harness import Tui


def chat_answer(model, image, question):
    p = subprocess.run([iris_bin(), "chat", "-m", str(model), "--device", "cpu", "-n", "3", "--temp", "0"],
                       input=f"/image {image}\n{question}\n", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = [l for l in p.stdout.split("\n") if l and not l.startswith("(")]
    return lines[0] if lines else ""


def visible(s, ui=False):
    """What a screen cell shows: the UI draws control characters as '?'."""
    out = []
    for c in s:
        if c == "\ufffd":
            continue
        if not ui and (ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0):
            c = "?"
        out.append(c if c.isprintable() else "")
    return "".join(out).strip()


def test_two_models_side_by_side(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    build_llava(a, seed=21)
    build_llava(b, seed=22)
    img = tmp_path / "p.png"
    random_photo(img, 40, 30, seed=23)
    t = Tui(["-m", str(a), "--compare", str(b), "--device", "cpu", "-n", "3", "--temp", "0", "--panel", "compare"],
            tmp_path, 120, 36)
    try:
        t.wait_for(lambda s: s.count("loaded") == 2, what="both models")
        t.type(f"/image {img}")
        t.send("Enter")
        t.wait_for("\u2580")
        t.type("What is this?")
        t.send("C-j")
        t.type("Which colour?")
        t.send("Enter")
        s = t.wait_for(lambda s: len(re.findall(r"\[\d+ tokens, first [\d.]+s, [\d.]+ tok/s\]", s)) == 4,
                       timeout=60, what="four answers")
        assert "A 2/2  B 2/2" in s
        lines = s.split("\n")
        head = [l for l in lines if l.startswith("A: ")][0]
        assert "B: " in head
        lat = [l for l in lines if l.startswith("latency")][0]
        assert len(re.findall(r"latency [\d.]+s\s+[\d.]+ tok/s", lat)) == 2
        mid = head.index("\u2502")
        for qi, q in enumerate(["What is this?", "Which colour?"]):
            qrow = [i for i, l in enumerate(lines) if l.startswith(f"Q{qi + 1}: ")][0]
            for side, model in ((0, a), (1, b)):
                cell = lines[qrow + 1][:mid] if side == 0 else lines[qrow + 1][mid + 1:]
                want = visible(chat_answer(model, img, q))
                got = visible(cell, ui=True)
                assert got == want, (side, q, got, want)
        t.alive()
    finally:
        t.close()

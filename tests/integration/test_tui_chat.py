"""The full-screen interface's Chat panel, driven in tmux: an exchange with a
picture, stopping mid-answer, slash commands, robustness (paste, invalid
UTF-8, bad paths, a model that fails to load), resizing, a 40x12 terminal.
The answers come from a tiny random LLaVA (gibberish); the streamed text is
checked against `iris run` with the same greedy settings."""
import re
import shutil
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from llava_fixtures import build_llava, random_photo
from llm_fixtures import iris_bin
from tui_harness import Tui

HALF = "\u2580"


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    d = tmp_path_factory.mktemp("llava")
    build_llava(d, seed=3)
    random_photo(d / "photo.png", 64, 48, seed=4)
    return d


@pytest.fixture(scope="module")
def llava_endless(tmp_path_factory):
    """The same kind of model whose end token can never be drawn, so an answer
    runs until it is stopped."""
    import json
    d = tmp_path_factory.mktemp("llava_endless")
    build_llava(d, seed=3)
    cfg = json.load(open(d / "config.json"))
    cfg["text_config"]["eos_token_id"] = 10 ** 6
    json.dump(cfg, open(d / "config.json", "w"))
    return d


@pytest.fixture
def tui(request, tmp_path, llava):
    made = []

    def start(*args, width=80, height=24, env=None, model=None):
        # no built-in model: the models panel shows only what the tests put there
        t = Tui(["-m", str(model or llava), "--device", "cpu", *args], tmp_path, width, height, env, builtin=False)
        made.append(t)
        t.wait_for("loaded", what="the model")
        return t
    yield start
    for t in made:
        t.close()


def picture_rows(s):
    return [l for l in s.split("\n") if HALF in l]


def whole_picture(s):
    """The 64x48 test picture fully drawn (a capture can land mid-redraw,
    which a slow sanitizer build under load has shown: 3 rows of 12)."""
    return len(picture_rows(s)) == 12


def done_count(s):
    return len(re.findall(r"\d+ tokens, [\d.]+ tok/s", s))


def test_exchange_with_image_streams_the_same_answer_as_iris_run(tui, llava, tmp_path):
    t = tui("-n", "12", "--temp", "0")
    t.type(f"/image {llava}/pho")
    t.send("Tab")
    t.wait_for("photo.png", what="Tab completion")
    t.send("Enter")
    s = t.wait_for(whole_picture, what="the half-block picture, 12 rows")
    # a 64x48 picture in at most 80x12 cells keeps its 4:3 shape: 32 cells x 12 rows (24 px)
    assert all(l.strip() == HALF * 32 for l in picture_rows(s))
    coloured = t.screen(colours=True)
    assert re.search(r"\x1b\[38;5;\d+m", coloured) and re.search(r"\x1b\[48;5;\d+m", coloured)
    t.type("What is this?")
    t.send("Enter")
    s = t.wait_for(lambda s: done_count(s) == 1, what="the answer")
    assert "> What is this?" in s
    status = s.rstrip("\n").split("\n")[-1]
    assert "llava" in status and "cpu" in status and "tok/s" in status
    m = re.search(r"ctx (\d+)/(\d+)", status)
    assert m and 0 < int(m.group(1)) <= int(m.group(2))
    t.type(f"/save {tmp_path}/t.md")
    t.send("Enter")
    t.wait_for("saved to", what="/save")
    md = (tmp_path / "t.md").read_text()
    assert "What is this?" in md
    # the same conversation through line-mode `iris chat`: the same transcript
    ref = subprocess.run([iris_bin(), "chat", "-m", str(llava), "--device", "cpu", "-n", "12", "--temp", "0"],
                         input=f"/image {llava}/photo.png\nWhat is this?\n/save {tmp_path}/ref.md\n",
                         capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr
    assert (tmp_path / "ref.md").read_text() == md


def test_escape_stops_the_answer_not_the_program(tui, llava_endless):
    # a context far larger than the answer can fill in the time before Escape
    t = tui("-n", "100000", "--ctx", "100000", "--temp", "1", model=llava_endless)
    t.type("Tell me a long story")
    t.send("Enter")
    t.wait_for("answering", what="generation to start")
    time.sleep(0.5)
    t.send("Escape")
    s = t.wait_for("[stopped]", timeout=30, what="the stop")
    assert "answering" not in s.split("\n")[-2]
    t.alive()
    # Ctrl-C does the same
    t.type("again")
    t.send("Enter")
    t.wait_for("answering")
    t.send("C-c")
    t.wait_for(lambda s: s.count("[stopped]") == 2, timeout=30, what="the second stop")
    t.alive()


def test_multiline_input_history_and_commands(tui):
    t = tui("-n", "2")
    t.type("first line")
    t.send("M-Enter")
    t.type("second line")
    t.send("C-j")
    t.type("third")
    s = t.wait_for("third")
    lines = s.split("\n")
    i = [k for k, l in enumerate(lines) if "first line" in l][0]
    assert "second line" in lines[i + 1] and "third" in lines[i + 2]
    t.send("Enter")
    t.wait_for(lambda s: done_count(s) == 1)
    t.send("Up")
    t.wait_for(lambda s: s.count("second line") == 2, what="the entry back from history")
    t.send("C-u", "C-u", "C-u")
    t.send("Down")
    t.type("/set temp=0.5 top_p=0.9 n=3")
    t.send("Enter")
    t.wait_for("temp=0.5 top_p=0.9")
    t.type("/set bogus=1")
    t.send("Enter")
    t.wait_for("cannot use 'bogus=1'")
    t.type("/system You are terse.")
    t.send("Enter")
    t.wait_for("system prompt set")
    t.type("/nope")
    t.send("Enter")
    t.wait_for("unknown command /nope")
    t.type("/clear")
    t.send("Enter")
    t.wait_for(lambda s: "first line" not in s, what="/clear")
    t.alive()


def test_bad_inputs_do_not_break_the_ui(tui, tmp_path):
    t = tui("-n", "2")
    t.type(f"/image {tmp_path}")          # a directory
    t.send("Enter")
    t.wait_for("is a directory", what="the directory refused")
    t.type(f"/image {tmp_path}/missing.png")
    t.send("Enter")
    t.wait_for("missing.png:")
    t.type(f"/model {tmp_path}/no-model")  # no such model
    t.send("Enter")
    t.wait_for("not in the Hub cache", what="the name error")
    broken = tmp_path / "broken-model"      # a model that fails to load: the loaded one stays
    broken.mkdir()
    (broken / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "hidden_size": ')
    t.type(f"/model {broken}")
    t.send("Enter")
    t.wait_for(lambda s: s.count("broken-model") >= 2 and "loading" in s, what="the load error")
    t.wait_for(lambda s: "working" not in s.split("\n")[-2], what="the worker to finish")
    t.send_hex(b"\xff\xfe\xc3\x28 ok \xe2\x82")   # invalid UTF-8 typed
    t.send_hex(b"\xa9")
    time.sleep(0.3)
    t.paste(b"pasted \xff\xfe bytes")             # and pasted
    time.sleep(0.3)
    t.send("C-u")
    t.type("hi")
    t.send("Enter")
    t.wait_for(lambda s: done_count(s) == 1, what="an answer from the model still loaded")
    t.alive()


def test_paste_of_100_kb(tui):
    t = tui("-n", "2")
    text = ("lorem ipsum dolor sit amet " * 4000)[:100_000] + "\nline two of the paste"
    t.paste(text)
    s = t.wait_for("line two of the paste", timeout=60, what="the pasted text")
    assert done_count(s) == 0       # Enter inside a paste is a newline, not a send
    t.send("Enter")                 # far longer than the context: an error, not a crash
    t.wait_for(lambda s: "error" in s.lower() or done_count(s) == 1, timeout=60)
    t.alive()


def test_resize_storm_during_generation(tui, llava_endless):
    # an answer that runs until Escape, in a context it cannot fill first
    t = tui("-n", "100000", "--ctx", "100000", "--temp", "1", model=llava_endless)
    t.type("/image " + str(t.tmp.parent))    # any error line is fine; then a long answer
    t.send("Enter")
    t.type("go")
    t.send("Enter")
    t.wait_for("answering")
    for i in range(40):
        w, h = [(80, 24), (40, 12), (120, 40), (52, 15), (200, 60)][i % 5]
        t.resize(w, h)
        time.sleep(0.03)
    t.resize(80, 24)
    time.sleep(0.5)
    lines = t.lines()
    assert "Chat" in lines[0] and "F5" in lines[0]
    assert "tok/s" in lines[23]
    t.send("Escape")
    t.wait_for(lambda s: "answering" not in s, timeout=30)
    t.alive()


def test_a_40x12_terminal(tui, llava):
    t = tui("-n", "4", "--temp", "0", width=40, height=12)
    lines = t.lines()
    assert len(lines[0].rstrip()) <= 40 and "Chat" in lines[0]
    t.type(f"/image {llava}/photo.png")
    t.send("Enter")
    t.wait_for(HALF)
    t.type("hello")
    t.send("Enter")
    s = t.wait_for(lambda s: done_count(s) == 1)
    assert "> hello" in s
    t.send("?")
    t.wait_for("keys (any key closes)")
    t.send("Down", "Down")                  # the list scrolls on a small screen
    t.wait_for(" 3/")
    t.send("x")
    t.wait_for(lambda s: "keys (any key closes)" not in s)
    for key in ("F2", "F3", "F4", "F5", "F1"):
        t.send(key)
        time.sleep(0.2)
    # Alt-1..5 switch panels too
    t.send("M-5")
    t.wait_for("no local models")
    t.send("M-4")
    t.wait_for("no runs in")
    t.send("M-1")
    t.wait_for("> hello")
    t.alive()


def test_quit_keys_and_no_terminal(tui, tmp_path):
    t = tui()
    t.send("C-q")
    for _ in range(50):
        if t.exited():
            break
        time.sleep(0.1)
    assert t.exited() and t.exit_file.read_text().strip() == "0"
    p = subprocess.run([iris_bin(), "--graphics", "blocks"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "terminal" in p.stderr
    p = subprocess.run([iris_bin(), "--graphics", "bogus"], capture_output=True, text=True)
    assert p.returncode == 2


def half_block_cells(coloured):
    """(fg, bg) of every U+2580 cell in capture-pane -e output, row by row."""
    rows, fg, bg = [], None, None
    for line in coloured.split("\n"):
        cells, i = [], 0
        while i < len(line):
            m = re.match(r"\x1b\[([0-9;:]*)m", line[i:])
            if m:
                ps = [int(p) if p else 0 for p in m.group(1).split(";")]
                k = 0
                while k < len(ps):
                    if ps[k] == 0:
                        fg = bg = None
                    elif ps[k] in (38, 48) and k + 4 < len(ps) and ps[k + 1] == 2:
                        c = tuple(ps[k + 2:k + 5])
                        fg, bg = (c, bg) if ps[k] == 38 else (fg, c)
                        k += 4
                    elif ps[k] in (38, 48) and k + 2 < len(ps) and ps[k + 1] == 5:
                        k += 2
                    k += 1
                i += m.end()
                continue
            if line[i] == HALF:
                cells.append((fg, bg))
            i += 1
        if cells:
            rows.append(cells)
    return rows


def test_true_colour_half_blocks_are_the_scaled_picture(tui, llava):
    """On a direct-colour terminal each cell carries two 24-bit pixels: the
    picture scaled by area averages (here exactly 2x2 blocks of it)."""
    if subprocess.run(["infocmp", "xterm-direct"], capture_output=True).returncode != 0:
        pytest.skip("no xterm-direct terminfo (Debian package ncurses-term)")
    t = tui(env={"TERM": "xterm-direct"})
    t.type(f"/image {llava}/photo.png")
    t.send("Enter")
    t.wait_for(whole_picture, what="the half-block picture, 12 rows")
    got = half_block_cells(t.screen(colours=True))
    px = np.asarray(Image.open(llava / "photo.png").convert("RGB")).astype(int)   # 64x48
    want = (px.reshape(24, 2, 32, 2, 3).sum(axis=(1, 3)) + 2) // 4                # 32x24
    assert len(got) == 12 and all(len(r) == 32 for r in got)
    for r in range(12):
        for c in range(32):
            assert got[r][c] == (tuple(want[2 * r, c]), tuple(want[2 * r + 1, c])), (r, c)


def test_keys_typed_while_the_terminal_is_probed_are_kept(tmp_path, llava):
    from tui_harness import Tui
    t = Tui(["-m", str(llava), "--device", "cpu"], tmp_path)
    try:
        t.type("early bird")      # before the UI is up: the DA1 probe reads these
        t.wait_for("loaded")
        t.wait_for("> early bird")
    finally:
        t.close()

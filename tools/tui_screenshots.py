"""Makes docs/screenshots/*.png: drives the real iris binary in tmux through
each panel (tiny random models, a synthetic training run, the local test Hub),
captures the screen with its colours (capture-pane -e) and draws it as a PNG
(half-blocks and braille dots drawn as pixels, text with DejaVu Sans Mono).

    IRIS_VENV=/work/venv /work/venv/bin/python tools/tui_screenshots.py [OUTDIR]
"""
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
os.chdir(ROOT)

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

CW, CH = 9, 18
FG, BG = (214, 214, 214), (26, 27, 30)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
BASIC = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188),
         (17, 168, 205), (229, 229, 229), (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
         (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255)]


def xterm256(n):
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        lv = [0, 95, 135, 175, 215, 255]
        return (lv[n // 36], lv[(n // 6) % 6], lv[n % 6])
    g = 8 + 10 * (n - 232)
    return (g, g, g)


SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def parse(text):
    """capture-pane -e output -> rows of (char, fg, bg, bold, dim)."""
    rows = []
    fg = bg = None
    bold = dim = rev = False
    for line in text.split("\n"):
        cells = []
        i = 0
        while i < len(line):
            m = SGR.match(line, i)
            if m:
                ps = [int(p) if p else 0 for p in re.split("[;:]", m.group(1))] or [0]
                k = 0
                while k < len(ps):
                    p = ps[k]
                    if p == 0:
                        fg = bg = None
                        bold = dim = rev = False
                    elif p == 1:
                        bold = True
                    elif p == 2:
                        dim = True
                    elif p == 7:
                        rev = True
                    elif p == 22:
                        bold = dim = False
                    elif p == 27:
                        rev = False
                    elif 30 <= p <= 37:
                        fg = BASIC[p - 30]
                    elif 90 <= p <= 97:
                        fg = BASIC[p - 90 + 8]
                    elif 40 <= p <= 47:
                        bg = BASIC[p - 40]
                    elif 100 <= p <= 107:
                        bg = BASIC[p - 100 + 8]
                    elif p == 39:
                        fg = None
                    elif p == 49:
                        bg = None
                    elif p in (38, 48) and k + 2 < len(ps) and ps[k + 1] == 5:
                        c = xterm256(ps[k + 2])
                        fg, bg = (c, bg) if p == 38 else (fg, c)
                        k += 2
                    elif p in (38, 48) and k + 4 < len(ps) and ps[k + 1] == 2:
                        c = tuple(ps[k + 2:k + 5])
                        fg, bg = (c, bg) if p == 38 else (fg, c)
                        k += 4
                    k += 1
                i = m.end()
                continue
            ch = line[i]
            f, b = fg or FG, bg or BG
            if rev:
                f, b = b, f
            if dim:
                f = tuple((x + y) // 2 for x, y in zip(f, b))
            cells.append((ch, f, b, bold))
            if unicodedata.east_asian_width(ch) in "WF":
                cells.append(("", f, b, bold))
            i += 1
        rows.append(cells)
    return rows


def render(text, cols, rows, path):
    img = Image.new("RGB", (cols * CW, rows * CH), BG)
    d = ImageDraw.Draw(img)
    font, bold = ImageFont.truetype(FONT, 14), ImageFont.truetype(BOLD, 14)
    for y, cells in enumerate(parse(text)[:rows]):
        for x, (ch, f, b, bd) in enumerate(cells[:cols]):
            x0, y0 = x * CW, y * CH
            d.rectangle([x0, y0, x0 + CW - 1, y0 + CH - 1], fill=b)
            if not ch or ch == " ":
                continue
            o = ord(ch)
            if o == 0x2580:     # upper half block: two pixels per cell
                d.rectangle([x0, y0, x0 + CW - 1, y0 + CH // 2 - 1], fill=f)
            elif 0x2800 < o <= 0x28FF:   # braille: 2x4 dots
                bits = o - 0x2800
                pos = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]
                for k, (dx, dy) in enumerate(pos):
                    if bits >> k & 1:
                        cx, cy = x0 + 2 + dx * 4, y0 + 2 + dy * 4
                        d.ellipse([cx, cy, cx + 2, cy + 2], fill=f)
            elif 0x2580 < o <= 0x2590 or o == 0x2588:
                frac = {0x2588: 8, 0x2589: 7, 0x258A: 6, 0x258B: 5, 0x258C: 4, 0x258D: 3, 0x258E: 2, 0x258F: 1}
                w = frac.get(o, 8) * CW // 8
                d.rectangle([x0, y0 + 2, x0 + w - 1, y0 + CH - 3], fill=f)
            else:
                d.text((x0, y0 + 1), ch, font=bold if bd else font, fill=f)
    img.save(path)


class Session:
    def __init__(self, args, cols, rows, env):
        self.sock = f"iris-shots-{os.getpid()}"
        self.cols, self.rows = cols, rows
        e = " ".join(f"{k}='{v}'" for k, v in env.items())
        self.tmux("new-session", "-d", "-s", "s", "-x", str(cols), "-y", str(rows),
                  f"env LANG=C.UTF-8 TERM=xterm-256color {e} {ROOT}/bin/iris {' '.join(args)}; sleep 30")
        self.tmux("set-option", "-g", "status", "off")

    def tmux(self, *a):
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *a], capture_output=True, text=True)

    def keys(self, *k, literal=False, pause=0.3):
        self.tmux("send-keys", "-t", "s", *(["-l", "--"] if literal else []), *k)
        time.sleep(pause)

    def wait(self, text, timeout=60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if text in self.tmux("capture-pane", "-p", "-t", "s").stdout:
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {text!r}")

    def shot(self, path):
        out = self.tmux("capture-pane", "-e", "-N", "-p", "-t", "s").stdout
        render(out, self.cols, self.rows, path)
        print("wrote", path)

    def close(self):
        self.tmux("kill-server")


def synthetic_runs(runs):
    for name, rate, lr in (("lora-r8-cosine", 1.0, 2e-4), ("lora-r16-linear", 0.7, 1e-4)):
        d = runs / name
        d.mkdir(parents=True, exist_ok=True)
        rnd = random.Random(name)
        with open(d / "metrics.jsonl", "w") as f:
            for s in range(1, 401):
                loss = 2.2 * math.exp(-s * rate / 90) + 0.35 + rnd.gauss(0, 0.08)
                f.write(json.dumps(dict(step=s, epoch=s / 200, loss=loss, lr=lr * min(1, s / 20),
                                        grad_norm=0.5 + rnd.random(), tokens_per_s=1800 + rnd.random() * 200,
                                        mem_bytes=5.1e9 + s * 1e6, wall_s=s * 0.8)) + "\n")
        (d / "config.ini").write_text(f"[train]\nmode = lora\nmax_steps = 600\nlr = {lr}\n")


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    from llava_fixtures import build_llava
    from PIL import Image as PImage
    tmp = Path(tempfile.mkdtemp(prefix="iris-shots-"))
    a, b = tmp / "tiny-llava-a", tmp / "tiny-llava-b"
    a.mkdir()
    b.mkdir()
    build_llava(a, seed=1)
    build_llava(b, seed=2)
    # a picture with shapes, so the half-blocks show something recognisable
    pic = PImage.new("RGB", (96, 72), (135, 190, 235))
    dr = ImageDraw.Draw(pic)
    dr.rectangle([0, 50, 95, 71], fill=(70, 150, 60))
    dr.ellipse([62, 6, 86, 30], fill=(250, 210, 60))
    dr.polygon([(10, 52), (34, 20), (58, 52)], fill=(180, 70, 50))
    pic.save(tmp / "picture.png")
    runs = tmp / "runs"
    synthetic_runs(runs)
    env = {"IRIS_RUNS": str(runs), "HOME": str(tmp), "HF_HOME": str(tmp / "hf")}

    s = Session(["-m", str(a), "--device", "cpu", "-n", "24", "--temp", "0.8"], 100, 32, env)
    try:
        s.wait("loaded")
        s.keys(f"/image {tmp}/picture.png", literal=True)
        s.keys("Enter", pause=1)
        s.keys("What is in this picture?", literal=True)
        s.keys("Enter", pause=3)
        s.shot(out / "chat.png")
        s.keys("?", pause=0.5)
        s.shot(out / "help.png")
        s.keys("x")
        s.keys("F4", pause=0.8)
        s.keys("Down", "Space", pause=1)
        s.shot(out / "plots.png")
        s.keys("l", "x", pause=0.8)
        s.shot(out / "plots-log-walltime.png")
        s.keys("F3", pause=1.5)
        s.shot(out / "train.png")
        s.keys("n", pause=0.5)
        s.shot(out / "train-form.png")
        s.keys("Escape")
    finally:
        s.close()

    s = Session(["-m", str(a), "--compare", str(b), "--device", "cpu", "-n", "16", "--temp", "0",
                 "--panel", "compare"], 100, 32, env)
    try:
        s.wait("loaded")
        time.sleep(1)
        s.keys(f"/image {tmp}/picture.png", literal=True)
        s.keys("Enter")
        s.keys("What is in this picture?", literal=True)
        s.keys("C-j")
        s.keys("What colour is the sky?", literal=True)
        s.keys("Enter", pause=4)
        s.shot(out / "compare.png")
    finally:
        s.close()

    from hub_server import Hub
    hub = Hub(lifetime=120).start()
    files = {p.name: p.read_bytes() for p in a.iterdir() if p.is_file()}
    hub.add_commit("demo-org/tiny-llava", files)
    hub.throttle = max(len(files["model.safetensors"]) // 8, 20000)
    env2 = dict(env, HF_ENDPOINT=hub.endpoint)
    s = Session(["--panel", "models"], 100, 32, env2)
    try:
        time.sleep(1)
        s.keys("p")
        s.keys("demo-org/tiny-llava", literal=True)
        s.keys("Enter", pause=3)
        s.shot(out / "models-pull.png")
        s.wait("pulled", timeout=60)
        s.keys("i", pause=0.5)
        s.shot(out / "models.png")
    finally:
        s.close()
        hub.stop()

    s = Session(["-m", str(a), "--device", "cpu", "-n", "12"], 40, 12, env)
    try:
        s.wait("loaded")
        s.keys(f"/image {tmp}/picture.png", literal=True)
        s.keys("Enter", pause=1)
        s.keys("hello", literal=True)
        s.keys("Enter", pause=2)
        s.shot(out / "chat-40x12.png")
    finally:
        s.close()


if __name__ == "__main__":
    main()

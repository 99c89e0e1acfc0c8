"""The Plots panel follows metrics.jsonl files that the test writes while the
UI runs: the curve and legend advance, partial lines wait for their end, a
deleted run stays on the plot marked gone, keys switch series, axes and
smoothing.  The legend's smoothed value is checked against an EMA with
start-up bias correction computed here."""
import json
import math
import random
import re
import shutil
import time

from tui_harness import Tui

BRAILLE = re.compile("[\u2801-\u28ff]")


def write_steps(path, start, stop, seed=0, partial_tail=False):
    rnd = random.Random(seed * 1000 + start)
    with open(path, "a") as f:
        for s in range(start, stop):
            rec = dict(step=s, epoch=s / 100, loss=2.5 * math.exp(-s / 60) + 0.2 + rnd.random() * 0.1,
                       lr=1e-4 * min(1, s / 20), grad_norm=1 + rnd.random(), tokens_per_s=900 + s,
                       mem_bytes=1.5e9 + s * 1e6, wall_s=s * 0.25)
            f.write(json.dumps(rec) + "\n")
        if partial_tail:
            f.write('{"step": %d, "loss": 0.1' % stop)   # no newline yet


def losses(path):
    out = []
    for line in open(path):
        try:
            out.append(json.loads(line)["loss"])
        except (ValueError, KeyError):
            pass
    return out


def ema(xs, s):
    v, d, out = 0.0, 1.0, []
    for x in xs:
        v = s * v + (1 - s) * x
        d *= s
        out.append(v / (1 - d))
    return out


def dots(screen):
    return sum(bin(ord(c) - 0x2800).count("1") for c in screen if 0x2800 < ord(c) <= 0x28ff)


def legend_step(screen, name):
    m = re.search(re.escape(name) + r" [-\d.e+kM]+ @(\d+)", screen)
    return int(m.group(1)) if m else None


def test_live_plot_follows_growing_runs(tmp_path):
    runs = tmp_path / "runs"
    (runs / "alpha").mkdir(parents=True)
    (runs / "beta").mkdir(parents=True)
    a, b = runs / "alpha" / "metrics.jsonl", runs / "beta" / "metrics.jsonl"
    write_steps(a, 1, 21, seed=1, partial_tail=True)
    t = Tui(["--panel", "plots"], tmp_path, 100, 30)
    try:
        s = t.wait_for(lambda s: legend_step(s, "alpha") == 20, what="the first 20 steps")
        assert "loss" in s.split("\n")[1] and "EMA 0.60" in s
        d0 = dots(s)
        assert d0 > 20
        # the plot advances as the run writes (the partial line completes)
        with open(a, "a") as f:
            f.write("}\n")
        write_steps(a, 22, 120, seed=2)
        s = t.wait_for(lambda s: legend_step(s, "alpha") == 119, timeout=10, what="the plot to advance")
        xlabels = [int(v) for v in re.findall(r"\b(\d+)\b", s.rstrip("\n").split("\n")[-3])]
        assert max(xlabels) >= 100 and dots(s) > 20     # the x axis grew with the run
        # the legend's value is the bias-corrected EMA (0.6) of the losses read
        val = float(re.search(r"alpha ([\d.]+) @119", s).group(1))
        assert abs(val - ema(losses(a), 0.6)[-1]) < 1e-3 * max(1, val)
        # a second run appears by itself; show it
        write_steps(b, 1, 60, seed=3)
        t.wait_for("beta", timeout=10, what="the new run in the list")
        t.send("Down", "Space")
        s = t.wait_for(lambda s: legend_step(s, "beta") == 59, timeout=10)
        assert legend_step(s, "alpha") == 119
        # keys: series, log y, x by wall time, smoothing, raw line
        t.type("2")
        t.wait_for(" lr ")
        t.type("l")
        t.wait_for("log y")
        t.type("x")
        s = t.wait_for("x: wall time")
        assert re.search(r"\d+s", s.rstrip("\n").split("\n")[-3])        # time labels on the x axis
        t.type("1")
        t.type("+")
        s = t.wait_for("EMA 0.80")
        t.type("-----")
        t.wait_for("EMA 0.00")
        t.type("r")
        t.wait_for(lambda s: "+ raw" not in s)
        # the run folder deleted while plotted: its curve stays, marked gone
        shutil.rmtree(runs / "beta")
        s = t.wait_for("(gone)", timeout=10)
        assert legend_step(s, "beta") == 59
        # a truncated file (restarted run) is read again from the start
        a.write_text("")
        write_steps(a, 1, 11, seed=4)
        t.wait_for(lambda s: legend_step(s, "alpha") == 10, timeout=10, what="the restarted run")
        for w, h in ((40, 12), (60, 20), (100, 30)):
            t.resize(w, h)
            time.sleep(0.3)
            assert "Plot" in t.lines()[0]
        t.alive()
    finally:
        t.close()


def test_plot_option_and_empty_states(tmp_path):
    run = tmp_path / "elsewhere" / "myrun"
    run.mkdir(parents=True)
    t = Tui(["--panel", "plots", "--plot", str(run)], tmp_path, 80, 24)
    try:
        t.wait_for("waiting for data", what="an empty run")
        write_steps(run / "metrics.jsonl", 1, 30, seed=5)
        t.wait_for(lambda s: legend_step(s, "myrun") == 29, timeout=10)
        t.resize(40, 12)
        t.wait_for(lambda s: len(BRAILLE.findall(s)) > 5)
        t.alive()
    finally:
        t.close()

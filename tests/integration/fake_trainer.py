"""A stand-in for `iris train` (IRIS_TRAIN_EXE) for the Train panel tests:
same arguments (train CONFIG --run-dir DIR [--resume]), reads [train]
max_steps from the INI, appends one metrics.jsonl line per step, saves its
step on SIGTERM and exits 0, continues from it with --resume."""
import configparser
import json
import math
import os
import signal
import sys
import time

args = sys.argv[1:]
assert args[0] == "train", args
ini, run_dir = args[1], args[args.index("--run-dir") + 1]
resume = "--resume" in args
cfg = configparser.ConfigParser(inline_comment_prefixes=(";",))
cfg.read(ini)
total = cfg.getint("train", "max_steps")
ckpt = os.path.join(run_dir, "checkpoint.json")
step = json.load(open(ckpt))["step"] if resume and os.path.exists(ckpt) else 0
with open(os.path.join(run_dir, "invocations.txt"), "a") as f:
    f.write(" ".join(args) + "\n")
stop = False


def on_term(sig, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
t0 = time.time()
with open(os.path.join(run_dir, "metrics.jsonl"), "a") as f:
    while step < total and not stop:
        step += 1
        time.sleep(0.15)
        rec = dict(step=step, epoch=step / total, loss=3 * math.exp(-step / 15) + 0.1, lr=2e-4,
                   grad_norm=1.0, tokens_per_s=500.0, mem_bytes=1e9, wall_s=time.time() - t0)
        f.write(json.dumps(rec) + "\n")
        f.flush()
json.dump({"step": step}, open(ckpt, "w"))
print("stopped" if stop else "finished", step)

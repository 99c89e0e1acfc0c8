#!/usr/bin/env bash
# OpenFlamingo LoRA fine-tuning on the CPU: the same random OpenFlamingo model
# (bench/make_random_flamingo_lora.py: MPT dim 1024 x 12 layers, vocab 50432,
# gated cross-attention before every 2nd layer, perceiver 6 x 512 wide, CLIP
# 512 x 4 layers at 224 px), the same data and the same settings, trained
# with LoRA r 16 on attention only (lora.targets = attn: the language
# model's self-attention and the blocks' to_q/to_kv/to_out) and on attention
# plus feed-forward (attn, ffn).  Reports training tokens/s and peak RSS of
# each, and their ratios.
set -eu
cd "$(dirname "$0")/.."
venv=${IRIS_VENV:-.venv}
[ -f "$venv/.ready" ] || [ -x "$venv/bin/python" ] || bash tests/setup-venv.sh "$venv"
work=${BENCH_DIR:-/tmp/iris-bench}
mkdir -p "$work"
threads=${BENCH_THREADS:-2}
seq=${BENCH_SEQ:-256}
steps=${BENCH_STEPS:-6}
m="$work/flamingo-mpt1024"
[ -f "$m/openflamingo.json" ] || "$venv/bin/python" bench/make_random_flamingo_lora.py -o "$m"
data="$work/flamingo-lora-data.json"
"$venv/bin/python" - "$work" "$data" "$seq" <<'PY'
import json, os, random, sys
import numpy as np
from PIL import Image
work, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng, recs = random.Random(0), []
words = "red blue green circle square triangle above below left right of the a small large shape".split()
for i in range(8):
    img = os.path.join(work, f"flamingo-lora-img{i}.png")
    if not os.path.exists(img):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(img)
    answer = " ".join(rng.choice(words) for _ in range(2 * n))   # truncated to max_length
    recs.append({"id": i, "image": img, "conversations": [
        {"from": "human", "value": "<image>\nDescribe the picture."}, {"from": "gpt", "value": answer}]})
json.dump(recs, open(path, "w"))
PY
run_one() {   # $1: name, $2: targets
  local run="$work/flamingo-lora-$1"
  rm -rf "$run"
  cat >"$work/flamingo-lora-$1.ini" <<INI
[model]
base = $m/openflamingo.json
[data]
data = $data
template = openflamingo
max_length = $seq
[train]
mode = lora
max_steps = $steps
batch_size = 1
grad_accum = 2
lr = 1e-4
schedule = constant
warmup_steps = 0
threads = $threads
[lora]
r = 16
alpha = 32
dropout = 0.05
targets = $2
[run]
save_steps = 0
INI
  bin/iris train "$work/flamingo-lora-$1.ini" --run-dir "$run" 2>&1 | sed -n 's/.*, \([0-9]* trainable parameters ([^)]*)\).*/\1/p' >"$run.count"
}
run_one attn "attn"
run_one attnffn "attn, ffn"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
load=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$work" "$seq" "$threads" "$cpu" "$(nproc)" "$load" <<'PY' | tools/perf-section.sh flamingo-lora-cpu
import json, re, statistics, sys
work, seq, threads, cpu, cores, load = sys.argv[1:7]
res = {}
for name in ("attn", "attnffn"):
    rows = [json.loads(l) for l in open(f"{work}/flamingo-lora-{name}/metrics.jsonl")]
    res[name] = (statistics.median(r["tokens_per_s"] for r in rows[1:]), max(r["mem_bytes"] for r in rows),
                 open(f"{work}/flamingo-lora-{name}.count").read().strip(), len(rows))
    m = re.match(r"(\d+) trainable parameters \(([\d.e+-]+)% of (\d+)\)", res[name][2])
    res[name] = res[name][:2] + (f"{int(m[1]):,} ({float(m[2]):.2f}% of {int(m[3]):,})" if m else "?",) + res[name][3:]
a, b = res["attn"], res["attnffn"]
print("## OpenFlamingo LoRA on the CPU: attention only vs attention + feed-forward")
print()
print(f"A random OpenFlamingo model (bench/make_random_flamingo_lora.py: MPT language model dim 1024, 12 layers, "
      f"vocab 50432; gated cross-attention blocks before every 2nd layer; perceiver 6 layers x 512; CLIP 512 x 4 "
      f"layers at 224 px; about 280M parameters in the language model, blocks and perceiver), LoRA r 16 "
      f"(alpha 32, dropout 0.05), one image and {seq} tokens per sequence, 2 sequences per optimizer step, "
      f"{threads} threads, on {cpu} ({cores} cores; load average before the runs {load}); `make bench` "
      f"(bench/bench-flamingo-lora-cpu.sh), median tokens/s of steps 2..{a[3]}, peak RSS of each run.")
print()
print("| lora.targets | trainable | tokens/s | peak RSS |")
print("|---|---|---|---|")
print(f"| attn (self_attn + xattn) | {a[2]} | {a[0]:.1f} | {a[1] / 2**20:.0f} MiB |")
print(f"| attn, ffn (+ ff + xattn_ff) | {b[2]} | {b[0]:.1f} | {b[1] / 2**20:.0f} MiB |")
print(f"| ratio (attn, ffn) / attn | | {b[0] / a[0]:.3f}x | {b[1] / a[1]:.3f}x |")
PY
sed -n '/BEGIN flamingo-lora-cpu/,/END flamingo-lora-cpu/p' docs/PERF.md

#!/usr/bin/env bash
# Training the vision tower on the CPU: a tiny LLaVA (CLIP tower 64 px, patch 8,
# hidden 128, 4 layers, 4 heads, ffn 512; LLaMA decoder dim 128, 4 layers, ffn
# 352; bench/make_random_llava.py), mode full, 8 image records of ~100 tokens
# per optimizer step, with train.vision_tower = true and, for comparison,
# false (the frozen tower's features computed per record without gradients).
# Reports training tokens/s and images/s of both.
set -eu
cd "$(dirname "$0")/.."
venv=${IRIS_VENV:-.venv}
[ -f "$venv/.ready" ] || [ -x "$venv/bin/python" ] || bash tests/setup-venv.sh "$venv"
work=${BENCH_DIR:-/tmp/iris-bench}
mkdir -p "$work"
threads=${BENCH_THREADS:-2}
steps=${BENCH_STEPS:-40}
m="$work/llava-tiny64-f32"
[ -f "$m/model.safetensors" ] ||
  "$venv/bin/python" bench/make_random_llava.py -o "$m" --dtype f32 --dim 128 --layers 4 --heads 4 --ffn 352 \
    --vocab 384 --image 64 --patch 8 --vdim 128 --vlayers 4 --vheads 4 --vffn 512 >/dev/null
imgs="$work/tower-images"
mkdir -p "$imgs"
"$venv/bin/python" - "$imgs" <<'PY'
import json, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(0)
recs = []
for i in range(16):
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(f"{d}/{i}.png")
    recs.append({"id": i, "image": f"{i}.png", "conversations": [
        {"from": "human", "value": "<image>\nWhat colour is the shape?"},
        {"from": "gpt", "value": f"It is a red circle, number {i}."}]})
json.dump(recs, open(f"{d}/data.json", "w"))
PY
for vt in true false; do
  cat >"$work/tower-$vt.ini" <<INI
[model]
base = $m
[data]
data = $imgs/data.json
image_folder = $imgs
template = plain
preprocess = crop
max_length = 256
[train]
mode = full
vision_tower = $vt
max_steps = $steps
batch_size = 8
lr = 1e-3
schedule = constant
warmup_steps = 0
threads = $threads
gradient_checkpointing = false
[run]
save_steps = 0
INI
  rm -rf "$work/tower-run-$vt"
  bin/iris train "$work/tower-$vt.ini" --run-dir "$work/tower-run-$vt" -q
done
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
python3 - "$work" "$threads" "$cpu" "$(nproc)" <<'PY' | tools/perf-section.sh train-tower-cpu
import json, statistics, sys
work, threads, cpu, cores = sys.argv[1:5]
print("## Training the vision tower on the CPU")
print()
print(f"A tiny LLaVA (CLIP tower 64 px, patch 8, hidden 128, 4 layers, features from layer -2; LLaMA "
      f"decoder dim 128, 4 layers), mode full, 8 image records (~100 tokens each, 64 of them image "
      f"tokens) per step, {threads} threads, on {cpu} ({cores} cores); `make bench` "
      f"(bench/bench-train-tower-cpu.sh), median over the steps after the first.")
print()
print("| vision_tower | tokens/s | images/s | peak RSS |")
print("|---|---|---|---|")
for vt in ("true", "false"):
    rows = [json.loads(l) for l in open(f"{work}/tower-run-{vt}/metrics.jsonl")]
    tps = statistics.median(r["tokens_per_s"] for r in rows[1:])
    dt = statistics.median(rows[i]["wall_s"] - rows[i - 1]["wall_s"] for i in range(2, len(rows)))
    mem = max(r["mem_bytes"] for r in rows)
    print(f"| {vt} | {tps:.0f} | {8 / dt:.1f} | {mem / 2**20:.0f} MiB |")
PY
sed -n '/BEGIN train-tower-cpu/,/END train-tower-cpu/p' "${PERF_MD:-docs/PERF.md}"

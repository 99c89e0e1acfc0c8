#!/usr/bin/env bash
# Fine-tuning benchmark: LoRA (r 16 on every linear layer) on the ~134M random
# LLaMA (bench/make_random_llama.py) on the CPU, 256-token sequences, gradient
# checkpointing on.  Reports training tokens/s, peak memory (RSS), and the
# fraction of OpenBLAS sgemm throughput the run's matrix products reach.
set -eu
cd "$(dirname "$0")/.."
venv=${IRIS_VENV:-.venv}
[ -f "$venv/.ready" ] || [ -x "$venv/bin/python" ] || bash tests/setup-venv.sh "$venv"
work=${BENCH_DIR:-/tmp/iris-bench}
mkdir -p "$work"
threads=${BENCH_THREADS:-2}
seq=${BENCH_SEQ:-256}
steps=${BENCH_STEPS:-6}
m="$work/llama134-f32"
[ -f "$m/model.safetensors" ] || "$venv/bin/python" bench/make_random_llama.py -o "$m" --dtype f32
data="$work/train-tokens-$seq.json"
python3 - "$data" "$seq" <<'PY'
import json, random, sys
path, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(0)
json.dump([{"id": i, "input_ids": [rng.randrange(3, 32000) for _ in range(n)]} for i in range(16)], open(path, "w"))
PY
run="$work/train-run"
rm -rf "$run"
cat >"$work/train.ini" <<INI
[model]
base = $m
[data]
data = $data
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
gradient_checkpointing = true
[lora]
r = 16
alpha = 32
dropout = 0.05
[run]
save_steps = 0
INI
bin/iris train "$work/train.ini" --run-dir "$run" -q
sgemm=$(bin/iris bench -m "$m" -p "$seq" -n 1 -r 1 --threads "$threads" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["sgemm_gflops"])')
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
python3 - "$run/metrics.jsonl" "$sgemm" "$seq" "$threads" "$cpu" "$(nproc)" <<'PY' | tools/perf-section.sh train-cpu
import json, statistics, sys
path, sgemm, seq, threads, cpu, cores = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
rows = [json.loads(l) for l in open(path)]
tps = statistics.median(r["tokens_per_s"] for r in rows[1:])   # the first step warms up
mem = max(r["mem_bytes"] for r in rows)
d, L, f, V, r = 768, 12, 2048, 32000, 16
layer = 4 * d * d + 3 * d * f                # weights multiplied per token per layer
lora = 2 * r * (4 * d + 3 * (d + f)) / 2     # A and B of the 7 adapters (rank r), roughly
# forward + recomputation (checkpointing) + input gradients; the frozen base
# needs no weight gradients; LoRA weights get theirs (x3 for fwd/recompute/bwd).
per_tok = 2 * L * layer * 3 + 2 * L * lora * 4 + 2 * V * d * 2
attn = 2 * L * d * seq * (1 + 1 + 2)          # QK^T and PV: forward, recompute, backward (full n x n)
gflops = tps * (per_tok + attn) / 1e9
print("## LoRA fine-tuning on the CPU")
print()
print(f"LoRA r 16 (alpha 32, dropout 0.05) on all seven linear layers of the random LLaMA ~134M "
      f"(dim 768, 12 layers, ffn 2048, vocab 32000, f32), {seq}-token sequences, 2 per optimizer step, "
      f"gradient checkpointing, {threads} threads, on {cpu} ({cores} cores); `make bench` "
      f"(bench/bench-train-cpu.sh), median of steps 2..{len(rows)}.")
print()
print("| tokens/s | peak RSS | matmul GFLOP/s | OpenBLAS sgemm GFLOP/s | fraction |")
print("|---|---|---|---|---|")
print(f"| {tps:.1f} | {mem / 2**20:.0f} MiB | {gflops:.1f} | {sgemm:.1f} | {100 * gflops / sgemm:.0f}% |")
print()
print("FLOPs counted: the linear layers' forward, recomputation and input-gradient products, the LoRA "
      "products, the output head (forward and input gradient) and attention's n x n products; "
      "sgemm throughput is measured by `iris bench` on the same machine right after.")
PY
cat docs/PERF.md | sed -n '/BEGIN train-cpu/,/END train-cpu/p'

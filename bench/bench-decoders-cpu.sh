#!/usr/bin/env bash
# OpenFlamingo language model on the CPU: a random MPT-1B-shaped checkpoint
# (d_model 2048, 24 layers, 16 heads, vocab 50432, ALiBi, tied embeddings; 1.3B
# parameters) in bf16: pp128 and tg64 tokens/s beside the copy-bandwidth
# roofline, from `iris bench`.  BENCH_MPT_ARGS overrides the shape (e.g.
# "--layers 2 --dim 256 --vocab 1000" to try the script quickly).
set -eu
cd "$(dirname "$0")/.."
venv=${IRIS_VENV:-.venv}
[ -f "$venv/.ready" ] || bash tests/setup-venv.sh "$venv"
work=${BENCH_DIR:-/tmp/iris-bench}
mkdir -p "$work"
threads=${BENCH_THREADS:-2}
args=${BENCH_MPT_ARGS:-}
m="$work/mpt1b-bf16${args:+-custom}"
# shellcheck disable=SC2086
[ -f "$m/model.safetensors" ] || "$venv/bin/python" bench/make_random_mpt.py -o "$m" --dtype bf16 $args
json=$(bin/iris bench -m "$m" -p 128 -n 64 -r 3 --threads "$threads" --json)
echo "$json"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
{
  echo "## MPT-1B-shaped decoder on the CPU (OpenFlamingo language model)"
  echo
  echo "Random MptForCausalLM checkpoint${args:+ ($args)}, bf16 weights; \`iris bench -p 128 -n 64 -r 3 --threads $threads\`,"
  echo "mean of 3 runs after a warm-up, on $cpu ($(nproc) cores)."
  echo
  echo "| weights | pp128 tok/s | tg64 tok/s | tg roofline tok/s (copy) | tg / roofline | pp GFLOP/s |"
  echo "|---|---|---|---|---|---|"
  python3 - "$json" <<'PY'
import json, sys
j = json.loads(sys.argv[1])
print(f"| bf16 | {j['pp_tokens_per_s']:.1f} | {j['tg_tokens_per_s']:.1f} | {j['tg_roofline_tokens_per_s']:.1f} | "
      f"{100*j['tg_fraction_of_roofline']:.0f}% | {j['pp_gflops']:.1f} |")
PY
  echo
} | tools/perf-section.sh decoders-cpu

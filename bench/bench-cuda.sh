#!/usr/bin/env bash
# CUDA kernels: times the CUDA backend's main ops (bench/cuda_bench.c) and
# rewrites the "CUDA kernels" section of docs/PERF.md.  Without a usable GPU
# (or without the plugin) it says so and leaves PERF.md alone.
set -eu
cd "$(dirname "$0")/.."
make -s -j2 build/libiris.a
if [ ! -e bin/libiris-cuda.so ]; then
  echo "bench-cuda: skipped: bin/libiris-cuda.so not built (no nvcc)"
  exit 0
fi
mkdir -p build/bench
${CC:-gcc} -std=gnu17 -O2 -fopenmp -D_GNU_SOURCE -I. -Imodel \
  -o build/bench/cuda_bench bench/cuda_bench.c build/libiris.a -lopenblas -lcjson -lcurl -ldl -lpthread -lm
table=$(IRIS_CUDA_PLUGIN=bin/libiris-cuda.so ./build/bench/cuda_bench)
case $table in
  skipped:*) echo "bench-cuda: $table"; exit 0 ;;
esac

out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
  echo "## CUDA kernels"
  echo
  echo "Measured by \`bench/bench-cuda.sh\` on $(date -u +%Y-%m-%d).  Best of 5 timed batches"
  echo "per op, stream drained around each batch.  Decode rates count the bytes that"
  echo "must be read (bf16 weight, f32 KV cache); prefill rates count 2 flops per"
  echo "multiply-add (causal attention: the full square, as usually quoted)."
  echo
  printf '%s\n' "$table"
} >"$out"
cat "$out"
perf=docs/PERF.md
[ -e "$perf" ] || printf '# Performance\n\n' >"$perf"
awk -v sec="$out" '
  BEGIN { while ((getline l < sec) > 0) body = body l "\n" }
  /^## / { if (skip) skip = 0; if ($0 == "## CUDA kernels") { printf "%s", body; skip = 1; done = 1; next } }
  !skip { print }
  END { if (!done) printf "\n%s", body }
' "$perf" >"$perf.new" && mv "$perf.new" "$perf"
echo "bench-cuda: wrote the CUDA kernels section of $perf"

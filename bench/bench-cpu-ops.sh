#!/usr/bin/env bash
# CPU kernels: `linear` GEMV (decode) against the copy bandwidth, and `linear`
# at n = 128 (prefill) against plain OpenBLAS sgemm, at the 134M-LLaMA shapes,
# with 1 thread and with all cores.  Rewrites the "CPU kernels" section of
# docs/PERF.md (other sections are left alone).
set -eu
cd "$(dirname "$0")/.."
make -s -j2 build/libiris.a
mkdir -p build/bench
${CC:-gcc} -std=c17 -O2 -march=x86-64-v3 -fopenmp -D_GNU_SOURCE -I. -Imodel \
  -o build/bench/cpu_ops_bench bench/cpu_ops_bench.c build/libiris.a -lopenblas -lm

out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
  echo "## CPU kernels"
  echo
  echo "Measured by \`bench/bench-cpu-ops.sh\` on $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p'),"
  echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start (figures are best-of-many"
  echo "short timings, so a busy machine lowers them less than it lowers averages)."
  echo
  cat <<'TXT'
How to read the tables: *decode* is `linear` at n = 1, the weight streamed
from memory (calls cycle through 320 MB of weight copies), as weight bytes
per second and as shares of the copy bandwidth (bytes copied per second,
`iris_probe_copy_bandwidth`) and of the streaming read bandwidth
(`iris_probe_read_bandwidth`, the true ceiling of a kernel that only
reads; a copy moves each byte twice, so reading alone outruns it).  The
*kernel ceiling* is the
same call on a weight that stays in L2: when it is well above the decode
figures the kernel waits on memory, not on arithmetic.  *Prefill* is
`linear` at n = 128 in GFLOP/s against OpenBLAS sgemm on the same shape
(`iris_probe_sgemm_gflops`, OpenBLAS with its own threads); `linear` runs
single-threaded sgemm on ~1 MiB blocks of W spread over OpenMP threads,
f16/bf16/Q8_0 blocks converted to f32 first.  Targets: decode >= 90 % of copy
bandwidth, prefill >= 60 % of sgemm.
TXT
  echo
  for t in 1 "$(nproc)"; do
    echo "### $t thread(s)"
    echo
    ./build/bench/cpu_ops_bench "$t"
    echo
  done
} >"$out"
cat "$out"

# Replace the section (from its heading to the next "## " heading) or append it.
perf=docs/PERF.md
[ -e "$perf" ] || printf '# Performance\n\n' >"$perf"
awk -v sec="$out" '
  BEGIN { while ((getline l < sec) > 0) body = body l "\n" }
  /^## / { if (skip) skip = 0; if ($0 == "## CPU kernels") { printf "%s", body; skip = 1; done = 1; next } }
  !skip { print }
  END { if (!done) printf "\n%s", body }
' "$perf" >"$perf.new" && mv "$perf.new" "$perf"
echo "bench-cpu-ops: wrote the CPU kernels section of $perf"

#!/usr/bin/env bash
# make bench: runs every bench/bench-*.sh in order; each appends its figures to
# docs/PERF.md's sections through tools/perf-section.sh.
set -eu
cd "$(dirname "$0")/.."
for b in bench/bench-*.sh; do
  [ -e "$b" ] || continue
  echo "=== $b"
  bash "$b"
done

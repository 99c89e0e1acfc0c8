#!/usr/bin/env bash
# Runs every cmocka test binary given, shows each one's closing summary, and
# exits non-zero when any failed.  Binaries skip GPU/shared-data cases themselves.
set -u
fail=0; passed=0; failed=0; skipped=0
for t in "$@"; do
  echo "=== $(basename "$t")"
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED|SKIPPED|  ERROR)|^\[==========\]|tests? (passed|failed)|skipped:|SKIP' | tail -n 12
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
  if [ $rc -ne 0 ]; then
    fail=1
    echo "--- $(basename "$t") exited $rc; its full output:"
    printf '%s\n' "$out" | tail -n 60
  fi
done
echo "unit: $passed passed, $failed failed, $skipped skipped"
exit $fail

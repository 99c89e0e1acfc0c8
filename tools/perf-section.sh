#!/usr/bin/env bash
# Replaces (or appends) one named section of docs/PERF.md with standard input,
# so each benchmark owns its section and reruns do not duplicate it.
#   tools/perf-section.sh NAME < body.md
set -eu
name=$1
file=${PERF_MD:-docs/PERF.md}
mkdir -p "$(dirname "$file")"
[ -f "$file" ] || printf '# iris performance figures\n\nWritten by `make bench`; each section is rewritten by the benchmark that owns it.\n' >"$file"
body=$(cat)
python3 - "$file" "$name" "$body" <<'PY'
import sys
path, name, body = sys.argv[1:4]
text = open(path).read()
begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
block = f"{begin}\n{body.rstrip()}\n{end}"
if begin in text and end in text:
    a = text.index(begin)
    b = text.index(end) + len(end)
    text = text[:a] + block + text[b:]
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(path, "w").write(text)
PY

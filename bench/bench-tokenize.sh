#!/usr/bin/env bash
# Tokenizer benchmark: encode throughput of `iris tokenize` on ~1.2 MB of
# mixed text (words, unicode, emoji, digits, newlines) and on one 200 000
# character word, for the shared llama.cpp vocabularies (SentencePiece and
# byte-level).  CPU time of the child, so a busy machine does not skew it;
# load time (an empty text) is measured and subtracted.
set -eu
cd "$(dirname "$0")/.."
vocab=${IRIS_SHARED:-../shared}/testdata/tokenizers
if [ ! -d "$vocab" ]; then
  echo "bench-tokenize: $vocab absent; skipped"
  exit 0
fi
work=${BENCH_DIR:-/tmp/iris-bench}
mkdir -p "$work"
python3 - "$work" <<'PY'
import random, sys
r = random.Random(1)
w = ["hello", "world", "naïve", "Привет", "日本語", "🦙", "12345", "def", "return", "x**2", "\n", "  "]
open(f"{sys.argv[1]}/mixed.txt", "w").write(" ".join(r.choice(w) for _ in range(200000)))
open(f"{sys.argv[1]}/longword.txt", "w").write("".join(r.choice("abcdefghij") for _ in range(200000)))
PY
body=$(python3 - "$work" "$vocab" <<'PY'
import os, resource, subprocess, sys
work, vocab = sys.argv[1:3]
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def best(args, data, n=3):
    # CPU seconds (user + system) of the child: stable on a shared machine
    t = []
    for _ in range(n):
        t0 = cpu()
        subprocess.run(args, input=data, stdout=subprocess.DEVNULL, check=True)
        t.append(cpu() - t0)
    return min(t)
print("## Tokenizer encode throughput")
print()
print("`iris tokenize --ids --no-bos -` on the shared llama.cpp vocabularies (one thread); CPU time,")
print("best of 3, load time (empty text) subtracted; ids are written to /dev/null.")
print()
print("| vocab | load ms | mixed text MB/s | 200k-char word MB/s |")
print("|---|---|---|---|")
for v in ["llama-spm", "gpt-2", "falcon"]:
    args = ["bin/iris", "tokenize", "-m", f"{vocab}/ggml-vocab-{v}.gguf", "--ids", "--no-bos", "-"]
    load = best(args, b"")
    row = [v, f"{1000 * load:.0f}"]
    for f in ["mixed.txt", "longword.txt"]:
        data = open(f"{work}/{f}", "rb").read()
        t = best(args, data) - load
        row.append(f"{len(data) / 1e6 / max(t, 1e-6):.2f}")
    print("| " + " | ".join(row) + " |")
PY
)
echo "$body"
if [ -x tools/perf-section.sh ] || [ -f tools/perf-section.sh ]; then
  printf '%s\n' "$body" | bash tools/perf-section.sh tokenize
fi

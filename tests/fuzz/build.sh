#!/usr/bin/env bash
# Builds the libFuzzer targets for the model-file parsers and runs each for
# FUZZ_SECONDS (default 60) from a seed corpus generated here.  Findings
# (crash-*, leak-*, timeout-*) land in tests/fuzz/out/<target>/.
#   FUZZ_SECONDS=300 bash tests/fuzz/build.sh        # longer runs
#   FUZZ_TARGETS="gguf" bash tests/fuzz/build.sh     # one target
set -euo pipefail
cd "$(dirname "$0")/../.."
CLANG=${CLANG:-clang}
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"gguf safetensors tokenizer image torch_pickle"}
OUT=tests/fuzz/out
command -v "$CLANG" >/dev/null || { echo "fuzz: clang not found; skipped"; exit 0; }
mkdir -p "$OUT"

FLAGS="-std=c17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -D_GNU_SOURCE -I. -Imodel -I/usr/include/stb"
CORE="model/core/error.c model/core/tensor.c model/formats/name_index.c model/formats/file_map.c"
declare -A SRC=(
  [gguf]="model/formats/gguf.c model/formats/gguf_kv.c model/formats/ggml_types.c"
  [safetensors]="model/formats/safetensors.c"
  [tokenizer]="model/formats/gguf.c model/formats/gguf_kv.c model/formats/ggml_types.c $(echo model/text/*.c)"
  [image]="model/vision/image_load.c model/vision/jpeg_decode.c model/vision/stb_image_impl.c model/vision/preprocess.c model/vision/resize_bicubic.c"
  [torch_pickle]="model/formats/torch_pickle.c model/formats/torch_checkpoint.c model/formats/zip_reader.c model/formats/safetensors.c"
)

python3 tests/fuzz/make_seeds.py "$OUT/seeds"
python3 tests/fuzz/make_tokenizer_seeds.py "$OUT/seeds"
python3 tests/fuzz/make_image_seeds.py "$OUT/seeds"
status=0
for t in $TARGETS; do
  bin="$OUT/fuzz_$t"
  # shellcheck disable=SC2086
  "$CLANG" $FLAGS -o "$bin" "tests/fuzz/fuzz_$t.c" ${SRC[$t]} $CORE -ljpeg -lcjson -lpcre2-8 -lutf8proc -lm
  corpus="tests/fuzz/corpus-$t"
  mkdir -p "$corpus" "$OUT/$t"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  if ! "$bin" "$corpus" "$OUT/seeds/$t" -dict="tests/fuzz/$t.dict" \
        -max_total_time="$SECONDS_EACH" -max_len=8192 -rss_limit_mb=2048 \
        -artifact_prefix="$OUT/$t/" -print_final_stats=1 2>"$OUT/$t.log"; then
    status=1
    echo "fuzz: $t FOUND A PROBLEM; see $OUT/$t.log and $OUT/$t/"
  fi
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" \
    "$OUT/$t.log" | sed "s/^/  $t /" || true
  grep -E "DONE|ERROR|SUMMARY" "$OUT/$t.log" | tail -n 2 | sed "s/^/  $t: /" || true
done
exit $status

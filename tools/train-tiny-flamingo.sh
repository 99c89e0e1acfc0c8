#!/bin/sh
# Rebuilds the built-in tiny OpenFlamingo (assets/tiny-flamingo) from the
# built-in tiny LLaVA and nothing but iris — OpenFlamingo's design in
# miniature: a trained vision encoder and a trained language model, both
# frozen, joined by a new perceiver resampler and gated cross-attention.
#   1. the shapes world's training split       iris gen-shapes (seed TRAIN_SEED)
#   2. a fresh OpenFlamingo around the LLaVA   iris new-model config/tiny/tiny-flamingo.ini --from LLAVA
#   3. the questions, OpenFlamingo's way       iris train config/train/tiny-flamingo.ini
#      (perceiver, blocks, new token embeddings train; LM and tower frozen)
#   4. the model into OUT                      lm/ and clip/ of step 2, the trained
#                                              checkpoint, openflamingo.json (relative paths)
#   5. 1,000 held-out questions                iris gen-shapes --split test (seed TEST_SEED)
#                                              + iris eval --metric vqav2
# Usage: tools/train-tiny-flamingo.sh [OUT]   (default assets/tiny-flamingo)
# Environment: IRIS (binary, default bin/iris), LLAVA (the LLaVA to build on,
# default assets/tiny-llava), WORK (scratch, default build/tiny-flamingo),
# TRAIN_IMAGES / STEPS (data volume and run length; the defaults are the
# shipped recipe), EVAL_N, THREADS.
# Prints the time of every step and the accuracy; the eval's JSON goes to
# WORK/eval.json.  Same seeds, same thread count -> same weights.
set -eu
IRIS=${IRIS:-bin/iris}
LLAVA=${LLAVA:-assets/tiny-llava}
WORK=${WORK:-build/tiny-flamingo}
OUT=${1:-assets/tiny-flamingo}
TRAIN_SEED=${TRAIN_SEED:-1}
TEST_SEED=${TEST_SEED:-1000}
MODEL_SEED=${MODEL_SEED:-0}
TRAIN_IMAGES=${TRAIN_IMAGES:-12000}
STEPS=${STEPS:-1500}
EVAL_N=${EVAL_N:-1000}
THREADS=${THREADS:-0}
HERE=$(cd "$(dirname "$0")/.." && pwd)

now() { date +%s.%N; }
T0=$(now)
step() { awk -v a="$(now)" -v b="$2" -v n="$1" 'BEGIN { printf "train-tiny-flamingo: %-30s %7.1f s\n", n, a - b }'; }

rm -rf "$WORK"
mkdir -p "$WORK"
t=$(now)
"$IRIS" gen-shapes --seed "$TRAIN_SEED" --count "$TRAIN_IMAGES" -o "$WORK/data" >/dev/null 2>&1
step "gen-shapes ($TRAIN_IMAGES images)" "$t"

t=$(now)
"$IRIS" new-model "$HERE/config/tiny/tiny-flamingo.ini" --from "$LLAVA" -o "$WORK/base" --seed "$MODEL_SEED" >/dev/null
step "new-model (from $(basename "$LLAVA"))" "$t"

t=$(now)
"$IRIS" train "$HERE/config/train/tiny-flamingo.ini" -q --run-dir "$WORK/train" \
    --set model.base="$WORK/base" --set data.data="$WORK/data/train_qa.json" \
    --set data.image_folder="$WORK/data" --set train.max_steps="$STEPS" --set train.threads="$THREADS"
step "train ($STEPS steps)" "$t"

# The shipped layout: the base's model file (relative paths) and parts, the
# trained checkpoint.
rm -rf "$OUT.new"
mkdir -p "$OUT.new"
cp -r "$WORK/base/lm" "$WORK/base/clip" "$WORK/base/openflamingo.json" "$OUT.new/"
cp "$WORK/train/model/checkpoint.safetensors" "$OUT.new/"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
step "recipe (training) total" "$T0"

t=$(now)
"$IRIS" gen-shapes --seed "$TEST_SEED" --split test --count "$EVAL_N" -o "$WORK/test" >/dev/null 2>&1
"$IRIS" eval -m "$OUT" --data "$WORK/test/test_questions.jsonl" --images "$WORK/test" \
    --metric vqav2 -o "$WORK/eval.json" 2>/dev/null
step "eval ($EVAL_N held-out questions)" "$t"
step "total" "$T0"

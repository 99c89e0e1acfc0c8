#!/bin/sh
# Rebuilds the built-in tiny VLM (assets/tiny-llava) from nothing but iris:
#   1. the shapes world's training split       iris gen-shapes (seed TRAIN_SEED)
#   2. a fresh, randomly initialised model     iris new-model config/tiny/tiny-llava.ini
#   3. stage 1: captions, everything trains    iris train config/train/tiny-stage1.ini
#   4. stage 2: questions, everything trains   iris train config/train/tiny-stage2.ini
#   5. the model into OUT                      (the run's model/, llava-hf layout)
#   6. 1,000 held-out questions                iris gen-shapes --split test (seed TEST_SEED)
#                                              + iris eval --metric vqav2
# Usage: tools/train-tiny.sh [OUT]   (default assets/tiny-llava)
# Environment: IRIS (binary, default bin/iris), WORK (scratch, default
# build/tiny), TRAIN_IMAGES / STAGE1_RECORDS / STAGE2_RECORDS (data volume;
# the defaults are the shipped recipe), EVAL_N, THREADS.
# Prints the time of every step and the accuracy; the eval's JSON goes to
# WORK/eval.json.  Same seeds, same thread count -> same weights.
set -eu
IRIS=${IRIS:-bin/iris}
WORK=${WORK:-build/tiny}
OUT=${1:-assets/tiny-llava}
TRAIN_SEED=${TRAIN_SEED:-1}
TEST_SEED=${TEST_SEED:-1000}
MODEL_SEED=${MODEL_SEED:-0}
TRAIN_IMAGES=${TRAIN_IMAGES:-16000}
STAGE1_RECORDS=${STAGE1_RECORDS:-24000}
STAGE2_RECORDS=${STAGE2_RECORDS:-32000}
EVAL_N=${EVAL_N:-1000}
THREADS=${THREADS:-0}
HERE=$(cd "$(dirname "$0")/.." && pwd)

now() { date +%s.%N; }
T0=$(now)
step() { awk -v a="$(now)" -v b="$2" -v n="$1" 'BEGIN { printf "train-tiny: %-34s %7.1f s\n", n, a - b }'; }

rm -rf "$WORK"
mkdir -p "$WORK"
t=$(now)
"$IRIS" gen-shapes --seed "$TRAIN_SEED" --count "$TRAIN_IMAGES" -o "$WORK/data" >/dev/null 2>&1
step "gen-shapes ($TRAIN_IMAGES images)" "$t"

t=$(now)
"$IRIS" new-model "$HERE/config/tiny/tiny-llava.ini" -o "$WORK/base" --seed "$MODEL_SEED" >/dev/null
step "new-model" "$t"

# steps = records / batch size (8), so the data volume sets the run length
s1=$((STAGE1_RECORDS / 8))
s2=$((STAGE2_RECORDS / 8))
t=$(now)
"$IRIS" train "$HERE/config/train/tiny-stage1.ini" -q --run-dir "$WORK/stage1" \
    --set model.base="$WORK/base" --set data.data="$WORK/data/train_captions.json" \
    --set data.image_folder="$WORK/data" --set train.max_steps=$s1 --set train.threads="$THREADS"
step "stage 1 ($s1 steps)" "$t"

t=$(now)
"$IRIS" train "$HERE/config/train/tiny-stage2.ini" -q --run-dir "$WORK/stage2" \
    --set model.base="$WORK/stage1/model" --set data.data="$WORK/data/train_qa.json" \
    --set data.image_folder="$WORK/data" --set train.max_steps=$s2 --set train.threads="$THREADS"
step "stage 2 ($s2 steps)" "$t"

rm -rf "$OUT.new"
cp -r "$WORK/stage2/model" "$OUT.new"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
step "recipe (training) total" "$T0"

t=$(now)
"$IRIS" gen-shapes --seed "$TEST_SEED" --split test --count "$EVAL_N" -o "$WORK/test" >/dev/null 2>&1
"$IRIS" eval -m "$OUT" --data "$WORK/test/test_questions.jsonl" --images "$WORK/test" \
    --metric vqav2 -o "$WORK/eval.json" 2>/dev/null
step "eval ($EVAL_N held-out questions)" "$t"
step "total" "$T0"

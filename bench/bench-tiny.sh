#!/usr/bin/env bash
# The built-in tiny VLM on the CPU (2 threads by default):
#  - answer latency: `iris run` on the shipped assets/tiny-llava, a sample image
#    and a question -> the complete greedy answer, wall time of the whole
#    process (start, model load, image decode + preprocess + ViT, prompt,
#    generation) and the in-process part iris reports;
#  - eval throughput: the same held-out shapes-world questions (1,000;
#    BENCH_TINY_EVAL_N) answered one at a time (`iris eval --batch 1`) and
#    batched (the default batch), questions/s of each and their ratio, in
#    the same invocation (the load average is recorded beside them);
#  - the whole training recipe, tools/train-tiny.sh, timed step by step, with
#    the held-out accuracy it reaches (BENCH_TINY_RECIPE=0 skips it: ~30 min).
# Writes the "tiny-model" section of docs/PERF.md.
set -eu
cd "$(dirname "$0")/.."
threads=${BENCH_THREADS:-2}
repeat=${BENCH_REPEAT:-5}
work=${BENCH_DIR:-/tmp/iris-bench}/tiny
model=assets/tiny-llava
mkdir -p "$work"
[ -f "$model/model.safetensors" ] || { echo "bench-tiny: $model is missing (tools/train-tiny.sh)"; exit 1; }

lat_rows=""
for sample in assets/*.png; do
  for q in "What color is the circle?" "How many objects are there?"; do
    best_wall=999; best_in=999; answer=""
    for _ in $(seq "$repeat"); do
      t0=$(date +%s.%N)
      answer=$(bin/iris run -m "$model" -i "$sample" -p "$q" --temp 0 -t "$threads" --device cpu 2>"$work/err")
      t1=$(date +%s.%N)
      wall=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
      # "prompt N tokens in X s ..., generated M tokens in Y s" (the image was encoded before)
      inproc=$(sed -n 's/.*prompt [0-9]* tokens in \([0-9.]*\) s.*generated [0-9]* tokens in \([0-9.]*\) s.*/\1 \2/p' "$work/err" |
               awk '{ printf "%.3f", $1 + $2 }')
      best_wall=$(awk -v a="$wall" -v b="$best_wall" 'BEGIN { print (a < b) ? a : b }')
      [ -n "$inproc" ] && best_in=$(awk -v a="$inproc" -v b="$best_in" 'BEGIN { print (a < b) ? a : b }')
    done
    echo "$(basename "$sample") | $q -> $answer: ${best_wall} s wall, ${best_in} s prompt+answer"
    lat_rows="$lat_rows| $(basename "$sample") | $q | $answer | $(awk -v x="$best_wall" 'BEGIN{printf "%.0f", x*1000}') | $(awk -v x="$best_in" 'BEGIN{printf "%.0f", x*1000}') |"$'\n'
  done
done

# eval throughput, one at a time vs batched (same questions, same answers)
eval_n=${BENCH_TINY_EVAL_N:-1000}
bin/iris gen-shapes --seed 1000 --split test --count "$eval_n" -o "$work/evalset" >/dev/null 2>&1
load=$(uptime | sed 's/.*load average: //')
eval_rows=""
TIMEFORMAT='%R %U %S'
for mode in one batched; do
  args=(--batch 1); [ "$mode" = batched ] && args=()
  t=$( { time bin/iris eval -m "$model" --data "$work/evalset/test_questions.jsonl" --images "$work/evalset" \
           -t "$threads" --device cpu "${args[@]}" -o "$work/eval-$mode.json" >/dev/null 2>"$work/err"; } 2>&1 )
  wall=$(echo "$t" | awk '{ print $1 }'); cpu=$(echo "$t" | awk '{ printf "%.2f", $2 + $3 }')
  qps=$(awk -v n="$eval_n" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
  eval "qps_$mode=$qps; cpu_$mode=$cpu"
  label="one at a time (\`--batch 1\`)"; [ "$mode" = batched ] && label="batched (default \`--batch\`)"
  echo "eval $eval_n questions, $label: ${wall} s wall, ${cpu} s CPU, $qps questions/s"
  eval_rows="$eval_rows| $label | $wall | $cpu | $qps |"$'\n'
done
same=$(python3 -c 'import json,sys; a,b=(json.load(open(p))["predictions"] for p in sys.argv[1:3]); print("yes" if a==b else "NO")' \
       "$work/eval-one.json" "$work/eval-batched.json")
ratio=$(awk -v a="$qps_batched" -v b="$qps_one" 'BEGIN { printf "%.2f", a / b }')
cpu_ratio=$(awk -v a="$cpu_one" -v b="$cpu_batched" 'BEGIN { printf "%.2f", a / b }')
echo "eval: batched / one at a time = ${ratio}x questions/s (${cpu_ratio}x less CPU); same answers: $same"

recipe=""
if [ "${BENCH_TINY_RECIPE:-1}" != 0 ]; then
  WORK="$work/recipe" THREADS="$threads" tools/train-tiny.sh "$work/tiny-llava" | tee "$work/recipe.log"
  acc=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f%% overall; " % r["overall"] + ", ".join("%s %.1f%%" % kv for kv in sorted(r["per_type"].items())))' "$work/recipe/eval.json")
  recipe="Recipe (\`tools/train-tiny.sh\`, $threads threads):"$'\n\n'"\`\`\`"$'\n'"$(cat "$work/recipe.log")"$'\n'"\`\`\`"$'\n\n'"Held-out accuracy of the rebuilt model (VQAv2 metric, 1,000 questions): $acc"
fi

{
  echo "## Built-in tiny VLM (bench/bench-tiny.sh)"
  echo
  echo "$(nproc) cores, $threads threads, $(date -u +%Y-%m-%d). Best of $repeat runs of \`iris run --temp 0 --device cpu\`;"
  echo "wall = the whole process (start, load, image decode + preprocess + ViT, prompt, answer);"
  echo "in-process = prompt + generation as iris reports them (the image is encoded before). Target: under 0.5 s."
  echo
  echo "| image | question | answer | wall ms | in-process ms |"
  echo "|---|---|---|---:|---:|"
  printf '%s' "$lat_rows"
  echo
  echo "\`iris eval\` on $eval_n held-out shapes-world questions (gen-shapes --seed 1000 --split test), $threads threads,"
  echo "one run each, load average before: $load. Batched / one at a time: **${ratio}x** questions/s"
  echo "(${cpu_ratio}x less CPU time); the same answers: $same."
  echo
  echo "| eval | wall s | CPU s | questions/s |"
  echo "|---|---:|---:|---:|"
  printf '%s' "$eval_rows"
  echo
  echo "$recipe"
} | tools/perf-section.sh tiny-model

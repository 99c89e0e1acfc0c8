#!/usr/bin/env bash
# OpenFlamingo on the CPU: image to first token (PNG decode + preprocess + CLIP
# ViT-L/14-224 tower + perceiver + the blocks' media keys/values + prefill of
# "<image>" and a 16-token question through MPT-1B with a gated cross-attention
# block in every layer) and generation tokens/s, for a random
# OpenFlamingo-3B-shaped model (bench/make_random_flamingo.py, bf16), with 1
# and 2 threads.  Baseline, in the same invocation: the same MPT-1B language
# model alone, text only (prefill of the same 17 positions, generation), so the
# image and the cross-attention blocks show as ratios.  On a GPU (bin/libiris-cuda.so
# and a device) it tries --device cuda too and records "refused" when the
# OpenFlamingo path declines the backend.
#   BENCH_MODELS  where the generated model is cached (build/bench-models)
#   BENCH_FLAMINGO_TINY=1  toy sizes, to try the script in seconds
#   BENCH_TG (16), BENCH_REPS (2), BENCH_THREAD_LIST ("1 2")
set -eu
cd "$(dirname "$0")/.."
venv=${IRIS_VENV:-.venv}
[ -f "$venv/.ready" ] || bash tests/setup-venv.sh "$venv"
work=${BENCH_MODELS:-build/bench-models}
mkdir -p "$work"
tg=${BENCH_TG:-16}
reps=${BENCH_REPS:-2}
threads_list=${BENCH_THREAD_LIST:-1 2}
q=16
if [ "${BENCH_FLAMINGO_TINY:-0}" = 1 ]; then
  m="$work/of-tiny-bf16"
  [ -f "$m/openflamingo.json" ] || "$venv/bin/python" bench/make_random_flamingo.py -o "$m" --tiny
else
  m="$work/of3b-bf16"
  [ -f "$m/openflamingo.json" ] || "$venv/bin/python" bench/make_random_flamingo.py -o "$m"
fi
img="$work/photo-640x480.png"
[ -f "$img" ] || "$venv/bin/python" -c "
import sys; sys.path.insert(0, 'tests/integration')
from llava_fixtures import random_photo; random_photo('$img', 640, 480, seed=1)"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
load_before=$(uptime)
for t in $threads_list; do
  # alternate the two so that a change in the machine's load hits both
  of=$(bin/iris bench -m "$m" -i "$img" -p $q -n "$tg" -r "$reps" --threads "$t" --device cpu --json)
  echo "$of"
  txt=$(bin/iris bench -m "$m/lm" -p $((q + 1)) -n "$tg" -r "$reps" --threads "$t" --device cpu --no-probe --json)
  echo "$txt"
  printf '{"threads": %s, "of": %s, "text": %s}\n' "$t" "$of" "$txt" >>"$results"
done
load_after=$(uptime)

gpu="no GPU (bin/libiris-cuda.so not built)"
if [ -e bin/libiris-cuda.so ]; then
  if out=$(bin/iris bench -m "$m" -i "$img" -p $q -n "$tg" -r "$reps" --device cuda --json 2>&1); then
    gpu=$(printf '%s' "$out" | tail -1)
    echo "$gpu"
  elif printf '%s' "$out" | grep -q "no CUDA device"; then
    gpu="no GPU ($(printf '%s' "$out" | tail -1))"
  elif printf '%s' "$out" | grep -q "run on the CPU backend"; then
    gpu="refused: $(printf '%s' "$out" | tail -1)"
  else
    gpu="not run: $(printf '%s' "$out" | tail -1)"
  fi
fi
echo "gpu: $gpu"

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
python3 - "$results" "$cpu" "$(nproc)" "$load_before" "$load_after" "$gpu" "$tg" "$reps" "$m" <<'PY' |
import json, sys
path, cpu, ncpu, load0, load1, gpu, tg, reps, model = sys.argv[1:10]
rows = [json.loads(line) for line in open(path)]
load = lambda u: u.split("load average:")[-1].strip()
print("## OpenFlamingo-3B-shaped model on the CPU: image to first token")
print()
if "tiny" in model:
    print("**Toy sizes (BENCH_FLAMINGO_TINY=1): not the shapes described below.**")
    print()
print(f"Random OpenFlamingo-3B-vitl-mpt1b-shaped model from `bench/make_random_flamingo.py`, **bf16** weights: "
      f"CLIP ViT-L/14-224 tower (24 layers, 1024 wide, 256 patch tokens; 303M), perceiver (6 layers, 64 latents, "
      f"8 heads of 64, ff x4), MPT-1B (2048 wide, 24 layers, 16 heads, ALiBi, tied table grown to 50280 rows) "
      f"with a gated cross-attention block (8 heads of 64, ff x4) before every layer "
      f"(cross_attn_every_n_layers 1, as OF-3B); the checkpoint part holds 1047M parameters, 2.6B in all. "
      f"A 640x480 PNG; the prompt is `<image>` + {rows[0]['of']['question_tokens']} question tokens "
      f"(\"Question: ... Short answer:\"), then {tg} greedy tokens; mean of {reps} runs after a warm-up. "
      f"Baseline in the same invocation: the same MPT-1B alone (`lm/`), text only, prefill of the same "
      f"{rows[0]['text']['pp_tokens']} positions and {tg} generated tokens. {cpu}, {ncpu} cores.")
print()
busy = max(float(load(u).split(",")[0]) for u in (load0, load1)) > 0.75 * int(ncpu)
print(f"Load while measuring (`uptime`: 1, 5, 15 min): {load(load0)} before, {load(load1)} after"
      + (" — the machine was shared with other work, so the absolute figures are pessimistic; the ratios "
         "(OF and baseline alternated) are the steadier numbers." if busy else "."))
print()
print("| threads | load + preprocess | vision tower | perceiver + media K/V | prefill 17 tok (OF) | "
      "**image to first token** | text-only first token (MPT-1B) | ratio | prefill OF / text | "
      "generation OF tok/s | text-only tok/s | OF / text |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    o, t = r["of"], r["text"]
    txt_ftt = t["pp_tokens"] / t["pp_tokens_per_s"]
    pre = o["image_encode_s"] - o["tower_s"] - o["perceiver_s"]
    print(f"| {r['threads']} | {1e3*pre:.0f} ms | {o['tower_s']:.2f} s | {o['perceiver_s']:.2f} s | "
          f"{o['prefill_s']:.2f} s | **{o['image_to_first_token_s']:.2f} s** | {txt_ftt:.2f} s | "
          f"{o['image_to_first_token_s']/txt_ftt:.1f}x | {o['prefill_s']/txt_ftt:.2f}x | "
          f"{o['tg_tokens_per_s']:.2f} | {t['tg_tokens_per_s']:.2f} | {o['tg_tokens_per_s']/t['tg_tokens_per_s']:.2f} |")
print()
print(f"GPU: {gpu}.")
print()
print(f"Rerun: `bash bench/bench-flamingo-cpu.sh` (part of `make bench`; the model, ~5 GB, is generated once "
      f"into {model} and reused).")
PY
  tools/perf-section.sh flamingo-cpu

#!/usr/bin/env bash
# Visual-chat benchmark on the CPU: image to first token (decode + preprocess +
# CLIP ViT-L/14-336 tower + mlp2x_gelu projector + prefill of the 576 image rows
# and a 32-token question) and generation tokens/s, for a random LLaVA-1.5-shaped
# tower in front of the ~134M random LLaMA.
set -eu
cd "$(dirname "$0")/.."
venv=${IRIS_VENV:-.venv}
[ -f "$venv/.ready" ] || bash tests/setup-venv.sh "$venv"
work=${BENCH_DIR:-/tmp/iris-bench}
threads=${BENCH_THREADS:-2}
m="$work/llava-l14-336-llama134-f16"
[ -f "$m/config.json" ] || "$venv/bin/python" bench/make_random_llava.py -o "$m" --dtype f16
img="$work/photo-640x480.png"
[ -f "$img" ] || "$venv/bin/python" -c "
import sys; sys.path.insert(0, 'tests/integration')
from llava_fixtures import random_photo; random_photo('$img', 640, 480, seed=1)"
json=$(bin/iris bench -m "$m" -i "$img" -p 32 -n 32 -r 2 --threads "$threads" --json)
echo "$json"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
python3 - "$json" "$threads" "$cpu" <<'PY' | tools/perf-section.sh llava-cpu
import json, sys
j, threads, cpu = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
print("## Visual chat on the CPU: image to first token")
print()
print(f"Random LLaVA-1.5-shaped model: CLIP ViT-L/14-336 tower (24 layers, 1024 wide, 576 image tokens) + mlp2x_gelu "
      f"projector + the ~134M LLaMA, f16 weights; a 640x480 PNG; `iris bench -i IMAGE -p 32 -n 32 -r 2 --threads {threads}` "
      f"on {cpu}.")
print()
print("| stage | time |")
print("|---|---|")
print(f"| decode + preprocess + vision tower + projector | {1e3*j['image_encode_s']:.0f} ms |")
print(f"| prefill of {j['image_tokens']} image rows + {j['question_tokens']} question tokens | {1e3*j['prefill_s']:.0f} ms |")
print(f"| **image to first token** | **{1e3*j['image_to_first_token_s']:.0f} ms** |")
print(f"| generation | {j['tg_tokens_per_s']:.1f} tokens/s |")
PY

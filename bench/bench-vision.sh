#!/usr/bin/env bash
# Vision benchmark on the CPU: decoding + LLaVA preprocessing of photo-sized
# JPEG/PNG images, and the image half of LLaVA-1.5 -- a random CLIP ViT-L/14-336
# tower (hidden 1024, 24 layers, 16 heads; layers run up to
# vision_feature_layer -2) + mlp2x_gelu projector to 768 -- per image.
set -eu
cd "$(dirname "$0")/.."
venv=${IRIS_VENV:-.venv}
[ -f "$venv/.ready" ] || bash tests/setup-venv.sh "$venv"
work=${BENCH_DIR:-/tmp/iris-bench}
mkdir -p "$work"
threads=${BENCH_THREADS:-2}
repeat=${BENCH_REPEAT:-2}

# photo-like test images (smooth colour fields + grain)
"$venv/bin/python" - "$work" <<'PY'
import os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(0)
for w, h in [(640, 480), (4032, 3024)]:
    p = os.path.join(out, f"photo-{w}x{h}")
    if os.path.exists(p + ".jpg"):
        continue
    base = Image.fromarray(rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)
    a = np.clip(np.asarray(base).astype(np.int16) + rng.integers(-8, 9, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(a).save(p + ".jpg", quality=90)
    Image.fromarray(a).save(p + ".png")
PY

pre_rows=""
for img in photo-640x480.jpg photo-640x480.png photo-4032x3024.jpg photo-4032x3024.png; do
  for mode in crop pad; do
    line=$(bin/iris image-preprocess -i "$work/$img" --mode "$mode" --repeat "$repeat")
    echo "$line"
    dec=$(echo "$line" | sed -n 's/.*decode \([0-9.]*\) s.*/\1/p')
    pre=$(echo "$line" | sed -n 's/.*preprocess \([0-9.]*\) s.*/\1/p')
    pre_rows="$pre_rows| $img | $mode | $(awk "BEGIN{printf \"%.1f\", $dec*1000}") | $(awk "BEGIN{printf \"%.1f\", $pre*1000}") |"$'\n'
  done
done

enc_rows=""
for dt in f16 f32; do
  m="$work/clip-l14-336-$dt"
  [ -f "$m/model.safetensors" ] || "$venv/bin/python" bench/make_random_clip.py -o "$m" --dtype "$dt"
  bin/iris vision-encode -m "$m" -i "$work/photo-640x480.jpg" --threads "$threads" >/dev/null  # warm-up
  line=$(bin/iris vision-encode -m "$m" -i "$work/photo-640x480.jpg" --threads "$threads" --repeat "$repeat")
  echo "$dt: $line"
  s=$(echo "$line" | sed -n 's/.*encode \([0-9.]*\) s.*/\1/p')
  cs=$(echo "$line" | sed -n 's/.*(\([0-9.]*\) CPU s).*/\1/p')
  # 23 layers of 577 tokens: 2*577*(4*1024^2 + 2*1024*4096) + attention 2*2*577^2*1024, plus patch conv and projector
  gf=$(awk "BEGIN{n=577; d=1024; f=4096; L=23; fl=L*(2*n*(4*d*d+2*d*f)+4*n*n*d) + 2*576*588*d + 2*576*(d*768+768*768); printf \"%.1f\", fl/1e9}")
  enc_rows="$enc_rows| $dt | $(awk "BEGIN{printf \"%.2f\", $s}") | $(awk "BEGIN{printf \"%.1f\", $cs}") | $(awk "BEGIN{printf \"%.3f\", 1/$s}") | $gf | $(awk "BEGIN{printf \"%.1f\", $gf/$s}") | $(awk "BEGIN{printf \"%.1f\", $gf/$cs}") |"$'\n'
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
load=$(cut -d' ' -f1-3 /proc/loadavg)
section() {
  echo "## Vision on the CPU (image decoding, LLaVA preprocessing, CLIP ViT-L/14-336)"
  echo
  echo "On $cpu ($(nproc) cores), $threads threads, mean of $repeat runs; load average while measuring:"
  echo "$load (the machine is shared: CPU seconds, from getrusage, are the steadier figure)."
  echo
  echo "Decoding (stb_image) and preprocessing to a 3x336x336 tensor (\`iris image-preprocess --repeat $repeat\`;"
  echo "crop = llava-hf's CLIPImageProcessor, pad = original LLaVA's expand2square first):"
  echo
  echo "| image | mode | decode ms | preprocess ms |"
  echo "|---|---|---|---|"
  printf '%s' "$pre_rows"
  echo
  echo "Image features: random CLIP ViT-L/14-336 tower (305M parameters with the projector; layers up to vision_feature_layer -2,"
  echo "577 tokens) + mlp2x_gelu projector 1024 -> 768 -> 768, 576 image tokens out"
  echo "(\`iris vision-encode --repeat $repeat\`, after one warm-up run; GFLOP counts the matrix products):"
  echo
  echo "| weights | s / image | CPU s / image | images / s | GFLOP | GFLOP/s | GFLOP per CPU s |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s' "$enc_rows"
  echo
  echo "Preprocessing is single-threaded; decoding is stb_image's. The tower's time is the CPU backend's"
  echo "linear/attention throughput (see the CPU kernels section). Wall times on a loaded machine are"
  echo "inflated by other jobs: rerun \`make bench\` on an idle one for clean figures."
}
if [ -x tools/perf-section.sh ]; then
  section | tools/perf-section.sh vision-cpu
else  # same section markers as tools/perf-section.sh
  mkdir -p docs
  body=$(section)
  python3 - docs/PERF.md vision-cpu "$body" <<'PY'
import os, sys
path, name, body = sys.argv[1:4]
text = open(path).read() if os.path.exists(path) else "# iris performance figures\n"
begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
block = f"{begin}\n{body.rstrip()}\n{end}"
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(path, "w").write(text)
PY
fi

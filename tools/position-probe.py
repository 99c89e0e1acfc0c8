#!/usr/bin/env python3
"""Can a tiny LLaVA's image tokens tell where an object is?

A linear probe (ridge regression to one-hot targets) from the features of the
patch holding the object to its grid column and row, on one-object scenes of
the shapes world: fitted on the first 400 images, scored on the rest (chance:
25 % on the 4x4 grid).  Probed twice: the tower's hidden state that LLaVA reads
(vision_feature_layer) and the projector's output, which the decoder sees.
docs/TINY.md has the figures for the shipped model and the recipe runs.

    bin/iris gen-shapes --seed 777 --count 600 --max-objects 1 -o /tmp/one
    .venv/bin/python tools/position-probe.py assets/tiny-llava /tmp/one

Runs on transformers' LlavaForConditionalGeneration, not on iris, so that the
figure does not depend on the code it is used to judge.
"""
import glob
import sys

import numpy as np
import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration

GRID = 4
N_FIT = 400


def object_cell(img, size):
    """The grid cell whose pixels differ most from the image's median colour."""
    a = np.asarray(img.resize((size, size))).astype(np.float64)
    diff = np.abs(a - np.median(a.reshape(-1, 3), axis=0)).sum(-1)
    c = size // GRID
    cells = diff.reshape(GRID, c, GRID, c).mean(axis=(1, 3))
    return np.unravel_index(cells.argmax(), cells.shape)


def probe(x, labels):
    """Held-out accuracy of a ridge probe from x (n, d) to labels (n,)."""
    x = (x - x[:N_FIT].mean(0)) / (x[:N_FIT].std(0) + 1e-6)
    x = np.hstack([x, np.ones((len(x), 1))])
    t = np.eye(GRID)[labels]
    a, b = x[:N_FIT], t[:N_FIT]
    w = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ b)
    return float(((x[N_FIT:] @ w).argmax(1) == labels[N_FIT:]).mean())


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: position-probe.py MODEL_DIR SHAPES_DIR (gen-shapes --max-objects 1)")
    model_dir, data = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(f"{data}/images/*.png"))
    if len(files) <= N_FIT:
        sys.exit(f"position-probe: need more than {N_FIT} images in {data}/images, found {len(files)}")
    model = LlavaForConditionalGeneration.from_pretrained(model_dir).eval()
    proc = AutoProcessor.from_pretrained(model_dir)
    size = model.config.vision_config.image_size
    patches = size // model.config.vision_config.patch_size
    if patches != GRID:
        sys.exit(f"position-probe: the tower has {patches}x{patches} patches; the probe wants one per grid cell")
    layer = model.config.vision_feature_layer
    tower, proj, rows, cols = [], [], [], []
    for f in files:
        img = Image.open(f).convert("RGB")
        r, c = object_cell(img, size)
        px = proc.image_processor(img, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            h = model.vision_tower(px, output_hidden_states=True).hidden_states[layer][0, 1:]
            p = model.multi_modal_projector(h)
        tower.append(h[r * GRID + c].numpy())
        proj.append(p[r * GRID + c].numpy())
        rows.append(r)
        cols.append(c)
    rows, cols = np.array(rows), np.array(cols)
    for name, x in [("tower", np.array(tower)), ("projector", np.array(proj))]:
        print(f"{name:9s} column {probe(x, cols) * 100:5.1f} %   row {probe(x, rows) * 100:5.1f} %"
              f"   ({len(files) - N_FIT} held-out images, chance 25 %)")


if __name__ == "__main__":
    main()

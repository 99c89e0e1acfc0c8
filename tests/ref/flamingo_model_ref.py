"""open_flamingo reference for the whole-model training step
(tests/unit/test_flamingo_train.c).

Usage: flamingo_model_ref.py train <dir>; params.txt holds "seed S".
Builds the random OpenFlamingo model of tests/integration/test_flamingo_model.py
(open_flamingo's Flamingo over transformers' MptForCausalLM, gated blocks
before every 2nd of 4 layers) under <dir>/m (openflamingo.json, lm/, clip/,
checkpoint.pt), makes it train as OpenFlamingo does (perceiver, blocks and the
input embeddings trainable, the rest frozen) and runs one step of its loss on
an interleaved two-image sequence.  Writes:
  feats.f32   the tower's patch tokens [T, v, D] (the frozen tower's output)
  ids.i32, labels.i32   the sequence and its labels (-100: not scored)
  meta.i32    T, n, v, D, counted
  loss.f32    the mean loss
  grads.safetensors  d loss / d every trainable parameter, under every name
                     the model's state_dict gives it
"""
import os
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import test_flamingo_model as T  # noqa: E402


def main():
    op, d = sys.argv[1], Path(sys.argv[2])
    assert op == "train"
    params = dict(line.split() for line in (d / "params.txt").read_text().splitlines())
    seed = int(float(params["seed"]))
    (d / "m").mkdir()
    model, tok, (eoc, media) = T.build(d / "m", seed, every_n=2)
    model.requires_grad_(False)
    model.perceiver.requires_grad_(True)
    model.lang_encoder.gated_cross_attn_layers.requires_grad_(True)
    model.lang_encoder.get_input_embeddings().requires_grad_(True)
    paths, vision_x = T.images(d / "m", seed)
    ids = tok.encode(T.PROMPT + " round<|endofchunk|>").ids
    labels = list(ids)
    for i, t in enumerate(ids):   # OpenFlamingo masks the media tokens and what precedes the first answer
        if t == media or i < 3:
            labels[i] = -100
    with torch.no_grad():
        feats = model.vision_encoder(vision_x[0, :, 0])[1]
    out = model(vision_x=vision_x, lang_x=torch.tensor([ids]), labels=torch.tensor([labels]))
    out.loss.backward()
    counted = sum(1 for t in labels[1:] if t != -100)
    np.asarray(feats.detach().numpy(), dtype="<f4").tofile(d / "feats.f32")
    np.asarray(ids, dtype="<i4").tofile(d / "ids.i32")
    np.asarray(labels, dtype="<i4").tofile(d / "labels.i32")
    np.asarray([feats.shape[0], len(ids), feats.shape[1], feats.shape[2], counted], dtype="<i4").tofile(d / "meta.i32")
    np.asarray([out.loss.item()], dtype="<f4").tofile(d / "loss.f32")
    grads = {}
    for name, p in model.state_dict(keep_vars=True).items():
        if p.requires_grad and p.grad is not None:
            grads[name] = p.grad.detach().float().contiguous().clone()
    save_file(grads, str(d / "grads.safetensors"))


if __name__ == "__main__":
    main()

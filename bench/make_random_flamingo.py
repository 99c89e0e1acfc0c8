"""Writes a random OpenFlamingo model shaped like OpenFlamingo-3B-vitl-mpt1b,
in the three parts iris reads through a model file (see model/nets/flamingo.h):

  OUT/openflamingo.json       the model file
  OUT/lm/                     MPT-1B (RedPajama-200B) shape, written by
                              make_random_mpt.py: d_model 2048, 24 layers,
                              16 heads, vocab 50432, ALiBi, tied embeddings
  OUT/clip/                   CLIPVisionModel, ViT-L/14 at 224 px: hidden 1024,
                              24 layers, 16 heads, ffn 4096, 256 patch tokens
  OUT/checkpoint.safetensors  what OpenFlamingo's checkpoint.pt holds, under
                              the same names: the perceiver (6 layers, 64
                              latents, 8 heads of 64, ff x4), a gated
                              cross-attention block inside every decoder layer
                              (cross_attn_every_n_layers 1, as OF-3B; 8 heads
                              of 64, ff x4) and the embedding table grown to
                              50280 rows (GPT-NeoX's 50277 tokens +
                              <|endofchunk|>, <image>, <PAD>)

Weights are N(0, 0.02) (LayerNorms 1 and 0, gates 0.5 so the blocks are not
the identity) in --dtype (bf16 by default: the released checkpoint is f32,
but bf16 halves what a 24 GiB machine must hold).  --tiny writes the same
layout at toy sizes, to try the bench script in seconds.  Needs torch and
safetensors; the tokenizer is make_random_mpt.py's small byte-level one (the
benchmark feeds token ids, so the vocabulary's content does not matter)."""
import argparse
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


class Writer:
    """Random tensors of one dtype, drawn from one seeded generator."""

    def __init__(self, dtype, seed):
        self.dt = DTYPES[dtype]
        self.g = torch.Generator().manual_seed(seed)
        self.t = {}

    def normal(self, name, *shape):
        self.t[name] = (torch.randn(*shape, generator=self.g) * 0.02).to(self.dt)

    def const(self, name, value, *shape):
        self.t[name] = torch.full(shape, value, dtype=self.dt)

    def layernorm(self, prefix, d):
        self.const(prefix + "weight", 1.0, d)
        self.const(prefix + "bias", 0.0, d)

    def save(self, path):
        save_file(self.t, path)
        n = sum(x.numel() for x in self.t.values())
        self.t = {}
        return n


def write_clip(out, a):
    d, f = a.clip_dim, 4 * a.clip_dim
    n_pos = (a.image // 14) ** 2 + 1
    w = Writer(a.dtype, 1)
    v = "vision_model."
    w.normal(v + "embeddings.patch_embedding.weight", d, 3, 14, 14)
    w.normal(v + "embeddings.class_embedding", d)
    w.normal(v + "embeddings.position_embedding.weight", n_pos, d)
    w.layernorm(v + "pre_layrnorm.", d)
    for i in range(a.clip_layers):
        p = f"{v}encoder.layers.{i}."
        w.layernorm(p + "layer_norm1.", d)
        w.layernorm(p + "layer_norm2.", d)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w.normal(p + "self_attn." + n + ".weight", d, d)
            w.normal(p + "self_attn." + n + ".bias", d)
        w.normal(p + "mlp.fc1.weight", f, d)
        w.normal(p + "mlp.fc1.bias", f)
        w.normal(p + "mlp.fc2.weight", d, f)
        w.normal(p + "mlp.fc2.bias", d)
    w.layernorm(v + "post_layernorm.", d)
    os.makedirs(out, exist_ok=True)
    n = w.save(os.path.join(out, "model.safetensors"))
    cfg = dict(model_type="clip_vision_model", architectures=["CLIPVisionModel"], hidden_size=d,
               intermediate_size=f, num_hidden_layers=a.clip_layers, num_attention_heads=a.clip_heads,
               patch_size=14, image_size=a.image, hidden_act="quick_gelu", layer_norm_eps=1e-5,
               projection_dim=768, torch_dtype={"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype])
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump(cfg, fh, indent=1)
    return n


def write_checkpoint(path, a):
    w = Writer(a.dtype, 2)
    dv, inner, lat = a.clip_dim, 8 * 64, 64
    p = "perceiver."
    w.t[p + "latents"] = torch.randn(lat, dv, generator=w.g).to(w.dt)
    for i in range(a.perceiver_layers):
        q = f"{p}layers.{i}."
        w.layernorm(q + "0.norm_media.", dv)
        w.layernorm(q + "0.norm_latents.", dv)
        w.normal(q + "0.to_q.weight", inner, dv)
        w.normal(q + "0.to_kv.weight", 2 * inner, dv)
        w.normal(q + "0.to_out.weight", dv, inner)
        w.layernorm(q + "1.0.", dv)
        w.normal(q + "1.1.weight", 4 * dv, dv)
        w.normal(q + "1.3.weight", dv, 4 * dv)
    w.layernorm(p + "norm.", dv)
    d = a.dim
    for l in range(a.layers):   # cross_attn_every_n_layers 1: a block in every layer
        b = f"lang_encoder.transformer.blocks.{l}.gated_cross_attn_layer."
        w.layernorm(b + "attn.norm.", d)
        w.normal(b + "attn.to_q.weight", inner, d)
        w.normal(b + "attn.to_kv.weight", 2 * inner, dv)
        w.normal(b + "attn.to_out.weight", d, inner)
        w.const(b + "attn_gate", 0.5, 1)
        w.layernorm(b + "ff.0.", d)
        w.normal(b + "ff.1.weight", 4 * d, d)
        w.normal(b + "ff.3.weight", d, 4 * d)
        w.const(b + "ff_gate", 0.5, 1)
    w.normal("lang_encoder.transformer.wte.weight", a.grown_vocab, d)
    return w.save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    ap.add_argument("--tiny", action="store_true", help="toy sizes with the same layout")
    a = ap.parse_args()
    if a.tiny:
        a.dim, a.layers, a.heads, a.vocab, a.grown_vocab = 64, 2, 4, 1000, 1000
        a.clip_dim, a.clip_layers, a.clip_heads, a.image, a.perceiver_layers = 64, 2, 4, 56, 2
    else:
        a.dim, a.layers, a.heads, a.vocab, a.grown_vocab = 2048, 24, 16, 50432, 50280
        a.clip_dim, a.clip_layers, a.clip_heads, a.image, a.perceiver_layers = 1024, 24, 16, 224, 6
    os.makedirs(a.o, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    lm = os.path.join(a.o, "lm")
    if not os.path.exists(os.path.join(lm, "model.safetensors")):
        subprocess.run([sys.executable, os.path.join(here, "make_random_mpt.py"), "-o", lm, "--dtype", a.dtype,
                        "--dim", str(a.dim), "--layers", str(a.layers), "--heads", str(a.heads),
                        "--vocab", str(a.vocab)], check=True)
    n_clip = write_clip(os.path.join(a.o, "clip"), a)
    n_ckpt = write_checkpoint(os.path.join(a.o, "checkpoint.safetensors"), a)
    mf = {"lang_model": "lm", "vision_model": "clip", "checkpoint": "checkpoint.safetensors",
          "cross_attn_every_n_layers": 1, "dim_head": 64, "max_images": 4}
    # written last: its presence says the model is complete
    with open(os.path.join(a.o, "openflamingo.json"), "w") as fh:
        json.dump(mf, fh, indent=1)
    print(f"{a.o}: tower {n_clip / 1e6:.0f}M, perceiver + blocks + grown table {n_ckpt / 1e6:.0f}M "
          f"parameters ({a.dtype}); language model in lm/")


if __name__ == "__main__":
    main()

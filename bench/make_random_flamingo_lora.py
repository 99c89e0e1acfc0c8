"""Writes a random OpenFlamingo model for benchmarks, in the three parts
iris reads through a model file (nets/flamingo.h): lm/ (a random MPT from
bench/make_random_mpt.py), clip/ (a random transformers CLIPVisionModel),
checkpoint.safetensors (perceiver resampler, gated cross-attention blocks
before every --every-n-th decoder layer under checkpoint.pt's names, and the
language model's embedding table as the grown copy) and openflamingo.json.
Weights N(0, 0.02), norms 1 / 0, gates 0.5 (so the blocks matter),
latents N(0, 1); perceiver depth 6, 64 latents, 8 heads of 64 as
OpenFlamingo builds it."""
import argparse
import json
import os
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=50432)
    ap.add_argument("--every-n", type=int, default=2)
    ap.add_argument("--vis-hidden", type=int, default=512)
    ap.add_argument("--vis-layers", type=int, default=4)
    ap.add_argument("--image", type=int, default=224)
    a = ap.parse_args()
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import CLIPVisionConfig, CLIPVisionModel
    os.makedirs(a.o, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    lm = os.path.join(a.o, "lm")
    subprocess.run([sys.executable, os.path.join(here, "make_random_mpt.py"), "-o", lm, "--dim", str(a.dim),
                    "--layers", str(a.layers), "--heads", str(a.heads), "--vocab", str(a.vocab), "--dtype", "bf16",
                    "--ctx", "2048"], check=True)
    torch.manual_seed(1)
    clip = CLIPVisionModel(CLIPVisionConfig(hidden_size=a.vis_hidden, intermediate_size=4 * a.vis_hidden,
                                            num_hidden_layers=a.vis_layers, num_attention_heads=8,
                                            image_size=a.image, patch_size=14))
    clip.save_pretrained(os.path.join(a.o, "clip"))

    def w(*shape):
        return torch.randn(*shape) * 0.02

    t = {}
    D, Dv, inner = a.dim, a.vis_hidden, 8 * 64
    t["perceiver.latents"] = torch.randn(64, Dv)
    t["perceiver.norm.weight"], t["perceiver.norm.bias"] = torch.ones(Dv), torch.zeros(Dv)
    for i in range(6):
        p = f"perceiver.layers.{i}."
        for n in ("0.norm_media", "0.norm_latents", "1.0"):
            t[p + n + ".weight"], t[p + n + ".bias"] = torch.ones(Dv), torch.zeros(Dv)
        t[p + "0.to_q.weight"], t[p + "0.to_kv.weight"] = w(inner, Dv), w(2 * inner, Dv)
        t[p + "0.to_out.weight"] = w(Dv, inner)
        t[p + "1.1.weight"], t[p + "1.3.weight"] = w(4 * Dv, Dv), w(Dv, 4 * Dv)
    for l in range(a.layers):
        if (l + 1) % a.every_n:
            continue
        p = f"lang_encoder.transformer.blocks.{l}.gated_cross_attn_layer."
        for n in ("attn.norm", "ff.0"):
            t[p + n + ".weight"], t[p + n + ".bias"] = torch.ones(D), torch.zeros(D)
        t[p + "attn.to_q.weight"], t[p + "attn.to_kv.weight"] = w(inner, D), w(2 * inner, Dv)
        t[p + "attn.to_out.weight"] = w(D, inner)
        t[p + "ff.1.weight"], t[p + "ff.3.weight"] = w(4 * D, D), w(D, 4 * D)
        t[p + "attn_gate"], t[p + "ff_gate"] = torch.tensor([0.5]), torch.tensor([0.5])
    t["lang_encoder.transformer.wte.weight"] = load_file(os.path.join(lm, "model.safetensors"))[
        "transformer.wte.weight"].float()
    save_file(t, os.path.join(a.o, "checkpoint.safetensors"))
    json.dump({"lang_model": "lm", "vision_model": "clip", "checkpoint": "checkpoint.safetensors",
               "cross_attn_every_n_layers": a.every_n}, open(os.path.join(a.o, "openflamingo.json"), "w"))


if __name__ == "__main__":
    main()

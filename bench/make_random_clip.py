"""Writes the vision half of a random LLaVA checkpoint in llava-hf layout for
benchmarks: config.json and model.safetensors holding a CLIP vision tower
(default ViT-L/14-336: hidden 1024, 24 layers, 16 heads, ffn 4096, patch 14,
336 px) and an mlp2x_gelu projector to --text-dim (default 768).  Weights are
N(0, 0.02), LayerNorms N(1, 0.02); dtype f32, f16 or bf16."""
import argparse
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--ffn", type=int, default=4096)
    ap.add_argument("--patch", type=int, default=14)
    ap.add_argument("--image", type=int, default=336)
    ap.add_argument("--text-dim", type=int, default=768)
    ap.add_argument("--dtype", default="f16", choices=["f32", "f16", "bf16"])
    a = ap.parse_args()
    os.makedirs(a.o, exist_ok=True)
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    rng = np.random.default_rng(0)
    d, f = a.hidden, a.ffn
    n_pos = (a.image // a.patch) ** 2 + 1
    t = {}

    def put(name, *shape, one=False):
        x = rng.standard_normal(shape, dtype=np.float32) * 0.02 + (1.0 if one else 0.0)
        t[name] = torch.from_numpy(x).to(dt)

    v = "vision_tower.vision_model."
    put(v + "embeddings.patch_embedding.weight", d, 3, a.patch, a.patch)
    put(v + "embeddings.class_embedding", d)
    put(v + "embeddings.position_embedding.weight", n_pos, d)
    put(v + "pre_layrnorm.weight", d, one=True)
    put(v + "pre_layrnorm.bias", d)
    for i in range(a.layers):
        p = f"{v}encoder.layers.{i}."
        for n in ("layer_norm1", "layer_norm2"):
            put(p + n + ".weight", d, one=True)
            put(p + n + ".bias", d)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            put(p + "self_attn." + n + ".weight", d, d)
            put(p + "self_attn." + n + ".bias", d)
        put(p + "mlp.fc1.weight", f, d)
        put(p + "mlp.fc1.bias", f)
        put(p + "mlp.fc2.weight", d, f)
        put(p + "mlp.fc2.bias", d)
    put("multi_modal_projector.linear_1.weight", a.text_dim, d)
    put("multi_modal_projector.linear_1.bias", a.text_dim)
    put("multi_modal_projector.linear_2.weight", a.text_dim, a.text_dim)
    put("multi_modal_projector.linear_2.bias", a.text_dim)
    save_file(t, os.path.join(a.o, "model.safetensors"))
    cfg = dict(model_type="llava", architectures=["LlavaForConditionalGeneration"],
               vision_config=dict(model_type="clip_vision_model", hidden_size=d, intermediate_size=f,
                                  num_hidden_layers=a.layers, num_attention_heads=a.heads,
                                  patch_size=a.patch, image_size=a.image),
               text_config=dict(model_type="llama", hidden_size=a.text_dim),
               projector_hidden_act="gelu", vision_feature_layer=-2,
               vision_feature_select_strategy="default", image_token_index=32000)
    with open(os.path.join(a.o, "config.json"), "w") as fh:
        json.dump(cfg, fh, indent=1)
    print(f"{a.o}: {sum(x.numel() for x in t.values()) / 1e6:.1f}M parameters ({a.dtype})")


if __name__ == "__main__":
    main()

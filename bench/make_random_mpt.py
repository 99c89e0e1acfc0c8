"""Writes a random MPT checkpoint in Hugging Face layout (transformers'
MptForCausalLM names and config) for benchmarks: config.json,
model.safetensors and a small byte-level tokenizer.json.  Defaults are
MPT-1B's shape (OpenFlamingo-3B's language model): d_model 2048, 24 layers,
16 heads, vocab 50432, tied embeddings.  Weights are N(0, 0.02)."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=50432)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--dtype", default="bf16", choices=["f32", "f16", "bf16"])
    a = ap.parse_args()
    from llm_fixtures import make_bytelevel_tokenizer
    os.makedirs(a.o, exist_ok=True)
    cfg = dict(model_type="mpt", architectures=["MptForCausalLM"], d_model=a.dim, n_heads=a.heads,
               n_layers=a.layers, expansion_ratio=4, max_seq_len=a.ctx, vocab_size=a.vocab,
               layer_norm_epsilon=1e-5, no_bias=True, tie_word_embeddings=True,
               attn_config={"alibi": True, "alibi_bias_max": 8, "clip_qkv": None, "qk_ln": False},
               torch_dtype={"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype])
    json.dump(cfg, open(os.path.join(a.o, "config.json"), "w"), indent=1)
    make_bytelevel_tokenizer(os.path.join(a.o, "tokenizer.json"))
    import torch
    from safetensors.torch import save_file
    torch.manual_seed(0)
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]

    def w(*shape):
        return (torch.randn(*shape) * 0.02).to(dt)

    d = a.dim
    t = {"transformer.wte.weight": w(a.vocab, d), "transformer.norm_f.weight": torch.ones(d, dtype=dt)}
    for i in range(a.layers):
        p = f"transformer.blocks.{i}."
        t[p + "norm_1.weight"] = torch.ones(d, dtype=dt)
        t[p + "norm_2.weight"] = torch.ones(d, dtype=dt)
        t[p + "attn.Wqkv.weight"] = w(3 * d, d)
        t[p + "attn.out_proj.weight"] = w(d, d)
        t[p + "ffn.up_proj.weight"] = w(4 * d, d)
        t[p + "ffn.down_proj.weight"] = w(d, 4 * d)
    save_file(t, os.path.join(a.o, "model.safetensors"))


if __name__ == "__main__":
    main()

"""Writes a random LLaMA checkpoint in Hugging Face layout for benchmarks:
config.json, model.safetensors (f32, f16 or bf16) and a small byte-level
tokenizer.json.  Weights are N(0, 0.02) like transformers' initialisation."""
import argparse
import json
import os
import sys


sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=None)
    ap.add_argument("--ffn", type=int, default=2048)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    a = ap.parse_args()
    from llm_fixtures import make_bytelevel_tokenizer
    os.makedirs(a.o, exist_ok=True)
    kv = a.kv_heads or a.heads
    hd = a.dim // a.heads
    cfg = dict(model_type="llama", architectures=["LlamaForCausalLM"], hidden_size=a.dim,
               intermediate_size=a.ffn, num_hidden_layers=a.layers, num_attention_heads=a.heads,
               num_key_value_heads=kv, vocab_size=a.vocab, max_position_embeddings=a.ctx,
               rms_norm_eps=1e-5, rope_theta=10000.0, bos_token_id=0, eos_token_id=1,
               tie_word_embeddings=False, torch_dtype={"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype])
    json.dump(cfg, open(os.path.join(a.o, "config.json"), "w"), indent=1)
    make_bytelevel_tokenizer(os.path.join(a.o, "tokenizer.json"))
    import torch
    from safetensors.torch import save_file
    torch.manual_seed(0)
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]

    def w(*shape):
        return (torch.randn(*shape) * 0.02).to(dt)

    def ones(n):
        return torch.ones(n, dtype=dt)

    t = {"model.embed_tokens.weight": w(a.vocab, a.dim), "model.norm.weight": ones(a.dim),
         "lm_head.weight": w(a.vocab, a.dim)}
    for i in range(a.layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = ones(a.dim)
        t[p + "post_attention_layernorm.weight"] = ones(a.dim)
        t[p + "self_attn.q_proj.weight"] = w(a.heads * hd, a.dim)
        t[p + "self_attn.k_proj.weight"] = w(kv * hd, a.dim)
        t[p + "self_attn.v_proj.weight"] = w(kv * hd, a.dim)
        t[p + "self_attn.o_proj.weight"] = w(a.dim, a.heads * hd)
        t[p + "mlp.gate_proj.weight"] = w(a.ffn, a.dim)
        t[p + "mlp.up_proj.weight"] = w(a.ffn, a.dim)
        t[p + "mlp.down_proj.weight"] = w(a.dim, a.ffn)
    save_file(t, os.path.join(a.o, "model.safetensors"))
    n_params = sum(v.numel() for v in t.values())
    print(f"{a.o}: {n_params / 1e6:.1f}M parameters, {a.dtype}")


if __name__ == "__main__":
    main()

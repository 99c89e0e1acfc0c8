"""Writes a transformers LLaMA checkpoint as a GGUF file with llama.cpp's own
`gguf` package, applying llama.cpp's converter conventions: q/k rows permuted
for adjacent-pair RoPE, dims listed fastest-first (the writer reverses numpy's
shape), byte-level BPE vocabulary as tokenizer.ggml.* metadata."""
import json

import numpy as np


def permute_qk(w, n_head):
    # llama.cpp's converter: rows of each head reordered (half-split -> interleaved pairs)
    rows = w.shape[0]
    return (w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def write_llama_gguf(model, tokenizer_json_path, out_path, dtype="f32"):
    import gguf
    cfg = model.config
    w = gguf.GGUFWriter(str(out_path), "llama")
    w.add_name("iris-test-llama")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(getattr(cfg, "rope_theta", 10000.0))
    w.add_file_type(0 if dtype == "f32" else 1)

    tj = json.load(open(tokenizer_json_path))
    vocab = tj["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    for a in tj.get("added_tokens", []):
        if a["id"] >= len(tokens):
            tokens += [None] * (a["id"] + 1 - len(tokens))
        tokens[a["id"]] = a["content"]
    types = [gguf.TokenType.CONTROL if any(a["id"] == i and a["special"] for a in tj.get("added_tokens", []))
             else gguf.TokenType.NORMAL for i in range(len(tokens))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.bos_token_id)
    w.add_eos_token_id(cfg.eos_token_id)
    w.add_add_bos_token(True)

    sd = {k: v.float().numpy() for k, v in model.state_dict().items()}
    np_dtype = np.float32 if dtype == "f32" else np.float16

    def put(name, arr, force_f32=False):
        arr = np.ascontiguousarray(arr.astype(np.float32 if force_f32 else np_dtype))
        w.add_tensor(name, arr)

    put("token_embd.weight", sd["model.embed_tokens.weight"])
    put("output_norm.weight", sd["model.norm.weight"], True)
    if "lm_head.weight" in sd and not cfg.tie_word_embeddings:
        put("output.weight", sd["lm_head.weight"])
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        put(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"], True)
        put(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"], True)
        put(f"blk.{i}.attn_q.weight", permute_qk(sd[p + "self_attn.q_proj.weight"], cfg.num_attention_heads))
        put(f"blk.{i}.attn_k.weight", permute_qk(sd[p + "self_attn.k_proj.weight"], cfg.num_key_value_heads))
        put(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        put(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        put(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        put(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        put(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

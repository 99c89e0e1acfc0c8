"""PyTorch references for the backward pieces of the generic decoders (MPT,
GPT-NeoX, BioGPT), run by tests/unit/test_decoder_grads.c through pyref.
Computed in float64 with autograd, so a difference measures the C code's error.

ops:
  attn_alibi_bwd  causal GQA attention with transformers' MPT ALiBi tensor, backward
  gelu_bwd        d/dx of F.gelu (erf) and of F.gelu(approximate="tanh")
  make_model      a random MptForCausalLM / GPTNeoXForCausalLM / BioGptForCausalLM
                  saved with save_pretrained in <dir>/model
  model_grads     that model in float64 with iris's f32 weights: the loss and
                  every parameter's gradient by autograd, in iris's order
  lora_grads      the same through peft (get_peft_model, every linear of the
                  layers targeted by PEFT's names, r / alpha / rsLoRA /
                  layers_to_transform from params): iris's names map to peft's
                  (base_model.model. + .base_layer / .default), and the loss
                  and the LoRA matrices' gradients come back in iris's order
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def rd(d, name):
    return torch.from_numpy(np.fromfile(os.path.join(d, name + ".f32"), dtype="<f4").astype(np.float64))


def wr(d, name, t):
    np.asarray(t.detach().reshape(-1).numpy(), dtype="<f4").tofile(os.path.join(d, name + ".f32"))


def op_attn_alibi_bwd(d, p):
    from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor
    n, nh, nkv, hd = (int(p[k]) for k in ("n", "nh", "nkv", "hd"))
    q = rd(d, "q").reshape(n, nh, hd).requires_grad_()
    k = rd(d, "k").reshape(n, nkv, hd).requires_grad_()
    v = rd(d, "v").reshape(n, nkv, hd).requires_grad_()
    dout = rd(d, "dout").reshape(n, nh, hd)
    rep = nh // nkv
    kk, vv = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    s = torch.einsum("ihd,jhd->hij", q, kk) * p["scale"]
    s = s + build_mpt_alibi_tensor(nh, n, alibi_bias_max=p["max_bias"]).double()  # [nh, 1, n]
    s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    out = torch.einsum("hij,jhd->ihd", s.softmax(-1), vv)
    out.backward(dout)
    wr(d, "dq", q.grad)
    wr(d, "dk", k.grad)
    wr(d, "dv", v.grad)


def op_gelu_bwd(d, p):
    x = rd(d, "x").requires_grad_()
    dy = rd(d, "dy")
    F.gelu(x).backward(dy)
    wr(d, "dx_erf", x.grad)
    x.grad = None
    F.gelu(x, approximate="tanh").backward(dy)
    wr(d, "dx_tanh", x.grad)


ARCHS = {0: "mpt", 1: "gpt_neox", 2: "biogpt"}


def op_make_model(d, p):
    import transformers as tf
    arch, variant = ARCHS[int(p["arch"])], int(p["variant"])
    vocab = int(p["vocab"])
    if arch == "mpt":
        heads = 6 if variant else 4
        cfg = tf.MptConfig(d_model=16 * heads, n_heads=heads, n_layers=2, max_seq_len=64, vocab_size=vocab,
                           tie_word_embeddings=not variant)
    elif arch == "gpt_neox":
        cfg = tf.GPTNeoXConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=96,
                               vocab_size=vocab, max_position_embeddings=64, rotary_pct=1.0 if variant else 0.25,
                               use_parallel_residual=not variant, attention_bias=not variant,
                               hidden_act="gelu_new" if variant else "gelu")
    else:
        cfg = tf.BioGptConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=96,
                              vocab_size=vocab, max_position_embeddings=64, scale_embedding=not variant)
    torch.manual_seed(int(p["seed"]))
    model = tf.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    g = torch.Generator().manual_seed(int(p["seed"]))
    with torch.no_grad():
        for name, t in model.named_parameters():
            if t.dim() == 1 and "norm" in name:
                t.copy_(1.0 + 0.2 * torch.randn(t.shape, generator=g))
            else:
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
    model.save_pretrained(os.path.join(d, "model"), safe_serialization=True)


def op_model_grads(d, p):
    import transformers as tf
    # transformers' mask helpers fill with finfo(float64).min: torch 1.13 wants float64 as default then
    torch.set_default_dtype(torch.float64)
    names = [ln.split()[0] for ln in open(os.path.join(d, "names.bin")).read().splitlines() if ln]
    w_all = np.fromfile(os.path.join(d, "w_all.f32"), dtype="<f4").astype(np.float64)
    ids = torch.from_numpy(np.fromfile(os.path.join(d, "ids.i32"), dtype="<i4").astype(np.int64))
    labels = torch.from_numpy(np.fromfile(os.path.join(d, "labels.i32"), dtype="<i4").astype(np.int64))
    model = tf.AutoModelForCausalLM.from_pretrained(os.path.join(d, "model"), torch_dtype=torch.float64,
                                                    attn_implementation="eager")
    params = dict(model.named_parameters())
    off = 0
    with torch.no_grad():
        for name in names:
            t = params[name]
            t.copy_(torch.from_numpy(w_all[off:off + t.numel()]).reshape(t.shape))
            off += t.numel()
    assert off == len(w_all), (off, len(w_all))
    assert set(names) == set(params), sorted(set(params) ^ set(names))
    logits = model(input_ids=ids[None]).logits[0]
    loss_sum = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100, reduction="sum")
    (loss_sum * p["grad_scale"]).backward()
    wr(d, "loss", loss_sum.reshape(1))
    wr(d, "g_all", torch.cat([params[n].grad.reshape(-1) for n in names]))


LORA_TARGETS = {"mpt": ["Wqkv", "out_proj", "up_proj", "down_proj"],
                "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
                "biogpt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]}


def op_lora_grads(d, p):
    import transformers as tf
    from peft import LoraConfig, get_peft_model
    torch.set_default_dtype(torch.float64)
    names = [ln.split()[0] for ln in open(os.path.join(d, "names.bin")).read().splitlines() if ln]
    w_all = np.fromfile(os.path.join(d, "w_all.f32"), dtype="<f4").astype(np.float64)
    ids = torch.from_numpy(np.fromfile(os.path.join(d, "ids.i32"), dtype="<i4").astype(np.int64))
    labels = torch.from_numpy(np.fromfile(os.path.join(d, "labels.i32"), dtype="<i4").astype(np.int64))
    model = tf.AutoModelForCausalLM.from_pretrained(os.path.join(d, "model"), torch_dtype=torch.float64,
                                                    attn_implementation="eager")
    arch = ARCHS[int(p["arch"])]
    layer = int(p["layer"])
    lc = LoraConfig(r=int(p["r"]), lora_alpha=p["alpha"], use_rslora=bool(p["rslora"]), lora_dropout=0.0,
                    target_modules=LORA_TARGETS[arch], layers_to_transform=[layer] if layer >= 0 else None,
                    layers_pattern=("blocks" if arch == "mpt" else "layers") if layer >= 0 else None)
    pm = get_peft_model(model, lc)
    # peft's name -> iris's (the checkpoint's) name
    params = {n.replace("base_model.model.", "", 1).replace(".base_layer", "").replace(".default", ""): t
              for n, t in pm.named_parameters()}
    off = 0
    with torch.no_grad():
        for name in names:
            t = params[name]
            t.copy_(torch.from_numpy(w_all[off:off + t.numel()]).reshape(t.shape))
            off += t.numel()
    assert off == len(w_all), (off, len(w_all))
    assert set(names) == set(params), sorted(set(params) ^ set(names))
    logits = pm(input_ids=ids[None]).logits[0]
    loss_sum = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100, reduction="sum")
    (loss_sum * p["grad_scale"]).backward()
    wr(d, "loss", loss_sum.reshape(1))
    wr(d, "g_lora", torch.cat([params[n].grad.reshape(-1) for n in names if ".lora_" in n]))


def main():
    op, d = sys.argv[1], sys.argv[2]
    p = {}
    if os.path.exists(os.path.join(d, "params.txt")):
        with open(os.path.join(d, "params.txt")) as f:
            for line in f:
                k, v = line.split()
                p[k] = float(v)
    {"attn_alibi_bwd": op_attn_alibi_bwd, "gelu_bwd": op_gelu_bwd, "make_model": op_make_model,
     "model_grads": op_model_grads, "lora_grads": op_lora_grads}[op](d, p)


if __name__ == "__main__":
    main()

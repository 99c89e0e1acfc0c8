"""PyTorch / transformers / peft references for the training engine
(tests/unit/test_llama_train.c).

Usage: train_ref.py <op> <dir>; params.txt holds "name value" lines, arrays
are raw little-endian <name>.f32 / <name>.i32 files.  Everything runs in
float64, so a difference measures the C code's own error.

ops:
  attn_bwd     causal GQA attention backward via autograd
  model_grads  loss and every parameter's gradient of a LLaMA-family model
               built with transformers' classes, LoRA applied with peft
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def rd(d, name, dt="<f4"):
    return np.fromfile(os.path.join(d, name), dtype=dt)


def wr(d, name, t):
    np.asarray(t.detach().cpu().numpy(), dtype="<f4").tofile(os.path.join(d, name + ".f32"))


def op_attn_bwd(d, p):
    n, nh, nkv, hd = (int(p[k]) for k in ("n", "nh", "nkv", "hd"))
    q = torch.from_numpy(rd(d, "q.f32").astype(np.float64)).reshape(n, nh, hd).requires_grad_()
    k = torch.from_numpy(rd(d, "k.f32").astype(np.float64)).reshape(n, nkv, hd).requires_grad_()
    v = torch.from_numpy(rd(d, "v.f32").astype(np.float64)).reshape(n, nkv, hd).requires_grad_()
    dout = torch.from_numpy(rd(d, "dout.f32").astype(np.float64)).reshape(n, nh, hd)
    rep = nh // nkv
    kk = k.repeat_interleave(rep, dim=1)
    vv = v.repeat_interleave(rep, dim=1)
    s = torch.einsum("ihd,jhd->hij", q, kk) / hd ** 0.5
    mask = torch.ones(n, n, dtype=torch.bool).triu(1)
    s = s.masked_fill(mask, float("-inf"))
    out = torch.einsum("hij,jhd->ihd", s.softmax(-1), vv)
    out.backward(dout)
    wr(d, "dq", q.grad.reshape(-1))
    wr(d, "dk", k.grad.reshape(-1))
    wr(d, "dv", v.grad.reshape(-1))


def build_model(p):
    import transformers as tf
    arch = int(p["arch"])
    common = dict(hidden_size=int(p["dim"]), intermediate_size=int(p["ffn"]),
                  num_hidden_layers=int(p["layers"]), num_attention_heads=int(p["heads"]),
                  num_key_value_heads=int(p["kv_heads"]), head_dim=int(p["head_dim"]),
                  vocab_size=int(p["vocab"]), rms_norm_eps=p["eps"], rope_theta=p["theta"],
                  max_position_embeddings=512, tie_word_embeddings=bool(int(p["tied"])),
                  attn_implementation="eager")
    if arch == 2:
        cfg = tf.GemmaConfig(hidden_activation="gelu_pytorch_tanh", **common)
        model = tf.GemmaForCausalLM(cfg)
    elif arch == 3:
        common.pop("head_dim")
        cfg = tf.Qwen2Config(**common)
        model = tf.Qwen2ForCausalLM(cfg)
    else:
        cfg = tf.LlamaConfig(**common)
        model = tf.LlamaForCausalLM(cfg)
    return model.double()


def canon(name):
    """peft's parameter name -> the checkpoint-style name iris uses."""
    if name.startswith("base_model.model."):
        name = name[len("base_model.model."):]
    return name.replace(".base_layer.", ".").replace(".default.", ".")


def op_model_grads(d, p):
    names = [ln.split() for ln in open(os.path.join(d, "names.bin")).read().splitlines() if ln]
    w_all = rd(d, "w_all.f32").astype(np.float64)
    ids = torch.from_numpy(rd(d, "ids.i32", "<i4").astype(np.int64))
    labels = torch.from_numpy(rd(d, "labels.i32", "<i4").astype(np.int64))
    model = build_model(p)
    r = int(p["lora_r"])
    if r > 0:
        from peft import LoraConfig, get_peft_model
        mods = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        targets = [m for i, m in enumerate(mods) if int(p["lora_targets"]) >> i & 1]
        lc = LoraConfig(r=r, lora_alpha=p["lora_alpha"], lora_dropout=0.0, target_modules=targets,
                        use_rslora=bool(int(p["rslora"])), bias="none", task_type="CAUSAL_LM")
        model = get_peft_model(model, lc)
    params = {canon(n): t for n, t in model.named_parameters()}
    off = 0
    order = []
    with torch.no_grad():
        for name, rows, cols in names:
            rows, cols = int(rows), int(cols)
            cnt = rows * max(cols, 1)
            t = params[name]
            t.copy_(torch.from_numpy(w_all[off:off + cnt]).reshape(t.shape))
            off += cnt
            order.append(name)
    for t in params.values():
        t.requires_grad_(True)
    inner = model.base_model.model if r > 0 else model
    h = inner.model(input_ids=ids[None]).last_hidden_state
    logits = inner.lm_head(h)[0]
    loss_sum = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100, reduction="sum")
    (loss_sum * p["grad_scale"]).backward()
    wr(d, "loss", loss_sum.reshape(1))
    grads = [params[n].grad.reshape(-1) if params[n].grad is not None
             else torch.zeros(params[n].numel(), dtype=torch.float64) for n in order]
    wr(d, "g_all", torch.cat(grads))
    wr(d, "logits", logits.reshape(-1))


def main():
    op, d = sys.argv[1], sys.argv[2]
    p = {}
    with open(os.path.join(d, "params.txt")) as f:
        for line in f:
            k, v = line.split()
            p[k] = float(v)
    ops = {"attn_bwd": op_attn_bwd, "model_grads": op_model_grads}
    ops.update(OPS_EXTRA)
    ops[op](d, p)


def op_schedules(d, p):
    """transformers' schedulers: lr multiplier at steps 0..total-1."""
    from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                              get_linear_schedule_with_warmup)
    total, warm = int(p["total"]), int(p["warmup"])
    out = []
    for kind in ("constant", "linear", "cosine"):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        if kind == "constant":
            s = get_constant_schedule_with_warmup(opt, warm)
        elif kind == "linear":
            s = get_linear_schedule_with_warmup(opt, warm, total)
        else:
            s = get_cosine_schedule_with_warmup(opt, warm, total)
        for _ in range(total):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
    wr(d, "lr", torch.tensor(out))


OPS_EXTRA = {"schedules": op_schedules}


if __name__ == "__main__":
    main()

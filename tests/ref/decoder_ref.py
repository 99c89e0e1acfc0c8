"""PyTorch references for the backward pieces of the generic decoders (MPT,
GPT-NeoX, BioGPT), run by tests/unit/test_decoder_grads.c through pyref.
Computed in float64 with autograd, so a difference measures the C code's error.

ops:
  attn_alibi_bwd  causal GQA attention with transformers' MPT ALiBi tensor, backward
  gelu_bwd        d/dx of F.gelu (erf) and of F.gelu(approximate="tanh")
  make_model      a random MptForCausalLM / GPTNeoXForCausalLM / BioGptForCausalLM
                  saved with save_pretrained in <dir>/model; MPT variants 2 and
                  3 are saved in <dir>/model as mosaic_gpt (OpenFlamingo-3B's
                  MPT-1B format) with attn_qk_ln (3: LayerNorm biases and
                  attn_clip_qkv too), the transformers model in <dir>/hf;
                  variant 4 is a transformers MPT with attn_config.clip_qkv
  model_grads     that model in float64 with iris's f32 weights: the loss and
                  every parameter's gradient by autograd, in iris's order
                  (mosaic_gpt: transformers' MPT with torch LayerNorms hooked
                  onto Wqkv's output, after the clamp, where mosaic_gpt's
                  attention puts them: transformers' MPT has no QK LayerNorm)
  lora_grads      the same through peft (get_peft_model, every linear of the
                  layers targeted by PEFT's names, r / alpha / rsLoRA /
                  layers_to_transform from params): iris's names map to peft's
                  (base_model.model. + .base_layer / .default), and the loss
                  and the LoRA matrices' gradients come back in iris's order
"""
import json
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
# MPT variants: the mosaic_gpt ones (QK LayerNorm) and their clip_qkv (0: none)
MOSAIC = {2: 0.0, 3: 1.0}
CLIP = 1.0  # q, k, v entries are about N(0, 1) here: a third of them clamped

# transformers' MPT name -> mosaic_gpt name
RENAMES = [(".norm_1.", ".ln_1."), (".norm_2.", ".ln_2."), (".ffn.up_proj.", ".mlp.mlp_up."),
           (".ffn.down_proj.", ".mlp.mlp_down."), ("transformer.norm_f.", "transformer.ln_f.")]


def mosaic_name(name):
    for a, b in RENAMES:
        name = name.replace(a, b)
    return name


def is_mosaic(p):
    return ARCHS[int(p["arch"])] == "mpt" and int(p["variant"]) in MOSAIC


def add_qk_ln(model, bias, clip):
    """mosaic_gpt's attention on transformers' MPT: q_ln / k_ln LayerNorms
    (submodules of attn, so they are parameters named as mosaic_gpt names
    them) over the whole width of q and of k, after the clamp, applied by a
    forward hook on Wqkv; the clamp moves into the hook (transformers clamps
    after Wqkv returns, which would put it after the LayerNorm).  The hooks
    go on whatever attn.Wqkv is when called: after peft wrapped it, its
    output includes the adapter's, as in mosaic_gpt."""
    d = model.config.d_model
    for blk in model.transformer.blocks:
        blk.attn.clip_qkv = None
        for part in ("q_ln", "k_ln"):
            ln = torch.nn.LayerNorm(d, eps=1e-5)
            if not bias:
                ln.register_parameter("bias", None)
            setattr(blk.attn, part, ln)

        def hook(_mod, _inp, out, attn=blk.attn):
            if clip:
                out = out.clamp(-clip, clip)
            q, k, v = out.chunk(3, dim=-1)
            return torch.cat([attn.q_ln(q), attn.k_ln(k), v], dim=-1)
        blk.attn.Wqkv.register_forward_hook(hook)


def save_mosaic(model, out_dir, clip, bias, g):
    """model's weights under mosaic_gpt's names (no lm_head: the format reads
    out through wte) plus random q_ln / k_ln, and a MosaicGPTConfig."""
    from safetensors.torch import save_file
    c = model.config
    sd = {mosaic_name(k): v.detach().clone().contiguous() for k, v in model.state_dict().items()
          if k != "lm_head.weight"}
    for i in range(c.n_layers):
        for part in ("q_ln", "k_ln"):
            sd[f"transformer.blocks.{i}.attn.{part}.weight"] = 1.0 + 0.2 * torch.randn(c.d_model, generator=g)
            if bias:
                sd[f"transformer.blocks.{i}.attn.{part}.bias"] = 0.1 * torch.randn(c.d_model, generator=g)
    os.makedirs(out_dir, exist_ok=True)
    save_file({k: v.float().contiguous() for k, v in sd.items()}, os.path.join(out_dir, "model.safetensors"))
    cfg = {"model_type": "mosaic_gpt", "architectures": ["MosaicGPT"], "d_model": c.d_model,
           "n_heads": c.n_heads, "n_layers": c.n_layers, "mlp_ratio": c.expansion_ratio,
           "max_seq_len": c.max_seq_len, "vocab_size": c.vocab_size, "alibi": True, "alibi_bias_max": 8,
           "attn_clip_qkv": clip or None, "attn_qk_ln": True, "softmax_scale": None, "no_bias": True,
           "logit_scale": None, "prefix_lm": False}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f)


def op_make_model(d, p):
    import transformers as tf
    arch, variant = ARCHS[int(p["arch"])], int(p["variant"])
    vocab = int(p["vocab"])
    if arch == "mpt":
        heads = 6 if variant in (1, 3) else 4
        attn = {"clip_qkv": CLIP} if variant == 4 else {}
        cfg = tf.MptConfig(d_model=16 * heads, n_heads=heads, n_layers=2, max_seq_len=64, vocab_size=vocab,
                           tie_word_embeddings=variant != 1, attn_config=attn)
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
    if is_mosaic(p):
        model.save_pretrained(os.path.join(d, "hf"), safe_serialization=True)
        save_mosaic(model, os.path.join(d, "model"), MOSAIC[variant], variant == 3, g)
    else:
        model.save_pretrained(os.path.join(d, "model"), safe_serialization=True)


def load_reference(d, p):
    """The float64 transformers model make_model saved (for mosaic_gpt, the
    transformers twin: hook_mosaic adds the rest)."""
    import transformers as tf
    return tf.AutoModelForCausalLM.from_pretrained(os.path.join(d, "hf" if is_mosaic(p) else "model"),
                                                   torch_dtype=torch.float64, attn_implementation="eager")


def hook_mosaic(model, p):
    """mosaic_gpt's QK LayerNorm (and clamp) on the variants that have them."""
    if is_mosaic(p):
        variant = int(p["variant"])
        add_qk_ln(model, variant == 3, MOSAIC[variant])


def op_model_grads(d, p):
    # transformers' mask helpers fill with finfo(float64).min: torch 1.13 wants float64 as default then
    torch.set_default_dtype(torch.float64)
    names = [ln.split()[0] for ln in open(os.path.join(d, "names.bin")).read().splitlines() if ln]
    w_all = np.fromfile(os.path.join(d, "w_all.f32"), dtype="<f4").astype(np.float64)
    ids = torch.from_numpy(np.fromfile(os.path.join(d, "ids.i32"), dtype="<i4").astype(np.int64))
    labels = torch.from_numpy(np.fromfile(os.path.join(d, "labels.i32"), dtype="<i4").astype(np.int64))
    model = load_reference(d, p)
    hook_mosaic(model, p)
    params = {mosaic_name(n) if is_mosaic(p) else n: t for n, t in model.named_parameters()}
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
    from peft import LoraConfig, get_peft_model
    torch.set_default_dtype(torch.float64)
    names = [ln.split()[0] for ln in open(os.path.join(d, "names.bin")).read().splitlines() if ln]
    w_all = np.fromfile(os.path.join(d, "w_all.f32"), dtype="<f4").astype(np.float64)
    ids = torch.from_numpy(np.fromfile(os.path.join(d, "ids.i32"), dtype="<i4").astype(np.int64))
    labels = torch.from_numpy(np.fromfile(os.path.join(d, "labels.i32"), dtype="<i4").astype(np.int64))
    model = load_reference(d, p)
    arch = ARCHS[int(p["arch"])]
    layer = int(p["layer"])
    lc = LoraConfig(r=int(p["r"]), lora_alpha=p["alpha"], use_rslora=bool(p["rslora"]), lora_dropout=0.0,
                    target_modules=LORA_TARGETS[arch], layers_to_transform=[layer] if layer >= 0 else None,
                    layers_pattern=("blocks" if arch == "mpt" else "layers") if layer >= 0 else None)
    pm = get_peft_model(model, lc)
    hook_mosaic(pm.base_model.model, p)  # after peft: Wqkv's output includes the adapter's
    # peft's name -> iris's (the checkpoint's) name
    params = {n.replace("base_model.model.", "", 1).replace(".base_layer", "").replace(".default", ""): t
              for n, t in pm.named_parameters()}
    if is_mosaic(p):
        params = {mosaic_name(n): t for n, t in params.items()}
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

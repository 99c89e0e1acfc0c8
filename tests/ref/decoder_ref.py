"""PyTorch references for the backward pieces of the generic decoders (MPT,
GPT-NeoX, BioGPT), run by tests/unit/test_decoder_grads.c through pyref.
Computed in float64 with autograd, so a difference measures the C code's error.

ops:
  attn_alibi_bwd  causal GQA attention with transformers' MPT ALiBi tensor, backward
  gelu_bwd        d/dx of F.gelu (erf) and of F.gelu(approximate="tanh")
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


def main():
    op, d = sys.argv[1], sys.argv[2]
    p = {}
    if os.path.exists(os.path.join(d, "params.txt")):
        with open(os.path.join(d, "params.txt")) as f:
            for line in f:
                k, v = line.split()
                p[k] = float(v)
    {"attn_alibi_bwd": op_attn_alibi_bwd, "gelu_bwd": op_gelu_bwd}[op](d, p)


if __name__ == "__main__":
    main()

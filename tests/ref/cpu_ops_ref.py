"""PyTorch reference for the CPU backend's ops (tests/unit/test_cpu_ops.c).

Usage: cpu_ops_ref.py <op> <dir>.  The C test wrote, for each case i in
range(params["cases"]), parameters "c<i>_<name>" in params.txt and arrays
c<i>_<name>.{f32,i32,bin}; this writes c<i>_<output>.f32.  Everything is
computed in float64 so the measured difference is the C code's own error.
Weights arrive as their raw bytes plus a dtype code (tensor.h's iris_dtype)
and are decoded here independently of the C conversions.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

F32, F16, BF16, I32, Q8_0 = 0, 1, 2, 3, 4


class Case:
    def __init__(self, d, params, i):
        self.d, self.params, self.pre = d, params, f"c{i}_"

    def p(self, name):
        return self.params[self.pre + name]

    def i(self, name):
        return int(self.p(name))

    def has(self, name):
        return self.pre + name in self.params

    def f32(self, name, shape=None):
        a = np.fromfile(os.path.join(self.d, self.pre + name + ".f32"), dtype="<f4")
        t = torch.from_numpy(a.astype(np.float64))
        return t.reshape(shape) if shape is not None else t

    def i32(self, name):
        a = np.fromfile(os.path.join(self.d, self.pre + name + ".i32"), dtype="<i4")
        return torch.from_numpy(a.astype(np.int64))

    def weight(self, name, rows, cols):
        raw = np.fromfile(os.path.join(self.d, self.pre + name + ".bin"), dtype=np.uint8)
        dt = self.i(name + "_dtype")
        if dt == F32:
            w = raw.view("<f4").astype(np.float64)
        elif dt == F16:
            w = raw.view("<f2").astype(np.float64)
        elif dt == BF16:
            w = (raw.view("<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
        elif dt == Q8_0:
            blocks = raw.reshape(-1, 34)
            scale = blocks[:, :2].copy().view("<f2").astype(np.float64)
            quants = blocks[:, 2:].copy().view(np.int8).astype(np.float64)
            w = (scale * quants).reshape(-1)
        else:
            raise ValueError(f"dtype {dt}")
        return torch.from_numpy(w.reshape(rows, cols).copy())

    def out(self, name, t):
        t.detach().to(torch.float32).numpy().astype("<f4").tofile(
            os.path.join(self.d, self.pre + name + ".f32"))


def op_linear(c):
    n, k, m = c.i("n"), c.i("k"), c.i("m")
    x = c.f32("x", (n, k))
    w = c.weight("w", m, k)
    b = c.f32("b") if c.i("has_bias") else None
    c.out("y", F.linear(x, w, b))


def op_gemm(c):
    ta, tb, m, n, k = (c.i(s) for s in ("ta", "tb", "m", "n", "k"))
    lda, ldb, ldc = c.i("lda"), c.i("ldb"), c.i("ldc")
    sa, sb, sc, batch = c.i("sa"), c.i("sb"), c.i("sc"), c.i("batch")
    alpha, beta = c.p("alpha"), c.p("beta")
    a, b, cc = c.f32("a"), c.f32("b"), c.f32("c").clone()

    def mat(buf, off, rows, cols, ld):
        return torch.stack([buf[off + r * ld: off + r * ld + cols] for r in range(rows)])

    for i in range(batch):
        A = mat(a, i * sa, k, m, lda).T if ta else mat(a, i * sa, m, k, lda)
        B = mat(b, i * sb, n, k, ldb).T if tb else mat(b, i * sb, k, n, ldb)
        C = mat(cc, i * sc, m, n, ldc)
        R = alpha * (A @ B) + (beta * C if beta != 0 else 0)
        for r in range(m):
            cc[i * sc + r * ldc: i * sc + r * ldc + n] = R[r]
    c.out("c", cc)


def op_rmsnorm(c):
    n, d = c.i("n"), c.i("d")
    x = c.f32("x", (n, d))
    w = c.weight("w", 1, d)[0]
    if c.i("add_one"):
        w = 1.0 + w   # Gemma's RMSNorm scales by (1 + weight)
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c.p("eps")) * w
    c.out("y", y)


def op_layernorm(c):
    n, d = c.i("n"), c.i("d")
    x = c.f32("x", (n, d))
    w = c.weight("w", 1, d)[0] if c.i("has_w") else None
    b = c.weight("b", 1, d)[0] if c.i("has_b") else None
    c.out("y", F.layer_norm(x, (d,), w, b, c.p("eps")))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def op_rope(c):
    n, nh, hd, rot = c.i("n"), c.i("n_heads"), c.i("head_dim"), c.i("rot_dim")
    x = c.f32("x", (n, nh, hd))
    pos = c.i32("pos").to(torch.float64) * c.p("pos_scale")
    inv_freq = 1.0 / (c.p("theta") ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    freqs = pos[:, None] * inv_freq[None, :]            # [n, rot/2]
    xr, rest = x[..., :rot], x[..., rot:]
    if c.i("interleaved"):
        # GGUF llama: pairs (x[2j], x[2j+1]) rotate by angle j
        cos, sin = freqs.cos()[:, None, :], freqs.sin()[:, None, :]
        a, b = xr[..., 0::2], xr[..., 1::2]
        out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).reshape(xr.shape)
    else:
        emb = torch.cat((freqs, freqs), dim=-1)          # HF: rotate halves
        out = xr * emb.cos()[:, None, :] + rotate_half(xr) * emb.sin()[:, None, :]
    c.out("x", torch.cat((out, rest), dim=-1))


def alibi_slopes(n_heads, max_bias):
    # BLOOM's geometric slopes generalised to max_bias (MPT's alibi_bias_max)
    p = 2 ** math.floor(math.log2(n_heads))
    m0, m1 = 2.0 ** (-max_bias / p), 2.0 ** (-max_bias / (2 * p))
    s = [m0 ** (h + 1) for h in range(p)]
    s += [m1 ** (2 * j + 1) for j in range(n_heads - p)]
    return torch.tensor(s, dtype=torch.float64)


def op_attention(c):
    nq, pos0, nkv, stride = c.i("n_q"), c.i("q_pos0"), c.i("n_kv"), c.i("kv_stride")
    nh, nkvh, hd = c.i("n_heads"), c.i("n_kv_heads"), c.i("head_dim")
    q = c.f32("q", (nq, nh, hd)).transpose(0, 1)                      # [h, nq, hd]
    k = c.f32("k", (nkv, stride))[:, :nkvh * hd].reshape(nkv, nkvh, hd).transpose(0, 1)
    v = c.f32("v", (nkv, stride))[:, :nkvh * hd].reshape(nkv, nkvh, hd).transpose(0, 1)
    k = k.repeat_interleave(nh // nkvh, dim=0)                        # HF repeat_kv
    v = v.repeat_interleave(nh // nkvh, dim=0)
    scores = (q @ k.transpose(1, 2)) * c.p("scale")                   # [h, nq, nkv]
    qpos = torch.arange(nq, dtype=torch.float64) + pos0
    kpos = torch.arange(nkv, dtype=torch.float64)
    if c.p("alibi") > 0:
        slopes = alibi_slopes(nh, c.p("alibi"))
        scores = scores + slopes[:, None, None] * (kpos[None, :] - qpos[:, None])[None]
    if c.i("causal"):
        mask = kpos[None, :] > qpos[:, None]
        scores = scores.masked_fill(mask[None], float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v                           # [h, nq, hd]
    c.out("out", out.transpose(0, 1).reshape(nq, nh * hd))


def op_eltwise(c):
    a, b, s = c.f32("a"), c.f32("b"), c.p("s")
    rows = c.i("rows")
    c.out("add", a + b)
    c.out("scale", s * a)
    c.out("swiglu", F.silu(a) * b)
    c.out("geglu", F.gelu(a, approximate="tanh") * b)
    c.out("gelu", F.gelu(a))
    c.out("gelu_tanh", F.gelu(a, approximate="tanh"))
    c.out("quick_gelu", a * torch.sigmoid(1.702 * a))
    c.out("silu", F.silu(a))
    c.out("softmax", torch.softmax(c.f32("sm").reshape(rows, -1), dim=-1))


def op_embedding(c):
    rows, d = c.i("rows"), c.i("d")
    table = c.weight("table", rows, d)
    c.out("y", F.embedding(c.i32("ids"), table) * c.p("scale"))


def main():
    op, d = sys.argv[1], sys.argv[2]
    params = {}
    with open(os.path.join(d, "params.txt")) as f:
        for line in f:
            name, value = line.split()
            params[name] = float(value)
    fn = globals()["op_" + op]
    for i in range(int(params["cases"])):
        fn(Case(d, params, i))


if __name__ == "__main__":
    main()

"""PyTorch reference for the training ops (tests/unit/test_cpu_train.c).

Usage: cpu_train_ref.py <op> <dir>.  The C test wrote params.txt ("name value"
lines) and arrays for each case i in range(params["cases"]) as c<i>_<name>.f32
/ .i32 (parameters c<i>_<name>); this writes the case's outputs the same way.
One run serves all cases because starting torch costs seconds.  Gradients come from torch autograd in float64 (the measured difference
is the C code's own error); AdamW is torch.optim.AdamW itself; sampling follows
the rule stated in model/core/backend_train.h, by sorting.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

D = None
P = {}
PRE = ""  # "c<i>_" of the case being computed


def f32(name, shape=None):
    a = np.fromfile(os.path.join(D, PRE + name + ".f32"), dtype="<f4").astype(np.float64)
    t = torch.from_numpy(a)
    return t.reshape(shape) if shape is not None else t


def i32(name):
    return torch.from_numpy(np.fromfile(os.path.join(D, PRE + name + ".i32"), dtype="<i4").astype(np.int64))


def out(name, t):
    t.detach().reshape(-1).to(torch.float32).numpy().astype("<f4").tofile(os.path.join(D, PRE + name + ".f32"))


def out_i32(name, values):
    np.asarray(values, dtype="<i4").tofile(os.path.join(D, PRE + name + ".i32"))


def p(name):
    return P[PRE + name]


def i(name):
    return int(P[PRE + name])


def op_rmsnorm_backward():
    n, d = i("n"), i("d")
    x = f32("x", (n, d)).requires_grad_()
    w = f32("w").requires_grad_()
    scale = 1 + w if i("add_one") else w
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + p("eps")) * scale
    y.backward(f32("dy", (n, d)))
    out("dx", x.grad)
    out("dw", f32("dw0") + w.grad)


def op_layernorm_backward():
    n, d = i("n"), i("d")
    x = f32("x", (n, d)).requires_grad_()
    w = f32("w").requires_grad_() if i("has_w") else None
    b = f32("b").requires_grad_() if i("has_b") else None
    y = F.layer_norm(x, (d,), w, b, p("eps"))
    y.backward(f32("dy", (n, d)))
    out("dx", x.grad)
    if w is not None:
        out("dw", f32("dw0") + w.grad)
    if b is not None:
        out("db", f32("db0") + b.grad)


def rope(x, pos, heads, hd, rot, theta, pos_scale, interleaved):
    n = x.shape[0]
    x = x.reshape(n, heads, hd)
    half = rot // 2
    j = torch.arange(half, dtype=torch.float64)
    ang = (pos.to(torch.float64) * pos_scale)[:, None] * theta ** (-2.0 * j / rot)
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    if interleaved:
        a, b = x[..., 0:rot:2], x[..., 1:rot:2]
        ra, rb = a * c - b * s, a * s + b * c
        r = torch.stack((ra, rb), dim=-1).reshape(n, heads, rot)
    else:
        a, b = x[..., :half], x[..., half:rot]
        r = torch.cat((a * c - b * s, a * s + b * c), dim=-1)
    return torch.cat((r, x[..., rot:]), dim=-1).reshape(n, heads * hd)


def op_rope_backward():
    n, heads, hd = i("n"), i("heads"), i("hd")
    x = f32("x", (n, heads * hd)).requires_grad_()
    y = rope(x, i32("pos"), heads, hd, i("rot"), p("theta"), p("pos_scale"), i("interleaved"))
    y.backward(f32("dy", (n, heads * hd)))
    out("dx", x.grad)


def glu_backward(act):
    g = f32("g").requires_grad_()
    u = f32("u").requires_grad_()
    (act(g) * u).backward(f32("dy"))
    out("dg", g.grad)
    out("du", u.grad)


def op_swiglu_backward():
    glu_backward(F.silu)


def op_geglu_backward():
    glu_backward(lambda g: F.gelu(g, approximate="tanh"))


def op_cross_attention_backward():
    nq, nkv, h, hkv, hd = i("nq"), i("nkv"), i("h"), i("hkv"), i("hd")
    q = f32("q", (nq, h, hd)).requires_grad_()
    k = f32("k", (nkv, hkv, hd)).requires_grad_()
    v = f32("v", (nkv, hkv, hd)).requires_grad_()
    rep = h // hkv
    s = torch.einsum("ihd,jhd->hij", q, k.repeat_interleave(rep, dim=1)) * p("scale")
    o = torch.einsum("hij,jhd->ihd", s.softmax(-1), v.repeat_interleave(rep, dim=1))
    o.backward(f32("dout", (nq, h, hd)))
    out("dq", q.grad)
    out("dk", k.grad)
    out("dv", v.grad)


def op_embedding_backward():
    n, d, vocab = i("n"), i("d"), i("vocab")
    table = torch.zeros(vocab, d, dtype=torch.float64, requires_grad=True)
    y = F.embedding(i32("ids"), table) * p("scale")
    y.backward(f32("dy", (n, d)))
    out("dtable", f32("dtable0", (vocab, d)) + table.grad)


def op_cross_entropy():
    n, v = i("n"), i("v")
    logits = f32("logits", (n, v)).requires_grad_()
    loss = F.cross_entropy(logits, i32("targets"), reduction="none", ignore_index=-100)
    (loss.sum() * p("grad_scale")).backward()
    out("loss", loss)
    out("dlogits", logits.grad)


def op_adamw():
    n, steps = i("n"), i("steps")
    param = f32("p0").clone().requires_grad_()
    opt = torch.optim.AdamW([param], lr=p("lr"), betas=(p("beta1"), p("beta2")), eps=p("eps"),
                            weight_decay=p("wd"))
    grads = f32("grads", (steps, n))
    for s in range(steps):
        param.grad = grads[s].clone()
        opt.step()
    st = opt.state[param]
    out("p", param)
    out("m", st["exp_avg"])
    out("v", st["exp_avg_sq"])


def splitmix_uniform(seed):
    m = (1 << 64) - 1
    z = (seed + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    return (z >> 11) * (1.0 / 9007199254740992.0)


def op_sample():
    v, draws = i("v"), i("draws")
    logits = f32("logits").numpy()
    t, top_k, top_p = p("temperature"), i("top_k"), p("top_p")
    z = logits / t
    prob = np.exp(z - z.max())
    prob /= prob.sum()
    order = sorted(range(v), key=lambda j: (-prob[j], j))
    r = v
    if 0 < top_k < v:
        r = top_k
    if top_p < 1.0:
        cum = np.cumsum(prob[order])
        r_p = int(np.searchsorted(cum, top_p) + 1)  # fewest tokens summing to >= top_p
        r = min(r, max(1, min(r_p, v)))
    th = prob[order[r - 1]]
    kept = prob >= th
    mass = prob[kept].sum()
    ids = []
    for s in range(draws):
        target = splitmix_uniform(i("seed") + s) * mass
        run, chosen = 0.0, int(np.nonzero(kept)[0][-1])
        for j in np.nonzero(kept)[0]:
            run += prob[j]
            if run > target:
                chosen = int(j)
                break
        ids.append(chosen)
    out_i32("ids", ids)


def main():
    global D, PRE
    op, D = sys.argv[1], sys.argv[2]
    with open(os.path.join(D, "params.txt")) as f:
        for line in f:
            name, value = line.split()
            P[name] = float(value)
    fn = globals()["op_" + op]
    for c in range(int(P["cases"])):
        PRE = f"c{c}_"
        fn()


if __name__ == "__main__":
    main()

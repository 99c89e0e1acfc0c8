"""open_flamingo references for the OpenFlamingo modules
(tests/unit/test_flamingo_modules.c).

Usage: flamingo_ref.py <op> <dir>; params.txt holds "name value" lines.  The
module is open_flamingo's own (open_flamingo/src/helpers.py, loaded as a file:
the package's __init__ pulls open_clip and FSDP), built at the configuration
the C test asked for with random weights spread so that every op shows
(LayerNorms away from identity, gates away from 0).  It writes:
  weights.safetensors  the module's state_dict (f32) under the checkpoint
                       prefix ("perceiver." / "lang_encoder.gated_cross_attn_layers.3.")
  grads.safetensors    d(sum(y * dy))/d(parameter), same names
  <input>.f32, dy.f32  the inputs and the upstream gradient
  y.f32, d<input>.f32  the output and the inputs' gradients
The reference runs in float64 on the f32-rounded weights and inputs, so a
difference measures the C code's own error.

ops:
  perceiver  PerceiverResampler on x [1, T, F, v, D]
  xattn      GatedCrossAttentionBlock on text x [1, n, D], media [1, T, L, Dv]
             and media_locations (the int32 file "locs", 1 = <image> token);
             cached = 1 runs it with use_cached_media=True
"""
import importlib.util
import os
import sys
import sysconfig

import numpy as np
import torch
from safetensors.torch import save_file

D = None
P = {}


def helpers():
    base = sysconfig.get_paths()["purelib"]
    path = os.path.join(base, "open_flamingo", "src", "helpers.py")
    spec = importlib.util.spec_from_file_location("open_flamingo_helpers", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def i(name):
    return int(P[name])


def rand(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float().double()


def wr(name, t):
    np.asarray(t.detach().reshape(-1).float().numpy(), dtype="<f4").tofile(os.path.join(D, name + ".f32"))


def spread(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("gate"):
                p.copy_(torch.empty_like(p).uniform_(0.3, 1.2) * (1 if torch.rand(()) < 0.5 else -1))
            elif p.ndim == 1 and name.endswith("weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif p.ndim == 1:
                p.copy_(0.3 * torch.randn_like(p))
            elif "latents" in name or "embs" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / p.shape[-1] ** 0.5)
            p.copy_(p.float().double())   # what the f32 file holds


def save(module, prefix):
    sd = {prefix + k: v.float().contiguous() for k, v in module.state_dict().items()}
    save_file(sd, os.path.join(D, "weights.safetensors"))
    grads = {prefix + k: p.grad.float().contiguous() for k, p in module.named_parameters()}
    save_file(grads, os.path.join(D, "grads.safetensors"))


def op_perceiver(h):
    dim, T, F, v = i("dim"), i("T"), i("F"), i("v")
    m = h.PerceiverResampler(dim=dim, depth=i("depth"), dim_head=i("dim_head"), heads=i("heads"),
                             num_latents=i("latents"), ff_mult=i("ff_mult"),
                             max_num_media=i("max_media") or None,
                             max_num_frames=i("max_frames") or None).double()
    spread(m)
    x = rand(1, T, F, v, dim, scale=2.0).requires_grad_()
    y = m(x)
    dy = rand(*y.shape)
    y.backward(dy)
    save(m, P_prefix)
    wr("x", x), wr("dy", dy), wr("y", y), wr("dx", x.grad)


def op_xattn(h):
    dim, dv, n, T, L = i("dim"), i("dim_visual"), i("n"), i("T"), i("L")
    m = h.GatedCrossAttentionBlock(dim=dim, dim_visual=dv, dim_head=i("dim_head"), heads=i("heads"),
                                   ff_mult=i("ff_mult")).double()
    spread(m)
    locs = torch.from_numpy(np.fromfile(os.path.join(D, "locs.i32"), dtype="<i4").astype(np.int64))
    locs = locs.reshape(1, n).bool()
    x = rand(1, n, dim).requires_grad_()
    media = rand(1, T, L, dv, scale=1.5).requires_grad_()
    y = m(x, media, media_locations=locs, use_cached_media=bool(i("cached")))
    # The gates' gradients are dot products over every element (<dy, ff(x1)>,
    # <dx1, attn>); with a purely random dy they can cancel to near 0, where no
    # f32 code keeps 1e-4 relative.  y contains both terms (times the gates),
    # so adding it keeps the dot products away from 0.
    dy = (rand(*y.shape) + y.detach()).float().double()
    y.backward(dy)
    save(m, P_prefix)
    wr("x", x), wr("media", media), wr("dy", dy), wr("y", y)
    wr("dx", x.grad), wr("dmedia", media.grad)


P_prefix = ""


def main():
    global D, P_prefix
    op, D = sys.argv[1], sys.argv[2]
    with open(os.path.join(D, "params.txt")) as f:
        for line in f:
            name, value = line.split()
            P[name] = float(value)
    with open(os.path.join(D, "prefix.bin")) as f:
        P_prefix = f.read().strip()
    torch.manual_seed(i("seed"))
    globals()["op_" + op](helpers())


if __name__ == "__main__":
    main()

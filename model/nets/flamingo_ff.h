/* flamingo_ff.h — the feed-forward block OpenFlamingo uses in both the
 * perceiver resampler and the gated cross-attention blocks
 * (nn.Sequential(LayerNorm, Linear(d, d*mult, bias=False), GELU,
 * Linear(d*mult, d, bias=False)); checkpoint names `<prefix>.0.{weight,bias}`,
 * `<prefix>.1.weight`, `<prefix>.3.weight`).  GELU is the exact (erf) one.
 *
 * Contract: x, fn, h, g, y in backend memory; fn [n, dim] = LN(x),
 * h [n, hidden] = fn W1^T, g = gelu(h), y [n, dim] = g W2^T.  The
 * intermediates are what the backward pass (train/flamingo_ff_train.h) needs.
 */
#ifndef IRIS_FLAMINGO_FF_H
#define IRIS_FLAMINGO_FF_H

#include "../core/backend.h"

void iris_flamingo_ff_forward(const iris_backend *be, const iris_tensor *ln_w, const iris_tensor *ln_b,
                              const iris_tensor *w1, const iris_tensor *w2, const float *x, int n,
                              int dim, int hidden, float eps, float *fn, float *h, float *g, float *y);

#endif

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

/* Something training adds to a bias-free linear's output (a LoRA adapter):
 * called right after y = x W^T with the weight's slot number in its module
 * (the perceiver's or the cross-attention block's); fn NULL: nothing. */
typedef struct {
    void (*fn)(void *ctx, int slot, float *y, const float *x, int n);
    void *ctx;
} iris_lin_hook;

static inline void iris_lin_hook_call(const iris_lin_hook *h, int slot, float *y, const float *x, int n)
{
    if (h && h->fn) h->fn(h->ctx, slot, y, x, n);
}

void iris_flamingo_ff_forward(const iris_backend *be, const iris_tensor *ln_w, const iris_tensor *ln_b,
                              const iris_tensor *w1, const iris_tensor *w2, const float *x, int n,
                              int dim, int hidden, float eps, float *fn, float *h, float *g, float *y);
/* The same with hook hk after W1 (slot1) and W2 (slot2). */
void iris_flamingo_ff_forward_hooked(const iris_backend *be, const iris_tensor *ln_w, const iris_tensor *ln_b,
                                     const iris_tensor *w1, const iris_tensor *w2, const float *x, int n,
                                     int dim, int hidden, float eps, float *fn, float *h, float *g, float *y,
                                     const iris_lin_hook *hk, int slot1, int slot2);

#endif

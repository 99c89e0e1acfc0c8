/* flamingo_ff_train.h — backward of OpenFlamingo's feed-forward block
 * (nets/flamingo_ff.h: fn = LN(x), h = fn W1^T, g = gelu(h), y = g W2^T).
 *
 * Contract: dy [n, dim] is the gradient of y; x, fn, h, g are the forward's
 * tensors; weights are f32 (ln_w may be NULL: no scale).  Parameter
 * gradients accumulate (NULL: frozen); dx [n, dim] is written (=).  dh
 * [n, hidden] and dfn [n, dim] are scratch.  ops must have gelu_backward.
 */
#ifndef IRIS_FLAMINGO_FF_TRAIN_H
#define IRIS_FLAMINGO_FF_TRAIN_H

#include "core/backend.h"
#include "core/backend_train.h"
#include "train/lora_site.h"

typedef struct {
    const float *ln_w, *w1, *w2;
    float *g_ln_w, *g_ln_b, *g_w1, *g_w2;
    iris_lora_site *lora1, *lora2;   /* LoRA on W1 / W2, or NULL */
} iris_flamingo_ff_params;

void iris_flamingo_ff_backward(const iris_backend *be, const iris_train_ops *ops,
                               const iris_flamingo_ff_params *p, const float *dy, const float *x,
                               const float *fn, const float *h, const float *g, int n, int dim,
                               int hidden, float eps, float *dh, float *dfn, float *dx);

#endif

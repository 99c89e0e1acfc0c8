/* perceiver_train.h — the perceiver resampler (nets/perceiver.h) as trainable
 * f32 parameters: the forward pass keeps every layer's activations, the
 * backward pass accumulates parameter gradients and returns the gradient of
 * the media features.
 *
 * Contract:
 *  - init adds one parameter per tensor to s (named prefix + OpenFlamingo's
 *    name, e.g. "perceiver.layers.0.0.to_q.weight"; group IRIS_PG_PROJECTOR,
 *    the learning-rate group of the connector weights), filled from the
 *    lookup (any dtype) or zero when fn is NULL; all start frozen.  s must not
 *    be freed or grown past its capacity while p lives.
 *  - forward: as iris_perceiver_forward (x [T, F, v, D] -> y [T, L, D]).
 *  - backward: dy [T, L, D] of the last forward; gradients of trainable
 *    parameters ACCUMULATE; dx [T, F, v, D] (written, =) when non-NULL.
 *  - The backward ops come from ops (cross_attention_backward,
 *    gelu_backward, layernorm_backward); a table without them is an error at
 *    init.
 */
#ifndef IRIS_PERCEIVER_TRAIN_H
#define IRIS_PERCEIVER_TRAIN_H

#include "core/backend_train.h"
#include "nets/perceiver.h"
#include "train/lora_site.h"
#include "train/params.h"

typedef struct {
    iris_perceiver net;         /* bound to the parameters */
    iris_param_set *s;
    const iris_train_ops *ops;
    int *param;                 /* slot -> parameter index, -1 when absent */
    iris_perceiver_acts acts;
    float *dz, *dmid, *dtmp, *dh, *datt, *dq, *dkv, *dkvin, *dlatn, *dxn, *dx;
    iris_lora_site **lora;      /* slot -> LoRA adapter (the caller's), or NULL */
} iris_perceiver_train;

int iris_perceiver_train_init(iris_perceiver_train *p, iris_param_set *s, const iris_train_ops *ops,
                              const iris_perceiver_config *c, const char *prefix,
                              iris_tensor_lookup fn, void *ctx, int max_media, int media_rows);
void iris_perceiver_train_free(iris_perceiver_train *p);
/* Every perceiver parameter becomes trainable. */
int iris_perceiver_train_set_trainable(iris_perceiver_train *p);
/* Puts LoRA adapter ls (owned by the caller, outliving p) on projection slot
 * IRIS_PV_SLOT(l, IRIS_PV_TO_Q / _TO_KV / _TO_OUT / _FF_W1 / _FF_W2). */
void iris_perceiver_train_set_lora(iris_perceiver_train *p, int slot, iris_lora_site *ls);
int iris_perceiver_train_forward(iris_perceiver_train *p, const float *x, int n_media, int n_frames,
                                 int n_tokens, float *y);
int iris_perceiver_train_backward(iris_perceiver_train *p, const float *dy, float *dx);

#endif

/* xattn_train.h — a gated cross-attention block (nets/gated_xattn.h) as
 * trainable f32 parameters, forward keeping its activations and the backward
 * pass.
 *
 * Contract:
 *  - init adds the block's parameters to s (named prefix + OpenFlamingo's
 *    name, e.g. "lang_encoder.gated_cross_attn_layers.3.attn.to_kv.weight";
 *    group IRIS_PG_PROJECTOR, the connector weights' learning-rate group),
 *    filled from the lookup (any dtype) or zero when fn is NULL (so the gates
 *    start at 0 as OpenFlamingo initialises them); all start frozen.  s must
 *    not be freed or grown past its capacity while b lives.
 *  - forward: sets the media (its keys and values) and runs the block; the
 *    media buffer must stay unchanged until backward.
 *  - backward: dy [n, D] of the last forward; trainable parameter gradients
 *    ACCUMULATE; dx [n, D] is written (=) when non-NULL; dmedia
 *    [n_media * n_latents, Dv] ACCUMULATES when non-NULL (one perceiver
 *    output feeds every block, so their contributions add up).
 *  - ops must have cross_attention_backward, gelu_backward and
 *    layernorm_backward (checked at init).
 */
#ifndef IRIS_XATTN_TRAIN_H
#define IRIS_XATTN_TRAIN_H

#include "core/backend_train.h"
#include "nets/gated_xattn.h"
#include "train/lora_site.h"
#include "train/params.h"

typedef struct {
    iris_xattn net;             /* bound to the parameters */
    iris_param_set *s;
    const iris_train_ops *ops;
    int param[IRIS_XA_COUNT];
    iris_xattn_media media;
    iris_xattn_acts acts;
    float *ddo, *dx1, *dtmp, *dh, *dfn, *datt, *dq, *dkv, *scalar;
    iris_lora_site *lora[IRIS_XA_COUNT];   /* LoRA per weight slot (the caller's), or NULL */
} iris_xattn_train;

int iris_xattn_train_init(iris_xattn_train *b, iris_param_set *s, const iris_train_ops *ops,
                          const iris_xattn_config *c, const char *prefix, iris_tensor_lookup fn,
                          void *ctx, int max_text, int max_media, int n_latents);
void iris_xattn_train_free(iris_xattn_train *b);
int iris_xattn_train_set_trainable(iris_xattn_train *b);
/* Puts LoRA adapter ls (owned by the caller, outliving b) on weight slot
 * (IRIS_XA_TO_Q, _TO_KV, _TO_OUT, _FF_W1, _FF_W2): forward and backward
 * include it from then on. */
void iris_xattn_train_set_lora(iris_xattn_train *b, int slot, iris_lora_site *ls);
int iris_xattn_train_forward(iris_xattn_train *b, const float *text, int n, const float *media,
                             int n_media, const int32_t *text_time, float *y);
int iris_xattn_train_backward(iris_xattn_train *b, const float *dy, float *dx, float *dmedia);

#endif

/* gated_xattn.h — OpenFlamingo's gated cross-attention dense block, placed
 * before decoder layers so that text reads the perceiver's visual tokens:
 *
 *   x1 = x + tanh(attn_gate) * Wout attn(q = Wq LN_a(x), kv = Wkv media)
 *   y  = x1 + tanh(ff_gate) * W2 gelu(W1 LN_f(x1))
 *
 * Masking follows open_flamingo's MaskedCrossAttention with
 * only_attend_immediate_media: a text token's "time" is the number of
 * <image> tokens up to and including it (the cumulative sum of
 * media_locations); a token of time t > 0 attends only to the L latents of
 * image t, and a token of time 0 (text before any image) gets no attention
 * output at all (zero, so x1 = x).  With use_cached_media (decoding after the
 * prompt) every new token has the time of the last image: see
 * iris_xattn_text_time.  Gates start at 0 in a fresh model, which makes the
 * block the identity.
 *
 * Names are open_flamingo's (src/helpers.py) after a prefix that depends on
 * how the model was saved: a full state_dict has
 * "lang_encoder.gated_cross_attn_layers.N." (N = decoder layer; the blocks
 * sit before layers with (N + 1) % cross_attn_every_n_layers == 0), while the
 * released checkpoint.pt files keep the copy inside the wrapped decoder layer,
 * e.g. "lang_encoder.transformer.blocks.N.gated_cross_attn_layer." (MPT; other
 * decoders their own layer path).  The caller passes the prefix; the names
 * below follow it: attn.norm.{weight,bias},
 * attn.to_q.weight [H*dh, D], attn.to_kv.weight [2*H*dh, Dv] (K rows, then V),
 * attn.to_out.weight [D, H*dh], attn_gate [1], ff.0.{weight,bias},
 * ff.1.weight [D*mult, D], ff.3.weight [D, D*mult], ff_gate [1].
 *
 * Contract: the media's keys and values are computed once per image set
 * (iris_xattn_media_set) and serve every forward pass until the next set;
 * the media buffer must stay unchanged while they are used (the backward
 * pass reads it).  f32 buffers in backend memory; text_time is host memory.
 */
#ifndef IRIS_GATED_XATTN_H
#define IRIS_GATED_XATTN_H

#include <stddef.h>
#include <stdint.h>

#include "../core/backend.h"
#include "flamingo_ff.h"
#include "tensor_lookup.h"

typedef struct {
    int dim;            /* D: the language model's width */
    int dim_visual;     /* Dv: width of the media latents */
    int heads, dim_head;/* 8 x 64 */
    int ff_mult;        /* 4 */
    float eps;          /* LayerNorm eps (1e-5) */
} iris_xattn_config;

void iris_xattn_config_default(iris_xattn_config *c, int dim, int dim_visual);
/* Reads the sizes from the tensors under prefix; dim_head must be given. */
int iris_xattn_config_infer(iris_xattn_config *c, iris_tensor_lookup fn, void *ctx,
                            const char *prefix, int dim_head);

enum { IRIS_XA_NORM_W, IRIS_XA_NORM_B, IRIS_XA_TO_Q, IRIS_XA_TO_KV, IRIS_XA_TO_OUT,
       IRIS_XA_ATTN_GATE, IRIS_XA_FF_NORM_W, IRIS_XA_FF_NORM_B, IRIS_XA_FF_W1, IRIS_XA_FF_W2,
       IRIS_XA_FF_GATE, IRIS_XA_COUNT };

/* Name (prefix + OpenFlamingo's name) and shape of a slot; -1 when the name
 * does not fit in len. */
int iris_xattn_slot_info(const iris_xattn_config *c, int slot, const char *prefix, char *name,
                         size_t len, int *ndim, int64_t shape[2]);

typedef struct {
    iris_xattn_config cfg;
    const iris_backend *be;
    const iris_tensor *w[IRIS_XA_COUNT];
    iris_lin_hook hook;     /* training: LoRA after to_q / to_kv / to_out / ff (slot numbers); set after bind */
} iris_xattn;

int iris_xattn_bind(iris_xattn *x, const iris_xattn_config *c, const iris_backend *be,
                    iris_tensor_lookup fn, void *ctx, const char *prefix);

/* The media one block attends to: keys and values of n_media images of
 * n_latents rows each. */
typedef struct {
    const iris_backend *be;
    int max_media, n_latents, n_media;
    const float *media;     /* [n_media * n_latents, Dv], the caller's */
    float *kv;              /* [max_media * n_latents, 2*H*dh] */
} iris_xattn_media;

int iris_xattn_media_alloc(iris_xattn_media *m, const iris_xattn *x, int max_media, int n_latents);
void iris_xattn_media_free(iris_xattn_media *m);
/* Computes the keys and values of media [n_media, n_latents, Dv]. */
int iris_xattn_media_set(const iris_xattn *x, iris_xattn_media *m, const float *media, int n_media);
/* Grows the media to n_media images (>= m->n_media) computing the keys and
 * values of the new images only: for images encoded one at a time, where
 * iris_xattn_media_set would redo every earlier image each time.  media must
 * be the buffer already set (any buffer when none is) with its first
 * m->n_media images unchanged. */
int iris_xattn_media_append(const iris_xattn *x, iris_xattn_media *m, const float *media, int n_media);

/* time[i] = start + number of nonzero is_media[0..i] (OpenFlamingo's
 * media_locations.cumsum()).  is_media may be NULL (no <image> among these
 * tokens: every one gets start — the use_cached_media case, with start = the
 * number of images in the prompt). */
void iris_xattn_text_time(const int32_t *is_media, int n, int start, int32_t *time);

/* Activations of one forward pass over up to max_text tokens. */
typedef struct {
    const iris_backend *be;
    int max_text, n_text;
    float *x, *xn, *q, *att, *a, *x1, *fn, *h, *g, *o;   /* [n, D] / [n, H*dh] / [n, D*mult] */
    int32_t *time;          /* host copy of the last text_time */
    float gate_attn, gate_ff;   /* tanh of the gates as used */
} iris_xattn_acts;

int iris_xattn_acts_alloc(iris_xattn_acts *a, const iris_xattn *x, int max_text);
void iris_xattn_acts_free(iris_xattn_acts *a);

/* y[n, D] = block(text[n, D]) against m's media.  text_time[n] must be
 * non-decreasing (as a cumulative count is) and at most m->n_media.  y must
 * not alias text.  0 on success. */
int iris_xattn_forward(const iris_xattn *x, const iris_xattn_media *m, iris_xattn_acts *a,
                       const float *text, int n, const int32_t *text_time, float *y);

#endif

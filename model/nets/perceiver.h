/* perceiver.h — OpenFlamingo's perceiver resampler: a fixed number of learned
 * latents read the vision features of each image through cross-attention and
 * come out as that image's visual tokens for the gated cross-attention blocks.
 *
 *   x  = media features [T images, F frames, v tokens, D]
 *        (+ frame_embs[f] per frame, + media_time_embs[t] per image, when present)
 *   z0 = latents (the same [L, D] for every image)
 *   per layer:  z += Wout attn(q = Wq LN_l(z), kv = Wkv [LN_m(x_t); LN_l(z)])
 *               z += W2 gelu(W1 LN_f(z))
 *   y  = LN(z)                                     -> [T, L, D]
 * Attention is per image (over its F*v media rows and its own L latents), with
 * `heads` heads of `dim_head`, scale dim_head^-1/2, no mask, no biases in the
 * linears; the LayerNorms have weight and bias (eps 1e-5).  Every image is
 * independent of the others.
 *
 * Names are open_flamingo's (src/helpers.py, as its checkpoint.pt stores them
 * under "perceiver."): <prefix>latents [L, D], <prefix>frame_embs [max_frames, D],
 * <prefix>media_time_embs [max_media, 1, D], <prefix>norm.{weight,bias},
 * <prefix>layers.N.0.{norm_media,norm_latents}.{weight,bias},
 * <prefix>layers.N.0.to_q.weight [H*dh, D], .to_kv.weight [2*H*dh, D] (K rows
 * first, then V), .to_out.weight [D, H*dh], <prefix>layers.N.1.0.{weight,bias}
 * (feed-forward LayerNorm), .1.1.weight [D*mult, D], .1.3.weight [D, D*mult].
 *
 * Contract: tensors come through a lookup (tensor_lookup.h) and are checked
 * against the configured shapes when bound; inputs and outputs are f32 in
 * backend memory.  The activations a forward pass leaves in an
 * iris_perceiver_acts are what train/perceiver_train.h's backward reads.
 */
#ifndef IRIS_PERCEIVER_H
#define IRIS_PERCEIVER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/backend.h"
#include "flamingo_ff.h"
#include "tensor_lookup.h"

typedef struct {
    int dim;            /* D: width of the media features and of the latents */
    int depth;          /* layers (OpenFlamingo: 6) */
    int heads, dim_head;/* 8 x 64 */
    int n_latents;      /* L (64) */
    int ff_mult;        /* feed-forward width = dim * ff_mult (4) */
    int max_media;      /* rows of media_time_embs; 0: none (as OpenFlamingo builds it) */
    int max_frames;     /* rows of frame_embs; 0: none */
    float eps;          /* LayerNorm eps (1e-5) */
} iris_perceiver_config;

/* OpenFlamingo's sizes for media features of width dim. */
void iris_perceiver_config_default(iris_perceiver_config *c, int dim);
/* Reads dim, n_latents, depth, heads (inner width / dim_head), ff_mult and
 * the optional embeddings' sizes from the tensors under prefix; dim_head is
 * not stored in a checkpoint and must be given (OpenFlamingo: 64). */
int iris_perceiver_config_infer(iris_perceiver_config *c, iris_tensor_lookup fn, void *ctx,
                                const char *prefix, int dim_head);

/* Tensor slots: the global ones, then IRIS_PV_LAYER_COUNT per layer. */
enum { IRIS_PV_LATENTS, IRIS_PV_FRAME_EMBS, IRIS_PV_MEDIA_TIME_EMBS, IRIS_PV_NORM_W,
       IRIS_PV_NORM_B, IRIS_PV_GLOBAL_COUNT };
enum { IRIS_PV_NORM_MEDIA_W, IRIS_PV_NORM_MEDIA_B, IRIS_PV_NORM_LAT_W, IRIS_PV_NORM_LAT_B,
       IRIS_PV_TO_Q, IRIS_PV_TO_KV, IRIS_PV_TO_OUT, IRIS_PV_FF_NORM_W, IRIS_PV_FF_NORM_B,
       IRIS_PV_FF_W1, IRIS_PV_FF_W2, IRIS_PV_LAYER_COUNT };
#define IRIS_PV_SLOT(layer, s) (IRIS_PV_GLOBAL_COUNT + (layer) * IRIS_PV_LAYER_COUNT + (s))

int iris_perceiver_slot_count(const iris_perceiver_config *c);
/* Name (prefix + OpenFlamingo's name) and shape of a slot.  Returns 0 when
 * the slot exists in this configuration, 1 when it does not (embeddings not
 * configured), -1 when the name does not fit in len. */
int iris_perceiver_slot_info(const iris_perceiver_config *c, int slot, const char *prefix,
                             char *name, size_t len, int *ndim, int64_t shape[3]);

typedef struct {
    iris_perceiver_config cfg;
    const iris_backend *be;
    const iris_tensor **w;      /* slot -> tensor; NULL for an absent one */
    iris_tensor media_time_2d;  /* media_time_embs viewed as [max_media, D] */
    iris_lin_hook hook;         /* training: LoRA after each projection (slot IRIS_PV_SLOT(l, s)); set after bind */
} iris_perceiver;

/* Binds every tensor of c under prefix ("perceiver." for checkpoint.pt);
 * a missing or misshapen tensor is an error naming it. */
int iris_perceiver_bind(iris_perceiver *p, const iris_perceiver_config *c, const iris_backend *be,
                        iris_tensor_lookup fn, void *ctx, const char *prefix);
void iris_perceiver_unbind(iris_perceiver *p);

/* Activations of one layer (for up to max_media images of up to media_rows
 * F*v rows each). */
typedef struct {
    float *latn;   /* [T*L, D]       LN_l(z) */
    float *kvin;   /* [T*(M+L), D]   per image: LN_m(x_t) rows, then LN_l(z_t) rows */
    float *q;      /* [T*L, H*dh] */
    float *kv;     /* [T*(M+L), 2*H*dh] */
    float *att;    /* [T*L, H*dh]    attention output before to_out */
    float *mid;    /* [T*L, D]       z after the attention residual */
    float *fn, *h, *g; /* feed-forward: LN_f(mid) [T*L, D], W1 fn, gelu(h) [T*L, D*mult] */
} iris_perceiver_layer_acts;

typedef struct {
    const iris_backend *be;
    int max_media, media_rows, keep, n_sets, depth;
    int n_media, n_frames, n_rows;/* T, F and M = F*v of the last forward */
    float *x;                     /* [T*M, D] media after the embeddings */
    float **z;                    /* depth + 1 layer inputs [T*L, D] (z[depth]: before the final LN) */
    iris_perceiver_layer_acts *la;/* depth sets when keep, else one reused */
    float *tmp;                   /* [T*max(M, L), D] scratch */
    int32_t *ids;                 /* host [T*max(M, L)] row indices for table lookups */
} iris_perceiver_acts;

/* keep: hold every layer's activations (training) or reuse one set. */
int iris_perceiver_acts_alloc(iris_perceiver_acts *a, const iris_perceiver *p, int max_media,
                              int media_rows, int keep);
void iris_perceiver_acts_free(iris_perceiver_acts *a);
/* The activation set of layer l. */
iris_perceiver_layer_acts *iris_perceiver_layer(iris_perceiver_acts *a, int l);

/* y[T, L, D] = perceiver(x[T, F, v, D]); T <= the acts' max_media, F*v <= its
 * media_rows, F <= max_frames and T <= max_media when those embeddings exist.
 * x is copied; y may not alias anything in a.  0 on success. */
int iris_perceiver_forward(const iris_perceiver *p, iris_perceiver_acts *a, const float *x,
                           int n_media, int n_frames, int n_tokens, float *y);

#endif

/* clip_train.h — the CLIP / SigLIP vision tower (model/nets/clip.h) as
 * trainable f32 parameters: a forward pass over a batch of images that keeps
 * what the backward pass needs, and the backward pass from d(features) to
 * every tower parameter.
 *
 * Contract:
 *  - iris_clip_train_init copies the loaded tower's weights into parameters of
 *    the given set, named as in the checkpoint (the tower's probed prefix +
 *    HF stem, e.g. "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight";
 *    shapes as there: the patch conv [hidden, C, p, p], the class embedding [hidden]),
 *    frozen until iris_clip_train_set_trainable.  Only the layers up to the
 *    feature layer LLaVA reads (vision_feature_layer; -2 = all but the last)
 *    are copied, run and trained; later layers and post_layernorm are not
 *    (they do not influence the features).
 *  - Forward: pixels (host, max_images x [C, S, S], normalised) -> the selected
 *    hidden state of every image; with keep_class 0 the class row is dropped
 *    ("default" strategy), so each image gives n_feat = n_tokens - 1 rows.
 *  - Backward: d(features) of every image of the last forward (set with
 *    iris_clip_train_set_dfeatures; rows never set count as zero) ->
 *    gradients ACCUMULATED (+=) into every trainable tower parameter.
 *  - All buffers are allocated once at init for max_images: a step allocates
 *    nothing.  Matrix products go through the backend's gemm / linear over all
 *    images' rows at once; attention runs image by image.
 *  - Needs the training table's activation backward for the tower's act
 *    (NULL there: init fails naming the backend).
 */
#ifndef IRIS_TRAIN_CLIP_TRAIN_H
#define IRIS_TRAIN_CLIP_TRAIN_H

#include "core/backend.h"
#include "core/backend_train.h"
#include "nets/clip.h"
#include "train/params.h"

enum { CT_LN1_W = 0, CT_LN1_B, CT_Q_W, CT_Q_B, CT_K_W, CT_K_B, CT_V_W, CT_V_B, CT_O_W, CT_O_B,
       CT_LN2_W, CT_LN2_B, CT_FC1_W, CT_FC1_B, CT_FC2_W, CT_FC2_B, CT_COUNT };

typedef struct {
    float *h1, *q, *k, *v, *att, *xmid, *h2, *f1;   /* [rows, d] ([rows, f] for f1) */
} iris_ct_acts;

typedef struct iris_clip_train {
    iris_clip_config cfg;
    const iris_backend *be;
    const iris_train_ops *ops;
    char prefix[64];
    int n_run;          /* encoder layers run: the feature layer's index */
    int skip;           /* 1: the class row is not a feature */
    int n_tok, n_patch, cpp, max_images, n_images;
    int patch_w, patch_b, class_emb, pos_emb, pre_w, pre_b;   /* -1 when absent */
    int (*layers)[CT_COUNT];
    /* workspace (backend memory) */
    float *patches;     /* [max_images * n_patch, cpp] */
    float *x0;          /* embeddings before pre-LN [rows, d] */
    float **xs;         /* n_run + 1 layer inputs [rows, d] (xs[0] may be x0) */
    iris_ct_acts *acts; /* n_run sets */
    float *dcur, *dh, *datt, *dq, *dk, *dv, *df, *fa, *tmp, *ones;
    float *host;        /* host unfold buffer [n_patch, cpp] */
} iris_clip_train;

/* src: a loaded tower (CPU descriptors, any dtype).  feature_layer as
 * vision_feature_layer; keep_class: strategy "full". */
int iris_clip_train_init(iris_clip_train *t, iris_param_set *s, const iris_clip *src, int feature_layer,
                         int keep_class, const iris_train_ops *ops, int max_images);
void iris_clip_train_free(iris_clip_train *t);
int iris_clip_train_set_trainable(iris_clip_train *t, iris_param_set *s);
/* Rows and width of one image's features. */
int iris_clip_train_n_feat(const iris_clip_train *t);
/* Runs n images (pixels: n consecutive host [C, S, S] arrays). */
int iris_clip_train_forward(iris_clip_train *t, iris_param_set *s, const float *pixels, int n);
/* Backend pointer to image b's features [n_feat, hidden] (valid until the
 * next forward or backward). */
const float *iris_clip_train_features(const iris_clip_train *t, int b);
/* Sets image b's d(features) from host dy [n_feat, hidden]; the forward
 * zeroes them all first. */
int iris_clip_train_set_dfeatures(iris_clip_train *t, int b, const float *dy_host);
/* Accumulates the parameter gradients of the last forward's images. */
int iris_clip_train_backward(iris_clip_train *t, iris_param_set *s);

#endif

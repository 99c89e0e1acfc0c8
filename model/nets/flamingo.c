/* flamingo.c — running an OpenFlamingo model (see flamingo.h): images through
 * the tower and the perceiver into the media buffer, and the decoder's
 * pre-layer hook that applies a gated cross-attention block to the rows of
 * each chunk.  Loading lives in flamingo_load.c. */
#include "flamingo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/timer.h"
#include "../vision/image_load.h"

/* Decoder hook: rows m->x [n, dim] at positions n_past.. go through layer l's
 * block when it has one.  Positions the caller did not describe (decoding
 * one sampled token after another) read the image of the position before. */
int iris_flamingo_pre_layer(void *ctx, iris_llama *m, int l, int n)
{
    iris_flamingo *f = ctx;
    if (l >= f->n_layers || !f->has_block[l]) return 0;
    int p0 = m->n_past;
    for (int i = 0; i < n; i++) {
        int p = p0 + i;
        if (p < f->pend_from || p >= f->pend_to) f->time_at[p] = p > 0 ? f->time_at[p - 1] : 0;
    }
    if (iris_xattn_forward(&f->xa[l], &f->xm[l], &f->xacts, m->x, n, f->time_at + p0, f->y)) return -1;
    m->be->copy(m->x, f->y, (long)n * m->cfg.dim);
    return 0;
}

int iris_flamingo_add_pixels(iris_flamingo *f, const float *pixels)
{
    if (f->n_media >= f->max_media) {
        iris_set_error("at most %d images per conversation (max_images in the model file)", f->max_media);
        return -1;
    }
    const iris_backend *be = f->be;
    int hidden = f->clip.cfg.hidden;
    double t0 = iris_now();
    if (iris_clip_features(&f->clip, pixels, -1, f->vis)) return -1;
    double t1 = iris_now();
    float *tokens = f->vis + hidden;   /* the class token is dropped */
    if (f->vision_ln_post) {
        char name[128];
        snprintf(name, sizeof name, "%spost_layernorm.weight", f->clip.prefix);
        const iris_tensor *w = iris_weights_find(&f->clip_w, name);
        snprintf(name, sizeof name, "%spost_layernorm.bias", f->clip.prefix);
        const iris_tensor *b = iris_weights_find(&f->clip_w, name);
        be->layernorm(tokens, tokens, w, b, f->n_patches, hidden, f->clip.cfg.eps);
    }
    float *out = f->media + (size_t)f->n_media * f->n_latents * f->dim_visual;
    if (iris_perceiver_forward(&f->pv, &f->pacts, tokens, 1, 1, f->n_patches, out)) return -1;
    f->n_media++;
    /* only the new image's keys and values: the earlier images' are kept */
    for (int l = 0; l < f->n_layers; l++)
        if (f->has_block[l] && iris_xattn_media_append(&f->xa[l], &f->xm[l], f->media, f->n_media)) {
            f->n_media--;
            for (int k = 0; k < f->n_layers; k++)   /* the earlier rows are untouched: just forget the new one */
                if (f->has_block[k] && f->xm[k].n_media > f->n_media) f->xm[k].n_media = f->n_media;
            return -1;
        }
    const char *err = be->error ? be->error() : NULL;
    if (err) {
        iris_set_error("%s backend: %s", be->name, err);
        return -1;
    }
    f->last_tower_s = t1 - t0;   /* the CPU backend is synchronous: wall time is the work */
    f->last_media_s = iris_now() - t1;
    return f->n_media - 1;
}

int iris_flamingo_add_image(iris_flamingo *f, const iris_image *img)
{
    size_t n = (size_t)3 * f->pre.crop_w * f->pre.crop_h;
    float *px = malloc(n * sizeof *px);
    if (!px) {
        iris_set_error("out of memory");
        return -1;
    }
    int rc = iris_preprocess(img, &f->pre, px);
    if (!rc) rc = iris_flamingo_add_pixels(f, px);
    free(px);
    return rc;
}

void iris_flamingo_clear_images(iris_flamingo *f)
{
    f->n_media = 0;
    for (int l = 0; f->has_block && l < f->n_layers; l++)
        if (f->has_block[l]) iris_xattn_media_set(&f->xa[l], &f->xm[l], f->media, 0);
}

int iris_flamingo_forward(iris_lm *lm, const int32_t *ids, int n, float *logits_out, int all_logits)
{
    iris_flamingo *f = lm->flamingo;
    iris_llama *m = &lm->net;
    int p0 = m->n_past;
    if (n <= 0 || p0 + n > m->n_ctx) return iris_llama_forward(m, ids, n, logits_out, all_logits);
    int t = p0 > 0 ? f->time_at[p0 - 1] : 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] == f->media_token && ++t > f->n_media) {
            iris_set_error("<image> number %d has no image (%d given)", t, f->n_media);
            return -1;
        }
        f->time_at[p0 + i] = t;
    }
    f->pend_from = p0;
    f->pend_to = p0 + n;
    int rc = iris_llama_forward(m, ids, n, logits_out, all_logits);
    f->pend_from = f->pend_to = 0;
    return rc;
}

/* perceiver.c — see perceiver.h.  Images are stacked along the rows so the
 * LayerNorms and linears run once over all of them; only the attention goes
 * image by image. */
#include "perceiver.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "flamingo_ff.h"

void iris_perceiver_config_default(iris_perceiver_config *c, int dim)
{
    memset(c, 0, sizeof *c);
    c->dim = dim;
    c->depth = 6;
    c->heads = 8;
    c->dim_head = 64;
    c->n_latents = 64;
    c->ff_mult = 4;
    c->eps = 1e-5f;
}

int iris_perceiver_slot_count(const iris_perceiver_config *c)
{
    return IRIS_PV_GLOBAL_COUNT + c->depth * IRIS_PV_LAYER_COUNT;
}

static const char *const global_names[IRIS_PV_GLOBAL_COUNT] = {
    "latents", "frame_embs", "media_time_embs", "norm.weight", "norm.bias"};
static const char *const layer_names[IRIS_PV_LAYER_COUNT] = {
    "0.norm_media.weight", "0.norm_media.bias", "0.norm_latents.weight", "0.norm_latents.bias",
    "0.to_q.weight", "0.to_kv.weight", "0.to_out.weight", "1.0.weight", "1.0.bias",
    "1.1.weight", "1.3.weight"};

int iris_perceiver_slot_info(const iris_perceiver_config *c, int slot, const char *prefix,
                             char *name, size_t len, int *ndim, int64_t shape[3])
{
    int64_t d = c->dim, inner = (int64_t)c->heads * c->dim_head, ff = d * c->ff_mult;
    int n;
    if (slot < IRIS_PV_GLOBAL_COUNT) {
        if ((slot == IRIS_PV_FRAME_EMBS && c->max_frames <= 0) ||
            (slot == IRIS_PV_MEDIA_TIME_EMBS && c->max_media <= 0))
            return 1;
        n = snprintf(name, len, "%s%s", prefix, global_names[slot]);
        switch (slot) {
        case IRIS_PV_LATENTS: *ndim = 2, shape[0] = c->n_latents, shape[1] = d; break;
        case IRIS_PV_FRAME_EMBS: *ndim = 2, shape[0] = c->max_frames, shape[1] = d; break;
        case IRIS_PV_MEDIA_TIME_EMBS: *ndim = 3, shape[0] = c->max_media, shape[1] = 1, shape[2] = d; break;
        default: *ndim = 1, shape[0] = d;
        }
    } else {
        int l = (slot - IRIS_PV_GLOBAL_COUNT) / IRIS_PV_LAYER_COUNT;
        int s = (slot - IRIS_PV_GLOBAL_COUNT) % IRIS_PV_LAYER_COUNT;
        n = snprintf(name, len, "%slayers.%d.%s", prefix, l, layer_names[s]);
        *ndim = 2;
        switch (s) {
        case IRIS_PV_TO_Q: shape[0] = inner, shape[1] = d; break;
        case IRIS_PV_TO_KV: shape[0] = 2 * inner, shape[1] = d; break;
        case IRIS_PV_TO_OUT: shape[0] = d, shape[1] = inner; break;
        case IRIS_PV_FF_W1: shape[0] = ff, shape[1] = d; break;
        case IRIS_PV_FF_W2: shape[0] = d, shape[1] = ff; break;
        default: *ndim = 1, shape[0] = d;
        }
    }
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int iris_perceiver_config_infer(iris_perceiver_config *c, iris_tensor_lookup fn, void *ctx,
                                const char *prefix, int dim_head)
{
    char name[256];
    iris_perceiver_config_default(c, 0);
    snprintf(name, sizeof name, "%slatents", prefix);
    const iris_tensor *lat = fn(ctx, name);
    if (!lat || lat->ndim != 2) {
        iris_set_error("no perceiver: %s %s", name, lat ? "is not a matrix" : "is missing");
        return -1;
    }
    c->n_latents = (int)lat->shape[0];
    c->dim = (int)lat->shape[1];
    c->depth = 0;
    for (;;) {
        snprintf(name, sizeof name, "%slayers.%d.0.to_q.weight", prefix, c->depth);
        if (!fn(ctx, name)) break;
        c->depth++;
    }
    snprintf(name, sizeof name, "%slayers.0.0.to_q.weight", prefix);
    const iris_tensor *q = fn(ctx, name);
    snprintf(name, sizeof name, "%slayers.0.1.1.weight", prefix);
    const iris_tensor *w1 = fn(ctx, name);
    if (!c->depth || !q || q->ndim != 2 || !w1 || w1->ndim != 2 || dim_head <= 0 ||
        q->shape[0] % dim_head || w1->shape[0] % c->dim) {
        iris_set_error("%slayers.*: not a perceiver with heads of %d", prefix, dim_head);
        return -1;
    }
    c->dim_head = dim_head;
    c->heads = (int)(q->shape[0] / dim_head);
    c->ff_mult = (int)(w1->shape[0] / c->dim);
    snprintf(name, sizeof name, "%sframe_embs", prefix);
    const iris_tensor *fe = fn(ctx, name);
    if (fe) c->max_frames = (int)fe->shape[0];
    snprintf(name, sizeof name, "%smedia_time_embs", prefix);
    const iris_tensor *me = fn(ctx, name);
    if (me) c->max_media = (int)me->shape[0];
    return 0;
}

int iris_perceiver_bind(iris_perceiver *p, const iris_perceiver_config *c, const iris_backend *be,
                        iris_tensor_lookup fn, void *ctx, const char *prefix)
{
    memset(p, 0, sizeof *p);
    if (c->dim <= 0 || c->depth <= 0 || c->heads <= 0 || c->dim_head <= 0 || c->n_latents <= 0 ||
        c->ff_mult <= 0 || c->max_media < 0 || c->max_frames < 0) {
        iris_set_error("perceiver: invalid configuration");
        return -1;
    }
    p->cfg = *c;
    p->be = be;
    int n = iris_perceiver_slot_count(c), err = 0;
    p->w = calloc((size_t)n, sizeof *p->w);
    if (!p->w) {
        iris_set_error("out of memory");
        return -1;
    }
    for (int s = 0; s < n && !err; s++) {
        char name[256];
        int ndim;
        int64_t shape[3];
        int r = iris_perceiver_slot_info(c, s, prefix, name, sizeof name, &ndim, shape);
        if (r < 0) {
            iris_set_error("perceiver: tensor name prefix too long");
            err = 1;
        } else if (r == 0) {
            p->w[s] = iris_lookup_shaped(fn, ctx, name, ndim, shape, 0, &err);
        }
    }
    if (err) {
        iris_perceiver_unbind(p);
        return -1;
    }
    if (p->w[IRIS_PV_MEDIA_TIME_EMBS]) {
        p->media_time_2d = *p->w[IRIS_PV_MEDIA_TIME_EMBS];
        p->media_time_2d.ndim = 2;
        p->media_time_2d.shape[1] = c->dim;
        p->media_time_2d.owns_data = 0;
    }
    return 0;
}

void iris_perceiver_unbind(iris_perceiver *p)
{
    free(p->w);
    memset(p, 0, sizeof *p);
}

iris_perceiver_layer_acts *iris_perceiver_layer(iris_perceiver_acts *a, int l)
{
    return &a->la[a->keep ? l : 0];
}

void iris_perceiver_acts_free(iris_perceiver_acts *a)
{
    if (!a->be) return;
    const iris_backend *be = a->be;
    be->free(a->x);
    be->free(a->tmp);
    if (a->z)
        for (int l = 0; l <= a->depth; l++) be->free(a->z[l]);
    if (a->la)
        for (int i = 0; i < a->n_sets; i++) {
            iris_perceiver_layer_acts *s = &a->la[i];
            float *bufs[] = {s->latn, s->kvin, s->q, s->kv, s->att, s->mid, s->fn, s->h, s->g};
            for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++) be->free(bufs[k]);
        }
    free(a->z);
    free(a->la);
    free(a->ids);
    memset(a, 0, sizeof *a);
}

int iris_perceiver_acts_alloc(iris_perceiver_acts *a, const iris_perceiver *p, int max_media,
                              int media_rows, int keep)
{
    memset(a, 0, sizeof *a);
    const iris_perceiver_config *c = &p->cfg;
    if (max_media <= 0 || media_rows <= 0) {
        iris_set_error("perceiver: workspace for %d images of %d rows", max_media, media_rows);
        return -1;
    }
    const iris_backend *be = p->be;
    a->be = be;
    a->max_media = max_media;
    a->media_rows = media_rows;
    a->keep = keep;
    a->depth = c->depth;
    a->n_sets = keep ? c->depth : 1;
    size_t T = (size_t)max_media, M = (size_t)media_rows, L = (size_t)c->n_latents, D = (size_t)c->dim;
    size_t inner = (size_t)c->heads * c->dim_head, ff = D * c->ff_mult, big = M > L ? M : L;
    a->z = calloc((size_t)c->depth + 1, sizeof *a->z);
    a->la = calloc((size_t)a->n_sets, sizeof *a->la);
    a->ids = malloc(T * big * sizeof *a->ids);
    int ok = a->z && a->la && a->ids;
    ok = ok && (a->x = be->alloc(T * M * D * 4)) && (a->tmp = be->alloc(T * big * D * 4));
    for (int l = 0; ok && l <= c->depth; l++) ok = (a->z[l] = be->alloc(T * L * D * 4)) != NULL;
    for (int i = 0; ok && i < a->n_sets; i++) {
        iris_perceiver_layer_acts *s = &a->la[i];
        ok = (s->latn = be->alloc(T * L * D * 4)) && (s->kvin = be->alloc(T * (M + L) * D * 4)) &&
             (s->q = be->alloc(T * L * inner * 4)) && (s->kv = be->alloc(T * (M + L) * 2 * inner * 4)) &&
             (s->att = be->alloc(T * L * inner * 4)) && (s->mid = be->alloc(T * L * D * 4)) &&
             (s->fn = be->alloc(T * L * D * 4)) && (s->h = be->alloc(T * L * ff * 4)) &&
             (s->g = be->alloc(T * L * ff * 4));
    }
    if (!ok) {
        iris_perceiver_acts_free(a);
        iris_set_error("out of memory for the perceiver's activations (%d images of %d rows)",
                       max_media, media_rows);
        return -1;
    }
    return 0;
}

/* x[rows, D] += table[ids[rows]] through the backend's lookup (any dtype). */
static void add_rows(const iris_backend *be, float *x, float *tmp, const iris_tensor *table,
                     const int32_t *ids, int rows, int d)
{
    be->embedding(tmp, table, ids, rows, 1.0f);
    be->add(x, x, tmp, (long)rows * d);
}

int iris_perceiver_forward(const iris_perceiver *p, iris_perceiver_acts *a, const float *x,
                           int n_media, int n_frames, int n_tokens, float *y)
{
    const iris_perceiver_config *c = &p->cfg;
    const iris_backend *be = p->be;
    const iris_tensor *const *w = p->w;
    long M = (long)n_frames * n_tokens;
    if (n_media <= 0 || n_frames <= 0 || n_tokens <= 0 || n_media > a->max_media ||
        M > a->media_rows) {
        iris_set_error("perceiver: %d images x %d frames x %d tokens do not fit the workspace "
                       "(%d images of %d rows)", n_media, n_frames, n_tokens, a->max_media, a->media_rows);
        return -1;
    }
    if ((w[IRIS_PV_FRAME_EMBS] && n_frames > c->max_frames) ||
        (w[IRIS_PV_MEDIA_TIME_EMBS] && n_media > c->max_media)) {
        iris_set_error("perceiver: %d images of %d frames exceed its embeddings (%d images, %d frames)",
                       n_media, n_frames, c->max_media, c->max_frames);
        return -1;
    }
    int T = n_media, L = c->n_latents, D = c->dim, inner = c->heads * c->dim_head;
    int ff = D * c->ff_mult, rows = (int)M;
    long TM = (long)T * M, TL = (long)T * L;
    a->n_media = T;
    a->n_frames = n_frames;
    a->n_rows = rows;
    be->copy(a->x, x, TM * D);
    if (w[IRIS_PV_FRAME_EMBS]) {        /* frame f of every image and token */
        for (long r = 0; r < TM; r++) a->ids[r] = (int32_t)((r / n_tokens) % n_frames);
        add_rows(be, a->x, a->tmp, w[IRIS_PV_FRAME_EMBS], a->ids, (int)TM, D);
    }
    if (w[IRIS_PV_MEDIA_TIME_EMBS]) {   /* image t's embedding on all its rows */
        for (long r = 0; r < TM; r++) a->ids[r] = (int32_t)(r / M);
        add_rows(be, a->x, a->tmp, &p->media_time_2d, a->ids, (int)TM, D);
    }
    for (long r = 0; r < TL; r++) a->ids[r] = (int32_t)(r % L);
    be->embedding(a->z[0], w[IRIS_PV_LATENTS], a->ids, (int)TL, 1.0f);

    float scale = 1.0f / sqrtf((float)c->dim_head);
    for (int l = 0; l < c->depth; l++) {
        const iris_tensor *const *lw = w + IRIS_PV_SLOT(l, 0);
        iris_perceiver_layer_acts *s = iris_perceiver_layer(a, l);
        be->layernorm(s->latn, a->z[l], lw[IRIS_PV_NORM_LAT_W], lw[IRIS_PV_NORM_LAT_B], (int)TL, D, c->eps);
        for (int t = 0; t < T; t++) {
            float *kin = s->kvin + (size_t)t * (M + L) * D;
            be->layernorm(kin, a->x + (size_t)t * M * D, lw[IRIS_PV_NORM_MEDIA_W],
                          lw[IRIS_PV_NORM_MEDIA_B], rows, D, c->eps);
            be->copy(kin + (size_t)M * D, s->latn + (size_t)t * L * D, (long)L * D);
        }
        int sl = IRIS_PV_SLOT(l, 0);
        be->linear(s->q, s->latn, lw[IRIS_PV_TO_Q], NULL, (int)TL, D, inner);
        iris_lin_hook_call(&p->hook, sl + IRIS_PV_TO_Q, s->q, s->latn, (int)TL);
        be->linear(s->kv, s->kvin, lw[IRIS_PV_TO_KV], NULL, (int)(T * (M + L)), D, 2 * inner);
        iris_lin_hook_call(&p->hook, sl + IRIS_PV_TO_KV, s->kv, s->kvin, (int)(T * (M + L)));
        for (int t = 0; t < T; t++) {
            const float *k = s->kv + (size_t)t * (M + L) * 2 * inner;
            be->attention(s->att + (size_t)t * L * inner, s->q + (size_t)t * L * inner, k, k + inner,
                          L, 0, (int)(M + L), 2 * inner, c->heads, c->heads, c->dim_head, scale, 0, 0.0f);
        }
        be->linear(a->tmp, s->att, lw[IRIS_PV_TO_OUT], NULL, (int)TL, inner, D);
        iris_lin_hook_call(&p->hook, sl + IRIS_PV_TO_OUT, a->tmp, s->att, (int)TL);
        be->add(s->mid, a->z[l], a->tmp, TL * D);
        iris_flamingo_ff_forward_hooked(be, lw[IRIS_PV_FF_NORM_W], lw[IRIS_PV_FF_NORM_B], lw[IRIS_PV_FF_W1],
                                        lw[IRIS_PV_FF_W2], s->mid, (int)TL, D, ff, c->eps, s->fn, s->h, s->g,
                                        a->tmp, &p->hook, sl + IRIS_PV_FF_W1, sl + IRIS_PV_FF_W2);
        be->add(a->z[l + 1], s->mid, a->tmp, TL * D);
    }
    be->layernorm(y, a->z[c->depth], w[IRIS_PV_NORM_W], w[IRIS_PV_NORM_B], (int)TL, D, c->eps);
    const char *err = be->error();
    if (err) {
        iris_set_error("perceiver: %s", err);
        return -1;
    }
    return 0;
}

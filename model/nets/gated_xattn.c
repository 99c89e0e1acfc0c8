/* gated_xattn.c — see gated_xattn.h.  Tokens of equal time form one run
 * (time only grows), so the masked cross-attention is one unmasked attention
 * call per run against that run's image. */
#include "gated_xattn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "flamingo_ff.h"

void iris_xattn_config_default(iris_xattn_config *c, int dim, int dim_visual)
{
    memset(c, 0, sizeof *c);
    c->dim = dim;
    c->dim_visual = dim_visual;
    c->heads = 8;
    c->dim_head = 64;
    c->ff_mult = 4;
    c->eps = 1e-5f;
}

static const char *const slot_names[IRIS_XA_COUNT] = {
    "attn.norm.weight", "attn.norm.bias", "attn.to_q.weight", "attn.to_kv.weight",
    "attn.to_out.weight", "attn_gate", "ff.0.weight", "ff.0.bias", "ff.1.weight", "ff.3.weight",
    "ff_gate"};

int iris_xattn_slot_info(const iris_xattn_config *c, int slot, const char *prefix, char *name,
                         size_t len, int *ndim, int64_t shape[2])
{
    int64_t d = c->dim, inner = (int64_t)c->heads * c->dim_head, ff = d * c->ff_mult;
    int n = snprintf(name, len, "%s%s", prefix, slot_names[slot]);
    *ndim = 2;
    switch (slot) {
    case IRIS_XA_TO_Q: shape[0] = inner, shape[1] = d; break;
    case IRIS_XA_TO_KV: shape[0] = 2 * inner, shape[1] = c->dim_visual; break;
    case IRIS_XA_TO_OUT: shape[0] = d, shape[1] = inner; break;
    case IRIS_XA_FF_W1: shape[0] = ff, shape[1] = d; break;
    case IRIS_XA_FF_W2: shape[0] = d, shape[1] = ff; break;
    case IRIS_XA_ATTN_GATE:
    case IRIS_XA_FF_GATE: *ndim = 1, shape[0] = 1; break;
    default: *ndim = 1, shape[0] = d;
    }
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int iris_xattn_config_infer(iris_xattn_config *c, iris_tensor_lookup fn, void *ctx,
                            const char *prefix, int dim_head)
{
    char name[256];
    iris_xattn_config_default(c, 0, 0);
    snprintf(name, sizeof name, "%sattn.to_kv.weight", prefix);
    const iris_tensor *kv = fn(ctx, name);
    snprintf(name, sizeof name, "%sff.1.weight", prefix);
    const iris_tensor *w1 = fn(ctx, name);
    if (!kv || kv->ndim != 2 || !w1 || w1->ndim != 2 || dim_head <= 0 || kv->shape[0] % (2 * dim_head) ||
        w1->shape[1] <= 0 || w1->shape[0] % w1->shape[1]) {
        iris_set_error("%s*: not a gated cross-attention block with heads of %d", prefix, dim_head);
        return -1;
    }
    c->dim_visual = (int)kv->shape[1];
    c->dim_head = dim_head;
    c->heads = (int)(kv->shape[0] / (2 * dim_head));
    c->dim = (int)w1->shape[1];
    c->ff_mult = (int)(w1->shape[0] / w1->shape[1]);
    return 0;
}

int iris_xattn_bind(iris_xattn *x, const iris_xattn_config *c, const iris_backend *be,
                    iris_tensor_lookup fn, void *ctx, const char *prefix)
{
    memset(x, 0, sizeof *x);
    if (c->dim <= 0 || c->dim_visual <= 0 || c->heads <= 0 || c->dim_head <= 0 || c->ff_mult <= 0) {
        iris_set_error("gated cross-attention: invalid configuration");
        return -1;
    }
    x->cfg = *c;
    x->be = be;
    int err = 0;
    for (int s = 0; s < IRIS_XA_COUNT && !err; s++) {
        char name[256];
        int ndim;
        int64_t shape[2];
        if (iris_xattn_slot_info(c, s, prefix, name, sizeof name, &ndim, shape)) {
            iris_set_error("gated cross-attention: tensor name prefix too long");
            return -1;
        }
        x->w[s] = iris_lookup_shaped(fn, ctx, name, ndim, shape, 0, &err);
    }
    if (!err && (x->w[IRIS_XA_ATTN_GATE]->dtype == IRIS_Q8_0 || x->w[IRIS_XA_FF_GATE]->dtype == IRIS_Q8_0)) {
        iris_set_error("%sattn_gate: a gate must be f32, f16 or bf16", prefix);
        err = 1;
    }
    return err ? -1 : 0;
}

int iris_xattn_media_alloc(iris_xattn_media *m, const iris_xattn *x, int max_media, int n_latents)
{
    memset(m, 0, sizeof *m);
    if (max_media <= 0 || n_latents <= 0) {
        iris_set_error("gated cross-attention: media of %d images x %d latents", max_media, n_latents);
        return -1;
    }
    m->be = x->be;
    m->max_media = max_media;
    m->n_latents = n_latents;
    size_t inner = (size_t)x->cfg.heads * x->cfg.dim_head;
    if (!(m->kv = m->be->alloc((size_t)max_media * n_latents * 2 * inner * sizeof(float)))) {
        iris_set_error("out of memory for cross-attention keys (%d images)", max_media);
        return -1;
    }
    return 0;
}

void iris_xattn_media_free(iris_xattn_media *m)
{
    if (m->be) m->be->free(m->kv);
    memset(m, 0, sizeof *m);
}

int iris_xattn_media_set(const iris_xattn *x, iris_xattn_media *m, const float *media, int n_media)
{
    if (n_media < 0 || n_media > m->max_media) {
        iris_set_error("gated cross-attention: %d images, room for %d", n_media, m->max_media);
        return -1;
    }
    const iris_xattn_config *c = &x->cfg;
    m->media = media;
    m->n_media = n_media;
    if (n_media)
    {
        x->be->linear(m->kv, media, x->w[IRIS_XA_TO_KV], NULL, n_media * m->n_latents, c->dim_visual,
                      2 * c->heads * c->dim_head);
        iris_lin_hook_call(&x->hook, IRIS_XA_TO_KV, m->kv, media, n_media * m->n_latents);
    }
    return 0;
}

int iris_xattn_media_append(const iris_xattn *x, iris_xattn_media *m, const float *media, int n_media)
{
    if (n_media < m->n_media || n_media > m->max_media) {
        iris_set_error("gated cross-attention: growing %d images to %d, room for %d", m->n_media, n_media,
                       m->max_media);
        return -1;
    }
    if (m->n_media && media != m->media) {
        iris_set_error("gated cross-attention: appending images to another media buffer");
        return -1;
    }
    const iris_xattn_config *c = &x->cfg;
    int from = m->n_media;
    size_t kv_row = (size_t)2 * c->heads * c->dim_head;
    m->media = media;
    m->n_media = n_media;
    if (n_media > from)
        x->be->linear(m->kv + (size_t)from * m->n_latents * kv_row, media + (size_t)from * m->n_latents * c->dim_visual,
                      x->w[IRIS_XA_TO_KV], NULL, (n_media - from) * m->n_latents, c->dim_visual, (int)kv_row);
    return 0;
}

void iris_xattn_text_time(const int32_t *is_media, int n, int start, int32_t *time)
{
    int t = start;
    for (int i = 0; i < n; i++) {
        if (is_media && is_media[i]) t++;
        time[i] = t;
    }
}

int iris_xattn_acts_alloc(iris_xattn_acts *a, const iris_xattn *x, int max_text)
{
    memset(a, 0, sizeof *a);
    if (max_text <= 0) {
        iris_set_error("gated cross-attention: workspace for %d tokens", max_text);
        return -1;
    }
    const iris_backend *be = x->be;
    size_t n = (size_t)max_text, d = (size_t)x->cfg.dim, inner = (size_t)x->cfg.heads * x->cfg.dim_head;
    size_t ff = d * x->cfg.ff_mult;
    a->be = be;
    a->max_text = max_text;
    int ok = (a->time = malloc(n * sizeof *a->time)) && (a->x = be->alloc(n * d * 4)) &&
             (a->xn = be->alloc(n * d * 4)) && (a->q = be->alloc(n * inner * 4)) &&
             (a->att = be->alloc(n * inner * 4)) && (a->a = be->alloc(n * d * 4)) &&
             (a->x1 = be->alloc(n * d * 4)) && (a->fn = be->alloc(n * d * 4)) &&
             (a->h = be->alloc(n * ff * 4)) && (a->g = be->alloc(n * ff * 4)) && (a->o = be->alloc(n * d * 4));
    if (!ok) {
        iris_xattn_acts_free(a);
        iris_set_error("out of memory for the cross-attention activations (%d tokens)", max_text);
        return -1;
    }
    return 0;
}

void iris_xattn_acts_free(iris_xattn_acts *a)
{
    if (a->be) {
        float *bufs[] = {a->x, a->xn, a->q, a->att, a->a, a->x1, a->fn, a->h, a->g, a->o};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) a->be->free(bufs[i]);
    }
    free(a->time);
    memset(a, 0, sizeof *a);
}

int iris_xattn_forward(const iris_xattn *x, const iris_xattn_media *m, iris_xattn_acts *a,
                       const float *text, int n, const int32_t *text_time, float *y)
{
    const iris_xattn_config *c = &x->cfg;
    const iris_backend *be = x->be;
    if (n <= 0 || n > a->max_text) {
        iris_set_error("gated cross-attention: %d tokens, room for %d", n, a->max_text);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (text_time[i] < 0 || text_time[i] > m->n_media || (i && text_time[i] < text_time[i - 1])) {
            iris_set_error("gated cross-attention: token %d follows image %d of %d%s", i, text_time[i],
                           m->n_media, text_time[i] >= 0 && text_time[i] <= m->n_media ? " (out of order)" : "");
            return -1;
        }
    float ga, gf;
    if (iris_read_scalar(be, x->w[IRIS_XA_ATTN_GATE], &ga) || iris_read_scalar(be, x->w[IRIS_XA_FF_GATE], &gf))
        return -1;
    a->gate_attn = ga = tanhf(ga);
    a->gate_ff = gf = tanhf(gf);
    a->n_text = n;
    memcpy(a->time, text_time, (size_t)n * sizeof *a->time);
    int D = c->dim, inner = c->heads * c->dim_head, L = m->n_latents;
    long nd = (long)n * D;
    float scale = 1.0f / sqrtf((float)c->dim_head);

    be->copy(a->x, text, nd);
    be->layernorm(a->xn, text, x->w[IRIS_XA_NORM_W], x->w[IRIS_XA_NORM_B], n, D, c->eps);
    be->linear(a->q, a->xn, x->w[IRIS_XA_TO_Q], NULL, n, D, inner);
    iris_lin_hook_call(&x->hook, IRIS_XA_TO_Q, a->q, a->xn, n);
    for (int i0 = 0, i1; i0 < n; i0 = i1) {
        int t = text_time[i0];
        for (i1 = i0 + 1; i1 < n && text_time[i1] == t; i1++) {}
        float *out = a->att + (size_t)i0 * inner;
        if (t == 0) {   /* before any image: no attention output (q is finite) */
            be->scale(out, a->q + (size_t)i0 * inner, 0.0f, (long)(i1 - i0) * inner);
            continue;
        }
        const float *k = m->kv + (size_t)(t - 1) * L * 2 * inner;
        be->attention(out, a->q + (size_t)i0 * inner, k, k + inner, i1 - i0, 0, L, 2 * inner, c->heads,
                      c->heads, c->dim_head, scale, 0, 0.0f);
    }
    be->linear(a->a, a->att, x->w[IRIS_XA_TO_OUT], NULL, n, inner, D);
    iris_lin_hook_call(&x->hook, IRIS_XA_TO_OUT, a->a, a->att, n);
    be->scale(a->x1, a->a, ga, nd);
    be->add(a->x1, a->x1, text, nd);
    iris_flamingo_ff_forward_hooked(be, x->w[IRIS_XA_FF_NORM_W], x->w[IRIS_XA_FF_NORM_B], x->w[IRIS_XA_FF_W1],
                                    x->w[IRIS_XA_FF_W2], a->x1, n, D, D * c->ff_mult, c->eps, a->fn, a->h, a->g,
                                    a->o, &x->hook, IRIS_XA_FF_W1, IRIS_XA_FF_W2);
    be->scale(y, a->o, gf, nd);
    be->add(y, y, a->x1, nd);
    const char *err = be->error();
    if (err) {
        iris_set_error("gated cross-attention: %s", err);
        return -1;
    }
    return 0;
}

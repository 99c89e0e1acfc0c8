/* xattn_train.c — see xattn_train.h.  Backward, from the top of
 * nets/gated_xattn.c's forward (gf, ga: the tanh of the gates):
 *   y = x1 + gf o:        d ff_gate += (1 - gf^2) <dy, o>,  do = gf dy
 *   o = FF(x1):           dx1 = dy + FF'(do)
 *   x1 = x + ga a:        d attn_gate += (1 - ga^2) <dx1, a>,  da = ga dx1
 *   a = Wout att, att = attention per run -> dq, dkv (images nobody read: 0)
 *   q = Wq LN(x):         dx = dx1 + LN'(dq Wq)
 *   kv = Wkv media:       dmedia += dkv Wkv
 */
#include "xattn_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flamingo_ff_train.h"
#include "linear_backward.h"

int iris_xattn_train_init(iris_xattn_train *b, iris_param_set *s, const iris_train_ops *ops,
                          const iris_xattn_config *c, const char *prefix, iris_tensor_lookup fn,
                          void *ctx, int max_text, int max_media, int n_latents)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    b->ops = ops;
    if (!ops || !ops->cross_attention_backward || !ops->gelu_backward || !ops->layernorm_backward) {
        iris_set_error("cross-attention training: the %s backend lacks the backward ops it needs",
                       ops ? ops->name : "(none)");
        return -1;
    }
    for (int slot = 0; slot < IRIS_XA_COUNT; slot++) {
        char name[256];
        int ndim, err = 0;
        int64_t shape[2];
        if (iris_xattn_slot_info(c, slot, prefix, name, sizeof name, &ndim, shape)) {
            iris_set_error("gated cross-attention: tensor name prefix too long");
            goto fail;
        }
        const iris_tensor *src = NULL;
        if (fn && !(src = iris_lookup_shaped(fn, ctx, name, ndim, shape, 0, &err))) goto fail;
        if ((b->param[slot] = iris_params_add_from(s, name, ndim, shape, src, IRIS_PG_PROJECTOR)) < 0)
            goto fail;
    }
    const iris_backend *be = s->be;
    if (iris_xattn_bind(&b->net, c, be, iris_params_lookup, s, prefix) ||
        iris_xattn_media_alloc(&b->media, &b->net, max_media, n_latents) ||
        iris_xattn_acts_alloc(&b->acts, &b->net, max_text))
        goto fail;
    size_t n = (size_t)max_text, d = (size_t)c->dim, inner = (size_t)c->heads * c->dim_head;
    size_t ff = d * c->ff_mult, kvr = (size_t)max_media * n_latents;
    if (!(b->ddo = be->alloc(n * d * 4)) || !(b->dx1 = be->alloc(n * d * 4)) ||
        !(b->dtmp = be->alloc(n * d * 4)) || !(b->dh = be->alloc(n * ff * 4)) ||
        !(b->dfn = be->alloc(n * d * 4)) || !(b->datt = be->alloc(n * inner * 4)) ||
        !(b->dq = be->alloc(n * inner * 4)) || !(b->dkv = be->alloc(kvr * 2 * inner * 4)) ||
        !(b->scalar = be->alloc(sizeof(float)))) {
        iris_set_error("out of memory for the cross-attention gradients");
        goto fail;
    }
    return 0;
fail:
    iris_xattn_train_free(b);
    return -1;
}

void iris_xattn_train_free(iris_xattn_train *b)
{
    if (b->s && b->s->be) {
        const iris_backend *be = b->s->be;
        float *bufs[] = {b->ddo, b->dx1, b->dtmp, b->dh, b->dfn, b->datt, b->dq, b->dkv, b->scalar};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) be->free(bufs[i]);
    }
    iris_xattn_acts_free(&b->acts);
    iris_xattn_media_free(&b->media);
    memset(b, 0, sizeof *b);
}

int iris_xattn_train_set_trainable(iris_xattn_train *b)
{
    for (int slot = 0; slot < IRIS_XA_COUNT; slot++)
        if (iris_params_set_trainable(b->s, b->param[slot])) return -1;
    return 0;
}

static void lora_hook(void *ctx, int slot, float *y, const float *x, int n)
{
    iris_xattn_train *b = ctx;
    if (b->lora[slot]) iris_lora_site_forward(b->lora[slot], y, x, n);
}

void iris_xattn_train_set_lora(iris_xattn_train *b, int slot, iris_lora_site *ls)
{
    b->lora[slot] = ls;
    b->net.hook.fn = lora_hook;
    b->net.hook.ctx = b;
}

int iris_xattn_train_forward(iris_xattn_train *b, const float *text, int n, const float *media,
                             int n_media, const int32_t *text_time, float *y)
{
    if (iris_xattn_media_set(&b->net, &b->media, media, n_media)) return -1;
    return iris_xattn_forward(&b->net, &b->media, &b->acts, text, n, text_time, y);
}

static const float *wt(const iris_xattn_train *b, int slot) { return b->s->p[b->param[slot]].w; }
static float *gr(const iris_xattn_train *b, int slot) { return b->s->p[b->param[slot]].g; }

/* gate gradient += (1 - t^2) <u, v> over n floats (t = tanh(gate)). */
static int gate_grad(iris_xattn_train *b, int slot, float t, const float *u, const float *v, long n)
{
    float *g = gr(b, slot);
    if (!g) return 0;
    const iris_backend *be = b->s->be;
    float dot, cur;
    be->gemm(0, 1, 1, 1, (int)n, 1.0f, u, (int)n, 0, v, (int)n, 0, 0.0f, b->scalar, 1, 0, 1);
    if (be->download(&dot, b->scalar, sizeof dot) || be->download(&cur, g, sizeof cur)) return -1;
    cur += (1.0f - t * t) * dot;
    return be->upload(g, &cur, sizeof cur) ? -1 : 0;
}

int iris_xattn_train_backward(iris_xattn_train *b, const float *dy, float *dx, float *dmedia)
{
    const iris_xattn_config *c = &b->net.cfg;
    const iris_backend *be = b->s->be;
    const iris_train_ops *ops = b->ops;
    const iris_xattn_acts *a = &b->acts;
    const iris_xattn_media *m = &b->media;
    int n = a->n_text, D = c->dim, H = c->heads, inner = H * c->dim_head, L = m->n_latents;
    int ff = D * c->ff_mult, KV = m->n_media * L;
    long nd = (long)n * D;
    float ga = a->gate_attn, gf = a->gate_ff, scale = 1.0f / sqrtf((float)c->dim_head);
    if (n <= 0) {
        iris_set_error("gated cross-attention: backward without a forward pass");
        return -1;
    }
    if (gate_grad(b, IRIS_XA_FF_GATE, gf, dy, a->o, nd)) goto backend_error;
    be->scale(b->ddo, dy, gf, nd);
    iris_flamingo_ff_params fp = {wt(b, IRIS_XA_FF_NORM_W), wt(b, IRIS_XA_FF_W1), wt(b, IRIS_XA_FF_W2),
                                  gr(b, IRIS_XA_FF_NORM_W), gr(b, IRIS_XA_FF_NORM_B), gr(b, IRIS_XA_FF_W1),
                                  gr(b, IRIS_XA_FF_W2), b->lora[IRIS_XA_FF_W1], b->lora[IRIS_XA_FF_W2]};
    iris_flamingo_ff_backward(be, ops, &fp, b->ddo, a->x1, a->fn, a->h, a->g, n, D, ff, c->eps, b->dh,
                              b->dfn, b->dtmp);
    be->add(b->dx1, dy, b->dtmp, nd);

    if (gate_grad(b, IRIS_XA_ATTN_GATE, ga, b->dx1, a->a, nd)) goto backend_error;
    be->scale(b->ddo, b->dx1, ga, nd);   /* da */
    iris_linear_backward(be, wt(b, IRIS_XA_TO_OUT), gr(b, IRIS_XA_TO_OUT), b->ddo, a->att, n, inner, D,
                         b->datt, 0);
    if (b->lora[IRIS_XA_TO_OUT]) iris_lora_site_backward(b->lora[IRIS_XA_TO_OUT], b->ddo, a->att, n, b->datt);
    if (KV) be->scale(b->dkv, m->kv, 0.0f, (long)KV * 2 * inner);
    for (int i0 = 0, i1; i0 < n; i0 = i1) {
        int t = a->time[i0];
        for (i1 = i0 + 1; i1 < n && a->time[i1] == t; i1++) {}
        float *dq = b->dq + (size_t)i0 * inner;
        if (t == 0) {
            be->scale(dq, a->q + (size_t)i0 * inner, 0.0f, (long)(i1 - i0) * inner);
            continue;
        }
        size_t ko = (size_t)(t - 1) * L * 2 * inner;
        ops->cross_attention_backward(dq, b->dkv + ko, b->dkv + ko + inner, b->datt + (size_t)i0 * inner,
                                      a->q + (size_t)i0 * inner, m->kv + ko, m->kv + ko + inner, i1 - i0, L,
                                      2 * inner, H, H, c->dim_head, scale);
    }
    iris_linear_backward(be, wt(b, IRIS_XA_TO_Q), gr(b, IRIS_XA_TO_Q), b->dq, a->xn, n, D, inner, b->dfn, 0);
    if (b->lora[IRIS_XA_TO_Q]) iris_lora_site_backward(b->lora[IRIS_XA_TO_Q], b->dq, a->xn, n, b->dfn);
    ops->layernorm_backward(b->dtmp, gr(b, IRIS_XA_NORM_W), gr(b, IRIS_XA_NORM_B), b->dfn, a->x,
                            wt(b, IRIS_XA_NORM_W), n, D, c->eps);
    if (dx) be->add(dx, b->dx1, b->dtmp, nd);
    if (KV) {
        iris_linear_backward(be, wt(b, IRIS_XA_TO_KV), gr(b, IRIS_XA_TO_KV), b->dkv, m->media, KV,
                             c->dim_visual, 2 * inner, dmedia, 1);
        if (b->lora[IRIS_XA_TO_KV]) iris_lora_site_backward(b->lora[IRIS_XA_TO_KV], b->dkv, m->media, KV, dmedia);
    }
    const char *err = be->error();
    if (err) {
        iris_set_error("gated cross-attention backward: %s", err);
        return -1;
    }
    return 0;
backend_error:
    iris_set_error("gated cross-attention backward: %s", be->error() ? be->error() : "transfer failed");
    return -1;
}

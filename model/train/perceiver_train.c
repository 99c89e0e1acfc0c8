/* perceiver_train.c — see perceiver_train.h.  The backward pass walks the
 * layers of nets/perceiver.c in reverse:
 *   z_{l+1} = mid + FF(mid):        dmid = dz + FF'(dz)
 *   mid = z_l + Wout att:           datt = dmid Wout
 *   att = attn(q, [k; v]) per image  -> dq, dkv
 *   q = Wq LN_l(z_l), kv = Wkv [LN_m(x); LN_l(z_l)]:
 *     dLN_l(z_l) = dq Wq + (latent rows of dkv Wkv), dLN_m(x) = media rows
 *   dz_l = dmid + LN_l'(...),  dx += LN_m'(...)  (every layer reads x)
 * and at the ends the latents (shared by all images) and the embeddings
 * (shared by all frames / images) sum their rows' gradients. */
#include "perceiver_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flamingo_ff_train.h"
#include "linear_backward.h"

int iris_perceiver_train_init(iris_perceiver_train *p, iris_param_set *s, const iris_train_ops *ops,
                              const iris_perceiver_config *c, const char *prefix,
                              iris_tensor_lookup fn, void *ctx, int max_media, int media_rows)
{
    memset(p, 0, sizeof *p);
    p->s = s;
    p->ops = ops;
    if (!ops || !ops->cross_attention_backward || !ops->gelu_backward || !ops->layernorm_backward) {
        iris_set_error("perceiver training: the %s backend lacks the backward ops it needs",
                       ops ? ops->name : "(none)");
        return -1;
    }
    int n = iris_perceiver_slot_count(c);
    p->param = malloc((size_t)n * sizeof *p->param);
    p->lora = calloc((size_t)n, sizeof *p->lora);
    if (!p->param || !p->lora) {
        iris_set_error("out of memory");
        return -1;
    }
    for (int slot = 0; slot < n; slot++) {
        char name[256];
        int ndim, err = 0;
        int64_t shape[3];
        p->param[slot] = -1;
        int r = iris_perceiver_slot_info(c, slot, prefix, name, sizeof name, &ndim, shape);
        if (r < 0) {
            iris_set_error("perceiver: tensor name prefix too long");
            goto fail;
        }
        if (r) continue;
        const iris_tensor *src = NULL;
        if (fn && !(src = iris_lookup_shaped(fn, ctx, name, ndim, shape, 0, &err))) goto fail;
        if ((p->param[slot] = iris_params_add_from(s, name, ndim, shape, src, IRIS_PG_PROJECTOR)) < 0)
            goto fail;
    }
    if (iris_perceiver_bind(&p->net, c, s->be, iris_params_lookup, s, prefix)) goto fail;
    if (iris_perceiver_acts_alloc(&p->acts, &p->net, max_media, media_rows, 1)) goto fail;
    const iris_backend *be = s->be;
    size_t T = (size_t)max_media, M = (size_t)media_rows, L = (size_t)c->n_latents, D = (size_t)c->dim;
    size_t inner = (size_t)c->heads * c->dim_head, ff = D * c->ff_mult, big = M > L ? M : L;
    size_t kvr = T * (M + L);
    if (!(p->dz = be->alloc(T * L * D * 4)) || !(p->dmid = be->alloc(T * L * D * 4)) ||
        !(p->dtmp = be->alloc(T * big * D * 4)) || !(p->dh = be->alloc(T * L * ff * 4)) ||
        !(p->datt = be->alloc(T * L * inner * 4)) || !(p->dq = be->alloc(T * L * inner * 4)) ||
        !(p->dkv = be->alloc(kvr * 2 * inner * 4)) || !(p->dkvin = be->alloc(kvr * D * 4)) ||
        !(p->dlatn = be->alloc(T * L * D * 4)) || !(p->dxn = be->alloc(T * M * D * 4)) ||
        !(p->dx = be->alloc(T * M * D * 4))) {
        iris_set_error("out of memory for the perceiver's gradients");
        goto fail;
    }
    return 0;
fail:
    iris_perceiver_train_free(p);
    return -1;
}

void iris_perceiver_train_free(iris_perceiver_train *p)
{
    if (p->s && p->s->be) {
        const iris_backend *be = p->s->be;
        float *bufs[] = {p->dz, p->dmid, p->dtmp, p->dh, p->datt, p->dq,
                         p->dkv, p->dkvin, p->dlatn, p->dxn, p->dx};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) be->free(bufs[i]);
    }
    iris_perceiver_acts_free(&p->acts);
    iris_perceiver_unbind(&p->net);
    free(p->param);
    free(p->lora);
    memset(p, 0, sizeof *p);
}

int iris_perceiver_train_set_trainable(iris_perceiver_train *p)
{
    int n = iris_perceiver_slot_count(&p->net.cfg);
    for (int slot = 0; slot < n; slot++)
        if (p->param[slot] >= 0 && iris_params_set_trainable(p->s, p->param[slot])) return -1;
    return 0;
}

static void lora_hook(void *ctx, int slot, float *y, const float *x, int n)
{
    iris_perceiver_train *p = ctx;
    if (p->lora[slot]) iris_lora_site_forward(p->lora[slot], y, x, n);
}

void iris_perceiver_train_set_lora(iris_perceiver_train *p, int slot, iris_lora_site *ls)
{
    p->lora[slot] = ls;
    p->net.hook.fn = lora_hook;
    p->net.hook.ctx = p;
}

int iris_perceiver_train_forward(iris_perceiver_train *p, const float *x, int n_media, int n_frames,
                                 int n_tokens, float *y)
{
    return iris_perceiver_forward(&p->net, &p->acts, x, n_media, n_frames, n_tokens, y);
}

static const float *wt(const iris_perceiver_train *p, int slot)
{
    return p->param[slot] >= 0 ? p->s->p[p->param[slot]].w : NULL;
}

static float *gr(const iris_perceiver_train *p, int slot)
{
    return p->param[slot] >= 0 ? p->s->p[p->param[slot]].g : NULL;
}

/* Zeroes a buffer of ours (it only ever holds finite values). */
static void zero(const iris_backend *be, float *x, long n)
{
    be->scale(x, x, 0.0f, n);
}

int iris_perceiver_train_backward(iris_perceiver_train *p, const float *dy, float *dx)
{
    const iris_perceiver_config *c = &p->net.cfg;
    const iris_backend *be = p->s->be;
    const iris_train_ops *ops = p->ops;
    iris_perceiver_acts *a = &p->acts;
    if (a->n_media <= 0) {
        iris_set_error("perceiver: backward without a forward pass");
        return -1;
    }
    int T = a->n_media, M = a->n_rows, L = c->n_latents, D = c->dim, H = c->heads;
    int inner = H * c->dim_head, ff = D * c->ff_mult, TL = T * L, TM = T * M, TKV = T * (M + L);
    float scale = 1.0f / sqrtf((float)c->dim_head), eps = c->eps;

    ops->layernorm_backward(p->dz, gr(p, IRIS_PV_NORM_W), gr(p, IRIS_PV_NORM_B), dy, a->z[c->depth],
                            wt(p, IRIS_PV_NORM_W), TL, D, eps);
    zero(be, p->dx, (long)TM * D);
    for (int l = c->depth - 1; l >= 0; l--) {
        const iris_perceiver_layer_acts *s = iris_perceiver_layer(a, l);
        int b = IRIS_PV_SLOT(l, 0);
        iris_flamingo_ff_params fp = {
            wt(p, b + IRIS_PV_FF_NORM_W), wt(p, b + IRIS_PV_FF_W1), wt(p, b + IRIS_PV_FF_W2),
            gr(p, b + IRIS_PV_FF_NORM_W), gr(p, b + IRIS_PV_FF_NORM_B), gr(p, b + IRIS_PV_FF_W1),
            gr(p, b + IRIS_PV_FF_W2), p->lora[b + IRIS_PV_FF_W1], p->lora[b + IRIS_PV_FF_W2]};
        iris_flamingo_ff_backward(be, ops, &fp, p->dz, s->mid, s->fn, s->h, s->g, TL, D, ff, eps,
                                  p->dh, p->dlatn, p->dtmp);
        be->add(p->dmid, p->dz, p->dtmp, (long)TL * D);

        iris_linear_backward(be, wt(p, b + IRIS_PV_TO_OUT), gr(p, b + IRIS_PV_TO_OUT), p->dmid, s->att,
                             TL, inner, D, p->datt, 0);
        if (p->lora[b + IRIS_PV_TO_OUT]) iris_lora_site_backward(p->lora[b + IRIS_PV_TO_OUT], p->dmid, s->att, TL, p->datt);
        for (int t = 0; t < T; t++) {
            size_t qo = (size_t)t * L * inner, ko = (size_t)t * (M + L) * 2 * inner;
            ops->cross_attention_backward(p->dq + qo, p->dkv + ko, p->dkv + ko + inner, p->datt + qo,
                                          s->q + qo, s->kv + ko, s->kv + ko + inner, L, M + L,
                                          2 * inner, H, H, c->dim_head, scale);
        }
        iris_linear_backward(be, wt(p, b + IRIS_PV_TO_Q), gr(p, b + IRIS_PV_TO_Q), p->dq, s->latn, TL, D,
                             inner, p->dlatn, 0);
        if (p->lora[b + IRIS_PV_TO_Q]) iris_lora_site_backward(p->lora[b + IRIS_PV_TO_Q], p->dq, s->latn, TL, p->dlatn);
        iris_linear_backward(be, wt(p, b + IRIS_PV_TO_KV), gr(p, b + IRIS_PV_TO_KV), p->dkv, s->kvin, TKV,
                             D, 2 * inner, p->dkvin, 0);
        if (p->lora[b + IRIS_PV_TO_KV]) iris_lora_site_backward(p->lora[b + IRIS_PV_TO_KV], p->dkv, s->kvin, TKV, p->dkvin);
        for (int t = 0; t < T; t++) {
            const float *rows = p->dkvin + (size_t)t * (M + L) * D;
            float *dl = p->dlatn + (size_t)t * L * D;
            be->add(dl, dl, rows + (size_t)M * D, (long)L * D);
            be->copy(p->dxn + (size_t)t * M * D, rows, (long)M * D);
        }
        ops->layernorm_backward(p->dtmp, gr(p, b + IRIS_PV_NORM_MEDIA_W), gr(p, b + IRIS_PV_NORM_MEDIA_B),
                                p->dxn, a->x, wt(p, b + IRIS_PV_NORM_MEDIA_W), TM, D, eps);
        be->add(p->dx, p->dx, p->dtmp, (long)TM * D);
        ops->layernorm_backward(p->dtmp, gr(p, b + IRIS_PV_NORM_LAT_W), gr(p, b + IRIS_PV_NORM_LAT_B),
                                p->dlatn, a->z[l], wt(p, b + IRIS_PV_NORM_LAT_W), TL, D, eps);
        be->add(p->dz, p->dmid, p->dtmp, (long)TL * D);
    }
    float *g = gr(p, IRIS_PV_LATENTS);
    for (int t = 0; g && t < T; t++) be->add(g, g, p->dz + (size_t)t * L * D, (long)L * D);
    int F = a->n_frames, v = M / F;
    if ((g = gr(p, IRIS_PV_FRAME_EMBS)))
        for (int r = 0; r < TM; r++) {
            float *row = g + (size_t)((r / v) % F) * D;
            be->add(row, row, p->dx + (size_t)r * D, D);
        }
    if ((g = gr(p, IRIS_PV_MEDIA_TIME_EMBS)))
        for (int r = 0; r < TM; r++) {
            float *row = g + (size_t)(r / M) * D;
            be->add(row, row, p->dx + (size_t)r * D, D);
        }
    if (dx) be->copy(dx, p->dx, (long)TM * D);
    const char *err = be->error();
    if (err) {
        iris_set_error("perceiver backward: %s", err);
        return -1;
    }
    return 0;
}

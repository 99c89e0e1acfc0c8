/* clip_train.c — the vision tower's training forward and backward (see
 * clip_train.h).  The forward mirrors model/nets/clip.c op for op, over the
 * rows of all images of a batch at once (image b owns rows [b*n, (b+1)*n)).
 *
 * Backward of one pre-LN layer (x -> xmid = x + o(attn(ln1 x)) ->
 * y = xmid + fc2(act(fc1(ln2 xmid)))), with dcur = dL/dy:
 *   fc2, act, fc1, ln2 backward, dcur += (ln2 path)   -> dL/dxmid
 *   o, attention, q/k/v, ln1 backward, dcur += (ln1 path)   -> dL/dx
 * then pre-LN, the position / class embeddings (summed over images) and the
 * patch conv (a linear over the unfolded patches).
 */
#include "clip_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const layer_stem[CT_COUNT] = {
    "layer_norm1.weight", "layer_norm1.bias", "self_attn.q_proj.weight", "self_attn.q_proj.bias",
    "self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias",
    "self_attn.out_proj.weight", "self_attn.out_proj.bias", "layer_norm2.weight", "layer_norm2.bias",
    "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"};

/* Copies src (CPU descriptor, any dtype) into a new f32 parameter
 * [rows, cols] (cols 0: a vector of rows taken from src's first row). */
static int add_copy(iris_clip_train *t, iris_param_set *s, const char *stem, const iris_tensor *src, int rows,
                    int cols, int decay)
{
    char name[200];
    snprintf(name, sizeof name, "%s%s", t->prefix, stem);
    if (!src->data) {
        iris_set_error("vision tower: %s is missing", name);
        return -1;
    }
    int idx = iris_params_add(s, name, rows, cols, IRIS_PG_VISION);
    if (idx < 0) return -1;
    iris_param *p = &s->p[idx];
    p->decay = decay;
    float *host = malloc((size_t)p->n * sizeof(float));
    if (!host) {
        iris_set_error("out of memory converting %s", name);
        return -1;
    }
    int c = cols ? cols : rows;
    for (int r = 0; r < (cols ? rows : 1); r++) iris_tensor_row_to_f32(src, r, host + (size_t)r * c);
    int rc = t->be->upload(p->w, host, (size_t)p->n * sizeof(float));
    free(host);
    if (rc) {
        iris_set_error("cannot upload %s to the %s backend", name, t->be->name);
        return -1;
    }
    return idx;
}

static float *fal(const iris_backend *be, size_t n, int *bad)
{
    float *p = be->alloc((n ? n : 1) * sizeof(float));
    if (!p) *bad = 1;
    return p;
}

static int act_backward_ok(const iris_train_ops *ops, iris_act a)
{
    switch (a) {
    case IRIS_ACT_QUICK_GELU: return ops->quick_gelu_backward != NULL;
    case IRIS_ACT_GELU: return ops->gelu_backward != NULL;
    case IRIS_ACT_GELU_TANH: return ops->gelu_tanh_backward != NULL;
    }
    return 0;
}

int iris_clip_train_init(iris_clip_train *t, iris_param_set *s, const iris_clip *src, int feature_layer,
                         int keep_class, const iris_train_ops *ops, int max_images)
{
    memset(t, 0, sizeof *t);
    t->patch_w = t->patch_b = t->class_emb = t->pos_emb = t->pre_w = t->pre_b = -1;
    const iris_clip_config *c = &src->cfg;
    t->cfg = *c;
    t->be = s->be;
    t->ops = ops;
    if (!ops || !ops->attention_backward || !ops->layernorm_backward || !act_backward_ok(ops, c->act)) {
        iris_set_error("the %s backend cannot train the vision tower (its training table lacks the "
                       "attention, LayerNorm or activation backward)", ops ? ops->name : s->be->name);
        return -1;
    }
    int L = c->n_layers;
    int idx = feature_layer < 0 ? L + 1 + feature_layer : feature_layer;
    if (idx < 0 || idx > L) {
        iris_set_error("vision_feature_layer %d is outside 0..%d (or -%d..-1)", feature_layer, L, L + 1);
        return -1;
    }
    if (max_images < 1) max_images = 1;
    snprintf(t->prefix, sizeof t->prefix, "%s", src->prefix);
    t->n_run = idx;
    t->n_tok = iris_clip_n_tokens(c);
    int cls = c->class_token ? 1 : 0;
    t->skip = cls && !keep_class;
    t->n_patch = t->n_tok - cls;
    t->cpp = c->channels * c->patch * c->patch;
    t->max_images = max_images;
    int d = c->hidden, f = c->intermediate;

    if ((t->patch_w = add_copy(t, s, "embeddings.patch_embedding.weight", &src->patch_w, d, t->cpp, 1)) < 0)
        return -1;
    /* the parameter keeps the checkpoint's conv shape [d, C, p, p] (so the
     * training checkpoint reads like the model's); products use a [d, C*p*p] view */
    iris_tensor *pt = &s->p[t->patch_w].t;
    pt->ndim = 4;
    pt->shape[1] = c->channels;
    pt->shape[2] = pt->shape[3] = c->patch;
    if (src->patch_b.data &&
        (t->patch_b = add_copy(t, s, "embeddings.patch_embedding.bias", &src->patch_b, d, 0, 0)) < 0)
        return -1;
    if (cls && (t->class_emb = add_copy(t, s, "embeddings.class_embedding", &src->class_emb, d, 0, 1)) < 0)
        return -1;
    if ((t->pos_emb = add_copy(t, s, "embeddings.position_embedding.weight", &src->pos_emb, t->n_tok, d, 1)) < 0)
        return -1;
    if (c->pre_layernorm) {
        if ((t->pre_w = add_copy(t, s, "pre_layrnorm.weight", &src->pre_ln_w, d, 0, 0)) < 0) return -1;
        if ((t->pre_b = add_copy(t, s, "pre_layrnorm.bias", &src->pre_ln_b, d, 0, 0)) < 0) return -1;
    }
    t->layers = calloc((size_t)(t->n_run ? t->n_run : 1), sizeof *t->layers);
    if (!t->layers) {
        iris_set_error("out of memory");
        return -1;
    }
    for (int l = 0; l < t->n_run; l++) {
        const iris_clip_layer *S = &src->layers[l];
        const iris_tensor *ts[CT_COUNT] = {&S->ln1_w, &S->ln1_b, &S->q_w, &S->q_b, &S->k_w, &S->k_b,
                                           &S->v_w,   &S->v_b,   &S->o_w, &S->o_b, &S->ln2_w, &S->ln2_b,
                                           &S->fc1_w, &S->fc1_b, &S->fc2_w, &S->fc2_b};
        for (int i = 0; i < CT_COUNT; i++) {
            char stem[160];
            snprintf(stem, sizeof stem, "encoder.layers.%d.%s", l, layer_stem[i]);
            int is_w = i == CT_Q_W || i == CT_K_W || i == CT_V_W || i == CT_O_W || i == CT_FC1_W || i == CT_FC2_W;
            int rows = i == CT_FC1_W || i == CT_FC1_B ? f : d;
            int cols = !is_w ? 0 : i == CT_FC2_W ? f : d;
            if ((t->layers[l][i] = add_copy(t, s, stem, ts[i], rows, cols, is_w)) < 0) return -1;
        }
    }

    /* workspace */
    const iris_backend *be = t->be;
    size_t R = (size_t)max_images * t->n_tok, D = (size_t)d, F = (size_t)f;
    int bad = 0;
    t->xs = calloc((size_t)(unsigned)t->n_run + 1, sizeof *t->xs);
    t->acts = calloc((size_t)(t->n_run ? t->n_run : 1), sizeof *t->acts);
    size_t host_n = (size_t)(unsigned)t->n_patch * (unsigned)t->cpp;   /* both positive (config checked) */
    t->host = malloc((host_n ? host_n : 1) * sizeof(float));
    if (!t->xs || !t->acts || !t->host) {
        iris_set_error("out of memory");
        return -1;
    }
    t->patches = fal(be, (size_t)max_images * t->n_patch * t->cpp, &bad);
    t->x0 = fal(be, R * D, &bad);
    t->xs[0] = c->pre_layernorm ? fal(be, R * D, &bad) : t->x0;
    for (int l = 1; l <= t->n_run; l++) t->xs[l] = fal(be, R * D, &bad);
    for (int l = 0; l < t->n_run; l++) {
        iris_ct_acts *A = &t->acts[l];
        A->h1 = fal(be, R * D, &bad);
        A->q = fal(be, R * D, &bad);
        A->k = fal(be, R * D, &bad);
        A->v = fal(be, R * D, &bad);
        A->att = fal(be, R * D, &bad);
        A->xmid = fal(be, R * D, &bad);
        A->h2 = fal(be, R * D, &bad);
        A->f1 = fal(be, R * F, &bad);
    }
    t->dcur = fal(be, R * D, &bad);
    t->dh = fal(be, R * D, &bad);
    t->datt = fal(be, R * D, &bad);
    t->dq = fal(be, R * D, &bad);
    t->dk = fal(be, R * D, &bad);
    t->dv = fal(be, R * D, &bad);
    t->df = fal(be, R * F, &bad);
    t->fa = fal(be, R * F, &bad);
    t->tmp = fal(be, R * D, &bad);
    t->ones = fal(be, R, &bad);
    if (bad) {
        iris_set_error("out of memory for the vision tower's training workspace (%d images of %d tokens)",
                       max_images, t->n_tok);
        return -1;
    }
    float *one = malloc(R * sizeof(float));
    if (!one) {
        iris_set_error("out of memory");
        return -1;
    }
    for (size_t i = 0; i < R; i++) one[i] = 1.0f;
    int rc = be->upload(t->ones, one, R * sizeof(float));
    free(one);
    if (rc) {
        iris_set_error("cannot upload to the %s backend", be->name);
        return -1;
    }
    return 0;
}

void iris_clip_train_free(iris_clip_train *t)
{
    const iris_backend *be = t->be;
    if (!be) return;
    if (t->xs) {
        if (t->xs[0] != t->x0) be->free(t->xs[0]);
        for (int l = 1; l <= t->n_run; l++) be->free(t->xs[l]);
    }
    for (int l = 0; t->acts && l < t->n_run; l++) {
        iris_ct_acts *A = &t->acts[l];
        float *b[] = {A->h1, A->q, A->k, A->v, A->att, A->xmid, A->h2, A->f1};
        for (size_t i = 0; i < sizeof b / sizeof *b; i++) be->free(b[i]);
    }
    float *b[] = {t->patches, t->x0, t->dcur, t->dh, t->datt, t->dq, t->dk, t->dv, t->df, t->fa, t->tmp, t->ones};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++) be->free(b[i]);
    free(t->xs);
    free(t->acts);
    free(t->layers);
    free(t->host);
    memset(t, 0, sizeof *t);
}

int iris_clip_train_set_trainable(iris_clip_train *t, iris_param_set *s)
{
    int top[] = {t->patch_w, t->patch_b, t->class_emb, t->pos_emb, t->pre_w, t->pre_b};
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
        if (top[i] >= 0 && iris_params_set_trainable(s, top[i])) return -1;
    for (int l = 0; l < t->n_run; l++)
        for (int i = 0; i < CT_COUNT; i++)
            if (iris_params_set_trainable(s, t->layers[l][i])) return -1;
    return 0;
}

int iris_clip_train_n_feat(const iris_clip_train *t) { return t->n_tok - t->skip; }

/* ---- forward ---- */

/* [C, S, S] pixels -> [n_patch, C*p*p] rows flattened (c, ky, kx) like the
 * conv weight, patches in row-major order of the grid (as clip.c). */
static void unfold(const iris_clip_config *c, const float *px, float *rows)
{
    int p = c->patch, side = c->image_size / p, S = c->image_size;
    size_t cpp = (size_t)c->channels * p * p;
    for (int py = 0; py < side; py++)
        for (int pxi = 0; pxi < side; pxi++) {
            float *r = rows + ((size_t)py * side + pxi) * cpp;
            for (int ch = 0; ch < c->channels; ch++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(r + ((size_t)ch * p + ky) * p,
                           px + ((size_t)ch * S + (size_t)py * p + ky) * S + (size_t)pxi * p,
                           (size_t)p * sizeof *r);
        }
}

static const iris_tensor *T(iris_param_set *s, int i) { return i >= 0 ? &s->p[i].t : NULL; }

static void activation(const iris_backend *be, iris_act a, float *y, const float *x, long n)
{
    switch (a) {
    case IRIS_ACT_QUICK_GELU: be->quick_gelu(y, x, n); break;
    case IRIS_ACT_GELU: be->gelu(y, x, n); break;
    case IRIS_ACT_GELU_TANH: be->gelu_tanh(y, x, n); break;
    }
}

int iris_clip_train_forward(iris_clip_train *t, iris_param_set *s, const float *pixels, int nimg)
{
    const iris_backend *be = t->be;
    const iris_clip_config *c = &t->cfg;
    if (nimg < 1 || nimg > t->max_images) {
        iris_set_error("vision tower: %d images exceed the workspace of %d", nimg, t->max_images);
        return -1;
    }
    t->n_images = nimg;
    int n = t->n_tok, np = t->n_patch, cls = n - np, d = c->hidden, f = c->intermediate;
    int hd = d / c->n_heads, R = nimg * n;
    size_t plane = (size_t)c->channels * c->image_size * c->image_size, nd = (size_t)n * d;
    for (int b = 0; b < nimg; b++) {
        unfold(c, pixels + (size_t)b * plane, t->host);
        if (be->upload(t->patches + (size_t)b * np * t->cpp, t->host, (size_t)np * t->cpp * sizeof(float))) {
            iris_set_error("vision tower: cannot upload the patches");
            return -1;
        }
    }
    /* patch conv for every image at once, then each image's rows into place */
    iris_tensor pw = s->p[t->patch_w].t;
    pw.ndim = 2;
    pw.shape[1] = t->cpp;
    pw.shape[2] = pw.shape[3] = 0;
    be->linear(t->tmp, t->patches, &pw, T(s, t->patch_b), nimg * np, t->cpp, d);
    for (int b = 0; b < nimg; b++) {
        float *xb = t->x0 + (size_t)b * nd;
        be->copy(xb + (size_t)cls * d, t->tmp + (size_t)b * np * d, (long)np * d);
        if (cls) be->copy(xb, s->p[t->class_emb].w, d);
        be->add(xb, xb, s->p[t->pos_emb].w, (long)nd);
    }
    if (c->pre_layernorm) be->layernorm(t->xs[0], t->x0, T(s, t->pre_w), T(s, t->pre_b), R, d, c->eps);

    float scale = 1.0f / sqrtf((float)hd);
    for (int l = 0; l < t->n_run; l++) {
        const int *p = t->layers[l];
        iris_ct_acts *A = &t->acts[l];
        const float *x = t->xs[l];
        be->layernorm(A->h1, x, T(s, p[CT_LN1_W]), T(s, p[CT_LN1_B]), R, d, c->eps);
        be->linear(A->q, A->h1, T(s, p[CT_Q_W]), T(s, p[CT_Q_B]), R, d, d);
        be->linear(A->k, A->h1, T(s, p[CT_K_W]), T(s, p[CT_K_B]), R, d, d);
        be->linear(A->v, A->h1, T(s, p[CT_V_W]), T(s, p[CT_V_B]), R, d, d);
        for (int b = 0; b < nimg; b++) {
            size_t o = (size_t)b * nd;
            be->attention(A->att + o, A->q + o, A->k + o, A->v + o, n, 0, n, d, c->n_heads, c->n_heads, hd,
                          scale, 0, 0.0f);
        }
        be->linear(t->tmp, A->att, T(s, p[CT_O_W]), T(s, p[CT_O_B]), R, d, d);
        be->add(A->xmid, x, t->tmp, (long)R * d);
        be->layernorm(A->h2, A->xmid, T(s, p[CT_LN2_W]), T(s, p[CT_LN2_B]), R, d, c->eps);
        be->linear(A->f1, A->h2, T(s, p[CT_FC1_W]), T(s, p[CT_FC1_B]), R, d, f);
        activation(be, c->act, t->fa, A->f1, (long)R * f);
        be->linear(t->tmp, t->fa, T(s, p[CT_FC2_W]), T(s, p[CT_FC2_B]), R, f, d);
        be->add(t->xs[l + 1], A->xmid, t->tmp, (long)R * d);
    }
    /* d(features) start at zero: rows (and images) never set add nothing */
    be->scale(t->dcur, t->dcur, 0.0f, (long)R * d);
    if (be->error && be->error()) {
        iris_set_error("vision tower: %s backend failed in the forward pass: %s", be->name, be->error());
        return -1;
    }
    return 0;
}

const float *iris_clip_train_features(const iris_clip_train *t, int b)
{
    return t->xs[t->n_run] + ((size_t)b * t->n_tok + t->skip) * t->cfg.hidden;
}

int iris_clip_train_set_dfeatures(iris_clip_train *t, int b, const float *dy_host)
{
    if (b < 0 || b >= t->n_images) {
        iris_set_error("vision tower: image %d is not in the last forward (%d images)", b, t->n_images);
        return -1;
    }
    size_t d = (size_t)t->cfg.hidden;
    float *dst = t->dcur + ((size_t)b * t->n_tok + t->skip) * d;
    if (t->be->upload(dst, dy_host, (size_t)iris_clip_train_n_feat(t) * d * sizeof(float))) {
        iris_set_error("vision tower: cannot upload the feature gradient");
        return -1;
    }
    return 0;
}

/* ---- backward ---- */

/* y[rows, out] = x[rows, in] W^T + b: W.g += dy^T x, b.g += colsum(dy), and
 * dx = dy W (beta 0) or dx += dy W (beta 1) when dx is not NULL. */
static void lin_bwd(iris_clip_train *t, iris_param_set *s, int wi, int bi, float *dx, float beta, const float *dy,
                    const float *x, int rows, int in, int out)
{
    const iris_backend *be = t->be;
    iris_param *W = &s->p[wi], *B = bi >= 0 ? &s->p[bi] : NULL;
    if (W->g) be->gemm(1, 0, out, in, rows, 1.0f, dy, out, 0, x, in, 0, 1.0f, W->g, in, 0, 1);
    if (B && B->g) be->gemm(0, 0, 1, out, rows, 1.0f, t->ones, rows, 0, dy, out, 0, 1.0f, B->g, out, 0, 1);
    if (dx) be->gemm(0, 0, rows, in, out, 1.0f, dy, out, 0, W->w, in, 0, beta, dx, in, 0, 1);
}

static float *G(iris_param_set *s, int i) { return i >= 0 ? s->p[i].g : NULL; }
static const float *Wv(iris_param_set *s, int i) { return i >= 0 ? s->p[i].w : NULL; }

static void act_bwd(const iris_train_ops *ops, iris_act a, float *dx, const float *dy, const float *x, long n)
{
    switch (a) {
    case IRIS_ACT_QUICK_GELU: ops->quick_gelu_backward(dx, dy, x, n); break;
    case IRIS_ACT_GELU: ops->gelu_backward(dx, dy, x, n); break;
    case IRIS_ACT_GELU_TANH: ops->gelu_tanh_backward(dx, dy, x, n); break;
    }
}

int iris_clip_train_backward(iris_clip_train *t, iris_param_set *s)
{
    const iris_backend *be = t->be;
    const iris_train_ops *ops = t->ops;
    const iris_clip_config *c = &t->cfg;
    int nimg = t->n_images, n = t->n_tok, np = t->n_patch, cls = n - np, d = c->hidden, f = c->intermediate;
    int hd = d / c->n_heads, R = nimg * n;
    size_t nd = (size_t)n * d;
    float scale = 1.0f / sqrtf((float)hd);
    if (nimg < 1) {
        iris_set_error("vision tower: backward without a forward");
        return -1;
    }
    for (int l = t->n_run - 1; l >= 0; l--) {
        const int *p = t->layers[l];
        iris_ct_acts *A = &t->acts[l];
        /* MLP half */
        activation(be, c->act, t->fa, A->f1, (long)R * f);
        lin_bwd(t, s, p[CT_FC2_W], p[CT_FC2_B], t->df, 0.0f, t->dcur, t->fa, R, f, d);
        act_bwd(ops, c->act, t->df, t->df, A->f1, (long)R * f);
        lin_bwd(t, s, p[CT_FC1_W], p[CT_FC1_B], t->dh, 0.0f, t->df, A->h2, R, d, f);
        ops->layernorm_backward(t->tmp, G(s, p[CT_LN2_W]), G(s, p[CT_LN2_B]), t->dh, A->xmid, Wv(s, p[CT_LN2_W]),
                                R, d, c->eps);
        be->add(t->dcur, t->dcur, t->tmp, (long)R * d);
        /* attention half */
        lin_bwd(t, s, p[CT_O_W], p[CT_O_B], t->datt, 0.0f, t->dcur, A->att, R, d, d);
        for (int b = 0; b < nimg; b++) {
            size_t o = (size_t)b * nd;
            ops->attention_backward(t->dq + o, t->dk + o, t->dv + o, t->datt + o, A->q + o, A->k + o, A->v + o, n,
                                    c->n_heads, c->n_heads, hd, scale, 0);
        }
        lin_bwd(t, s, p[CT_Q_W], p[CT_Q_B], t->dh, 0.0f, t->dq, A->h1, R, d, d);
        lin_bwd(t, s, p[CT_K_W], p[CT_K_B], t->dh, 1.0f, t->dk, A->h1, R, d, d);
        lin_bwd(t, s, p[CT_V_W], p[CT_V_B], t->dh, 1.0f, t->dv, A->h1, R, d, d);
        ops->layernorm_backward(t->tmp, G(s, p[CT_LN1_W]), G(s, p[CT_LN1_B]), t->dh, t->xs[l], Wv(s, p[CT_LN1_W]),
                                R, d, c->eps);
        be->add(t->dcur, t->dcur, t->tmp, (long)R * d);
    }
    /* dx0: through pre-LN (or dcur itself) */
    float *dx0 = t->dcur;
    if (c->pre_layernorm) {
        ops->layernorm_backward(t->tmp, G(s, t->pre_w), G(s, t->pre_b), t->dcur, t->x0, Wv(s, t->pre_w), R, d,
                                c->eps);
        dx0 = t->tmp;
    }
    /* position embeddings: the sum over images; class embedding: row 0 of each */
    float *gpos = G(s, t->pos_emb), *gcls = G(s, t->class_emb);
    if (gpos) be->gemm(0, 0, 1, (int)nd, nimg, 1.0f, t->ones, nimg, 0, dx0, (int)nd, 0, 1.0f, gpos, (int)nd, 0, 1);
    if (gcls) be->gemm(0, 0, 1, d, nimg, 1.0f, t->ones, nimg, 0, dx0, (int)nd, 0, 1.0f, gcls, d, 0, 1);
    /* patch conv: gather the patch rows of every image, then one product */
    float *dpatch = dx0 == t->tmp ? t->dh : t->tmp;
    for (int b = 0; b < nimg; b++)
        be->copy(dpatch + (size_t)b * np * d, dx0 + (size_t)b * nd + (size_t)cls * d, (long)np * d);
    lin_bwd(t, s, t->patch_w, t->patch_b, NULL, 0.0f, dpatch, t->patches, nimg * np, t->cpp, d);
    if (be->error && be->error()) {
        iris_set_error("vision tower: %s backend failed in the backward pass: %s", be->name, be->error());
        return -1;
    }
    return 0;
}

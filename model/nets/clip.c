/* clip.c — CLIP / SigLIP vision transformer forward (see clip.h). */
#include "clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

static const char *const tower_prefixes[] = {
    "vision_tower.vision_model.", "model.vision_tower.vision_model.", "model.vision_tower.",
    "vision_tower.", "vision_model.", "",
};

/* Looks up prefix+name with the given shape and prepares it for the backend;
 * an optional tensor that is absent leaves dst empty. */
static int take(iris_clip *m, const iris_weights *w, iris_tensor *dst, const char *name,
                int ndim, const int64_t *shape, int optional)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", m->prefix, name);
    const iris_tensor *t = optional ? iris_weights_find(w, full) : iris_weights_get_shaped(w, full, ndim, shape);
    if (!t) return optional ? 0 : -1;
    if (optional && (t = iris_weights_get_shaped(w, full, ndim, shape)) == NULL) return -1;
    if (m->be->weight_upload(dst, t)) {
        iris_set_error("%s: cannot prepare %s for the %s backend", w->path, full, m->be->name);
        return -1;
    }
    return 0;
}

/* Like take, for a tensor whose file shape differs from the view we compute
 * with (the patch conv [h, C, p, p] as [h, C*p*p]; class embedding [h] as [1, h]). */
static int take_view(iris_clip *m, const iris_weights *w, iris_tensor *dst, const char *name,
                     int ndim, const int64_t *shape, int64_t rows, int64_t cols)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", m->prefix, name);
    const iris_tensor *t = iris_weights_get_shaped(w, full, ndim, shape);
    if (!t) return -1;
    iris_tensor view = *t;
    view.owns_data = 0;
    view.ndim = 2;
    view.shape[0] = rows;
    view.shape[1] = cols;
    view.shape[2] = view.shape[3] = 0;
    if (m->be->weight_upload(dst, &view)) {
        iris_set_error("%s: cannot prepare %s for the %s backend", w->path, full, m->be->name);
        return -1;
    }
    return 0;
}

static int load_layer(iris_clip *m, const iris_weights *w, const iris_clip_names *nm, int i)
{
    const iris_clip_config *c = &m->cfg;
    iris_clip_layer *L = &m->layers[i];
    int64_t d = c->hidden, f = c->intermediate;
    int64_t dd[2] = {d, d}, fd[2] = {f, d}, df[2] = {d, f}, vd[1] = {d}, vf[1] = {f};
    const struct { iris_tensor *dst; const char *fmt; int nd; const int64_t *shape; } parts[] = {
        {&L->ln1_w, nm->ln1_w, 1, vd}, {&L->ln1_b, nm->ln1_b, 1, vd},
        {&L->q_w, nm->q_w, 2, dd},     {&L->q_b, nm->q_b, 1, vd},
        {&L->k_w, nm->k_w, 2, dd},     {&L->k_b, nm->k_b, 1, vd},
        {&L->v_w, nm->v_w, 2, dd},     {&L->v_b, nm->v_b, 1, vd},
        {&L->o_w, nm->o_w, 2, dd},     {&L->o_b, nm->o_b, 1, vd},
        {&L->ln2_w, nm->ln2_w, 1, vd}, {&L->ln2_b, nm->ln2_b, 1, vd},
        {&L->fc1_w, nm->fc1_w, 2, fd}, {&L->fc1_b, nm->fc1_b, 1, vf},
        {&L->fc2_w, nm->fc2_w, 2, df}, {&L->fc2_b, nm->fc2_b, 1, vd},
    };
    for (size_t k = 0; k < sizeof parts / sizeof *parts; k++) {
        char n[160];
        snprintf(n, sizeof n, parts[k].fmt, i);
        if (take(m, w, parts[k].dst, n, parts[k].nd, parts[k].shape, 0)) return -1;
    }
    return 0;
}

int iris_clip_load_names(iris_clip *m, const iris_backend *be, const iris_weights *w,
                         const iris_clip_config *cfg, const iris_clip_names *nm)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
    snprintf(m->prefix, sizeof m->prefix, "%s", nm->prefix);
    const iris_clip_config *c = &m->cfg;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) {
        iris_set_error("%s: out of memory", w->path);
        return -1;
    }
    m->loaded = 1;   /* from here on iris_clip_free releases what was taken */
    int64_t d = c->hidden, p = c->patch, cpp = (int64_t)c->channels * p * p;
    int64_t conv[4] = {d, c->channels, p, p}, vd[1] = {d}, pos[2] = {iris_clip_n_tokens(c), d};
    if (take_view(m, w, &m->patch_w, nm->patch_w, 4, conv, d, cpp) ||
        (nm->patch_b && take(m, w, &m->patch_b, nm->patch_b, 1, vd, 1)) ||
        take(m, w, &m->pos_emb, nm->pos_emb, 2, pos, 0))
        goto fail;
    if (c->class_token && take_view(m, w, &m->class_emb, nm->class_emb, 1, vd, 1, d))
        goto fail;
    if (c->pre_layernorm && (take(m, w, &m->pre_ln_w, nm->pre_ln_w, 1, vd, 0) ||
                             take(m, w, &m->pre_ln_b, nm->pre_ln_b, 1, vd, 0)))
        goto fail;
    if (nm->post_ln_w && (take(m, w, &m->post_ln_w, nm->post_ln_w, 1, vd, 1) ||
                          take(m, w, &m->post_ln_b, nm->post_ln_b, 1, vd, 1)))
        goto fail;
    if (!m->post_ln_w.data != !m->post_ln_b.data) {
        iris_set_error("%s: %s%s needs both its weight and its bias", w->path, m->prefix, nm->post_ln_w);
        goto fail;
    }
    for (int i = 0; i < c->n_layers; i++)
        if (load_layer(m, w, nm, i)) goto fail;
    return 0;
fail:
    iris_clip_free(m);
    return -1;
}

int iris_clip_load(iris_clip *m, const iris_backend *be, const iris_weights *w,
                   const iris_clip_config *cfg)
{
    iris_clip_names nm = {
        .patch_w = "embeddings.patch_embedding.weight", .patch_b = "embeddings.patch_embedding.bias",
        .class_emb = "embeddings.class_embedding", .pos_emb = "embeddings.position_embedding.weight",
        .pre_ln_w = "pre_layrnorm.weight", .pre_ln_b = "pre_layrnorm.bias",
        .ln1_w = "encoder.layers.%d.layer_norm1.weight", .ln1_b = "encoder.layers.%d.layer_norm1.bias",
        .q_w = "encoder.layers.%d.self_attn.q_proj.weight", .q_b = "encoder.layers.%d.self_attn.q_proj.bias",
        .k_w = "encoder.layers.%d.self_attn.k_proj.weight", .k_b = "encoder.layers.%d.self_attn.k_proj.bias",
        .v_w = "encoder.layers.%d.self_attn.v_proj.weight", .v_b = "encoder.layers.%d.self_attn.v_proj.bias",
        .o_w = "encoder.layers.%d.self_attn.out_proj.weight", .o_b = "encoder.layers.%d.self_attn.out_proj.bias",
        .ln2_w = "encoder.layers.%d.layer_norm2.weight", .ln2_b = "encoder.layers.%d.layer_norm2.bias",
        .fc1_w = "encoder.layers.%d.mlp.fc1.weight", .fc1_b = "encoder.layers.%d.mlp.fc1.bias",
        .fc2_w = "encoder.layers.%d.mlp.fc2.weight", .fc2_b = "encoder.layers.%d.mlp.fc2.bias",
    };
    int found = 0;
    for (size_t i = 0; i < sizeof tower_prefixes / sizeof *tower_prefixes && !found; i++) {
        char probe[128];
        snprintf(probe, sizeof probe, "%sembeddings.patch_embedding.weight", tower_prefixes[i]);
        if (iris_weights_find(w, probe)) {
            snprintf(nm.prefix, sizeof nm.prefix, "%s", tower_prefixes[i]);
            found = 1;
        }
    }
    if (!found) {
        memset(m, 0, sizeof *m);
        iris_set_error("%s: no vision tower (no tensor named "
                       "[vision_tower.][vision_model.]embeddings.patch_embedding.weight)", w->path);
        return -1;
    }
    return iris_clip_load_names(m, be, w, cfg, &nm);
}

static void drop(const iris_backend *be, iris_tensor *t)
{
    if (t->data) be->weight_free(t);
    memset(t, 0, sizeof *t);
}

void iris_clip_free(iris_clip *m)
{
    if (!m->loaded) return;
    const iris_backend *be = m->be;
    drop(be, &m->patch_w);
    drop(be, &m->patch_b);
    drop(be, &m->class_emb);
    drop(be, &m->pos_emb);
    drop(be, &m->pre_ln_w);
    drop(be, &m->pre_ln_b);
    drop(be, &m->post_ln_w);
    drop(be, &m->post_ln_b);
    for (int i = 0; m->layers && i < m->cfg.n_layers; i++) {
        /* the layer struct is nothing but iris_tensor fields */
        iris_tensor *t = &m->layers[i].ln1_w;
        int n = (int)(sizeof(iris_clip_layer) / sizeof(iris_tensor));
        for (int j = 0; j < n; j++) drop(be, &t[j]);
    }
    free(m->layers);
    m->layers = NULL;
    m->loaded = 0;
}

/* [C, H, W] pixels -> [n_patches, C*p*p] rows, each flattened (c, ky, kx) as
 * the conv weight is, patches in row-major order of the patch grid. */
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

static void activation(const iris_backend *be, iris_act a, float *x, long n)
{
    switch (a) {
    case IRIS_ACT_QUICK_GELU: be->quick_gelu(x, x, n); break;
    case IRIS_ACT_GELU: be->gelu(x, x, n); break;
    case IRIS_ACT_GELU_TANH: be->gelu_tanh(x, x, n); break;
    }
}

int iris_clip_hidden_states(iris_clip *m, const float *pixels, int n_run, float *const *states)
{
    const iris_clip_config *c = &m->cfg;
    const iris_backend *be = m->be;
    if (!m->loaded || n_run < 0 || n_run > c->n_layers) {
        iris_set_error("clip: cannot run %d of %d layers", n_run, c->n_layers);
        return -1;
    }
    int n = iris_clip_n_tokens(c), cls = c->class_token ? 1 : 0, np = n - cls;
    int d = c->hidden, f = c->intermediate, hd = d / c->n_heads;
    size_t cpp = (size_t)c->channels * c->patch * c->patch;
    size_t nd = (size_t)n * d;

    float *host = malloc((size_t)np * cpp * sizeof *host);
    float *patches = be->alloc((size_t)np * cpp * sizeof(float));
    float *x = be->alloc(nd * sizeof(float)), *h = be->alloc(nd * sizeof(float));
    float *q = be->alloc(nd * sizeof(float)), *k = be->alloc(nd * sizeof(float));
    float *v = be->alloc(nd * sizeof(float)), *att = be->alloc(nd * sizeof(float));
    float *mlp = be->alloc((size_t)n * f * sizeof(float));
    float *pos = be->alloc(nd * sizeof(float));
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    int rc = -1;
    if (!host || !patches || !x || !h || !q || !k || !v || !att || !mlp || !pos || !ids) {
        iris_set_error("clip: out of memory for %d tokens of %d", n, d);
        goto done;
    }

    /* ---- embeddings: conv as a linear over unfolded patches */
    unfold(c, pixels, host);
    if (be->upload(patches, host, (size_t)np * cpp * sizeof(float))) goto backend_fail;
    be->linear(x + (size_t)cls * d, patches, &m->patch_w, m->patch_b.data ? &m->patch_b : NULL,
               np, (int)cpp, d);
    if (cls) {
        int32_t zero = 0;
        be->embedding(x, &m->class_emb, &zero, 1, 1.0f);
    }
    for (int i = 0; i < n; i++) ids[i] = i;
    be->embedding(pos, &m->pos_emb, ids, n, 1.0f);
    be->add(x, x, pos, (long)nd);
    if (c->pre_layernorm) be->layernorm(x, x, &m->pre_ln_w, &m->pre_ln_b, n, d, c->eps);
    if (states && states[0]) be->copy(states[0], x, (long)nd);

    /* ---- pre-LN encoder layers */
    float scale = 1.0f / sqrtf((float)hd);
    for (int l = 0; l < n_run; l++) {
        const iris_clip_layer *L = &m->layers[l];
        be->layernorm(h, x, &L->ln1_w, &L->ln1_b, n, d, c->eps);
        be->linear(q, h, &L->q_w, &L->q_b, n, d, d);
        be->linear(k, h, &L->k_w, &L->k_b, n, d, d);
        be->linear(v, h, &L->v_w, &L->v_b, n, d, d);
        be->attention(att, q, k, v, n, 0, n, d, c->n_heads, c->n_heads, hd, scale, 0, 0.0f);
        be->linear(h, att, &L->o_w, &L->o_b, n, d, d);
        be->add(x, x, h, (long)nd);
        be->layernorm(h, x, &L->ln2_w, &L->ln2_b, n, d, c->eps);
        be->linear(mlp, h, &L->fc1_w, &L->fc1_b, n, d, f);
        activation(be, c->act, mlp, (long)n * f);
        be->linear(h, mlp, &L->fc2_w, &L->fc2_b, n, f, d);
        be->add(x, x, h, (long)nd);
        if (states && states[l + 1]) be->copy(states[l + 1], x, (long)nd);
        if (be->error()) goto backend_fail;
    }
    if (be->sync()) goto backend_fail;
    rc = 0;
    goto done;
backend_fail:
    iris_set_error("clip: %s backend: %s", be->name, be->error() ? be->error() : "upload failed");
done:
    free(host);
    free(ids);
    float *bufs[] = {patches, x, h, q, k, v, att, mlp, pos};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) be->free(bufs[i]);
    return rc;
}

int iris_clip_features(iris_clip *m, const float *pixels, int layer, float *out)
{
    int L = m->cfg.n_layers;
    int idx = layer < 0 ? L + 1 + layer : layer;
    if (idx < 0 || idx > L) {
        iris_set_error("clip: feature layer %d is outside 0..%d (or -%d..-1)", layer, L, L + 1);
        return -1;
    }
    float **states = calloc((size_t)idx + 1, sizeof *states);
    if (!states) {
        iris_set_error("clip: out of memory");
        return -1;
    }
    states[idx] = out;
    int rc = iris_clip_hidden_states(m, pixels, idx, states);
    free(states);
    return rc;
}

#include "llama_train.h"
#include "llama_train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nets/llama.h"
#include "nets/llama_internal.h"

/* ---- loading: every weight becomes an f32 parameter ---- */

static const char *const hf_suffix[TL_GATE + 3] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "self_attn.q_proj.bias",
    "self_attn.k_proj.bias", "self_attn.v_proj.bias", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"};

static const char *detect_prefix(const iris_weights *w)
{
    static const char *const cands[] = {"model.", "language_model.model.", "model.language_model.", ""};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%sembed_tokens.weight", cands[i]);
        if (iris_weights_find(w, name)) return cands[i];
    }
    return "model.";
}

/* Copies a bound weight (CPU descriptor, any dtype) into a new f32 parameter. */
int iris_llama_train_add_from(iris_llama_train *m, const char *name, const iris_tensor *src, int group)
{
    if (!src->data) return -1;
    int rows = src->ndim == 1 ? (int)src->shape[0] : (int)iris_tensor_rows(src);
    int cols = src->ndim == 1 ? 0 : (int)iris_tensor_cols(src);
    int idx = iris_params_add(&m->params, name, rows, cols, group);
    if (idx < 0) return -2;
    int c = cols ? cols : rows;
    float *host = malloc((size_t)m->params.p[idx].n * sizeof(float));
    if (!host) {
        iris_set_error("out of memory converting %s", name);
        return -2;
    }
    for (int r = 0; r < (cols ? rows : 1); r++) iris_tensor_row_to_f32(src, r, host + (size_t)r * c);
    int rc = m->be->upload(m->params.p[idx].w, host, (size_t)m->params.p[idx].n * sizeof(float));
    free(host);
    if (rc) {
        iris_set_error("cannot upload %s to the %s backend", name, m->be->name);
        return -2;
    }
    return idx;
}

int iris_llama_train_init(iris_llama_train *m, const iris_weights *w, const iris_llama_config *cfg,
                          const iris_backend *be, const iris_train_ops *ops, int max_len,
                          int checkpointing)
{
    memset(m, 0, sizeof *m);
    m->be = be;
    m->ops = ops;
    m->max_len = max_len;
    m->checkpointing = checkpointing;
    m->embed = m->out_norm = m->lm_head = m->out_norm_b = m->pos_embd = -1;
    if (!ops || !ops->attention_backward) {
        iris_set_error("the %s backend cannot train (no attention backward in its training table)",
                       ops ? ops->name : be->name);
        return -1;
    }
    if (IRIS_ARCH_IS_GENERIC(cfg->arch) && strcmp(be->name, "cpu") != 0) {
        iris_set_error("training %s language models runs on the CPU backend only (for now)", cfg->arch_name);
        return -1;
    }
    iris_llama src;
    /* Bind on the CPU (shares the mmap) whatever the training backend. */
    if (iris_llama_load(&src, w, cfg, iris_cpu_backend(), 1, NULL)) return -1;
    m->cfg = src.cfg;
    m->gguf = w->gguf != NULL;
    snprintf(m->prefix, sizeof m->prefix, "%s", m->gguf ? "model." : detect_prefix(w));
    int L = m->cfg.n_layers;
    int rc = -1;
    m->layers = calloc((size_t)L, sizeof *m->layers);
    if (!m->layers || iris_params_init(&m->params, be, 16 + L * (TL_COUNT + 2 * IRIS_LM_COUNT))) {
        iris_set_error("out of memory");
        goto done;
    }
    if (IRIS_ARCH_IS_GENERIC(m->cfg.arch)) {
        rc = iris_decoder_train_add_params(m, w, &src);
        goto done;
    }
    char name[200];
    snprintf(name, sizeof name, "%sembed_tokens.weight", m->prefix);
    if ((m->embed = iris_llama_train_add_from(m, name, &src.tok_embd, IRIS_PG_LLM)) < 0) goto done;
    snprintf(name, sizeof name, "%snorm.weight", m->prefix);
    if ((m->out_norm = iris_llama_train_add_from(m, name, &src.out_norm, IRIS_PG_LLM)) < 0) goto done;
    m->params.p[m->out_norm].decay = 0;
    if (m->cfg.tied_embeddings) {
        m->lm_head = m->embed;
    } else {
        /* lm_head sits beside the "model." level: strip its last component. */
        size_t pl = strlen(m->prefix);
        char head_prefix[64];
        snprintf(head_prefix, sizeof head_prefix, "%s", m->prefix);
        if (pl >= 6 && !strcmp(m->prefix + pl - 6, "model.")) head_prefix[pl - 6] = 0;
        if (!strcmp(m->prefix, "model.language_model.")) snprintf(head_prefix, sizeof head_prefix, "%s", "");
        snprintf(name, sizeof name, "%slm_head.weight", head_prefix);
        if ((m->lm_head = iris_llama_train_add_from(m, name, &src.lm_head, IRIS_PG_LLM)) < 0) goto done;
    }
    for (int l = 0; l < L; l++) {
        iris_llama_layer *S = &src.layers[l];
        const iris_tensor *ts[TL_COUNT] = {&S->attn_norm, &S->wq, &S->wk, &S->wv, &S->wo, &S->bq,
                                           &S->bk, &S->bv, &S->ffn_norm, &S->w_gate, &S->w_up,
                                           &S->w_down};
        for (int i = 0; i < IRIS_LM_COUNT; i++) m->layers[l].lora_a[i] = m->layers[l].lora_b[i] = -1;
        for (int i = 0; i < TL_COUNT; i++) {
            m->layers[l].p[i] = -1;
            if (i > TL_DOWN || !ts[i]->data) continue;
            snprintf(name, sizeof name, "%slayers.%d.%s", m->prefix, l, hf_suffix[i]);
            int idx = iris_llama_train_add_from(m, name, ts[i], IRIS_PG_LLM);
            if (idx < 0) goto done;
            m->layers[l].p[i] = idx;
            if (i == TL_ATTN_NORM || i == TL_FFN_NORM) m->params.p[idx].decay = 0;
        }
    }
    rc = 0;
done:
    iris_llama_free(&src);
    if (rc) iris_llama_train_free(m);
    return rc;
}

int iris_llama_train_unfreeze_all(iris_llama_train *m)
{
    for (int i = 0; i < m->params.n; i++)
        if (m->params.p[i].group == IRIS_PG_LLM && iris_params_set_trainable(&m->params, i)) return -1;
    return 0;
}

static int lin_dims(const iris_llama_config *c, int mod, int *in, int *out)
{
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    switch (mod) {
    case IRIS_LM_Q: *in = c->dim; *out = qd; break;
    case IRIS_LM_K: case IRIS_LM_V: *in = c->dim; *out = kvd; break;
    case IRIS_LM_O: *in = qd; *out = c->dim; break;
    case IRIS_LM_GATE: case IRIS_LM_UP: *in = c->dim; *out = c->ffn_dim; break;
    case IRIS_LM_QKV: *in = c->dim; *out = qd + 2 * kvd; break;
    default: *in = c->ffn_dim; *out = c->dim; break;
    }
    return 0;
}

int iris_llama_train_module_path(const iris_llama_train *m, int l, int mod, char *out, size_t cap)
{
    const char *path = iris_lora_module_path(m->cfg.arch, mod);
    /* Generic decoders: m->prefix is the model level ("transformer."); the
     * layer's own part is the architecture's ("blocks.%d."). */
    const iris_decoder_names *N = IRIS_ARCH_IS_GENERIC(m->cfg.arch) ? iris_decoder_names_of(m->cfg.arch) : NULL;
    if (!path || l < 0 || l >= m->cfg.n_layers) {
        iris_set_error("%s layer %d has no LoRA module %s", m->cfg.arch_name, l, iris_lora_module_name(mod));
        return -1;
    }
    char layer[64];
    snprintf(layer, sizeof layer, N ? N->layer : "layers.%d.", l);
    if ((size_t)snprintf(out, cap, "%s%s%s", m->prefix, layer, path) >= cap) {
        iris_set_error("module path too long");
        return -1;
    }
    return 0;
}

int iris_llama_train_begin_lora(iris_llama_train *m, const iris_lora_config *lc)
{
    if (lc->r <= 0) {
        iris_set_error("LoRA rank must be positive (got %d)", lc->r);
        return -1;
    }
    m->has_lora = 1;
    m->lora = *lc;
    m->lora_scale = iris_lora_scale(lc);
    return 0;
}

int iris_llama_train_add_lora_site(iris_llama_train *m, int l, int mod, const char *module, uint64_t seed)
{
    const iris_lora_config *lc = &m->lora;
    int in, out;
    lin_dims(&m->cfg, mod, &in, &out);
    char name[300];
    snprintf(name, sizeof name, "%s.lora_A.weight", module);
    int a = iris_params_add(&m->params, name, lc->r, in, IRIS_PG_LORA);
    if (a < 0) return -1;
    snprintf(name, sizeof name, "%s.lora_B.weight", module);
    int b = iris_params_add(&m->params, name, out, lc->r, IRIS_PG_LORA);
    if (b < 0 || iris_params_set_trainable(&m->params, a) || iris_params_set_trainable(&m->params, b)) return -1;
    float *host = malloc((size_t)lc->r * in * sizeof(float));
    if (!host) {
        iris_set_error("out of memory");
        return -1;
    }
    iris_kaiming_uniform(host, lc->r, in, iris_rng_mix(seed, (uint64_t)(l * 16 + mod)));
    int rc = m->be->upload(m->params.p[a].w, host, (size_t)lc->r * in * sizeof(float));
    free(host);
    if (rc) return -1;
    m->layers[l].lora_a[mod] = a;
    m->layers[l].lora_b[mod] = b;
    return 0;
}

int iris_llama_train_add_lora(iris_llama_train *m, const iris_lora_config *lc, uint64_t seed)
{
    if (lc->r <= 0) {
        iris_set_error("LoRA rank must be positive (got %d)", lc->r);
        return -1;
    }
    iris_lora_config rc_lc = *lc;
    if (iris_lora_resolve_targets(&rc_lc, m->cfg.arch, m->cfg.arch_name)) return -1;
    if (iris_llama_train_begin_lora(m, &rc_lc)) return -1;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        if (!iris_lora_targets_layer(&rc_lc, l)) continue;
        for (int mod = 0; mod < IRIS_LM_COUNT; mod++) {
            if (!(rc_lc.targets & (1u << mod))) continue;
            char module[256];
            if (iris_llama_train_module_path(m, l, mod, module, sizeof module) ||
                iris_llama_train_add_lora_site(m, l, mod, module, seed))
                return -1;
        }
    }
    return 0;
}

/* ---- workspace ---- */

static float *fal(const iris_backend *be, size_t n, int *bad)
{
    float *p = be->alloc((n ? n : 1) * sizeof(float));
    if (!p) *bad = 1;
    return p;
}

int iris_llama_train_prepare(iris_llama_train *m)
{
    const iris_llama_config *c = &m->cfg;
    const iris_backend *be = m->be;
    size_t T = (size_t)m->max_len, d = c->dim, f = c->ffn_dim;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = d > f ? d : f;
    wide = wide > qd ? wide : qd;
    int bad = 0, L = c->n_layers, nsets = m->checkpointing ? 1 : L;
    m->acts = calloc((size_t)nsets, sizeof *m->acts);
    m->xs = calloc((size_t)L + 1, sizeof *m->xs);
    m->pos = calloc(T, sizeof *m->pos);
    m->targets = calloc(T, sizeof *m->targets);
    m->ids = calloc(T, sizeof *m->ids);
    if (!m->acts || !m->xs || !m->pos || !m->targets || !m->ids) {
        iris_set_error("out of memory");
        return -1;
    }
    for (int l = 0; l <= L; l++) m->xs[l] = fal(be, T * d, &bad);
    for (int s = 0; s < nsets; s++) {
        iris_tl_acts *A = &m->acts[s];
        A->xn1 = fal(be, T * d, &bad);
        A->q = fal(be, T * qd, &bad);
        A->k = fal(be, T * kvd, &bad);
        A->v = fal(be, T * kvd, &bad);
        A->att = fal(be, T * qd, &bad);
        A->xmid = fal(be, T * d, &bad);
        A->xn2 = fal(be, T * d, &bad);
        A->g = fal(be, T * f, &bad);
        A->u = fal(be, T * f, &bad);
        A->a = fal(be, T * f, &bad);
        if (IRIS_ARCH_IS_GENERIC(c->arch) && (c->qk_norm || c->clip_qkv > 0)) {
            A->qr = fal(be, T * qd, &bad);
            A->kr = fal(be, T * kvd, &bad);
        }
        if (!m->has_lora) continue;
        /* LoRA buffers for the union of targeted modules (any layer). */
        for (int mod = 0; mod < IRIS_LM_COUNT; mod++) {
            if (!(m->lora.targets & (1u << mod))) continue;
            int in, out;
            lin_dims(c, mod, &in, &out);
            A->lh[mod] = fal(be, T * m->lora.r, &bad);
            if (m->lora.dropout > 0) A->lx[mod] = fal(be, T * in, &bad);
        }
    }
    m->xf = fal(be, T * d, &bad);
    m->logits = fal(be, T * c->vocab_size, &bad);
    m->loss = fal(be, T, &bad);
    m->dcur = fal(be, T * d, &bad);
    m->dxn = fal(be, T * d, &bad);
    m->tmp = fal(be, T * wide, &bad);
    m->da = fal(be, T * f, &bad);
    m->dg = fal(be, T * f, &bad);
    m->du = fal(be, T * f, &bad);
    m->datt = fal(be, T * qd, &bad);
    m->dq = fal(be, T * qd, &bad);
    m->dk = fal(be, T * kvd, &bad);
    m->dv = fal(be, T * kvd, &bad);
    m->dh = fal(be, T * (m->has_lora ? (size_t)m->lora.r : 1), &bad);
    m->dtmp = fal(be, T * wide, &bad);
    if (IRIS_ARCH_IS_GENERIC(c->arch)) {
        m->qkv = fal(be, T * 3 * d, &bad);
        if (!(m->pos_rows = calloc(T, sizeof *m->pos_rows))) bad = 1;
    }
    if (bad) {
        iris_set_error("out of memory for the training workspace (%d tokens)", m->max_len);
        return -1;
    }
    return 0;
}

static void free_acts(const iris_backend *be, iris_tl_acts *A)
{
    float *b[] = {A->xn1, A->q, A->k, A->v, A->att, A->xmid, A->xn2, A->g, A->u, A->a, A->qr, A->kr};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) be->free(b[i]);
    for (int i = 0; i < IRIS_LM_COUNT; i++) {
        be->free(A->lh[i]);
        be->free(A->lx[i]);
    }
}

void iris_llama_train_free(iris_llama_train *m)
{
    const iris_backend *be = m->be;
    if (!be) return;
    if (m->acts)
        for (int s = 0; s < (m->checkpointing ? 1 : m->cfg.n_layers); s++) free_acts(be, &m->acts[s]);
    free(m->acts);
    if (m->xs)
        for (int l = 0; l <= m->cfg.n_layers; l++) be->free(m->xs[l]);
    free(m->xs);
    float *b[] = {m->xf, m->logits, m->loss, m->dcur, m->dxn, m->tmp, m->da, m->dg, m->du,
                  m->datt, m->dq, m->dk, m->dv, m->dh, m->dtmp, m->qkv};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) be->free(b[i]);
    free(m->pos_rows);
    free(m->pos);
    free(m->targets);
    free(m->ids);
    if (m->params.p) iris_params_free(&m->params);
    free(m->layers);
    memset(m, 0, sizeof *m);
}

/* ---- linear with LoRA: forward and backward ---- */

static iris_param *P(iris_llama_train *m, int i) { return i >= 0 ? &m->params.p[i] : NULL; }

static uint64_t site_key(const iris_llama_train *m, int l, int mod)
{
    return iris_rng_mix(m->dropout_key, (uint64_t)l * 16 + (uint64_t)mod);
}

void iris_tl_lin_fwd(iris_llama_train *m, iris_tl_acts *S, int l, int mod, float *y, const float *x,
                     int n, int in, int out, int wi, int bi)
{
    const iris_backend *be = m->be;
    iris_param *W = P(m, wi), *B = P(m, bi);
    be->linear(y, x, &W->t, B ? &B->t : NULL, n, in, out);
    int ai = m->layers[l].lora_a[mod];
    if (ai < 0) return;
    iris_param *LA = P(m, ai), *LB = P(m, m->layers[l].lora_b[mod]);
    int r = m->lora.r;
    const float *xd = x;
    if (m->lora.dropout > 0 && m->training) {
        iris_dropout(S->lx[mod], x, (long)n * in, m->lora.dropout, site_key(m, l, mod));
        xd = S->lx[mod];
    }
    be->linear(S->lh[mod], xd, &LA->t, NULL, n, in, r);
    be->gemm(0, 1, n, out, r, m->lora_scale, S->lh[mod], r, 0, LB->w, r, 0, 1.0f, y, out, 0, 1);
}

/* dx (= when beta 0, += when beta 1; NULL: not needed) from dy [n, out]. */
void iris_tl_lin_bwd(iris_llama_train *m, iris_tl_acts *S, int l, int mod, float *dx, float beta,
                     const float *dy, const float *x, int n, int in, int out, int wi, int bi)
{
    const iris_backend *be = m->be;
    iris_param *W = P(m, wi), *B = P(m, bi);
    if (W->g) be->gemm(1, 0, out, in, n, 1.0f, dy, out, 0, x, in, 0, 1.0f, W->g, in, 0, 1);
    if (B && B->g)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < out; j++) B->g[j] += dy[(size_t)i * out + j];
    if (dx) be->gemm(0, 0, n, in, out, 1.0f, dy, out, 0, W->w, in, 0, beta, dx, in, 0, 1);
    int ai = l >= 0 ? m->layers[l].lora_a[mod] : -1;
    if (ai < 0) return;
    iris_param *LA = P(m, ai), *LB = P(m, m->layers[l].lora_b[mod]);
    int r = m->lora.r;
    int drop = m->lora.dropout > 0 && m->training;
    const float *xd = drop ? S->lx[mod] : x;
    be->gemm(1, 0, out, r, n, m->lora_scale, dy, out, 0, S->lh[mod], r, 0, 1.0f, LB->g, r, 0, 1);
    be->gemm(0, 0, n, r, out, m->lora_scale, dy, out, 0, LB->w, r, 0, 0.0f, m->dh, r, 0, 1);
    be->gemm(1, 0, r, in, n, 1.0f, m->dh, r, 0, xd, in, 0, 1.0f, LA->g, in, 0, 1);
    if (!dx) return;
    if (drop) {
        be->gemm(0, 0, n, in, r, 1.0f, m->dh, r, 0, LA->w, in, 0, 0.0f, m->dtmp, in, 0, 1);
        iris_dropout_backward_add(dx, m->dtmp, (long)n * in, m->lora.dropout, site_key(m, l, mod));
    } else {
        be->gemm(0, 0, n, in, r, 1.0f, m->dh, r, 0, LA->w, in, 0, 1.0f, dx, in, 0, 1);
    }
}

/* ---- one block ---- */

static void layer_fwd(iris_llama_train *m, int l, iris_tl_acts *S, const float *xin, float *xout, int n)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    const int *p = m->layers[l].p;
    int d = c->dim, f = c->ffn_dim, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    be->rmsnorm(S->xn1, xin, &P(m, p[TL_ATTN_NORM])->t, n, d, c->norm_eps, c->norm_add_one);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_Q, S->q, S->xn1, n, d, qd, p[TL_WQ], p[TL_BQ]);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_K, S->k, S->xn1, n, d, kvd, p[TL_WK], p[TL_BK]);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_V, S->v, S->xn1, n, d, kvd, p[TL_WV], p[TL_BV]);
    be->rope(S->q, n, c->n_heads, c->head_dim, c->head_dim, m->pos, c->rope_theta, c->rope_pos_scale,
             c->rope_interleaved);
    be->rope(S->k, n, c->n_kv_heads, c->head_dim, c->head_dim, m->pos, c->rope_theta,
             c->rope_pos_scale, c->rope_interleaved);
    be->attention(S->att, S->q, S->k, S->v, n, 0, n, kvd, c->n_heads, c->n_kv_heads, c->head_dim,
                  1.0f / sqrtf((float)c->head_dim), 1, 0.0f);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_O, m->tmp, S->att, n, qd, d, p[TL_WO], -1);
    be->add(S->xmid, xin, m->tmp, (long)n * d);
    be->rmsnorm(S->xn2, S->xmid, &P(m, p[TL_FFN_NORM])->t, n, d, c->norm_eps, c->norm_add_one);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_GATE, S->g, S->xn2, n, d, f, p[TL_GATE], -1);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_UP, S->u, S->xn2, n, d, f, p[TL_UP], -1);
    if (c->act == IRIS_FFN_SILU) be->swiglu(S->a, S->g, S->u, (long)n * f);
    else be->geglu(S->a, S->g, S->u, (long)n * f);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_DOWN, m->tmp, S->a, n, f, d, p[TL_DOWN], -1);
    be->add(xout, S->xmid, m->tmp, (long)n * d);
}

/* m->dcur holds dL/d(output of layer l); becomes dL/d(input). */
static void layer_bwd(iris_llama_train *m, int l, iris_tl_acts *S, const float *xin, int n)
{
    const iris_backend *be = m->be;
    const iris_train_ops *ops = m->ops;
    const iris_llama_config *c = &m->cfg;
    const int *p = m->layers[l].p;
    int d = c->dim, f = c->ffn_dim, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    iris_param *n1 = P(m, p[TL_ATTN_NORM]), *n2 = P(m, p[TL_FFN_NORM]);

    iris_tl_lin_bwd(m, S, l, IRIS_LM_DOWN, m->da, 0.0f, m->dcur, S->a, n, f, d, p[TL_DOWN], -1);
    if (c->act == IRIS_FFN_SILU) ops->swiglu_backward(m->dg, m->du, m->da, S->g, S->u, (long)n * f);
    else ops->geglu_backward(m->dg, m->du, m->da, S->g, S->u, (long)n * f);
    iris_tl_lin_bwd(m, S, l, IRIS_LM_GATE, m->dxn, 0.0f, m->dg, S->xn2, n, d, f, p[TL_GATE], -1);
    iris_tl_lin_bwd(m, S, l, IRIS_LM_UP, m->dxn, 1.0f, m->du, S->xn2, n, d, f, p[TL_UP], -1);
    ops->rmsnorm_backward(m->tmp, n2->g, m->dxn, S->xmid, n2->w, n, d, c->norm_eps, c->norm_add_one);
    be->add(m->dcur, m->dcur, m->tmp, (long)n * d);

    iris_tl_lin_bwd(m, S, l, IRIS_LM_O, m->datt, 0.0f, m->dcur, S->att, n, qd, d, p[TL_WO], -1);
    ops->attention_backward(m->dq, m->dk, m->dv, m->datt, S->q, S->k, S->v, n, c->n_heads,
                            c->n_kv_heads, c->head_dim, 1.0f / sqrtf((float)c->head_dim), 1);
    ops->rope_backward(m->dq, n, c->n_heads, c->head_dim, c->head_dim, m->pos, c->rope_theta,
                       c->rope_pos_scale, c->rope_interleaved);
    ops->rope_backward(m->dk, n, c->n_kv_heads, c->head_dim, c->head_dim, m->pos, c->rope_theta,
                       c->rope_pos_scale, c->rope_interleaved);
    iris_tl_lin_bwd(m, S, l, IRIS_LM_Q, m->dxn, 0.0f, m->dq, S->xn1, n, d, qd, p[TL_WQ], p[TL_BQ]);
    iris_tl_lin_bwd(m, S, l, IRIS_LM_K, m->dxn, 1.0f, m->dk, S->xn1, n, d, kvd, p[TL_WK], p[TL_BK]);
    iris_tl_lin_bwd(m, S, l, IRIS_LM_V, m->dxn, 1.0f, m->dv, S->xn1, n, d, kvd, p[TL_WV], p[TL_BV]);
    ops->rmsnorm_backward(m->tmp, n1->g, m->dxn, xin, n1->w, n, d, c->norm_eps, c->norm_add_one);
    be->add(m->dcur, m->dcur, m->tmp, (long)n * d);
}

/* The LLaMA block or the generic one (decoder_train.c). */
static void any_layer_fwd(iris_llama_train *m, int l, iris_tl_acts *S, const float *xin, float *xout, int n)
{
    if (IRIS_ARCH_IS_GENERIC(m->cfg.arch)) iris_decoder_train_layer_fwd(m, l, S, xin, xout, n);
    else layer_fwd(m, l, S, xin, xout, n);
}

static void any_layer_bwd(iris_llama_train *m, int l, iris_tl_acts *S, const float *xin, int n)
{
    if (IRIS_ARCH_IS_GENERIC(m->cfg.arch)) iris_decoder_train_layer_bwd(m, l, S, xin, n);
    else layer_bwd(m, l, S, xin, n);
}

/* The final norm: RMSNorm, or LayerNorm (+ bias) for the generic decoders. */
static void out_norm_fwd(iris_llama_train *m, float *y, const float *x, int n)
{
    const iris_llama_config *c = &m->cfg;
    iris_param *ON = P(m, m->out_norm), *OB = P(m, m->out_norm_b);
    if (c->norm == IRIS_NORM_LAYER) m->be->layernorm(y, x, &ON->t, OB ? &OB->t : NULL, n, c->dim, c->norm_eps);
    else m->be->rmsnorm(y, x, &ON->t, n, c->dim, c->norm_eps, c->norm_add_one);
}

static void out_norm_bwd(iris_llama_train *m, float *dx, const float *dy, const float *x, int n)
{
    const iris_llama_config *c = &m->cfg;
    iris_param *ON = P(m, m->out_norm), *OB = P(m, m->out_norm_b);
    if (c->norm == IRIS_NORM_LAYER)
        m->ops->layernorm_backward(dx, ON->g, OB ? OB->g : NULL, dy, x, ON->w, n, c->dim, c->norm_eps);
    else
        m->ops->rmsnorm_backward(dx, ON->g, dy, x, ON->w, n, c->dim, c->norm_eps, c->norm_add_one);
}

static int layer_has_trainable(const iris_llama_train *m, int l)
{
    for (int i = 0; i < TL_COUNT; i++)
        if (m->layers[l].p[i] >= 0 && m->params.p[m->layers[l].p[i]].g) return 1;
    for (int i = 0; i < IRIS_LM_COUNT; i++)
        if (m->layers[l].lora_a[i] >= 0) return 1;
    return 0;
}

int iris_llama_train_step(iris_llama_train *m, const int32_t *ids, const float *img_rows,
                          const int32_t *labels, int n, float grad_scale, int backward,
                          float *d_img_rows, double *loss_sum, int *n_counted)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    int d = c->dim, V = c->vocab_size, L = c->n_layers;
    if (n <= 0 || n > m->max_len) {
        iris_set_error("sequence of %d tokens does not fit the training length %d", n, m->max_len);
        return -1;
    }
    iris_param *E = P(m, m->embed), *H = P(m, m->lm_head);
    int n_img = 0;
    for (int i = 0; i < n; i++) {
        m->pos[i] = i;
        if (ids[i] >= V || (ids[i] < 0 && !img_rows)) {
            iris_set_error("token id %d out of range (vocabulary %d)", ids[i], V);
            return -1;
        }
        m->ids[i] = ids[i] >= 0 ? ids[i] : 0;
        n_img += ids[i] < 0;
    }
    be->embedding(m->xs[0], &E->t, m->ids, n, c->embed_scale);
    for (int i = 0, k = 0; i < n; i++) {
        if (ids[i] >= 0) continue;
        float *row = m->xs[0] + (size_t)i * d;
        if (be->upload(row, img_rows + (size_t)k++ * d, (size_t)d * sizeof(float))) {
            iris_set_error("cannot upload image embeddings");
            return -1;
        }
        /* transformers scales inputs_embeds too (Gemma). */
        if (c->embed_scale != 1.0f) be->scale(row, row, c->embed_scale, d);
    }
    iris_param *PE = P(m, m->pos_embd);
    if (PE && n + c->pos_offset > PE->t.shape[0]) {
        iris_set_error("sequence of %d tokens is longer than the %d learned positions", n, c->max_ctx);
        return -1;
    }
    if (PE) {  /* learned positions (BioGPT) */
        for (int i = 0; i < n; i++) m->pos_rows[i] = i + c->pos_offset;
        be->embedding(m->tmp, &PE->t, m->pos_rows, n, 1.0f);
        be->add(m->xs[0], m->xs[0], m->tmp, (long)n * d);
    }
    int counted = 0;
    for (int i = 0; i < n; i++) {
        int t = i + 1 < n ? labels[i + 1] : -100;
        m->targets[i] = t >= 0 && t < V ? t : -100;
        counted += m->targets[i] >= 0;
    }
    for (int l = 0; l < L; l++) {
        if (m->pre_fwd && m->pre_fwd(m->pre_ctx, l, m->xs[l], n)) return -1;
        any_layer_fwd(m, l, &m->acts[m->checkpointing ? 0 : l], m->xs[l], m->xs[l + 1], n);
    }
    out_norm_fwd(m, m->xf, m->xs[L], n);
    be->linear(m->logits, m->xf, &H->t, NULL, n, d, V);
    m->ops->cross_entropy(m->loss, backward ? m->logits : NULL, m->logits, m->targets, n, V, grad_scale);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += m->loss[i];
    if (loss_sum) *loss_sum = sum;
    if (n_counted) *n_counted = counted;
    if (be->error && be->error()) {
        iris_set_error("%s backend failed in the forward pass: %s", be->name, be->error());
        return -1;
    }
    if (!backward) return 0;

    /* head and final norm */
    be->gemm(0, 0, n, d, V, 1.0f, m->logits, V, 0, H->w, d, 0, 0.0f, m->dxn, d, 0, 1);
    if (H->g) be->gemm(1, 0, V, d, n, 1.0f, m->logits, V, 0, m->xf, d, 0, 1.0f, H->g, d, 0, 1);
    out_norm_bwd(m, m->dcur, m->dxn, m->xs[L], n);
    /* Go down only as far as something below still needs a gradient. */
    int need_input = E->g || (PE && PE->g) || (d_img_rows && n_img);
    int stop = 0;
    if (!need_input) {
        stop = L;
        for (int l = 0; l < L; l++)
            if (layer_has_trainable(m, l)) {
                stop = l;
                break;
            }
    }
    if (m->pre_bwd && m->grad_floor < stop) stop = m->grad_floor;
    for (int l = L - 1; l >= stop; l--) {
        iris_tl_acts *S = &m->acts[m->checkpointing ? 0 : l];
        if (m->checkpointing) any_layer_fwd(m, l, S, m->xs[l], m->dtmp, n);
        any_layer_bwd(m, l, S, m->xs[l], n);
        if (m->pre_bwd && m->pre_bwd(m->pre_ctx, l, m->dcur, n)) return -1;
    }
    if (PE && PE->g)  /* image rows have a position too: before they are zeroed below */
        m->ops->embedding_backward(PE->g, m->dcur, m->pos_rows, n, d, (int)PE->t.shape[0], 1.0f);
    for (int i = 0, k = 0; n_img && i < n; i++) {
        if (ids[i] >= 0) continue;
        float *row = m->dcur + (size_t)i * d;
        if (d_img_rows) {
            be->scale(row, row, c->embed_scale, d);
            if (be->download(d_img_rows + (size_t)k * d, row, (size_t)d * sizeof(float))) {
                iris_set_error("cannot read the image embedding gradient back");
                return -1;
            }
        }
        k++;
        be->scale(row, row, 0.0f, d);   /* image rows add nothing to the table */
    }
    /* transformers' padding_idx row learns nothing from the lookup (it still
     * does through a tied output head) */
    for (int i = 0; c->pad_id >= 0 && E->g && i < n; i++)
        if (ids[i] == c->pad_id) be->scale(m->dcur + (size_t)i * d, m->dcur + (size_t)i * d, 0.0f, d);
    if (E->g) m->ops->embedding_backward(E->g, m->dcur, m->ids, n, d, V, c->embed_scale);
    if (be->error && be->error()) {
        iris_set_error("%s backend failed in the backward pass: %s", be->name, be->error());
        return -1;
    }
    return 0;
}

const float *iris_llama_train_logits(const iris_llama_train *m) { return m->logits; }

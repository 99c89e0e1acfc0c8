#include "llama.h"
#include "llama_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- weight binding ---- */

typedef iris_llama_binder binder;

static int bind(binder *b, iris_tensor *dst, const char *name, int ndim, int64_t d0, int64_t d1,
                int optional)
{
    return iris_llama_bind(b, dst, name, ndim, d0, d1, optional);
}

static int bind_layer_tensor(binder *b, iris_tensor *dst, int layer, const char *hf, const char *gg,
                             int ndim, int64_t d0, int64_t d1, int optional)
{
    char name[256];
    if (b->gguf) snprintf(name, sizeof name, "blk.%d.%s", layer, gg);
    else snprintf(name, sizeof name, "%slayers.%d.%s", b->base, layer, hf);
    return bind(b, dst, name, ndim, d0, d1, optional);
}

static const char *detect_base(const iris_weights *w, const char **head)
{
    static const struct { const char *base, *head; } cands[] = {
        {"model.", "lm_head.weight"},
        {"language_model.model.", "language_model.lm_head.weight"},
        {"model.language_model.", "lm_head.weight"},
        {"", "lm_head.weight"},
    };
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%sembed_tokens.weight", cands[i].base);
        if (iris_weights_find(w, name)) {
            *head = cands[i].head;
            return cands[i].base;
        }
    }
    return NULL;
}

static int bind_all(iris_llama *m, binder *b)
{
    const iris_llama_config *c = &m->cfg;
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    char name[256];
    if (b->gguf) snprintf(name, sizeof name, "token_embd.weight");
    else snprintf(name, sizeof name, "%sembed_tokens.weight", b->base);
    if (bind(b, &m->tok_embd, name, 2, c->vocab_size, c->dim, 0)) return -1;
    if (b->gguf) snprintf(name, sizeof name, "output_norm.weight");
    else snprintf(name, sizeof name, "%snorm.weight", b->base);
    if (bind(b, &m->out_norm, name, 1, c->dim, 0, 0)) return -1;
    const char *head = b->gguf ? "output.weight" : b->head;
    if (!iris_weights_find(b->w, head)) {
        if (!b->gguf && !c->tied_embeddings) {
            iris_set_error("%s: tensor '%s' is missing (and tie_word_embeddings is false)", b->w->path, head);
            return -1;
        }
        m->cfg.tied_embeddings = 1;
        m->lm_head = m->tok_embd;
        m->lm_head.owns_data = 0;
    } else {
        m->cfg.tied_embeddings = 0;
        if (bind(b, &m->lm_head, head, 2, c->vocab_size, c->dim, 0)) return -1;
    }
    for (int l = 0; l < c->n_layers; l++) {
        iris_llama_layer *L = &m->layers[l];
        int bias = c->qkv_bias;
        if (bind_layer_tensor(b, &L->attn_norm, l, "input_layernorm.weight", "attn_norm.weight", 1, c->dim, 0, 0) ||
            bind_layer_tensor(b, &L->wq, l, "self_attn.q_proj.weight", "attn_q.weight", 2, qd, c->dim, 0) ||
            bind_layer_tensor(b, &L->wk, l, "self_attn.k_proj.weight", "attn_k.weight", 2, kvd, c->dim, 0) ||
            bind_layer_tensor(b, &L->wv, l, "self_attn.v_proj.weight", "attn_v.weight", 2, kvd, c->dim, 0) ||
            bind_layer_tensor(b, &L->wo, l, "self_attn.o_proj.weight", "attn_output.weight", 2, c->dim, qd, 0) ||
            bind_layer_tensor(b, &L->bq, l, "self_attn.q_proj.bias", "attn_q.bias", 1, qd, 0, !bias) ||
            bind_layer_tensor(b, &L->bk, l, "self_attn.k_proj.bias", "attn_k.bias", 1, kvd, 0, !bias) ||
            bind_layer_tensor(b, &L->bv, l, "self_attn.v_proj.bias", "attn_v.bias", 1, kvd, 0, !bias) ||
            bind_layer_tensor(b, &L->ffn_norm, l, "post_attention_layernorm.weight", "ffn_norm.weight", 1, c->dim, 0, 0) ||
            bind_layer_tensor(b, &L->w_gate, l, "mlp.gate_proj.weight", "ffn_gate.weight", 2, c->ffn_dim, c->dim, 0) ||
            bind_layer_tensor(b, &L->w_up, l, "mlp.up_proj.weight", "ffn_up.weight", 2, c->ffn_dim, c->dim, 0) ||
            bind_layer_tensor(b, &L->w_down, l, "mlp.down_proj.weight", "ffn_down.weight", 2, c->dim, c->ffn_dim, 0))
            return -1;
    }
    return 0;
}

/* ---- memory ---- */

static float *balloc(const iris_backend *be, size_t n_floats)
{
    return be->alloc(n_floats * sizeof(float));
}

static int alloc_state(iris_llama *m)
{
    const iris_llama_config *c = &m->cfg;
    const iris_backend *be = m->be;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim, qd = (size_t)c->n_heads * c->head_dim;
    size_t nb = (size_t)m->n_batch;
    m->k_cache = calloc((size_t)c->n_layers, sizeof(float *));
    m->v_cache = calloc((size_t)c->n_layers, sizeof(float *));
    m->pos = calloc(nb, sizeof(int32_t));
    if (!m->k_cache || !m->v_cache || !m->pos) goto oom;
    for (int l = 0; l < c->n_layers; l++) {
        m->k_cache[l] = balloc(be, (size_t)m->n_ctx * kvd);
        m->v_cache[l] = balloc(be, (size_t)m->n_ctx * kvd);
        if (!m->k_cache[l] || !m->v_cache[l]) goto oom;
    }
    m->x = balloc(be, nb * c->dim);
    m->xn = balloc(be, nb * (qd > (size_t)c->dim ? qd : (size_t)c->dim));
    m->q = balloc(be, nb * qd);
    m->att = balloc(be, nb * qd);
    m->ffa = balloc(be, nb * c->ffn_dim);
    m->ffb = balloc(be, nb * c->ffn_dim);
    m->logits = balloc(be, nb * c->vocab_size);
    if (!m->x || !m->xn || !m->q || !m->att || !m->ffa || !m->ffb || !m->logits) goto oom;
    if (IRIS_ARCH_IS_GENERIC(c->arch)) {
        m->res = balloc(be, nb * c->dim);
        m->pos_rows = calloc(nb, sizeof(int32_t));
        if (!m->res || !m->pos_rows) goto oom;
    }
    return 0;
oom:
    iris_set_error("out of memory allocating the KV cache (%d tokens) and workspace on the %s backend%s%s",
                   m->n_ctx, be->name, be->error && be->error() ? ": " : "",
                   be->error && be->error() ? be->error() : "");
    return -1;
}

int iris_llama_load(iris_llama *m, const iris_weights *w, const iris_llama_config *cfg,
                    const iris_backend *be, int n_ctx, const char *prefix)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
    m->n_ctx = n_ctx > 0 ? n_ctx : (cfg->max_ctx < 4096 ? cfg->max_ctx : 4096);
    m->n_embd_rows = cfg->vocab_size;
    m->n_batch = m->n_ctx < 256 ? m->n_ctx : 256;
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    if (!m->layers) {
        iris_set_error("out of memory");
        return -1;
    }
    binder b = {.w = w, .be = be, .gguf = w->gguf != NULL, .base = prefix, .head = "lm_head.weight"};
    if (IRIS_ARCH_IS_GENERIC(cfg->arch)) {
        if (b.gguf) {
            iris_set_error("%s: %s models are read from Hugging Face checkpoints, not GGUF", w->path,
                           cfg->arch_name);
            iris_llama_free(m);
            return -1;
        }
        if (cfg->clip_qkv > 0 && !be->clamp) {
            iris_set_error("%s: clip_qkv needs a clamp op, which the %s backend does not have", w->path, be->name);
            iris_llama_free(m);
            return -1;
        }
        /* learned positions end with the table: no rows past it */
        if (cfg->pos == IRIS_POS_LEARNED && m->n_ctx > cfg->max_ctx) m->n_ctx = cfg->max_ctx;
        m->n_batch = m->n_ctx < 256 ? m->n_ctx : 256;
        if (iris_decoder_bind_all(m, &b) || alloc_state(m)) {
            iris_llama_free(m);
            return -1;
        }
        return 0;
    }
    if (!b.gguf && !b.base) {
        b.base = detect_base(w, &b.head);
        if (!b.base) {
            iris_set_error("%s: no token embedding found (looked for model.embed_tokens.weight and the LLaVA spellings)",
                           w->path);
            iris_llama_free(m);
            return -1;
        }
    }
    if (bind_all(m, &b) || alloc_state(m)) {
        iris_llama_free(m);
        return -1;
    }
    return 0;
}

static void free_weight(const iris_backend *be, iris_tensor *t)
{
    if (t->data) be->weight_free(t);
}

void iris_llama_free(iris_llama *m)
{
    const iris_backend *be = m->be;
    if (!be) return;
    if (m->layers) {
        for (int l = 0; l < m->cfg.n_layers; l++) {
            iris_llama_layer *L = &m->layers[l];
            iris_tensor *ts[] = IRIS_LLAMA_LAYER_TENSORS(L);
            for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) free_weight(be, ts[i]);
            free(L->fused_copy[0]);
            free(L->fused_copy[1]);
        }
        free(m->layers);
    }
    if (!m->cfg.tied_embeddings) free_weight(be, &m->lm_head);
    free_weight(be, &m->tok_embd);
    free_weight(be, &m->out_norm);
    free_weight(be, &m->out_norm_b);
    free_weight(be, &m->pos_embd);
    for (int l = 0; m->k_cache && l < m->cfg.n_layers; l++) be->free(m->k_cache[l]);
    for (int l = 0; m->v_cache && l < m->cfg.n_layers; l++) be->free(m->v_cache[l]);
    free(m->k_cache);
    free(m->v_cache);
    float *bufs[] = {m->x, m->xn, m->q, m->att, m->ffa, m->ffb, m->logits, m->res};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(bufs[i]);
    free(m->pos);
    free(m->pos_rows);
    memset(m, 0, sizeof *m);
}

/* Grows the logits workspace to the (new) vocabulary. */
static int resize_logits(iris_llama *m)
{
    float *l = balloc(m->be, (size_t)m->n_batch * m->cfg.vocab_size);
    if (!l) {
        iris_set_error("out of memory for the logits of %d tokens", m->cfg.vocab_size);
        return -1;
    }
    m->be->free(m->logits);
    m->logits = l;
    return 0;
}

int iris_llama_replace_embeddings(iris_llama *m, const iris_weights *w, const char *name)
{
    const iris_tensor *t = iris_weights_find(w, name);
    if (!t || t->ndim != 2 || t->shape[1] != m->cfg.dim || t->shape[0] <= 0) {
        iris_set_error("%s: '%s' is %s, not an embedding table of width %d", w->path, name,
                       t ? "misshapen" : "missing", m->cfg.dim);
        return -1;
    }
    int rows = (int)t->shape[0];
    if (!m->cfg.tied_embeddings && rows < m->cfg.vocab_size) {
        iris_set_error("%s: '%s' has %d rows but the output head has %d", w->path, name, rows,
                       m->cfg.vocab_size);
        return -1;
    }
    binder b = {.w = w, .be = m->be, .gguf = 0, .base = "", .head = ""};
    iris_tensor e;
    if (iris_llama_bind(&b, &e, name, 2, rows, m->cfg.dim, 0)) return -1;
    if (m->cfg.tied_embeddings && rows != m->cfg.vocab_size) {
        int old = m->cfg.vocab_size;
        m->cfg.vocab_size = rows;
        if (resize_logits(m)) {
            m->cfg.vocab_size = old;
            free_weight(m->be, &e);
            return -1;
        }
    }
    free_weight(m->be, &m->tok_embd);
    m->tok_embd = e;
    if (m->cfg.tied_embeddings) {
        m->lm_head = e;
        m->lm_head.owns_data = 0;
    }
    m->n_embd_rows = rows;
    return 0;
}

int iris_llama_replace_head(iris_llama *m, const iris_weights *w, const char *name)
{
    const iris_tensor *t = iris_weights_find(w, name);
    if (m->cfg.tied_embeddings) {
        iris_set_error("%s: '%s' given for a model whose output head is its embedding table", w->path, name);
        return -1;
    }
    if (!t || t->ndim != 2 || t->shape[1] != m->cfg.dim || t->shape[0] <= 0) {
        iris_set_error("%s: '%s' is %s, not an output head of width %d", w->path, name,
                       t ? "misshapen" : "missing", m->cfg.dim);
        return -1;
    }
    binder b = {.w = w, .be = m->be, .gguf = 0, .base = "", .head = ""};
    iris_tensor h;
    int rows = (int)t->shape[0], old = m->cfg.vocab_size;
    if (iris_llama_bind(&b, &h, name, 2, rows, m->cfg.dim, 0)) return -1;
    m->cfg.vocab_size = rows;
    if (rows != old && resize_logits(m)) {
        m->cfg.vocab_size = old;
        free_weight(m->be, &h);
        return -1;
    }
    free_weight(m->be, &m->lm_head);
    m->lm_head = h;
    return 0;
}

void iris_llama_reset(iris_llama *m) { m->n_past = 0; }

void iris_llama_truncate(iris_llama *m, int n)
{
    if (n >= 0 && n < m->n_past) m->n_past = n;
}

size_t iris_llama_weight_bytes(const iris_llama *m)
{
    size_t total = iris_tensor_bytes(&m->lm_head) + iris_tensor_bytes(&m->out_norm);
    if (m->out_norm_b.data) total += iris_tensor_bytes(&m->out_norm_b);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const iris_llama_layer *L = &m->layers[l];
        const iris_tensor *ts[] = IRIS_LLAMA_LAYER_TENSORS(L);
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i]->data) total += iris_tensor_bytes(ts[i]);
    }
    return total;
}

/* ---- forward ---- */

static const iris_tensor *opt(const iris_tensor *t) { return t->data ? t : NULL; }

/* One transformer block over n rows already in m->x at positions n_past.. */
static void block_forward(iris_llama *m, int l, int n)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    const iris_llama_layer *L = &m->layers[l];
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    float *kc = m->k_cache[l] + (size_t)m->n_past * kvd;
    float *vc = m->v_cache[l] + (size_t)m->n_past * kvd;

    be->rmsnorm(m->xn, m->x, &L->attn_norm, n, c->dim, c->norm_eps, c->norm_add_one);
    be->linear(m->q, m->xn, &L->wq, opt(&L->bq), n, c->dim, qd);
    /* K and V go straight into the cache rows of these positions. */
    be->linear(kc, m->xn, &L->wk, opt(&L->bk), n, c->dim, kvd);
    be->linear(vc, m->xn, &L->wv, opt(&L->bv), n, c->dim, kvd);
    be->rope(m->q, n, c->n_heads, c->head_dim, c->head_dim, m->pos, c->rope_theta,
             c->rope_pos_scale, c->rope_interleaved);
    be->rope(kc, n, c->n_kv_heads, c->head_dim, c->head_dim, m->pos, c->rope_theta,
             c->rope_pos_scale, c->rope_interleaved);
    be->attention(m->att, m->q, m->k_cache[l], m->v_cache[l], n, m->n_past, m->n_past + n, kvd,
                  c->n_heads, c->n_kv_heads, c->head_dim, 1.0f / sqrtf((float)c->head_dim), 1, 0.0f);
    be->linear(m->xn, m->att, &L->wo, NULL, n, qd, c->dim);
    be->add(m->x, m->x, m->xn, (long)n * c->dim);

    be->rmsnorm(m->xn, m->x, &L->ffn_norm, n, c->dim, c->norm_eps, c->norm_add_one);
    be->linear(m->ffa, m->xn, &L->w_gate, NULL, n, c->dim, c->ffn_dim);
    be->linear(m->ffb, m->xn, &L->w_up, NULL, n, c->dim, c->ffn_dim);
    if (c->act == IRIS_FFN_SILU) be->swiglu(m->ffa, m->ffa, m->ffb, (long)n * c->ffn_dim);
    else be->geglu(m->ffa, m->ffa, m->ffb, (long)n * c->ffn_dim);
    be->linear(m->xn, m->ffa, &L->w_down, NULL, n, c->ffn_dim, c->dim);
    be->add(m->x, m->x, m->xn, (long)n * c->dim);
}

/* Runs the rows in m->x (n <= n_batch) and writes logits for the requested rows. */
static int chunk_forward(iris_llama *m, int n, float *logits_out, int all_logits, int is_last_chunk)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    for (int i = 0; i < n; i++) m->pos[i] = m->n_past + i;
    int generic = IRIS_ARCH_IS_GENERIC(c->arch);
    if (generic && c->pos == IRIS_POS_LEARNED) iris_decoder_add_positions(m, n);
    for (int l = 0; l < c->n_layers; l++) {
        if (m->pre_layer && m->pre_layer(m->pre_layer_ctx, m, l, n)) return -1;
        if (generic) iris_decoder_block_forward(m, l, n);
        else block_forward(m, l, n);
        if (be->error && be->error()) {
            iris_set_error("%s backend failed in layer %d: %s", be->name, l, be->error());
            return -1;
        }
    }
    m->n_past += n;
    m->n_tokens_processed += n;
    if (!logits_out || (!all_logits && !is_last_chunk)) return 0;
    int first = all_logits ? 0 : n - 1, rows = n - first;
    iris_llama_out_norm(m, m->xn, m->x + (size_t)first * c->dim, rows);
    be->linear(m->logits, m->xn, &m->lm_head, NULL, rows, c->dim, c->vocab_size);
    if (be->download(logits_out, m->logits, (size_t)rows * c->vocab_size * sizeof(float))) {
        iris_set_error("%s backend: cannot read logits back: %s", be->name,
                       be->error && be->error() ? be->error() : "?");
        return -1;
    }
    return 0;
}

static int check_room(iris_llama *m, int n)
{
    if (n <= 0) {
        iris_set_error("nothing to process (empty input)");
        return -1;
    }
    if (m->n_past + n > m->n_ctx) {
        iris_set_error("context full: %d tokens already + %d new exceed the context of %d tokens",
                       m->n_past, n, m->n_ctx);
        return -1;
    }
    return 0;
}

int iris_llama_forward(iris_llama *m, const int32_t *tokens, int n, float *logits_out, int all_logits)
{
    if (check_room(m, n)) return -1;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_embd_rows) {
            iris_set_error("token id %d out of range (vocabulary %d)", tokens[i], m->n_embd_rows);
            return -1;
        }
    for (int done = 0; done < n; done += m->n_batch) {
        int k = n - done < m->n_batch ? n - done : m->n_batch;
        m->be->embedding(m->x, &m->tok_embd, tokens + done, k, m->cfg.embed_scale);
        float *out = logits_out && all_logits ? logits_out + (size_t)done * m->cfg.vocab_size : logits_out;
        if (chunk_forward(m, k, out, all_logits, done + k == n)) return -1;
    }
    return 0;
}

int iris_llama_forward_embeds(iris_llama *m, const float *embeds, int n, float *logits_out, int all_logits)
{
    if (check_room(m, n)) return -1;
    int dim = m->cfg.dim;
    for (int done = 0; done < n; done += m->n_batch) {
        int k = n - done < m->n_batch ? n - done : m->n_batch;
        if (m->be->upload(m->x, embeds + (size_t)done * dim, (size_t)k * dim * sizeof(float))) {
            iris_set_error("%s backend: cannot upload embeddings", m->be->name);
            return -1;
        }
        if (m->cfg.embed_scale != 1.0f) m->be->scale(m->x, m->x, m->cfg.embed_scale, (long)k * dim);
        float *out = logits_out && all_logits ? logits_out + (size_t)done * m->cfg.vocab_size : logits_out;
        if (chunk_forward(m, k, out, all_logits, done + k == n)) return -1;
    }
    return 0;
}

int iris_llama_embed(iris_llama *m, const int32_t *tokens, int n, float *out)
{
    int dim = m->cfg.dim;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_embd_rows) {
            iris_set_error("token id %d out of range (vocabulary %d)", tokens[i], m->n_embd_rows);
            return -1;
        }
    for (int done = 0; done < n; done += m->n_batch) {
        int k = n - done < m->n_batch ? n - done : m->n_batch;
        m->be->embedding(m->x, &m->tok_embd, tokens + done, k, 1.0f);
        if (m->be->download(out + (size_t)done * dim, m->x, (size_t)k * dim * sizeof(float))) return -1;
    }
    return 0;
}

void iris_llama_out_norm(iris_llama *m, float *y, const float *x, int n)
{
    const iris_llama_config *c = &m->cfg;
    if (c->norm == IRIS_NORM_LAYER)
        m->be->layernorm(y, x, &m->out_norm, opt(&m->out_norm_b), n, c->dim, c->norm_eps);
    else
        m->be->rmsnorm(y, x, &m->out_norm, n, c->dim, c->norm_eps, c->norm_add_one);
}

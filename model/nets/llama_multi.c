/* Several sequences through one LLaMA-family decoder at once (llama_multi.h). */
#include "llama_multi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "llama_internal.h"

int iris_llama_multi_supported(const iris_llama *m)
{
    if (IRIS_ARCH_IS_GENERIC(m->cfg.arch)) {
        iris_set_error("batched generation covers LLaMA-family decoders, not %s", m->cfg.arch_name);
        return 0;
    }
    if (m->pre_layer) {
        iris_set_error("batched generation does not cover decoders with cross-attention (OpenFlamingo)");
        return 0;
    }
    return 1;
}

static size_t kv_dim(const iris_llama *m) { return (size_t)m->cfg.n_kv_heads * m->cfg.head_dim; }

size_t iris_llama_multi_cache_bytes(const iris_llama *m, int n_slots, int n_ctx)
{
    return 2 * (size_t)m->cfg.n_layers * (size_t)n_slots * (size_t)n_ctx * kv_dim(m) * sizeof(float);
}

static float *balloc(const iris_backend *be, size_t n_floats) { return be->alloc(n_floats * sizeof(float)); }

int iris_llama_multi_init(iris_llama_multi *b, const iris_llama *m, int n_slots, int n_ctx, int max_rows)
{
    memset(b, 0, sizeof *b);
    if (n_slots <= 0 || n_ctx <= 0 || max_rows < n_slots) {
        iris_set_error("batched generation: bad sizes (%d slots of %d rows, %d rows per call)", n_slots, n_ctx,
                       max_rows);
        return -1;
    }
    const iris_llama_config *c = &m->cfg;
    const iris_backend *be = m->be;
    size_t kvd = kv_dim(m), qd = (size_t)c->n_heads * c->head_dim, nr = (size_t)max_rows;
    b->n_slots = n_slots;
    b->n_ctx = n_ctx;
    b->max_rows = max_rows;
    b->n_past = calloc((size_t)n_slots, sizeof *b->n_past);
    b->k_cache = calloc((size_t)c->n_layers, sizeof *b->k_cache);
    b->v_cache = calloc((size_t)c->n_layers, sizeof *b->v_cache);
    b->pos = calloc(nr, sizeof *b->pos);
    b->ids = calloc(nr, sizeof *b->ids);
    if (!b->n_past || !b->k_cache || !b->v_cache || !b->pos || !b->ids) goto oom;
    for (int l = 0; l < c->n_layers; l++) {
        b->k_cache[l] = balloc(be, (size_t)n_slots * n_ctx * kvd);
        b->v_cache[l] = balloc(be, (size_t)n_slots * n_ctx * kvd);
        if (!b->k_cache[l] || !b->v_cache[l]) goto oom;
    }
    b->x = balloc(be, nr * c->dim);
    b->xn = balloc(be, nr * (qd > (size_t)c->dim ? qd : (size_t)c->dim));
    b->q = balloc(be, nr * qd);
    b->k = balloc(be, nr * kvd);
    b->v = balloc(be, nr * kvd);
    b->att = balloc(be, nr * qd);
    b->ffa = balloc(be, nr * c->ffn_dim);
    b->ffb = balloc(be, nr * c->ffn_dim);
    b->last = balloc(be, (size_t)n_slots * c->dim * 2);
    b->logits = balloc(be, (size_t)n_slots * c->vocab_size);
    if (!b->x || !b->xn || !b->q || !b->k || !b->v || !b->att || !b->ffa || !b->ffb || !b->last || !b->logits)
        goto oom;
    return 0;
oom:
    iris_set_error("out of memory for batched generation (%d sequences of %d tokens: %.1f MiB of KV cache) on the "
                   "%s backend (a smaller --batch needs less)",
                   n_slots, n_ctx, iris_llama_multi_cache_bytes(m, n_slots, n_ctx) / 1048576.0, be->name);
    iris_llama_multi_free(b, m);
    return -1;
}

void iris_llama_multi_free(iris_llama_multi *b, const iris_llama *m)
{
    const iris_backend *be = m->be;
    for (int l = 0; b->k_cache && l < m->cfg.n_layers; l++) be->free(b->k_cache[l]);
    for (int l = 0; b->v_cache && l < m->cfg.n_layers; l++) be->free(b->v_cache[l]);
    free(b->k_cache);
    free(b->v_cache);
    float *bufs[] = {b->x, b->xn, b->q, b->k, b->v, b->att, b->ffa, b->ffb, b->last, b->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(bufs[i]);
    free(b->n_past);
    free(b->pos);
    free(b->ids);
    memset(b, 0, sizeof *b);
}

void iris_llama_multi_reset(iris_llama_multi *b, int slot)
{
    if (slot >= 0 && slot < b->n_slots) b->n_past[slot] = 0;
}

int iris_llama_multi_copy_prefix(iris_llama_multi *b, const iris_llama *m, int dst, int src, int n)
{
    if (dst < 0 || dst >= b->n_slots || src < 0 || src >= b->n_slots || dst == src || n <= 0 ||
        n > b->n_past[src])
        return -1;
    size_t kvd = kv_dim(m), rows = (size_t)b->n_ctx * kvd;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        m->be->copy(b->k_cache[l] + dst * rows, b->k_cache[l] + src * rows, (long)n * (long)kvd);
        m->be->copy(b->v_cache[l] + dst * rows, b->v_cache[l] + src * rows, (long)n * (long)kvd);
    }
    b->n_past[dst] = n;
    return 0;
}

static const iris_tensor *opt(const iris_tensor *t) { return t->data ? t : NULL; }

/* llama.c's block over all rows; K and V of the new rows are computed for all
 * rows at once and then copied into each slot's cache, where each segment's
 * queries attend to their own slot's rows only. */
static void block_forward(iris_llama_multi *b, iris_llama *m, int l, const iris_llama_seg *segs, int n_segs,
                          int n)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    const iris_llama_layer *L = &m->layers[l];
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;

    be->rmsnorm(b->xn, b->x, &L->attn_norm, n, c->dim, c->norm_eps, c->norm_add_one);
    be->linear(b->q, b->xn, &L->wq, opt(&L->bq), n, c->dim, qd);
    be->linear(b->k, b->xn, &L->wk, opt(&L->bk), n, c->dim, kvd);
    be->linear(b->v, b->xn, &L->wv, opt(&L->bv), n, c->dim, kvd);
    be->rope(b->q, n, c->n_heads, c->head_dim, c->head_dim, b->pos, c->rope_theta, c->rope_pos_scale,
             c->rope_interleaved);
    be->rope(b->k, n, c->n_kv_heads, c->head_dim, c->head_dim, b->pos, c->rope_theta, c->rope_pos_scale,
             c->rope_interleaved);
    for (int s = 0, row = 0; s < n_segs; row += segs[s].n, s++) {
        size_t base = (size_t)segs[s].slot * b->n_ctx * kvd;
        float *kc = b->k_cache[l] + base, *vc = b->v_cache[l] + base;
        int past = b->n_past[segs[s].slot];
        be->copy(kc + (size_t)past * kvd, b->k + (size_t)row * kvd, (long)segs[s].n * kvd);
        be->copy(vc + (size_t)past * kvd, b->v + (size_t)row * kvd, (long)segs[s].n * kvd);
        be->attention(b->att + (size_t)row * qd, b->q + (size_t)row * qd, kc, vc, segs[s].n, past,
                      past + segs[s].n, kvd, c->n_heads, c->n_kv_heads, c->head_dim,
                      1.0f / sqrtf((float)c->head_dim), 1, 0.0f);
    }
    be->linear(b->xn, b->att, &L->wo, NULL, n, qd, c->dim);
    be->add(b->x, b->x, b->xn, (long)n * c->dim);

    be->rmsnorm(b->xn, b->x, &L->ffn_norm, n, c->dim, c->norm_eps, c->norm_add_one);
    be->linear(b->ffa, b->xn, &L->w_gate, NULL, n, c->dim, c->ffn_dim);
    be->linear(b->ffb, b->xn, &L->w_up, NULL, n, c->dim, c->ffn_dim);
    if (c->act == IRIS_FFN_SILU) be->swiglu(b->ffa, b->ffa, b->ffb, (long)n * c->ffn_dim);
    else be->geglu(b->ffa, b->ffa, b->ffb, (long)n * c->ffn_dim);
    be->linear(b->xn, b->ffa, &L->w_down, NULL, n, c->ffn_dim, c->dim);
    be->add(b->x, b->x, b->xn, (long)n * c->dim);
}

/* Positions of every row, after checking that the segments fit. */
static int plan_rows(iris_llama_multi *b, const iris_llama_seg *segs, int n_segs, int *n_rows)
{
    int n = 0;
    if (n_segs <= 0 || n_segs > b->n_slots) {
        iris_set_error("batched forward: %d segments for %d slots", n_segs, b->n_slots);
        return -1;
    }
    for (int s = 0; s < n_segs; s++) {
        int slot = segs[s].slot;
        if (slot < 0 || slot >= b->n_slots || segs[s].n <= 0) {
            iris_set_error("batched forward: bad segment (slot %d, %d rows)", slot, segs[s].n);
            return -1;
        }
        for (int t = 0; t < s; t++)
            if (segs[t].slot == slot) {
                iris_set_error("batched forward: slot %d appears twice in one call", slot);
                return -1;
            }
        if (b->n_past[slot] + segs[s].n > b->n_ctx) {
            iris_set_error("context full: %d tokens already + %d new exceed the context of %d tokens",
                           b->n_past[slot], segs[s].n, b->n_ctx);
            return -1;
        }
        if (n + segs[s].n > b->max_rows) {
            iris_set_error("batched forward: more than %d rows in one call", b->max_rows);
            return -1;
        }
        for (int i = 0; i < segs[s].n; i++) b->pos[n + i] = b->n_past[slot] + i;
        n += segs[s].n;
    }
    *n_rows = n;
    return 0;
}

int iris_llama_multi_forward(iris_llama_multi *b, iris_llama *m, const iris_llama_seg *segs, int n_segs,
                             const int32_t *ids, const float *embeds, float *logits_out)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    int n;
    if (!iris_llama_multi_supported(m) || plan_rows(b, segs, n_segs, &n)) return -1;
    if (ids) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= m->n_embd_rows) {
                iris_set_error("token id %d out of range (vocabulary %d)", ids[i], m->n_embd_rows);
                return -1;
            }
        memcpy(b->ids, ids, (size_t)n * sizeof *ids);
        be->embedding(b->x, &m->tok_embd, b->ids, n, c->embed_scale);
    } else {
        if (be->upload(b->x, embeds, (size_t)n * c->dim * sizeof(float))) {
            iris_set_error("%s backend: cannot upload embeddings", be->name);
            return -1;
        }
        if (c->embed_scale != 1.0f) be->scale(b->x, b->x, c->embed_scale, (long)n * c->dim);
    }
    for (int l = 0; l < c->n_layers; l++) {
        block_forward(b, m, l, segs, n_segs, n);
        if (be->error && be->error()) {
            iris_set_error("%s backend failed in layer %d: %s", be->name, l, be->error());
            return -1;
        }
    }
    for (int s = 0; s < n_segs; s++) b->n_past[segs[s].slot] += segs[s].n;
    m->n_tokens_processed += n;
    if (!logits_out) return 0;
    /* the last row of each segment, side by side, then norm and head */
    for (int s = 0, row = 0; s < n_segs; s++) {
        row += segs[s].n;
        be->copy(b->last + (size_t)s * c->dim, b->x + (size_t)(row - 1) * c->dim, c->dim);
    }
    float *normed = b->last + (size_t)n_segs * c->dim;
    iris_llama_out_norm(m, normed, b->last, n_segs);
    be->linear(b->logits, normed, &m->lm_head, NULL, n_segs, c->dim, c->vocab_size);
    if (be->download(logits_out, b->logits, (size_t)n_segs * c->vocab_size * sizeof(float))) {
        iris_set_error("%s backend: cannot read logits back: %s", be->name,
                       be->error && be->error() ? be->error() : "?");
        return -1;
    }
    return 0;
}

/* decoder_bind.c — tensor names of the generic decoders in transformers'
 * checkpoints (MptForCausalLM, GPTNeoXForCausalLM, BioGptForCausalLM), bound
 * onto the shared iris_llama layer struct.
 *
 * Fused projections are not copied where their layout allows a view: MPT's
 * Wqkv is [q; k; v] stacked, so three row slices.  GPT-NeoX's
 * query_key_value interleaves per head ([q_h; k_h; v_h] for each head h), so
 * its rows are regrouped once at load into a host copy owned by the layer
 * (the CPU backend computes from it; CUDA uploads it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "llama_internal.h"

typedef iris_decoder_names arch_names;

static const arch_names MPT = {"transformer.", "wte.weight", NULL, "norm_f", "lm_head.weight",
                               "blocks.%d.", "norm_1", "attn.Wqkv", NULL, NULL, NULL,
                               "attn.out_proj", "norm_2", "ffn.up_proj", "ffn.down_proj"};
/* MosaicML's older "mosaic_gpt" checkpoints (OpenFlamingo-3B's MPT-1B): the
 * same blocks as MPT under other names; the output is always the embedding. */
static const arch_names MOSAIC = {"transformer.", "wte.weight", NULL, "ln_f", "lm_head.weight",
                                  "blocks.%d.", "ln_1", "attn.Wqkv", NULL, NULL, NULL,
                                  "attn.out_proj", "ln_2", "mlp.mlp_up", "mlp.mlp_down"};
static const arch_names NEOX = {"gpt_neox.", "embed_in.weight", NULL, "final_layer_norm", "embed_out.weight",
                                "layers.%d.", "input_layernorm", "attention.query_key_value", NULL, NULL,
                                NULL, "attention.dense", "post_attention_layernorm",
                                "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"};
static const arch_names BIOGPT = {"biogpt.", "embed_tokens.weight", "embed_positions.weight", "layer_norm",
                                  "output_projection.weight", "layers.%d.", "self_attn_layer_norm", NULL,
                                  "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                  "self_attn.out_proj", "final_layer_norm", "fc1", "fc2"};

typedef struct {
    iris_llama_binder *b;
    char outer[64];        /* "" or "language_model." ...: in front of base and head */
    char layer[160];       /* full prefix of the current layer */
    const iris_llama_config *c;
} ctx;

static int bind_part(ctx *x, iris_tensor *dst, const char *part, const char *suffix, int ndim, int64_t d0,
                     int64_t d1, int optional)
{
    char name[320];
    snprintf(name, sizeof name, "%s%s.%s", x->layer, part, suffix);
    return iris_llama_bind(x->b, dst, name, ndim, d0, d1, optional);
}

/* A norm's weight, and its bias when the config says LayerNorms have one. */
static int bind_norm(ctx *x, iris_tensor *w, iris_tensor *bias, const char *part)
{
    int d = x->c->dim;
    if (bind_part(x, w, part, "weight", 1, d, 0, 0)) return -1;
    return x->c->norm_bias ? bind_part(x, bias, part, "bias", 1, d, 0, 0) : 0;
}

/* Looks a fused tensor up and checks its shape ([d0] or [d0, d1]). */
static const iris_tensor *find_fused(ctx *x, const char *name, int ndim, int64_t d0, int64_t d1)
{
    const iris_tensor *t = iris_weights_find(x->b->w, name);
    if (!t) {
        iris_set_error("%s: tensor '%s' is missing", x->b->w->path, name);
        return NULL;
    }
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        iris_set_error("%s: tensor '%s' has the wrong shape (expected [%lld%s%lld])", x->b->w->path, name,
                       (long long)d0, ndim == 2 ? "," : "", ndim == 2 ? (long long)d1 : 0LL);
        return NULL;
    }
    return t;
}

/* q, k and v as three row slices of t ([3d, ...] stacked q; k; v). */
static int bind_qkv_slices(ctx *x, iris_llama_layer *L, const iris_tensor *t, const char *name, int bias)
{
    int64_t d = x->c->dim;
    iris_tensor *dst[3] = {bias ? &L->bq : &L->wq, bias ? &L->bk : &L->wk, bias ? &L->bv : &L->wv};
    for (int i = 0; i < 3; i++)
        if (iris_llama_bind_rows(x->b, dst[i], t, name, i * d, d)) return -1;
    return 0;
}

/* GPT-NeoX: regroups per-head [q_h; k_h; v_h] rows into [q; k; v] in a host copy. */
static int regroup_neox(ctx *x, iris_llama_layer *L, const iris_tensor *t, const char *name, int slot)
{
    const iris_llama_config *c = x->c;
    int64_t cols = t->ndim == 2 ? t->shape[1] : 1, hd = c->head_dim;
    size_t rb = iris_dtype_row_bytes(t->dtype, cols);
    if (!rb || (t->ndim == 1 && t->dtype == IRIS_Q8_0)) {
        iris_set_error("%s: tensor '%s' has a dtype iris cannot regroup", x->b->w->path, name);
        return -1;
    }
    char *copy = malloc(rb * (size_t)t->shape[0]);
    if (!copy) {
        iris_set_error("out of memory regrouping '%s'", name);
        return -1;
    }
    L->fused_copy[slot] = copy;
    const char *src = t->data;
    for (int h = 0; h < c->n_heads; h++)
        for (int part = 0; part < 3; part++) {
            size_t from = (size_t)(h * 3 + part) * hd, to = (size_t)part * c->dim + (size_t)h * hd;
            memcpy(copy + to * rb, src + from * rb, rb * (size_t)hd);
        }
    iris_tensor g = *t;
    g.data = copy;
    g.owns_data = 0;
    if (bind_qkv_slices(x, L, &g, name, slot == 1)) return -1;
    /* a backend that made its own copies (CUDA) no longer needs the host one */
    uintptr_t got = (uintptr_t)(slot == 1 ? L->bq.data : L->wq.data), lo = (uintptr_t)copy;
    if (got < lo || got >= lo + rb * (size_t)t->shape[0]) {
        free(copy);
        L->fused_copy[slot] = NULL;
    }
    return 0;
}

static int bind_attention_inputs(ctx *x, const arch_names *N, iris_llama_layer *L)
{
    const iris_llama_config *c = x->c;
    int64_t d = c->dim;
    if (!N->qkv) {
        return bind_part(x, &L->wq, N->q, "weight", 2, d, d, 0) ||
               bind_part(x, &L->wk, N->k, "weight", 2, d, d, 0) ||
               bind_part(x, &L->wv, N->v, "weight", 2, d, d, 0) ||
               (c->qkv_bias && (bind_part(x, &L->bq, N->q, "bias", 1, d, 0, 0) ||
                                bind_part(x, &L->bk, N->k, "bias", 1, d, 0, 0) ||
                                bind_part(x, &L->bv, N->v, "bias", 1, d, 0, 0)))
                   ? -1 : 0;
    }
    char name[320];
    for (int bias = 0; bias <= c->qkv_bias; bias++) {
        snprintf(name, sizeof name, "%s%s.%s", x->layer, N->qkv, bias ? "bias" : "weight");
        const iris_tensor *t = find_fused(x, name, bias ? 1 : 2, 3 * d, d);
        if (!t) return -1;
        if (c->arch == IRIS_ARCH_GPTNEOX ? regroup_neox(x, L, t, name, bias)
                                          : bind_qkv_slices(x, L, t, name, bias))
            return -1;
    }
    return 0;
}

const iris_decoder_names *iris_decoder_names_of(iris_arch arch)
{
    return arch == IRIS_ARCH_MPT ? &MPT : arch == IRIS_ARCH_GPTNEOX ? &NEOX : arch == IRIS_ARCH_BIOGPT ? &BIOGPT
         : arch == IRIS_ARCH_MOSAIC_GPT ? &MOSAIC : NULL;
}

/* Finds the outer prefix in front of the model level ("" for a plain
 * checkpoint, "language_model." inside a wrapper); given: only that one. */
static int find_outer(const iris_weights *w, const arch_names *N, const char *given, char *out, size_t cap)
{
    static const char *cands[] = {"", "language_model.", "model."};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        const char *p = given ? given : cands[i];
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", p, N->base, N->embed);
        if (iris_weights_find(w, name)) {
            snprintf(out, cap, "%s", p);
            return 0;
        }
        if (given) break;
    }
    iris_set_error("%s: no token embedding found (looked for %s%s)", w->path, N->base, N->embed);
    return -1;
}

int iris_decoder_outer_prefix(const iris_weights *w, const iris_decoder_names *N, char *out, size_t cap)
{
    return find_outer(w, N, NULL, out, cap);
}

int iris_decoder_bind_all(iris_llama *m, iris_llama_binder *b)
{
    const iris_llama_config *c = &m->cfg;
    const arch_names *N = iris_decoder_names_of(c->arch);
    ctx x = {.b = b, .c = c};
    if (!N || find_outer(b->w, N, b->base, x.outer, sizeof x.outer)) return -1;
    int64_t d = c->dim, f = c->ffn_dim;
    char name[320];
    snprintf(name, sizeof name, "%s%s%s", x.outer, N->base, N->embed);
    if (iris_llama_bind(b, &m->tok_embd, name, 2, c->vocab_size, d, 0)) return -1;
    if (N->pos) {
        snprintf(name, sizeof name, "%s%s%s", x.outer, N->base, N->pos);
        if (iris_llama_bind(b, &m->pos_embd, name, 2, (int64_t)c->max_ctx + c->pos_offset, d, 0)) return -1;
    }
    /* the final norm sits at the model level: a "layer" prefix of just the base */
    snprintf(x.layer, sizeof x.layer, "%s%s", x.outer, N->base);
    if (bind_norm(&x, &m->out_norm, &m->out_norm_b, N->out_norm)) return -1;
    snprintf(name, sizeof name, "%s%s", x.outer, N->head);
    if (!iris_weights_find(b->w, name)) {
        if (!c->tied_embeddings) {
            iris_set_error("%s: tensor '%s' is missing (and tie_word_embeddings is false)", b->w->path, name);
            return -1;
        }
        m->lm_head = m->tok_embd;
        m->lm_head.owns_data = 0;
    } else {
        m->cfg.tied_embeddings = 0;
        if (iris_llama_bind(b, &m->lm_head, name, 2, c->vocab_size, d, 0)) return -1;
    }
    for (int l = 0; l < c->n_layers; l++) {
        iris_llama_layer *L = &m->layers[l];
        int len = snprintf(x.layer, sizeof x.layer, "%s%s", x.outer, N->base);
        snprintf(x.layer + len, sizeof x.layer - (size_t)len, N->layer, l);
        if (bind_norm(&x, &L->attn_norm, &L->attn_norm_b, N->attn_norm) ||
            bind_attention_inputs(&x, N, L) ||
            (c->qk_norm && (bind_part(&x, &L->q_norm, "attn.q_ln", "weight", 1, d, 0, 0) ||
                            bind_part(&x, &L->q_norm_b, "attn.q_ln", "bias", 1, d, 0, 1) ||
                            bind_part(&x, &L->k_norm, "attn.k_ln", "weight", 1, d, 0, 0) ||
                            bind_part(&x, &L->k_norm_b, "attn.k_ln", "bias", 1, d, 0, 1))) ||
            bind_part(&x, &L->wo, N->o, "weight", 2, d, d, 0) ||
            (c->out_bias && bind_part(&x, &L->bo, N->o, "bias", 1, d, 0, 0)) ||
            bind_norm(&x, &L->ffn_norm, &L->ffn_norm_b, N->ffn_norm) ||
            bind_part(&x, &L->w_up, N->up, "weight", 2, f, d, 0) ||
            bind_part(&x, &L->w_down, N->down, "weight", 2, d, f, 0) ||
            (c->ffn_bias && (bind_part(&x, &L->b_up, N->up, "bias", 1, f, 0, 0) ||
                             bind_part(&x, &L->b_down, N->down, "bias", 1, d, 0, 0))))
            return -1;
    }
    return 0;
}

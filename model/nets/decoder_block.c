/* decoder_block.c — one transformer block of the generic decoders (MPT,
 * GPT-NeoX, BioGPT) as backend calls; the LLaMA family keeps its own block in
 * llama.c, untouched by these switches.
 *
 *   h = norm1(x);  q, k, v = h W + b  (k, v straight into the cache rows)
 *   [clamp q, k, v]  [LayerNorm over all of q and of k]  [RoPE on the first rot_dim of each head]
 *   a = attention(q, K, V) [+ ALiBi]  o = a Wo + bo
 *   sequential: x += o;  x += ffn(norm2(x))
 *   parallel:   x += ffn(norm2(x)) + o      (both read the block's input)
 *   ffn(h) = act(h Wup + bup) Wdown + bdown
 */
#include <math.h>

#include "llama_internal.h"

static const iris_tensor *opt(const iris_tensor *t) { return t->data ? t : NULL; }

static void norm(const iris_llama *m, float *y, const float *x, const iris_tensor *w, const iris_tensor *b,
                 int n)
{
    const iris_llama_config *c = &m->cfg;
    if (c->norm == IRIS_NORM_LAYER) m->be->layernorm(y, x, w, opt(b), n, c->dim, c->norm_eps);
    else m->be->rmsnorm(y, x, w, n, c->dim, c->norm_eps, c->norm_add_one);
}

/* out = ffn(m->xn); uses m->ffa. */
static void ffn(iris_llama *m, const iris_llama_layer *L, float *out, int n)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    long nf = (long)n * c->ffn_dim;
    be->linear(m->ffa, m->xn, &L->w_up, opt(&L->b_up), n, c->dim, c->ffn_dim);
    if (c->act == IRIS_FFN_GELU) be->gelu(m->ffa, m->ffa, nf);
    else if (c->act == IRIS_FFN_GELU_TANH) be->gelu_tanh(m->ffa, m->ffa, nf);
    else be->silu(m->ffa, m->ffa, nf);
    be->linear(out, m->ffa, &L->w_down, opt(&L->b_down), n, c->ffn_dim, c->dim);
}

void iris_decoder_block_forward(iris_llama *m, int l, int n)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    const iris_llama_layer *L = &m->layers[l];
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    float *kc = m->k_cache[l] + (size_t)m->n_past * kvd;
    float *vc = m->v_cache[l] + (size_t)m->n_past * kvd;

    norm(m, m->xn, m->x, &L->attn_norm, &L->attn_norm_b, n);
    be->linear(m->q, m->xn, &L->wq, opt(&L->bq), n, c->dim, qd);
    be->linear(kc, m->xn, &L->wk, opt(&L->bk), n, c->dim, kvd);
    be->linear(vc, m->xn, &L->wv, opt(&L->bv), n, c->dim, kvd);
    if (c->clip_qkv > 0) {  /* the loader checked that the backend has clamp */
        be->clamp(m->q, m->q, -c->clip_qkv, c->clip_qkv, (long)n * qd);
        be->clamp(kc, kc, -c->clip_qkv, c->clip_qkv, (long)n * kvd);
        be->clamp(vc, vc, -c->clip_qkv, c->clip_qkv, (long)n * kvd);
    }
    if (c->qk_norm) {  /* in place: both backends' LayerNorm read a row before writing it */
        be->layernorm(m->q, m->q, &L->q_norm, opt(&L->q_norm_b), n, qd, c->norm_eps);
        be->layernorm(kc, kc, &L->k_norm, opt(&L->k_norm_b), n, kvd, c->norm_eps);
    }
    if (c->pos == IRIS_POS_ROPE) {
        int rot = c->rot_dim ? c->rot_dim : c->head_dim;
        be->rope(m->q, n, c->n_heads, c->head_dim, rot, m->pos, c->rope_theta, c->rope_pos_scale,
                 c->rope_interleaved);
        be->rope(kc, n, c->n_kv_heads, c->head_dim, rot, m->pos, c->rope_theta, c->rope_pos_scale,
                 c->rope_interleaved);
    }
    float scale = c->attn_scale > 0 ? c->attn_scale : 1.0f / sqrtf((float)c->head_dim);
    be->attention(m->att, m->q, m->k_cache[l], m->v_cache[l], n, m->n_past, m->n_past + n, kvd, c->n_heads,
                  c->n_kv_heads, c->head_dim, scale, 1, c->pos == IRIS_POS_ALIBI ? c->alibi_max_bias : 0.0f);
    long nd = (long)n * c->dim;
    if (c->parallel_residual) {
        norm(m, m->xn, m->x, &L->ffn_norm, &L->ffn_norm_b, n);
        ffn(m, L, m->res, n);
        be->add(m->x, m->x, m->res, nd);
        be->linear(m->res, m->att, &L->wo, opt(&L->bo), n, qd, c->dim);
        be->add(m->x, m->x, m->res, nd);
    } else {
        be->linear(m->res, m->att, &L->wo, opt(&L->bo), n, qd, c->dim);
        be->add(m->x, m->x, m->res, nd);
        norm(m, m->xn, m->x, &L->ffn_norm, &L->ffn_norm_b, n);
        ffn(m, L, m->res, n);
        be->add(m->x, m->x, m->res, nd);
    }
}

void iris_decoder_add_positions(iris_llama *m, int n)
{
    for (int i = 0; i < n; i++) m->pos_rows[i] = m->pos[i] + m->cfg.pos_offset;
    m->be->embedding(m->res, &m->pos_embd, m->pos_rows, n, 1.0f);
    m->be->add(m->x, m->x, m->res, (long)n * m->cfg.dim);
}

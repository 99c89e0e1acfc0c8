/* decoder_train.c — the MPT / GPT-NeoX / BioGPT layers of the training
 * decoder: parameters named as in the checkpoint, and a forward pass that
 * keeps what its backward pass needs, mirroring model/nets/decoder_block.c.
 *
 * A fused QKV projection stays one parameter ([3 dim, dim], and [3 dim]
 * bias) in the checkpoint's layout, so saved weights are the checkpoint's:
 * the forward computes all three at once into m->qkv and scatters the columns
 * to q, k, v (MPT stacks [q; k; v]; GPT-NeoX interleaves [q_h; k_h; v_h] per
 * head); the backward gathers dq, dk, dv the same way.  These host loops and
 * the bias sums make this path CPU-only (llama_train.c refuses other
 * backends).  LoRA goes through llama_train.c's linears: a fused QKV has
 * ONE adapter over the fused output (PEFT's), added before the scatter, so
 * its B rows follow the checkpoint's layout.
 *
 * MPT's clip_qkv clamps q, k, v right after the projection, and mosaic_gpt's
 * QK LayerNorm (attn_qk_ln) then normalises the whole width of q and of k
 * (attn.q_ln / attn.k_ln, before the split into heads and before RoPE).  With
 * either on, the clamped q and k stay in S->qr / S->kr: the LayerNorm's
 * backward needs its input, and the clamp's the clamped values (S->v keeps
 * v's).  Backward: dq, dk through RoPE, then the LayerNorm, then the clamp.
 *
 * Backward of one block, sequential residual (x' = m + F(n2(m)), m = x + O(A(n1(x)))):
 *   dm = dx' + n2'(F'(dx')),  dx = dm + n1'(A'(O'(dm)))
 * parallel residual (x' = x + O(A(n1(x))) + F(n2(x))):
 *   dx = dx' + n2'(F'(dx')) + n1'(A'(O'(dx')))
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "llama_train_internal.h"
#include "nets/llama_internal.h"

static iris_param *P(iris_llama_train *m, int i) { return i >= 0 ? &m->params.p[i] : NULL; }

/* ---- parameters ---- */

/* Adds the checkpoint tensor name as a parameter into *slot; an absent
 * optional tensor leaves *slot = -1. */
static int add_named(iris_llama_train *m, const iris_weights *w, const char *name, int *slot, int optional,
                     int no_decay)
{
    *slot = -1;
    const iris_tensor *t = iris_weights_find(w, name);
    if (!t) {
        if (optional) return 0;
        iris_set_error("%s: tensor '%s' is missing", w->path, name);
        return -1;
    }
    int idx = iris_llama_train_add_from(m, name, t, IRIS_PG_LLM);
    if (idx < 0) return -1;
    if (no_decay) m->params.p[idx].decay = 0;
    *slot = idx;
    return 0;
}

/* prefix + part + ".weight" / ".bias" into slots w and b (bias when want_b). */
static int add_pair(iris_llama_train *m, const iris_weights *w, const char *prefix, const char *part, int *sw,
                    int *sb, int want_b, int no_decay)
{
    char name[320];
    snprintf(name, sizeof name, "%s%s.weight", prefix, part);
    if (add_named(m, w, name, sw, 0, no_decay)) return -1;
    *sb = -1;
    if (!want_b) return 0;
    snprintf(name, sizeof name, "%s%s.bias", prefix, part);
    return add_named(m, w, name, sb, 0, 1);
}

/* mosaic_gpt's QK LayerNorm lp + part: a weight, and a bias when the
 * checkpoint has one (the inference loader's rule); no weight decay, as for
 * the block's other norms. */
static int add_qk_norm(iris_llama_train *m, const iris_weights *w, const char *lp, const char *part, int *sw,
                       int *sb)
{
    char name[320];
    snprintf(name, sizeof name, "%s%s.weight", lp, part);
    if (add_named(m, w, name, sw, 0, 1)) return -1;
    snprintf(name, sizeof name, "%s%s.bias", lp, part);
    return add_named(m, w, name, sb, 1, 1);
}

int iris_decoder_train_add_params(iris_llama_train *m, const iris_weights *w, const iris_llama *src)
{
    const iris_llama_config *c = &m->cfg;
    const iris_decoder_names *N = iris_decoder_names_of(c->arch);
    char outer[64], base[192], name[320];
    if (!N || iris_decoder_outer_prefix(w, N, outer, sizeof outer)) return -1;
    snprintf(base, sizeof base, "%s%s", outer, N->base);
    size_t bl = strlen(base);
    if (bl >= sizeof m->prefix) {
        iris_set_error("%s: tensor prefix '%s' is too long", w->path, base);
        return -1;
    }
    memcpy(m->prefix, base, bl + 1);
    snprintf(name, sizeof name, "%s%s", base, N->embed);
    if (add_named(m, w, name, &m->embed, 0, 0)) return -1;
    if (N->pos) {
        snprintf(name, sizeof name, "%s%s", base, N->pos);
        if (add_named(m, w, name, &m->pos_embd, 0, 0)) return -1;
    }
    if (add_pair(m, w, base, N->out_norm, &m->out_norm, &m->out_norm_b, c->norm_bias, 1)) return -1;
    if (src->cfg.tied_embeddings) {
        m->lm_head = m->embed;
    } else {
        snprintf(name, sizeof name, "%s%s", outer, N->head);
        if (add_named(m, w, name, &m->lm_head, 0, 0)) return -1;
    }
    for (int l = 0; l < c->n_layers; l++) {
        int *p = m->layers[l].p;
        for (int i = 0; i < TL_COUNT; i++) p[i] = -1;
        for (int i = 0; i < IRIS_LM_COUNT; i++) m->layers[l].lora_a[i] = m->layers[l].lora_b[i] = -1;
        char lp[256];
        int len = snprintf(lp, sizeof lp, "%s", base);
        snprintf(lp + len, sizeof lp - (size_t)len, N->layer, l);
        if (add_pair(m, w, lp, N->attn_norm, &p[TL_ATTN_NORM], &p[TL_ATTN_NORM_B], c->norm_bias, 1)) return -1;
        if (N->qkv) {
            if (add_pair(m, w, lp, N->qkv, &p[TL_QKV], &p[TL_BQKV], c->qkv_bias, 0)) return -1;
        } else if (add_pair(m, w, lp, N->q, &p[TL_WQ], &p[TL_BQ], c->qkv_bias, 0) ||
                   add_pair(m, w, lp, N->k, &p[TL_WK], &p[TL_BK], c->qkv_bias, 0) ||
                   add_pair(m, w, lp, N->v, &p[TL_WV], &p[TL_BV], c->qkv_bias, 0)) {
            return -1;
        }
        if (c->qk_norm && (add_qk_norm(m, w, lp, "attn.q_ln", &p[TL_Q_NORM], &p[TL_Q_NORM_B]) ||
                           add_qk_norm(m, w, lp, "attn.k_ln", &p[TL_K_NORM], &p[TL_K_NORM_B])))
            return -1;
        if (add_pair(m, w, lp, N->o, &p[TL_WO], &p[TL_BO], c->out_bias, 0) ||
            add_pair(m, w, lp, N->ffn_norm, &p[TL_FFN_NORM], &p[TL_FFN_NORM_B], c->norm_bias, 1) ||
            add_pair(m, w, lp, N->up, &p[TL_UP], &p[TL_BUP], c->ffn_bias, 0) ||
            add_pair(m, w, lp, N->down, &p[TL_DOWN], &p[TL_BDOWN], c->ffn_bias, 0))
            return -1;
    }
    return 0;
}

/* ---- pieces ---- */

static void norm_fwd(iris_llama_train *m, float *y, const float *x, int n, int wi, int bi)
{
    const iris_llama_config *c = &m->cfg;
    iris_param *W = P(m, wi), *B = P(m, bi);
    m->be->layernorm(y, x, &W->t, B ? &B->t : NULL, n, c->dim, c->norm_eps);
}

static void norm_bwd(iris_llama_train *m, float *dx, const float *dy, const float *x, int n, int wi, int bi)
{
    const iris_llama_config *c = &m->cfg;
    iris_param *W = P(m, wi), *B = P(m, bi);
    m->ops->layernorm_backward(dx, W->g, B ? B->g : NULL, dy, x, W->w, n, c->dim, c->norm_eps);
}

/* Column of part (0 q, 1 k, 2 v), head h in a fused QKV row. */
static size_t fused_col(const iris_llama_config *c, int part, int h)
{
    size_t hd = (size_t)c->head_dim;
    return c->arch == IRIS_ARCH_GPTNEOX ? ((size_t)h * 3 + part) * hd : (size_t)part * c->dim + h * hd;
}

/* to_parts: fused rows -> q, k, v; else q, k, v -> fused rows. */
static void shuffle_qkv(const iris_llama_config *c, float *fused, float *q, float *k, float *v, int n,
                        int to_parts)
{
    size_t d = (size_t)c->dim, hd = (size_t)c->head_dim;
    float *parts[3] = {q, k, v};
    for (int i = 0; i < n; i++)
        for (int part = 0; part < 3; part++)
            for (int h = 0; h < c->n_heads; h++) {
                float *f = fused + (size_t)i * 3 * d + fused_col(c, part, h);
                float *s = parts[part] + (size_t)i * d + (size_t)h * hd;
                if (to_parts) memcpy(s, f, hd * sizeof(float));
                else memcpy(f, s, hd * sizeof(float));
            }
}

/* q, k, v of one block from S->xn1: the projection (fused or not), the
 * clamp, the QK LayerNorm.  q and k go through S->qr / S->kr when the
 * backward pass needs them before the LayerNorm and RoPE. */
static void qkv_fwd(iris_llama_train *m, int l, iris_tl_acts *S, int n)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    const int *p = m->layers[l].p;
    int d = c->dim;
    long nd = (long)n * d;
    float *q = S->qr ? S->qr : S->q, *k = S->kr ? S->kr : S->k;
    if (p[TL_QKV] >= 0) {
        iris_tl_lin_fwd(m, S, l, IRIS_LM_QKV, m->qkv, S->xn1, n, d, 3 * d, p[TL_QKV], p[TL_BQKV]);
        be->sync();  /* the scatter reads the product on the host */
        shuffle_qkv(c, m->qkv, q, k, S->v, n, 1);
    } else {
        iris_tl_lin_fwd(m, S, l, IRIS_LM_Q, q, S->xn1, n, d, d, p[TL_WQ], p[TL_BQ]);
        iris_tl_lin_fwd(m, S, l, IRIS_LM_K, k, S->xn1, n, d, d, p[TL_WK], p[TL_BK]);
        iris_tl_lin_fwd(m, S, l, IRIS_LM_V, S->v, S->xn1, n, d, d, p[TL_WV], p[TL_BV]);
    }
    if (c->clip_qkv > 0) {  /* element-wise: clamping the parts is clamping MPT's fused output */
        be->clamp(q, q, -c->clip_qkv, c->clip_qkv, nd);
        be->clamp(k, k, -c->clip_qkv, c->clip_qkv, nd);
        be->clamp(S->v, S->v, -c->clip_qkv, c->clip_qkv, nd);
    }
    if (c->qk_norm) {
        norm_fwd(m, S->q, S->qr, n, p[TL_Q_NORM], p[TL_Q_NORM_B]);
        norm_fwd(m, S->k, S->kr, n, p[TL_K_NORM], p[TL_K_NORM_B]);
    } else if (S->qr) {  /* clamp only: RoPE must not rotate the kept values */
        be->copy(S->q, S->qr, nd);
        be->copy(S->k, S->kr, nd);
    }
}

/* dq, dk (RoPE already undone) and dv, in place: back through the QK
 * LayerNorm (accumulating its weights' gradients) and the clamp. */
static void qkv_pre_bwd(iris_llama_train *m, int l, iris_tl_acts *S, int n)
{
    const iris_llama_config *c = &m->cfg;
    const int *p = m->layers[l].p;
    long nd = (long)n * c->dim;
    if (c->qk_norm) {  /* dx over dy: the CPU op (the only one this path runs on) allows it */
        norm_bwd(m, m->dq, m->dq, S->qr, n, p[TL_Q_NORM], p[TL_Q_NORM_B]);
        norm_bwd(m, m->dk, m->dk, S->kr, n, p[TL_K_NORM], p[TL_K_NORM_B]);
    }
    if (c->clip_qkv > 0) {
        float lo = -c->clip_qkv, hi = c->clip_qkv;
        m->ops->clamp_backward(m->dq, m->dq, S->qr, lo, hi, nd);
        m->ops->clamp_backward(m->dk, m->dk, S->kr, lo, hi, nd);
        m->ops->clamp_backward(m->dv, m->dv, S->v, lo, hi, nd);
    }
}

static float attn_scale(const iris_llama_config *c)
{
    return c->attn_scale > 0 ? c->attn_scale : 1.0f / sqrtf((float)c->head_dim);
}

static float alibi(const iris_llama_config *c) { return c->pos == IRIS_POS_ALIBI ? c->alibi_max_bias : 0.0f; }

/* ---- one block ---- */

void iris_decoder_train_layer_fwd(iris_llama_train *m, int l, iris_tl_acts *S, const float *xin, float *xout,
                                  int n)
{
    const iris_backend *be = m->be;
    const iris_llama_config *c = &m->cfg;
    const int *p = m->layers[l].p;
    int d = c->dim, f = c->ffn_dim, rot = c->rot_dim ? c->rot_dim : c->head_dim;
    long nf = (long)n * f;
    norm_fwd(m, S->xn1, xin, n, p[TL_ATTN_NORM], p[TL_ATTN_NORM_B]);
    qkv_fwd(m, l, S, n);
    if (c->pos == IRIS_POS_ROPE) {
        be->rope(S->q, n, c->n_heads, c->head_dim, rot, m->pos, c->rope_theta, c->rope_pos_scale,
                 c->rope_interleaved);
        be->rope(S->k, n, c->n_heads, c->head_dim, rot, m->pos, c->rope_theta, c->rope_pos_scale,
                 c->rope_interleaved);
    }
    be->attention(S->att, S->q, S->k, S->v, n, 0, n, d, c->n_heads, c->n_kv_heads, c->head_dim, attn_scale(c),
                  1, alibi(c));
    iris_tl_lin_fwd(m, S, l, IRIS_LM_O, m->tmp, S->att, n, d, d, p[TL_WO], p[TL_BO]);
    /* parallel: xout = xin + O + F(n2(xin)); sequential: xmid = xin + O, xout = xmid + F(n2(xmid)) */
    float *mid = c->parallel_residual ? xout : S->xmid;
    be->add(mid, xin, m->tmp, (long)n * d);
    norm_fwd(m, S->xn2, c->parallel_residual ? xin : S->xmid, n, p[TL_FFN_NORM], p[TL_FFN_NORM_B]);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_UP, S->u, S->xn2, n, d, f, p[TL_UP], p[TL_BUP]);
    if (c->act == IRIS_FFN_GELU) be->gelu(S->a, S->u, nf);
    else be->gelu_tanh(S->a, S->u, nf);
    iris_tl_lin_fwd(m, S, l, IRIS_LM_DOWN, m->tmp, S->a, n, f, d, p[TL_DOWN], p[TL_BDOWN]);
    be->add(xout, mid, m->tmp, (long)n * d);
}

void iris_decoder_train_layer_bwd(iris_llama_train *m, int l, iris_tl_acts *S, const float *xin, int n)
{
    const iris_backend *be = m->be;
    const iris_train_ops *ops = m->ops;
    const iris_llama_config *c = &m->cfg;
    const int *p = m->layers[l].p;
    int d = c->dim, f = c->ffn_dim, rot = c->rot_dim ? c->rot_dim : c->head_dim;
    long nd = (long)n * d, nf = (long)n * f;

    /* parallel: the attention branch reads dx' before the feed-forward adds to it */
    if (c->parallel_residual)
        iris_tl_lin_bwd(m, S, l, IRIS_LM_O, m->datt, 0.0f, m->dcur, S->att, n, d, d, p[TL_WO], p[TL_BO]);
    iris_tl_lin_bwd(m, S, l, IRIS_LM_DOWN, m->da, 0.0f, m->dcur, S->a, n, f, d, p[TL_DOWN], p[TL_BDOWN]);
    if (c->act == IRIS_FFN_GELU) ops->gelu_backward(m->du, m->da, S->u, nf);
    else ops->gelu_tanh_backward(m->du, m->da, S->u, nf);
    iris_tl_lin_bwd(m, S, l, IRIS_LM_UP, m->dxn, 0.0f, m->du, S->xn2, n, d, f, p[TL_UP], p[TL_BUP]);
    norm_bwd(m, m->tmp, m->dxn, c->parallel_residual ? xin : S->xmid, n, p[TL_FFN_NORM], p[TL_FFN_NORM_B]);
    be->add(m->dcur, m->dcur, m->tmp, nd);
    if (!c->parallel_residual)
        iris_tl_lin_bwd(m, S, l, IRIS_LM_O, m->datt, 0.0f, m->dcur, S->att, n, d, d, p[TL_WO], p[TL_BO]);

    ops->attention_alibi_backward(m->dq, m->dk, m->dv, m->datt, S->q, S->k, S->v, n, c->n_heads, c->n_kv_heads,
                                  c->head_dim, attn_scale(c), 1, alibi(c));
    if (c->pos == IRIS_POS_ROPE) {
        ops->rope_backward(m->dq, n, c->n_heads, c->head_dim, rot, m->pos, c->rope_theta, c->rope_pos_scale,
                           c->rope_interleaved);
        ops->rope_backward(m->dk, n, c->n_heads, c->head_dim, rot, m->pos, c->rope_theta, c->rope_pos_scale,
                           c->rope_interleaved);
    }
    qkv_pre_bwd(m, l, S, n);
    if (p[TL_QKV] >= 0) {
        be->sync();
        shuffle_qkv(c, m->qkv, m->dq, m->dk, m->dv, n, 0);
        iris_tl_lin_bwd(m, S, l, IRIS_LM_QKV, m->dxn, 0.0f, m->qkv, S->xn1, n, d, 3 * d, p[TL_QKV], p[TL_BQKV]);
    } else {
        iris_tl_lin_bwd(m, S, l, IRIS_LM_Q, m->dxn, 0.0f, m->dq, S->xn1, n, d, d, p[TL_WQ], p[TL_BQ]);
        iris_tl_lin_bwd(m, S, l, IRIS_LM_K, m->dxn, 1.0f, m->dk, S->xn1, n, d, d, p[TL_WK], p[TL_BK]);
        iris_tl_lin_bwd(m, S, l, IRIS_LM_V, m->dxn, 1.0f, m->dv, S->xn1, n, d, d, p[TL_WV], p[TL_BV]);
    }
    norm_bwd(m, m->tmp, m->dxn, xin, n, p[TL_ATTN_NORM], p[TL_ATTN_NORM_B]);
    be->add(m->dcur, m->dcur, m->tmp, nd);
}

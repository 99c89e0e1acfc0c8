/* decoder_config.c — config.json readers for the OpenFlamingo language models
 * that are not LLaMA-shaped: MPT (model_type "mpt", and MosaicML's older
 * "mosaic_gpt" format of the same network), GPT-NeoX ("gpt_neox",
 * RedPajama-INCITE) and BioGPT ("biogpt").
 *
 * Each fills the shared iris_llama_config with the sizes and the switches its
 * transformers class implies (which keys it honours, which it ignores), so
 * that the same decoder runs all of them; defaults are transformers' class
 * defaults, as save_pretrained omits nothing but hand-written configs may.
 */
#include "llama_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static const cJSON *item(const cJSON *o, const char *key)
{
    return o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static int jint(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = item(o, key);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : dflt;
}

static double jnum(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = item(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int jbool(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = item(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = item(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* hidden_act as transformers' ACT2FN reads it: "gelu" is the exact erf GELU here. */
static int plain_act(iris_llama_config *c, const char *act, const char *file)
{
    if (!act || !strcmp(act, "gelu")) c->act = IRIS_FFN_GELU;
    else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast"))
        c->act = IRIS_FFN_GELU_TANH;
    else {
        iris_set_error("%s: unsupported hidden_act '%s' (supported: gelu, gelu_new, gelu_pytorch_tanh)", file, act);
        return -1;
    }
    return 0;
}

static void common(iris_llama_config *c, const cJSON *o)
{
    c->bos_id = jint(o, "bos_token_id", -1);
    c->eos_id = jint(o, "eos_token_id", -1);
    c->pad_id = -1;   /* MPT's and GPT-NeoX's embeddings have no padding_idx */
    c->embed_scale = 1.0f;
    c->rope_theta = 10000.0f;
    c->rope_pos_scale = 1.0f;
    c->norm = IRIS_NORM_LAYER;
    c->ffn_plain = 1;
}

/* transformers' MptConfig: d_model, n_heads, n_layers, expansion_ratio,
 * max_seq_len, attn_config {alibi, alibi_bias_max, clip_qkv, qk_ln,
 * softmax_scale}.  MptForCausalLM has no biases and bias-free LayerNorms
 * whatever no_bias says, and ignores learned_pos_emb. */
static int mpt(iris_llama_config *c, const cJSON *o, const char *file)
{
    c->arch = IRIS_ARCH_MPT;
    c->dim = jint(o, "d_model", 2048);
    c->n_heads = jint(o, "n_heads", 16);
    c->n_kv_heads = c->n_heads;
    c->n_layers = jint(o, "n_layers", 24);
    c->ffn_dim = jint(o, "expansion_ratio", 4) * c->dim;
    c->max_ctx = jint(o, "max_seq_len", 2048);
    c->vocab_size = jint(o, "vocab_size", 50368);
    c->norm_eps = (float)jnum(o, "layer_norm_epsilon", 1e-5);
    c->act = IRIS_FFN_GELU;
    c->tied_embeddings = jbool(o, "tie_word_embeddings", 1);
    const cJSON *a = item(o, "attn_config");
    if (a && !cJSON_IsObject(a)) a = NULL;
    if (!jbool(a, "alibi", 1)) {
        iris_set_error("%s: MPT without ALiBi (attn_config.alibi false) is not supported", file);
        return -1;
    }
    c->pos = IRIS_POS_ALIBI;
    c->alibi_max_bias = (float)jnum(a, "alibi_bias_max", 8);
    c->clip_qkv = (float)jnum(a, "clip_qkv", 0);
    c->attn_scale = (float)jnum(a, "softmax_scale", 0);
    if (jbool(a, "qk_ln", 0)) {
        /* transformers' MptAttention has no q_ln / k_ln and ignores the flag; a
         * checkpoint trained with it would silently give other numbers. */
        iris_set_error("%s: attn_config.qk_ln is set, but transformers' MPT ignores it and iris follows transformers: "
                       "refusing rather than guessing", file);
        return -1;
    }
    if (c->alibi_max_bias != 8.0f) {
        /* transformers builds the bias with 8 whatever the config says */
        iris_set_error("%s: attn_config.alibi_bias_max %g: transformers' MPT always uses 8 and iris follows "
                       "transformers: refusing rather than guessing", file, c->alibi_max_bias);
        return -1;
    }
    const char *at = jstr(a, "attn_type");
    if (at && strcmp(at, "multihead_attention") != 0) {
        iris_set_error("%s: unsupported MPT attn_type '%s'", file, at);
        return -1;
    }
    if (c->clip_qkv < 0 || c->attn_scale < 0 || !(c->alibi_max_bias > 0)) {
        iris_set_error("%s: attn_config.clip_qkv, softmax_scale and alibi_bias_max must be positive", file);
        return -1;
    }
    return 0;
}

/* MosaicML's MosaicGPTConfig (remote code of OpenFlamingo-3B's MPT-1B
 * RedPajama-200B): the MPT network with flat keys -- d_model, n_heads,
 * n_layers, mlp_ratio, max_seq_len, vocab_size, alibi, alibi_bias_max,
 * attn_clip_qkv, attn_qk_ln, softmax_scale, no_bias, logit_scale, prefix_lm.
 * attn_qk_ln puts a LayerNorm over the whole width of q and of k (after the
 * clamp, before the split into heads): attn.q_ln / attn.k_ln, bias-free when
 * no_bias strips every bias, which iris requires anyway.
 * Its defaults differ from MptConfig's (alibi and no_bias off).  The output
 * layer is always the token embedding; LayerNorms use nn.LayerNorm's eps.
 * Options that only matter for training (dropouts, attn_impl, init_*,
 * embedding_fraction, low_precision_layernorm) are ignored. */
static int mosaic_gpt(iris_llama_config *c, const cJSON *o, const char *file)
{
    c->arch = IRIS_ARCH_MOSAIC_GPT;
    c->dim = jint(o, "d_model", 2048);
    c->n_heads = jint(o, "n_heads", 16);
    c->n_kv_heads = c->n_heads;
    c->n_layers = jint(o, "n_layers", 24);
    c->ffn_dim = jint(o, "mlp_ratio", 4) * c->dim;
    c->max_ctx = jint(o, "max_seq_len", 2048);
    c->vocab_size = jint(o, "vocab_size", 50368);
    c->norm_eps = 1e-5f;
    c->act = IRIS_FFN_GELU;
    c->tied_embeddings = 1;
    if (!jbool(o, "alibi", 0)) {
        iris_set_error("%s: mosaic_gpt without ALiBi (learned positions, alibi false) is not supported", file);
        return -1;
    }
    c->pos = IRIS_POS_ALIBI;
    c->alibi_max_bias = (float)jnum(o, "alibi_bias_max", 8);
    c->clip_qkv = (float)jnum(o, "attn_clip_qkv", 0);
    c->attn_scale = (float)jnum(o, "softmax_scale", 0);
    c->qk_norm = jbool(o, "attn_qk_ln", 0);  /* MPT-1B RedPajama-200B has it on */
    if (!jbool(o, "no_bias", 0)) {
        iris_set_error("%s: mosaic_gpt with biases (no_bias false or absent) is not supported: iris runs the "
                       "bias-free MPT", file);
        return -1;
    }
    if (jbool(o, "prefix_lm", 0)) {
        iris_set_error("%s: mosaic_gpt prefix_lm (bidirectional prefix attention) is not supported", file);
        return -1;
    }
    const cJSON *ls = item(o, "logit_scale");
    if (ls && !cJSON_IsNull(ls)) {
        iris_set_error("%s: mosaic_gpt logit_scale is not supported", file);
        return -1;
    }
    if (c->clip_qkv < 0 || c->attn_scale < 0 || !(c->alibi_max_bias > 0)) {
        iris_set_error("%s: attn_clip_qkv, softmax_scale and alibi_bias_max must be positive", file);
        return -1;
    }
    return 0;
}

/* transformers' GPTNeoXConfig: one fused query_key_value laid out per head,
 * rotary on the first rotary_pct of each head, biases, parallel residual. */
static int gptneox(iris_llama_config *c, const cJSON *o, const char *file)
{
    c->arch = IRIS_ARCH_GPTNEOX;
    c->dim = jint(o, "hidden_size", 6144);
    c->n_layers = jint(o, "num_hidden_layers", 44);
    c->n_heads = jint(o, "num_attention_heads", 64);
    c->n_kv_heads = c->n_heads;
    c->ffn_dim = jint(o, "intermediate_size", 24576);
    c->vocab_size = jint(o, "vocab_size", 50432);
    c->max_ctx = jint(o, "max_position_embeddings", 2048);
    c->norm_eps = (float)jnum(o, "layer_norm_eps", 1e-5);
    c->rope_theta = (float)jnum(o, "rotary_emb_base", 10000.0);
    c->norm_bias = 1;
    c->ffn_bias = 1;
    c->qkv_bias = c->out_bias = jbool(o, "attention_bias", 1);
    c->parallel_residual = jbool(o, "use_parallel_residual", 1);
    c->tied_embeddings = jbool(o, "tie_word_embeddings", 0);
    if (plain_act(c, jstr(o, "hidden_act"), file)) return -1;
    const cJSON *rs = item(o, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        iris_set_error("%s: rope_scaling is not supported for GPT-NeoX", file);
        return -1;
    }
    double pct = jnum(o, "rotary_pct", 0.25);
    if (!(pct > 0 && pct <= 1)) {
        iris_set_error("%s: rotary_pct must be in (0, 1] (got %g)", file, pct);
        return -1;
    }
    c->pos = IRIS_POS_ROPE;
    if (c->n_heads > 0) c->rot_dim = (int)((c->dim / c->n_heads) * pct);
    if (c->rot_dim <= 0 || c->rot_dim % 2) {
        iris_set_error("%s: rotary_pct %g gives %d rotary dims per head; it must be a positive even number",
                       file, pct, c->rot_dim);
        return -1;
    }
    return 0;
}

/* transformers' BioGptConfig: learned positions at row position + 2, word
 * embeddings times sqrt(hidden_size) when scale_embedding, pre-LN with biases
 * and nn.LayerNorm's default eps (layer_norm_eps is not passed on), tied output. */
static int biogpt(iris_llama_config *c, const cJSON *o, const char *file)
{
    c->arch = IRIS_ARCH_BIOGPT;
    c->pad_id = jint(o, "pad_token_id", 1);   /* nn.Embedding(padding_idx=pad_token_id) */
    c->dim = jint(o, "hidden_size", 1024);
    c->n_layers = jint(o, "num_hidden_layers", 24);
    c->n_heads = jint(o, "num_attention_heads", 16);
    c->n_kv_heads = c->n_heads;
    c->ffn_dim = jint(o, "intermediate_size", 4096);
    c->vocab_size = jint(o, "vocab_size", 42384);
    c->max_ctx = jint(o, "max_position_embeddings", 1024);
    c->norm_eps = 1e-5f;
    c->norm_bias = 1;
    c->qkv_bias = c->out_bias = c->ffn_bias = 1;
    c->pos = IRIS_POS_LEARNED;
    c->pos_offset = 2;
    c->tied_embeddings = jbool(o, "tie_word_embeddings", 1);
    if (jbool(o, "scale_embedding", 1)) c->embed_scale = sqrtf((float)c->dim);
    if (c->bos_id < 0) c->bos_id = 0;
    if (c->eos_id < 0) c->eos_id = 2;
    return plain_act(c, jstr(o, "hidden_act"), file);
}

int iris_decoder_config_from_json(iris_llama_config *c, const cJSON *o, const char *type, const char *file)
{
    int (*fill)(iris_llama_config *, const cJSON *, const char *);
    if (!strcmp(type, "mpt")) fill = mpt;
    else if (!strcmp(type, "mosaic_gpt")) fill = mosaic_gpt;
    else if (!strcmp(type, "gpt_neox")) fill = gptneox;
    else if (!strcmp(type, "biogpt")) fill = biogpt;
    else return 1;
    memset(c, 0, sizeof *c);
    snprintf(c->arch_name, sizeof c->arch_name, "%s", type);
    common(c, o);
    if (fill(c, o, file)) return -1;
    c->head_dim = c->n_heads > 0 ? c->dim / c->n_heads : 0;
    if (c->n_heads > 0 && c->dim % c->n_heads) {
        iris_set_error("%s: hidden size %d is not a multiple of the %d heads", file, c->dim, c->n_heads);
        return -1;
    }
    return iris_llama_config_validate(c, file);
}

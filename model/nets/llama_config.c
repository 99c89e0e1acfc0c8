#include "llama_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file_util.h"

static int json_int(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : dflt;
}

static double json_num(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_bool(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static int parse_act(const char *act, iris_ffn_act *out)
{
    if (!strcmp(act, "silu") || !strcmp(act, "swish")) *out = IRIS_FFN_SILU;
    else if (!strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_new") || !strcmp(act, "gelu_fast"))
        *out = IRIS_FFN_GELU_TANH;
    else if (!strcmp(act, "gelu")) *out = IRIS_FFN_GELU_TANH; /* Gemma-1 configs say "gelu" but run tanh-GELU */
    else return -1;
    return 0;
}

int iris_llama_config_from_json(iris_llama_config *c, const cJSON *o, const char *file)
{
    memset(c, 0, sizeof *c);
    const char *type = json_str(o, "model_type");
    if (!type) type = "llama";
    int generic = iris_decoder_config_from_json(c, o, type, file);
    if (generic <= 0) return generic;
    snprintf(c->arch_name, sizeof c->arch_name, "%s", type);
    if (!strcmp(type, "llama")) c->arch = IRIS_ARCH_LLAMA;
    else if (!strcmp(type, "mistral")) c->arch = IRIS_ARCH_MISTRAL;
    else if (!strcmp(type, "gemma")) c->arch = IRIS_ARCH_GEMMA;
    else if (!strcmp(type, "qwen2")) c->arch = IRIS_ARCH_QWEN2;
    else {
        iris_set_error("%s: unsupported architecture '%s' (supported: llama, mistral, gemma, qwen2, mpt, mosaic_gpt, gpt_neox, biogpt)",
                       file, type);
        return -1;
    }
    /* transformers' class defaults: llava-hf configs omit the keys that equal them */
    static const struct { iris_arch a; int dim, ffn, layers, heads, kv, vocab, ctx; double eps; } dflt[] = {
        {IRIS_ARCH_LLAMA, 4096, 11008, 32, 32, 0, 32000, 2048, 1e-6},
        {IRIS_ARCH_MISTRAL, 4096, 14336, 32, 32, 8, 32000, 131072, 1e-6},
        {IRIS_ARCH_GEMMA, 3072, 24576, 28, 16, 16, 256000, 8192, 1e-6},
        {IRIS_ARCH_QWEN2, 4096, 22016, 32, 32, 32, 151936, 32768, 1e-6},
    };
    int d = 0;
    while (dflt[d].a != c->arch) d++;
    c->dim = json_int(o, "hidden_size", dflt[d].dim);
    c->n_layers = json_int(o, "num_hidden_layers", dflt[d].layers);
    c->n_heads = json_int(o, "num_attention_heads", dflt[d].heads);
    c->n_kv_heads = json_int(o, "num_key_value_heads", dflt[d].kv ? dflt[d].kv : c->n_heads);
    c->head_dim = json_int(o, "head_dim", c->arch == IRIS_ARCH_GEMMA ? 256 : (c->n_heads > 0 ? c->dim / c->n_heads : 0));
    c->ffn_dim = json_int(o, "intermediate_size", dflt[d].ffn);
    c->vocab_size = json_int(o, "vocab_size", dflt[d].vocab);
    c->max_ctx = json_int(o, "max_position_embeddings", dflt[d].ctx);
    c->norm_eps = (float)json_num(o, "rms_norm_eps", dflt[d].eps);
    c->rope_theta = (float)json_num(o, "rope_theta", 10000.0);
    c->rope_pos_scale = 1.0f;
    c->bos_id = json_int(o, "bos_token_id", -1);
    c->eos_id = json_int(o, "eos_token_id", -1);
    /* LlamaModel & co. build nn.Embedding(padding_idx=pad_token_id); GemmaConfig
     * defaults it to 0, the others to None */
    c->pad_id = json_int(o, "pad_token_id", c->arch == IRIS_ARCH_GEMMA ? 0 : -1);
    c->embed_scale = 1.0f;

    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        const char *rt = json_str(rs, "rope_type");
        if (!rt) rt = json_str(rs, "type");
        double factor = json_num(rs, "factor", 0);
        if (!rt || strcmp(rt, "linear") != 0) {
            if (rt && !strcmp(rt, "default")) {
                factor = 1;
            } else {
                iris_set_error("%s: unsupported rope_scaling type '%s' (supported: linear)", file, rt ? rt : "?");
                return -1;
            }
        }
        if (!(factor > 0)) {
            iris_set_error("%s: rope_scaling.factor must be positive", file);
            return -1;
        }
        c->rope_pos_scale = (float)(1.0 / factor);
    }

    const char *act = json_str(o, c->arch == IRIS_ARCH_GEMMA ? "hidden_activation" : "hidden_act");
    if (c->arch == IRIS_ARCH_GEMMA && !act) act = "gelu_pytorch_tanh";
    if (!act) act = "silu";
    if (parse_act(act, &c->act)) {
        iris_set_error("%s: unsupported activation '%s'", file, act);
        return -1;
    }
    switch (c->arch) {
    case IRIS_ARCH_GEMMA:
        c->norm_add_one = 1;
        c->embed_scale = sqrtf((float)c->dim);
        c->tied_embeddings = json_bool(o, "tie_word_embeddings", 1);
        break;
    case IRIS_ARCH_QWEN2:
        c->qkv_bias = 1;
        c->tied_embeddings = json_bool(o, "tie_word_embeddings", 0);
        break;
    default:
        c->tied_embeddings = json_bool(o, "tie_word_embeddings", 0);
        if (json_bool(o, "attention_bias", 0) || json_bool(o, "mlp_bias", 0)) {
            iris_set_error("%s: attention_bias / mlp_bias LLaMA variants are not supported", file);
            return -1;
        }
        break;
    }
    return iris_llama_config_validate(c, file);
}

int iris_llama_config_load_json(iris_llama_config *c, const char *path)
{
    size_t len;
    char *text = iris_read_file(path, &len, 1 << 24);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        iris_set_error("%s: not a valid JSON object", path);
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *text_cfg = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    int rc = iris_llama_config_from_json(c, cJSON_IsObject(text_cfg) ? text_cfg : root, path);
    if (rc == 0 && cJSON_IsObject(text_cfg) && c->vocab_size == 0)
        c->vocab_size = json_int(root, "vocab_size", 0);
    cJSON_Delete(root);
    return rc == 0 ? iris_llama_config_validate(c, path) : rc;
}

int iris_llama_config_validate(const iris_llama_config *c, const char *file)
{
    struct { const char *key; int v; } req[] = {
        {"hidden_size", c->dim}, {"num_hidden_layers", c->n_layers},
        {"num_attention_heads", c->n_heads}, {"num_key_value_heads", c->n_kv_heads},
        {"head_dim", c->head_dim}, {"intermediate_size", c->ffn_dim},
        {"vocab_size", c->vocab_size}, {"max_position_embeddings", c->max_ctx},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (req[i].v <= 0 || req[i].v > (1 << 24)) {
            iris_set_error("%s: %s is missing or out of range (%d)", file, req[i].key, req[i].v);
            return -1;
        }
    if (c->n_heads % c->n_kv_heads) {
        iris_set_error("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                       file, c->n_heads, c->n_kv_heads);
        return -1;
    }
    if (c->pos == IRIS_POS_ROPE && c->head_dim % 2) {
        iris_set_error("%s: head_dim %d must be even for RoPE", file, c->head_dim);
        return -1;
    }
    if (c->rot_dim < 0 || c->rot_dim > c->head_dim || c->rot_dim % 2) {
        iris_set_error("%s: %d rotary dims do not fit a head of %d", file, c->rot_dim, c->head_dim);
        return -1;
    }
    if (!(c->norm_eps > 0) || !(c->rope_theta > 0)) {
        iris_set_error("%s: rms_norm_eps and rope_theta must be positive", file);
        return -1;
    }
    return 0;
}

/* GGUF keys are "<arch>.<name>". */
static int64_t gk_int(const iris_gguf *g, const char *arch, const char *name, int64_t dflt)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    return iris_gguf_get_int(g, key, dflt);
}

static double gk_float(const iris_gguf *g, const char *arch, const char *name, double dflt)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    return iris_gguf_get_float(g, key, dflt);
}

int iris_llama_config_from_gguf(iris_llama_config *c, const iris_gguf *g)
{
    memset(c, 0, sizeof *c);
    char *arch = iris_gguf_get_str(g, "general.architecture");
    if (!arch) {
        iris_set_error("%s: general.architecture is missing", g->path);
        return -1;
    }
    snprintf(c->arch_name, sizeof c->arch_name, "%s", arch);
    if (!strcmp(arch, "llama")) c->arch = IRIS_ARCH_LLAMA;
    else if (!strcmp(arch, "gemma")) c->arch = IRIS_ARCH_GEMMA;
    else if (!strcmp(arch, "qwen2")) c->arch = IRIS_ARCH_QWEN2;
    else {
        iris_set_error("%s: unsupported GGUF architecture '%s' (supported: llama, gemma, qwen2)", g->path, arch);
        free(arch);
        return -1;
    }
    c->dim = (int)gk_int(g, arch, "embedding_length", 0);
    c->n_layers = (int)gk_int(g, arch, "block_count", 0);
    c->n_heads = (int)gk_int(g, arch, "attention.head_count", 0);
    c->n_kv_heads = (int)gk_int(g, arch, "attention.head_count_kv", c->n_heads);
    c->head_dim = (int)gk_int(g, arch, "attention.key_length", c->n_heads > 0 ? c->dim / c->n_heads : 0);
    c->ffn_dim = (int)gk_int(g, arch, "feed_forward_length", 0);
    c->max_ctx = (int)gk_int(g, arch, "context_length", 2048);
    c->norm_eps = (float)gk_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-6);
    c->rope_theta = (float)gk_float(g, arch, "rope.freq_base", 10000.0);
    c->rope_pos_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    char *st = iris_gguf_get_str(g, key);
    if (st && strcmp(st, "none") != 0) {
        double f = gk_float(g, arch, "rope.scaling.factor", 0);
        if (strcmp(st, "linear") != 0 || !(f > 0)) {
            iris_set_error("%s: unsupported rope scaling '%s'", g->path, st);
            free(st);
            free(arch);
            return -1;
        }
        c->rope_pos_scale = (float)(1.0 / f);
    }
    free(st);
    const iris_gguf_kv *toks = iris_gguf_find(g, "tokenizer.ggml.tokens");
    c->vocab_size = (int)gk_int(g, arch, "vocab_size", toks && toks->type == GGUF_ARRAY ? (int64_t)toks->v.arr.n : 0);
    c->bos_id = (int)iris_gguf_get_int(g, "tokenizer.ggml.bos_token_id", -1);
    c->eos_id = (int)iris_gguf_get_int(g, "tokenizer.ggml.eos_token_id", -1);
    c->pad_id = -1;
    c->embed_scale = 1.0f;
    c->act = IRIS_FFN_SILU;
    switch (c->arch) {
    case IRIS_ARCH_LLAMA:
        /* llama.cpp's converter permuted q/k rows for adjacent-pair rotation. */
        c->rope_interleaved = 1;
        break;
    case IRIS_ARCH_GEMMA:
        /* llama.cpp's converter already added 1 to Gemma's norm weights. */
        c->norm_add_one = 0;
        c->embed_scale = sqrtf((float)c->dim);
        c->act = IRIS_FFN_GELU_TANH;
        break;
    case IRIS_ARCH_QWEN2:
        c->qkv_bias = 1;
        break;
    default:
        break;
    }
    /* tied_embeddings is decided by the loader: output.weight absent => tied. */
    int rc = iris_llama_config_validate(c, g->path);
    free(arch);
    return rc;
}

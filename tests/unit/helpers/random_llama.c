#include "random_llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"
#include "formats/safetensors.h"

iris_llama_config random_llama_config(iris_arch arch)
{
    iris_llama_config c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    snprintf(c.arch_name, sizeof c.arch_name, "test");
    c.dim = 48;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 12;
    c.ffn_dim = 96;
    c.vocab_size = 97;
    c.max_ctx = 512;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.rope_pos_scale = 1.0f;
    c.embed_scale = 1.0f;
    c.act = IRIS_FFN_SILU;
    c.bos_id = 1;
    c.eos_id = 2;
    /* no padding_idx, as transformers' LlamaConfig / Qwen2Config default
     * (GemmaConfig's pad_token_id is 0) */
    c.pad_id = arch == IRIS_ARCH_GEMMA ? 0 : -1;
    if (arch == IRIS_ARCH_GEMMA) {
        c.norm_add_one = 1;
        c.embed_scale = sqrtf((float)c.dim);
        c.act = IRIS_FFN_GELU_TANH;
        c.n_kv_heads = 1;
        c.tied_embeddings = 1;
    }
    if (arch == IRIS_ARCH_QWEN2) c.qkv_bias = 1;
    return c;
}

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

typedef struct {
    int n;
    char *names[64];
    iris_tensor t[64];
} tensor_list;

static int add(tensor_list *l, const char *name, int ndim, int64_t d0, int64_t d1, int dtype, unsigned *seed,
               float base, float scale)
{
    if (l->n >= 64) return -1;
    int64_t shape[2] = {d0, d1};
    iris_tensor *t = &l->t[l->n];
    if (iris_tensor_alloc(t, dtype, ndim, shape)) return -1;
    int64_t n = iris_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        float v = base + scale * frand(seed);
        if (dtype == IRIS_F32) ((float *)t->data)[i] = v;
        else if (dtype == IRIS_F16) ((uint16_t *)t->data)[i] = iris_f32_to_f16(v);
        else ((uint16_t *)t->data)[i] = iris_f32_to_bf16(v);
    }
    l->names[l->n] = strdup(name);
    l->n++;
    return 0;
}

int random_llama_write(const char *dir, const iris_llama_config *c, int dtype, unsigned seed)
{
    tensor_list l;
    memset(&l, 0, sizeof l);
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim, rc = 0;
    char name[128];
    rc |= add(&l, "model.embed_tokens.weight", 2, c->vocab_size, c->dim, dtype, &seed, 0, 0.5f);
    rc |= add(&l, "model.norm.weight", 1, c->dim, 0, dtype, &seed, 1, 0.4f);
    if (!c->tied_embeddings) rc |= add(&l, "lm_head.weight", 2, c->vocab_size, c->dim, dtype, &seed, 0, 0.5f);
    for (int i = 0; i < c->n_layers; i++) {
#define W(suffix, nd, a, b, base, sc)                                        \
        snprintf(name, sizeof name, "model.layers.%d.%s", i, suffix);      \
        rc |= add(&l, name, nd, a, b, dtype, &seed, base, sc);
        W("input_layernorm.weight", 1, c->dim, 0, 1, 0.4f)
        W("post_attention_layernorm.weight", 1, c->dim, 0, 1, 0.4f)
        W("self_attn.q_proj.weight", 2, qd, c->dim, 0, 0.5f)
        W("self_attn.k_proj.weight", 2, kvd, c->dim, 0, 0.5f)
        W("self_attn.v_proj.weight", 2, kvd, c->dim, 0, 0.5f)
        W("self_attn.o_proj.weight", 2, c->dim, qd, 0, 0.5f)
        W("mlp.gate_proj.weight", 2, c->ffn_dim, c->dim, 0, 0.5f)
        W("mlp.up_proj.weight", 2, c->ffn_dim, c->dim, 0, 0.5f)
        W("mlp.down_proj.weight", 2, c->dim, c->ffn_dim, 0, 0.5f)
        if (c->qkv_bias) {
            W("self_attn.q_proj.bias", 1, qd, 0, 0, 0.5f)
            W("self_attn.k_proj.bias", 1, kvd, 0, 0, 0.5f)
            W("self_attn.v_proj.bias", 1, kvd, 0, 0, 0.5f)
        }
#undef W
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) rc = iris_st_write(path, l.n, (const char *const *)l.names, l.t, NULL);
    for (int i = 0; i < l.n; i++) {
        free(l.names[i]);
        iris_tensor_free(&l.t[i]);
    }
    return rc;
}

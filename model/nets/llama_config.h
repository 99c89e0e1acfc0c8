/* llama_config.h — hyper-parameters of the LLaMA-family decoder.
 *
 * One decoder serves LLaMA / Vicuna, Mistral, Gemma and Qwen2; the differences
 * are switches here (activation, norm offset, embedding scale, QKV bias, RoPE
 * pairing, tied output).  Filled from a Hugging Face config.json (top level or
 * LLaVA's text_config) or from GGUF metadata.
 *
 * Contract: loaders reject unknown architectures, missing or non-positive
 * sizes, head counts that do not divide, and unsupported rope scaling with a
 * one-line iris_last_error() naming the file and the key.
 */
#ifndef IRIS_LLAMA_CONFIG_H
#define IRIS_LLAMA_CONFIG_H

#include "formats/gguf.h"

struct cJSON;

typedef enum {
    IRIS_ARCH_LLAMA = 0,   /* also Vicuna, Mistral (no sliding window) */
    IRIS_ARCH_MISTRAL,
    IRIS_ARCH_GEMMA,
    IRIS_ARCH_QWEN2,
} iris_arch;

typedef enum { IRIS_FFN_SILU = 0, IRIS_FFN_GELU_TANH } iris_ffn_act;

typedef struct {
    iris_arch arch;
    char arch_name[32];
    int dim;              /* hidden size */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int ffn_dim;
    int vocab_size;
    int max_ctx;          /* max_position_embeddings */
    float norm_eps;
    float rope_theta;
    float rope_pos_scale; /* 1 / linear scaling factor */
    int rope_interleaved; /* GGUF llama: pairs (2j, 2j+1); HF: halves */
    int norm_add_one;     /* Gemma's (1 + w) RMSNorm weights */
    float embed_scale;    /* Gemma: sqrt(dim) */
    iris_ffn_act act;
    int qkv_bias;         /* Qwen2 */
    int tied_embeddings;
    int bos_id, eos_id;   /* -1 when unknown */
} iris_llama_config;

/* From a parsed config.json object (the text part); file names the source. */
int iris_llama_config_from_json(iris_llama_config *c, const struct cJSON *obj,
                                const char *file);
/* From a config.json path; for LLaVA configs the "text_config" is used. */
int iris_llama_config_load_json(iris_llama_config *c, const char *path);
int iris_llama_config_from_gguf(iris_llama_config *c, const iris_gguf *g);
/* Checks sizes and consistency; 0 when usable. */
int iris_llama_config_validate(const iris_llama_config *c, const char *file);

#endif

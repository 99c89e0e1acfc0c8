/* llama_config.h — hyper-parameters of the decoder-only language models.
 *
 * One decoder serves LLaMA / Vicuna, Mistral, Gemma and Qwen2; the differences
 * are switches here (activation, norm offset, embedding scale, QKV bias, RoPE
 * pairing, tied output).  Filled from a Hugging Face config.json (top level or
 * LLaVA's text_config) or from GGUF metadata.
 *
 * The OpenFlamingo language models MPT, GPT-NeoX and BioGPT use the same
 * struct with more switches (LayerNorm, learned / ALiBi / partial-rotary
 * positions, plain GELU feed-forward, biases, parallel residual); their
 * config.json readers live in decoder_config.c.
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
    IRIS_ARCH_MPT,         /* from here on: decoder_block.c, not the LLaMA block */
    IRIS_ARCH_GPTNEOX,
    IRIS_ARCH_BIOGPT,
    IRIS_ARCH_MOSAIC_GPT,  /* MPT in MosaicML's older "mosaic_gpt" format (own key and tensor names) */
} iris_arch;

/* True for the archs that run through decoder_block.c. */
#define IRIS_ARCH_IS_GENERIC(a) ((a) >= IRIS_ARCH_MPT)

typedef enum { IRIS_FFN_SILU = 0, IRIS_FFN_GELU_TANH, IRIS_FFN_GELU } iris_ffn_act;
typedef enum { IRIS_NORM_RMS = 0, IRIS_NORM_LAYER } iris_norm_kind;
typedef enum { IRIS_POS_ROPE = 0, IRIS_POS_ALIBI, IRIS_POS_LEARNED } iris_pos_kind;

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
    int pad_id;           /* transformers' padding_idx of the embedding: that row
                           * gets no gradient from the lookup; -1 none */
    /* ---- generic decoders (MPT, GPT-NeoX, BioGPT); zero for the LLaMA family ---- */
    iris_norm_kind norm;  /* LayerNorm: y = (x-mean)/sd * w (+ b when the file has one) */
    int norm_bias;        /* LayerNorms carry a bias (GPT-NeoX, BioGPT) */
    iris_pos_kind pos;
    int rot_dim;          /* RoPE dims per head (GPT-NeoX rotary_pct); 0 = head_dim */
    float alibi_max_bias; /* MPT's alibi_bias_max */
    int pos_offset;       /* learned positions: row = position + offset (BioGPT: 2) */
    int ffn_plain;        /* 1: down(act(up x)); 0: down(act(gate x) * up x) */
    int parallel_residual;/* x + attn(ln1 x) + ffn(ln2 x) (GPT-NeoX) */
    int out_bias;         /* the attention output projection has a bias */
    int ffn_bias;         /* the feed-forward projections have biases */
    float attn_scale;     /* softmax scale; 0 = 1/sqrt(head_dim) */
    int qk_norm;          /* MPT qk_ln: LayerNorm over all of q and of k */
    float clip_qkv;       /* MPT: clamp q, k, v to [-c, c]; 0 = off */
} iris_llama_config;

/* From a parsed config.json object (the text part); file names the source. */
int iris_llama_config_from_json(iris_llama_config *c, const struct cJSON *obj,
                                const char *file);
/* From a config.json path; for LLaVA configs the "text_config" is used. */
int iris_llama_config_load_json(iris_llama_config *c, const char *path);
int iris_llama_config_from_gguf(iris_llama_config *c, const iris_gguf *g);
/* MPT (also "mosaic_gpt"), GPT-NeoX and BioGPT config.json objects (decoder_config.c); type is
 * the model_type.  Returns 1 when type is none of them (nothing set). */
int iris_decoder_config_from_json(iris_llama_config *c, const struct cJSON *obj,
                                  const char *type, const char *file);
/* Checks sizes and consistency; 0 when usable. */
int iris_llama_config_validate(const iris_llama_config *c, const char *file);

#endif

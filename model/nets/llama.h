/* llama.h — the decoder-only language model (LLaMA/Vicuna, Mistral, Gemma,
 * Qwen2; and through decoder_block.c MPT, GPT-NeoX, BioGPT) with a KV cache,
 * written as an explicit sequence of backend calls.
 *
 * Contract:
 *  - iris_llama_load binds every tensor by name (HF names or GGUF names),
 *    checks each shape against the config and fails with a one-line message
 *    naming the tensor and file; nothing is copied on the CPU backend (weights
 *    stay mmap'd in their file dtype).
 *  - The KV cache persists across calls: iris_llama_forward appends n tokens at
 *    positions n_past.. and advances n_past; iris_llama_reset rewinds.
 *    Processing a sequence in several calls gives the same logits as one call.
 *  - Input rows are token ids, or embeddings (text rows from iris_llama_embed
 *    mixed with image features).  The embedding scale (Gemma's sqrt(dim)) is
 *    applied to every input row in both cases, as transformers does to
 *    inputs_embeds.
 */
#ifndef IRIS_LLAMA_H
#define IRIS_LLAMA_H

#include <stdint.h>

#include "core/backend.h"
#include "formats/weights.h"
#include "llama_config.h"

typedef struct {
    iris_tensor attn_norm, wq, wk, wv, wo, bq, bk, bv;
    iris_tensor ffn_norm, w_gate, w_up, w_down;
    /* generic decoders (MPT, GPT-NeoX, BioGPT): absent (data NULL) otherwise */
    iris_tensor attn_norm_b, ffn_norm_b, bo, b_up, b_down;
    iris_tensor q_norm, k_norm, q_norm_b, k_norm_b;   /* mosaic_gpt attn_qk_ln */
    void *fused_copy[2];  /* GPT-NeoX: per-head QKV rows regrouped (weight, bias) */
} iris_llama_layer;

/* Every tensor of a layer, for loops that free or count them. */
#define IRIS_LLAMA_LAYER_TENSORS(L)                                                       \
    {&(L)->attn_norm, &(L)->wq, &(L)->wk, &(L)->wv, &(L)->wo, &(L)->bq, &(L)->bk, &(L)->bv, \
     &(L)->ffn_norm, &(L)->w_gate, &(L)->w_up, &(L)->w_down, &(L)->attn_norm_b,            \
     &(L)->ffn_norm_b, &(L)->bo, &(L)->b_up, &(L)->b_down, &(L)->q_norm, &(L)->k_norm,      \
     &(L)->q_norm_b, &(L)->k_norm_b}

typedef struct iris_llama {
    iris_llama_config cfg;
    const iris_backend *be;
    iris_tensor tok_embd, out_norm, lm_head;
    iris_tensor out_norm_b, pos_embd;   /* generic decoders only */
    iris_llama_layer *layers;
    int n_embd_rows;      /* rows of tok_embd (ids accepted); vocab_size unless replaced */
    int n_ctx;            /* KV cache capacity in tokens */
    int n_past;           /* tokens already in the cache */
    int n_batch;          /* rows per internal chunk */
    float **k_cache, **v_cache;  /* per layer [n_ctx, n_kv_heads*head_dim] */
    /* workspace (backend memory), sized for n_batch rows */
    float *x, *xn, *q, *k, *v, *att, *ffa, *ffb, *logits;
    float *res;           /* generic decoders: a second [n_batch, dim] sum */
    int32_t *pos;         /* host */
    int32_t *pos_rows;    /* host: learned-position rows (pos + offset) */
    int64_t n_tokens_processed;  /* rows that reached the decoder, for tests */
    /* Called before decoder layer l with the n rows of m->x at positions
     * n_past..n_past+n-1 (OpenFlamingo's gated cross-attention sits there);
     * it may rewrite m->x.  NULL: plain decoder.  Nonzero return aborts the
     * forward pass (with iris_set_error). */
    int (*pre_layer)(void *ctx, struct iris_llama *m, int layer, int n);
    void *pre_layer_ctx;
} iris_llama;

/* prefix is prepended to HF tensor names ("" or "language_model." ...); it is
 * detected automatically when NULL.  n_ctx <= 0 uses min(max_ctx, 4096). */
int iris_llama_load(iris_llama *m, const iris_weights *w, const iris_llama_config *cfg,
                    const iris_backend *be, int n_ctx, const char *prefix);
void iris_llama_free(iris_llama *m);
void iris_llama_reset(iris_llama *m);
/* Rewinds the cache to n tokens (n <= n_past). */
void iris_llama_truncate(iris_llama *m, int n);

/* Runs n tokens; writes the logits of the last one (vocab floats, host memory)
 * to logits_out when non-NULL, or of every token when all_logits (n*vocab). */
int iris_llama_forward(iris_llama *m, const int32_t *tokens, int n,
                       float *logits_out, int all_logits);
/* Same with input embeddings [n, dim] in host memory. */
int iris_llama_forward_embeds(iris_llama *m, const float *embeds, int n,
                              float *logits_out, int all_logits);
/* Raw embedding-table rows of tokens into out[n, dim] (host memory); the
 * embedding scale is not applied (the forward pass applies it). */
int iris_llama_embed(iris_llama *m, const int32_t *tokens, int n, float *out);

/* Rebinds the input embedding table to tensor `name` of w (OpenFlamingo's
 * checkpoint.pt carries the table grown by its new tokens): [rows, dim] with
 * rows >= the tokenizer's vocabulary.  With tied embeddings the output head
 * follows and vocab_size becomes rows; an untied head keeps its rows and the
 * table must then be no smaller.  0 on success. */
int iris_llama_replace_embeddings(iris_llama *m, const iris_weights *w, const char *name);
/* Same for the output head (untied models whose checkpoint stores it). */
int iris_llama_replace_head(iris_llama *m, const iris_weights *w, const char *name);

/* Bytes of weights the forward pass reads per token (for bandwidth figures). */
size_t iris_llama_weight_bytes(const iris_llama *m);

#endif

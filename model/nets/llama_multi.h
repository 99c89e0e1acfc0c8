/* llama_multi.h — several independent sequences through one LLaMA-family
 * decoder in the same forward pass (batched generation).
 *
 * Each sequence lives in a slot with its own KV cache rows and its own
 * position; one call runs any mix of slots — a whole prompt for one, a single
 * new token for another — as one [rows, dim] matrix, so every weight matrix is
 * read once per call for all of them (GEMM instead of one GEMV per sequence).
 * Only attention is per slot: each slot's rows see that slot's cache alone.
 *
 * The block is the same sequence of backend calls as llama.c's LLaMA block
 * (LLaMA/Vicuna, Mistral, Gemma, Qwen2), so a slot's logits equal those of
 * the sequence run alone up to float rounding (a matrix product of more rows
 * may sum in another order).  Generic decoders (MPT, GPT-NeoX, BioGPT) and
 * decoders with a pre_layer hook (OpenFlamingo) are not supported:
 * iris_llama_multi_supported says so and the caller keeps the one-sequence
 * path for them.
 *
 * Contract: the model's own KV cache and workspace are not touched (the
 * multi state has its own); a call fails (-1, error set) without advancing
 * any slot when a segment does not fit its slot or an id is out of range.
 */
#ifndef IRIS_LLAMA_MULTI_H
#define IRIS_LLAMA_MULTI_H

#include <stdint.h>

#include "llama.h"

typedef struct {
    int n_slots;
    int n_ctx;            /* cache rows per slot */
    int max_rows;         /* most rows per call */
    int *n_past;          /* per slot: rows already in its cache */
    float **k_cache, **v_cache;  /* per layer [n_slots * n_ctx, kvd], backend memory */
    /* workspace for max_rows rows, backend memory */
    float *x, *xn, *q, *k, *v, *att, *ffa, *ffb, *last, *logits;
    int32_t *pos, *ids;   /* host */
} iris_llama_multi;

/* One piece of a call: n consecutive rows continuing slot's sequence. */
typedef struct {
    int slot, n;
} iris_llama_seg;

/* 1 when m can run several sequences at once (a LLaMA-family block, no
 * pre_layer hook); 0 with a reason in iris_last_error() otherwise. */
int iris_llama_multi_supported(const iris_llama *m);
/* Bytes of KV cache n_slots slots of n_ctx rows take (to choose n_slots). */
size_t iris_llama_multi_cache_bytes(const iris_llama *m, int n_slots, int n_ctx);
int iris_llama_multi_init(iris_llama_multi *b, const iris_llama *m, int n_slots, int n_ctx, int max_rows);
void iris_llama_multi_free(iris_llama_multi *b, const iris_llama *m);
/* Empties a slot's cache. */
void iris_llama_multi_reset(iris_llama_multi *b, int slot);
/* Slot dst becomes the first n rows of slot src's cache (a shared prompt
 * prefix); -1 (nothing done) unless 0 < n <= src's rows and dst != src. */
int iris_llama_multi_copy_prefix(iris_llama_multi *b, const iris_llama *m, int dst, int src, int n);

/* Runs n_segs segments (their rows in order, at most max_rows in all, slots
 * distinct): token ids (ids, one per row) or input embeddings (embeds, host
 * [rows, dim]; the embedding scale is applied as iris_llama_forward_embeds
 * does).  logits_out (host) receives the logits of each segment's last row,
 * [n_segs, vocab], or nothing when NULL. */
int iris_llama_multi_forward(iris_llama_multi *b, iris_llama *m, const iris_llama_seg *segs, int n_segs,
                             const int32_t *ids, const float *embeds, float *logits_out);

#endif

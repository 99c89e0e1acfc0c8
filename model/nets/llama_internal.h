/* llama_internal.h — what llama.c shares with the files that bind and run the
 * generic decoders (decoder_bind.c, decoder_block.c).  Not a public contract.
 *
 * The binder looks a tensor up by name, checks its shape against the config
 * and makes it usable by the backend (iris_llama_bind), or does the same for a
 * slice of rows of a tensor already found (iris_llama_bind_rows: MPT's and
 * GPT-NeoX's fused QKV matrices become three views, nothing is copied).
 */
#ifndef IRIS_LLAMA_INTERNAL_H
#define IRIS_LLAMA_INTERNAL_H

#include "llama.h"

typedef struct {
    const iris_weights *w;
    const iris_backend *be;
    int gguf;
    const char *base;     /* HF prefix in front of "layers.N..." / "embed_tokens" */
    const char *head;     /* full HF name of the output projection */
} iris_llama_binder;

/* Binds tensor name with shape [d0] (ndim 1) or [d0, d1]; an absent optional
 * tensor leaves dst zeroed. */
int iris_llama_bind(iris_llama_binder *b, iris_tensor *dst, const char *name, int ndim, int64_t d0,
                    int64_t d1, int optional);
/* Binds rows [row0, row0 + rows) of src (a matrix, or elements of a vector);
 * name is for messages. */
int iris_llama_bind_rows(iris_llama_binder *b, iris_tensor *dst, const iris_tensor *src,
                         const char *name, int64_t row0, int64_t rows);

/* Tensor names of a generic decoder's checkpoint (decoder_bind.c): the full
 * name of a model-level tensor is outer + base + embed (etc.), of a layer
 * tensor outer + base + layer (with %d) + part + ".weight" / ".bias".  qkv is
 * the fused projection (MPT: [q; k; v] stacked; GPT-NeoX: per head) or NULL
 * with separate q, k, v (BioGPT).  pos is NULL without learned positions. */
typedef struct {
    const char *base;
    const char *embed, *pos, *out_norm, *head;
    const char *layer;
    const char *attn_norm, *qkv, *q, *k, *v, *o, *ffn_norm, *up, *down;
} iris_decoder_names;

const iris_decoder_names *iris_decoder_names_of(iris_arch arch);
/* The outer prefix ("" or "language_model." ...) in front of base, found from
 * the token embedding; -1 (error set) when absent. */
int iris_decoder_outer_prefix(const iris_weights *w, const iris_decoder_names *N, char *out, size_t cap);

/* decoder_bind.c: every tensor of an MPT / GPT-NeoX / BioGPT checkpoint. */
int iris_decoder_bind_all(iris_llama *m, iris_llama_binder *b);
/* decoder_block.c: one block of a generic decoder over the n rows in m->x,
 * at positions m->pos (n_past..). */
void iris_decoder_block_forward(iris_llama *m, int l, int n);
/* Adds the learned position rows of m->pos to m->x (BioGPT). */
void iris_decoder_add_positions(iris_llama *m, int n);
/* The final norm of n rows: y = norm(x) with the config's kind. */
void iris_llama_out_norm(iris_llama *m, float *y, const float *x, int n);

#endif

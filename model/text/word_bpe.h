/* word_bpe.h — the pieces of BioGPT's tokenizer (Moses tokens, then BPE with
 * "</w>" end-of-word markers; see tokenizer.h): the per-word BPE
 * (word_bpe.c), and the loader of vocab.json + merges.txt
 * (tokenizer_word_bpe.c) that wires it and the Moses tokenizer (moses.h)
 * into iris_tokenizer. */
#ifndef IRIS_WORD_BPE_H
#define IRIS_WORD_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer_internal.h"

typedef int (*tok_id_fn)(void *ctx, int32_t id);

/* Ids of one Moses token (len > 0 bytes of UTF-8) through fn; 0, or -1 when
 * out of memory or fn fails. */
int tok_word_bpe_encode(const iris_tokenizer *t, const char *word, size_t len, tok_id_fn fn, void *ctx);
/* Moses-tokenizes a text segment and encodes each token. */
int tok_word_bpe_segment(const iris_tokenizer *t, const char *text, size_t len, tok_id_fn fn, void *ctx);

#endif

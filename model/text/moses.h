/* moses.h — the Moses tokenizer and detokenizer for English, as BioGPT's
 * tokenizer runs them (sacremoses' MosesTokenizer.tokenize with
 * aggressive_dash_splits=True, escape=True; MosesDetokenizer.detokenize).
 *
 * Tokenizing is a fixed chain of regex rewrites over the whole text (padding
 * of symbols, " @-@ " for hyphens between letters or digits, commas outside
 * numbers, English apostrophes, sentence-final periods except after the
 * non-breaking prefixes such as "Dr", XML escaping of & | < > ' " [ ]), then a
 * split on spaces.  Perl's character classes are Unicode properties here
 * (IsAlpha = Alphabetic, IsAlnum = Alphabetic + Nd, IsN = N, IsSc = Sc,
 * IsSo = So, IsLower = Lowercase).
 *
 * Detokenizing is streamed one token at a time: each token's text depends on
 * the tokens before it only (quote parity, the previous token's end), so
 * tok_moses_detok_word writes it as soon as it is known.
 */
#ifndef IRIS_MOSES_H
#define IRIS_MOSES_H

#include <stddef.h>

#include "tokenizer.h"
#include "tokenizer_internal.h"

typedef struct tok_moses tok_moses;

/* Compiles the rules; NULL with iris_last_error() set (source names the file). */
tok_moses *tok_moses_new(const char *source);
void tok_moses_free(tok_moses *m);
/* Calls fn once per Moses token of text (any bytes: invalid UTF-8 is read
 * as U+FFFD).  0, or -1 when out of memory or fn fails. */
int tok_moses_tokenize(const tok_moses *m, const char *text, size_t len, tok_piece_fn fn, void *ctx);

/* The detokenizer's text for one token (len bytes, no spaces), given the
 * state st from the tokens before; out gets at most len + 1 bytes. Returns
 * the bytes written.  A "@-@" token is the hyphen that joins its neighbours. */
size_t tok_moses_detok_word(iris_moses_detok *st, const char *tok, size_t len, char *out);

#endif

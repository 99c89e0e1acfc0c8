/* word_bpe.c — BioGPT's BPE over one Moses token (BioGptTokenizer.bpe):
 * the token's characters, the last one with "</w>" appended, then while any
 * adjacent pair is a merge, the pair of lowest rank is merged everywhere in
 * the word (left to right, non-overlapping).  The final symbols are looked up
 * in vocab.json, unknown ones give <unk>.  Ranks are keyed by "first second"
 * as merges.txt writes them. */
#include "word_bpe.h"

#include <stdlib.h>
#include <string.h>

typedef struct { uint32_t start, len; } sym;

/* Rank of the pair (a, b), -1 when it is no merge. */
static int32_t pair_rank(const iris_tokenizer *t, const char *w, sym a, sym b, char **key, size_t *cap)
{
    size_t n = (size_t)a.len + 1 + b.len;
    if (n + 1 > *cap) {
        char *k = realloc(*key, n + 1);
        if (!k) return -2;
        *key = k;
        *cap = n + 1;
    }
    memcpy(*key, w + a.start, a.len);
    (*key)[a.len] = ' ';
    memcpy(*key + a.len + 1, w + b.start, b.len);
    return tok_str_map_get(&t->bpe_ranks, *key, n);
}

static int same(const char *w, sym a, const char *s, sym b)
{
    return a.len == b.len && !memcmp(w + a.start, s + b.start, a.len);
}

int tok_word_bpe_encode(const iris_tokenizer *t, const char *word, size_t len, tok_id_fn fn, void *ctx)
{
    if (!len) return 0;
    int rc = -1;
    char *w = malloc(len + 5), *key = NULL;
    sym *s = malloc((len + 1) * sizeof *s);
    size_t key_cap = 0;
    if (!w || !s) goto done;
    memcpy(w, word, len);
    memcpy(w + len, "</w>", 5);
    size_t n = 0;
    for (size_t i = 0; i < len; ) {
        int32_t cp;
        int k = tok_utf8_decode((const unsigned char *)word + i, len - i, &cp);
        s[n].start = (uint32_t)i;
        s[n++].len = (uint32_t)k;
        i += (size_t)k;
    }
    s[n - 1].len += 4;                         /* the last character carries "</w>" */
    while (n > 1) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r = pair_rank(t, w, s[i], s[i + 1], &key, &key_cap);
            if (r == -2) goto done;
            if (r >= 0 && (best < 0 || r < best)) { best = r; at = i; }
        }
        if (best < 0) break;
        sym first = s[at], second = s[at + 1];
        size_t m = 0;
        for (size_t i = 0; i < n; ) {
            if (i + 1 < n && same(w, s[i], w, first) && same(w, s[i + 1], w, second)) {
                s[m].start = s[i].start;           /* neighbours: the ranges are contiguous */
                s[m++].len = s[i].len + s[i + 1].len;
                i += 2;
            } else {
                s[m++] = s[i++];
            }
        }
        n = m;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok_str_map_get(&t->vocab, w + s[i].start, s[i].len);
        if (id < 0) id = t->unk;
        if (id >= 0 && fn(ctx, id)) goto done;
    }
    rc = 0;
done:
    free(w); free(s); free(key);
    return rc;
}

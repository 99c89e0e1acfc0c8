/* tokenizer.c — the encoder shared by both vocabularies: added-token
 * matching, the pre-tokenizer pipeline, then BPE on each pre-token with a
 * priority queue of adjacent pairs (O(n log n) for a word of n symbols), and
 * byte fallback for what the vocabulary cannot spell.  Also the accessors and
 * the construction helpers the loaders share. */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/error.h"
#include "../formats/gguf.h"
#include "moses.h"
#include "word_bpe.h"

/* ---------------------------------------------------------------- building */

iris_tokenizer *tok_alloc(const char *source, int n_vocab)
{
    iris_tokenizer *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->source = strdup(source ? source : "tokenizer");
    t->n_vocab = n_vocab;
    t->piece = calloc((size_t)n_vocab + 1, sizeof *t->piece);
    t->piece_len = calloc((size_t)n_vocab + 1, sizeof *t->piece_len);
    t->dec = calloc((size_t)n_vocab + 1, sizeof *t->dec);
    t->dec_len = calloc((size_t)n_vocab + 1, sizeof *t->dec_len);
    t->attr = calloc((size_t)n_vocab + 1, 1);
    if (!t->source || !t->piece || !t->piece_len || !t->dec || !t->dec_len || !t->attr ||
        tok_str_map_init(&t->vocab, (size_t)n_vocab) != 0) {
        iris_tokenizer_free(t);
        goto oom;
    }
    t->bos = t->eos = t->unk = -1;
    for (int i = 0; i < 256; i++) t->byte_tok[i] = t->byte_char_tok[i] = -1;
    return t;
oom:
    iris_set_error("%s: out of memory for the vocabulary", source ? source : "tokenizer");
    return NULL;
}

int tok_set_piece(iris_tokenizer *t, int id, const char *s, size_t len)
{
    if (id < 0 || id >= t->n_vocab) {
        iris_set_error("%s: token id %d outside the vocabulary (%d entries)", t->source, id, t->n_vocab);
        return -1;
    }
    if (t->piece[id]) {
        iris_set_error("%s: token id %d defined twice", t->source, id);
        return -1;
    }
    char *p = malloc(len + 1);
    if (!p) { iris_set_error("%s: out of memory", t->source); return -1; }
    memcpy(p, s, len);
    p[len] = 0;
    t->piece[id] = p;
    t->piece_len[id] = (uint32_t)len;
    if (tok_str_map_put(&t->vocab, p, len, id) != 0) {
        iris_set_error("%s: out of memory", t->source);
        return -1;
    }
    return 0;
}

int tok_add_added(iris_tokenizer *t, int32_t id, int special, int lstrip, int rstrip)
{
    if (id < 0 || id >= t->n_vocab || !t->piece[id] || t->piece_len[id] == 0) return 0;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return 0;
    tok_added *a = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a);
    if (!a) { iris_set_error("%s: out of memory", t->source); return -1; }
    t->added = a;
    a[t->n_added++] = (tok_added){id, t->piece[id], t->piece_len[id],
                                  (uint8_t)!!special, (uint8_t)!!lstrip, (uint8_t)!!rstrip};
    t->attr[id] |= special ? TOKA_SPECIAL : TOKA_ADDED;
    return 0;
}

void tok_add_eog(iris_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab || id == t->eos) return;
    for (int i = 0; i < t->n_eog; i++) if (t->eog[i] == id) return;
    if (t->n_eog < (int)(sizeof t->eog / sizeof t->eog[0])) t->eog[t->n_eog++] = id;
}

static int cmp_added(const void *pa, const void *pb)
{
    const tok_added *a = pa, *b = pb;
    unsigned ca = (unsigned char)a->text[0], cb = (unsigned char)b->text[0];
    if (ca != cb) return ca < cb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;   /* longest first */
    return a->id - b->id;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" -> NN, else -1 */
static int byte_piece(const char *p, size_t len)
{
    if (len != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return -1;
    int h = hexval(p[3]), l = hexval(p[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
}

static int set_dec(iris_tokenizer *t, int id)
{
    const char *p = t->piece[id];
    size_t len = t->piece_len[id];
    char *d = malloc(len + 1);
    size_t n = 0;
    if (!d) return -1;
    int b;
    if (t->attr[id] & (TOKA_SPECIAL | TOKA_ADDED)) {
        memcpy(d, p, len); n = len;
    } else if (t->kind == TOK_WORD_BPE) {
        memcpy(d, p, len); n = len;   /* "</w>" is resolved by the detokeniser */
    } else if (t->kind == TOK_SPM && (b = byte_piece(p, len)) >= 0) {
        d[n++] = (char)b;
    } else if (t->kind == TOK_SPM) {
        for (size_t i = 0; i < len; ) {
            if (i + 3 <= len && memcmp(p + i, "\xe2\x96\x81", 3) == 0) { d[n++] = ' '; i += 3; }
            else d[n++] = p[i++];
        }
    } else {
        for (size_t i = 0; i < len; ) {
            int32_t cp;
            int k = tok_utf8_decode((const unsigned char *)p + i, len - i, &cp);
            int by = cp >= 0 ? tok_cp_to_byte((uint32_t)cp) : -1;
            if (by >= 0) d[n++] = (char)by;
            else { memcpy(d + n, p + i, (size_t)k); n += (size_t)k; }
            i += (size_t)k;
        }
    }
    d[n] = 0;
    t->dec[id] = d;
    t->dec_len[id] = (uint32_t)n;
    return 0;
}

static void index_added(iris_tokenizer *t);

int tok_finish(iris_tokenizer *t)
{
    for (int id = 0; id < t->n_vocab; id++) {
        if (!t->piece[id] && tok_set_piece(t, id, "", 0) != 0) return -1;   /* holes */
        int b = byte_piece(t->piece[id], t->piece_len[id]);
        if (b >= 0 && t->byte_tok[b] < 0) t->byte_tok[b] = id;
    }
    for (int b = 0; b < 256; b++) {
        char u[4];
        int n = tok_utf8_encode((uint32_t)tok_byte_to_cp((unsigned char)b), u);
        t->byte_char_tok[b] = tok_str_map_get(&t->vocab, u, (size_t)n);
    }
    for (int id = 0; id < t->n_vocab; id++)
        if (set_dec(t, id) != 0) { iris_set_error("%s: out of memory", t->source); return -1; }
    index_added(t);
    static const char *const eog_names[] = {
        "<end_of_turn>", "<|im_end|>", "<|end|>", "<|eot_id|>", "<|endoftext|>", "<|eom_id|>",
    };
    for (size_t i = 0; i < sizeof eog_names / sizeof eog_names[0]; i++) {
        int id = iris_tokenizer_find(t, eog_names[i]);
        if (id >= 0 && (t->attr[id] & (TOKA_SPECIAL | TOKA_ADDED))) tok_add_eog(t, id);
    }
    return 0;
}

/* Re-sorts the added tokens and rebuilds the first-byte index. */
static void index_added(iris_tokenizer *t)
{
    if (t->n_added) qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);
    int c = 0;
    for (int i = 0; i <= 256; i++) {
        while (c < t->n_added && (unsigned char)t->added[c].text[0] < i) c++;
        t->added_start[i] = c;
    }
}

/* realloc that leaves *p alone on failure; 0 on success */
static int grow(void **p, size_t bytes)
{
    void *g = realloc(*p, bytes);
    if (!g) return -1;
    *p = g;
    return 0;
}

int iris_tokenizer_add_special(iris_tokenizer *t, const char *piece)
{
    size_t len = strlen(piece);
    if (!len) {
        iris_set_error("%s: an added token cannot be empty", t->source);
        return -1;
    }
    int id = iris_tokenizer_find(t, piece);
    if (id < 0) {
        id = t->n_vocab;
        /* the arrays hold n_vocab + 1 entries (see tok_alloc) */
        size_t n = (size_t)id + 2;
        if (grow((void **)&t->piece, n * sizeof *t->piece) ||
            grow((void **)&t->piece_len, n * sizeof *t->piece_len) ||
            grow((void **)&t->dec, n * sizeof *t->dec) || grow((void **)&t->dec_len, n * sizeof *t->dec_len) ||
            grow((void **)&t->attr, n))
            goto oom;
        t->piece[id + 1] = t->dec[id + 1] = NULL;
        t->piece_len[id + 1] = t->dec_len[id + 1] = 0;
        t->attr[id] = t->attr[id + 1] = 0;
        t->piece[id] = NULL;
        t->dec[id] = NULL;
        t->n_vocab++;
        if (tok_set_piece(t, id, piece, len)) {
            t->n_vocab--;
            return -1;
        }
    } else {
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].id == id) {
                t->added[i].special = 1;
                t->attr[id] |= TOKA_SPECIAL;
                return id;
            }
    }
    if (tok_add_added(t, id, 1, 0, 0)) return -1;
    free(t->dec[id]);
    t->dec[id] = NULL;
    if (set_dec(t, id)) goto oom;
    index_added(t);
    return id;
oom:
    iris_set_error("%s: out of memory", t->source);
    return -1;
}

void iris_tokenizer_free(iris_tokenizer *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_vocab; i++) {
        if (t->piece) free(t->piece[i]);
        if (t->dec) free(t->dec[i]);
    }
    free(t->piece); free(t->piece_len); free(t->dec); free(t->dec_len); free(t->attr);
    tok_str_map_free(&t->vocab);
    tok_pair_map_free(&t->merges);
    tok_str_map_free(&t->bpe_ranks);
    free(t->bpe_keys);
    tok_moses_free(t->moses);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a); free(t->norm[i].b);
        if (t->norm[i].re) tok_regex_free(t->norm[i].re);
    }
    free(t->norm);
    for (int i = 0; i < t->n_pre; i++) {
        if (t->pre[i].re) tok_regex_free(t->pre[i].re);
        free(t->pre[i].replacement);
    }
    free(t->pre);
    free(t->added);
    free(t->source);
    free(t);
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    int32_t *v;
    size_t n, cap;
} id_vec;

static int push_id(id_vec *o, int32_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) return -1;
        o->v = v; o->cap = cap;
    }
    o->v[o->n++] = id;
    return 0;
}

typedef struct { float prio; int left, right; int32_t result; } cand;

typedef struct {
    const iris_tokenizer *t;
    id_vec *out;
    /* scratch for one word, reused */
    int32_t *id;
    int *start, *len, *prev, *next;
    size_t cap;
    cand *heap;
    size_t heap_n, heap_cap;
    char *mapped;              /* byte-level text of the word */
    size_t mapped_cap;
} enc_ctx;

static int cand_less(const cand *a, const cand *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->left < b->left);
}

static int heap_push(enc_ctx *c, cand x)
{
    if (c->heap_n == c->heap_cap) {
        size_t cap = c->heap_cap ? c->heap_cap * 2 : 64;
        cand *h = realloc(c->heap, cap * sizeof *h);
        if (!h) return -1;
        c->heap = h; c->heap_cap = cap;
    }
    size_t i = c->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&x, &c->heap[p])) break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = x;
    return 0;
}

static cand heap_pop(enc_ctx *c)
{
    cand top = c->heap[0], x = c->heap[--c->heap_n];
    size_t i = 0, n = c->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &x;
        if (l < n && cand_less(&c->heap[l], best)) { m = l; best = &c->heap[l]; }
        if (r < n && cand_less(&c->heap[r], best)) m = r;
        if (m == i) break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n) c->heap[i] = x;
    return top;
}

static int try_pair(enc_ctx *c, int l, int r)
{
    if (l < 0 || r < 0 || c->id[l] < 0 || c->id[r] < 0) return 0;
    int32_t res; float prio;
    if (!tok_pair_map_get(&c->t->merges, c->id[l], c->id[r], &res, &prio)) return 0;
    return heap_push(c, (cand){prio, l, r, res});
}

static int reserve_word(enc_ctx *c, size_t n)
{
    if (n <= c->cap) return 0;
    size_t cap = c->cap ? c->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *id = realloc(c->id, cap * sizeof *id);
    if (id) c->id = id;
    int *s = realloc(c->start, cap * sizeof *s);
    if (s) c->start = s;
    int *l = realloc(c->len, cap * sizeof *l);
    if (l) c->len = l;
    int *p = realloc(c->prev, cap * sizeof *p);
    if (p) c->prev = p;
    int *nx = realloc(c->next, cap * sizeof *nx);
    if (nx) c->next = nx;
    if (!id || !s || !l || !p || !nx) return -1;
    c->cap = cap;
    return 0;
}

/* Emits a symbol the merges could not turn into one known token; *fused
 * tracks whether the last id of this word was an unk that fuse_unk extends. */
static int emit_unknown(enc_ctx *c, const char *w, int start, int len, int *fused)
{
    const iris_tokenizer *t = c->t;
    int all = t->byte_fallback || t->kind == TOK_SPM;
    for (int i = 0; i < len && all; i++)
        if (t->byte_tok[(unsigned char)w[start + i]] < 0) all = 0;
    if (all) {
        for (int i = 0; i < len; i++)
            if (push_id(c->out, t->byte_tok[(unsigned char)w[start + i]])) return -1;
        *fused = 0;
        return 0;
    }
    if (t->unk >= 0) {
        if (t->fuse_unk && *fused) return 0;
        *fused = 1;
        return push_id(c->out, t->unk);
    }
    return 0;                          /* nothing can spell it: dropped */
}

static int encode_word(void *ctx, const char *w, size_t wl)
{
    enc_ctx *c = ctx;
    const iris_tokenizer *t = c->t;
    if (wl == 0) return 0;
    if (wl > 0x3fffffff) return -1;
    if (t->kind == TOK_BYTE_LEVEL && t->ignore_merges) {
        if (c->mapped_cap < wl * 2 + 1) {
            char *m = realloc(c->mapped, wl * 2 + 1);
            if (!m) return -1;
            c->mapped = m; c->mapped_cap = wl * 2 + 1;
        }
        size_t n = 0;
        for (size_t i = 0; i < wl; i++)
            n += (size_t)tok_utf8_encode((uint32_t)tok_byte_to_cp((unsigned char)w[i]), c->mapped + n);
        int32_t id = tok_str_map_get(&t->vocab, c->mapped, n);
        if (id >= 0) return push_id(c->out, id);
    } else if (t->ignore_merges) {
        int32_t id = tok_str_map_get(&t->vocab, w, wl);
        if (id >= 0) return push_id(c->out, id);
    }
    if (reserve_word(c, wl) != 0) return -1;

    /* initial symbols: bytes (byte-level) or UTF-8 characters */
    int n = 0;
    for (size_t i = 0; i < wl; ) {
        int k = 1;
        int32_t id;
        if (t->kind == TOK_BYTE_LEVEL) {
            id = t->byte_char_tok[(unsigned char)w[i]];
        } else {
            int32_t cp;
            k = tok_utf8_decode((const unsigned char *)w + i, wl - i, &cp);
            id = tok_str_map_get(&t->vocab, w + i, (size_t)k);
            if (id >= 0 && (t->attr[id] & (TOKA_SPECIAL | TOKA_ADDED | TOKA_UNUSED))) id = -1;
        }
        c->id[n] = id; c->start[n] = (int)i; c->len[n] = k;
        c->prev[n] = n - 1; c->next[n] = n + 1;
        n++;
        i += (size_t)k;
    }
    c->next[n - 1] = -1;

    c->heap_n = 0;
    for (int i = 0; i + 1 < n; i++)
        if (try_pair(c, i, i + 1)) return -1;
    while (c->heap_n) {
        cand x = heap_pop(c);
        /* stale when either side has merged since the pair was queued */
        if (c->len[x.left] == 0 || c->len[x.right] == 0 || c->next[x.left] != x.right) continue;
        int32_t res; float prio;
        if (!tok_pair_map_get(&t->merges, c->id[x.left], c->id[x.right], &res, &prio) ||
            res != x.result)
            continue;
        int l = x.left, r = x.right;
        c->id[l] = res;
        c->len[l] += c->len[r];
        c->len[r] = 0;
        c->next[l] = c->next[r];
        if (c->next[r] >= 0) c->prev[c->next[r]] = l;
        if (try_pair(c, c->prev[l], l) || try_pair(c, l, c->next[l])) return -1;
    }
    int fused = 0;
    for (int i = 0; i >= 0; i = c->next[i]) {
        if (c->id[i] >= 0) {
            fused = 0;
            if (push_id(c->out, c->id[i])) return -1;
        } else if (emit_unknown(c, w, c->start[i], c->len[i], &fused)) return -1;
    }
    return 0;
}

/* Whitespace as the tokenizers library's lstrip/rstrip sees it (Rust's
 * char::is_whitespace): ASCII space, tab, LF, VT, FF, CR, U+0085, U+00A0,
 * U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
static int is_unicode_ws(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

/* Decodes the UTF-8 character at s[0..n); its length, or 0 when invalid. */
static int utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    int len = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || (size_t)len > n) return 0;
    uint32_t c = s[0] & (0x7f >> len);
    for (int k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[k] & 0x3f);
    }
    *cp = c;
    return len;
}

/* Bytes of the whitespace character starting at text[i], or 0. */
static size_t ws_at(const char *text, size_t len, size_t i)
{
    uint32_t c;
    int n = utf8_char((const unsigned char *)text + i, len - i, &c);
    return n && is_unicode_ws(c) ? (size_t)n : 0;
}

/* Bytes of the whitespace character ending just before text[end], or 0. */
static size_t ws_before(const char *text, size_t from, size_t end)
{
    for (size_t n = 1; n <= 4 && n <= end - from; n++) {
        unsigned char b = (unsigned char)text[end - n];
        if (n < 4 && (b & 0xc0) == 0x80) continue;   /* a continuation byte: look further back */
        return ws_at(text, end, end - n) == n ? n : 0;
    }
    return 0;
}

/* Longest eligible added token starting at text[i], or NULL. */
static const tok_added *match_added(const iris_tokenizer *t, const char *text, size_t len,
                                    size_t i, int parse_special)
{
    unsigned char ch = (unsigned char)text[i];
    for (int k = t->added_start[ch]; k < t->added_start[ch + 1]; k++) {
        const tok_added *a = &t->added[k];
        if (a->special && !parse_special) continue;
        if (a->len <= len - i && memcmp(text + i, a->text, a->len) == 0) return a;
    }
    return NULL;
}

static int push_id_cb(void *ctx, int32_t id) { return push_id(((enc_ctx *)ctx)->out, id); }

/* One stretch of text between added tokens, through the tokenizer's algorithm. */
static int segment(const iris_tokenizer *t, const char *text, size_t len, int first, enc_ctx *c)
{
    if (t->kind == TOK_WORD_BPE) return tok_word_bpe_segment(t, text, len, push_id_cb, c);
    return tok_pretokenize(t, text, len, first, encode_word, c);
}

int iris_tokenize(const iris_tokenizer *t, const char *text, size_t len,
                  int add_bos, int parse_special, int32_t *ids, int cap)
{
    id_vec out = {0};
    enc_ctx c = {.t = t, .out = &out};
    int rc = -1;
    if (!text) len = 0;
    if (add_bos && t->add_bos && t->bos >= 0 && push_id(&out, t->bos)) goto done;

    size_t seg = 0, i = 0;
    while (i < len) {
        const tok_added *a = t->n_added ? match_added(t, text, len, i, parse_special) : NULL;
        if (!a) { i++; continue; }
        size_t seg_end = i;
        if (a->lstrip)
            for (size_t w; seg_end > seg && (w = ws_before(text, seg, seg_end)); ) seg_end -= w;
        if (seg_end > seg && segment(t, text + seg, seg_end - seg, seg == 0, &c))
            goto done;
        if (push_id(&out, a->id)) goto done;
        i += a->len;
        if (a->rstrip)
            for (size_t w; i < len && (w = ws_at(text, len, i)); ) i += w;
        seg = i;
    }
    if (len > seg && segment(t, text + seg, len - seg, seg == 0, &c)) goto done;
    if (out.n > 0x7fffffff) goto done;
    size_t copy = cap > 0 ? (out.n < (size_t)cap ? out.n : (size_t)cap) : 0;
    if (ids && copy) memcpy(ids, out.v, copy * sizeof *ids);
    rc = (int)out.n;
done:
    free(out.v); free(c.id); free(c.start); free(c.len); free(c.prev); free(c.next);
    free(c.heap); free(c.mapped);
    return rc;
}

/* ---------------------------------------------------------------- accessors */

int iris_tokenizer_n_vocab(const iris_tokenizer *t) { return t->n_vocab; }
int iris_tokenizer_bos(const iris_tokenizer *t) { return t->bos; }
int iris_tokenizer_eos(const iris_tokenizer *t) { return t->eos; }

int iris_tokenizer_eog_ids(const iris_tokenizer *t, int32_t *ids, int cap)
{
    int n = 0;
    for (int i = 0; i < t->n_eog && n < cap; i++) ids[n++] = t->eog[i];
    return n;
}

int iris_tokenizer_find(const iris_tokenizer *t, const char *piece)
{
    if (!piece) return -1;
    return tok_str_map_get(&t->vocab, piece, strlen(piece));
}

const char *iris_tokenizer_piece(const iris_tokenizer *t, int id)
{
    if (id < 0 || id >= t->n_vocab) return NULL;
    return t->piece[id];
}

int iris_tokenizer_is_special(const iris_tokenizer *t, int id)
{
    if (id < 0 || id >= t->n_vocab) return 0;
    return (t->attr[id] & TOKA_SPECIAL) != 0;
}

/* ---------------------------------------------------------------- loading */

iris_tokenizer *iris_tokenizer_load(const char *model_path)
{
    struct stat st;
    if (!model_path || stat(model_path, &st) != 0) {
        iris_set_error("%s: no such file or directory", model_path ? model_path : "(null)");
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(model_path) + 32;
        char *p = malloc(n);
        if (!p) { iris_set_error("%s: out of memory", model_path); return NULL; }
        snprintf(p, n, "%s/tokenizer.json", model_path);
        if (stat(p, &st) != 0) {
            snprintf(p, n, "%s/merges.txt", model_path);
            int slow = stat(p, &st) == 0;
            snprintf(p, n, "%s/vocab.json", model_path);
            slow |= stat(p, &st) == 0;
            free(p);
            if (slow)   /* a Python-only tokenizer: BioGPT's Moses + BPE */
                return iris_tokenizer_from_word_bpe(model_path);
            iris_set_error("%s: no tokenizer.json in this model directory", model_path);
            return NULL;
        }
        iris_tokenizer *t = iris_tokenizer_from_json(p);
        free(p);
        return t;
    }
    FILE *f = fopen(model_path, "rb");
    char magic[4] = {0};
    if (!f) { iris_set_error("%s: cannot open", model_path); return NULL; }
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) {
        iris_gguf g;
        if (iris_gguf_open(&g, model_path) != 0) return NULL;
        iris_tokenizer *t = iris_tokenizer_from_gguf(&g);
        iris_gguf_close(&g);
        return t;
    }
    return iris_tokenizer_from_json(model_path);
}

/* detok.c — streaming detokeniser: token ids in, complete UTF-8 out.
 *
 * Each id contributes its decoded bytes (byte-level pieces mapped back to
 * bytes, <0xNN> tokens as the raw byte, U+2581 as a space).  Bytes are held
 * back while they form the start of a valid multi-byte character; anything
 * that cannot become valid UTF-8 comes out as U+FFFD (one per maximal
 * invalid subsequence, as decoders in the Unicode standard do).  Text longer
 * than the caller's buffer waits in a small queue of (id, offset) pairs. */
#include "tokenizer_internal.h"

#include <string.h>

#include "moses.h"

void iris_detok_init(iris_detok *d, const iris_tokenizer *t, int show_special)
{
    memset(d, 0, sizeof *d);
    d->tok = t;
    d->show_special = show_special;
}

typedef struct { char *out; size_t cap, n; } sink;

static void put(sink *s, const void *p, size_t n)
{
    if (s->cap == 0) return;
    if (n > s->cap - 1 - s->n) n = s->cap - 1 - s->n;   /* keep room for the NUL */
    memcpy(s->out + s->n, p, n);
    s->n += n;
    s->out[s->n] = 0;
}

static void put_fffd(sink *s) { put(s, "\xef\xbf\xbd", 3); }

/* Number of bytes the character starting with lead needs, 0 if lead is invalid. */
static int need(unsigned char lead)
{
    if (lead < 0x80) return 1;
    if (lead >= 0xc2 && lead <= 0xdf) return 2;
    if (lead >= 0xe0 && lead <= 0xef) return 3;
    if (lead >= 0xf0 && lead <= 0xf4) return 4;
    return 0;
}

/* Whether c may follow the bytes already pending (second-byte limits exclude
 * overlong forms, surrogates and code points above U+10FFFF). */
static int continues(const unsigned char *p, int n, unsigned char c)
{
    if ((c & 0xc0) != 0x80) return 0;
    if (n == 1) {
        if (p[0] == 0xe0 && c < 0xa0) return 0;
        if (p[0] == 0xed && c > 0x9f) return 0;
        if (p[0] == 0xf0 && c < 0x90) return 0;
        if (p[0] == 0xf4 && c > 0x8f) return 0;
    }
    return 1;
}

static void feed(iris_detok *d, sink *s, unsigned char c)
{
    if (d->n_pending) {
        if (continues(d->pending, d->n_pending, c)) {
            d->pending[d->n_pending++] = c;
            if (d->n_pending == need(d->pending[0])) {
                put(s, d->pending, (size_t)d->n_pending);
                d->n_pending = 0;
            }
            return;
        }
        put_fffd(s);                    /* the pending prefix can never complete */
        d->n_pending = 0;
    }
    int k = need(c);
    if (k == 1) put(s, &c, 1);
    else if (k == 0) put_fffd(s);
    else { d->pending[0] = c; d->n_pending = 1; }
}

/* Room a single fed byte may need: two U+FFFD, or one character, plus NUL. */
#define FEED_ROOM 7

/* Writes queued token text while it fits; returns 1 when all was written. */
static int drain(iris_detok *d, sink *s)
{
    const iris_tokenizer *t = d->tok;
    while (d->n_queue) {
        int32_t id = d->queue[0];
        const unsigned char *p = (const unsigned char *)t->dec[id];
        uint32_t n = t->dec_len[id];
        while (d->queue_off[0] < n) {
            if (s->cap < s->n + FEED_ROOM) return 0;
            feed(d, s, p[d->queue_off[0]++]);
        }
        d->n_queue--;
        memmove(d->queue, d->queue + 1, (size_t)d->n_queue * sizeof d->queue[0]);
        memmove(d->queue_off, d->queue_off + 1, (size_t)d->n_queue * sizeof d->queue_off[0]);
    }
    return 1;
}

/* ---- word BPE (BioGPT): pieces are joined into words at "</w>", each
 * word goes through the Moses detokeniser as soon as it is complete. */

static void word_done(iris_detok *d, sink *s)
{
    iris_moses_detok *m = &d->moses;
    if (!m->word_len) return;
    char text[sizeof m->word + 8];
    size_t n = tok_moses_detok_word(m, m->word, m->word_len, text);
    m->word_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s->cap < s->n + FEED_ROOM) return;   /* cannot happen with the 256-byte minimum */
        feed(d, s, (unsigned char)text[i]);
    }
}

static void word_piece(iris_detok *d, sink *s, const char *p, uint32_t len)
{
    iris_moses_detok *m = &d->moses;
    for (uint32_t i = 0; i < len; ) {
        if (i + 4 <= len && !memcmp(p + i, "</w>", 4)) { word_done(d, s); i += 4; continue; }
        if (p[i] != ' ') {
            if (m->word_len == sizeof m->word) word_done(d, s);   /* an endless word: cut it */
            m->word[m->word_len++] = p[i];
        }
        i++;
    }
}

int iris_detok_push(iris_detok *d, int32_t id, char *out, size_t cap)
{
    sink s = {out, cap, 0};
    const iris_tokenizer *t = d->tok;
    if (cap) out[0] = 0;
    if (t && t->kind == TOK_WORD_BPE) {
        if (id >= 0 && id < t->n_vocab && (!(t->attr[id] & TOKA_SPECIAL) || d->show_special))
            word_piece(d, &s, t->dec[id], t->dec_len[id]);
        return (int)s.n;
    }
    if (t && id >= 0 && id < t->n_vocab && (!(t->attr[id] & TOKA_SPECIAL) || d->show_special)) {
        const char *p = t->dec[id];
        uint32_t skip = d->n_tokens == 0 && t->strip_leading_space && t->dec_len[id] && p[0] == ' ' &&
                        !(t->attr[id] & (TOKA_SPECIAL | TOKA_ADDED));
        d->n_tokens++;
        int cap_q = (int)(sizeof d->queue / sizeof d->queue[0]);
        if (d->n_queue == cap_q) {         /* the caller's buffer is far too small: drop the oldest */
            d->n_queue--;
            memmove(d->queue, d->queue + 1, (size_t)d->n_queue * sizeof d->queue[0]);
            memmove(d->queue_off, d->queue_off + 1, (size_t)d->n_queue * sizeof d->queue_off[0]);
        }
        d->queue[d->n_queue] = id;
        d->queue_off[d->n_queue] = skip;
        d->n_queue++;
    }
    if (t) drain(d, &s);
    return (int)s.n;
}

int iris_detok_flush(iris_detok *d, char *out, size_t cap)
{
    sink s = {out, cap, 0};
    if (cap) out[0] = 0;
    if (d->tok && d->tok->kind == TOK_WORD_BPE) word_done(d, &s);
    if (d->tok && !drain(d, &s)) return (int)s.n;
    if (d->n_pending && s.cap >= s.n + 4) {
        put_fffd(&s);
        d->n_pending = 0;
    }
    return (int)s.n;
}

void iris_text_mask_nul(char *s, size_t n)
{
    for (char *p = s; (p = memchr(p, 0, n - (size_t)(p - s))) != NULL; p++) *p = '?';
}

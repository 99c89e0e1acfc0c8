/* moses_detok.c — sacremoses' English MosesDetokenizer, one token at a time
 * (see moses.h).  Per token: XML entities undone, then the first matching
 * rule decides whether a space goes before it and whether the next token
 * attaches to it: CJK after CJK, currency symbols and opening brackets
 * (attach the next), closing punctuation (attach to the previous), English
 * contractions ('s), quotes (alternately opening and closing; a lone ' after
 * a word ending in s closes it), everything else separated by one space. */
#include "moses.h"

#include <stdint.h>
#include <string.h>

/* Undoes the tokenizer's escapes in sacremoses' order (each a global
 * replace over the text); "&amp;" last, so "&amp;lt;" stays "&lt;". */
static size_t unescape(const char *in, size_t len, char *out)
{
    static const char *const from[] = {"&bar;", "&#124;", "&lt;", "&gt;", "&bra;", "&ket;", "&quot;", "&apos;",
                                       "&#91;", "&#93;", "&amp;"};
    static const char to[] = {'|', '|', '<', '>', '[', ']', '"', '\'', '[', ']', '&'};
    char tmp[2][256];
    size_t n = len < sizeof tmp[0] ? len : sizeof tmp[0] - 1;
    memcpy(tmp[0], in, n);
    int cur = 0;
    for (size_t r = 0; r < sizeof to; r++) {
        size_t fl = strlen(from[r]), m = 0;
        const char *s = tmp[cur];
        char *d = tmp[!cur];
        for (size_t i = 0; i < n; ) {
            if (i + fl <= n && !memcmp(s + i, from[r], fl)) { d[m++] = to[r]; i += fl; }
            else d[m++] = s[i++];
        }
        n = m;
        cur = !cur;
    }
    memcpy(out, tmp[cur], n);
    return n;
}

/* Decodes the code points of s into cp (at most cap); returns how many. */
static int code_points(const char *s, size_t n, int32_t *cp, int cap)
{
    int k = 0;
    for (size_t i = 0; i < n && k < cap; ) {
        int l = tok_utf8_decode((const unsigned char *)s + i, n - i, &cp[k]);
        k++;
        i += (size_t)l;
    }
    return k;
}

static int is_cjk(int32_t c)
{
    static const int32_t r[][2] = {{4352, 4607}, {11904, 42191}, {43072, 43135}, {44032, 55215}, {63744, 64255},
                                   {65072, 65103}, {65381, 65500}, {94208, 101119}, {110592, 110895},
                                   {110960, 111359}, {131072, 196607}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (c >= r[i][0] && c <= r[i][1]) return 1;
    return 0;
}

/* Unicode Sc (currency symbols): the blocks and code points that hold them. */
static int is_currency(int32_t c)
{
    return c == '$' || (c >= 0xa2 && c <= 0xa5) || c == 0x58f || c == 0x60b || c == 0x7fe || c == 0x7ff ||
           c == 0x9f2 || c == 0x9f3 || c == 0x9fb || c == 0xaf1 || c == 0xbf9 || c == 0xe3f || c == 0x17db ||
           (c >= 0x20a0 && c <= 0x20c0) || c == 0xa838 || c == 0xfdfc || c == 0xfe69 || c == 0xff04 ||
           c == 0xffe0 || c == 0xffe1 || c == 0xffe5 || c == 0xffe6;
}

static int all_in(const int32_t *cp, int n, int (*pred)(int32_t))
{
    if (n == 0) return 0;
    for (int i = 0; i < n; i++)
        if (!pred(cp[i])) return 0;
    return 1;
}

static int opening(int32_t c) { return is_currency(c) || c == '(' || c == '[' || c == '{' || c == 0xbf || c == 0xa1; }
static int closing(int32_t c) { return c < 128 && c && strchr(",.?!:;\\%}])", (int)c) != NULL; }
static int quote(int32_t c) { return c == '\'' || c == '"' || c == 0x201e || c == 0x201c || c == '`'; }
static int low_double(int32_t c) { return c == 0x201e || c == 0x201c || c == 0x201d; }

/* Rough IsAlpha for the contraction rule: a letter, in ASCII or beyond. */
static int alpha(int32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0xaa && c != 0xd7 && c != 0xf7 && c != 0xbb &&
                                                               c != 0xbf && !(c >= 0xb0 && c <= 0xb9 && c != 0xb5));
}

static uint32_t *quote_slot(iris_moses_detok *st, const char *key, size_t len)
{
    if (len >= sizeof st->quote_key[0]) len = sizeof st->quote_key[0] - 1;
    for (int i = 0; i < st->n_quotes; i++)
        if (strlen(st->quote_key[i]) == len && !memcmp(st->quote_key[i], key, len)) return &st->quote_count[i];
    int i = st->n_quotes < 6 ? st->n_quotes++ : 5;
    memcpy(st->quote_key[i], key, len);
    st->quote_key[i][len] = 0;
    st->quote_count[i] = 0;
    return &st->quote_count[i];
}

size_t tok_moses_detok_word(iris_moses_detok *st, const char *tok, size_t len, char *out)
{
    if (len == 3 && !memcmp(tok, "@-@", 3)) {   /* " @-@ " -> "-", the text start included */
        out[0] = '-';
        st->glue = 1;
        return 1;
    }
    char w[256];
    size_t n = unescape(tok, len, w);
    int32_t cp[256];
    int k = code_points(w, n, cp, 256);
    if (k == 0) return 0;
    int space = 1, attach_next = 0;
    if (st->glue) {
        space = 0;                                   /* the word after "@-@" */
    } else if (is_cjk(cp[0])) {
        space = !(st->started && st->prev_cjk);
    } else if (all_in(cp, k, opening)) {
        attach_next = 1;
    } else if (all_in(cp, k, closing)) {
        space = 0;
    } else if (st->started && cp[0] == '\'' && k > 1 && alpha(cp[1])) {
        space = 0;
    } else if (all_in(cp, k, quote)) {
        uint32_t *count = all_in(cp, k, low_double) ? quote_slot(st, "\"", 1) : quote_slot(st, w, n);
        if (*count % 2 == 0) {
            if (n == 1 && w[0] == '\'' && st->started && st->prev_s) {
                space = 0;
            } else {
                attach_next = 1;
                (*count)++;
            }
        } else {
            space = 0;
            (*count)++;
        }
    }
    if (st->no_space) space = 0;
    size_t o = 0;
    if (space && st->started) out[o++] = ' ';
    memcpy(out + o, w, n);
    o += n;
    st->no_space = (uint8_t)attach_next;
    st->glue = 0;
    st->started = 1;
    st->prev_s = w[n - 1] == 's';
    st->prev_cjk = (uint8_t)is_cjk(cp[k - 1]);
    return o;
}

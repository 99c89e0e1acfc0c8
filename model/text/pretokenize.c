/* pretokenize.c — the text pipeline that runs before BPE: normalizers
 * (Prepend, Replace, NFC/NFKC/NFD/NFKD, Lowercase, Strip) on each segment
 * between added tokens, then pre-tokenizers (regex Split with Hugging Face's
 * split behaviours, Metaspace, ByteLevel's prefix space) cutting the segment
 * into pre-tokens that BPE merges independently.
 *
 * Unicode-aware regexes run on PCRE2 in UTF + UCP mode; invalid UTF-8 never
 * matches and so ends up in the gaps, which keeps encode total on any bytes.
 */
#include "tokenizer_internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

const char *const TOK_RE_GPT2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void *tok_regex_compile(const char *source, const char *pattern, size_t len, int literal)
{
    int err; PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        iris_set_error("%s: bad pre-tokenizer regex at offset %zu: %s", source, (size_t)off, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* optional speed-up; falls back */
    return re;
}

void tok_regex_free(void *re) { pcre2_code_free(re); }

/* ---- growable byte buffer */
typedef struct { char *p; size_t n, cap; } buf;

static int buf_reserve(buf *b, size_t extra)
{
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p; b->cap = cap;
    return 0;
}

static int buf_add(buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n + 1) != 0) return -1;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

/* ---- normalizers: each turns in (len) into a new buffer */
static int replace_all(const char *in, size_t len, const char *pat, const char *with, buf *out)
{
    size_t pl = strlen(pat), wl = strlen(with), i = 0;
    if (pl == 0) return buf_add(out, in, len);
    while (i < len) {
        if (i + pl <= len && memcmp(in + i, pat, pl) == 0) {
            if (buf_add(out, with, wl) != 0) return -1;
            i += pl;
        } else {
            if (buf_add(out, in + i, 1) != 0) return -1;
            i++;
        }
    }
    return buf_add(out, "", 0);
}

static int replace_regex(const tok_norm_step *st, const char *in, size_t len, buf *out)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(st->re, NULL);
    if (!md) return -1;
    size_t pos = 0, wl = strlen(st->b);
    int rc = 0;
    while (pos <= len) {
        int m = pcre2_match(st->re, (PCRE2_SPTR)in, len, pos, 0, md, NULL);
        if (m < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (buf_add(out, in + pos, ov[0] - pos) || buf_add(out, st->b, wl)) { rc = -1; break; }
        pos = ov[1];
        if (ov[1] == ov[0]) {            /* empty match: step over one byte */
            if (pos < len && buf_add(out, in + pos, 1)) { rc = -1; break; }
            pos++;
        }
    }
    if (rc == 0 && pos < len) rc = buf_add(out, in + pos, len - pos);
    if (rc == 0) rc = buf_add(out, "", 0);
    pcre2_match_data_free(md);
    return rc;
}

static int unicode_form(enum tok_norm_kind k, const char *in, size_t len, buf *out)
{
    utf8proc_option_t opt = UTF8PROC_STABLE;
    if (k == NORM_NFC) opt |= UTF8PROC_COMPOSE;
    else if (k == NORM_NFKC) opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    else if (k == NORM_NFD) opt |= UTF8PROC_DECOMPOSE;
    else opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len, &r, opt);
    if (n < 0) {                         /* invalid UTF-8: leave the text alone */
        if (n == UTF8PROC_ERROR_NOMEM) return -1;
        return buf_add(out, in, len);
    }
    int rc = buf_add(out, (const char *)r, (size_t)n);
    free(r);
    return rc;
}

static int lowercase(const char *in, size_t len, buf *out)
{
    size_t i = 0;
    while (i < len) {
        int32_t cp;
        int n = tok_utf8_decode((const unsigned char *)in + i, len - i, &cp);
        if (cp < 0) { if (buf_add(out, in + i, 1)) return -1; }
        else {
            char u[4];
            int k = tok_utf8_encode((uint32_t)utf8proc_tolower(cp), u);
            if (buf_add(out, u, (size_t)k)) return -1;
        }
        i += (size_t)n;
    }
    return buf_add(out, "", 0);
}

static int is_space_at(const char *s, size_t len, size_t i, int *n)
{
    int32_t cp;
    *n = tok_utf8_decode((const unsigned char *)s + i, len - i, &cp);
    if (cp < 0) return 0;
    if (cp == ' ' || (cp >= 9 && cp <= 13)) return 1;
    return utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS;
}

static int strip(const tok_norm_step *st, const char *in, size_t len, buf *out)
{
    size_t a = 0, b = len;
    int n;
    if (st->left) while (a < b && is_space_at(in, b, a, &n)) a += (size_t)n;
    if (st->right) {
        /* walk forward remembering where the trailing whitespace run starts */
        size_t i = a, run = b;
        int in_run = 0;
        while (i < b) {
            int sp = is_space_at(in, b, i, &n);
            if (sp && !in_run) { run = i; in_run = 1; }
            if (!sp) in_run = 0;
            i += (size_t)n;
        }
        if (in_run) b = run;
    }
    return buf_add(out, in + a, b - a);
}

static int normalize(const iris_tokenizer *t, const char *text, size_t len, buf *out)
{
    buf cur = {0}, next = {0};
    if (buf_add(&cur, text, len)) return -1;
    for (int s = 0; s < t->n_norm; s++) {
        const tok_norm_step *st = &t->norm[s];
        int rc = 0;
        next.n = 0;
        switch (st->kind) {
        case NORM_PREPEND:
            if (cur.n) rc = buf_add(&next, st->a, strlen(st->a));
            if (!rc) rc = buf_add(&next, cur.p, cur.n);
            break;
        case NORM_REPLACE:
            rc = st->re ? replace_regex(st, cur.p, cur.n, &next)
                        : replace_all(cur.p, cur.n, st->a, st->b, &next);
            break;
        case NORM_NFC: case NORM_NFKC: case NORM_NFD: case NORM_NFKD:
            rc = unicode_form(st->kind, cur.p, cur.n, &next);
            break;
        case NORM_LOWERCASE: rc = lowercase(cur.p, cur.n, &next); break;
        case NORM_STRIP: rc = strip(st, cur.p, cur.n, &next); break;
        }
        if (rc) { free(cur.p); free(next.p); return -1; }
        buf tmp = cur; cur = next; next = tmp;
    }
    free(next.p);
    *out = cur;
    return 0;
}

/* ---- pre-tokenizers over a list of pieces (byte ranges of one buffer) */
typedef struct { size_t off, len; int at_start; } piece;
typedef struct { piece *p; int n, cap; } piece_list;

static int pl_add(piece_list *l, size_t off, size_t len, int at_start)
{
    if (len == 0) return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        piece *p = realloc(l->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->p = p; l->cap = cap;
    }
    l->p[l->n++] = (piece){off, len, at_start};
    return 0;
}

typedef struct { size_t a, b; int match; } span;
typedef struct { span *s; int n, cap; } span_list;

static int sl_add(span_list *l, size_t a, size_t b, int match)
{
    if (a == b) return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        span *s = realloc(l->s, (size_t)cap * sizeof *s);
        if (!s) return -1;
        l->s = s; l->cap = cap;
    }
    l->s[l->n++] = (span){a, b, match};
    return 0;
}

/* Splits one piece [off, off+len) of str by re into spans. */
static int find_spans(const pcre2_code *re, pcre2_match_data *md, const char *str,
                      size_t off, size_t len, span_list *out)
{
    size_t pos = 0;
    out->n = 0;
    while (pos < len) {
        int m = pcre2_match(re, (PCRE2_SPTR)(str + off), len, pos, 0, md, NULL);
        if (m < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (sl_add(out, off + pos, off + ov[0], 0)) return -1;
        if (ov[1] == ov[0]) {              /* empty match: skip one byte */
            size_t step = 1;
            while (ov[0] + step < len && ((unsigned char)str[off + ov[0] + step] & 0xc0) == 0x80) step++;
            if (sl_add(out, off + ov[0], off + ov[0] + step, 0)) return -1;
            pos = ov[0] + step;
            continue;
        }
        if (sl_add(out, off + ov[0], off + ov[1], 1)) return -1;
        pos = ov[1];
    }
    return sl_add(out, off + pos, off + len, 0);
}

static int apply_behavior(const tok_pre_step *st, span_list *sp, int at_start, size_t piece_off,
                          piece_list *out)
{
    if (st->invert)
        for (int i = 0; i < sp->n; i++) sp->s[i].match = !sp->s[i].match;
#define EMIT(a, b) do { if (pl_add(out, (a), (b) - (a), at_start && (a) == piece_off)) return -1; } while (0)
    switch (st->behavior) {
    case SPLIT_ISOLATED:
        for (int i = 0; i < sp->n; i++) EMIT(sp->s[i].a, sp->s[i].b);
        break;
    case SPLIT_REMOVED:
        for (int i = 0; i < sp->n; i++) if (!sp->s[i].match) EMIT(sp->s[i].a, sp->s[i].b);
        break;
    case SPLIT_CONTIGUOUS:
        for (int i = 0; i < sp->n; ) {
            int j = i + 1;
            if (sp->s[i].match) while (j < sp->n && sp->s[j].match) j++;
            EMIT(sp->s[i].a, sp->s[j - 1].b);
            i = j;
        }
        break;
    case SPLIT_MERGED_PREV: {
        size_t cur = (size_t)-1;
        for (int i = 0; i < sp->n; i++) {
            if (cur == (size_t)-1) cur = sp->s[i].a;
            if (sp->s[i].match) { EMIT(cur, sp->s[i].b); cur = (size_t)-1; }
        }
        if (cur != (size_t)-1) EMIT(cur, sp->s[sp->n - 1].b);
        break;
    }
    case SPLIT_MERGED_NEXT: {
        size_t cur = (size_t)-1;
        for (int i = 0; i < sp->n; i++) {
            if (sp->s[i].match && cur != (size_t)-1) { EMIT(cur, sp->s[i].a); cur = (size_t)-1; }
            if (cur == (size_t)-1) cur = sp->s[i].a;
        }
        if (cur != (size_t)-1) EMIT(cur, sp->s[sp->n - 1].b);
        break;
    }
    }
#undef EMIT
    return 0;
}

/* Metaspace: spaces -> replacement, optional prefix, then split before each
 * replacement.  ByteLevel's add_prefix_space is the same with ' ' and no split. */
static int rewrite_piece(const tok_pre_step *st, buf *b, piece *pc, int first_segment)
{
    const char *rep = st->kind == PRE_METASPACE ? st->replacement : " ";
    size_t rl = strlen(rep);
    int want = st->kind == PRE_BYTE_LEVEL_PREFIX || st->prepend == PREPEND_ALWAYS ||
               (st->prepend == PREPEND_FIRST && first_segment && pc->at_start);
    size_t start = b->n;
    if (buf_reserve(b, (pc->len + 1) * (rl > 1 ? rl : 1) + 1)) return -1;
    int starts = pc->len >= rl && memcmp(b->p + pc->off, rep, rl) == 0;
    if (st->kind == PRE_METASPACE && !starts && pc->len && b->p[pc->off] == ' ') starts = 1;
    if (want && !starts) buf_add(b, rep, rl);
    for (size_t i = 0; i < pc->len; i++) {
        char c = b->p[pc->off + i];
        if (st->kind == PRE_METASPACE && c == ' ') buf_add(b, rep, rl);
        else buf_add(b, &c, 1);
    }
    pc->off = start;
    pc->len = b->n - start;
    return 0;
}

int tok_pretokenize(const iris_tokenizer *t, const char *text, size_t len,
                    int first_segment, tok_piece_fn fn, void *ctx)
{
    buf b = {0};
    piece_list cur = {0}, next = {0};
    span_list sp = {0};
    pcre2_match_data *md = NULL;
    int rc = -1;

    if (normalize(t, text, len, &b)) goto out;
    if (b.n == 0) { rc = 0; goto out; }
    if (pl_add(&cur, 0, b.n, 1)) goto out;
    for (int s = 0; s < t->n_pre; s++) {
        const tok_pre_step *st = &t->pre[s];
        next.n = 0;
        if (st->kind == PRE_SPLIT) {
            pcre2_match_data_free(md);
            md = pcre2_match_data_create_from_pattern(st->re, NULL);
            if (!md) goto out;
            for (int i = 0; i < cur.n; i++) {
                if (find_spans(st->re, md, b.p, cur.p[i].off, cur.p[i].len, &sp)) goto out;
                if (apply_behavior(st, &sp, cur.p[i].at_start, cur.p[i].off, &next)) goto out;
            }
        } else {
            for (int i = 0; i < cur.n; i++) {
                piece pc = cur.p[i];
                if (rewrite_piece(st, &b, &pc, first_segment)) goto out;
                if (st->kind == PRE_METASPACE && st->split) {
                    /* split before every replacement (MergedWithNext) */
                    size_t rl = strlen(st->replacement), a = pc.off, e = pc.off + pc.len;
                    for (size_t j = pc.off + 1; j + rl <= e; j++)
                        if (memcmp(b.p + j, st->replacement, rl) == 0) {
                            if (pl_add(&next, a, j - a, pc.at_start && a == pc.off)) goto out;
                            a = j;
                        }
                    if (pl_add(&next, a, e - a, pc.at_start && a == pc.off)) goto out;
                } else if (pl_add(&next, pc.off, pc.len, pc.at_start)) goto out;
            }
        }
        piece_list tmp = cur; cur = next; next = tmp;
    }
    for (int i = 0; i < cur.n; i++)
        if (fn(ctx, b.p + cur.p[i].off, cur.p[i].len)) goto out;
    rc = 0;
out:
    pcre2_match_data_free(md);
    free(b.p); free(cur.p); free(next.p); free(sp.s);
    return rc;
}

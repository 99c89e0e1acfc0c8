/* moses_tokenize.c — sacremoses' English MosesTokenizer.tokenize
 * (aggressive dash splits, XML escaping) as a chain of PCRE2 rewrites over
 * the whole text; the steps that are not plain substitutions (runs of dots,
 * non-breaking prefixes, escaping) are done by hand.  See moses.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "moses.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Python's str.isspace() set, which is what re's \s and str.split() use. */
#define WS "\\t\\n\\x{0b}\\f\\r\\x{1c}-\\x{1f} \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}" \
           "\\x{202f}\\x{205f}\\x{3000}"
#define ALPHA "\\p{Alphabetic}"
#define ALNUM "\\p{Alphabetic}\\p{Nd}"
#define NUM "\\p{N}"

/* The rewrites, in sacremoses' order; NULL pattern = a step done by hand. */
enum { R_SPACES, R_JUNK, R_PAD, R_HYPHEN, R_COMMA1, R_COMMA2, R_COMMA3, R_APOS1, R_APOS2, R_APOS3,
       R_APOS4, R_APOS5, R_TRAIL_DOT_APOS, R_COUNT };
static const struct { const char *pat, *rep; } RULES[R_COUNT] = {
    [R_SPACES] = {"[" WS "]+", " "},
    [R_JUNK] = {"[\\x{00}-\\x{1f}]", ""},
    [R_PAD] = {"([^" ALNUM WS ".'`,\\-])", " $1 "},
    [R_HYPHEN] = {"([" ALNUM "])\\-(?=[" ALNUM "])", "$1 @-@ "},
    [R_COMMA1] = {"([^" NUM "])[,]", "$1 , "},
    [R_COMMA2] = {"[,]([^" NUM "])", " , $1"},
    [R_COMMA3] = {"([" NUM "])[,]$", "$1 , "},
    [R_APOS1] = {"([^" ALPHA "])[']([^" ALPHA "])", "$1 ' $2"},
    [R_APOS2] = {"([^" ALPHA NUM "])[']([" ALPHA "])", "$1 ' $2"},
    [R_APOS3] = {"([" ALPHA "])[']([^" ALPHA "])", "$1 ' $2"},
    [R_APOS4] = {"([" ALPHA "])[']([" ALPHA "])", "$1 '$2"},
    [R_APOS5] = {"([" NUM "])[']([s])", "$1 '$2"},
    [R_TRAIL_DOT_APOS] = {"\\.' ?$", " . ' "},
};

struct tok_moses {
    pcre2_code *re[R_COUNT];
    pcre2_code *lower;      /* IsLower, for a token's first character */
    pcre2_code *alpha;      /* IsAlpha anywhere in a prefix */
};

/* English non-breaking prefixes (Moses' nonbreaking_prefix.en): a word
 * before a period that does not end a sentence; every single capital letter
 * ("J. Smith", "vitamin B.") is one too, tested apart.  The second list only
 * before a number ("No. 5"). */
static const char *const PREFIXES[] = {
    "Adj", "Adm", "Adv", "Asst", "Bart", "Bldg", "Brig", "Bros", "Capt", "Cmdr", "Col", "Comdr", "Con", "Corp",
    "Cpl", "DR", "Dr", "Drs", "Ens", "Gen", "Gov", "Hon", "Hr", "Hosp", "Insp", "Lt", "MM", "MR", "MRS", "MS",
    "Maj", "Messrs", "Mlle", "Mme", "Mr", "Mrs", "Ms", "Msgr", "Op", "Ord", "Pfc", "Ph", "Prof", "Pvt", "Rep",
    "Reps", "Res", "Rev", "Rt", "Sen", "Sens", "Sfc", "Sgt", "Sr", "St", "Supt", "Surg", "v", "vs", "i.e", "rev",
    "e.g", "Rs", "Nos", "Nr", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const NUMERIC_ONLY[] = {"No", "Art", "pp"};

static pcre2_code *compile(const char *source, const char *pat)
{
    int err; PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        iris_set_error("%s: Moses rule '%s' does not compile: %s", source, pat, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

tok_moses *tok_moses_new(const char *source)
{
    tok_moses *m = calloc(1, sizeof *m);
    if (!m) { iris_set_error("%s: out of memory", source); return NULL; }
    for (int i = 0; i < R_COUNT; i++)
        if (!(m->re[i] = compile(source, RULES[i].pat))) goto fail;
    if (!(m->lower = compile(source, "^\\p{Lowercase}")) || !(m->alpha = compile(source, "[" ALPHA "]")))
        goto fail;
    return m;
fail:
    tok_moses_free(m);
    return NULL;
}

void tok_moses_free(tok_moses *m)
{
    if (!m) return;
    for (int i = 0; i < R_COUNT; i++) pcre2_code_free(m->re[i]);
    pcre2_code_free(m->lower);
    pcre2_code_free(m->alpha);
    free(m);
}

/* ---- a growable NUL-terminated string */
typedef struct { char *p; size_t n, cap; } str;

static int reserve(str *s, size_t extra)
{
    if (s->n + extra + 1 <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->n + extra + 1) cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) return -1;
    s->p = p; s->cap = cap;
    return 0;
}

static int append(str *s, const char *p, size_t n)
{
    if (reserve(s, n)) return -1;
    memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = 0;
    return 0;
}

/* s = re.sub(pattern, rep, s), every match. */
static int substitute(const pcre2_code *re, const char *rep, str *s)
{
    PCRE2_SIZE cap = s->n * 2 + 64;
    for (;;) {
        char *out = malloc(cap);
        if (!out) return -1;
        PCRE2_SIZE got = cap;
        int rc = pcre2_substitute(re, (PCRE2_SPTR)s->p, s->n, 0,
                                  PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, NULL, NULL,
                                  (PCRE2_SPTR)rep, PCRE2_ZERO_TERMINATED, (PCRE2_UCHAR *)out, &got);
        if (rc >= 0) {
            free(s->p);
            s->p = out; s->n = got; s->cap = cap;
            return 0;
        }
        free(out);
        if (rc != PCRE2_ERROR_NOMEMORY) return -1;
        cap = got + 1;
    }
}

static int matches(const pcre2_code *re, const char *p, size_t n)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) return 0;
    int rc = pcre2_match(re, (PCRE2_SPTR)p, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* Python's strip() of the single spaces left after R_SPACES. */
static void strip_spaces(str *s)
{
    size_t a = 0, b = s->n;
    while (a < b && s->p[a] == ' ') a++;
    while (b > a && s->p[b - 1] == ' ') b--;
    memmove(s->p, s->p + a, b - a);
    s->n = b - a;
    s->p[s->n] = 0;
}

/* Valid UTF-8 copy of text: each invalid byte becomes U+FFFD. */
static int sanitize(const char *text, size_t len, str *out)
{
    for (size_t i = 0; i < len; ) {
        int32_t cp;
        int k = tok_utf8_decode((const unsigned char *)text + i, len - i, &cp);
        if (cp < 0 ? append(out, "\xef\xbf\xbd", 3) : append(out, text + i, (size_t)k)) return -1;
        i += (size_t)k;
    }
    return reserve(out, 0);
}

/* A run of n >= 2 dots becomes " DOT..DOTMULTI" (n DOTs), a space after it
 * unless it ends the text; restored after the period rules. */
static int mark_multidots(str *s)
{
    str o = {0};
    if (reserve(&o, s->n)) return -1;
    for (size_t i = 0; i < s->n; ) {
        size_t j = i;
        while (j < s->n && s->p[j] == '.') j++;
        if (j - i >= 2) {
            if (append(&o, " ", 1)) goto oom;
            for (size_t k = i; k < j; k++)
                if (append(&o, "DOT", 3)) goto oom;
            if (append(&o, "MULTI", 5) || (j < s->n && append(&o, " ", 1))) goto oom;
            i = j;
        } else {
            if (append(&o, s->p + i, 1)) goto oom;
            i++;
        }
    }
    free(s->p);
    *s = o;
    return 0;
oom:
    free(o.p);
    return -1;
}

/* (?:DOT)+MULTI -> as many dots as DOTs. */
static int restore_multidots(str *s)
{
    str o = {0};
    if (reserve(&o, s->n)) return -1;
    for (size_t i = 0; i < s->n; ) {
        size_t j = i, dots = 0;
        while (j + 3 <= s->n && !memcmp(s->p + j, "DOT", 3)) { j += 3; dots++; }
        if (dots && j + 5 <= s->n && !memcmp(s->p + j, "MULTI", 5)) {
            for (size_t k = 0; k < dots; k++)
                if (append(&o, ".", 1)) goto oom;
            i = j + 5;
        } else {
            size_t step = dots ? 3 : 1;   /* "DOT" not followed by MULTI: copy it, rescan after */
            if (append(&o, s->p + i, step)) goto oom;
            i += step;
        }
    }
    free(s->p);
    *s = o;
    return 0;
oom:
    free(o.p);
    return -1;
}

static int in_list(const char *const *list, size_t n, const char *p, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && !memcmp(list[i], p, len)) return 1;
    return 0;
}

/* A token "X." keeps its period when X contains a period and a letter, X is
 * a non-breaking prefix, or the next token starts lower-case (or, for the
 * numeric-only prefixes, with a digit); otherwise it becomes "X .". */
static int nonbreaking(const tok_moses *m, str *s)
{
    str o = {0};
    if (reserve(&o, s->n + 16)) return -1;
    const char *p = s->p, *end = s->p + s->n;
    while (p < end) {
        while (p < end && *p == ' ') p++;
        if (p >= end) break;
        const char *e = p;
        while (e < end && *e != ' ') e++;
        const char *nx = e;
        while (nx < end && *nx == ' ') nx++;
        const char *nxe = nx;
        while (nxe < end && *nxe != ' ') nxe++;
        size_t len = (size_t)(e - p);
        int split = 0;
        if (len >= 2 && p[len - 1] == '.') {
            size_t pl = len - 1;
            int has_dot = memchr(p, '.', pl) != NULL;
            int keep = (has_dot && matches(m->alpha, p, pl)) ||
                       in_list(PREFIXES, sizeof PREFIXES / sizeof *PREFIXES, p, pl) ||
                       (pl == 1 && *p >= 'A' && *p <= 'Z') ||
                       (nx < end && matches(m->lower, nx, (size_t)(nxe - nx)));
            if (!keep) {
                int numeric = in_list(NUMERIC_ONLY, sizeof NUMERIC_ONLY / sizeof *NUMERIC_ONLY, p, pl);
                keep = numeric && nx < end && *nx >= '0' && *nx <= '9';
            }
            split = !keep;
        }
        if ((o.n && append(&o, " ", 1)) || append(&o, p, split ? len - 1 : len) || (split && append(&o, " .", 2))) {
            free(o.p);
            return -1;
        }
        p = e;
    }
    if (reserve(&o, 0)) { free(o.p); return -1; }
    free(s->p);
    *s = o;
    return 0;
}

/* Splits on spaces, escaping & | < > ' " [ ] in each token. */
static int emit(const str *s, tok_piece_fn fn, void *ctx)
{
    str w = {0};
    int rc = 0;
    for (size_t i = 0; i < s->n && !rc; ) {
        while (i < s->n && s->p[i] == ' ') i++;
        if (i >= s->n) break;
        w.n = 0;
        for (; i < s->n && s->p[i] != ' ' && !rc; i++) {
            const char *e = NULL;
            switch (s->p[i]) {
            case '&': e = "&amp;"; break;
            case '|': e = "&#124;"; break;
            case '<': e = "&lt;"; break;
            case '>': e = "&gt;"; break;
            case '\'': e = "&apos;"; break;
            case '"': e = "&quot;"; break;
            case '[': e = "&#91;"; break;
            case ']': e = "&#93;"; break;
            }
            rc = e ? append(&w, e, strlen(e)) : append(&w, s->p + i, 1);
        }
        if (!rc) rc = fn(ctx, w.p, w.n);
    }
    free(w.p);
    return rc ? -1 : 0;
}

int tok_moses_tokenize(const tok_moses *m, const char *text, size_t len, tok_piece_fn fn, void *ctx)
{
    str s = {0};
    int rc = -1;
    if (sanitize(text ? text : "", text ? len : 0, &s)) goto done;
    if (substitute(m->re[R_SPACES], RULES[R_SPACES].rep, &s) || substitute(m->re[R_JUNK], "", &s)) goto done;
    strip_spaces(&s);
    if (substitute(m->re[R_PAD], RULES[R_PAD].rep, &s) || substitute(m->re[R_HYPHEN], RULES[R_HYPHEN].rep, &s) ||
        mark_multidots(&s))
        goto done;
    for (int r = R_COMMA1; r <= R_APOS5; r++)
        if (substitute(m->re[r], RULES[r].rep, &s)) goto done;
    if (nonbreaking(m, &s) || substitute(m->re[R_SPACES], " ", &s)) goto done;
    strip_spaces(&s);
    if (substitute(m->re[R_TRAIL_DOT_APOS], RULES[R_TRAIL_DOT_APOS].rep, &s) || restore_multidots(&s)) goto done;
    rc = emit(&s, fn, ctx);
done:
    free(s.p);
    return rc;
}

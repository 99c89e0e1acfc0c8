/* tokenizer_gguf.c — builds the tokenizer from a GGUF file's tokenizer.ggml.*
 * metadata, matching llama.cpp:
 *  - model "llama": SentencePiece BPE.  Pairs merge when their concatenation
 *    is a normal vocabulary piece, highest score first; spaces become U+2581
 *    and a U+2581 is prepended (add_space_prefix, default on); unknown
 *    characters fall back to <0xNN> byte tokens.
 *  - model "gpt2": byte-level BPE with ranked tokenizer.ggml.merges and the
 *    pre-tokenizer regexes that tokenizer.ggml.pre names.
 * token_type 3 (control) and 2 (unknown) are special tokens, parsed only on
 * request; 4 (user-defined) is always matched as a whole. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../formats/gguf.h"

enum { GT_NORMAL = 1, GT_UNKNOWN = 2, GT_CONTROL = 3, GT_USER = 4, GT_UNUSED = 5, GT_BYTE = 6 };

static const char *const RE_QWEN2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const RE_LLAMA3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const RE_FALCON_PUNCT = "[\\p{P}\\$\\+<=>\\^~\\|`]+";
static const char *const RE_THREE_DIGITS = "[0-9][0-9][0-9]";

static int add_regex(iris_tokenizer *t, const char *re)
{
    tok_pre_step st = {.kind = PRE_SPLIT, .behavior = SPLIT_ISOLATED};
    if (!(st.re = tok_regex_compile(t->source, re, strlen(re), 0))) return -1;
    tok_pre_step *p = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *p);
    if (!p) { tok_regex_free(st.re); iris_set_error("%s: out of memory", t->source); return -1; }
    t->pre = p;
    t->pre[t->n_pre++] = st;
    return 0;
}

/* tokenizer.ggml.pre -> llama.cpp's regex chain */
static int set_pre(iris_tokenizer *t, const char *pre)
{
    if (!pre || !strcmp(pre, "default") || !strcmp(pre, "gpt-2") || !strcmp(pre, "mpt") ||
        !strcmp(pre, "olmo") || !strcmp(pre, "jais"))
        return add_regex(t, TOK_RE_GPT2);
    if (!strcmp(pre, "falcon"))
        return add_regex(t, RE_FALCON_PUNCT) || add_regex(t, TOK_RE_GPT2) || add_regex(t, RE_THREE_DIGITS);
    if (!strcmp(pre, "qwen2") || !strcmp(pre, "stablelm2"))
        return add_regex(t, RE_QWEN2);
    if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-bpe") || !strcmp(pre, "dbrx") || !strcmp(pre, "smaug-bpe")) {
        t->ignore_merges = 1;          /* as LLaMA-3's tokenizer.json asks */
        return add_regex(t, RE_LLAMA3);
    }
    if (!strcmp(pre, "starcoder") || !strcmp(pre, "refact") || !strcmp(pre, "smollm") || !strcmp(pre, "command-r"))
        return add_regex(t, "\\p{N}") || add_regex(t, TOK_RE_GPT2);
    iris_set_error("%s: tokenizer.ggml.pre \"%s\" is not supported", t->source, pre);
    return -1;
}

static int add_norm(iris_tokenizer *t, enum tok_norm_kind k, const char *a, const char *b)
{
    tok_norm_step st = {.kind = k};
    st.a = strdup(a);
    st.b = b ? strdup(b) : NULL;
    tok_norm_step *n = st.a && (!b || st.b) ? realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *n) : NULL;
    if (!n) { free(st.a); free(st.b); iris_set_error("%s: out of memory", t->source); return -1; }
    t->norm = n;
    t->norm[t->n_norm++] = st;
    return 0;
}

static int elem_int(const iris_gguf_kv *kv, uint64_t i, int64_t dflt)
{
    iris_gguf_kv e;
    if (!kv || iris_gguf_arr_elem(kv, i, &e) != 0) return (int)dflt;
    switch (e.type) {
    case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64: return (int)e.v.i;
    case GGUF_UINT8: case GGUF_UINT16: case GGUF_UINT32: case GGUF_UINT64: case GGUF_BOOL: return (int)e.v.u;
    default: return (int)dflt;
    }
}

static float elem_float(const iris_gguf_kv *kv, uint64_t i)
{
    iris_gguf_kv e;
    if (!kv || iris_gguf_arr_elem(kv, i, &e) != 0) return 0.0f;
    if (e.type == GGUF_FLOAT32 || e.type == GGUF_FLOAT64) return (float)e.v.f;
    if (e.type == GGUF_INT32 || e.type == GGUF_INT64) return (float)e.v.i;
    return 0.0f;
}

/* SentencePiece: every normal piece that splits into two vocabulary pieces
 * is a merge of those two, ranked by the piece's score. */
static int spm_merges(iris_tokenizer *t, const float *score)
{
    if (tok_pair_map_init(&t->merges, (size_t)t->n_vocab * 4)) goto oom;
    for (int id = 0; id < t->n_vocab; id++) {
        if (t->attr[id]) continue;
        const char *p = t->piece[id];
        uint32_t len = t->piece_len[id];
        for (uint32_t k = 1; k < len; k++) {
            if (((unsigned char)p[k] & 0xc0) == 0x80) continue;   /* inside a character */
            int32_t l = tok_str_map_get(&t->vocab, p, k), r = tok_str_map_get(&t->vocab, p + k, len - k);
            if (l < 0 || r < 0 || (t->attr[l] & ~TOKA_BYTE) || (t->attr[r] & ~TOKA_BYTE)) continue;
            if (tok_pair_map_put(&t->merges, l, r, id, -score[id])) goto oom;
        }
    }
    return 0;
oom:
    iris_set_error("%s: out of memory for merges", t->source);
    return -1;
}

static int bpe_merges(iris_tokenizer *t, const iris_gguf_kv *merges)
{
    if (!merges || merges->type != GGUF_ARRAY || merges->v.arr.type != GGUF_STRING) {
        iris_set_error("%s: tokenizer.ggml.merges missing or not a string array", t->source);
        return -1;
    }
    uint64_t n = merges->v.arr.n;
    if (tok_pair_map_init(&t->merges, (size_t)n)) { iris_set_error("%s: out of memory", t->source); return -1; }
    char *tmp = NULL;
    size_t tmp_cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        const iris_gguf_str *s = &merges->v.arr.strs[i];
        const char *sp = memchr(s->ptr, ' ', (size_t)s->len);
        if (!sp) { iris_set_error("%s: merge %llu is not \"left right\"", t->source, (unsigned long long)i); goto fail; }
        size_t al = (size_t)(sp - s->ptr), bl = (size_t)s->len - al - 1;
        int32_t a = tok_str_map_get(&t->vocab, s->ptr, al), b = tok_str_map_get(&t->vocab, sp + 1, bl);
        if (a < 0 || b < 0) {
            iris_set_error("%s: merge %llu references an unknown token", t->source, (unsigned long long)i);
            goto fail;
        }
        if (tmp_cap < al + bl + 1) {
            char *q = realloc(tmp, al + bl + 1);
            if (!q) { iris_set_error("%s: out of memory", t->source); goto fail; }
            tmp = q; tmp_cap = al + bl + 1;
        }
        memcpy(tmp, s->ptr, al); memcpy(tmp + al, sp + 1, bl);
        int32_t r = tok_str_map_get(&t->vocab, tmp, al + bl);
        if (r < 0) {
            iris_set_error("%s: merge %llu produces a token not in the vocab", t->source, (unsigned long long)i);
            goto fail;
        }
        if (tok_pair_map_put(&t->merges, a, b, r, (float)i)) { iris_set_error("%s: out of memory", t->source); goto fail; }
    }
    free(tmp);
    return 0;
fail:
    free(tmp);
    return -1;
}

static int32_t id_key(const iris_tokenizer *t, const iris_gguf *g, const char *key)
{
    int64_t v = iris_gguf_get_int(g, key, -1);
    return v >= 0 && v < t->n_vocab ? (int32_t)v : -1;
}

iris_tokenizer *iris_tokenizer_from_gguf(const iris_gguf *g)
{
    const char *path = g->path ? g->path : "gguf";
    char *model = iris_gguf_get_str(g, "tokenizer.ggml.model");
    char *pre = NULL;
    float *score = NULL;
    iris_tokenizer *t = NULL;
    if (!model) { iris_set_error("%s: no tokenizer.ggml.model (no vocabulary in this file)", path); return NULL; }
    int spm = !strcmp(model, "llama");
    if (!spm && strcmp(model, "gpt2") != 0) {
        iris_set_error("%s: tokenizer model \"%s\" is not supported (llama or gpt2)", path, model);
        goto fail;
    }
    const iris_gguf_kv *tokens = iris_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GGUF_ARRAY || tokens->v.arr.type != GGUF_STRING ||
        tokens->v.arr.n == 0 || tokens->v.arr.n > (1u << 24)) {
        iris_set_error("%s: tokenizer.ggml.tokens missing, empty or not a string array", path);
        goto fail;
    }
    int n = (int)tokens->v.arr.n;
    const iris_gguf_kv *types = iris_gguf_find(g, "tokenizer.ggml.token_type");
    const iris_gguf_kv *scores = iris_gguf_find(g, "tokenizer.ggml.scores");
    if (types && (types->type != GGUF_ARRAY || types->v.arr.n != (uint64_t)n)) {
        iris_set_error("%s: tokenizer.ggml.token_type does not have one entry per token", path);
        goto fail;
    }
    if (scores && (scores->type != GGUF_ARRAY || scores->v.arr.n != (uint64_t)n)) {
        iris_set_error("%s: tokenizer.ggml.scores does not have one entry per token", path);
        goto fail;
    }
    if (!(t = tok_alloc(path, n))) goto fail;
    t->kind = spm ? TOK_SPM : TOK_BYTE_LEVEL;
    for (int i = 0; i < n; i++) {
        const iris_gguf_str *s = &tokens->v.arr.strs[i];
        if (tok_str_map_get(&t->vocab, s->ptr, (size_t)s->len) >= 0) {
            /* duplicate text: the first id keeps the lookup, this one only decodes */
            char *p = malloc((size_t)s->len + 1);
            if (!p) { iris_set_error("%s: out of memory", path); goto fail; }
            memcpy(p, s->ptr, (size_t)s->len); p[s->len] = 0;
            t->piece[i] = p; t->piece_len[i] = (uint32_t)s->len;
        } else if (tok_set_piece(t, i, s->ptr, (size_t)s->len)) goto fail;
        int ty = elem_int(types, (uint64_t)i, GT_NORMAL);
        if (ty == GT_BYTE) t->attr[i] |= TOKA_BYTE;
        if (ty == GT_UNUSED) t->attr[i] |= TOKA_UNUSED;
        if (ty == GT_UNKNOWN) t->attr[i] |= TOKA_UNKNOWN;
    }
    for (int i = 0; i < n; i++) {
        int ty = elem_int(types, (uint64_t)i, GT_NORMAL);
        if ((ty == GT_CONTROL || ty == GT_UNKNOWN || ty == GT_USER) &&
            tok_add_added(t, i, ty != GT_USER, 0, 0))
            goto fail;
    }
    t->bos = id_key(t, g, "tokenizer.ggml.bos_token_id");
    t->eos = id_key(t, g, "tokenizer.ggml.eos_token_id");
    t->unk = id_key(t, g, "tokenizer.ggml.unknown_token_id");
    t->add_bos = (int)iris_gguf_get_int(g, "tokenizer.ggml.add_bos_token", spm ? 1 : 0) != 0;
    tok_add_eog(t, id_key(t, g, "tokenizer.ggml.eot_token_id"));
    tok_add_eog(t, id_key(t, g, "tokenizer.ggml.eom_token_id"));

    if (spm) {
        if (!(score = calloc((size_t)n, sizeof *score))) { iris_set_error("%s: out of memory", path); goto fail; }
        for (int i = 0; i < n; i++) score[i] = elem_float(scores, (uint64_t)i);
        if (spm_merges(t, score)) goto fail;
        t->byte_fallback = 1;
        int prefix = (int)iris_gguf_get_int(g, "tokenizer.ggml.add_space_prefix", 1) != 0;
        if (prefix && add_norm(t, NORM_PREPEND, " ", NULL)) goto fail;
        if (add_norm(t, NORM_REPLACE, " ", "\xe2\x96\x81")) goto fail;
        t->strip_leading_space = prefix;
    } else {
        if (bpe_merges(t, iris_gguf_find(g, "tokenizer.ggml.merges"))) goto fail;
        pre = iris_gguf_get_str(g, "tokenizer.ggml.pre");
        if (set_pre(t, pre)) goto fail;
    }
    if (tok_finish(t)) goto fail;
    free(model); free(pre); free(score);
    return t;
fail:
    free(model); free(pre); free(score);
    iris_tokenizer_free(t);
    return NULL;
}

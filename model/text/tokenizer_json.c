/* tokenizer_json.c — loads a Hugging Face tokenizer.json (model type BPE)
 * into the shared tokenizer: vocab, ranked merges, byte_fallback,
 * ignore_merges, unk_token, added_tokens, the normalizer and pre-tokenizer
 * chains, BOS from the post-processor and, from a tokenizer_config.json
 * beside it, the BOS/EOS names.  Anything iris cannot reproduce exactly
 * (other model types, unknown normalizers or pre-tokenizers) is refused with
 * a message instead of tokenizing differently. */
#include "tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

static char *read_file(const char *path, size_t *len, int quiet)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (!quiet) iris_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    while (p) {
        size_t got = fread(p + n, 1, cap - n - 1, f);
        n += got;
        if (n < cap - 1) break;
        cap *= 2;
        char *q = realloc(p, cap);
        if (!q) { free(p); p = NULL; break; }
        p = q;
    }
    int bad = ferror(f);
    fclose(f);
    if (!p) { iris_set_error("%s: out of memory", path); return NULL; }
    if (bad) { free(p); iris_set_error("%s: read error", path); return NULL; }
    p[n] = 0;
    *len = n;
    return p;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jbool(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

/* ---- normalizers */
static int add_norm(iris_tokenizer *t, tok_norm_step st)
{
    tok_norm_step *n = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *n);
    if (!n) { free(st.a); free(st.b); iris_set_error("%s: out of memory", t->source); return -1; }
    t->norm = n;
    t->norm[t->n_norm++] = st;
    return 0;
}

static char *dup_or_oom(const iris_tokenizer *t, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) iris_set_error("%s: out of memory", t->source);
    return d;
}

static int load_normalizer(iris_tokenizer *t, const cJSON *n)
{
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) { iris_set_error("%s: normalizer without a type", t->source); return -1; }
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *e;
        cJSON_ArrayForEach(e, arr) if (load_normalizer(t, e)) return -1;
        return 0;
    }
    tok_norm_step st = {0};
    if (!strcmp(type, "Prepend")) {
        st.kind = NORM_PREPEND;
        if (!(st.a = dup_or_oom(t, jstr(n, "prepend")))) return -1;
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *s = jstr(pat, "String"), *re = jstr(pat, "Regex");
        st.kind = NORM_REPLACE;
        if (!s && !re) { iris_set_error("%s: Replace normalizer without a pattern", t->source); return -1; }
        if (!(st.a = dup_or_oom(t, s ? s : re)) || !(st.b = dup_or_oom(t, jstr(n, "content")))) {
            free(st.a); return -1;
        }
        if (re && !(st.re = tok_regex_compile(t->source, re, strlen(re), 0))) {
            free(st.a); free(st.b); return -1;
        }
    } else if (!strcmp(type, "NFC")) st.kind = NORM_NFC;
    else if (!strcmp(type, "NFKC")) st.kind = NORM_NFKC;
    else if (!strcmp(type, "NFD")) st.kind = NORM_NFD;
    else if (!strcmp(type, "NFKD")) st.kind = NORM_NFKD;
    else if (!strcmp(type, "Lowercase")) st.kind = NORM_LOWERCASE;
    else if (!strcmp(type, "Strip")) {
        st.kind = NORM_STRIP;
        st.left = jbool(n, "strip_left", 1);
        st.right = jbool(n, "strip_right", 1);
    } else {
        iris_set_error("%s: normalizer type %s is not supported", t->source, type);
        return -1;
    }
    return add_norm(t, st);
}

/* ---- pre-tokenizers */
static int add_pre(iris_tokenizer *t, tok_pre_step st)
{
    tok_pre_step *p = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *p);
    if (!p) {
        if (st.re) tok_regex_free(st.re);
        free(st.replacement);
        iris_set_error("%s: out of memory", t->source);
        return -1;
    }
    t->pre = p;
    t->pre[t->n_pre++] = st;
    return 0;
}

static int add_split(iris_tokenizer *t, const char *pattern, int literal,
                     enum tok_split_behavior b, int invert)
{
    tok_pre_step st = {.kind = PRE_SPLIT, .behavior = b, .invert = invert};
    if (!(st.re = tok_regex_compile(t->source, pattern, strlen(pattern), literal))) return -1;
    return add_pre(t, st);
}

static int parse_behavior(const iris_tokenizer *t, const char *s, enum tok_split_behavior *b)
{
    if (!s || !strcmp(s, "Isolated")) *b = SPLIT_ISOLATED;
    else if (!strcmp(s, "Removed")) *b = SPLIT_REMOVED;
    else if (!strcmp(s, "MergedWithPrevious")) *b = SPLIT_MERGED_PREV;
    else if (!strcmp(s, "MergedWithNext")) *b = SPLIT_MERGED_NEXT;
    else if (!strcmp(s, "Contiguous")) *b = SPLIT_CONTIGUOUS;
    else { iris_set_error("%s: split behavior %s is not supported", t->source, s); return -1; }
    return 0;
}

static int load_pre(iris_tokenizer *t, const cJSON *p)
{
    if (!p || cJSON_IsNull(p)) return 0;
    const char *type = jstr(p, "type");
    if (!type) { iris_set_error("%s: pre_tokenizer without a type", t->source); return -1; }
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *e;
        cJSON_ArrayForEach(e, arr) if (load_pre(t, e)) return -1;
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        t->kind = TOK_BYTE_LEVEL;
        if (jbool(p, "add_prefix_space", 0)) {
            tok_pre_step st = {.kind = PRE_BYTE_LEVEL_PREFIX};
            if (add_pre(t, st)) return -1;
        }
        if (jbool(p, "use_regex", 1)) return add_split(t, TOK_RE_GPT2, 0, SPLIT_ISOLATED, 0);
        return 0;
    }
    if (!strcmp(type, "Metaspace")) {
        tok_pre_step st = {.kind = PRE_METASPACE, .split = jbool(p, "split", 1)};
        const char *scheme = jstr(p, "prepend_scheme");
        if (scheme) st.prepend = !strcmp(scheme, "first") ? PREPEND_FIRST
                               : !strcmp(scheme, "never") ? PREPEND_NEVER : PREPEND_ALWAYS;
        else st.prepend = jbool(p, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
        const char *rep = jstr(p, "replacement");
        if (!(st.replacement = dup_or_oom(t, rep ? rep : "\xe2\x96\x81"))) return -1;
        if (!st.replacement[0]) { free(st.replacement); iris_set_error("%s: empty Metaspace replacement", t->source); return -1; }
        return add_pre(t, st);
    }
    if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const char *s = jstr(pat, "String"), *re = jstr(pat, "Regex");
        enum tok_split_behavior b;
        if (!s && !re) { iris_set_error("%s: Split pre-tokenizer without a pattern", t->source); return -1; }
        if (parse_behavior(t, jstr(p, "behavior"), &b)) return -1;
        return add_split(t, s ? s : re, s != NULL, b, jbool(p, "invert", 0));
    }
    if (!strcmp(type, "Digits"))
        return jbool(p, "individual_digits", 0) ? add_split(t, "[0-9]", 0, SPLIT_ISOLATED, 0)
                                                : add_split(t, "[0-9]+", 0, SPLIT_ISOLATED, 0);
    if (!strcmp(type, "Punctuation")) {
        enum tok_split_behavior b;
        if (parse_behavior(t, jstr(p, "behavior"), &b)) return -1;
        return add_split(t, "[\\p{P}!-/:-@\\[-`{-~]", 0, b, 0);
    }
    if (!strcmp(type, "WhitespaceSplit")) return add_split(t, "\\s+", 0, SPLIT_REMOVED, 0);
    if (!strcmp(type, "Whitespace"))     /* \w as Rust's regex spells it: marks and ZWJ included */
        return add_split(t, "[\\p{L}\\p{Nl}\\p{Nd}\\p{M}\\p{Pc}\\x{200c}\\x{200d}]+"
                            "|[^\\p{L}\\p{Nl}\\p{Nd}\\p{M}\\p{Pc}\\x{200c}\\x{200d}\\s]+", 0, SPLIT_REMOVED, 1);
    iris_set_error("%s: pre_tokenizer type %s is not supported", t->source, type);
    return -1;
}

/* ---- decoder: only what matters for detokenising (byte-level, leading space) */
static void scan_decoder(iris_tokenizer *t, const cJSON *d)
{
    const char *type = d ? jstr(d, "type") : NULL;
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "decoders")) scan_decoder(t, e);
    } else if (!strcmp(type, "ByteLevel")) {
        t->kind = TOK_BYTE_LEVEL;
    } else if (!strcmp(type, "Strip")) {
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(d, "start");
        const char *content = jstr(d, "content");
        if (cJSON_IsNumber(start) && start->valueint > 0 && content && !strcmp(content, " "))
            t->strip_leading_space = 1;
    } else if (!strcmp(type, "Metaspace")) {
        const char *scheme = jstr(d, "prepend_scheme");
        if (scheme ? strcmp(scheme, "never") != 0 : jbool(d, "add_prefix_space", 1))
            t->strip_leading_space = 1;
    }
}

/* ---- post-processor: BOS */
static void scan_post(iris_tokenizer *t, const cJSON *p)
{
    const char *type = p ? jstr(p, "type") : NULL;
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "processors")) scan_post(t, e);
    } else if (!strcmp(type, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
        const cJSON *first = cJSON_GetArrayItem(single, 0);
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(first, "SpecialToken");
        const char *name = jstr(sp, "id");
        if (name) {
            int id = iris_tokenizer_find(t, name);
            if (id >= 0) { t->bos = id; t->add_bos = 1; }
        }
    } else if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(p, "cls");
        const cJSON *id = cJSON_GetArrayItem(cls, 1);
        if (cJSON_IsNumber(id) && id->valueint >= 0 && id->valueint < t->n_vocab) {
            t->bos = id->valueint; t->add_bos = 1;
        }
    }
}

/* tokenizer_config.json beside tokenizer.json names BOS / EOS and add_bos. */
static const char *config_token(const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    return jstr(v, "content");
}

static void read_config(iris_tokenizer *t, const char *json_path)
{
    const char *slash = strrchr(json_path, '/');
    size_t dir = slash ? (size_t)(slash - json_path + 1) : 0;
    char *p = malloc(dir + 32);
    if (!p) return;
    memcpy(p, json_path, dir);
    strcpy(p + dir, "tokenizer_config.json");
    size_t len;
    char *txt = read_file(p, &len, 1);
    free(p);
    if (!txt) return;
    cJSON *cfg = cJSON_ParseWithLength(txt, len);
    free(txt);
    if (!cfg) return;
    const char *eos = config_token(cfg, "eos_token"), *bos = config_token(cfg, "bos_token");
    int id;
    if (eos && (id = iris_tokenizer_find(t, eos)) >= 0) t->eos = id;
    if (bos && (id = iris_tokenizer_find(t, bos)) >= 0) t->bos = id;
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token");
    if (cJSON_IsBool(ab)) t->add_bos = cJSON_IsTrue(ab);
    cJSON_Delete(cfg);
}

static int first_found(const iris_tokenizer *t, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        int id = iris_tokenizer_find(t, names[i]);
        if (id >= 0) return id;
    }
    return -1;
}

/* ---- the model */
static int load_merges(iris_tokenizer *t, const cJSON *merges)
{
    int n = cJSON_GetArraySize(merges), rank = 0;
    if (tok_pair_map_init(&t->merges, (size_t)n) != 0) {
        iris_set_error("%s: out of memory for %d merges", t->source, n);
        return -1;
    }
    char *tmp = NULL;
    size_t tmp_cap = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (!sp) { iris_set_error("%s: merge %d (\"%.40s\") is not \"left right\"", t->source, rank, s); free(tmp); return -1; }
            a = s; al = (size_t)(sp - s); b = sp + 1; bl = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 0)) && cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            a = cJSON_GetArrayItem(m, 0)->valuestring; al = strlen(a);
            b = cJSON_GetArrayItem(m, 1)->valuestring; bl = strlen(b);
        } else {
            iris_set_error("%s: merge %d is neither a string nor a pair", t->source, rank);
            free(tmp);
            return -1;
        }
        int32_t ia = tok_str_map_get(&t->vocab, a, al), ib = tok_str_map_get(&t->vocab, b, bl);
        if (ia < 0 || ib < 0) {
            iris_set_error("%s: merge %d references unknown token \"%.*s\"", t->source, rank,
                           (int)(ia < 0 ? (al > 60 ? 60 : al) : (bl > 60 ? 60 : bl)), ia < 0 ? a : b);
            free(tmp);
            return -1;
        }
        if (tmp_cap < al + bl + 1) {
            char *q = realloc(tmp, al + bl + 1);
            if (!q) { free(tmp); iris_set_error("%s: out of memory", t->source); return -1; }
            tmp = q; tmp_cap = al + bl + 1;
        }
        memcpy(tmp, a, al); memcpy(tmp + al, b, bl);
        int32_t r = tok_str_map_get(&t->vocab, tmp, al + bl);
        if (r < 0) {
            iris_set_error("%s: merge %d produces \"%.*s\", which is not in the vocab", t->source, rank,
                           (int)(al + bl > 60 ? 60 : al + bl), tmp);
            free(tmp);
            return -1;
        }
        if (tok_pair_map_put(&t->merges, ia, ib, r, (float)rank) != 0) {
            free(tmp); iris_set_error("%s: out of memory", t->source); return -1;
        }
        rank++;
    }
    free(tmp);
    return 0;
}

static iris_tokenizer *from_doc(const char *path, const cJSON *root)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) { iris_set_error("%s: no \"model\" object", path); return NULL; }
    const char *type = jstr(model, "type");
    if (type && strcmp(type, "BPE") != 0) {
        iris_set_error("%s: model type %s is not supported (only BPE)", path, type);
        return NULL;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab)) { iris_set_error("%s: model has no \"vocab\" object", path); return NULL; }
    if (merges && !cJSON_IsArray(merges)) { iris_set_error("%s: model \"merges\" is not a list", path); return NULL; }
    const char *cs = jstr(model, "continuing_subword_prefix"), *ew = jstr(model, "end_of_word_suffix");
    if ((cs && *cs) || (ew && *ew)) {
        iris_set_error("%s: BPE with subword prefixes/suffixes is not supported", path);
        return NULL;
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), *e;

    /* vocabulary size: the largest id anywhere + 1 */
    long max_id = -1;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (1 << 24)) {
            iris_set_error("%s: vocab entry \"%.40s\" has a bad id", path, e->string ? e->string : "");
            return NULL;
        }
        if (e->valueint > max_id) max_id = e->valueint;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 24) || !jstr(e, "content")) {
            iris_set_error("%s: added_tokens entry without a valid id and content", path);
            return NULL;
        }
        if (id->valueint > max_id) max_id = id->valueint;
    }
    if (max_id < 0) { iris_set_error("%s: empty vocab", path); return NULL; }

    iris_tokenizer *t = tok_alloc(path, (int)max_id + 1);
    if (!t) return NULL;
    cJSON_ArrayForEach(e, vocab)
        if (tok_set_piece(t, e->valueint, e->string, strlen(e->string))) goto fail;
    cJSON_ArrayForEach(e, added) {
        int id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        const char *content = jstr(e, "content");
        if (!t->piece[id] && tok_set_piece(t, id, content, strlen(content))) goto fail;
        if (strcmp(t->piece[id], content) != 0) {
            iris_set_error("%s: added token %d \"%.40s\" disagrees with the vocab", path, id, content);
            goto fail;
        }
    }
    if (merges && load_merges(t, merges)) goto fail;
    if (!merges && tok_pair_map_init(&t->merges, 1)) { iris_set_error("%s: out of memory", path); goto fail; }
    t->byte_fallback = jbool(model, "byte_fallback", 0);
    t->ignore_merges = jbool(model, "ignore_merges", 0);
    t->fuse_unk = jbool(model, "fuse_unk", 0);
    const char *unk = jstr(model, "unk_token");
    if (unk) t->unk = iris_tokenizer_find(t, unk);

    cJSON_ArrayForEach(e, added) {
        int id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        if (tok_add_added(t, id, jbool(e, "special", 0), jbool(e, "lstrip", 0), jbool(e, "rstrip", 0)))
            goto fail;
    }
    if (load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"))) goto fail;
    if (load_pre(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"))) goto fail;
    scan_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"));
    scan_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
    if (t->bos < 0) {
        static const char *const b[] = {"<s>", "<bos>", "<|begin_of_text|>"};
        t->bos = first_found(t, b, 3);
    }
    static const char *const eo[] = {"</s>", "<eos>", "<|endoftext|>", "<|end_of_text|>", "<|im_end|>"};
    t->eos = first_found(t, eo, 5);
    read_config(t, path);
    if (tok_finish(t)) goto fail;
    return t;
fail:
    iris_tokenizer_free(t);
    return NULL;
}

iris_tokenizer *tok_from_json_text(const char *path, const char *txt, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(txt, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= txt && at <= txt + len ? (long)(at - txt) : -1;
        iris_set_error("%s: not valid JSON (near byte %ld)", path, off);
        return NULL;
    }
    iris_tokenizer *t = NULL;
    if (!cJSON_IsObject(root)) iris_set_error("%s: not a JSON object", path);
    else t = from_doc(path, root);
    cJSON_Delete(root);
    return t;
}

iris_tokenizer *iris_tokenizer_from_json(const char *path)
{
    size_t len;
    char *txt = read_file(path, &len, 0);
    if (!txt) return NULL;
    iris_tokenizer *t = tok_from_json_text(path, txt, len);
    free(txt);
    return t;
}

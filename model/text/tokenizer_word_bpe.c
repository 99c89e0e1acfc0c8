/* tokenizer_word_bpe.c — loads BioGPT's tokenizer (BioGptTokenizer: no
 * tokenizer.json, a vocab.json of token -> id and a merges.txt of ranked
 * pairs) and runs its encode path: Moses tokens (moses.h), each through the
 * word BPE (word_bpe.c).
 *
 * As transformers reads the files: merges.txt is cut at "\n" and its last
 * piece dropped (the empty one after the final newline), each line's first
 * two whitespace-separated fields are the pair, its line number the rank (a
 * pair listed twice keeps its later rank).  "<s>", "<pad>", "</s>", "<unk>"
 * are special; a sequence starts with "</s>" (its separator), which is also
 * the end of a generation. */
#include "word_bpe.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file_util.h"
#include "moses.h"

static int emit_token(void *ctx, const char *s, size_t len);

typedef struct {
    const iris_tokenizer *t;
    tok_id_fn fn;
    void *ctx;
} seg_ctx;

static int emit_token(void *ctx, const char *s, size_t len)
{
    seg_ctx *c = ctx;
    return tok_word_bpe_encode(c->t, s, len, c->fn, c->ctx);
}

int tok_word_bpe_segment(const iris_tokenizer *t, const char *text, size_t len, tok_id_fn fn, void *ctx)
{
    seg_ctx c = {t, fn, ctx};
    return tok_moses_tokenize(t->moses, text, len, emit_token, &c);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Whether the directory says its tokenizer is BioGPT's (tokenizer_config's
 * tokenizer_class, or config.json's model_type). */
static int says_biogpt(const char *dir)
{
    static const char *const files[] = {"tokenizer_config.json", "config.json"};
    static const char *const keys[] = {"tokenizer_class", "model_type"};
    static const char *const want[] = {"BioGptTokenizer", "biogpt"};
    for (int i = 0; i < 2; i++) {
        char *p = join(dir, files[i]);
        size_t n = 0;
        char *text = p ? iris_read_file(p, &n, (size_t)1 << 24) : NULL;
        free(p);
        cJSON *o = text ? cJSON_ParseWithLength(text, n) : NULL;
        free(text);
        const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, keys[i]) : NULL;
        int yes = cJSON_IsString(v) && !strcmp(v->valuestring, want[i]);
        cJSON_Delete(o);
        if (yes) return 1;
    }
    return 0;
}

static int load_vocab(iris_tokenizer **out, const char *path)
{
    size_t n = 0;
    char *text = iris_read_file(path, &n, (size_t)1 << 30);
    if (!text) {
        iris_set_error("%s: cannot read the vocabulary (vocab.json)", path);
        return -1;
    }
    cJSON *o = cJSON_ParseWithLength(text, n);
    free(text);
    if (!cJSON_IsObject(o) || !o->child) {
        iris_set_error("%s: malformed vocab.json (expected a non-empty JSON object of token -> id)", path);
        cJSON_Delete(o);
        return -1;
    }
    int count = cJSON_GetArraySize(o);
    iris_tokenizer *t = tok_alloc(path, count);
    if (!t) { cJSON_Delete(o); return -1; }
    for (const cJSON *e = o->child; e; e = e->next) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        int id = (int)v;
        if (!(v >= 0 && v < count) || (double)id != v) {
            iris_set_error("%s: malformed vocab.json: token '%.40s' has id %s (ids must be the integers 0..%d)",
                           path, e->string, cJSON_IsNumber(e) ? "out of range" : "that is not a number", count - 1);
            goto fail;
        }
        if (t->piece[id]) {
            iris_set_error("%s: malformed vocab.json: id %d is given to two tokens", path, id);
            goto fail;
        }
        if (!*e->string) {
            iris_set_error("%s: malformed vocab.json: an empty token", path);
            goto fail;
        }
        if (tok_set_piece(t, id, e->string, strlen(e->string))) goto fail;
    }
    cJSON_Delete(o);
    *out = t;
    return 0;
fail:
    cJSON_Delete(o);
    iris_tokenizer_free(t);
    return -1;
}

/* Fills t->bpe_ranks from merges.txt (see the comment at the top). */
static int load_merges(iris_tokenizer *t, const char *path)
{
    size_t n = 0;
    char *text = iris_read_file(path, &n, (size_t)1 << 30);
    if (!text) {
        iris_set_error("%s: cannot read the BPE merges (merges.txt)", path);
        return -1;
    }
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
    /* keys "first second\0" packed; at most the file's size plus a NUL per line */
    t->bpe_keys = malloc(n + lines + 1);
    if (!t->bpe_keys || tok_str_map_init(&t->bpe_ranks, lines + 1)) goto oom;
    /* line starts, so that ranks can be inserted last line first (later wins) */
    size_t *start = malloc((lines + 1) * sizeof *start);
    if (!start) goto oom;
    start[0] = 0;
    for (size_t i = 0, k = 1; i < n; i++)
        if (text[i] == '\n') start[k++] = i + 1;
    char *keys = t->bpe_keys;
    for (size_t r = lines; r-- > 0; ) {
        const char *p = text + start[r], *end = text + start[r + 1] - 1;   /* the '\n' */
        const char *f[2];
        size_t fl[2];
        int nf = 0;
        while (p < end && nf < 2) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' || *p == '\f')) p++;
            if (p >= end) break;
            f[nf] = p;
            while (p < end && !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' || *p == '\f')) p++;
            fl[nf] = (size_t)(p - f[nf]);
            nf++;
        }
        if (nf < 2) continue;   /* a blank or one-field line still takes a rank */
        memcpy(keys, f[0], fl[0]);
        keys[fl[0]] = ' ';
        memcpy(keys + fl[0] + 1, f[1], fl[1]);
        keys[fl[0] + 1 + fl[1]] = 0;
        if (tok_str_map_get(&t->bpe_ranks, keys, fl[0] + 1 + fl[1]) < 0 &&
            tok_str_map_put(&t->bpe_ranks, keys, fl[0] + 1 + fl[1], (int32_t)r)) {
            free(start);
            goto oom;
        }
        keys += fl[0] + fl[1] + 2;
    }
    free(start);
    free(text);
    return 0;
oom:
    free(text);
    iris_set_error("%s: out of memory", path);
    return -1;
}

iris_tokenizer *iris_tokenizer_from_word_bpe(const char *dir)
{
    char *vp = join(dir, "vocab.json"), *mp = join(dir, "merges.txt");
    iris_tokenizer *t = NULL;
    if (!vp || !mp) { iris_set_error("%s: out of memory", dir); goto fail; }
    if (!says_biogpt(dir)) {
        iris_set_error("%s: no tokenizer.json, and vocab.json + merges.txt are read only for BioGPT "
                       "(tokenizer_class BioGptTokenizer or model_type biogpt)", dir);
        goto fail;
    }
    FILE *f = fopen(mp, "rb");
    if (!f) {
        iris_set_error("%s: BioGPT tokenizer without merges.txt", dir);
        goto fail;
    }
    fclose(f);
    if (load_vocab(&t, vp)) goto fail;
    t->kind = TOK_WORD_BPE;
    if (load_merges(t, mp)) goto fail;
    if (!(t->moses = tok_moses_new(vp))) goto fail;
    static const char *const specials[] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 4; i++) {
        int id = iris_tokenizer_find(t, specials[i]);
        if (id < 0) continue;
        t->attr[id] |= TOKA_SPECIAL;
        if (tok_add_added(t, id, 1, 0, 0)) goto fail;
    }
    t->unk = iris_tokenizer_find(t, "<unk>");
    t->bos = t->eos = iris_tokenizer_find(t, "</s>");
    t->add_bos = t->bos >= 0;
    if (tok_finish(t)) goto fail;
    free(vp); free(mp);
    return t;
fail:
    iris_tokenizer_free(t);
    free(vp); free(mp);
    return NULL;
}

/* tokenizer_build.c — a byte-level BPE tokenizer.json from a word corpus
 * (see tokenizer_build.h for the id layout and the merge rule). */
#include "tokenizer_build.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer_internal.h"

typedef struct {
    char *s;      /* raw bytes of the word */
    int count;
} word;

typedef struct {
    word *w;
    int n, cap;
} word_list;

/* Token strings already in the vocabulary (byte-level code points, UTF-8). */
typedef struct {
    char **s;
    int n, cap;
} str_list;

static int find_str(const str_list *l, const char *s)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->s[i], s)) return i;
    return -1;
}

static int push_str(str_list *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 512;
        char **ns = realloc(l->s, (size_t)cap * sizeof *ns);
        if (!ns) return -1;
        l->s = ns;
        l->cap = cap;
    }
    if (!(l->s[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static int add_word(word_list *l, const char *s, size_t len)
{
    for (int i = 0; i < l->n; i++)
        if (strlen(l->w[i].s) == len && !memcmp(l->w[i].s, s, len)) {
            l->w[i].count++;
            return 0;
        }
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        word *nw = realloc(l->w, (size_t)cap * sizeof *nw);
        if (!nw) return -1;
        l->w = nw;
        l->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    l->w[l->n].s = c;
    l->w[l->n++].count = 1;
    return 0;
}

/* 0: space, 1: letter, 2: digit, 3: other symbol (bytes >= 0x80 count as letters,
 * which keeps UTF-8 sequences whole, as \p{L} mostly does). */
static int cls(unsigned char c)
{
    if (isspace(c)) return 0;
    if (isalpha(c) || c >= 0x80) return 1;
    if (isdigit(c)) return 2;
    return 3;
}

/* Cuts text the way the GPT-2 pre-tokenizer does, for the ASCII the corpus
 * holds: " ?letters", " ?digits", " ?symbols", runs of spaces. */
static int split_words(word_list *l, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), i = 0;
    while (i < n) {
        size_t st = i;
        if (s[i] == ' ' && i + 1 < n && cls(s[i + 1]) != 0) i++;
        int c = cls(s[i]);
        if (c != 0) {
            while (i < n && cls(s[i]) == c) i++;
        } else {
            size_t j = i;
            while (j < n && cls(s[j]) == 0) j++;
            /* the last space of a run goes with the word after it */
            if (j < n && j - i > 1 && s[j - 1] == ' ') j--;
            i = j;
        }
        if (add_word(l, text + st, i - st)) return -1;
    }
    return 0;
}

static int by_count(const void *a, const void *b)
{
    const word *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    return strcmp(x->s, y->s);
}

static void byte_sym(unsigned char b, char out[8])
{
    int n = tok_utf8_encode((uint32_t)tok_byte_to_cp(b), out);
    out[n] = 0;
}

static cJSON *special_json(int id, const char *content)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "content", content);
    cJSON_AddBoolToObject(o, "single_word", 0);
    cJSON_AddBoolToObject(o, "lstrip", 0);
    cJSON_AddBoolToObject(o, "rstrip", 0);
    cJSON_AddBoolToObject(o, "normalized", 0);
    cJSON_AddBoolToObject(o, "special", 1);
    return o;
}

static cJSON *byte_level(int decoder)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", decoder);
    cJSON_AddBoolToObject(o, "trim_offsets", 1);
    cJSON_AddBoolToObject(o, "use_regex", 1);
    return o;
}

/* "<s> $A" for single sequences, "<s> $A <s> $B" for pairs (as LLaMA's fast tokenizer). */
static cJSON *bos_template(const char *bos, int bos_id)
{
    cJSON *pp = cJSON_CreateObject();
    if (!pp) return NULL;
    cJSON_AddStringToObject(pp, "type", "TemplateProcessing");
    const char *seqs[2] = {"A", "B"};
    const char *keys[2] = {"single", "pair"};
    for (int k = 0; k < 2; k++) {
        cJSON *arr = cJSON_AddArrayToObject(pp, keys[k]);
        for (int p = 0; p <= k && arr; p++) {
            cJSON *sp = cJSON_CreateObject(), *spi = cJSON_CreateObject();
            cJSON *sq = cJSON_CreateObject(), *sqi = cJSON_CreateObject();
            if (!sp || !spi || !sq || !sqi) {
                cJSON_Delete(sp); cJSON_Delete(spi); cJSON_Delete(sq); cJSON_Delete(sqi);
                cJSON_Delete(pp);
                return NULL;
            }
            cJSON_AddStringToObject(spi, "id", bos);
            cJSON_AddNumberToObject(spi, "type_id", p);
            cJSON_AddItemToObject(sp, "SpecialToken", spi);
            cJSON_AddStringToObject(sqi, "id", seqs[p]);
            cJSON_AddNumberToObject(sqi, "type_id", p);
            cJSON_AddItemToObject(sq, "Sequence", sqi);
            cJSON_AddItemToArray(arr, sp);
            cJSON_AddItemToArray(arr, sq);
        }
    }
    cJSON *st = cJSON_AddObjectToObject(pp, "special_tokens");
    cJSON *e = cJSON_CreateObject(), *ids = cJSON_CreateArray(), *toks = cJSON_CreateArray();
    if (!st || !e || !ids || !toks) {
        cJSON_Delete(e); cJSON_Delete(ids); cJSON_Delete(toks);
        cJSON_Delete(pp);
        return NULL;
    }
    cJSON_AddStringToObject(e, "id", bos);
    cJSON_AddItemToArray(ids, cJSON_CreateNumber(bos_id));
    cJSON_AddItemToArray(toks, cJSON_CreateString(bos));
    cJSON_AddItemToObject(e, "ids", ids);
    cJSON_AddItemToObject(e, "tokens", toks);
    cJSON_AddItemToObject(st, bos, e);
    return pp;
}

char *iris_bpe_build_json(const iris_bpe_build_opts *o, int *n_vocab)
{
    word_list wl = {0};
    str_list vocab = {0};
    cJSON *root = NULL, *merges = NULL;
    char *out = NULL;
    if (!o || o->n_specials < 2 || (o->n_texts > 0 && !o->texts)) {
        iris_set_error("tokenizer: at least a BOS and an EOS token are needed");
        return NULL;
    }
    for (int i = 0; i < o->n_specials; i++) {
        const char *sp = o->specials[i];
        if (!sp || !*sp || strlen(sp) > 64) {
            iris_set_error("tokenizer: special token %d is empty or longer than 64 bytes", i);
            goto done;
        }
        if (find_str(&vocab, sp) >= 0) {
            iris_set_error("tokenizer: special token '%s' is listed twice", sp);
            goto done;
        }
        if (push_str(&vocab, sp)) goto oom;
    }
    for (int b = 0; b < 256; b++) {
        char sym[8];
        byte_sym((unsigned char)b, sym);
        if (push_str(&vocab, sym)) goto oom;
    }
    for (int i = 0; i < o->n_texts; i++)
        if (o->texts[i] && split_words(&wl, o->texts[i])) goto oom;
    if (wl.n) qsort(wl.w, (size_t)wl.n, sizeof *wl.w, by_count);

    root = cJSON_CreateObject();
    merges = cJSON_CreateArray();
    if (!root || !merges) goto oom;
    for (int i = 0; i < wl.n; i++) {
        const unsigned char *s = (const unsigned char *)wl.w[i].s;
        size_t len = strlen(wl.w[i].s);
        if (len < 2) continue;
        /* every merge of a chain adds one token; skip words that would not fit */
        int need = 0;
        char prefix[1024], sym[8];
        if (len * 4 + 1 > sizeof prefix) continue;
        byte_sym(s[0], prefix);
        for (size_t k = 1; k < len; k++) {
            byte_sym(s[k], sym);
            strcat(prefix, sym);
            need += find_str(&vocab, prefix) < 0;
        }
        if (o->max_vocab > 0 && vocab.n + need > o->max_vocab) continue;
        byte_sym(s[0], prefix);
        for (size_t k = 1; k < len; k++) {
            byte_sym(s[k], sym);
            char pair[1100];
            snprintf(pair, sizeof pair, "%s %s", prefix, sym);
            strcat(prefix, sym);
            if (find_str(&vocab, prefix) >= 0) continue;
            if (push_str(&vocab, prefix)) goto oom;
            cJSON *m = cJSON_CreateString(pair);
            if (!m) goto oom;
            cJSON_AddItemToArray(merges, m);
        }
    }

    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    if (!added) goto oom;
    for (int i = 0; i < o->n_specials; i++) {
        cJSON *sp = special_json(i, o->specials[i]);
        if (!sp) goto oom;
        cJSON_AddItemToArray(added, sp);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = byte_level(0), *post = bos_template(o->specials[0], 0), *dec = byte_level(1);
    if (!pre || !post || !dec) {
        cJSON_Delete(pre); cJSON_Delete(post); cJSON_Delete(dec);
        goto oom;
    }
    cJSON_AddItemToObject(root, "pre_tokenizer", pre);
    cJSON_AddItemToObject(root, "post_processor", post);
    cJSON_AddItemToObject(root, "decoder", dec);
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    if (!model) goto oom;
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON *v = cJSON_AddObjectToObject(model, "vocab");
    if (!v) goto oom;
    for (int i = 0; i < vocab.n; i++)
        if (!cJSON_AddNumberToObject(v, vocab.s[i], i)) goto oom;
    cJSON_AddItemToObject(model, "merges", merges);
    merges = NULL;
    out = cJSON_Print(root);
    if (!out) goto oom;
    if (n_vocab) *n_vocab = vocab.n;
    goto done;
oom:
    iris_set_error("tokenizer: out of memory");
done:
    cJSON_Delete(merges);
    cJSON_Delete(root);
    for (int i = 0; i < wl.n; i++) free(wl.w[i].s);
    free(wl.w);
    for (int i = 0; i < vocab.n; i++) free(vocab.s[i]);
    free(vocab.s);
    return out;
}

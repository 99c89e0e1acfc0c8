#include "conv_format.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/strbuf.h"

#define VICUNA_SYSTEM                                                                    \
    "A chat between a curious user and an artificial intelligence assistant. The "    \
    "assistant gives helpful, detailed, and polite answers to the user's questions."

typedef struct {
    int32_t *v;
    int n, cap;
} ivec;

static int ivec_push(ivec *a, int32_t x)
{
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 256;
        int32_t *p = realloc(a->v, (size_t)cap * sizeof *p);
        if (!p) return -1;
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* Tokenizes text[0..len) (BOS first; "<image>" -> placeholder when images). */
static int encode(const iris_format_opts *o, const char *text, size_t len, int images, ivec *out)
{
    out->n = 0;
    size_t pos = 0;
    int first = 1;
    for (;;) {
        const char *hit = NULL;
        if (images) {
            hit = memmem(text + pos, len - pos, "<image>", 7);
        }
        size_t chunk = hit ? (size_t)(hit - (text + pos)) : len - pos;
        if (chunk == 0 && !first) goto next;   /* nothing to tokenize between images */
        int cap = (int)chunk + 8;
        int32_t *buf = malloc((size_t)cap * sizeof *buf);
        if (!buf) return -1;
        int k = iris_tokenize(o->tok, text + pos, chunk, first, 1, buf, cap);
        if (k > cap) {
            free(buf);
            cap = k;
            buf = malloc((size_t)cap * sizeof *buf);
            if (!buf) return -1;
            k = iris_tokenize(o->tok, text + pos, chunk, first, 1, buf, cap);
        }
        if (k < 0) {
            free(buf);
            return -1;
        }
        for (int i = 0; i < k; i++)
            if (ivec_push(out, buf[i])) {
                free(buf);
                return -1;
            }
        free(buf);
    next:
        first = 0;
        if (!hit) break;
        if (ivec_push(out, IRIS_IMAGE_PLACEHOLDER)) return -1;
        pos = (size_t)(hit - text) + 7;
    }
    return 0;
}

static const char *rec_id(const cJSON *rec, char *buf, size_t cap)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
    if (cJSON_IsString(id)) snprintf(buf, cap, " (id \"%.60s\")", id->valuestring);
    else if (cJSON_IsNumber(id)) snprintf(buf, cap, " (id %.0f)", id->valuedouble);
    else buf[0] = 0;
    return buf;
}

static int from_tokens(const cJSON *rec, const char *who, const iris_format_opts *o, iris_sample *s)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(rec, "input_ids");
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(rec, "labels");
    int n = cJSON_GetArraySize(ids);
    if (!cJSON_IsArray(ids) || n == 0 || (lab && (!cJSON_IsArray(lab) || cJSON_GetArraySize(lab) != n))) {
        iris_set_error("%s: input_ids must be a non-empty list and labels a list of the same length", who);
        return -1;
    }
    s->ids = malloc((size_t)n * sizeof(int32_t));
    s->labels = malloc((size_t)n * sizeof(int32_t));
    if (!s->ids || !s->labels) {
        iris_set_error("out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *a = cJSON_GetArrayItem(ids, i), *b = lab ? cJSON_GetArrayItem(lab, i) : a;
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valuedouble < 0 || a->valuedouble >= o->vocab) {
            iris_set_error("%s: input_ids[%d] is not a token id in [0, %d)", who, i, o->vocab);
            return -1;
        }
        s->ids[i] = (int32_t)a->valuedouble;
        s->labels[i] = b->valuedouble < 0 || b->valuedouble >= o->vocab ? -100 : (int32_t)b->valuedouble;
    }
    s->n = n;
    return 0;
}

int iris_conv_turn(const cJSON *turn, const char *who, int t, const char **value)
{
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(turn, "from");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(turn, "value");
    if (!cJSON_IsString(from) || !cJSON_IsString(val)) {
        iris_set_error("%s: turn %d needs string \"from\" and \"value\"", who, t);
        return -1;
    }
    *value = val->valuestring;
    if (!strcmp(from->valuestring, "human") || !strcmp(from->valuestring, "user")) return 1;
    if (!strcmp(from->valuestring, "gpt") || !strcmp(from->valuestring, "assistant")) return 0;
    iris_set_error("%s: turn %d has unknown role \"%.40s\" (expected human or gpt)", who, t, from->valuestring);
    return -1;
}

int iris_format_record(const cJSON *rec, int ri, const iris_format_opts *o, iris_sample *s)
{
    memset(s, 0, sizeof *s);
    char idbuf[80], who[120];
    if (!cJSON_IsObject(rec)) {
        iris_set_error("record %d: not a JSON object", ri);
        return -1;
    }
    snprintf(who, sizeof who, "record %d%s", ri, rec_id(rec, idbuf, sizeof idbuf));
    if (cJSON_GetObjectItemCaseSensitive(rec, "input_ids")) {
        if (from_tokens(rec, who, o, s)) goto fail;
        return 0;
    }
    if (!o->tok) {
        iris_set_error("%s: conversations need a tokenizer (the base model has none)", who);
        return -1;
    }
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(rec, "conversations");
    int nt = cJSON_GetArraySize(conv);
    if (!cJSON_IsArray(conv) || nt == 0) {
        iris_set_error("%s: no \"conversations\" list", who);
        return -1;
    }
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(rec, "image");
    int has_image = img && !cJSON_IsNull(img);
    if (has_image) {
        if (!cJSON_IsString(img) || !img->valuestring[0]) {
            iris_set_error("%s: \"image\" must be a file name", who);
            return -1;
        }
        size_t len = strlen(img->valuestring) + (o->image_folder ? strlen(o->image_folder) : 0) + 2;
        s->image = malloc(len);
        if (!s->image) goto oom;
        if (o->image_folder && img->valuestring[0] != '/')
            snprintf(s->image, len, "%s/%s", o->image_folder, img->valuestring);
        else snprintf(s->image, len, "%s", img->valuestring);
        if (o->check_images && access(s->image, R_OK)) {
            iris_set_error("%s: image '%s' not found", who, s->image);
            goto fail;
        }
    }
    /* Render into text with segment ends; odd segments train. */
    iris_strbuf text = {0};
    size_t seg_end[512];
    int seg_train[512], nseg = 0, answers = 0;
    const char *eos = iris_tokenizer_eos(o->tok) >= 0 ? iris_tokenizer_piece(o->tok, iris_tokenizer_eos(o->tok)) : "";
    if (!eos) eos = "";
    int rc = 0;
    if (o->tpl == IRIS_TPL_VICUNA_V1) rc |= iris_strbuf_str(&text, VICUNA_SYSTEM " ");
    for (int t = 0; t < nt && !rc; t++) {
        const char *value;
        int human = iris_conv_turn(cJSON_GetArrayItem(conv, t), who, t, &value);
        if (human < 0) goto fail_text;
        if (nseg >= 510) {
            iris_set_error("%s: too many turns", who);
            goto fail_text;
        }
        const char *v = value;
        if (human) {
            if (o->tpl == IRIS_TPL_PLAIN) {
                /* LLaVA stage 1: the human turn is reduced to the image. */
                if (has_image) rc |= iris_strbuf_str(&text, "<image>");
            } else {
                rc |= iris_strbuf_str(&text, "USER: ");
                if (has_image && t == 0 && !strstr(v, "<image>")) rc |= iris_strbuf_str(&text, "<image>\n");
                rc |= iris_strbuf_str(&text, v);
                rc |= iris_strbuf_str(&text, " ASSISTANT:");
            }
            seg_end[nseg] = text.n;
            seg_train[nseg++] = 0;
        } else {
            if (o->tpl == IRIS_TPL_PLAIN) {
                rc |= iris_strbuf_str(&text, v);
                rc |= iris_strbuf_str(&text, "\n");
            } else {
                rc |= iris_strbuf_str(&text, " ");
                rc |= iris_strbuf_str(&text, v);
                rc |= iris_strbuf_str(&text, eos);
            }
            seg_end[nseg] = text.n;
            seg_train[nseg++] = 1;
            answers++;
        }
    }
    if (rc) goto oom_text;
    if (!answers) {
        iris_set_error("%s: no assistant (\"gpt\") turn to learn from", who);
        goto fail_text;
    }
    ivec full = {0}, pre = {0};
    if (encode(o, text.s, text.n, has_image, &full)) goto oom_vec;
    s->n = full.n;
    s->ids = full.v;
    full.v = NULL;
    s->labels = malloc((size_t)s->n * sizeof(int32_t));
    if (!s->labels) goto oom_vec;
    for (int i = 0; i < s->n; i++) s->labels[i] = -100;
    int prev = 0;
    for (int k = 0; k < nseg; k++) {
        int cnt = s->n;
        if (k + 1 < nseg || seg_end[k] != text.n) {
            if (encode(o, text.s, seg_end[k], has_image, &pre)) goto oom_vec;
            cnt = pre.n < s->n ? pre.n : s->n;
        }
        if (seg_train[k])
            for (int i = prev; i < cnt; i++) s->labels[i] = s->ids[i] == IRIS_IMAGE_PLACEHOLDER ? -100 : s->ids[i];
        prev = cnt;
    }
    for (int i = 0; i < s->n; i++) s->n_images += s->ids[i] == IRIS_IMAGE_PLACEHOLDER;
    free(pre.v);
    free(text.s);
    if (has_image && s->n_images != 1) {
        iris_set_error("%s: expected one <image> in the conversation, found %d", who, s->n_images);
        goto fail;
    }
    return 0;
oom_vec:
    free(full.v);
    free(pre.v);
oom_text:
    free(text.s);
oom:
    iris_set_error("out of memory formatting %s", who);
    goto fail;
fail_text:
    free(text.s);
fail:
    iris_sample_free(s);
    return -1;
}

void iris_sample_free(iris_sample *s)
{
    free(s->ids);
    free(s->labels);
    free(s->image);
    memset(s, 0, sizeof *s);
}

int iris_sample_counted(const iris_sample *s)
{
    int c = 0;
    for (int i = 1; i < s->n; i++) c += s->labels[i] >= 0;
    return c;
}

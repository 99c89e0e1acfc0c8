/* flamingo_format.c — see flamingo_format.h. */
#include "flamingo_format.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "train/conv_format.h"

/* Tokenizes text[0..len) with special tokens; *out malloc'd. */
static int encode(const iris_tokenizer *tok, const char *text, size_t len, int32_t **out, int *n)
{
    int cap = (int)len + 8;
    int32_t *buf = malloc((size_t)cap * sizeof *buf);
    if (!buf) return -1;
    int k = iris_tokenize(tok, text, len, 1, 1, buf, cap);
    if (k > cap) {
        free(buf);
        cap = k;
        if (!(buf = malloc((size_t)cap * sizeof *buf))) return -1;
        k = iris_tokenize(tok, text, len, 1, 1, buf, cap);
    }
    if (k < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *n = k;
    return 0;
}

static int add_image(iris_flamingo_sample *s, const char *name, const char *folder, const char *who)
{
    if (!name[0]) {
        iris_set_error("%s: \"image\" must be a file name or a list of file names", who);
        return -1;
    }
    size_t len = strlen(name) + (folder ? strlen(folder) : 0) + 2;
    char *p = malloc(len), **grown = realloc(s->images, (size_t)(s->n_images + 1) * sizeof *grown);
    if (grown) s->images = grown;
    if (!p || !grown) {
        free(p);
        iris_set_error("out of memory");
        return -1;
    }
    if (folder && name[0] != '/') snprintf(p, len, "%s/%s", folder, name);
    else snprintf(p, len, "%s", name);
    s->images[s->n_images++] = p;
    if (access(p, R_OK)) {
        iris_set_error("%s: image '%s' not found", who, p);
        return -1;
    }
    return 0;
}

/* Appends v without its "<image>" markers (and the newline after each);
 * returns how many it held, or -1. */
static int strip_images(iris_strbuf *q, const char *v)
{
    int k = 0;
    for (;;) {
        const char *hit = strstr(v, "<image>");
        size_t len = hit ? (size_t)(hit - v) : strlen(v);
        if (iris_strbuf_add(q, v, len)) return -1;
        if (!hit) return k;
        k++;
        v = hit + 7;
        if (*v == '\n') v++;
    }
}

static void trim(iris_strbuf *q)
{
    size_t a = 0;
    while (a < q->n && (q->s[a] == ' ' || q->s[a] == '\n')) a++;
    while (q->n > a && (q->s[q->n - 1] == ' ' || q->s[q->n - 1] == '\n')) q->n--;
    memmove(q->s, q->s + a, q->n - a);
    q->n -= a;
    q->s[q->n] = 0;
}

int iris_flamingo_format_record(const cJSON *rec, int ri, const iris_tokenizer *tok, int media_token,
                                const char *image_folder, iris_flamingo_sample *s)
{
    memset(s, 0, sizeof *s);
    char who[120];
    const cJSON *id = cJSON_IsObject(rec) ? cJSON_GetObjectItemCaseSensitive(rec, "id") : NULL;
    if (cJSON_IsString(id)) snprintf(who, sizeof who, "record %d (id \"%.60s\")", ri, id->valuestring);
    else snprintf(who, sizeof who, "record %d", ri);
    if (!cJSON_IsObject(rec)) {
        iris_set_error("%s: not a JSON object", who);
        return -1;
    }
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(rec, "image");
    if (cJSON_IsString(img)) {
        if (add_image(s, img->valuestring, image_folder, who)) goto fail;
    } else if (cJSON_IsArray(img)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, img)
        {
            if (!cJSON_IsString(e)) {
                iris_set_error("%s: \"image\" must be a file name or a list of file names", who);
                goto fail;
            }
            if (add_image(s, e->valuestring, image_folder, who)) goto fail;
        }
    } else if (img && !cJSON_IsNull(img)) {
        iris_set_error("%s: \"image\" must be a file name or a list of file names", who);
        goto fail;
    }
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(rec, "conversations");
    int nt = cJSON_GetArraySize(conv);
    if (!cJSON_IsArray(conv) || nt == 0) {
        iris_set_error("%s: no \"conversations\" list", who);
        goto fail;
    }
    /* How many <image> the human turns name in all. */
    int named = 0;
    for (int t = 0; t < nt; t++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(conv, t), "value");
        for (const char *p = cJSON_IsString(v) ? v->valuestring : ""; (p = strstr(p, "<image>")); p += 7) named++;
    }
    if (named && named != s->n_images) {
        iris_set_error("%s: the conversation names %d <image> for %d image files", who, named, s->n_images);
        goto fail;
    }
    iris_strbuf text = {0}, q = {0};
    size_t seg_end[512];
    int seg_train[512], nseg = 0, pending_images = named ? 0 : s->n_images, have_q = 0, rc = 0;
    for (int t = 0; t < nt && !rc; t++) {
        const char *value;
        int human = iris_conv_turn(cJSON_GetArrayItem(conv, t), who, t, &value);
        if (human < 0) goto fail_text;
        if (nseg >= 510) {
            iris_set_error("%s: too many turns", who);
            goto fail_text;
        }
        if (human) {
            if (have_q) {
                iris_set_error("%s: turn %d: two human turns in a row", who, t);
                goto fail_text;
            }
            q.n = 0;
            rc |= iris_strbuf_str(&q, "");
            int k = strip_images(&q, value);
            if (k < 0) break;
            pending_images += k;
            trim(&q);
            have_q = 1;
            continue;
        }
        for (; pending_images > 0; pending_images--) rc |= iris_strbuf_str(&text, "<image>");
        if (have_q && q.n) {
            rc |= iris_strbuf_str(&text, "Question:");
            rc |= iris_strbuf_str(&text, q.s);
            rc |= iris_strbuf_str(&text, " Short answer:");
        }
        have_q = 0;
        seg_end[nseg] = text.n;
        seg_train[nseg++] = 0;
        rc |= iris_strbuf_str(&text, value);
        rc |= iris_strbuf_str(&text, "<|endofchunk|>");
        seg_end[nseg] = text.n;
        seg_train[nseg++] = 1;
    }
    free(q.s);
    q.s = NULL;
    if (rc) {
        iris_set_error("out of memory formatting %s", who);
        goto fail_text;
    }
    if (!nseg) {
        iris_set_error("%s: no assistant (\"gpt\") turn to learn from", who);
        goto fail_text;
    }
    if (pending_images) {
        iris_set_error("%s: an <image> after the last answer", who);
        goto fail_text;
    }
    if (encode(tok, text.s, text.n, &s->ids, &s->n) || !(s->labels = malloc((size_t)s->n * sizeof(int32_t)))) {
        iris_set_error("out of memory formatting %s", who);
        goto fail_text;
    }
    for (int i = 0; i < s->n; i++) s->labels[i] = -100;
    int prev = 0;
    for (int k = 0; k < nseg; k++) {
        int cnt = s->n;
        if (seg_end[k] != text.n) {
            int32_t *pre;
            int pn;
            if (encode(tok, text.s, seg_end[k], &pre, &pn)) {
                iris_set_error("out of memory formatting %s", who);
                goto fail_text;
            }
            free(pre);
            cnt = pn < s->n ? pn : s->n;
        }
        if (seg_train[k])
            for (int i = prev; i < cnt; i++) s->labels[i] = s->ids[i] == media_token ? -100 : s->ids[i];
        prev = cnt;
    }
    int media = 0;
    for (int i = 0; i < s->n; i++) media += s->ids[i] == media_token;
    free(text.s);
    if (media != s->n_images) {
        iris_set_error("%s: %d <image> tokens for %d images (does the text hold \"<image>\" itself?)", who, media,
                       s->n_images);
        goto fail;
    }
    return 0;
fail_text:
    free(q.s);
    free(text.s);
fail:
    iris_flamingo_sample_free(s);
    return -1;
}

void iris_flamingo_sample_free(iris_flamingo_sample *s)
{
    for (int i = 0; i < s->n_images; i++) free(s->images[i]);
    free(s->images);
    free(s->ids);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

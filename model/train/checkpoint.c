#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/safetensors.h"

int iris_ckpt_save(const char *path, const iris_param_set *s, const iris_train_state *st)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) n += s->p[i].g ? 3 : 0;
    char **names = calloc((size_t)n + 1, sizeof *names);
    iris_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    int rc = -1, k = 0;
    char *meta = NULL;
    if (!names || !ts) goto oom;
    for (int i = 0; i < s->n; i++) {
        const iris_param *p = &s->p[i];
        if (!p->g) continue;
        const float *src[3] = {p->w, p->m, p->v};
        const char *suffix[3] = {"", ".exp_avg", ".exp_avg_sq"};
        for (int j = 0; j < 3; j++) {
            size_t len = strlen(p->name) + 16;
            names[k] = malloc(len);
            if (!names[k]) goto oom;
            snprintf(names[k], len, "%s%s", p->name, suffix[j]);
            ts[k] = p->t;
            ts[k].data = (void *)src[j];
            ts[k].owns_data = 0;
            k++;
        }
    }
    char buf[7][64];
    snprintf(buf[0], 64, "%d", st->step);
    snprintf(buf[1], 64, "%" PRId64, st->cursor);
    snprintf(buf[2], 64, "%" PRId64, st->n_truncated);
    snprintf(buf[3], 64, "%" PRId64, st->n_skipped);
    snprintf(buf[4], 64, "%" PRId64, st->tokens);
    snprintf(buf[5], 64, "%.17g", st->wall_s);
    snprintf(buf[6], 64, "%d", st->mode);
    meta = malloc(1024);
    if (!meta) goto oom;
    snprintf(meta, 1024,
             "{\"format\":\"iris-train-checkpoint-1\",\"step\":\"%s\",\"cursor\":\"%s\",\"n_truncated\":\"%s\","
             "\"n_skipped\":\"%s\",\"tokens\":\"%s\",\"wall_s\":\"%s\",\"mode\":\"%s\"}",
             buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6]);
    rc = iris_st_write(path, k, (const char *const *)names, ts, meta);
    goto done;
oom:
    iris_set_error("out of memory writing the checkpoint %s", path);
done:
    for (int i = 0; names && i < k; i++) free(names[i]);
    free(names);
    free(ts);
    free(meta);
    return rc;
}

static int meta_i64(const cJSON *m, const char *key, int64_t *out, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    char *end = NULL;
    if (!cJSON_IsString(v)) goto bad;
    long long x = strtoll(v->valuestring, &end, 10);
    if (*end || x < 0) goto bad;
    *out = x;
    return 0;
bad:
    iris_set_error("%s: not an iris training checkpoint (metadata '%s' missing or bad)", path, key);
    return -1;
}

int iris_ckpt_load(const char *path, iris_param_set *s, iris_train_state *st)
{
    iris_safetensors f;
    if (iris_st_open(&f, path)) return -1;
    int rc = -1;
    cJSON *m = f.metadata_json ? cJSON_Parse(f.metadata_json) : NULL;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(m, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "iris-train-checkpoint-1")) {
        iris_set_error("%s: not an iris training checkpoint", path);
        goto done;
    }
    int64_t step, mode;
    memset(st, 0, sizeof *st);
    if (meta_i64(m, "step", &step, path) || meta_i64(m, "cursor", &st->cursor, path) ||
        meta_i64(m, "n_truncated", &st->n_truncated, path) || meta_i64(m, "n_skipped", &st->n_skipped, path) ||
        meta_i64(m, "tokens", &st->tokens, path) || meta_i64(m, "mode", &mode, path))
        goto done;
    st->step = (int)step;
    st->mode = (int)mode;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(m, "wall_s");
    st->wall_s = cJSON_IsString(w) ? atof(w->valuestring) : 0;
    for (int i = 0; i < s->n; i++) {
        iris_param *p = &s->p[i];
        if (!p->g) continue;
        float *dst[3] = {p->w, p->m, p->v};
        const char *suffix[3] = {"", ".exp_avg", ".exp_avg_sq"};
        for (int j = 0; j < 3; j++) {
            char name[200];
            snprintf(name, sizeof name, "%s%s", p->name, suffix[j]);
            const iris_tensor *t = iris_st_find(&f, name);
            if (!t || t->dtype != IRIS_F32 || iris_tensor_numel(t) != p->n) {
                iris_set_error("%s: tensor '%s' is missing or has another shape (was the checkpoint made "
                               "with another config?)", path, name);
                goto done;
            }
            if (s->be->upload(dst[j], t->data, (size_t)p->n * sizeof(float))) {
                iris_set_error("%s: cannot upload '%s'", path, name);
                goto done;
            }
        }
    }
    /* The other direction: a parameter the checkpoint trained that this set
     * does not (e.g. a run with train.vision_tower resumed without it) would
     * silently freeze; refuse. */
    for (int i = 0; i < f.n_tensors; i++) {
        const char *nm = f.tensors[i].name;
        size_t len = strlen(nm), sl = strlen(".exp_avg");
        if (len <= sl || strcmp(nm + len - sl, ".exp_avg")) continue;
        char base[200];
        snprintf(base, sizeof base, "%.*s", (int)(len - sl), nm);
        int idx = iris_params_find(s, base);
        if (idx < 0 || !s->p[idx].g) {
            iris_set_error("%s: the checkpoint trains '%s', which this config does not train (was the "
                           "checkpoint made with another config?)", path, base);
            goto done;
        }
    }
    rc = 0;
done:
    cJSON_Delete(m);
    iris_st_close(&f);
    return rc;
}

#include "dataset.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/lora.h"

static int push(iris_dataset *d, int64_t start, int64_t end)
{
    if (end - start > INT32_MAX) {
        iris_set_error("%s: record %d (byte %lld) is larger than 2 GiB", d->path, d->n, (long long)start);
        return -1;
    }
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 1024;
        int64_t *o = realloc(d->off, (size_t)cap * sizeof *o);
        if (!o) goto oom;
        d->off = o;
        int32_t *l = realloc(d->len, (size_t)cap * sizeof *l);
        if (!l) goto oom;
        d->len = l;
        d->cap = cap;
    }
    d->off[d->n] = start;
    d->len[d->n] = (int32_t)(end - start);
    d->n++;
    return 0;
oom:
    iris_set_error("out of memory indexing %s", d->path);
    return -1;
}

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* One streaming pass.  Outside records only whitespace, one '[' ... ']' (list
 * form) and ',' between records are allowed. */
static int build_index(iris_dataset *d)
{
    enum { BEFORE, LIST_EXPECT_REC, LIST_AFTER_REC, LINES, DONE } where = BEFORE;
    int depth = 0, in_str = 0, esc = 0, list = 0;
    int64_t pos = 0, start = -1;
    static char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, d->f)) > 0) {
        for (size_t i = 0; i < got; i++, pos++) {
            int c = (unsigned char)buf[i];
            if (depth > 0) {
                if (in_str) {
                    if (esc) esc = 0;
                    else if (c == '\\') esc = 1;
                    else if (c == '"') in_str = 0;
                    continue;
                }
                if (c == '"') in_str = 1;
                else if (c == '{' || c == '[') depth++;
                else if (c == '}' || c == ']') {
                    if (--depth == 0) {
                        if (c != '}') goto bad;
                        if (push(d, start, pos + 1)) return -1;
                        where = list ? LIST_AFTER_REC : LINES;
                    }
                }
                continue;
            }
            if (is_space(c)) continue;
            switch (where) {
            case BEFORE:
                if (c == '[') {
                    list = 1;
                    where = LIST_EXPECT_REC;
                    continue;
                }
                if (c != '{') goto bad;
                where = LINES;
                /* fall through */
            case LINES:
                if (c != '{') goto bad;
                start = pos;
                depth = 1;
                break;
            case LIST_EXPECT_REC:
                if (c == ']' && d->n == 0) {
                    where = DONE;
                    continue;
                }
                if (c != '{') goto bad;
                start = pos;
                depth = 1;
                break;
            case LIST_AFTER_REC:
                if (c == ',') where = LIST_EXPECT_REC;
                else if (c == ']') where = DONE;
                else goto bad;
                break;
            case DONE:
                goto bad;
            }
            continue;
        bad:
            iris_set_error("%s: malformed JSON at byte %lld (record %d): unexpected '%c'", d->path,
                           (long long)pos, d->n, c >= 32 && c < 127 ? c : '?');
            return -1;
        }
    }
    if (ferror(d->f)) {
        iris_set_error("%s: read error", d->path);
        return -1;
    }
    if (depth > 0 || (list && where != DONE) || where == BEFORE) {
        iris_set_error("%s: malformed JSON: the file ends inside record %d%s", d->path, d->n,
                       where == BEFORE ? " (empty file)" : "");
        return -1;
    }
    return 0;
}

int iris_dataset_open(iris_dataset *d, const char *path)
{
    memset(d, 0, sizeof *d);
    d->path = strdup(path);
    if (!d->path) {
        iris_set_error("out of memory");
        return -1;
    }
    d->f = fopen(path, "rb");
    if (!d->f) {
        iris_set_error("%s: cannot open the training data: %m", path);
        iris_dataset_close(d);
        return -1;
    }
    if (build_index(d)) {
        iris_dataset_close(d);
        return -1;
    }
    if (d->n == 0) {
        iris_set_error("%s: the training data holds no records", path);
        iris_dataset_close(d);
        return -1;
    }
    return 0;
}

void iris_dataset_close(iris_dataset *d)
{
    if (d->f) fclose(d->f);
    free(d->path);
    free(d->off);
    free(d->len);
    memset(d, 0, sizeof *d);
}

cJSON *iris_dataset_record(const iris_dataset *d, int i)
{
    if (i < 0 || i >= d->n) {
        iris_set_error("%s: no record %d", d->path, i);
        return NULL;
    }
    char *buf = malloc((size_t)d->len[i] + 1);
    if (!buf) {
        iris_set_error("out of memory reading record %d of %s", i, d->path);
        return NULL;
    }
    if (fseeko(d->f, d->off[i], SEEK_SET) || fread(buf, 1, (size_t)d->len[i], d->f) != (size_t)d->len[i]) {
        free(buf);
        iris_set_error("%s: cannot read record %d", d->path, i);
        return NULL;
    }
    buf[d->len[i]] = 0;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(buf, &end, 1);
    if (!j) {
        long at = end ? (long)(end - buf) : 0;
        iris_set_error("%s: record %d (byte %lld): malformed JSON near byte %lld", d->path, i,
                       (long long)d->off[i], (long long)(d->off[i] + at));
    }
    free(buf);
    return j;
}

void iris_dataset_order(int n, uint64_t seed, int epoch, int shuffle, int32_t *perm)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    if (!shuffle) return;
    uint64_t key = iris_rng_mix(seed, 0xDA7A0000ull + (uint64_t)epoch);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(iris_rng_uniform(iris_rng_mix(key, (uint64_t)i)) * (i + 1));
        if (j > i) j = i;
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

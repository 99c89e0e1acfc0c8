/* safetensors.c — parsing and validating a safetensors header over a mapped
 * file.  Writing lives in safetensors_write.c. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "file_map.h"
#include "name_index.h"

/* The safetensors library refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER 100000000ull

typedef struct {
    const char *name;
    int size;          /* bytes per element */
    int iris;          /* iris dtype, -1 when iris does not compute with it */
} st_dtype;

static const st_dtype dtypes[] = {
    {"F32", 4, IRIS_F32}, {"F16", 2, IRIS_F16}, {"BF16", 2, IRIS_BF16},
    {"I32", 4, IRIS_I32}, {"F64", 8, -1},      {"I64", 8, -1},
    {"U64", 8, -1},       {"U32", 4, -1},      {"I16", 2, -1},
    {"U16", 2, -1},       {"I8", 1, -1},       {"U8", 1, -1},
    {"BOOL", 1, -1},      {"F8_E4M3", 1, -1},  {"F8_E5M2", 1, -1},
    {"F8_E8M0", 1, -1},
};

static const st_dtype *find_dtype(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0) return &dtypes[i];
    return NULL;
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

typedef struct {
    const char *path;
    const uint8_t *data;     /* start of the data section */
    uint64_t data_len;
    uint64_t data_pos;       /* file offset of the data section */
} st_ctx;

static int parse_tensor(const st_ctx *c, const cJSON *e, iris_st_tensor *t)
{
    const char *p = c->path, *n = t->name;
    if (!cJSON_IsObject(e)) {
        iris_set_error("%s: tensor '%s': header entry is not an object", p, n);
        return -1;
    }
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo)) {
        iris_set_error("%s: tensor '%s': needs string dtype, array shape and array "
                       "data_offsets", p, n);
        return -1;
    }
    const st_dtype *dt = find_dtype(jd->valuestring);
    if (!dt) {
        iris_set_error("%s: tensor '%s' has unknown dtype '%.32s'", p, n, jd->valuestring);
        return -1;
    }
    t->dtype_name = dt->name;
    t->t.dtype = (iris_dtype)dt->iris;
    int ndim = cJSON_GetArraySize(js);
    if (ndim > IRIS_MAX_DIMS) {
        iris_set_error("%s: tensor '%s' has %d dimensions (at most %d supported)", p, n, ndim,
                       IRIS_MAX_DIMS);
        return -1;
    }
    uint64_t numel = 1, begin, end, bytes;
    t->t.ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!json_uint(cJSON_GetArrayItem(js, d), &v) ||
            (v && numel > UINT64_MAX / v)) {
            iris_set_error("%s: tensor '%s': invalid shape", p, n);
            return -1;
        }
        numel *= v;
        t->t.shape[d] = (int64_t)v;
    }
    if (cJSON_GetArraySize(jo) != 2 || !json_uint(cJSON_GetArrayItem(jo, 0), &begin) ||
        !json_uint(cJSON_GetArrayItem(jo, 1), &end) || begin > end) {
        iris_set_error("%s: tensor '%s': data_offsets must be [begin, end] with begin <= end",
                       p, n);
        return -1;
    }
    if (end > c->data_len) {
        iris_set_error("%s: tensor '%s': data_offsets [%llu, %llu] exceed the %llu bytes of "
                       "data", p, n, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)c->data_len);
        return -1;
    }
    if (__builtin_mul_overflow(numel, (uint64_t)dt->size, &bytes) || bytes != end - begin) {
        iris_set_error("%s: tensor '%s': shape and dtype %s need %llu bytes but data_offsets "
                       "span %llu", p, n, dt->name,
                       (unsigned long long)(numel * (uint64_t)dt->size),
                       (unsigned long long)(end - begin));
        return -1;
    }
    if ((c->data_pos + begin) % (uint64_t)dt->size) {
        iris_set_error("%s: tensor '%s': data at file offset %llu is not aligned to its "
                       "%d-byte elements", p, n, (unsigned long long)(c->data_pos + begin),
                       dt->size);
        return -1;
    }
    t->nbytes = bytes;
    t->t.data = (void *)(c->data + begin);
    return 0;
}

/* Reads the 8-byte length and parses the JSON it frames; NULL on error. */
static cJSON *parse_header(const uint8_t *buf, size_t len, const char *path, uint64_t *hlen)
{
    if (len < 8) {
        iris_set_error("%s: too short for a safetensors file (%zu bytes)", path, len);
        return NULL;
    }
    memcpy(hlen, buf, 8); /* little-endian, as is every target */
    if (*hlen > len - 8 || *hlen > ST_MAX_HEADER || *hlen < 2) {
        iris_set_error("%s: header length %llu is invalid for a file of %zu bytes", path,
                       (unsigned long long)*hlen, len);
        return NULL;
    }
    const char *json = (const char *)buf + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)*hlen, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        iris_set_error("%s: header is not valid JSON (at byte %lld)", path,
                       at ? (long long)(at - json) : -1LL);
        return NULL;
    }
    /* The library pads the header with spaces; nothing else may follow. */
    for (const char *q = end; q < json + *hlen; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r' && *q != 0) {
            iris_set_error("%s: header has trailing bytes after the JSON object", path);
            cJSON_Delete(root);
            return NULL;
        }
    }
    if (!cJSON_IsObject(root)) {
        iris_set_error("%s: header is not a JSON object", path);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static int parse_entries(iris_safetensors *st, const cJSON *root, const st_ctx *c)
{
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) n++;
    st->tensors = calloc(n ? (size_t)n : 1, sizeof *st->tensors);
    st->index = iris_name_index_new((size_t)n);
    if (!st->tensors || !st->index) {
        iris_set_error("%s: out of memory for %d tensors", c->path, n);
        return -1;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e) || st->metadata_json) {
                iris_set_error("%s: __metadata__ must be a single JSON object", c->path);
                return -1;
            }
            st->metadata_json = cJSON_PrintUnformatted(e);
            if (!st->metadata_json) {
                iris_set_error("%s: out of memory for __metadata__", c->path);
                return -1;
            }
            continue;
        }
        iris_st_tensor *t = &st->tensors[st->n_tensors];
        if (!e->string[0] || !(t->name = strdup(e->string))) {
            iris_set_error("%s: %s", c->path, e->string[0] ? "out of memory" : "empty tensor name");
            return -1;
        }
        st->n_tensors++;
        if (parse_tensor(c, e, t) != 0) return -1;
        int dup = iris_name_index_put(st->index, t->name, st->n_tensors - 1);
        if (dup) {
            iris_set_error(dup > 0 ? "%s: duplicate tensor name '%s'"
                                   : "%s: out of memory indexing '%s'", c->path, t->name);
            return -1;
        }
    }
    return 0;
}

int iris_st_parse(iris_safetensors *st, const void *buf, size_t len, const char *name)
{
    memset(st, 0, sizeof *st);
    uint64_t hlen;
    if (!(st->path = strdup(name))) {
        iris_set_error("%s: out of memory", name);
        return -1;
    }
    st->map = (void *)buf;
    st->map_len = len;
    cJSON *root = parse_header(buf, len, name, &hlen);
    if (!root) {
        iris_st_close(st);
        return -1;
    }
    st_ctx c = {name, (const uint8_t *)buf + 8 + hlen, len - 8 - hlen, 8 + hlen};
    int rc = parse_entries(st, root, &c);
    cJSON_Delete(root);
    if (rc != 0) iris_st_close(st);
    return rc;
}

int iris_st_open(iris_safetensors *st, const char *path)
{
    void *map;
    size_t len;
    memset(st, 0, sizeof *st);
    if (iris_map_file(path, &map, &len) != 0) return -1;
    if (iris_st_parse(st, map, len, path) != 0) {
        iris_unmap_file(map, len);
        return -1;
    }
    st->mapped = 1;
    return 0;
}

void iris_st_close(iris_safetensors *st)
{
    for (int i = 0; st->tensors && i < st->n_tensors; i++) {
        free(st->tensors[i].name);
        iris_tensor_free(&st->tensors[i].t); /* only torch checkpoints' strided copies own data */
    }
    free(st->tensors);
    free(st->metadata_json);
    iris_name_index_free(st->index);
    if (st->mapped) iris_unmap_file(st->map, st->map_len);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const iris_tensor *iris_st_find(const iris_safetensors *st, const char *name)
{
    int64_t i = iris_name_index_get(st->index, name);
    return i < 0 ? NULL : &st->tensors[i].t;
}

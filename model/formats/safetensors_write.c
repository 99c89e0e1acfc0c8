/* safetensors_write.c — writing a safetensors file atomically: the bytes go
 * to a temporary file beside the target, are fsync'd, and replace the target
 * with rename(2), so a crash leaves either the old file or the new one. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/atomic_file.h"
#include "../core/error.h"
#include "name_index.h"

static const char *writable_dtype(iris_dtype dt)
{
    switch (dt) {
    case IRIS_F32: return "F32";
    case IRIS_F16: return "F16";
    case IRIS_BF16: return "BF16";
    case IRIS_I32: return "I32";
    default: return NULL;
    }
}

typedef struct {
    int idx;
    size_t elem;
} order_item;

/* Descending element size, ties in input order: keeps every tensor aligned. */
static int by_elem_size(const void *a, const void *b)
{
    const order_item *x = a, *y = b;
    if (x->elem != y->elem) return x->elem < y->elem ? 1 : -1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static cJSON *add_raw_u64(cJSON *arr, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    cJSON *j = cJSON_CreateRaw(num); /* exact integers, never exponent notation */
    if (j) cJSON_AddItemToArray(arr, j);
    return j;
}

/* Builds the header JSON; *order receives the data layout. NULL on error. */
static char *build_header(const char *path, int n, const char *const *names,
                          const iris_tensor *ts, const char *metadata_json, order_item *order)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) goto oom;
    if (metadata_json) {
        cJSON *m = cJSON_Parse(metadata_json);
        int ok = cJSON_IsObject(m);
        for (cJSON *e = ok ? m->child : NULL; e; e = e->next) ok &= cJSON_IsString(e);
        if (!ok) {
            cJSON_Delete(m);
            cJSON_Delete(root);
            iris_set_error("%s: metadata must be a JSON object of strings", path);
            return NULL;
        }
        cJSON_AddItemToObject(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (int k = 0; k < n; k++) {
        const iris_tensor *t = &ts[order[k].idx];
        uint64_t bytes = iris_tensor_bytes(t);
        cJSON *e = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        if (!e || !shape || !offs) {
            cJSON_Delete(e); cJSON_Delete(shape); cJSON_Delete(offs);
            goto oom;
        }
        cJSON_AddItemToObject(root, names[order[k].idx], e);
        if (!cJSON_AddStringToObject(e, "dtype", writable_dtype(t->dtype))) goto oom;
        cJSON_AddItemToObject(e, "shape", shape);
        cJSON_AddItemToObject(e, "data_offsets", offs);
        for (int d = 0; d < t->ndim; d++)
            if (!add_raw_u64(shape, (uint64_t)t->shape[d])) goto oom;
        if (!add_raw_u64(offs, off) || !add_raw_u64(offs, off + bytes)) goto oom;
        off += bytes;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) goto oom;
    return s;
oom:
    cJSON_Delete(root);
    iris_set_error("%s: out of memory building the header", path);
    return NULL;
}

static int validate(const char *path, int n, const char *const *names, const iris_tensor *ts)
{
    iris_name_index *seen = iris_name_index_new((size_t)n);
    if (!seen) {
        iris_set_error("%s: out of memory", path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!names[i] || !names[i][0] || !strcmp(names[i], "__metadata__")) {
            iris_set_error("%s: tensor %d has an invalid name", path, i);
            rc = -1;
        } else if (!writable_dtype(ts[i].dtype) || ts[i].ndim < 0 || ts[i].ndim > IRIS_MAX_DIMS) {
            iris_set_error("%s: tensor '%s': dtype %s cannot be stored in safetensors", path,
                           names[i], iris_dtype_name(ts[i].dtype));
            rc = -1;
        } else if (!ts[i].data && iris_tensor_bytes(&ts[i])) {
            iris_set_error("%s: tensor '%s' has no data", path, names[i]);
            rc = -1;
        } else if (iris_name_index_put(seen, names[i], i) != 0) {
            iris_set_error("%s: duplicate tensor name '%s'", path, names[i]);
            rc = -1;
        }
    }
    iris_name_index_free(seen);
    return rc;
}

int iris_st_write(const char *path, int n, const char *const *names,
                  const iris_tensor *tensors, const char *metadata_json)
{
    if (n < 0 || validate(path, n, names, tensors) != 0) {
        if (n < 0) iris_set_error("%s: negative tensor count", path);
        return -1;
    }
    order_item *order = calloc(n ? (size_t)n : 1, sizeof *order);
    if (!order) {
        iris_set_error("%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        order[i].idx = i;
        order[i].elem = iris_dtype_row_bytes(tensors[i].dtype, 1);
    }
    qsort(order, (size_t)n, sizeof *order, by_elem_size);
    char *header = build_header(path, n, names, tensors, metadata_json, order);
    if (!header) {
        free(order);
        return -1;
    }
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) / 8 * 8;

    iris_atomic_file af;
    int rc = -1;
    if (iris_atomic_open(&af, path, "wb")) goto done;
    uint64_t le_len = padded;
    int err = fwrite(&le_len, 8, 1, af.f) != 1 || fwrite(header, 1, hlen, af.f) != hlen ||
              fwrite("        ", 1, padded - hlen, af.f) != padded - hlen;
    for (int k = 0; k < n && !err; k++) {
        const iris_tensor *t = &tensors[order[k].idx];
        size_t bytes = iris_tensor_bytes(t);
        if (bytes) err = fwrite(t->data, 1, bytes, af.f) != bytes;
    }
    if (err) {
        iris_set_error("%s: write failed: %s", path, strerror(errno));
        iris_atomic_abort(&af);
        goto done;
    }
    rc = iris_atomic_commit(&af);
done:
    free(header);
    free(order);
    return rc;
}

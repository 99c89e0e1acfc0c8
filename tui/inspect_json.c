/* inspect_json.c — `iris inspect --json`: format, metadata and every tensor
 * with the sum and sum of squares of its values. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "inspect.h"

static cJSON *raw_int(int is_signed, uint64_t u, int64_t i)
{
    char buf[32];
    if (is_signed) snprintf(buf, sizeof buf, "%" PRId64, i);
    else snprintf(buf, sizeof buf, "%" PRIu64, u);
    return cJSON_CreateRaw(buf); /* exact, even above 2^53 */
}

static cJSON *str_json(iris_gguf_str s)
{
    char *c = malloc((size_t)s.len + 1);
    if (!c) return NULL;
    memcpy(c, s.ptr, (size_t)s.len);
    c[s.len] = 0;
    cJSON *j = cJSON_CreateString(c);
    free(c);
    return j;
}

static cJSON *scalar_json(const iris_gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_BOOL: return cJSON_CreateBool(kv->v.u != 0);
    case GGUF_UINT8: case GGUF_UINT16: case GGUF_UINT32: case GGUF_UINT64:
        return raw_int(0, kv->v.u, 0);
    case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64:
        return raw_int(1, 0, kv->v.i);
    case GGUF_FLOAT32: case GGUF_FLOAT64: return cJSON_CreateNumber(kv->v.f);
    case GGUF_STRING: return str_json(kv->v.s);
    default: return cJSON_CreateNull();
    }
}

static cJSON *kv_json(const iris_gguf_kv *kv)
{
    if (kv->type != GGUF_ARRAY) return scalar_json(kv);
    cJSON *arr = cJSON_CreateArray();
    for (uint64_t i = 0; arr && i < kv->v.arr.n; i++) {
        iris_gguf_kv e;
        iris_gguf_arr_elem(kv, i, &e);
        cJSON *j = scalar_json(&e);
        if (!j) {
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, j);
    }
    return arr;
}

static cJSON *metadata_json(const iris_weights *w)
{
    if (w->gguf) {
        cJSON *m = cJSON_CreateObject();
        for (uint64_t i = 0; m && i < w->gguf->n_kv; i++) {
            cJSON *v = kv_json(&w->gguf->kv[i]);
            if (!v) {
                cJSON_Delete(m);
                return NULL;
            }
            cJSON_AddItemToObject(m, w->gguf->kv[i].key, v);
        }
        return m;
    }
    /* safetensors: __metadata__ of the first file that has one */
    for (int f = 0; f < w->n_files; f++)
        if (w->st[f].metadata_json) return cJSON_Parse(w->st[f].metadata_json);
    return cJSON_CreateObject();
}

static cJSON *tensor_json(const inspect_tensor *it)
{
    cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
    if (!o || !shape) {
        cJSON_Delete(o);
        cJSON_Delete(shape);
        return NULL;
    }
    cJSON_AddStringToObject(o, "name", it->name);
    cJSON_AddStringToObject(o, "dtype", it->dtype);
    cJSON_AddItemToObject(o, "shape", shape);
    for (int d = 0; d < it->t->ndim; d++)
        cJSON_AddItemToArray(shape, raw_int(1, 0, it->t->shape[d]));
    cJSON_AddItemToObject(o, "bytes", raw_int(0, it->bytes, 0));
    double sum, sumsq;
    if (inspect_sums(it->t, &sum, &sumsq) == 0) {
        cJSON_AddNumberToObject(o, "sum", sum);
        cJSON_AddNumberToObject(o, "sumsq", sumsq);
    } else {
        cJSON_AddNullToObject(o, "sum");
        cJSON_AddNullToObject(o, "sumsq");
    }
    return o;
}

int inspect_print_json(FILE *f, const iris_weights *w)
{
    inspect_tensor *ts = NULL;
    size_t n = 0;
    cJSON *root = cJSON_CreateObject(), *tensors = cJSON_CreateArray();
    cJSON *meta = metadata_json(w);
    int ok = root && tensors && meta && inspect_collect(w, &ts, &n) == 0;
    if (ok) {
        cJSON_AddStringToObject(root, "format", w->gguf                                  ? "gguf"
                                : w->n_files && w->st[0].from_torch ? "torch"
                                                                    : "safetensors");
        if (w->gguf) cJSON_AddNumberToObject(root, "version", w->gguf->version);
        cJSON_AddItemToObject(root, "metadata", meta);
        cJSON_AddItemToObject(root, "tensors", tensors);
        meta = tensors = NULL;
        for (size_t i = 0; ok && i < n; i++) {
            cJSON *t = tensor_json(&ts[i]);
            ok = t != NULL;
            if (t) cJSON_AddItemToArray(cJSON_GetObjectItem(root, "tensors"), t);
        }
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    cJSON_Delete(tensors);
    cJSON_Delete(meta);
    free(ts);
    if (!s) {
        iris_set_error("%s: out of memory", w->path);
        return -1;
    }
    fprintf(f, "%s\n", s);
    free(s);
    return 0;
}

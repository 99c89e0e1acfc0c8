/* gguf_kv.c — GGUF metadata: bounds-checked primitive reads, key/value
 * parsing (scalars, strings, arrays incl. arrays of strings) and the typed
 * accessors networks use to read hyper-parameters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "gguf.h"
#include "gguf_reader.h"

int gguf_read_bytes(gguf_reader *r, void *dst, size_t n, const char *what)
{
    if (n > gguf_remaining(r)) {
        iris_set_error("%s: truncated at offset %zu reading %s (%zu bytes needed, %zu left)",
                       r->path, r->pos, what, n, gguf_remaining(r));
        return -1;
    }
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

/* GGUF is little-endian and so is every machine iris targets. */
int gguf_read_u32(gguf_reader *r, uint32_t *v, const char *what)
{
    return gguf_read_bytes(r, v, 4, what);
}

int gguf_read_u64(gguf_reader *r, uint64_t *v, const char *what)
{
    return gguf_read_bytes(r, v, 8, what);
}

int gguf_read_str(gguf_reader *r, iris_gguf_str *s, const char *what)
{
    uint64_t len;
    size_t at = r->pos;
    if (gguf_read_u64(r, &len, what) != 0) return -1;
    if (len > gguf_remaining(r)) {
        iris_set_error("%s: %s at offset %zu has length %llu, beyond the end of the file",
                       r->path, what, at, (unsigned long long)len);
        return -1;
    }
    s->ptr = (const char *)r->p + r->pos;
    s->len = len;
    r->pos += (size_t)len;
    return 0;
}

int gguf_read_name(gguf_reader *r, char **out, const char *what)
{
    iris_gguf_str s;
    size_t at = r->pos;
    *out = NULL;
    if (gguf_read_str(r, &s, what) != 0) return -1;
    if (s.len == 0 || memchr(s.ptr, 0, (size_t)s.len)) {
        iris_set_error("%s: %s at offset %zu is %s", r->path, what, at,
                       s.len ? "not a valid name (contains a NUL byte)" : "empty");
        return -1;
    }
    *out = malloc((size_t)s.len + 1);
    if (!*out) {
        iris_set_error("%s: out of memory reading %s", r->path, what);
        return -1;
    }
    memcpy(*out, s.ptr, (size_t)s.len);
    (*out)[s.len] = 0;
    return 0;
}

/* Bytes of one scalar of a fixed-size type; 0 for strings, arrays, unknown. */
static size_t scalar_size(iris_gguf_type t)
{
    switch (t) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static void decode_scalar(iris_gguf_kv *kv, const uint8_t *p)
{
    switch (kv->type) {
    case GGUF_UINT8: case GGUF_BOOL: kv->v.u = p[0]; break;
    case GGUF_INT8: kv->v.i = (int8_t)p[0]; break;
    case GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); kv->v.u = x; break; }
    case GGUF_INT16: { int16_t x; memcpy(&x, p, 2); kv->v.i = x; break; }
    case GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); kv->v.u = x; break; }
    case GGUF_INT32: { int32_t x; memcpy(&x, p, 4); kv->v.i = x; break; }
    case GGUF_FLOAT32: { float x; memcpy(&x, p, 4); kv->v.f = x; break; }
    case GGUF_UINT64: memcpy(&kv->v.u, p, 8); break;
    case GGUF_INT64: memcpy(&kv->v.i, p, 8); break;
    case GGUF_FLOAT64: memcpy(&kv->v.f, p, 8); break;
    default: break;
    }
}

static int read_array(gguf_reader *r, iris_gguf_kv *kv)
{
    uint32_t et;
    uint64_t n;
    if (gguf_read_u32(r, &et, "array element type") != 0) return -1;
    if (et >= GGUF_TYPE_COUNT || et == GGUF_ARRAY) {
        iris_set_error("%s: key '%s': %s array element type %u", r->path, kv->key,
                       et == GGUF_ARRAY ? "unsupported nested" : "unknown", et);
        return -1;
    }
    if (gguf_read_u64(r, &n, "array length") != 0) return -1;
    kv->v.arr.type = (iris_gguf_type)et;
    /* Check the count against what is left before allocating anything. */
    size_t min_elem = et == GGUF_STRING ? 8 : scalar_size((iris_gguf_type)et);
    if (n > gguf_remaining(r) / min_elem) {
        iris_set_error("%s: key '%s': array of %llu elements does not fit in the file",
                       r->path, kv->key, (unsigned long long)n);
        return -1;
    }
    kv->v.arr.n = n;
    if (et != GGUF_STRING) {
        kv->v.arr.data = r->p + r->pos;
        r->pos += (size_t)n * min_elem;
        return 0;
    }
    if (n == 0) return 0;
    kv->v.arr.strs = calloc((size_t)n, sizeof *kv->v.arr.strs);
    if (!kv->v.arr.strs) {
        iris_set_error("%s: key '%s': out of memory for %llu strings", r->path, kv->key,
                       (unsigned long long)n);
        return -1;
    }
    for (uint64_t i = 0; i < n; i++)
        if (gguf_read_str(r, &kv->v.arr.strs[i], "array string") != 0) return -1;
    return 0;
}

int gguf_read_kv(gguf_reader *r, iris_gguf_kv *kv)
{
    uint32_t type;
    memset(kv, 0, sizeof *kv);
    if (gguf_read_name(r, &kv->key, "metadata key") != 0) return -1;
    if (gguf_read_u32(r, &type, "metadata value type") != 0) return -1;
    if (type >= GGUF_TYPE_COUNT) {
        iris_set_error("%s: key '%s' has unknown value type %u", r->path, kv->key, type);
        return -1;
    }
    kv->type = (iris_gguf_type)type;
    if (kv->type == GGUF_STRING) return gguf_read_str(r, &kv->v.s, "string value");
    if (kv->type == GGUF_ARRAY) return read_array(r, kv);
    uint8_t buf[8];
    if (gguf_read_bytes(r, buf, scalar_size(kv->type), "metadata value") != 0) return -1;
    decode_scalar(kv, buf);
    return 0;
}

void gguf_kv_free(iris_gguf_kv *kv)
{
    free(kv->key);
    if (kv->type == GGUF_ARRAY) free(kv->v.arr.strs);
    memset(kv, 0, sizeof *kv);
}

/* ---- accessors */

int iris_gguf_arr_elem(const iris_gguf_kv *kv, uint64_t i, iris_gguf_kv *out)
{
    memset(out, 0, sizeof *out);
    if (kv->type != GGUF_ARRAY || i >= kv->v.arr.n) return -1;
    out->type = kv->v.arr.type;
    if (out->type == GGUF_STRING) {
        out->v.s = kv->v.arr.strs[i];
        return 0;
    }
    size_t sz = scalar_size(out->type);
    decode_scalar(out, (const uint8_t *)kv->v.arr.data + i * sz);
    return 0;
}

const iris_gguf_kv *iris_gguf_find(const iris_gguf *g, const char *key)
{
    /* Metadata has a few dozen keys; a scan is cheaper than an index. */
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

static int is_unsigned(iris_gguf_type t)
{
    return t == GGUF_UINT8 || t == GGUF_UINT16 || t == GGUF_UINT32 || t == GGUF_UINT64 ||
           t == GGUF_BOOL;
}

static int is_signed(iris_gguf_type t)
{
    return t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 || t == GGUF_INT64;
}

int64_t iris_gguf_get_int(const iris_gguf *g, const char *key, int64_t dflt)
{
    const iris_gguf_kv *kv = iris_gguf_find(g, key);
    if (!kv) return dflt;
    if (is_signed(kv->type)) return kv->v.i;
    if (is_unsigned(kv->type)) return kv->v.u > (uint64_t)INT64_MAX ? dflt : (int64_t)kv->v.u;
    if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64) {
        double f = kv->v.f;
        if (!isfinite(f) || f < -9.2e18 || f > 9.2e18) return dflt;
        return (int64_t)f;
    }
    return dflt;
}

double iris_gguf_get_float(const iris_gguf *g, const char *key, double dflt)
{
    const iris_gguf_kv *kv = iris_gguf_find(g, key);
    if (!kv) return dflt;
    if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64) return kv->v.f;
    if (is_signed(kv->type)) return (double)kv->v.i;
    if (is_unsigned(kv->type)) return (double)kv->v.u;
    return dflt;
}

char *iris_gguf_get_str(const iris_gguf *g, const char *key)
{
    const iris_gguf_kv *kv = iris_gguf_find(g, key);
    if (!kv || kv->type != GGUF_STRING) return NULL;
    char *s = malloc((size_t)kv->v.s.len + 1);
    if (!s) return NULL;
    memcpy(s, kv->v.s.ptr, (size_t)kv->v.s.len);
    s[kv->v.s.len] = 0;
    return s;
}

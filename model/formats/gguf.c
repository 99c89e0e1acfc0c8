/* gguf.c — GGUF header, tensor infos and data-section validation.
 * Metadata values are parsed in gguf_kv.c, ggml type sizes live in
 * ggml_types.c. */
#include "gguf.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "file_map.h"
#include "gguf_reader.h"
#include "name_index.h"

#define GGUF_DEFAULT_ALIGNMENT 32
/* Smallest encodings, used to reject absurd counts before allocating. */
#define MIN_KV_BYTES 14     /* key length + 1-byte key + type + 1-byte value */
#define MIN_TENSOR_BYTES 33 /* name length + 1-byte name + n_dims + 1 dim + type + offset */

static int read_header(gguf_reader *r, iris_gguf *g)
{
    char magic[4];
    if (gguf_read_bytes(r, magic, 4, "magic") != 0) return -1;
    if (memcmp(magic, "GGUF", 4) != 0) {
        iris_set_error("%s: not a GGUF file (bad magic)", r->path);
        return -1;
    }
    if (gguf_read_u32(r, &g->version, "version") != 0) return -1;
    if (g->version != 2 && g->version != 3) {
        iris_set_error("%s: unsupported GGUF version %u%s (iris reads versions 2 and 3)",
                       r->path, g->version,
                       (g->version & 0xffff) == 0 ? ", big-endian file?" : "");
        return -1;
    }
    if (gguf_read_u64(r, &g->n_tensors, "tensor count") != 0) return -1;
    if (gguf_read_u64(r, &g->n_kv, "metadata count") != 0) return -1;
    if (g->n_kv > gguf_remaining(r) / MIN_KV_BYTES) {
        iris_set_error("%s: metadata count %llu does not fit in a file of %zu bytes",
                       r->path, (unsigned long long)g->n_kv, r->len);
        return -1;
    }
    if (g->n_tensors > gguf_remaining(r) / MIN_TENSOR_BYTES) {
        iris_set_error("%s: tensor count %llu does not fit in a file of %zu bytes",
                       r->path, (unsigned long long)g->n_tensors, r->len);
        return -1;
    }
    return 0;
}

static int read_metadata(gguf_reader *r, iris_gguf *g)
{
    uint64_t n = g->n_kv;
    g->n_kv = 0; /* counts what is allocated, for close() */
    g->kv = calloc(n ? (size_t)n : 1, sizeof *g->kv);
    iris_name_index *seen = iris_name_index_new((size_t)n);
    if (!g->kv || !seen) {
        iris_name_index_free(seen);
        iris_set_error("%s: out of memory for %llu metadata entries", r->path,
                       (unsigned long long)n);
        return -1;
    }
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        rc = gguf_read_kv(r, &g->kv[i]);
        g->n_kv = i + 1;
        if (rc == 0) {
            int dup = iris_name_index_put(seen, g->kv[i].key, (int64_t)i);
            if (dup) {
                iris_set_error(dup > 0 ? "%s: duplicate metadata key '%s'"
                                       : "%s: out of memory indexing key '%s'",
                               r->path, g->kv[i].key);
                rc = -1;
            }
        }
    }
    iris_name_index_free(seen);
    return rc;
}

static int read_alignment(gguf_reader *r, iris_gguf *g)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const iris_gguf_kv *kv = iris_gguf_find(g, "general.alignment");
    if (!kv) return 0;
    int64_t a = iris_gguf_get_int(g, "general.alignment", -1);
    if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64 || kv->type == GGUF_STRING ||
        kv->type == GGUF_BOOL ||
        kv->type == GGUF_ARRAY || a <= 0 || a > (1 << 30) || (a & (a - 1)) != 0) {
        iris_set_error("%s: general.alignment must be a power of two integer", r->path);
        return -1;
    }
    g->alignment = (uint64_t)a;
    return 0;
}

/* Fills t's shape (row-major) and dtype from the fastest-first GGUF dims;
 * *bytes receives the data size, checked for overflow. */
static int tensor_shape(gguf_reader *r, iris_gguf_tensor *t, uint32_t n_dims,
                        const uint64_t *ne, uint64_t *bytes)
{
    uint64_t numel = 1, blk_elems, blk_bytes;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX || numel > (uint64_t)INT64_MAX / ne[d]) {
            iris_set_error("%s: tensor '%s' has an invalid dimension %llu", r->path, t->name,
                           (unsigned long long)ne[d]);
            return -1;
        }
        numel *= ne[d];
        t->t.shape[n_dims - 1 - d] = (int64_t)ne[d];
    }
    t->t.ndim = (int)n_dims;
    if (!ggml_type_block(t->ggml_type, &blk_elems, &blk_bytes)) {
        iris_set_error("%s: tensor '%s' has unknown ggml type %u", r->path, t->name,
                       t->ggml_type);
        return -1;
    }
    t->ggml_type_name = iris_ggml_type_name(t->ggml_type);
    if (ne[0] % blk_elems) {
        iris_set_error("%s: tensor '%s': row of %llu elements is not a multiple of the %s "
                       "block size %llu", r->path, t->name, (unsigned long long)ne[0],
                       t->ggml_type_name, (unsigned long long)blk_elems);
        return -1;
    }
    if (__builtin_mul_overflow(numel / blk_elems, blk_bytes, bytes)) {
        iris_set_error("%s: tensor '%s' is too large", r->path, t->name);
        return -1;
    }
    switch (t->ggml_type) {
    case 0: t->t.dtype = IRIS_F32; break;
    case 1: t->t.dtype = IRIS_F16; break;
    case 8: t->t.dtype = IRIS_Q8_0; break;
    case 26: t->t.dtype = IRIS_I32; break;
    case 30: t->t.dtype = IRIS_BF16; break;
    default: t->t.dtype = (iris_dtype)-1; break;
    }
    return 0;
}

static int read_tensor_info(gguf_reader *r, iris_gguf_tensor *t, uint64_t *bytes)
{
    uint32_t n_dims;
    uint64_t ne[IRIS_MAX_DIMS];
    if (gguf_read_name(r, &t->name, "tensor name") != 0) return -1;
    if (gguf_read_u32(r, &n_dims, "tensor dimension count") != 0) return -1;
    if (n_dims == 0 || n_dims > IRIS_MAX_DIMS) {
        iris_set_error("%s: tensor '%s' has %u dimensions (1 to %d supported)", r->path,
                       t->name, n_dims, IRIS_MAX_DIMS);
        return -1;
    }
    for (uint32_t d = 0; d < n_dims; d++)
        if (gguf_read_u64(r, &ne[d], "tensor dimension") != 0) return -1;
    if (gguf_read_u32(r, &t->ggml_type, "tensor type") != 0) return -1;
    if (gguf_read_u64(r, &t->offset, "tensor offset") != 0) return -1;
    return tensor_shape(r, t, n_dims, ne, bytes);
}

static int read_tensors(gguf_reader *r, iris_gguf *g)
{
    uint64_t n = g->n_tensors;
    g->n_tensors = 0;
    g->tensors = calloc(n ? (size_t)n : 1, sizeof *g->tensors);
    uint64_t *sizes = calloc(n ? (size_t)n : 1, sizeof *sizes);
    g->index = iris_name_index_new((size_t)n);
    if (!g->tensors || !sizes || !g->index) {
        free(sizes);
        iris_set_error("%s: out of memory for %llu tensors", r->path, (unsigned long long)n);
        return -1;
    }
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        g->n_tensors = i + 1;
        rc = read_tensor_info(r, &g->tensors[i], &sizes[i]);
        if (rc == 0) {
            int dup = iris_name_index_put(g->index, g->tensors[i].name, (int64_t)i);
            if (dup) {
                iris_set_error(dup > 0 ? "%s: duplicate tensor name '%s'"
                                       : "%s: out of memory indexing tensor '%s'",
                               r->path, g->tensors[i].name);
                rc = -1;
            }
        }
    }
    if (rc != 0) {
        free(sizes);
        return -1;
    }
    /* The data section starts at the next multiple of the alignment. */
    uint64_t a = g->alignment, pos = r->pos;
    g->data_offset = (pos + a - 1) / a * a;
    uint64_t data_len = g->data_offset <= r->len ? r->len - g->data_offset : 0;
    if (n > 0 && g->data_offset > r->len) {
        iris_set_error("%s: truncated: data section would start at %llu, file has %zu bytes",
                       r->path, (unsigned long long)g->data_offset, r->len);
        rc = -1;
    }
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        iris_gguf_tensor *t = &g->tensors[i];
        if (t->offset % a) {
            iris_set_error("%s: tensor '%s' offset %llu is not aligned to %llu", r->path,
                           t->name, (unsigned long long)t->offset, (unsigned long long)a);
            rc = -1;
        } else if (t->offset > data_len || sizes[i] > data_len - t->offset) {
            iris_set_error("%s: tensor '%s' data (%llu bytes at offset %llu) extends beyond "
                           "the end of the file", r->path, t->name,
                           (unsigned long long)sizes[i], (unsigned long long)t->offset);
            rc = -1;
        } else {
            t->nbytes = sizes[i];
            t->t.data = (void *)(r->p + g->data_offset + t->offset);
        }
    }
    free(sizes);
    return rc;
}

int iris_gguf_parse(iris_gguf *g, const void *buf, size_t len, const char *name)
{
    memset(g, 0, sizeof *g);
    g->path = strdup(name);
    if (!g->path) {
        iris_set_error("%s: out of memory", name);
        return -1;
    }
    g->map = (void *)buf;
    g->map_len = len;
    gguf_reader r = {buf, len, 0, name};
    if (read_header(&r, g) != 0 || read_metadata(&r, g) != 0 || read_alignment(&r, g) != 0 ||
        read_tensors(&r, g) != 0) {
        iris_gguf_close(g);
        return -1;
    }
    return 0;
}

int iris_gguf_open(iris_gguf *g, const char *path)
{
    void *map;
    size_t len;
    memset(g, 0, sizeof *g);
    if (iris_map_file(path, &map, &len) != 0) return -1;
    if (iris_gguf_parse(g, map, len, path) != 0) {
        iris_unmap_file(map, len);
        return -1;
    }
    g->mapped = 1;
    return 0;
}

void iris_gguf_close(iris_gguf *g)
{
    for (uint64_t i = 0; g->kv && i < g->n_kv; i++) gguf_kv_free(&g->kv[i]);
    free(g->kv);
    for (uint64_t i = 0; g->tensors && i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    iris_name_index_free(g->index);
    if (g->mapped) iris_unmap_file(g->map, g->map_len);
    free(g->path);
    memset(g, 0, sizeof *g);
}

const iris_gguf_tensor *iris_gguf_find_tensor(const iris_gguf *g, const char *name)
{
    int64_t i = iris_name_index_get(g->index, name);
    return i < 0 ? NULL : &g->tensors[i];
}

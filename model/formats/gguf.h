/* gguf.h — reader for GGUF files (llama.cpp's single-file model format).
 *
 * Layout (little-endian): magic "GGUF", u32 version (2 or 3), u64 tensor count,
 * u64 metadata count, the key/value pairs, the tensor infos (name, n_dims,
 * dims fastest-first, ggml type, offset), padding to general.alignment (32 by
 * default), then tensor data.  The file is mmap'd; tensors point into it.
 *
 * Contract: iris_gguf_open validates every count, string length, offset and
 * size against the file before anything is used and fails with a one-line
 * iris_last_error() naming the file; nothing in a bad file can make later
 * accessors read out of bounds.  Tensor shapes are returned row-major
 * (reversed from GGUF's fastest-first order).  Tensors of ggml types iris
 * cannot compute with are listed with dtype = -1 and their type name in
 * ggml_type_name so a loader can say which tensor is unsupported.
 */
#ifndef IRIS_GGUF_H
#define IRIS_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include "../core/tensor.h"

typedef enum {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3,
    GGUF_UINT32 = 4, GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_BOOL = 7,
    GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12, GGUF_TYPE_COUNT
} iris_gguf_type;

typedef struct {
    const char *ptr;   /* not NUL-terminated: points into the mapping */
    uint64_t len;
} iris_gguf_str;

typedef struct {
    char *key;                 /* NUL-terminated copy */
    iris_gguf_type type;
    union {
        uint64_t u;            /* unsigned ints and bool */
        int64_t i;             /* signed ints */
        double f;              /* floats */
        iris_gguf_str s;
        struct {
            iris_gguf_type type;   /* element type (no nested arrays of arrays) */
            uint64_t n;
            const void *data;      /* numeric: raw little-endian elements */
            iris_gguf_str *strs;   /* string arrays: n entries (owned) */
        } arr;
    } v;
} iris_gguf_kv;

typedef struct {
    char *name;
    uint32_t ggml_type;
    const char *ggml_type_name;
    uint64_t offset;           /* from the start of the data section */
    uint64_t nbytes;           /* size of the data, for every ggml type */
    iris_tensor t;             /* dtype = -1 when unsupported */
} iris_gguf_tensor;

typedef struct iris_gguf {
    char *path;
    void *map;
    size_t map_len;
    uint32_t version;
    uint64_t n_kv;
    iris_gguf_kv *kv;
    uint64_t n_tensors;
    iris_gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
    int mapped;                    /* 1: map is our mmap (iris_gguf_open) */
    struct iris_name_index *index; /* tensor name -> position in tensors[] */
} iris_gguf;

/* Returns 0 on success, -1 with iris_last_error() set. */
int iris_gguf_open(iris_gguf *g, const char *path);
void iris_gguf_close(iris_gguf *g);
/* Parses a GGUF image already in memory (buf must outlive g; nothing is
 * copied or unmapped); name labels error messages.  Same validation as open. */
int iris_gguf_parse(iris_gguf *g, const void *buf, size_t len, const char *name);
/* ggml's name for a type id ("Q4_K"), or NULL for an id it does not define. */
const char *iris_ggml_type_name(uint32_t ggml_type);

const iris_gguf_kv *iris_gguf_find(const iris_gguf *g, const char *key);
/* Typed accessors: return dflt when the key is missing or not numeric/string. */
int64_t iris_gguf_get_int(const iris_gguf *g, const char *key, int64_t dflt);
double iris_gguf_get_float(const iris_gguf *g, const char *key, double dflt);
/* Returns a malloc'd NUL-terminated copy, or NULL when missing. */
char *iris_gguf_get_str(const iris_gguf *g, const char *key);
/* Element i of an array value as a scalar kv (key NULL, type = element type,
 * strings pointing into the mapping); -1 when kv is not an array or i >= n. */
int iris_gguf_arr_elem(const iris_gguf_kv *kv, uint64_t i, iris_gguf_kv *out);
const iris_gguf_tensor *iris_gguf_find_tensor(const iris_gguf *g, const char *name);

#endif

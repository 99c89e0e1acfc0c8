/* gguf_reader.h — bounds-checked cursor over a GGUF image (internal).
 *
 * Every read checks the remaining length first and sets an error naming the
 * file, the offset and what was being read, so the parser can never step
 * outside the buffer however the counts in the file lie.
 */
#ifndef IRIS_GGUF_READER_H
#define IRIS_GGUF_READER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;
    const char *path;
} gguf_reader;

static inline size_t gguf_remaining(const gguf_reader *r) { return r->len - r->pos; }

int gguf_read_bytes(gguf_reader *r, void *dst, size_t n, const char *what);
int gguf_read_u32(gguf_reader *r, uint32_t *v, const char *what);
int gguf_read_u64(gguf_reader *r, uint64_t *v, const char *what);
/* A length-prefixed string pointing into the buffer. */
int gguf_read_str(gguf_reader *r, iris_gguf_str *s, const char *what);
/* A length-prefixed string copied to a NUL-terminated malloc'd buffer;
 * empty strings and embedded NULs are rejected (names and keys). */
int gguf_read_name(gguf_reader *r, char **out, const char *what);

/* One key/value pair; on failure *kv holds only what iris_gguf_kv_free releases. */
int gguf_read_kv(gguf_reader *r, iris_gguf_kv *kv);
void gguf_kv_free(iris_gguf_kv *kv);

/* ggml type table: block size in elements and bytes per block; 0 when unknown. */
int ggml_type_block(uint32_t type, uint64_t *block_elems, uint64_t *block_bytes);

#endif

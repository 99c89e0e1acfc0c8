/* bytebuf.h — test helper: build binary files byte by byte in memory, patch
 * fields afterwards, and write them into a private temporary directory.
 * Allocation failures abort: these are tests. */
#ifndef IRIS_TEST_BYTEBUF_H
#define IRIS_TEST_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bytebuf;

void bb_put(bytebuf *b, const void *data, size_t n);
void bb_u8(bytebuf *b, uint8_t v);
void bb_u16(bytebuf *b, uint16_t v);
void bb_u32(bytebuf *b, uint32_t v);
void bb_u64(bytebuf *b, uint64_t v);
void bb_f32(bytebuf *b, float v);
void bb_f64(bytebuf *b, double v);
/* GGUF string: u64 length then the bytes. */
void bb_gguf_str(bytebuf *b, const char *s);
/* Zero bytes up to a multiple of align. */
void bb_pad(bytebuf *b, size_t align);
void bb_patch_u32(bytebuf *b, size_t pos, uint32_t v);
void bb_patch_u64(bytebuf *b, size_t pos, uint64_t v);
void bb_free(bytebuf *b);

/* A fresh directory under $TMPDIR (or /tmp), removed by test_rmdir. */
char *test_mkdtemp(void);
void test_rmdir(const char *dir);
/* dir/name, malloc'd. */
char *test_path(const char *dir, const char *name);
void test_write_file(const char *path, const void *data, size_t len);
/* An exact-size heap copy so AddressSanitizer sees any read past the end. */
void *test_exact_copy(const void *data, size_t len);

#endif

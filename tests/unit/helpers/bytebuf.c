#include "bytebuf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "test helper: out of memory\n");
        abort();
    }
    return p;
}

void bb_put(bytebuf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = must(realloc(b->p, cap));
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

void bb_u8(bytebuf *b, uint8_t v) { bb_put(b, &v, 1); }
void bb_u16(bytebuf *b, uint16_t v) { bb_put(b, &v, 2); }
void bb_u32(bytebuf *b, uint32_t v) { bb_put(b, &v, 4); }
void bb_u64(bytebuf *b, uint64_t v) { bb_put(b, &v, 8); }
void bb_f32(bytebuf *b, float v) { bb_put(b, &v, 4); }
void bb_f64(bytebuf *b, double v) { bb_put(b, &v, 8); }

void bb_gguf_str(bytebuf *b, const char *s)
{
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}

void bb_pad(bytebuf *b, size_t align)
{
    while (b->len % align) bb_u8(b, 0);
}

void bb_patch_u32(bytebuf *b, size_t pos, uint32_t v) { memcpy(b->p + pos, &v, 4); }
void bb_patch_u64(bytebuf *b, size_t pos, uint64_t v) { memcpy(b->p + pos, &v, 8); }

void bb_free(bytebuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

char *test_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *t = must(malloc(4096));
    snprintf(t, 4096, "%s/iris-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(t)) {
        perror("mkdtemp");
        abort();
    }
    return t;
}

void test_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = test_path(dir, e->d_name);
            if (unlink(p) != 0) test_rmdir(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

char *test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = must(malloc(n));
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

void *test_exact_copy(const void *data, size_t len)
{
    void *p = must(malloc(len ? len : 1));
    if (len) memcpy(p, data, len);
    return p;
}

/* zip_reader.c — validated central-directory listing for torch.save archives.
 * Every field read is bounds-checked against the buffer first; sizes are
 * 64-bit throughout so a zip64 archive over 4 GiB lists correctly. */
#include "zip_reader.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "name_index.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define EOCD_LEN 22
#define LOCATOR64_LEN 20
#define EOCD64_LEN 56
#define CENTRAL_LEN 46
#define LOCAL_LEN 30

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

int iris_zip_looks_like(const void *buf, size_t len)
{
    return len >= 4 && rd32(buf) == SIG_LOCAL;
}

/* The end-of-central-directory record: the last signature match that sits
 * where its comment length says it should. */
static const uint8_t *find_eocd(const uint8_t *b, size_t len)
{
    if (len < EOCD_LEN) return NULL;
    size_t lowest = len - EOCD_LEN > 65535 ? len - EOCD_LEN - 65535 : 0;
    for (size_t i = len - EOCD_LEN + 1; i-- > lowest;)
        if (rd32(b + i) == SIG_EOCD && i + EOCD_LEN + rd16(b + i + 20) == len) return b + i;
    return NULL;
}

/* Replaces the 0xffffffff placeholders of a central entry from its zip64
 * extra field (order fixed by the format: uncompressed, compressed, offset). */
static int read_zip64_extra(const uint8_t *extra, size_t n, uint64_t *usize, uint64_t *csize,
                            uint64_t *offset)
{
    while (n >= 4) {
        uint16_t id = rd16(extra), sz = rd16(extra + 2);
        if ((size_t)sz + 4 > n) return -1;
        if (id == 0x0001) {
            const uint8_t *p = extra + 4;
            size_t left = sz;
            uint64_t *fields[3] = {usize, csize, offset};
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != 0xffffffffu) continue;
                if (left < 8) return -1;
                *fields[k] = rd64(p);
                p += 8;
                left -= 8;
            }
            return 0;
        }
        extra += 4 + sz;
        n -= 4 + (size_t)sz;
    }
    return 0;
}

static int fail(iris_zip *z, const char *what)
{
    iris_set_error("%s: not a valid zip archive (%s)", z->label, what);
    iris_zip_free(z);
    return -1;
}

int iris_zip_parse(iris_zip *z, const void *buf, size_t len, const char *label)
{
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->len = len;
    z->label = label;
    const uint8_t *b = buf;
    const uint8_t *eocd = find_eocd(b, len);
    if (!eocd) return fail(z, "no end of central directory record");
    uint64_t n = rd16(eocd + 10), cd_size = rd32(eocd + 12), cd_off = rd32(eocd + 16);
    size_t eocd_pos = (size_t)(eocd - b);
    if (n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        if (eocd_pos < LOCATOR64_LEN || rd32(eocd - LOCATOR64_LEN) != SIG_LOCATOR64)
            return fail(z, "zip64 locator missing");
        uint64_t rec = rd64(eocd - LOCATOR64_LEN + 8);
        if (rec > eocd_pos - LOCATOR64_LEN || eocd_pos - LOCATOR64_LEN - rec < EOCD64_LEN ||
            rd32(b + rec) != SIG_EOCD64)
            return fail(z, "zip64 end of central directory record out of place");
        n = rd64(b + rec + 32);
        cd_size = rd64(b + rec + 40);
        cd_off = rd64(b + rec + 48);
    }
    if (cd_off > len || cd_size > len - cd_off) return fail(z, "central directory outside the file");
    if (n > cd_size / CENTRAL_LEN) return fail(z, "entry count exceeds the central directory");
    z->entries = calloc(n ? n : 1, sizeof *z->entries);
    z->index = iris_name_index_new(n);
    if (!z->entries || !z->index) {
        iris_set_error("%s: out of memory", label);
        iris_zip_free(z);
        return -1;
    }
    const uint8_t *p = b + cd_off, *end = p + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if ((size_t)(end - p) < CENTRAL_LEN || rd32(p) != SIG_CENTRAL)
            return fail(z, "bad central directory entry");
        size_t name_len = rd16(p + 28), extra_len = rd16(p + 30), comment_len = rd16(p + 32);
        if ((size_t)(end - p) - CENTRAL_LEN < name_len + extra_len + comment_len)
            return fail(z, "central directory entry overruns the directory");
        uint64_t csize = rd32(p + 20), usize = rd32(p + 24), local = rd32(p + 42);
        if (read_zip64_extra(p + CENTRAL_LEN + name_len, extra_len, &usize, &csize, &local) != 0)
            return fail(z, "bad zip64 extra field");
        iris_zip_entry *e = &z->entries[i];
        e->method = rd16(p + 10);
        e->encrypted = rd16(p + 8) & 1;
        e->size = csize;
        if (!(e->name = malloc(name_len + 1))) {
            iris_set_error("%s: out of memory", label);
            iris_zip_free(z);
            return -1;
        }
        memcpy(e->name, p + CENTRAL_LEN, name_len);
        e->name[name_len] = 0;
        z->n_entries = (int)i + 1;
        if (strlen(e->name) != name_len) return fail(z, "NUL byte in an entry name");
        /* the data follows the local header, whose name/extra lengths may differ */
        if (local > len || len - local < LOCAL_LEN || rd32(b + local) != SIG_LOCAL)
            return fail(z, "local header outside the file");
        uint64_t data = local + LOCAL_LEN + rd16(b + local + 26) + rd16(b + local + 28);
        if (data > len || csize > len - data) {
            iris_set_error("%s: zip entry '%s' extends past the end of the file (truncated?)",
                           label, e->name);
            iris_zip_free(z);
            return -1;
        }
        if (e->method == 0 && csize != usize) return fail(z, "stored entry with two sizes");
        e->offset = data;
        int rc = iris_name_index_put(z->index, e->name, (int64_t)i);
        if (rc != 0) {
            if (rc > 0) iris_set_error("%s: zip entry '%s' appears twice", label, e->name);
            else iris_set_error("%s: out of memory", label);
            iris_zip_free(z);
            return -1;
        }
        p += CENTRAL_LEN + name_len + extra_len + comment_len;
    }
    return 0;
}

void iris_zip_free(iris_zip *z)
{
    for (int i = 0; z->entries && i < z->n_entries; i++) free(z->entries[i].name);
    free(z->entries);
    iris_name_index_free(z->index);
    z->entries = NULL;
    z->index = NULL;
    z->n_entries = 0;
}

const iris_zip_entry *iris_zip_find(const iris_zip *z, const char *name)
{
    int64_t i = iris_name_index_get(z->index, name);
    return i < 0 ? NULL : &z->entries[i];
}

const uint8_t *iris_zip_data(const iris_zip *z, const char *name, uint64_t *size)
{
    const iris_zip_entry *e = iris_zip_find(z, name);
    if (!e) {
        iris_set_error("%s: no entry '%s' in the archive", z->label, name);
        return NULL;
    }
    if (e->method != 0 || e->encrypted) {
        iris_set_error("%s: entry '%s' is %s; iris reads only stored (uncompressed) entries as "
                       "torch.save writes them", z->label, name,
                       e->encrypted ? "encrypted" : "compressed");
        return NULL;
    }
    *size = e->size;
    return z->buf + e->offset;
}

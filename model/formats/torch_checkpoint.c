/* torch_checkpoint.c — a torch.save zip archive as an iris_safetensors set. */
#include "torch_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "file_map.h"
#include "name_index.h"
#include "torch_pickle.h"
#include "zip_reader.h"

/* The legacy format starts with a protocol-2 pickle of the magic number
 * 0x1950a86a20f9469cfc6c: PROTO 2, LONG1 10 bytes. */
static const unsigned char LEGACY_MAGIC[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                             0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static int is_legacy(const void *buf, size_t len)
{
    return len >= sizeof LEGACY_MAGIC && memcmp(buf, LEGACY_MAGIC, sizeof LEGACY_MAGIC) == 0;
}

int iris_torch_looks_like(const void *buf, size_t len)
{
    return iris_zip_looks_like(buf, len) || is_legacy(buf, len);
}

typedef struct {
    const iris_zip *z;
    char prefix[256];
} archive;

static const uint8_t *storage_bytes(void *ctx, const char *key, uint64_t *nbytes)
{
    const archive *a = ctx;
    char name[600];
    if ((size_t)snprintf(name, sizeof name, "%s/data/%s", a->prefix, key) >= sizeof name) {
        iris_set_error("%s: storage key '%.64s' too long", a->z->label, key);
        return NULL;
    }
    return iris_zip_data(a->z, name, nbytes);
}

/* The archive's single top-level folder: the one holding data.pkl. */
static int find_prefix(const iris_zip *z, archive *a)
{
    int found = 0;
    for (int i = 0; i < z->n_entries; i++) {
        const char *n = z->entries[i].name, *slash = strchr(n, '/');
        if (!slash || strcmp(slash, "/data.pkl") != 0) continue;
        if (found++) {
            iris_set_error("%s: more than one data.pkl in the archive", z->label);
            return -1;
        }
        size_t pl = (size_t)(slash - n);
        if (pl >= sizeof a->prefix) {
            iris_set_error("%s: archive folder name too long", z->label);
            return -1;
        }
        memcpy(a->prefix, n, pl);
        a->prefix[pl] = 0;
    }
    if (!found) iris_set_error("%s: zip archive without <name>/data.pkl: not a torch.save file",
                               z->label);
    return found ? 0 : -1;
}

static int check_byteorder(const iris_zip *z, const archive *a)
{
    char name[300];
    snprintf(name, sizeof name, "%s/byteorder", a->prefix);
    if (!iris_zip_find(z, name)) return 0; /* older writers: always little-endian */
    uint64_t n;
    const uint8_t *p = iris_zip_data(z, name, &n);
    if (!p) return -1;
    if (n == 6 && memcmp(p, "little", 6) == 0) return 0;
    iris_set_error("%s: written on a big-endian machine; iris reads little-endian checkpoints",
                   z->label);
    return -1;
}

int iris_torch_parse(iris_safetensors *st, const void *buf, size_t len, const char *name)
{
    memset(st, 0, sizeof *st);
    if (is_legacy(buf, len)) {
        iris_set_error("%s: legacy torch.save format (before PyTorch 1.6 or "
                       "_use_new_zipfile_serialization=False) is not supported; re-save it "
                       "with torch.save in PyTorch >= 1.6 or convert it to safetensors", name);
        return -1;
    }
    if (!(st->path = strdup(name))) {
        iris_set_error("%s: out of memory", name);
        return -1;
    }
    iris_zip z;
    if (iris_zip_parse(&z, buf, len, st->path) != 0) {
        iris_st_close(st);
        return -1;
    }
    archive a = {&z, {0}};
    uint64_t pkl_len;
    const uint8_t *pkl = NULL;
    char pkl_name[300];
    int rc = -1;
    if (find_prefix(&z, &a) == 0 && check_byteorder(&z, &a) == 0) {
        snprintf(pkl_name, sizeof pkl_name, "%s/data.pkl", a.prefix);
        pkl = iris_zip_data(&z, pkl_name, &pkl_len);
    }
    if (pkl) {
        /* strided views are copied: allow at most the file's size plus 64 MiB */
        iris_torch_pickle_opts o = {st->path, storage_bytes, &a, (uint64_t)len + (64u << 20)};
        rc = iris_torch_unpickle(pkl, (size_t)pkl_len, &o, &st->tensors, &st->n_tensors);
    }
    iris_zip_free(&z);
    if (rc == 0) {
        st->from_torch = 1;
        st->map = (void *)buf;
        st->map_len = len;
        st->index = iris_name_index_new((size_t)st->n_tensors);
        if (!st->index) {
            iris_set_error("%s: out of memory", name);
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < st->n_tensors; i++)
            if (iris_name_index_put(st->index, st->tensors[i].name, i) < 0) {
                iris_set_error("%s: out of memory", name);
                rc = -1;
            }
    }
    if (rc != 0) iris_st_close(st);
    return rc;
}

int iris_torch_open(iris_safetensors *st, const char *path)
{
    void *map;
    size_t len;
    memset(st, 0, sizeof *st);
    if (iris_map_file(path, &map, &len) != 0) return -1;
    if (iris_torch_parse(st, map, len, path) != 0) {
        iris_unmap_file(map, len);
        return -1;
    }
    st->mapped = 1;
    return 0;
}

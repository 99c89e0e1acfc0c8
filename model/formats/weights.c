/* weights.c — opening a model's weights (GGUF file, safetensors file, or a
 * Hugging Face directory, sharded or not) behind one hashed name lookup. */
#include "weights.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/error.h"
#include "name_index.h"
#include "torch_checkpoint.h"

#define INDEX_JSON "model.safetensors.index.json"
#define SINGLE_ST "model.safetensors"
#define TORCH_INDEX_JSON "pytorch_model.bin.index.json"
#define TORCH_SINGLE "pytorch_model.bin"

/* Opens one file of a set: safetensors, or a torch.save checkpoint. */
typedef int (*file_opener)(iris_safetensors *st, const char *path);

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* GGUF files are recognised by their magic too: Hub cache blobs have no
 * extension. */
static int has_gguf_magic(const char *path)
{
    char magic[4];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    fclose(f);
    return ok;
}

/* torch.save files by their first bytes (zip, or the legacy pickle, which
 * iris_torch_open then refuses with a message saying so). */
static int has_torch_magic(const char *path)
{
    unsigned char head[16];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return iris_torch_looks_like(head, n);
}

/* Reads a whole (small) JSON file; NULL with an error naming it. */
static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        iris_set_error("%s: cannot open", path);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = cap > (64u << 20) ? NULL : realloc(buf, cap);
            if (!nb) {
                iris_set_error("%s: too large or out of memory", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    cJSON *j = err ? NULL : cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!j) iris_set_error("%s: %s", path, err ? "read error" : "not valid JSON");
    return j;
}

/* Adds every tensor of file f to the index; duplicates across shards are errors. */
static int index_file(iris_weights *w, int f)
{
    const iris_safetensors *st = &w->st[f];
    for (int i = 0; i < st->n_tensors; i++) {
        int rc = iris_name_index_put(w->index, st->tensors[i].name, ((int64_t)f << 32) | i);
        if (rc != 0) {
            int64_t other = iris_name_index_get(w->index, st->tensors[i].name);
            if (rc > 0)
                iris_set_error("%s: tensor '%s' is also in %s", st->path, st->tensors[i].name,
                               w->st[other >> 32].path);
            else
                iris_set_error("%s: out of memory", st->path);
            return -1;
        }
    }
    return 0;
}

static int open_single(iris_weights *w, const char *file, file_opener open_file)
{
    w->st = calloc(1, sizeof *w->st);
    if (!w->st) {
        iris_set_error("%s: out of memory", file);
        return -1;
    }
    if (open_file(&w->st[0], file) != 0) return -1;
    w->n_files = 1;
    w->index = iris_name_index_new((size_t)w->st[0].n_tensors);
    if (!w->index) {
        iris_set_error("%s: out of memory", file);
        return -1;
    }
    return index_file(w, 0);
}

/* Opens the shards named in weight_map (each once) and checks the map. */
static int open_sharded(iris_weights *w, const char *dir, const char *index_path,
                        file_opener open_file, const char *index_name)
{
    cJSON *root = read_json(index_path);
    if (!root) return -1;
    int rc = -1;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    iris_name_index *shards = NULL;
    char *shard_path = NULL;
    int n_entries = cJSON_GetArraySize(map);
    if (!cJSON_IsObject(map) || n_entries == 0) {
        iris_set_error("%s: no weight_map object", index_path);
        goto done;
    }
    shards = iris_name_index_new(16);
    w->st = calloc((size_t)n_entries, sizeof *w->st); /* at most one shard per entry */
    w->index = iris_name_index_new((size_t)n_entries);
    if (!shards || !w->st || !w->index) {
        iris_set_error("%s: out of memory", index_path);
        goto done;
    }
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/')) {
            iris_set_error("%s: weight_map entry '%s' is not a plain file name", index_path,
                           e->string);
            goto done;
        }
        int64_t f = iris_name_index_get(shards, e->valuestring);
        if (f < 0) {
            f = w->n_files;
            free(shard_path);
            if (!(shard_path = join(dir, e->valuestring))) {
                iris_set_error("%s: out of memory", index_path);
                goto done;
            }
            if (!is_file(shard_path)) {
                iris_set_error("%s: shard listed in %s is missing", shard_path, index_name);
                goto done;
            }
            if (open_file(&w->st[f], shard_path) != 0) goto done;
            w->n_files++;
            /* key the shard table by the opened file's own copy of the name */
            const char *base = strrchr(w->st[f].path, '/') + 1;
            if (iris_name_index_put(shards, base, f) < 0) {
                iris_set_error("%s: out of memory", index_path);
                goto done;
            }
            if (index_file(w, (int)f) != 0) goto done;
        }
        if (!iris_st_find(&w->st[f], e->string)) {
            iris_set_error("%s: tensor '%s' listed in %s is not in the shard", w->st[f].path,
                           e->string, index_name);
            goto done;
        }
    }
    rc = 0;
done:
    free(shard_path);
    iris_name_index_free(shards);
    cJSON_Delete(root);
    return rc;
}

int iris_weights_open(iris_weights *w, const char *path)
{
    memset(w, 0, sizeof *w);
    struct stat st;
    if (stat(path, &st) != 0) {
        iris_set_error("%s: no such file or directory", path);
        return -1;
    }
    if (!(w->path = strdup(path))) {
        iris_set_error("%s: out of memory", path);
        return -1;
    }
    int rc;
    if (S_ISDIR(st.st_mode)) {
        /* safetensors first: a directory holding both formats (common on the
         * Hub) is read without running any pickle */
        char *index_path = join(path, INDEX_JSON), *single = join(path, SINGLE_ST);
        char *t_index = join(path, TORCH_INDEX_JSON), *t_single = join(path, TORCH_SINGLE);
        if (!index_path || !single || !t_index || !t_single) {
            iris_set_error("%s: out of memory", path);
            rc = -1;
        } else if (is_file(index_path)) {
            rc = open_sharded(w, path, index_path, iris_st_open, INDEX_JSON);
        } else if (is_file(single)) {
            rc = open_single(w, single, iris_st_open);
        } else if (is_file(t_index)) {
            rc = open_sharded(w, path, t_index, iris_torch_open, TORCH_INDEX_JSON);
        } else if (is_file(t_single)) {
            rc = open_single(w, t_single, iris_torch_open);
        } else {
            iris_set_error("%s: no %s, %s, %s or %s in this directory", path, SINGLE_ST,
                           INDEX_JSON, TORCH_SINGLE, TORCH_INDEX_JSON);
            rc = -1;
        }
        free(index_path);
        free(single);
        free(t_index);
        free(t_single);
    } else if (ends_with(path, ".gguf") || has_gguf_magic(path)) {
        w->gguf = calloc(1, sizeof *w->gguf);
        rc = w->gguf ? iris_gguf_open(w->gguf, path) : -1;
        if (!w->gguf) iris_set_error("%s: out of memory", path);
        if (rc != 0) {
            free(w->gguf);
            w->gguf = NULL;
        }
    } else if (ends_with(path, ".safetensors")) {
        rc = open_single(w, path, iris_st_open);
    } else if (ends_with(path, ".bin") || ends_with(path, ".pt") || ends_with(path, ".pth") ||
               has_torch_magic(path)) {
        rc = open_single(w, path, iris_torch_open);
    } else {
        iris_set_error("%s: not a model directory, .gguf, .safetensors or torch.save "
                       "(.bin/.pt/.pth) file", path);
        rc = -1;
    }
    if (rc != 0) iris_weights_close(w);
    return rc;
}

void iris_weights_close(iris_weights *w)
{
    for (int i = 0; w->st && i < w->n_files; i++) iris_st_close(&w->st[i]);
    free(w->st);
    if (w->gguf) iris_gguf_close(w->gguf);
    free(w->gguf);
    iris_name_index_free(w->index);
    free(w->path);
    memset(w, 0, sizeof *w);
}

/* Finds a tensor with the file that holds it and its dtype spelling. */
static const iris_tensor *locate(const iris_weights *w, const char *name, const char **file,
                                 const char **dtype)
{
    if (w->gguf) {
        const iris_gguf_tensor *t = iris_gguf_find_tensor(w->gguf, name);
        if (!t) return NULL;
        *file = w->gguf->path;
        *dtype = t->ggml_type_name;
        return &t->t;
    }
    int64_t v = iris_name_index_get(w->index, name);
    if (v < 0) return NULL;
    const iris_st_tensor *t = &w->st[v >> 32].tensors[v & 0xffffffff];
    *file = w->st[v >> 32].path;
    *dtype = t->dtype_name;
    return &t->t;
}

const iris_tensor *iris_weights_find(const iris_weights *w, const char *name)
{
    const char *file, *dtype;
    return locate(w, name, &file, &dtype);
}

const char *iris_weights_file_of(const iris_weights *w, const char *name)
{
    const char *file = NULL, *dtype;
    return locate(w, name, &file, &dtype) ? file : NULL;
}

const char *iris_weights_dtype_name(const iris_weights *w, const char *name)
{
    const char *file, *dtype = NULL;
    return locate(w, name, &file, &dtype) ? dtype : NULL;
}

const iris_tensor *iris_weights_get(const iris_weights *w, const char *name)
{
    const char *file, *dtype;
    const iris_tensor *t = locate(w, name, &file, &dtype);
    if (!t) {
        iris_set_error("%s: no tensor '%s'", w->path, name);
        return NULL;
    }
    if ((int)t->dtype < 0) {
        iris_set_error("%s: tensor '%s' has dtype %s, which iris cannot compute with", file,
                       name, dtype);
        return NULL;
    }
    return t;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

const iris_tensor *iris_weights_get_shaped(const iris_weights *w, const char *name, int ndim,
                                           const int64_t *shape)
{
    const iris_tensor *t = iris_weights_get(w, name);
    if (!t) return NULL;
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char have[128], want[128];
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        iris_set_error("%s: tensor '%s' has shape %s, expected %s",
                       iris_weights_file_of(w, name), name, have, want);
        return NULL;
    }
    return t;
}

/* inspect_collect.c — the tensor list and value sums behind `iris inspect`. */
#include <stdlib.h>
#include <string.h>

#include "inspect.h"

int inspect_collect(const iris_weights *w, inspect_tensor **out, size_t *n)
{
    size_t total = 0, k = 0;
    if (w->gguf) total = (size_t)w->gguf->n_tensors;
    for (int f = 0; f < w->n_files; f++) total += (size_t)w->st[f].n_tensors;
    inspect_tensor *ts = calloc(total ? total : 1, sizeof *ts);
    if (!ts) return -1;
    if (w->gguf) {
        for (uint64_t i = 0; i < w->gguf->n_tensors; i++, k++) {
            const iris_gguf_tensor *g = &w->gguf->tensors[i];
            ts[k] = (inspect_tensor){g->name, g->ggml_type_name, &g->t, g->nbytes};
        }
    }
    for (int f = 0; f < w->n_files; f++)
        for (int i = 0; i < w->st[f].n_tensors; i++, k++) {
            const iris_st_tensor *s = &w->st[f].tensors[i];
            ts[k] = (inspect_tensor){s->name, s->dtype_name, &s->t, s->nbytes};
        }
    *out = ts;
    *n = k;
    return 0;
}

int inspect_sums(const iris_tensor *t, double *sum, double *sumsq)
{
    enum { CHUNK = 65536 }; /* a multiple of every block size */
    if ((int)t->dtype < 0) return -1;
    int64_t numel = iris_tensor_numel(t);
    float *vals = malloc(CHUNK * sizeof *vals);
    /* raw bytes are copied out first: the mapping need not be aligned for
     * every reader, and the converters expect aligned input */
    void *raw = malloc(iris_dtype_row_bytes(IRIS_F32, CHUNK));
    if (!vals || !raw) {
        free(vals);
        free(raw);
        return -1;
    }
    double s = 0, s2 = 0;
    const char *p = t->data;
    for (int64_t at = 0; at < numel; at += CHUNK) {
        int64_t m = numel - at < CHUNK ? numel - at : CHUNK;
        size_t bytes = iris_dtype_row_bytes(t->dtype, m);
        memcpy(raw, p, bytes);
        p += bytes;
        iris_to_f32(t->dtype, raw, vals, m);
        for (int64_t i = 0; i < m; i++) {
            s += vals[i];
            s2 += (double)vals[i] * vals[i];
        }
    }
    free(vals);
    free(raw);
    *sum = s;
    *sumsq = s2;
    return 0;
}

/* llama_bind.c — binding a decoder's tensors by name: lookup, shape and dtype
 * checks with one-line messages naming tensor and file, upload to the
 * backend; and row slices of fused matrices (see llama_internal.h). */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "llama_internal.h"

/* Checks t against [d0] / [d0, d1] and uploads it; name is for messages. */
static int bind_tensor(iris_llama_binder *b, iris_tensor *dst, const iris_tensor *t, const char *name,
                       int ndim, int64_t d0, int64_t d1)
{
    int64_t shape[2] = {d0, d1};
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        char got[96] = "", want[64];
        for (int i = 0; i < t->ndim; i++) {
            size_t l = strlen(got);
            snprintf(got + l, sizeof got - l, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        }
        if (ndim == 1) snprintf(want, sizeof want, "%lld", (long long)d0);
        else snprintf(want, sizeof want, "%lld,%lld", (long long)d0, (long long)d1);
        iris_set_error("%s: tensor '%s' has shape [%s], expected [%s]", b->w->path, name, got, want);
        return -1;
    }
    if ((int)t->dtype < 0 || t->dtype == IRIS_I32) {
        iris_set_error("%s: tensor '%s' has a dtype iris cannot compute with", b->w->path, name);
        return -1;
    }
    if (ndim == 1 && t->dtype == IRIS_Q8_0) {
        iris_set_error("%s: tensor '%s': quantised vectors are not supported", b->w->path, name);
        return -1;
    }
    if (b->be->weight_upload(dst, t)) {
        iris_set_error("%s: cannot load tensor '%s' on the %s backend: %s", b->w->path, name,
                       b->be->name, b->be->error ? (b->be->error() ? b->be->error() : "") : "");
        return -1;
    }
    return 0;
}

int iris_llama_bind(iris_llama_binder *b, iris_tensor *dst, const char *name, int ndim, int64_t d0,
                    int64_t d1, int optional)
{
    const iris_tensor *t = iris_weights_find(b->w, name);
    if (!t) {
        if (optional) {
            memset(dst, 0, sizeof *dst);
            return 0;
        }
        iris_set_error("%s: tensor '%s' is missing", b->w->path, name);
        return -1;
    }
    return bind_tensor(b, dst, t, name, ndim, d0, d1);
}

int iris_llama_bind_rows(iris_llama_binder *b, iris_tensor *dst, const iris_tensor *src,
                         const char *name, int64_t row0, int64_t rows)
{
    if (src->ndim < 1 || src->ndim > 2 || row0 < 0 || rows <= 0 || row0 + rows > src->shape[0] ||
        (int)src->dtype < 0 || src->dtype >= IRIS_DTYPE_COUNT) {
        iris_set_error("%s: tensor '%s' cannot be split into rows %lld..%lld", b->w->path, name,
                       (long long)row0, (long long)(row0 + rows));
        return -1;
    }
    iris_tensor v = *src;
    int64_t cols = src->ndim == 2 ? src->shape[1] : 1;
    if (src->ndim == 1 && src->dtype == IRIS_Q8_0) {
        iris_set_error("%s: tensor '%s': quantised vectors are not supported", b->w->path, name);
        return -1;
    }
    size_t row_bytes = iris_dtype_row_bytes(src->dtype, cols);
    if (!row_bytes) {
        iris_set_error("%s: tensor '%s' has rows iris cannot slice", b->w->path, name);
        return -1;
    }
    v.shape[0] = rows;
    v.data = (char *)src->data + (size_t)row0 * row_bytes;
    v.owns_data = 0;
    return bind_tensor(b, dst, &v, name, src->ndim, rows, cols);
}

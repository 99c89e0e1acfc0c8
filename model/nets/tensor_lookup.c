/* tensor_lookup.c — see tensor_lookup.h. */
#include "tensor_lookup.h"

#include <stdio.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/error.h"
#include "../formats/weights.h"

const iris_tensor *iris_weights_lookup(void *weights, const char *name)
{
    return iris_weights_find((const iris_weights *)weights, name);
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "x" : "", (long long)shape[i]);
}

const iris_tensor *iris_lookup_shaped(iris_tensor_lookup fn, void *ctx, const char *name, int ndim,
                                      const int64_t *shape, int optional, int *err)
{
    const iris_tensor *t = fn(ctx, name);
    if (!t) {
        if (!optional) {
            iris_set_error("tensor %s is missing", name);
            *err = 1;
        }
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[64], got[64];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        iris_set_error("tensor %s has shape %s, expected %s", name, got, want);
        *err = 1;
        return NULL;
    }
    if (t->dtype != IRIS_F32 && t->dtype != IRIS_F16 && t->dtype != IRIS_BF16 &&
        !(t->dtype == IRIS_Q8_0 && ndim == 2)) {
        iris_set_error("tensor %s: dtype %s is not supported here", name, iris_dtype_name(t->dtype));
        *err = 1;
        return NULL;
    }
    return t;
}

int iris_read_scalar(const iris_backend *be, const iris_tensor *t, float *out)
{
    unsigned char raw[4];
    size_t bytes = t->dtype == IRIS_F32 ? 4 : 2;
    if (t->dtype != IRIS_F32 && t->dtype != IRIS_F16 && t->dtype != IRIS_BF16) {
        iris_set_error("a scalar of dtype %s cannot be read", iris_dtype_name(t->dtype));
        return -1;
    }
    if (be->download(raw, t->data, bytes)) {
        iris_set_error("cannot read a scalar weight: %s", be->error() ? be->error() : "download failed");
        return -1;
    }
    iris_to_f32(t->dtype, raw, out, 1);
    return 0;
}

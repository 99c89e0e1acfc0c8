#include "tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const dtype_names[IRIS_DTYPE_COUNT] = {"F32", "F16", "BF16", "I32", "Q8_0"};

const char *iris_dtype_name(iris_dtype t)
{
    return (unsigned)t < IRIS_DTYPE_COUNT ? dtype_names[t] : "unknown";
}

int iris_dtype_from_name(const char *name)
{
    for (int i = 0; i < IRIS_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_names[i]) == 0) return i;
    return -1;
}

size_t iris_dtype_row_bytes(iris_dtype t, int64_t n)
{
    if (n < 0) return 0;
    switch (t) {
    case IRIS_F32: case IRIS_I32: return (size_t)n * 4;
    case IRIS_F16: case IRIS_BF16: return (size_t)n * 2;
    case IRIS_Q8_0:
        if (n % IRIS_Q8_0_BLOCK) return 0;
        return (size_t)(n / IRIS_Q8_0_BLOCK) * IRIS_Q8_0_BLOCK_BYTES;
    default: return 0;
    }
}

int64_t iris_tensor_numel(const iris_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int64_t iris_tensor_cols(const iris_tensor *t)
{
    return t->ndim ? t->shape[t->ndim - 1] : 1;
}

int64_t iris_tensor_rows(const iris_tensor *t)
{
    int64_t c = iris_tensor_cols(t);
    return c ? iris_tensor_numel(t) / c : 0;
}

size_t iris_tensor_bytes(const iris_tensor *t)
{
    return iris_tensor_rows(t) * iris_dtype_row_bytes(t->dtype, iris_tensor_cols(t));
}

int iris_tensor_alloc(iris_tensor *t, iris_dtype dt, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > IRIS_MAX_DIMS) return -1;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    size_t bytes = iris_tensor_bytes(t);
    t->data = calloc(1, bytes ? bytes : 1);
    if (!t->data) return -1;
    t->owns_data = 1;
    return 0;
}

void iris_tensor_free(iris_tensor *t)
{
    if (t->owns_data) free(t->data);
    t->data = NULL;
    t->owns_data = 0;
}

float iris_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t iris_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0));
    if (absx >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* overflow */
    if (absx < 0x38800000) { /* subnormal or zero in f16 */
        float a;
        memcpy(&a, &absx, 4);
        /* scale so that the f16 subnormal unit becomes 1, round to nearest even */
        uint32_t m = (uint32_t)lrintf(a * 16777216.0f);
        return (uint16_t)(sign | m);
    }
    uint32_t e = ((absx >> 23) - 112) << 10;
    uint32_t m = (absx >> 13) & 0x3ff;
    uint32_t h = e | m;
    uint32_t rest = absx & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float iris_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t iris_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

void iris_q8_0_to_f32(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t b = 0; b < n / IRIS_Q8_0_BLOCK; b++) {
        uint16_t hs;
        memcpy(&hs, p, 2);
        float d = iris_f16_to_f32(hs);
        const int8_t *q = (const int8_t *)(p + 2);
        for (int i = 0; i < IRIS_Q8_0_BLOCK; i++) dst[b * IRIS_Q8_0_BLOCK + i] = d * q[i];
        p += IRIS_Q8_0_BLOCK_BYTES;
    }
}

void iris_to_f32(iris_dtype dt, const void *src, float *dst, int64_t n)
{
    switch (dt) {
    case IRIS_F32: memcpy(dst, src, (size_t)n * 4); break;
    case IRIS_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = iris_f16_to_f32(s[i]);
        break;
    }
    case IRIS_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = iris_bf16_to_f32(s[i]);
        break;
    }
    case IRIS_I32: {
        const int32_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i];
        break;
    }
    case IRIS_Q8_0: iris_q8_0_to_f32(src, dst, n); break;
    default: memset(dst, 0, (size_t)n * 4); break;
    }
}

void iris_tensor_row_to_f32(const iris_tensor *t, int64_t r, float *out)
{
    int64_t cols = iris_tensor_cols(t);
    const char *row = (const char *)t->data + r * iris_dtype_row_bytes(t->dtype, cols);
    iris_to_f32(t->dtype, row, out, cols);
}

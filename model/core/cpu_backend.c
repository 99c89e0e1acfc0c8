/* cpu_backend.c — the CPU backend's table, its memory ops and error state.
 *
 * Host memory is the backend's memory, so upload/download are copies and a
 * weight is used in place (weight_upload shares the mmap'd data).  Ops run
 * synchronously; sync() only reports the first recorded failure.
 */
#include "cpu_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char cpu_error_msg[512];
static int cpu_error_set;

void cpu_fail(const char *fmt, ...)
{
    int first;
#pragma omp critical(iris_cpu_error)
    {
        first = !cpu_error_set;
        cpu_error_set = 1;
    }
    if (!first) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cpu_error_msg, sizeof cpu_error_msg, fmt, ap);
    va_end(ap);
}

int cpu_failed(void)
{
    return cpu_error_set;
}

void iris_cpu_clear_error(void)
{
    cpu_error_set = 0;
    cpu_error_msg[0] = 0;
}

static const char *cpu_error(void)
{
    return cpu_error_set ? cpu_error_msg : NULL;
}

static int cpu_sync(void)
{
    return cpu_error_set ? -1 : 0;
}

int cpu_nthreads(void)
{
    return iris_cpu_threads();
}

void *cpu_alloc(size_t bytes)
{
    /* aligned_alloc wants a multiple of the alignment; round up (and never 0). */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) return NULL;
    if (!rounded) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void cpu_free(void *p)
{
    free(p);
}

static void *cpu_alloc_op(size_t bytes)
{
    void *p = cpu_alloc(bytes);
    if (!p) iris_set_error("cpu: out of memory allocating %zu bytes", bytes);
    return p;
}

static int cpu_memcpy(void *dst, const void *src, size_t bytes)
{
    if (bytes && (!dst || !src)) {
        iris_set_error("cpu: copy of %zu bytes with a NULL pointer", bytes);
        return -1;
    }
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int cpu_weight_upload(iris_tensor *dst, const iris_tensor *src)
{
    if (!src || !dst || (!src->data && iris_tensor_numel(src) > 0)) {
        iris_set_error("cpu: weight_upload of a tensor without data");
        return -1;
    }
    *dst = *src;
    dst->owns_data = 0; /* shares src's (usually mmap'd) data */
    return 0;
}

static void cpu_weight_free(iris_tensor *t)
{
    if (t) memset(t, 0, sizeof *t);
}

const float *cpu_vec_f32(const iris_tensor *t, int64_t n, float **owned, const char *what)
{
    *owned = NULL;
    if (!t->data || iris_tensor_numel(t) != n) {
        cpu_fail("cpu: %s has %lld elements, expected %lld", what,
                 (long long)iris_tensor_numel(t), (long long)n);
        return NULL;
    }
    if (t->dtype == IRIS_F32) return t->data;
    if (t->dtype == IRIS_Q8_0 ? n % IRIS_Q8_0_BLOCK != 0 : t->dtype == IRIS_I32) {
        cpu_fail("cpu: %s has unsupported dtype %s", what, iris_dtype_name(t->dtype));
        return NULL;
    }
    float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    if (!buf) {
        cpu_fail("cpu: out of memory converting %s", what);
        return NULL;
    }
    cpu_to_f32(t->dtype, t->data, buf, n);
    *owned = buf;
    return buf;
}

void cpu_copy(float *dst, const float *src, long n)
{
    if (n > 0 && dst != src) memmove(dst, src, (size_t)n * sizeof *dst);
}

static const iris_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc_op,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .weight_upload = cpu_weight_upload,
    .weight_free = cpu_weight_free,
    .sync = cpu_sync,
    .error = cpu_error,
    .linear = cpu_linear,
    .gemm = cpu_gemm,
    .rmsnorm = cpu_rmsnorm,
    .layernorm = cpu_layernorm,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .add = cpu_add,
    .scale = cpu_scale,
    .swiglu = cpu_swiglu,
    .geglu = cpu_geglu,
    .gelu = cpu_gelu,
    .gelu_tanh = cpu_gelu_tanh,
    .quick_gelu = cpu_quick_gelu,
    .silu = cpu_silu,
    .clamp = cpu_clamp,
    .softmax = cpu_softmax,
    .embedding = cpu_embedding,
    .copy = cpu_copy,
};

const iris_backend *iris_cpu_backend(void)
{
    iris_cpu_threads(); /* fixes OpenMP's and OpenBLAS's thread counts once */
    return &cpu_backend;
}

/* cuda_memory.c — device memory for activations and weights.
 *
 * Allocation failures never crash: they return NULL and record a message with
 * the bytes wanted and the bytes free, which is what a user needs to pick a
 * smaller model, batch or context.  Copies to and from the host are
 * synchronous (the caller reuses its buffer at once).
 *
 * Weights: matrices (2-D and up) become bf16 on the device whatever their file
 * dtype (f32, f16, bf16, Q8_0), converted by a kernel after the raw bytes are
 * uploaded — the tensor-core GEMMs read bf16 and it halves f32's footprint.
 * Vectors (1-D: norm weights, biases) stay f32: they are tiny, and rounding
 * them would only add error to ops that are exact in f32 on the CPU.
 */
#include "cuda_internal.h"

#include <string.h>

void *cuda_alloc(size_t bytes)
{
    if (cuda_init(NULL, 0)) {
        cuda_fail("cuda: alloc without a usable device");
        return NULL;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* OOM is not sticky: clear it */
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        (void)cudaGetLastError();
        cuda_fail("cuda: out of device memory: %zu bytes needed, %zu free of %zu (%s)",
                  bytes, free_b, total_b, cudaGetErrorString(e));
        return NULL;
    }
    if (cuda_check(cudaMemsetAsync(p, 0, bytes, cuda_stream()), "zeroing new memory")) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

void cuda_free(void *p)
{
    if (!p) return;
    /* cudaFree waits for the device; a failure here means an earlier kernel
     * broke the context, which the first-error record already explains. */
    cudaError_t e = cudaFree(p);
    if (e != cudaSuccess) cuda_check(e, "free");
}

int cuda_upload(void *dst, const void *src_host, size_t bytes)
{
    if (!bytes) return 0;
    if (cuda_failed()) return -1;
    if (!dst || !src_host) {
        cuda_fail("cuda: upload of %zu bytes with a NULL pointer", bytes);
        return -1;
    }
    if (cuda_check(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, cuda_stream()),
                   "upload"))
        return -1;
    return cuda_sync();
}

int cuda_download(void *dst_host, const void *src, size_t bytes)
{
    if (!bytes) return 0;
    if (cuda_failed()) return -1;
    if (!dst_host || !src) {
        cuda_fail("cuda: download of %zu bytes with a NULL pointer", bytes);
        return -1;
    }
    if (cuda_check(cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, cuda_stream()),
                   "download"))
        return -1;
    return cuda_sync();
}

static size_t src_bytes(const iris_tensor *t, int64_t numel)
{
    int64_t cols = t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
    if (t->dtype == IRIS_Q8_0) {
        if (cols % IRIS_Q8_0_BLOCK) return 0;
        return (size_t)(numel / IRIS_Q8_0_BLOCK) * IRIS_Q8_0_BLOCK_BYTES;
    }
    switch (t->dtype) {
    case IRIS_F32: return (size_t)numel * 4;
    case IRIS_F16:
    case IRIS_BF16: return (size_t)numel * 2;
    default: return 0;
    }
}

int cuda_weight_upload(iris_tensor *dst, const iris_tensor *src)
{
    if (!dst || !src) {
        cuda_fail("cuda: weight_upload with a NULL tensor");
        return -1;
    }
    if (cuda_failed()) return -1;
    int64_t numel = 1;
    if (src->ndim < 1 || src->ndim > IRIS_MAX_DIMS) {
        cuda_fail("cuda: weight_upload of a tensor with %d dimensions", src->ndim);
        return -1;
    }
    for (int i = 0; i < src->ndim; i++) {
        if (src->shape[i] < 0 || (src->shape[i] && numel > INT64_MAX / src->shape[i])) {
            cuda_fail("cuda: weight_upload of a tensor with an invalid shape");
            return -1;
        }
        numel *= src->shape[i];
    }
    size_t raw = src_bytes(src, numel);
    if (!raw && numel) {
        static const char *const names[] = {"F32", "F16", "BF16", "I32", "Q8_0"};
        unsigned dt = (unsigned)src->dtype;
        cuda_fail("cuda: cannot upload a %s weight with %lld columns as a weight",
                  dt < IRIS_DTYPE_COUNT ? names[dt] : "unknown", (long long)src->shape[src->ndim - 1]);
        return -1;
    }
    if (numel && !src->data) {
        cuda_fail("cuda: weight_upload of a tensor without data");
        return -1;
    }
    int as_f32 = src->ndim == 1;
    size_t out_bytes = (size_t)numel * (as_f32 ? 4 : 2);
    void *out = cuda_alloc(out_bytes);
    if (!out) return -1;
    if (numel) {
        int same = as_f32 ? src->dtype == IRIS_F32 : src->dtype == IRIS_BF16;
        if (same) {
            if (cuda_upload(out, src->data, raw)) goto fail;
        } else {
            void *staging = cuda_alloc(raw);
            if (!staging) goto fail;
            if (cuda_upload(staging, src->data, raw) == 0) {
                if (as_f32) cuda_convert_to_f32(out, staging, src->dtype, numel);
                else cuda_convert_to_bf16(out, staging, src->dtype, numel);
            }
            cuda_sync(); /* the staging buffer must outlive the conversion */
            cuda_free(staging);
            if (cuda_failed()) goto fail;
        }
    }
    memset(dst, 0, sizeof *dst);
    dst->dtype = as_f32 ? IRIS_F32 : IRIS_BF16;
    dst->ndim = src->ndim;
    memcpy(dst->shape, src->shape, sizeof dst->shape);
    dst->data = out;
    /* Device memory: iris_tensor_free must not free() it; weight_free does. */
    dst->owns_data = 0;
    return 0;
fail:
    cuda_free(out);
    return -1;
}

void cuda_weight_free(iris_tensor *t)
{
    if (!t) return;
    cuda_free(t->data);
    memset(t, 0, sizeof *t);
}

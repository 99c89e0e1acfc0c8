/* cuda_norm.cu — RMSNorm (with Gemma's 1 + w) and LayerNorm, one block per
 * row.  Statistics accumulate in double, as the CPU reference does, and
 * LayerNorm takes the variance of the deviations (two passes over the row,
 * the second from cache) so a large mean cannot cancel the variance away.
 * Weights may be f32 (what weight_upload makes of vectors) or bf16.
 */
#include "cuda_internal.h"
#include "cuda_reduce.cuh"

__global__ static void rmsnorm_kernel(float *y, const float *x, const void *w, int w_bf16,
                                      int d, float eps, int add_one)
{
    const float *xr = x + (long)blockIdx.x * d;
    float *yr = y + (long)blockIdx.x * d;
    double ss = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) ss += (double)xr[j] * xr[j];
    ss = block_sum(ss);
    float r = (float)(1.0 / sqrt(ss / d + eps));
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float wj = weight_at(w, w_bf16, j);
        yr[j] = xr[j] * r * (add_one ? 1.0f + wj : wj);
    }
}

__global__ static void layernorm_kernel(float *y, const float *x, const void *w, int w_bf16,
                                        const void *b, int b_bf16, int d, float eps)
{
    const float *xr = x + (long)blockIdx.x * d;
    float *yr = y + (long)blockIdx.x * d;
    double s = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) s += xr[j];
    double mean = block_sum(s) / d, var = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) var += (xr[j] - mean) * (xr[j] - mean);
    var = block_sum(var);
    float r = (float)(1.0 / sqrt(var / d + eps)), mf = (float)mean;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float v = (xr[j] - mf) * r;
        if (w) v *= weight_at(w, w_bf16, j);
        if (b) v += weight_at(b, b_bf16, j);
        yr[j] = v;
    }
}

/* 1 when t is a usable f32/bf16 device vector of d elements, else records why. */
static int vector_ok(const iris_tensor *t, int d, const char *what)
{
    int64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) numel *= t->shape[i];
    if (!t->data || t->ndim < 1 || numel != d || (t->dtype != IRIS_F32 && t->dtype != IRIS_BF16)) {
        cuda_fail("cuda: %s must be an uploaded vector of %d elements", what, d);
        return 0;
    }
    return 1;
}

extern "C" void cuda_rmsnorm(float *y, const float *x, const iris_tensor *w, int n, int d,
                             float eps, int add_one)
{
    if (cuda_failed() || n <= 0 || d <= 0) return;
    if (!w || !vector_ok(w, d, "rmsnorm weight")) {
        if (!w) cuda_fail("cuda: rmsnorm without a weight");
        return;
    }
    rmsnorm_kernel<<<n, row_threads(d), 0, cuda_stream()>>>(y, x, w->data, w->dtype == IRIS_BF16,
                                                              d, eps, add_one);
    cuda_check_launch("rmsnorm");
}

extern "C" void cuda_layernorm(float *y, const float *x, const iris_tensor *w,
                               const iris_tensor *b, int n, int d, float eps)
{
    if (cuda_failed() || n <= 0 || d <= 0) return;
    if ((w && !vector_ok(w, d, "layernorm weight")) || (b && !vector_ok(b, d, "layernorm bias")))
        return;
    layernorm_kernel<<<n, row_threads(d), 0, cuda_stream()>>>(
        y, x, w ? w->data : NULL, w && w->dtype == IRIS_BF16, b ? b->data : NULL,
        b && b->dtype == IRIS_BF16, d, eps);
    cuda_check_launch("layernorm");
}

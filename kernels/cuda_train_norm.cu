/* cuda_train_norm.cu — RMSNorm and LayerNorm backward.
 *
 * Three launches, so that dx may overwrite dy or x: per-row statistics
 * (1/rms, mean) into scratch; the weight gradients, one thread per column
 * summing over rows in a fixed order (deterministic, no atomics); then dx,
 * one block per row.  Sums are in double as in the forward kernels.
 *   RMSNorm:   g = dy * w',  dx = r g - x r^3 mean(g x),  dw += sum dy x r
 *   LayerNorm: g = dy * w,   dx = r (g - mean(g) - xhat mean(g xhat)),
 *              dw += sum dy xhat,  db += sum dy
 */
#include "cuda_internal.h"
#include "cuda_reduce.cuh"

__global__ static void row_stats_kernel(float *stats, const float *x, int d, float eps, int center)
{
    const float *xr = x + (long)blockIdx.x * d;
    double mean = 0.0;
    if (center) {
        double s = 0.0;
        for (int j = threadIdx.x; j < d; j += blockDim.x) s += xr[j];
        mean = block_sum(s) / d;
    }
    double ss = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) ss += (xr[j] - mean) * (xr[j] - mean);
    ss = block_sum(ss);
    if (threadIdx.x == 0) {
        stats[2 * blockIdx.x] = (float)mean;
        stats[2 * blockIdx.x + 1] = (float)(1.0 / sqrt(ss / d + eps));
    }
}

/* dw[j] += sum_i dy[i,j] * (x[i,j] - mean_i) * r_i; db[j] += sum_i dy[i,j]. */
__global__ static void norm_weight_grad_kernel(float *dw, float *db, const float *dy, const float *x,
                                               const float *stats, int n, int d)
{
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x) {
        double sw = 0.0, sb = 0.0;
        for (int i = 0; i < n; i++) {
            float g = dy[(long)i * d + j];
            sw += (double)g * ((x[(long)i * d + j] - stats[2 * i]) * stats[2 * i + 1]);
            sb += g;
        }
        if (dw) dw[j] += (float)sw;
        if (db) db[j] += (float)sb;
    }
}

__global__ static void rmsnorm_dx_kernel(float *dx, const float *dy, const float *x, const float *w,
                                         const float *stats, int d, int add_one)
{
    long off = (long)blockIdx.x * d;
    float r = stats[2 * blockIdx.x + 1];
    double dot = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float wj = add_one ? 1.0f + w[j] : w[j];
        dot += (double)dy[off + j] * wj * x[off + j];
    }
    float c = (float)(block_sum(dot) / d) * r * r * r;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float wj = add_one ? 1.0f + w[j] : w[j];
        dx[off + j] = r * dy[off + j] * wj - x[off + j] * c;
    }
}

__global__ static void layernorm_dx_kernel(float *dx, const float *dy, const float *x, const float *w,
                                           const float *stats, int d)
{
    long off = (long)blockIdx.x * d;
    float mean = stats[2 * blockIdx.x], r = stats[2 * blockIdx.x + 1];
    double sg = 0.0, sgx = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float g = dy[off + j] * (w ? w[j] : 1.0f);
        sg += g;
        sgx += (double)g * ((x[off + j] - mean) * r);
    }
    float mg = (float)(block_sum(sg) / d);
    float mgx = (float)(block_sum(sgx) / d);
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float g = dy[off + j] * (w ? w[j] : 1.0f);
        float xhat = (x[off + j] - mean) * r;
        dx[off + j] = r * (g - mg - xhat * mgx);
    }
}

static float *row_stats(const float *x, int n, int d, float eps, int center)
{
    float *stats = (float *)cuda_scratch(CUDA_SCRATCH_ROWS, (size_t)n * 2 * sizeof(float));
    if (!stats) return NULL;
    row_stats_kernel<<<n, row_threads(d), 0, cuda_stream()>>>(stats, x, d, eps, center);
    return cuda_check_launch("norm backward statistics") ? NULL : stats;
}

extern "C" void cuda_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                                      const float *w, int n, int d, float eps, int add_one)
{
    if (cuda_failed() || n <= 0 || d <= 0) return;
    if (!w) {
        cuda_fail("cuda: rmsnorm backward without a weight");
        return;
    }
    float *stats = row_stats(x, n, d, eps, 0);
    if (!stats) return;
    if (dw) {
        norm_weight_grad_kernel<<<cuda_blocks(d, 128), 128, 0, cuda_stream()>>>(dw, NULL, dy, x, stats, n, d);
        if (cuda_check_launch("rmsnorm backward (dw)")) return;
    }
    rmsnorm_dx_kernel<<<n, row_threads(d), 0, cuda_stream()>>>(dx, dy, x, w, stats, d, add_one);
    cuda_check_launch("rmsnorm backward (dx)");
}

extern "C" void cuda_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                                        const float *x, const float *w, int n, int d, float eps)
{
    if (cuda_failed() || n <= 0 || d <= 0) return;
    float *stats = row_stats(x, n, d, eps, 1);
    if (!stats) return;
    if (dw || db) {
        norm_weight_grad_kernel<<<cuda_blocks(d, 128), 128, 0, cuda_stream()>>>(dw, db, dy, x, stats, n, d);
        if (cuda_check_launch("layernorm backward (dw, db)")) return;
    }
    layernorm_dx_kernel<<<n, row_threads(d), 0, cuda_stream()>>>(dx, dy, x, w, stats, d);
    cuda_check_launch("layernorm backward (dx)");
}

/* cuda_softmax.cu — row-wise softmax, one block per row: max, sum of
 * exponentials (accumulated in double, as on the CPU), normalise.  In place
 * is fine: each thread rewrites only the elements it read.
 */
#include "cuda_internal.h"
#include "cuda_reduce.cuh"

__global__ static void softmax_kernel(float *y, const float *x, int d)
{
    const float *xr = x + (long)blockIdx.x * d;
    float *yr = y + (long)blockIdx.x * d;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < d; j += blockDim.x) mx = fmaxf(mx, xr[j]);
    mx = block_max(mx);
    if (mx == -INFINITY) mx = 0.0f; /* all -inf: zeros, as on the CPU */
    double s = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) s += expf(xr[j] - mx);
    s = block_sum(s);
    float inv = s > 0.0 ? (float)(1.0 / s) : 0.0f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) yr[j] = expf(xr[j] - mx) * inv;
}

extern "C" void cuda_softmax(float *y, const float *x, int n, int d)
{
    if (cuda_failed() || n <= 0 || d <= 0) return;
    softmax_kernel<<<n, row_threads(d), 0, cuda_stream()>>>(y, x, d);
    cuda_check_launch("softmax");
}

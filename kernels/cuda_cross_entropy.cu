/* cuda_cross_entropy.cu — fused softmax cross-entropy and its gradient, one
 * block per row, never storing the probabilities: max, sum of exponentials
 * (double), then loss = log(sum) + max - logit[target] and, in the same
 * launch, dlogits = (softmax - onehot) * grad_scale.  The target's logit is
 * read before any write, so dlogits may overwrite logits.
 */
#include "cuda_internal.h"
#include "cuda_reduce.cuh"

__global__ static void cross_entropy_kernel(float *loss, float *dlogits, const float *logits,
                                            const int32_t *targets, int v, float grad_scale)
{
    const long off = (long)blockIdx.x * v;
    const float *xr = logits + off;
    const int t = targets[blockIdx.x];
    if (t < 0 || t >= v) { /* ignored row (-100): no loss, no gradient */
        if (threadIdx.x == 0) loss[blockIdx.x] = 0.0f;
        if (dlogits)
            for (int j = threadIdx.x; j < v; j += blockDim.x) dlogits[off + j] = 0.0f;
        return;
    }
    const float xt = xr[t];
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < v; j += blockDim.x) mx = fmaxf(mx, xr[j]);
    mx = block_max(mx);
    double s = 0.0;
    for (int j = threadIdx.x; j < v; j += blockDim.x) s += expf(xr[j] - mx);
    s = block_sum(s);
    if (threadIdx.x == 0) loss[blockIdx.x] = (float)(log(s) + mx - xt);
    if (!dlogits) return;
    float inv = (float)(1.0 / s);
    for (int j = threadIdx.x; j < v; j += blockDim.x) {
        /* the target's p - 1 as -(s - e_t) / s: no cancellation when p ~ 1 */
        dlogits[off + j] = j == t ? (float)(-(s - (double)expf(xt - mx)) / s) * grad_scale
                                  : expf(xr[j] - mx) * inv * grad_scale;
    }
}

extern "C" void cuda_cross_entropy(float *loss, float *dlogits, const float *logits,
                                   const int32_t *targets, int n, int v, float grad_scale)
{
    if (cuda_failed() || n <= 0) return;
    if (v <= 0 || !loss) {
        cuda_fail("cuda: cross_entropy needs a vocabulary (%d) and a loss buffer", v);
        return;
    }
    const int32_t *dt = cuda_ints(targets, n, CUDA_SCRATCH_INTS_A);
    if (!dt) return;
    cross_entropy_kernel<<<n, row_threads(v), 0, cuda_stream()>>>(loss, dlogits, logits, dt, v, grad_scale);
    cuda_check_launch("cross_entropy");
}

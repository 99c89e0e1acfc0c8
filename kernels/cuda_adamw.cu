/* cuda_adamw.cu — one AdamW step, element-wise, with torch.optim.AdamW's
 * arithmetic: decay the parameter by (1 - lr wd), update the moments, then
 * p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).  The bias corrections are
 * computed once on the host in double.
 */
#include "cuda_internal.h"

#include <math.h>

__global__ static void adamw_kernel(float *p, const float *g, float *m, float *v, long n,
                                    float decay, float b1, float b2, float step_size,
                                    float inv_sqrt_bc2, float eps)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float gi = g[i];
        float mi = m[i] + (1.0f - b1) * (gi - m[i]);
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) * inv_sqrt_bc2 + eps;
        p[i] = p[i] * decay - step_size * mi / denom;
    }
}

extern "C" void cuda_adamw_step(float *param, const float *grad, float *m, float *v, long n,
                                const iris_adamw_params *p)
{
    if (cuda_failed() || n <= 0) return;
    if (!p || p->step < 1) {
        cuda_fail("cuda: adamw step must start at 1");
        return;
    }
    double bc1 = 1.0 - pow(p->beta1, p->step), bc2 = 1.0 - pow(p->beta2, p->step);
    adamw_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(
        param, grad, m, v, n, 1.0f - p->lr * p->weight_decay, p->beta1, p->beta2,
        (float)(p->lr / bc1), (float)(1.0 / sqrt(bc2)), p->eps);
    cuda_check_launch("adamw");
}

/* cpu_train_adamw.c — one AdamW step with torch.optim.AdamW's arithmetic:
 * p *= 1 - lr wd;  m += (1 - b1)(g - m);  v = b2 v + (1 - b2) g^2;
 * p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), bc_i = 1 - b_i^step.
 */
#include "cpu_train_internal.h"

#include <math.h>

void cpu_adamw_step(float *param, const float *grad, float *m, float *v, long n,
                    const iris_adamw_params *p)
{
    if (cpu_failed() || n <= 0) return;
    if (!p || p->step < 1) {
        cpu_fail("cpu: adamw step must start at 1");
        return;
    }
    double bc1 = 1.0 - pow(p->beta1, p->step), bc2 = 1.0 - pow(p->beta2, p->step);
    const float decay = 1.0f - p->lr * p->weight_decay, b1 = p->beta1, b2 = p->beta2, eps = p->eps;
    const float step_size = (float)(p->lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
#pragma omp parallel for simd if (n >= CPU_PAR_MIN) num_threads(cpu_nthreads()) schedule(static)
    for (long i = 0; i < n; i++) {
        float gi = grad[i];
        float mi = m[i] + (1.0f - b1) * (gi - m[i]);
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) * inv_sqrt_bc2 + eps;
        param[i] = param[i] * decay - step_size * mi / denom;
    }
}

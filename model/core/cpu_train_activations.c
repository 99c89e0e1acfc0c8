/* cpu_train_activations.c — backward of the fused gated units (plain GELUs:
 * cpu_train_act_backward.c).
 *   SwiGLU y = silu(g) u:       dg = dy u s (1 + g (1 - s)),  du = dy g s
 *                               (s = sigmoid(g))
 *   GeGLU  y = gelu_tanh(g) u:  dg = dy u (0.5 (1 + t) + 0.5 g (1 - t^2) c
 *                               (1 + 3 * 0.044715 g^2)),      du = dy gelu_tanh(g)
 *                               (t = tanh(c (g + 0.044715 g^3)), c = sqrt(2/pi))
 * Each element reads its inputs before writing, so outputs may alias inputs.
 */
#include "cpu_train_internal.h"

#include <math.h>

#define PAR_IF(n) if ((n) >= CPU_PAR_MIN / 4) num_threads(cpu_nthreads())

void cpu_swiglu_backward(float *dg, float *du, const float *dy, const float *g, const float *u,
                         long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n) schedule(static)
    for (long i = 0; i < n; i++) {
        float gi = g[i], ui = u[i], d = dy[i];
        float s = 1.0f / (1.0f + expf(-gi));
        dg[i] = d * ui * s * (1.0f + gi * (1.0f - s));
        du[i] = d * gi * s;
    }
}

void cpu_geglu_backward(float *dg, float *du, const float *dy, const float *g, const float *u,
                        long n)
{
    if (cpu_failed()) return;
    const float c = 0.7978845608028654f;
#pragma omp parallel for PAR_IF(n) schedule(static)
    for (long i = 0; i < n; i++) {
        float gi = g[i], ui = u[i], d = dy[i];
        /* 0.5 (1 + tanh z) = sigmoid(2z) and 1 - tanh^2 z = 4 s (1 - s): no
         * cancellation where tanh z is near -1 (g << 0). */
        float z = c * (gi + 0.044715f * gi * gi * gi);
        float s = 1.0f / (1.0f + expf(-2.0f * z));
        float dgelu = s + 2.0f * gi * s * (1.0f - s) * c * (1.0f + 0.134145f * gi * gi);
        dg[i] = d * ui * dgelu;
        du[i] = d * gi * s;
    }
}

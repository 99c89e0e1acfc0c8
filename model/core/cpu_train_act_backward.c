/* cpu_train_act_backward.c — backward of the plain element-wise activations
 * (the vision tower's MLP, the projector, the generic decoders' MLP) and of
 * MPT's clamp:
 *   gelu (erf):  act'(x) = Phi(x) + x phi(x)
 *   gelu_tanh:   act'(x) = s + 2 x s (1 - s) c (1 + 3 * 0.044715 x^2),
 *                s = sigmoid(2 c (x + 0.044715 x^3)), c = sqrt(2/pi)
 *   quick_gelu:  act'(x) = s + 1.702 x s (1 - s),  s = sigmoid(1.702 x)
 *   clamp:       1 strictly inside (lo, hi), else 0 (read from the output)
 * dx = dy * act'(x); each element reads before it writes, so dx may be dy.
 */
#include "cpu_train_internal.h"

#include <math.h>

#define PAR_IF(n) if ((n) >= CPU_PAR_MIN / 4) num_threads(cpu_nthreads())

void cpu_gelu_backward(float *dx, const float *dy, const float *x, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n) schedule(static)
    for (long i = 0; i < n; i++) {
        float xi = x[i];
        /* Phi(x) = erfc(-x/sqrt2)/2: no cancellation for x << 0 */
        float cdf = 0.5f * erfcf(xi * -0.70710678118654752f);
        float pdf = 0.39894228040143268f * expf(-0.5f * xi * xi);
        dx[i] = dy[i] * (cdf + xi * pdf);
    }
}

void cpu_gelu_tanh_backward(float *dx, const float *dy, const float *x, long n)
{
    if (cpu_failed()) return;
    const float c = 0.7978845608028654f;
#pragma omp parallel for PAR_IF(n) schedule(static)
    for (long i = 0; i < n; i++) {
        float xi = x[i];
        float z = c * (xi + 0.044715f * xi * xi * xi);
        float s = 1.0f / (1.0f + expf(-2.0f * z));
        dx[i] = dy[i] * (s + 2.0f * xi * s * (1.0f - s) * c * (1.0f + 0.134145f * xi * xi));
    }
}

void cpu_quick_gelu_backward(float *dx, const float *dy, const float *x, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n) schedule(static)
    for (long i = 0; i < n; i++) {
        float xi = x[i];
        float s = 1.0f / (1.0f + expf(-1.702f * xi));
        dx[i] = dy[i] * (s + 1.702f * xi * s * (1.0f - s));
    }
}

void cpu_clamp_backward(float *dx, const float *dy, const float *y, float lo, float hi, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n) schedule(static)
    for (long i = 0; i < n; i++) dx[i] = y[i] > lo && y[i] < hi ? dy[i] : 0.0f;
}

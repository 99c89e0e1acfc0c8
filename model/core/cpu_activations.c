/* cpu_activations.c — element-wise ops: add, scale, the GLU and GELU family,
 * SiLU, and the row-wise softmax.
 *
 * Each works in place (y may equal an input).  Long ranges are split across
 * threads; the loop bodies are written so that the compiler vectorises them
 * (-march=x86-64-v3), except those calling libm's expf/erfcf.
 */
#include "cpu_internal.h"

#include <math.h>

#define PAR_IF(n) if ((n) >= CPU_PAR_MIN) num_threads(cpu_nthreads())

void cpu_add(float *y, const float *a, const float *b, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for simd PAR_IF(n) schedule(static)
    for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void cpu_scale(float *y, const float *x, float s, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for simd PAR_IF(n) schedule(static)
    for (long i = 0; i < n; i++) y[i] = s * x[i];
}

static inline float silu1(float g)
{
    return g / (1.0f + expf(-g));
}

/* 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3): "gelu_pytorch_tanh".
 * Written as x / (1 + exp(-2u)) (the same function): 1 + tanh(u) cancels to
 * nothing in f32 for x below about -4, the sigmoid form stays accurate. */
static inline float gelu_tanh1(float x)
{
    const float c2 = 2.0f * 0.7978845608028654f;
    return x / (1.0f + expf(-c2 * (x + 0.044715f * x * x * x)));
}

void cpu_swiglu(float *y, const float *gate, const float *up, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n / 4) schedule(static)
    for (long i = 0; i < n; i++) y[i] = silu1(gate[i]) * up[i];
}

void cpu_geglu(float *y, const float *gate, const float *up, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n / 4) schedule(static)
    for (long i = 0; i < n; i++) y[i] = gelu_tanh1(gate[i]) * up[i];
}

void cpu_gelu(float *y, const float *x, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n / 4) schedule(static)
    for (long i = 0; i < n; i++) y[i] = 0.5f * x[i] * erfcf(x[i] * -0.70710678118654752f); /* 1+erf(z) = erfc(-z), no cancellation */
}

void cpu_gelu_tanh(float *y, const float *x, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n / 4) schedule(static)
    for (long i = 0; i < n; i++) y[i] = gelu_tanh1(x[i]);
}

void cpu_quick_gelu(float *y, const float *x, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n / 4) schedule(static)
    for (long i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void cpu_silu(float *y, const float *x, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n / 4) schedule(static)
    for (long i = 0; i < n; i++) y[i] = silu1(x[i]);
}

void cpu_clamp(float *y, const float *x, float lo, float hi, long n)
{
    if (cpu_failed()) return;
#pragma omp parallel for PAR_IF(n / 4) schedule(static)
    for (long i = 0; i < n; i++) y[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
}

/* Stable softmax of one row: subtract the max before exponentiating. */
static void softmax_row(float *y, const float *x, int d)
{
    float mx = -INFINITY;
    for (int j = 0; j < d; j++) mx = x[j] > mx ? x[j] : mx;
    if (mx == -INFINITY) mx = 0.0f; /* all -inf: exp gives 0s, sum 0 below */
    double sum = 0.0; /* double: rows of a 32000-entry vocabulary stay exact */
    for (int j = 0; j < d; j++) {
        y[j] = expf(x[j] - mx);
        sum += y[j];
    }
    float inv = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
    for (int j = 0; j < d; j++) y[j] *= inv;
}

void cpu_softmax(float *y, const float *x, int n, int d)
{
    if (cpu_failed() || n <= 0 || d <= 0) return;
#pragma omp parallel for PAR_IF((long)n * d / 4) schedule(static)
    for (int i = 0; i < n; i++) softmax_row(y + (long)i * d, x + (long)i * d, d);
}

/* cuda_activations.cu — element-wise ops: add, scale, copy, the GELU family,
 * SiLU and the fused gated units SwiGLU / GeGLU, forward and backward.
 *
 * Formulas are the CPU reference's, in f32 with the accurate expf/erff/tanhf
 * (no --use_fast_math), so results agree to a few ulp.  All work in place.
 */
#include "cuda_internal.h"

#define GRID_LOOP(i, n) \
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

__device__ static inline float silu1(float g)
{
    return g / (1.0f + expf(-g));
}

__device__ static inline float gelu_tanh1(float x)
{
    const float c = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

__global__ static void add_kernel(float *y, const float *a, const float *b, long n)
{
    GRID_LOOP(i, n) y[i] = a[i] + b[i];
}

__global__ static void scale_kernel(float *y, const float *x, float s, long n)
{
    GRID_LOOP(i, n) y[i] = s * x[i];
}

__global__ static void swiglu_kernel(float *y, const float *g, const float *u, long n)
{
    GRID_LOOP(i, n) y[i] = silu1(g[i]) * u[i];
}

__global__ static void geglu_kernel(float *y, const float *g, const float *u, long n)
{
    GRID_LOOP(i, n) y[i] = gelu_tanh1(g[i]) * u[i];
}

__global__ static void gelu_kernel(float *y, const float *x, long n)
{
    GRID_LOOP(i, n) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

__global__ static void gelu_tanh_kernel(float *y, const float *x, long n)
{
    GRID_LOOP(i, n) y[i] = gelu_tanh1(x[i]);
}

__global__ static void quick_gelu_kernel(float *y, const float *x, long n)
{
    GRID_LOOP(i, n) y[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

__global__ static void silu_kernel(float *y, const float *x, long n)
{
    GRID_LOOP(i, n) y[i] = silu1(x[i]);
}

/* d/dg silu(g) = s (1 + g (1 - s)), s = sigmoid(g). */
__global__ static void swiglu_backward_kernel(float *dg, float *du, const float *dy,
                                              const float *g, const float *u, long n)
{
    GRID_LOOP(i, n) {
        float gi = g[i], ui = u[i], d = dy[i];
        float s = 1.0f / (1.0f + expf(-gi));
        dg[i] = d * ui * s * (1.0f + gi * (1.0f - s));
        du[i] = d * gi * s;
    }
}

/* d/dg gelu_tanh(g) = 0.5 (1 + t) + 0.5 g (1 - t^2) c (1 + 3 * 0.044715 g^2). */
__global__ static void geglu_backward_kernel(float *dg, float *du, const float *dy,
                                             const float *g, const float *u, long n)
{
    const float c = 0.7978845608028654f;
    GRID_LOOP(i, n) {
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

#define LAUNCH(kernel, n, what, ...)                                                   \
    do {                                                                               \
        if (cuda_failed() || (n) <= 0) return;                                         \
        kernel<<<cuda_blocks((n), 256), 256, 0, cuda_stream()>>>(__VA_ARGS__, (n));    \
        cuda_check_launch(what);                                                       \
    } while (0)

extern "C" {
void cuda_add(float *y, const float *a, const float *b, long n) { LAUNCH(add_kernel, n, "add", y, a, b); }
void cuda_scale(float *y, const float *x, float s, long n) { LAUNCH(scale_kernel, n, "scale", y, x, s); }
void cuda_swiglu(float *y, const float *g, const float *u, long n) { LAUNCH(swiglu_kernel, n, "swiglu", y, g, u); }
void cuda_geglu(float *y, const float *g, const float *u, long n) { LAUNCH(geglu_kernel, n, "geglu", y, g, u); }
void cuda_gelu(float *y, const float *x, long n) { LAUNCH(gelu_kernel, n, "gelu", y, x); }
void cuda_gelu_tanh(float *y, const float *x, long n) { LAUNCH(gelu_tanh_kernel, n, "gelu_tanh", y, x); }
void cuda_quick_gelu(float *y, const float *x, long n) { LAUNCH(quick_gelu_kernel, n, "quick_gelu", y, x); }
void cuda_silu(float *y, const float *x, long n) { LAUNCH(silu_kernel, n, "silu", y, x); }

void cuda_swiglu_backward(float *dg, float *du, const float *dy, const float *g, const float *u, long n)
{
    LAUNCH(swiglu_backward_kernel, n, "swiglu backward", dg, du, dy, g, u);
}

void cuda_geglu_backward(float *dg, float *du, const float *dy, const float *g, const float *u, long n)
{
    LAUNCH(geglu_backward_kernel, n, "geglu backward", dg, du, dy, g, u);
}

void cuda_copy(float *dst, const float *src, long n)
{
    if (cuda_failed() || n <= 0 || dst == src) return;
    cuda_check(cudaMemcpyAsync(dst, src, (size_t)n * sizeof *dst, cudaMemcpyDeviceToDevice, cuda_stream()),
               "copy");
}
}

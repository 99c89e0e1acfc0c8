/* linear_backward.c — see linear_backward.h. */
#include "linear_backward.h"

void iris_linear_backward(const iris_backend *be, const float *w, float *gw, const float *dy,
                          const float *x, int n, int in, int out, float *dx, int accumulate)
{
    if (n <= 0) return;
    if (gw) be->gemm(1, 0, out, in, n, 1.0f, dy, out, 0, x, in, 0, 1.0f, gw, in, 0, 1);
    if (dx) be->gemm(0, 0, n, in, out, 1.0f, dy, out, 0, w, in, 0, accumulate ? 1.0f : 0.0f, dx, in, 0, 1);
}

/* flamingo_ff.c — see flamingo_ff.h. */
#include "flamingo_ff.h"

void iris_flamingo_ff_forward(const iris_backend *be, const iris_tensor *ln_w, const iris_tensor *ln_b,
                              const iris_tensor *w1, const iris_tensor *w2, const float *x, int n,
                              int dim, int hidden, float eps, float *fn, float *h, float *g, float *y)
{
    be->layernorm(fn, x, ln_w, ln_b, n, dim, eps);
    be->linear(h, fn, w1, NULL, n, dim, hidden);
    be->gelu(g, h, (long)n * hidden);
    be->linear(y, g, w2, NULL, n, hidden, dim);
}

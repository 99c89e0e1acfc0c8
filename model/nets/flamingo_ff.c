/* flamingo_ff.c — see flamingo_ff.h. */
#include "flamingo_ff.h"

void iris_flamingo_ff_forward(const iris_backend *be, const iris_tensor *ln_w, const iris_tensor *ln_b,
                              const iris_tensor *w1, const iris_tensor *w2, const float *x, int n,
                              int dim, int hidden, float eps, float *fn, float *h, float *g, float *y)
{
    iris_flamingo_ff_forward_hooked(be, ln_w, ln_b, w1, w2, x, n, dim, hidden, eps, fn, h, g, y, NULL, 0, 0);
}

void iris_flamingo_ff_forward_hooked(const iris_backend *be, const iris_tensor *ln_w, const iris_tensor *ln_b,
                                     const iris_tensor *w1, const iris_tensor *w2, const float *x, int n,
                                     int dim, int hidden, float eps, float *fn, float *h, float *g, float *y,
                                     const iris_lin_hook *hk, int slot1, int slot2)
{
    be->layernorm(fn, x, ln_w, ln_b, n, dim, eps);
    be->linear(h, fn, w1, NULL, n, dim, hidden);
    iris_lin_hook_call(hk, slot1, h, fn, n);
    be->gelu(g, h, (long)n * hidden);
    be->linear(y, g, w2, NULL, n, hidden, dim);
    iris_lin_hook_call(hk, slot2, y, g, n);
}

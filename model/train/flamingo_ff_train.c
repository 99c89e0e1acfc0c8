/* flamingo_ff_train.c — see flamingo_ff_train.h. */
#include "flamingo_ff_train.h"

#include "linear_backward.h"

void iris_flamingo_ff_backward(const iris_backend *be, const iris_train_ops *ops,
                               const iris_flamingo_ff_params *p, const float *dy, const float *x,
                               const float *fn, const float *h, const float *g, int n, int dim,
                               int hidden, float eps, float *dh, float *dfn, float *dx)
{
    iris_linear_backward(be, p->w2, p->g_w2, dy, g, n, hidden, dim, dh, 0);
    if (p->lora2) iris_lora_site_backward(p->lora2, dy, g, n, dh);
    ops->gelu_backward(dh, dh, h, (long)n * hidden);
    iris_linear_backward(be, p->w1, p->g_w1, dh, fn, n, dim, hidden, dfn, 0);
    if (p->lora1) iris_lora_site_backward(p->lora1, dh, fn, n, dfn);
    ops->layernorm_backward(dx, p->g_ln_w, p->g_ln_b, dfn, x, p->ln_w, n, dim, eps);
}

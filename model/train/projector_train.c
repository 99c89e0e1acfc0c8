#include "projector_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const prefixes[][2] = {
    {"multi_modal_projector.linear_1", "multi_modal_projector.linear_2"},
    {"model.multi_modal_projector.linear_1", "model.multi_modal_projector.linear_2"},
    {"model.mm_projector.0", "model.mm_projector.2"},
    {"mm_projector.0", "mm_projector.2"},
    {"model.mm_projector", NULL},
    {"mm_projector", NULL},
};

static int add_copy(iris_param_set *s, const char *name, const iris_tensor *t)
{
    int rows = t->ndim == 1 ? (int)t->shape[0] : (int)t->shape[0];
    int cols = t->ndim == 1 ? 0 : (int)t->shape[1];
    int idx = iris_params_add(s, name, rows, cols, IRIS_PG_PROJECTOR);
    if (idx < 0) return -1;
    iris_param *p = &s->p[idx];
    float *host = malloc((size_t)p->n * sizeof(float));
    if (!host) {
        iris_set_error("out of memory");
        return -1;
    }
    int c = cols ? cols : rows;
    for (int r = 0; r < (cols ? rows : 1); r++) iris_tensor_row_to_f32(t, r, host + (size_t)r * c);
    int rc = s->be->upload(p->w, host, (size_t)p->n * sizeof(float));
    free(host);
    if (rc) {
        iris_set_error("cannot upload %s", name);
        return -1;
    }
    if (cols == 0) p->decay = 0;
    return idx;
}

int iris_projector_train_init(iris_projector_train *p, iris_param_set *s, const iris_weights *w,
                              const iris_projector *src, int max_rows)
{
    memset(p, 0, sizeof *p);
    p->w1 = p->b1 = p->w2 = p->b2 = -1;
    const char *n1 = NULL, *n2 = NULL;
    char name[160];
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        snprintf(name, sizeof name, "%s.weight", prefixes[i][0]);
        if (iris_weights_find(w, name)) {
            n1 = prefixes[i][0];
            n2 = prefixes[i][1];
            break;
        }
    }
    if (!n1) {
        iris_set_error("%s: no projector weights found", w->path);
        return -1;
    }
    p->mlp = src->type == IRIS_PROJ_MLP2X;
    p->act = src->act;
    p->in = src->in_dim;
    p->mid = src->mid_dim;
    p->out = src->out_dim;
    p->max_rows = max_rows;
    snprintf(name, sizeof name, "%s.weight", n1);
    if ((p->w1 = add_copy(s, name, &src->w1)) < 0) return -1;
    if (src->b1.data) {
        snprintf(name, sizeof name, "%s.bias", n1);
        if ((p->b1 = add_copy(s, name, &src->b1)) < 0) return -1;
    }
    if (p->mlp) {
        snprintf(name, sizeof name, "%s.weight", n2);
        if ((p->w2 = add_copy(s, name, &src->w2)) < 0) return -1;
        if (src->b2.data) {
            snprintf(name, sizeof name, "%s.bias", n2);
            if ((p->b2 = add_copy(s, name, &src->b2)) < 0) return -1;
        }
    }
    int mid = p->mlp ? p->mid : 1;
    p->x = calloc((size_t)max_rows * p->in, sizeof(float));
    p->h = calloc((size_t)max_rows * mid, sizeof(float));
    p->a = calloc((size_t)max_rows * mid, sizeof(float));
    p->da = calloc((size_t)max_rows * mid, sizeof(float));
    if (!p->x || !p->h || !p->a || !p->da) {
        iris_set_error("out of memory for the projector workspace");
        return -1;
    }
    return 0;
}

void iris_projector_train_free(iris_projector_train *p)
{
    free(p->x);
    free(p->h);
    free(p->a);
    free(p->da);
    memset(p, 0, sizeof *p);
}

int iris_projector_train_set_trainable(iris_projector_train *p, iris_param_set *s)
{
    int idx[4] = {p->w1, p->b1, p->w2, p->b2};
    for (int i = 0; i < 4; i++)
        if (idx[i] >= 0 && iris_params_set_trainable(s, idx[i])) return -1;
    return 0;
}

static const iris_tensor *opt_t(iris_param_set *s, int i) { return i >= 0 ? &s->p[i].t : NULL; }

int iris_projector_train_forward(iris_projector_train *p, iris_param_set *s, const float *x, int n, float *y)
{
    const iris_backend *be = s->be;
    if (n > p->max_rows) {
        iris_set_error("projector: %d rows exceed the workspace of %d", n, p->max_rows);
        return -1;
    }
    memcpy(p->x, x, (size_t)n * p->in * sizeof(float));
    if (!p->mlp) {
        be->linear(y, p->x, &s->p[p->w1].t, opt_t(s, p->b1), n, p->in, p->out);
        return 0;
    }
    be->linear(p->h, p->x, &s->p[p->w1].t, opt_t(s, p->b1), n, p->in, p->mid);
    long nm = (long)n * p->mid;
    if (p->act == IRIS_ACT_GELU) be->gelu(p->a, p->h, nm);
    else if (p->act == IRIS_ACT_GELU_TANH) be->gelu_tanh(p->a, p->h, nm);
    else be->quick_gelu(p->a, p->h, nm);
    be->linear(y, p->a, &s->p[p->w2].t, opt_t(s, p->b2), n, p->mid, p->out);
    return 0;
}

float iris_act_grad(iris_act act, float h)
{
    double x = h;
    if (act == IRIS_ACT_GELU) {
        double cdf = 0.5 * (1.0 + erf(x / sqrt(2.0))), pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        return (float)(cdf + x * pdf);
    }
    if (act == IRIS_ACT_GELU_TANH) {
        double k = sqrt(2.0 / M_PI), u = k * (x + 0.044715 * x * x * x), t = tanh(u);
        return (float)(0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x));
    }
    double sg = 1.0 / (1.0 + exp(-1.702 * x));
    return (float)(sg + 1.702 * x * sg * (1.0 - sg));
}

static void lin_grads(const iris_backend *be, iris_param *W, iris_param *B, const float *dy, const float *x,
                      int n, int in, int out)
{
    if (W->g) be->gemm(1, 0, out, in, n, 1.0f, dy, out, 0, x, in, 0, 1.0f, W->g, in, 0, 1);
    if (B && B->g)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < out; j++) B->g[j] += dy[(size_t)i * out + j];
}

void iris_projector_train_backward(iris_projector_train *p, iris_param_set *s, const float *dy, int n)
{
    iris_projector_train_backward_input(p, s, dy, n, NULL);
}

void iris_projector_train_backward_input(iris_projector_train *p, iris_param_set *s, const float *dy, int n,
                                         float *dx)
{
    const iris_backend *be = s->be;
    iris_param *b1 = p->b1 >= 0 ? &s->p[p->b1] : NULL, *b2 = p->b2 >= 0 ? &s->p[p->b2] : NULL;
    if (!p->mlp) {
        lin_grads(be, &s->p[p->w1], b1, dy, p->x, n, p->in, p->out);
        if (dx) be->gemm(0, 0, n, p->in, p->out, 1.0f, dy, p->out, 0, s->p[p->w1].w, p->in, 0, 0.0f, dx, p->in, 0, 1);
        return;
    }
    lin_grads(be, &s->p[p->w2], b2, dy, p->a, n, p->mid, p->out);
    be->gemm(0, 0, n, p->mid, p->out, 1.0f, dy, p->out, 0, s->p[p->w2].w, p->mid, 0, 0.0f, p->da, p->mid, 0, 1);
    long nm = (long)n * p->mid;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < nm; i++) p->da[i] *= iris_act_grad(p->act, p->h[i]);
    lin_grads(be, &s->p[p->w1], b1, p->da, p->x, n, p->in, p->mid);
    if (dx) be->gemm(0, 0, n, p->in, p->mid, 1.0f, p->da, p->mid, 0, s->p[p->w1].w, p->in, 0, 0.0f, dx, p->in, 0, 1);
}

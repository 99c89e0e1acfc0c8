/* projector.c — linear and mlp2x_gelu projectors (see projector.h). */
#include "projector.h"

#include <stdio.h>
#include <string.h>

#include "../core/error.h"

/* (first linear, second linear) name stems, tried in order; second NULL = LINEAR */
static const char *const layouts[][2] = {
    {"multi_modal_projector.linear_1", "multi_modal_projector.linear_2"},
    {"model.multi_modal_projector.linear_1", "model.multi_modal_projector.linear_2"},
    {"model.mm_projector.0", "model.mm_projector.2"},
    {"mm_projector.0", "mm_projector.2"},
    {"model.mm_projector", NULL},
    {"mm_projector", NULL},
    {"mm.0", "mm.2"},   /* llama.cpp's mmproj GGUF */
};

static int prepare(iris_projector *p, const iris_weights *w, iris_tensor *dst, const char *stem,
                   const char *what, int ndim, const int64_t *shape)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", stem, what);
    const iris_tensor *t = iris_weights_get_shaped(w, name, ndim, shape);
    if (!t) return -1;
    if (p->be->weight_upload(dst, t)) {
        iris_set_error("%s: cannot prepare %s for the %s backend", w->path, name, p->be->name);
        return -1;
    }
    return 0;
}

static const iris_tensor *find_weight(const iris_weights *w, const char *stem)
{
    char name[160];
    snprintf(name, sizeof name, "%s.weight", stem);
    return iris_weights_find(w, name);
}

int iris_projector_load(iris_projector *p, const iris_backend *be, const iris_weights *w,
                        int in_dim, iris_act act)
{
    memset(p, 0, sizeof *p);
    p->be = be;
    p->act = act;
    p->in_dim = in_dim;
    for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++) {
        const iris_tensor *w1 = find_weight(w, layouts[i][0]);
        if (!w1) continue;
        if (w1->ndim != 2 || w1->shape[1] != in_dim || w1->shape[0] <= 0 || w1->shape[0] > 1 << 20) {
            iris_set_error("%s: %s.weight should be [*, %d] (vision features)", w->path,
                           layouts[i][0], in_dim);
            return -1;
        }
        p->loaded = 1;
        p->mid_dim = p->out_dim = (int)w1->shape[0];
        int64_t s1[2] = {p->mid_dim, in_dim}, b1[1] = {p->mid_dim};
        if (prepare(p, w, &p->w1, layouts[i][0], "weight", 2, s1) ||
            prepare(p, w, &p->b1, layouts[i][0], "bias", 1, b1))
            goto fail;
        if (!layouts[i][1]) {
            p->type = IRIS_PROJ_LINEAR;
            return 0;
        }
        p->type = IRIS_PROJ_MLP2X;
        const iris_tensor *w2 = find_weight(w, layouts[i][1]);
        if (!w2 || w2->ndim != 2 || w2->shape[1] != p->mid_dim || w2->shape[0] <= 0 ||
            w2->shape[0] > 1 << 20) {
            iris_set_error("%s: %s.weight is missing or not [*, %d]", w->path, layouts[i][1], p->mid_dim);
            goto fail;
        }
        p->out_dim = (int)w2->shape[0];
        int64_t s2[2] = {p->out_dim, p->mid_dim}, b2[1] = {p->out_dim};
        if (prepare(p, w, &p->w2, layouts[i][1], "weight", 2, s2) ||
            prepare(p, w, &p->b2, layouts[i][1], "bias", 1, b2))
            goto fail;
        return 0;
    }
    iris_set_error("%s: no multimodal projector (multi_modal_projector.linear_1 or mm_projector)",
                   w->path);
    return -1;
fail:
    iris_projector_free(p);
    return -1;
}

void iris_projector_free(iris_projector *p)
{
    if (!p->loaded) return;
    iris_tensor *ts[] = {&p->w1, &p->b1, &p->w2, &p->b2};
    for (int i = 0; i < 4; i++)
        if (ts[i]->data) p->be->weight_free(ts[i]);
    memset(p, 0, sizeof *p);
}

int iris_projector_forward(iris_projector *p, const float *x, int n, float *y)
{
    const iris_backend *be = p->be;
    if (!p->loaded) {
        iris_set_error("projector: not loaded");
        return -1;
    }
    if (p->type == IRIS_PROJ_LINEAR) {
        be->linear(y, x, &p->w1, &p->b1, n, p->in_dim, p->out_dim);
    } else {
        float *mid = be->alloc((size_t)n * p->mid_dim * sizeof(float));
        if (!mid) {
            iris_set_error("projector: out of memory for %d x %d", n, p->mid_dim);
            return -1;
        }
        be->linear(mid, x, &p->w1, &p->b1, n, p->in_dim, p->mid_dim);
        long nm = (long)n * p->mid_dim;
        switch (p->act) {
        case IRIS_ACT_GELU: be->gelu(mid, mid, nm); break;
        case IRIS_ACT_GELU_TANH: be->gelu_tanh(mid, mid, nm); break;
        case IRIS_ACT_QUICK_GELU: be->quick_gelu(mid, mid, nm); break;
        }
        be->linear(y, mid, &p->w2, &p->b2, n, p->mid_dim, p->out_dim);
        be->free(mid);
    }
    if (be->sync()) {
        iris_set_error("projector: %s backend: %s", be->name, be->error() ? be->error() : "failed");
        return -1;
    }
    return 0;
}

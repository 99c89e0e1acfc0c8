#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int iris_params_init(iris_param_set *s, const iris_backend *be, int cap)
{
    memset(s, 0, sizeof *s);
    s->be = be;
    s->p = calloc((size_t)cap, sizeof *s->p);
    if (!s->p) {
        iris_set_error("out of memory");
        return -1;
    }
    s->cap = cap;
    return 0;
}

void iris_params_free(iris_param_set *s)
{
    for (int i = 0; i < s->n; i++) {
        iris_param *p = &s->p[i];
        s->be->free(p->w);
        s->be->free(p->g);
        s->be->free(p->m);
        s->be->free(p->v);
    }
    free(s->p);
    memset(s, 0, sizeof *s);
}

int iris_params_add(iris_param_set *s, const char *name, int rows, int cols, int group)
{
    if (s->n >= s->cap) {
        /* Grow: callers keep indices, never pointers, across adds. */
        int cap = s->cap > 0 ? 2 * s->cap : 16;
        iris_param *np = realloc(s->p, (size_t)cap * sizeof *np);
        if (!np) {
            iris_set_error("out of memory for the parameter table");
            return -1;
        }
        s->p = np;
        s->cap = cap;
        /* each descriptor points at its own w, not into the table: nothing to fix up */
    }
    iris_param *p = &s->p[s->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->n = (long)rows * (cols > 0 ? cols : 1);
    p->w = s->be->alloc((size_t)p->n * sizeof(float));
    if (!p->w) {
        iris_set_error("out of memory for parameter %s (%ld floats)", name, p->n);
        return -1;
    }
    p->t.dtype = IRIS_F32;
    p->t.ndim = cols > 0 ? 2 : 1;
    p->t.shape[0] = rows;
    p->t.shape[1] = cols;
    p->t.data = p->w;
    p->group = group;
    p->decay = cols > 0;
    return s->n++;
}

int iris_params_set_trainable(iris_param_set *s, int idx)
{
    iris_param *p = &s->p[idx];
    if (p->g) return 0;
    size_t bytes = (size_t)p->n * sizeof(float);
    p->g = s->be->alloc(bytes);
    p->m = s->be->alloc(bytes);
    p->v = s->be->alloc(bytes);
    if (!p->g || !p->m || !p->v) {
        iris_set_error("out of memory for the gradient of %s", p->name);
        return -1;
    }
    return 0;
}

int iris_params_find(const iris_param_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->p[i].name, name)) return i;
    return -1;
}

void iris_params_zero_grad(iris_param_set *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->p[i].g) memset(s->p[i].g, 0, (size_t)s->p[i].n * sizeof(float));
}

long iris_params_trainable(const iris_param_set *s)
{
    long t = 0;
    for (int i = 0; i < s->n; i++)
        if (s->p[i].g) t += s->p[i].n;
    return t;
}

#include "optim.h"

#include <math.h>
#include <string.h>

static const char *const sched_names[] = {"constant", "linear", "cosine", "exponential"};

int iris_sched_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, sched_names[i])) return i;
    return -1;
}

const char *iris_sched_name(int kind) { return kind >= 0 && kind < 4 ? sched_names[kind] : "?"; }

double iris_schedule_factor(const iris_schedule *s, int step)
{
    if (step < s->warmup_steps) return (double)step / (s->warmup_steps > 0 ? s->warmup_steps : 1);
    int span = s->total_steps - s->warmup_steps;
    double progress = span > 0 ? (double)(step - s->warmup_steps) / span : 1.0;
    if (progress > 1.0) progress = 1.0;
    switch (s->kind) {
    case IRIS_SCHED_LINEAR: return 1.0 - progress > 0 ? 1.0 - progress : 0.0;
    case IRIS_SCHED_COSINE: return 0.5 * (1.0 + cos(M_PI * progress));
    case IRIS_SCHED_EXPONENTIAL: return pow(s->min_ratio, progress);
    default: return 1.0;
    }
}

double iris_clip_grad_norm(iris_param_set *s, double max_norm)
{
    double total = 0.0;
    for (int i = 0; i < s->n; i++) {
        const iris_param *p = &s->p[i];
        if (!p->g) continue;
        double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) schedule(static)
        for (long j = 0; j < p->n; j++) acc += (double)p->g[j] * p->g[j];
        total += acc;
    }
    double norm = sqrt(total);
    if (max_norm > 0 && norm > max_norm) {
        float coef = (float)(max_norm / (norm + 1e-6));
        for (int i = 0; i < s->n; i++) {
            iris_param *p = &s->p[i];
            if (!p->g) continue;
#pragma omp parallel for schedule(static)
            for (long j = 0; j < p->n; j++) p->g[j] *= coef;
        }
    }
    return norm;
}

void iris_adamw_apply(iris_param_set *s, const iris_train_ops *ops, const iris_adamw_config *c,
                      double factor, int step)
{
    for (int i = 0; i < s->n; i++) {
        iris_param *p = &s->p[i];
        if (!p->g) continue;
        iris_adamw_params ap = {.lr = (float)(c->lr[p->group] * factor), .beta1 = c->beta1,
                                .beta2 = c->beta2, .eps = c->eps,
                                .weight_decay = p->decay ? c->weight_decay : 0.0f, .step = step};
        ops->adamw_step(p->w, p->g, p->m, p->v, p->n, &ap);
    }
}

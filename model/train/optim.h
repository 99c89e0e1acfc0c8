/* optim.h — learning-rate schedules, global-norm gradient clipping and the
 * AdamW update over a parameter set (per-group learning rates).
 *
 * Schedules follow Hugging Face's (transformers.optimization) definitions,
 * evaluated at the 0-based optimizer step s out of total:
 *   warm-up (s < w):  s / w
 *   constant:         1
 *   linear:           (total - s) / (total - w)            (>= 0)
 *   cosine:           0.5 (1 + cos(pi (s - w) / (total - w)))
 *   exponential:      min_ratio ^ ((s - w) / (total - w))
 * A warm-up ratio becomes ceil(ratio * total) steps, as HF's Trainer does.
 */
#ifndef IRIS_TRAIN_OPTIM_H
#define IRIS_TRAIN_OPTIM_H

#include "core/backend_train.h"
#include "train/params.h"

typedef enum { IRIS_SCHED_CONSTANT = 0, IRIS_SCHED_LINEAR, IRIS_SCHED_COSINE,
               IRIS_SCHED_EXPONENTIAL } iris_sched_kind;

typedef struct {
    iris_sched_kind kind;
    int warmup_steps;
    int total_steps;
    float min_ratio;    /* exponential: the multiplier reached at the end */
} iris_schedule;

int iris_sched_from_name(const char *name);   /* -1 when unknown */
const char *iris_sched_name(int kind);
double iris_schedule_factor(const iris_schedule *s, int step);

/* sqrt(sum of squares) of every trainable gradient; when max_norm > 0 and the
 * norm exceeds it, gradients are scaled by max_norm / (norm + 1e-6) (torch's
 * clip_grad_norm_).  Returns the norm before clipping. */
double iris_clip_grad_norm(iris_param_set *s, double max_norm);

typedef struct {
    float lr[IRIS_PG_COUNT];   /* per group base learning rate */
    float beta1, beta2, eps, weight_decay;
} iris_adamw_config;

/* One AdamW update of every trainable parameter; step is 1-based. */
void iris_adamw_apply(iris_param_set *s, const iris_train_ops *ops, const iris_adamw_config *c,
                      double factor, int step);

#endif

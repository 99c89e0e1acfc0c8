/* projector_train.h — the multimodal projector (linear or mlp2x with GELU)
 * as trainable f32 parameters: forward keeping its activations, backward
 * accumulating weight gradients and, when asked, the gradient of its input
 * (for a trainable vision tower below).  One image's rows at a time, host memory (CPU
 * backend).  Parameters are named as in the checkpoint
 * ("multi_modal_projector.linear_1.weight", "model.mm_projector.0.weight", ...).
 */
#ifndef IRIS_TRAIN_PROJECTOR_TRAIN_H
#define IRIS_TRAIN_PROJECTOR_TRAIN_H

#include "formats/weights.h"
#include "nets/projector.h"
#include "train/params.h"

typedef struct {
    int mlp;              /* mlp2x (else linear) */
    iris_act act;
    int in, mid, out, max_rows;
    int w1, b1, w2, b2;   /* parameter indices; b* -1 when absent; w2 -1 for linear */
    float *x, *h, *a, *da;
} iris_projector_train;

/* Copies src's weights (names probed in w) into s; frozen until made trainable. */
int iris_projector_train_init(iris_projector_train *p, iris_param_set *s, const iris_weights *w,
                              const iris_projector *src, int max_rows);
void iris_projector_train_free(iris_projector_train *p);
int iris_projector_train_set_trainable(iris_projector_train *p, iris_param_set *s);
/* y[n, out] = projector(x[n, in]); x is copied (kept for backward). */
int iris_projector_train_forward(iris_projector_train *p, iris_param_set *s, const float *x, int n, float *y);
/* Accumulates the parameter gradients from dy[n, out] (of the last forward). */
void iris_projector_train_backward(iris_projector_train *p, iris_param_set *s, const float *dy, int n);
/* The same, and writes d(input) [n, in] to dx (host) when dx is not NULL:
 * what a trainable vision tower below receives. */
void iris_projector_train_backward_input(iris_projector_train *p, iris_param_set *s, const float *dy, int n,
                                         float *dx);
/* Activation derivative act'(h) (host), exposed for tests. */
float iris_act_grad(iris_act act, float h);

#endif

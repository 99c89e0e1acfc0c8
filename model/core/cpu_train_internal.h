/* cpu_train_internal.h — the CPU training ops (backend_train.h) shared between
 * cpu_train_*.c and the table in cpu_train_ops.c.  They are the reference the
 * CUDA twins (kernels/cuda_train_*.cu, cuda_sampling.cu) are tested against,
 * and are themselves tested against PyTorch autograd (test_cpu_train.c).
 * Failures go through cpu_fail() like every CPU op.
 */
#ifndef IRIS_CPU_TRAIN_INTERNAL_H
#define IRIS_CPU_TRAIN_INTERNAL_H

#include "backend_train.h"
#include "cpu_internal.h"

void cpu_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                          const float *w, int n, int d, float eps, int add_one);
void cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int n, int d, float eps);
void cpu_rope_backward(float *dx, int n, int n_heads, int head_dim, int rot_dim,
                       const int32_t *pos, float theta, float pos_scale, int interleaved);
void cpu_swiglu_backward(float *dgate, float *dup, const float *dy, const float *gate,
                         const float *up, long n);
void cpu_geglu_backward(float *dgate, float *dup, const float *dy, const float *gate,
                        const float *up, long n);
void cpu_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int n, int d,
                            int vocab, float scale);
void cpu_cross_entropy(float *loss, float *dlogits, const float *logits,
                       const int32_t *targets, int n, int v, float grad_scale);
void cpu_adamw_step(float *param, const float *grad, float *m, float *v, long n,
                    const iris_adamw_params *p);
void cpu_gelu_backward(float *dx, const float *dy, const float *x, long n);
void cpu_gelu_tanh_backward(float *dx, const float *dy, const float *x, long n);
void cpu_quick_gelu_backward(float *dx, const float *dy, const float *x, long n);
void cpu_clamp_backward(float *dx, const float *dy, const float *y, float lo, float hi, long n);
int cpu_argmax(const float *logits, int v);
int cpu_sample(const float *logits, int v, const iris_sample_params *p);

#endif

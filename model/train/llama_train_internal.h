/* llama_train_internal.h — what llama_train.c shares with decoder_train.c
 * (the MPT / GPT-NeoX / BioGPT layers of the training decoder).  Not a
 * public contract. */
#ifndef IRIS_LLAMA_TRAIN_INTERNAL_H
#define IRIS_LLAMA_TRAIN_INTERNAL_H

#include "llama_train.h"
#include "nets/llama.h"

/* Copies a weight (any dtype, host memory) into a new f32 parameter named
 * name; returns its index, -1 when src has no data, -2 on failure. */
int iris_llama_train_add_from(iris_llama_train *m, const char *name, const iris_tensor *src, int group);

/* y = x W^T + b (+ the LoRA of layer l's module mod when it has one), keeping
 * the LoRA hidden in S; wi / bi parameter indexes (bi -1: no bias). */
void iris_tl_lin_fwd(iris_llama_train *m, iris_tl_acts *S, int l, int mod, float *y, const float *x, int n, int in,
                     int out, int wi, int bi);
/* Gradients of W, b and the LoRA matrices (those that train) from dy [n, out];
 * dx = (beta 0) or += (beta 1) dL/dx, NULL when not needed. */
void iris_tl_lin_bwd(iris_llama_train *m, iris_tl_acts *S, int l, int mod, float *dx, float beta, const float *dy,
                     const float *x, int n, int in, int out, int wi, int bi);

/* Every parameter of a generic decoder, named as in its checkpoint. */
int iris_decoder_train_add_params(iris_llama_train *m, const iris_weights *w, const iris_llama *src);
/* One layer forward over a whole sequence (positions m->pos), keeping in S
 * what the backward pass needs; xout may not alias xin. */
void iris_decoder_train_layer_fwd(iris_llama_train *m, int l, iris_tl_acts *S, const float *xin,
                                  float *xout, int n);
/* m->dcur holds dL/d(output of layer l); becomes dL/d(input). */
void iris_decoder_train_layer_bwd(iris_llama_train *m, int l, iris_tl_acts *S, const float *xin, int n);

#endif

/* linear_backward.h — the backward pass of a bias-free linear y = x W^T,
 * spelled once with the backend's GEMM for the modules that need it
 * (perceiver, gated cross-attention, their feed-forwards).
 *
 * Contract (backend_train.h's): all pointers in backend memory, f32;
 * x [n, in], dy [n, out], W [out, in].  gW += dy^T x when gW is non-NULL
 * (frozen weight otherwise); dx = dy W (accumulate: dx += dy W) when dx is
 * non-NULL.
 */
#ifndef IRIS_LINEAR_BACKWARD_H
#define IRIS_LINEAR_BACKWARD_H

#include "core/backend.h"

void iris_linear_backward(const iris_backend *be, const float *w, float *gw, const float *dy,
                          const float *x, int n, int in, int out, float *dx, int accumulate);

#endif

/* cpu_gemv.h — the CPU backend's weight-streaming matrix-vector kernels.
 *
 * cpu_gemv computes y[n,m] = x[n,k] . W[m,k]^T (+ b[m]) for small n: the
 * threads split W's rows, and each row is read from memory once and dotted
 * with all n input rows while it is in registers/L1.  Arguments are validated
 * by cpu_linear; W may be f32, f16, bf16 or Q8_0 (k % 32 == 0).
 */
#ifndef IRIS_CPU_GEMV_H
#define IRIS_CPU_GEMV_H

#include "tensor.h"

/* Largest n that takes the GEMV path; above it sgemm wins. */
#define LINEAR_GEMV_MAX_N 4

void cpu_gemv(float *y, const float *x, const iris_tensor *w, const float *b, int n, int k,
              int m);

#endif

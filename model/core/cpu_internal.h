/* cpu_internal.h — what the CPU backend's files share (not a public contract).
 *
 * The CPU backend (iris_cpu_backend, cpu_backend.c) is split by concern into
 * cpu_<op>.c files; each exports its ops here under a cpu_ prefix.  Ops cannot
 * return errors (backend.h): a bad argument or a failed allocation is recorded
 * with cpu_fail() — the first one wins — and reported by be->error().  Ops
 * then leave their output untouched.
 */
#ifndef IRIS_CPU_INTERNAL_H
#define IRIS_CPU_INTERNAL_H

#include <stdint.h>
#include "backend.h"
#include "error.h"

/* Records the first failure of the CPU backend (later ones are dropped). */
void cpu_fail(const char *fmt, ...) IRIS_PRINTF(1, 2);
/* Non-zero once a failure was recorded: ops then return at once (backend.h). */
int cpu_failed(void);

/* Threads for our OpenMP loops (iris_cpu_threads, initialised on first use). */
int cpu_nthreads(void);

/* f32 view of a 1-D weight of n elements: t->data itself when it is f32, else
 * a converted malloc'd copy stored in *owned (free it).  NULL (and cpu_fail)
 * when t is unusable (no data, wrong size, allocation failure). */
const float *cpu_vec_f32(const iris_tensor *t, int64_t n, float **owned, const char *what);

/* iris_to_f32 (tensor.h), vectorised: n elements of dtype dt at src to f32
 * (n % 32 == 0 for Q8_0). */
void cpu_to_f32(iris_dtype dt, const void *src, float *dst, int64_t n);

/* A zeroed host buffer aligned to 64 bytes (NULL on failure); cpu_free frees it. */
void *cpu_alloc(size_t bytes);
void cpu_free(void *p);

/* ---- ops (semantics in backend.h) ---- */
void cpu_linear(float *y, const float *x, const iris_tensor *w, const iris_tensor *bias,
                int n, int k, int m);
void cpu_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, long stride_a, const float *b, int ldb,
              long stride_b, float beta, float *c, int ldc, long stride_c, int batch);
void cpu_rmsnorm(float *y, const float *x, const iris_tensor *w, int n, int d, float eps,
                 int add_one);
void cpu_layernorm(float *y, const float *x, const iris_tensor *w, const iris_tensor *b,
                   int n, int d, float eps);
void cpu_rope(float *x, int n, int n_heads, int head_dim, int rot_dim, const int32_t *pos,
              float theta, float pos_scale, int interleaved);
void cpu_attention(float *out, const float *q, const float *k, const float *v, int n_q,
                   int q_pos0, int n_kv, int kv_stride, int n_heads, int n_kv_heads,
                   int head_dim, float scale, int causal, float alibi_max_bias);
void cpu_add(float *y, const float *a, const float *b, long n);
void cpu_scale(float *y, const float *x, float s, long n);
void cpu_swiglu(float *y, const float *gate, const float *up, long n);
void cpu_geglu(float *y, const float *gate, const float *up, long n);
void cpu_gelu(float *y, const float *x, long n);
void cpu_gelu_tanh(float *y, const float *x, long n);
void cpu_quick_gelu(float *y, const float *x, long n);
void cpu_silu(float *y, const float *x, long n);
void cpu_clamp(float *y, const float *x, float lo, float hi, long n);
void cpu_softmax(float *y, const float *x, int n, int d);
void cpu_embedding(float *y, const iris_tensor *table, const int32_t *ids, int n, float scale);
void cpu_copy(float *dst, const float *src, long n);

/* ALiBi slope of head h of n_heads for max_bias (the MPT/BLOOM geometric
 * sequence, also used by ggml); shared with the tests' naive twins. */
float cpu_alibi_slope(int h, int n_heads, float max_bias);

/* Element-wise ops split their range across threads only when it is at least
 * this long: below, the fork/join costs more than it saves. */
#define CPU_PAR_MIN 16384

#endif

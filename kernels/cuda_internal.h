/* cuda_internal.h — what the CUDA backend's files share (not a public contract).
 *
 * The plugin (bin/libiris-cuda.so) is split by concern: cuda_context.c owns the
 * device, the stream, the error state and scratch buffers; cuda_blas.c the
 * cuBLAS/cuBLASLt handles; each cuda_<op>.cu holds one family of kernels and
 * exports C launchers declared here.  cuda_backend.c assembles the tables of
 * model/core/backend.h and backend_train.h from them.
 *
 * Rules every launcher follows:
 *  - return at once when cuda_failed() (backend.h: after a failure ops are
 *    no-ops), and validate shapes, recording a bad one with cuda_fail();
 *  - run on cuda_stream() only, asynchronously;
 *  - check the launch with cuda_check_launch() and every API return with
 *    cuda_check() / cublas_check(), so the first failure is what error() shows.
 * Integer arrays (positions, token ids, targets) may live in host or device
 * memory: cuda_ints() returns a device view of either.
 */
#ifndef IRIS_CUDA_INTERNAL_H
#define IRIS_CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime_api.h>
#include "core/backend.h"
#include "core/backend_train.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CUDA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CUDA_PRINTF(a, b)
#endif

/* ---- context (cuda_context.c) ---- */
/* Picks the device, creates the stream and the BLAS handles; 0 or -1 with
 * why[] filled.  Idempotent. */
int cuda_init(char *why, size_t why_len);
const char *cuda_device_name(void);
cudaStream_t cuda_stream(void);
/* Records the first failure (later ones are dropped). */
void cuda_fail(const char *fmt, ...) CUDA_PRINTF(1, 2);
int cuda_failed(void);
const char *cuda_error(void);
void cuda_clear_error(void);
/* 0 when e is cudaSuccess, else records "cuda: <what>: <error string>", -1. */
int cuda_check(cudaError_t e, const char *what);
/* Checks the kernel launch just made (cudaGetLastError). */
int cuda_check_launch(const char *what);
/* Waits for the stream; 0 or -1 (and the recorded error). */
int cuda_sync(void);

/* Growable device scratch buffers, one per slot, valid until the next call
 * for the same slot (the stream is drained before one is replaced). */
enum {
    CUDA_SCRATCH_ACT_BF16 = 0,  /* linear: activations converted to bf16 */
    CUDA_SCRATCH_INTS_A,        /* cuda_ints staging */
    CUDA_SCRATCH_INTS_B,
    CUDA_SCRATCH_ATTN,          /* split-K partial results */
    CUDA_SCRATCH_ROWS,          /* per-row statistics of the backward norms */
    CUDA_SCRATCH_SAMPLE,        /* small results: chosen token, bad-id count */
    CUDA_SCRATCH_PROBS,         /* sampling: unnormalised probabilities */
    CUDA_SCRATCH_COUNT
};
void *cuda_scratch(int slot, size_t bytes);
/* Device view of n int32 at p (copied into scratch slot when p is host
 * memory); NULL after recording a failure. */
const int32_t *cuda_ints(const int32_t *p, long n, int slot);

/* Device memory with the OOM report backend.h asks for (bytes wanted, free). */
void *cuda_alloc(size_t bytes);
void cuda_free(void *p);
int cuda_upload(void *dst, const void *src_host, size_t bytes);
int cuda_download(void *dst_host, const void *src, size_t bytes);
int cuda_weight_upload(iris_tensor *dst, const iris_tensor *src);
void cuda_weight_free(iris_tensor *t);

/* Grid size for a grid-stride loop over n items with `threads` per block. */
static inline unsigned cuda_blocks(long n, int threads)
{
    long b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65536) b = 65536;
    return (unsigned)b;
}

/* ---- BLAS (cuda_blas.c) ---- */
int cuda_blas_init(char *why, size_t why_len);
void *cuda_blas_handle(void);    /* cublasHandle_t */
void *cuda_blaslt_handle(void);  /* cublasLtHandle_t */
void *cuda_blaslt_workspace(size_t *bytes);
/* 0 when status is CUBLAS_STATUS_SUCCESS, else records it, -1. */
int cublas_check(int status, const char *what);

/* ---- conversions (cuda_convert.cu) ---- */
/* dst[i] = bf16(src[i]) for src of dtype dt (f32, f16, bf16, Q8_0 with n a
 * multiple of 32); 1-D weights use cuda_to_f32 instead. */
void cuda_convert_to_bf16(uint16_t *dst, const void *src, iris_dtype dt, long n);
void cuda_convert_to_f32(float *dst, const void *src, iris_dtype dt, long n);

/* ---- ops (semantics in backend.h) ---- */
void cuda_linear(float *y, const float *x, const iris_tensor *w, const iris_tensor *bias,
                 int n, int k, int m);
void cuda_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
               const float *a, int lda, long stride_a, const float *b, int ldb,
               long stride_b, float beta, float *c, int ldc, long stride_c, int batch);
void cuda_add_bias(float *y, const float *bias, int n, int m);
void cuda_rmsnorm(float *y, const float *x, const iris_tensor *w, int n, int d, float eps,
                  int add_one);
void cuda_layernorm(float *y, const float *x, const iris_tensor *w, const iris_tensor *b,
                    int n, int d, float eps);
void cuda_rope(float *x, int n, int n_heads, int head_dim, int rot_dim, const int32_t *pos,
               float theta, float pos_scale, int interleaved);
void cuda_attention(float *out, const float *q, const float *k, const float *v, int n_q,
                    int q_pos0, int n_kv, int kv_stride, int n_heads, int n_kv_heads,
                    int head_dim, float scale, int causal, float alibi_max_bias);
void cuda_add(float *y, const float *a, const float *b, long n);
void cuda_scale(float *y, const float *x, float s, long n);
void cuda_swiglu(float *y, const float *gate, const float *up, long n);
void cuda_geglu(float *y, const float *gate, const float *up, long n);
void cuda_gelu(float *y, const float *x, long n);
void cuda_gelu_tanh(float *y, const float *x, long n);
void cuda_quick_gelu(float *y, const float *x, long n);
void cuda_silu(float *y, const float *x, long n);
void cuda_softmax(float *y, const float *x, int n, int d);
void cuda_embedding(float *y, const iris_tensor *table, const int32_t *ids, int n, float scale);
void cuda_copy(float *dst, const float *src, long n);

/* Attention paths (cuda_attention_prefill.cu, cuda_attention_decode.cu), called
 * by cuda_attention() after validation; pos/slopes per the CPU reference. */
#define CUDA_ATTN_MAX_HEADS 256
#define CUDA_ATTN_MAX_HEAD_DIM 256
typedef struct { int on; float s[CUDA_ATTN_MAX_HEADS]; } cuda_alibi_slopes;
void cuda_attention_prefill(float *out, const float *q, const float *k, const float *v,
                            int n_q, int q_pos0, int n_kv, int kv_stride, int n_heads,
                            int n_kv_heads, int head_dim, float scale, int causal,
                            const cuda_alibi_slopes *slopes);
/* Opt-in bf16 tensor-core prefill (IRIS_CUDA_ATTN=tc), head_dim % 16 == 0, <= 128. */
int cuda_attention_tc_eligible(int head_dim);
void cuda_attention_tc(float *out, const float *q, const float *k, const float *v, int n_q,
                       int q_pos0, int n_kv, int kv_stride, int n_heads, int n_kv_heads,
                       int head_dim, float scale, int causal, const cuda_alibi_slopes *slopes);
void cuda_attention_decode(float *out, const float *q, const float *k, const float *v,
                           int n_q, int q_pos0, int n_kv, int kv_stride, int n_heads,
                           int n_kv_heads, int head_dim, float scale, int causal,
                           const cuda_alibi_slopes *slopes);

/* ---- training and sampling ops (semantics in backend_train.h) ---- */
void cuda_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                           const float *w, int n, int d, float eps, int add_one);
void cuda_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                             const float *x, const float *w, int n, int d, float eps);
void cuda_rope_backward(float *dx, int n, int n_heads, int head_dim, int rot_dim,
                        const int32_t *pos, float theta, float pos_scale, int interleaved);
void cuda_swiglu_backward(float *dgate, float *dup, const float *dy, const float *gate,
                          const float *up, long n);
void cuda_geglu_backward(float *dgate, float *dup, const float *dy, const float *gate,
                         const float *up, long n);
void cuda_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int n,
                             int d, int vocab, float scale);
void cuda_cross_entropy(float *loss, float *dlogits, const float *logits,
                        const int32_t *targets, int n, int v, float grad_scale);
void cuda_adamw_step(float *param, const float *grad, float *m, float *v, long n,
                     const iris_adamw_params *p);
int cuda_argmax(const float *logits, int v);
int cuda_sample(const float *logits, int v, const iris_sample_params *p);

#ifdef __cplusplus
}
#endif

#endif

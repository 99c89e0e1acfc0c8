/* backend.h — the table of operations every compute backend implements.
 *
 * Networks (llama_forward, clip_forward, ...) are written once as sequences of
 * calls through this table; the CPU backend (model/core/cpu_*.c) is the
 * reference and the CUDA backend (kernels/) must agree with it.
 *
 * Contract:
 *  - Activation buffers are f32, row-major, allocated with be->alloc (device
 *    memory for CUDA, host memory for the CPU).  Weights are iris_tensor values
 *    prepared with be->weight_upload (CPU: the mmap'd tensor itself; CUDA: a
 *    bf16 copy on the device).
 *  - Shapes are passed explicitly as ints; "n" is the number of rows (tokens).
 *    Integer arrays (token ids, positions) are always host memory.
 *  - Ops do not return errors; a backend that can fail (CUDA) records the first
 *    failure and reports it through be->error(), which the caller checks once
 *    per layer or step.  After a failure later ops are no-ops.
 *  - Every op may be asynchronous; be->sync() waits (and returns be->error()).
 */
#ifndef IRIS_BACKEND_H
#define IRIS_BACKEND_H

#include <stdint.h>
#include "tensor.h"

typedef struct iris_backend iris_backend;

struct iris_backend {
    const char *name;   /* "cpu", "cuda" */

    /* ---- memory ---- */
    void *(*alloc)(size_t bytes);          /* zeroed; NULL on failure */
    void (*free)(void *p);
    int (*upload)(void *dst, const void *src_host, size_t bytes);
    int (*download)(void *dst_host, const void *src, size_t bytes);
    /* Makes a weight usable by this backend.  dst gets its own descriptor;
     * the CPU backend shares src's data, CUDA copies (converting to bf16). */
    int (*weight_upload)(iris_tensor *dst, const iris_tensor *src);
    void (*weight_free)(iris_tensor *t);
    int (*sync)(void);
    const char *(*error)(void);            /* NULL while all is well */

    /* ---- linear algebra ---- */
    /* y[n,m] = x[n,k] . W[m,k]^T (+ bias[m] when bias != NULL).  W may be any
     * weight dtype; accumulation is f32.  bias is an f32 weight or NULL. */
    void (*linear)(float *y, const float *x, const iris_tensor *w,
                   const iris_tensor *bias, int n, int k, int m);
    /* Batched row-major f32 GEMM: C_b = alpha op(A_b) op(B_b) + beta C_b,
     * op(A) is [m,k], op(B) is [k,n]; strides are in elements between batches. */
    void (*gemm)(int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, long stride_a,
                 const float *b, int ldb, long stride_b, float beta,
                 float *c, int ldc, long stride_c, int batch);

    /* ---- normalisation ---- */
    /* y = x / rms(x) * w  (w' = 1 + w when add_one: Gemma). */
    void (*rmsnorm)(float *y, const float *x, const iris_tensor *w, int n, int d,
                    float eps, int add_one);
    /* y = (x - mean) / sqrt(var + eps) * w + b; w or b may be NULL. */
    void (*layernorm)(float *y, const float *x, const iris_tensor *w,
                      const iris_tensor *b, int n, int d, float eps);

    /* ---- position ---- */
    /* In-place rotary embedding on x[n, n_heads*head_dim].  Token i sits at
     * position pos[i]; angle = (pos * pos_scale) * theta^(-2j/rot_dim).
     * interleaved=0 rotates halves (x[j], x[j+rot_dim/2]) as HF does;
     * interleaved=1 rotates pairs (x[2j], x[2j+1]) as GGUF llama files need. */
    void (*rope)(float *x, int n, int n_heads, int head_dim, int rot_dim,
                 const int32_t *pos, float theta, float pos_scale, int interleaved);

    /* ---- attention ---- */
    /* Scaled dot-product attention of n_q queries against n_kv cached keys.
     * q: [n_q, n_heads*head_dim]; k,v: [n_kv, n_kv_heads*head_dim] (row stride
     * kv_stride elements); out: [n_q, n_heads*head_dim].  Query i sits at
     * position q_pos0 + i and, when causal, sees keys 0..q_pos0+i.  Head h reads
     * kv head h / (n_heads / n_kv_heads).  alibi_max_bias > 0 adds ALiBi. */
    void (*attention)(float *out, const float *q, const float *k, const float *v,
                      int n_q, int q_pos0, int n_kv, int kv_stride, int n_heads,
                      int n_kv_heads, int head_dim, float scale, int causal,
                      float alibi_max_bias);

    /* ---- element-wise ---- */
    void (*add)(float *y, const float *a, const float *b, long n);       /* y=a+b */
    void (*scale)(float *y, const float *x, float s, long n);            /* y=s*x */
    void (*swiglu)(float *y, const float *gate, const float *up, long n); /* silu(g)*u */
    void (*geglu)(float *y, const float *gate, const float *up, long n);  /* gelu_tanh(g)*u */
    void (*gelu)(float *y, const float *x, long n);        /* exact (erf) */
    void (*gelu_tanh)(float *y, const float *x, long n);
    void (*quick_gelu)(float *y, const float *x, long n);  /* x*sigmoid(1.702x) */
    void (*silu)(float *y, const float *x, long n);
    void (*softmax)(float *y, const float *x, int n, int d); /* row-wise */
    /* y = min(max(x, lo), hi) (MPT's clip_qkv); may be NULL on a backend
     * without it: callers refuse such models there. */
    void (*clamp)(float *y, const float *x, float lo, float hi, long n);

    /* ---- lookup ---- */
    /* y[i,:] = table[ids[i],:] * scale; ids must be validated by the caller. */
    void (*embedding)(float *y, const iris_tensor *table, const int32_t *ids,
                      int n, float scale);
    /* Copies n floats (both pointers in this backend's memory). */
    void (*copy)(float *dst, const float *src, long n);
};

/* The CPU backend; always present. */
const iris_backend *iris_cpu_backend(void);
/* Sets the CPU thread count (0 = all cores). */
void iris_cpu_set_threads(int n);
int iris_cpu_threads(void);
/* Forgets the CPU backend's recorded failure, so that its ops run again. */
void iris_cpu_clear_error(void);

/* The CUDA backend when compiled in and a device is visible; NULL otherwise
 * (why is written to why[] when non-NULL). */
const iris_backend *iris_cuda_backend(char *why, size_t why_len);
/* Describes the visible GPU ("NVIDIA H100 80GB HBM3, 79.1 GiB") or "none". */
const char *iris_cuda_device_name(void);

#endif

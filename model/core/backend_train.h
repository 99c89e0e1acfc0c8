/* backend_train.h — the optional second table of backend operations: the
 * backward passes, the loss and the optimizer that training needs, and token
 * sampling that keeps the logits where they are.
 *
 * Contract (as backend.h): every pointer is in the backend's memory (device
 * memory for CUDA) except the integer arrays (pos, ids, targets), which may be
 * host or backend memory; f32 row-major; shapes passed as ints.  Ops do not
 * return errors: a failure is recorded by the backend and read through the
 * main table's error() / sync().  Gradients of parameters ACCUMULATE (+=) so
 * that micro-batches add up; gradients of activations are written (=).
 * The CPU table (iris_cpu_train_ops, model/core/cpu_train_*.c) is the
 * reference; the CUDA table comes from the plugin (iris_cuda_train_ops).
 */
#ifndef IRIS_BACKEND_TRAIN_H
#define IRIS_BACKEND_TRAIN_H

#include <stddef.h>
#include <stdint.h>

/* torch.optim.AdamW's update (decoupled weight decay, bias-corrected). */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int step;   /* 1 for the first update */
} iris_adamw_params;

/* Sampling: p = softmax(logits / temperature).  The kept set is every token
 * whose p is at least that of the r-th most likely one, where r is the
 * smaller of top_k (<= 0: no limit) and the fewest tokens whose p sums to at
 * least top_p (>= 1: no limit) — ties at the boundary are all kept.  A uniform
 * u in [0,1) drawn from seed (iris_sample_uniform) picks, walking the kept
 * tokens in id order, the first whose running sum exceeds u * (kept mass).
 * temperature <= 0 means argmax.  Same seed, same logits: same token. */
typedef struct {
    float temperature;
    int top_k;
    float top_p;
    uint64_t seed;   /* advance it per step (e.g. seed + step) */
} iris_sample_params;

typedef struct iris_train_ops {
    const char *name;   /* "cpu", "cuda" */

    /* RMSNorm y = x * r * w' (r = 1/sqrt(mean(x^2)+eps), w' = w or 1 + w):
     * dx = d/dx of sum(dy * y); dw += sum over rows of dy * x * r (dw may be
     * NULL: frozen weight).  w is f32[d]. */
    void (*rmsnorm_backward)(float *dx, float *dw, const float *dy, const float *x,
                             const float *w, int n, int d, float eps, int add_one);
    /* LayerNorm y = xhat * w + b: dx written; dw, db accumulated (NULL: skip);
     * w NULL means ones. */
    void (*layernorm_backward)(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, int n, int d, float eps);
    /* In place: dx becomes the gradient before the rotation (rotates back). */
    void (*rope_backward)(float *dx, int n, int n_heads, int head_dim, int rot_dim,
                          const int32_t *pos, float theta, float pos_scale, int interleaved);
    /* y = silu(gate) * up / gelu_tanh(gate) * up: dgate, dup written. */
    void (*swiglu_backward)(float *dgate, float *dup, const float *dy, const float *gate,
                            const float *up, long n);
    void (*geglu_backward)(float *dgate, float *dup, const float *dy, const float *gate,
                           const float *up, long n);
    /* dtable[ids[i], :] += scale * dy[i, :]; ids outside [0, vocab) are an
     * error (nothing is written). */
    void (*embedding_backward)(float *dtable, const float *dy, const int32_t *ids, int n,
                               int d, int vocab, float scale);
    /* Fused softmax cross-entropy over logits[n, v] with targets[n]
     * (-100 or any id outside [0, v): ignored row).  loss[i] = -log softmax
     * (logits[i])[t_i] (0 for an ignored row); dlogits[i] = (softmax - onehot)
     * * grad_scale (0 for an ignored row).  dlogits may equal logits; it may
     * be NULL (loss only). */
    void (*cross_entropy)(float *loss, float *dlogits, const float *logits,
                          const int32_t *targets, int n, int v, float grad_scale);
    /* One AdamW step over n parameters; m and v are the moment buffers. */
    void (*adamw_step)(float *param, const float *grad, float *m, float *v, long n,
                       const iris_adamw_params *p);
    /* Token id of the largest logit of logits[v] (lowest id on ties; NaN
     * never wins), or -1 on failure.  Synchronous: only the id crosses. */
    int (*argmax)(const float *logits, int v);
    /* Token id drawn as iris_sample_params describes, or -1 on failure. */
    int (*sample)(const float *logits, int v, const iris_sample_params *p);
    /* Backward of scaled dot-product attention over one whole sequence
     * (query i at position i; causal or not; grouped-query: head h reads kv
     * head h / (n_heads / n_kv_heads)).  q, dout, dq: [n, n_heads*head_dim];
     * k, v, dk, dv: [n, n_kv_heads*head_dim]; dq, dk, dv are written (=).
     * Recomputes the probabilities from q and k.  NULL in tables without it. */
    void (*attention_backward)(float *dq, float *dk, float *dv, const float *dout, const float *q,
                               const float *k, const float *v, int n, int n_heads, int n_kv_heads,
                               int head_dim, float scale, int causal);
    /* Backward of the element-wise activations of backend.h (gelu: exact
     * erf form; gelu_tanh; quick_gelu x*sigmoid(1.702x)): dx = dy * act'(x),
     * written; dx may equal dy.  NULL in tables without them (then the vision
     * tower cannot be trained on that backend). */
    void (*gelu_backward)(float *dx, const float *dy, const float *x, long n);
    void (*gelu_tanh_backward)(float *dx, const float *dy, const float *x, long n);
    void (*quick_gelu_backward)(float *dx, const float *dy, const float *x, long n);
    /* Backward of non-causal attention of n_q queries over n_kv keys
     * (cross-attention: perceiver latents over [media; latents], text over one
     * image's latents; as backend.h's attention with causal = 0, q_pos0 = 0).
     * q, dout, dq: [n_q, n_heads*head_dim]; k, v, dk, dv: n_kv rows kv_stride
     * elements apart, kv head g in columns [g*head_dim, (g+1)*head_dim) (k and
     * v may be the two halves of one to_kv output); dq and those columns of
     * dk, dv are written (=).  NULL in tables without it. */
    void (*cross_attention_backward)(float *dq, float *dk, float *dv, const float *dout,
                                     const float *q, const float *k, const float *v, int n_q,
                                     int n_kv, int kv_stride, int n_heads, int n_kv_heads,
                                     int head_dim, float scale);
    /* attention_backward with ALiBi (score(i, j) += slope_h (j - i), the
     * forward attention's slopes for alibi_max_bias); NULL where absent. */
    void (*attention_alibi_backward)(float *dq, float *dk, float *dv, const float *dout,
                                     const float *q, const float *k, const float *v, int n,
                                     int n_heads, int n_kv_heads, int head_dim, float scale,
                                     int causal, float alibi_max_bias);
    /* Backward of backend.h's clamp (MPT's clip_qkv), from its OUTPUT y (the
     * input is not kept): dx = dy where lo < y < hi, else 0.  An input
     * exactly on a bound counts as clamped, where torch passes the gradient:
     * a set of measure zero.  dx may equal dy.  NULL where absent. */
    void (*clamp_backward)(float *dx, const float *dy, const float *y, float lo, float hi, long n);
} iris_train_ops;

/* The CPU table; always present. */
const iris_train_ops *iris_cpu_train_ops(void);
/* The CUDA table when the plugin loads and a device is visible; else NULL. */
const iris_train_ops *iris_cuda_train_ops(char *why, size_t why_len);
/* Forgets the CUDA backend's recorded failure (no-op without the plugin). */
void iris_cuda_clear_error(void);

/* The u in [0,1) that sampling uses for seed (splitmix64, 53 bits). */
static inline double iris_sample_uniform(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

#endif

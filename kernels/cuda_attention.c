/* cuda_attention.c — validates an attention call and picks its kernel:
 * split-K flash-decoding for a handful of queries (generation), the tiled
 * flash-attention kernel otherwise (prefill, vision encoders).
 *
 * ALiBi slopes are computed here on the host exactly as the CPU reference
 * does (double, then rounded to f32) and passed by value to the kernels; the
 * bias is slope * (key_pos - query_pos), also as on the CPU.
 * IRIS_CUDA_ATTN=tc selects the bf16 tensor-core prefill kernel where it
 * applies; it is opt-in until it has been verified on a GPU (docs/CUDA.md).
 */
#include "cuda_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Up to this many queries take the split-K decode path. */
#define DECODE_MAX_QUERIES 8

static float alibi_slope(int h, int n_heads, float max_bias)
{
    int p = 1;
    while (p * 2 <= n_heads) p *= 2;
    double m0 = pow(2.0, -(double)max_bias / p), m1 = pow(2.0, -(double)max_bias / (2.0 * p));
    return h < p ? (float)pow(m0, h + 1) : (float)pow(m1, 2 * (h - p) + 1);
}

/* Read at each call so a test can compare both kernels in one process. */
static int use_tensor_cores(void)
{
    const char *e = getenv("IRIS_CUDA_ATTN");
    return e && strcmp(e, "tc") == 0;
}

void cuda_attention(float *out, const float *q, const float *k, const float *v, int n_q,
                    int q_pos0, int n_kv, int kv_stride, int n_heads, int n_kv_heads,
                    int head_dim, float scale, int causal, float alibi_max_bias)
{
    if (cuda_failed() || n_q <= 0) return;
    if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads || head_dim <= 0 || n_kv < 0 ||
        q_pos0 < 0 || kv_stride < n_kv_heads * head_dim) {
        cuda_fail("cuda: attention with inconsistent shapes (heads %d/%d, head_dim %d, "
                  "kv_stride %d, n_kv %d)", n_heads, n_kv_heads, head_dim, kv_stride, n_kv);
        return;
    }
    if (head_dim > CUDA_ATTN_MAX_HEAD_DIM || n_heads > CUDA_ATTN_MAX_HEADS || n_heads > 65535) {
        cuda_fail("cuda: attention supports head_dim <= %d and <= %d heads (got %d, %d)",
                  CUDA_ATTN_MAX_HEAD_DIM, CUDA_ATTN_MAX_HEADS, head_dim, n_heads);
        return;
    }
    cuda_alibi_slopes slopes = {0};
    if (alibi_max_bias > 0) {
        slopes.on = 1;
        for (int h = 0; h < n_heads; h++) slopes.s[h] = alibi_slope(h, n_heads, alibi_max_bias);
    }
    if (n_q <= DECODE_MAX_QUERIES)
        cuda_attention_decode(out, q, k, v, n_q, q_pos0, n_kv, kv_stride, n_heads, n_kv_heads,
                              head_dim, scale, causal, &slopes);
    else if (use_tensor_cores() && cuda_attention_tc_eligible(head_dim))
        cuda_attention_tc(out, q, k, v, n_q, q_pos0, n_kv, kv_stride, n_heads, n_kv_heads,
                          head_dim, scale, causal, &slopes);
    else
        cuda_attention_prefill(out, q, k, v, n_q, q_pos0, n_kv, kv_stride, n_heads, n_kv_heads,
                               head_dim, scale, causal, &slopes);
}

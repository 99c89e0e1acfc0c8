/* cuda_attention_decode.cu — attention for a few queries against a long KV
 * cache (token-by-token generation): split-K "flash-decoding".
 *
 * One query and head give too little parallelism for a GPU, so the visible
 * keys are cut into chunks of CHUNK; block (chunk, head, query) computes a
 * partial softmax — running max m, sum l, unnormalised output acc[D] — and a
 * second kernel merges the chunks: out = sum_c acc_c e^(m_c - M) / sum_c l_c
 * e^(m_c - M).  Inside a block each of the 4 warps takes every 4th key; lanes
 * own output dimensions (lane, lane+32, ...), so K and V rows are read
 * coalesced and a score is one warp reduction.  All f32.
 */
#include "cuda_internal.h"
#include "cuda_reduce.cuh"

#define CHUNK 256
#define WARPS 4
#define MAXC (CUDA_ATTN_MAX_HEAD_DIM / 32)

__global__ static void decode_partial_kernel(float *part, const float *q, const float *k,
                                             const float *v, int q_pos0, int n_kv, int kv_stride,
                                             int n_heads, int group, int D, float scale, int causal,
                                             cuda_alibi_slopes slopes, int n_chunks)
{
    __shared__ float wm[WARPS], wl[WARPS];
    __shared__ float wacc[WARPS][CUDA_ATTN_MAX_HEAD_DIM];
    const int chunk = blockIdx.x, h = blockIdx.y, qi = blockIdx.z;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, kvh = h / group;
    const int qpos = q_pos0 + qi;
    const int kend = causal ? min(n_kv, qpos + 1) : n_kv;
    const int k0 = chunk * CHUNK, k1 = min(kend, k0 + CHUNK);
    const float slope = slopes.on ? slopes.s[h] : 0.0f;

    float qreg[MAXC], acc[MAXC];
    const float *qr = q + ((long)qi * n_heads + h) * D;
#pragma unroll
    for (int c = 0; c < MAXC; c++) {
        int dd = lane + 32 * c;
        qreg[c] = dd < D ? qr[dd] : 0.0f;
        acc[c] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int key = k0 + w; key < k1; key += WARPS) {
        const float *kr = k + (long)key * kv_stride + (long)kvh * D;
        const float *vr = v + (long)key * kv_stride + (long)kvh * D;
        float part_dot = 0.0f;
#pragma unroll
        for (int c = 0; c < MAXC; c++) {
            int dd = lane + 32 * c;
            if (dd < D) part_dot += qreg[c] * kr[dd];
        }
        float s = warp_sum(part_dot) * scale;
        if (slopes.on) s += slope * (float)(key - qpos);
        float mnew = fmaxf(m, s);
        float corr = expf(m - mnew), p = expf(s - mnew);
        l = l * corr + p;
        m = mnew;
#pragma unroll
        for (int c = 0; c < MAXC; c++) {
            int dd = lane + 32 * c;
            if (dd < D) acc[c] = acc[c] * corr + p * vr[dd];
        }
    }
    if (lane == 0) {
        wm[w] = m;
        wl[w] = l;
    }
#pragma unroll
    for (int c = 0; c < MAXC; c++) {
        int dd = lane + 32 * c;
        if (dd < D) wacc[w][dd] = acc[c];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int i = 0; i < WARPS; i++) M = fmaxf(M, wm[i]);
    float *dst = part + (((long)qi * n_heads + h) * n_chunks + chunk) * (D + 2);
    if (threadIdx.x == 0) {
        float L = 0.0f;
        if (M != -INFINITY)
            for (int i = 0; i < WARPS; i++) L += wl[i] * expf(wm[i] - M);
        dst[0] = M;
        dst[1] = L;
    }
    for (int dd = threadIdx.x; dd < D; dd += blockDim.x) {
        float a = 0.0f;
        if (M != -INFINITY)
            for (int i = 0; i < WARPS; i++) a += wacc[i][dd] * expf(wm[i] - M);
        dst[2 + dd] = a;
    }
}

__global__ static void decode_merge_kernel(float *out, const float *part, int n_heads, int D,
                                           int n_chunks)
{
    const int h = blockIdx.x, qi = blockIdx.y;
    const float *src = part + ((long)qi * n_heads + h) * n_chunks * (D + 2);
    float M = -INFINITY;
    for (int c = 0; c < n_chunks; c++) M = fmaxf(M, src[(long)c * (D + 2)]);
    float L = 0.0f;
    if (M != -INFINITY)
        for (int c = 0; c < n_chunks; c++) L += src[(long)c * (D + 2) + 1] * expf(src[(long)c * (D + 2)] - M);
    float inv = L > 0.0f ? 1.0f / L : 0.0f; /* sees nothing: zeros */
    float *o = out + ((long)qi * n_heads + h) * D;
    for (int dd = threadIdx.x; dd < D; dd += blockDim.x) {
        float a = 0.0f;
        if (M != -INFINITY)
            for (int c = 0; c < n_chunks; c++) {
                const float *pc = src + (long)c * (D + 2);
                a += pc[2 + dd] * expf(pc[0] - M);
            }
        o[dd] = a * inv;
    }
}

extern "C" void cuda_attention_decode(float *out, const float *q, const float *k, const float *v,
                                      int n_q, int q_pos0, int n_kv, int kv_stride, int n_heads,
                                      int n_kv_heads, int head_dim, float scale, int causal,
                                      const cuda_alibi_slopes *slopes)
{
    int n_chunks = (n_kv + CHUNK - 1) / CHUNK;
    if (n_chunks < 1) n_chunks = 1;
    size_t part_floats = (size_t)n_q * n_heads * n_chunks * (head_dim + 2);
    float *part = (float *)cuda_scratch(CUDA_SCRATCH_ATTN, part_floats * sizeof(float));
    if (!part) return;
    dim3 grid(n_chunks, n_heads, n_q);
    decode_partial_kernel<<<grid, WARPS * 32, 0, cuda_stream()>>>(
        part, q, k, v, q_pos0, n_kv, kv_stride, n_heads, n_heads / n_kv_heads, head_dim, scale,
        causal, *slopes, n_chunks);
    if (cuda_check_launch("attention decode (partials)")) return;
    decode_merge_kernel<<<dim3(n_heads, n_q), 128, 0, cuda_stream()>>>(out, part, n_heads, head_dim,
                                                                        n_chunks);
    cuda_check_launch("attention decode (merge)");
}

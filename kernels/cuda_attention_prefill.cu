/* cuda_attention_prefill.cu — fused attention for many queries (prefill,
 * vision encoders): flash-attention style, never materialising the scores.
 *
 * A block (4 warps) owns 16 queries of one head; warp w handles queries
 * w, w+4, w+8, w+12 of them.  The block walks the visible keys in tiles of 32,
 * staging K and V in shared memory (K rows padded by one float so that lane j
 * reading key j's row hits distinct banks).  For each query the lanes score one
 * key each (a full dot product, summed in the CPU's order), then the running
 * max / sum / output are rescaled (online softmax) and P.V is accumulated with
 * lane owning output dimensions lane, lane+32, ... (head_dim <= 256).
 * Scores, softmax and accumulation are f32 on CUDA cores: this op is checked
 * against the CPU at f32 tolerance.  (An opt-in bf16 tensor-core variant is
 * in cuda_attention_tc.cu.)
 */
#include "cuda_internal.h"
#include "cuda_reduce.cuh"

#define QB 16          /* queries per block */
#define KT 32          /* keys per tile (one per lane) */
#define WARPS 4
#define MAXC (CUDA_ATTN_MAX_HEAD_DIM / 32)

__global__ static void prefill_kernel(float *out, const float *q, const float *k, const float *v,
                                      int n_q, int q_pos0, int n_kv, int kv_stride, int n_heads,
                                      int group, int D, float scale, int causal,
                                      cuda_alibi_slopes slopes)
{
    extern __shared__ float smem[];
    float *qs = smem;                 /* [QB][D] */
    float *ks = qs + QB * D;          /* [KT][D+1] */
    float *vs = ks + KT * (D + 1);    /* [KT][D] */
    const int h = blockIdx.y, kvh = h / group, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int qbase = blockIdx.x * QB, qd = n_heads * D;
    const int use_alibi = slopes.on;
    const float slope = use_alibi ? slopes.s[h] : 0.0f;

    for (int idx = threadIdx.x; idx < QB * D; idx += blockDim.x) {
        int r = idx / D, c = idx % D, qi = qbase + r;
        qs[idx] = qi < n_q ? q[(long)qi * qd + (long)h * D + c] : 0.0f;
    }
    int qlast = min(n_q - 1, qbase + QB - 1);
    int kend = causal ? min(n_kv, q_pos0 + qlast + 1) : n_kv;

    float m[4], l[4], acc[4][MAXC];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < MAXC; c++) acc[r][c] = 0.0f;
    }

    for (int t0 = 0; t0 < kend; t0 += KT) {
        __syncthreads(); /* the previous tile is no longer read */
        for (int idx = threadIdx.x; idx < KT * D; idx += blockDim.x) {
            int r = idx / D, c = idx % D, key = t0 + r;
            long off = (long)key * kv_stride + (long)kvh * D + c;
            ks[r * (D + 1) + c] = key < n_kv ? k[off] : 0.0f;
            vs[r * D + c] = key < n_kv ? v[off] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int ql = w + 4 * r, qi = qbase + ql;
            if (qi >= n_q) continue;                       /* warp-uniform */
            int qpos = q_pos0 + qi, key = t0 + lane;
            bool valid = key < n_kv && (!causal || key <= qpos);
            float s = -INFINITY;
            if (valid) {
                const float *qr = qs + ql * D, *kr = ks + lane * (D + 1);
                float dot = 0.0f;
                for (int c = 0; c < D; c++) dot += qr[c] * kr[c];
                s = dot * scale;
                if (use_alibi) s += slope * (float)(key - qpos);
            }
            float tmax = warp_max(s);
            if (tmax == -INFINITY) continue;               /* warp-uniform */
            float mnew = fmaxf(m[r], tmax);
            float corr = expf(m[r] - mnew);
            float p = valid ? expf(s - mnew) : 0.0f;
            l[r] = l[r] * corr + warp_sum(p);
            m[r] = mnew;
#pragma unroll
            for (int c = 0; c < MAXC; c++) acc[r][c] *= corr;
            for (int j = 0; j < KT; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
                const float *vr = vs + j * D;
#pragma unroll
                for (int c = 0; c < MAXC; c++) {
                    int dd = lane + 32 * c;
                    if (dd < D) acc[r][c] += pj * vr[dd];
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int qi = qbase + w + 4 * r;
        if (qi >= n_q) continue;
        float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;   /* sees nothing: zeros */
        float *o = out + (long)qi * qd + (long)h * D;
#pragma unroll
        for (int c = 0; c < MAXC; c++) {
            int dd = lane + 32 * c;
            if (dd < D) o[dd] = acc[r][c] * inv;
        }
    }
}

extern "C" void cuda_attention_prefill(float *out, const float *q, const float *k, const float *v,
                                       int n_q, int q_pos0, int n_kv, int kv_stride, int n_heads,
                                       int n_kv_heads, int head_dim, float scale, int causal,
                                       const cuda_alibi_slopes *slopes)
{
    static int smem_raised;
    size_t smem = (size_t)(QB * head_dim + KT * (head_dim + 1) + KT * head_dim) * sizeof(float);
    if (!smem_raised) {
        size_t most = (size_t)(QB * CUDA_ATTN_MAX_HEAD_DIM + KT * (CUDA_ATTN_MAX_HEAD_DIM + 1) +
                               KT * CUDA_ATTN_MAX_HEAD_DIM) * sizeof(float);
        if (cuda_check(cudaFuncSetAttribute(prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)most), "attention: shared memory opt-in"))
            return;
        smem_raised = 1;
    }
    dim3 grid((n_q + QB - 1) / QB, n_heads);
    prefill_kernel<<<grid, WARPS * 32, smem, cuda_stream()>>>(
        out, q, k, v, n_q, q_pos0, n_kv, kv_stride, n_heads, n_heads / n_kv_heads, head_dim, scale,
        causal, *slopes);
    cuda_check_launch("attention prefill");
}

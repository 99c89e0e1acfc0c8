/* cuda_attention_tc.cu — prefill attention on bf16 tensor cores (wmma),
 * OPT-IN: used only when IRIS_CUDA_ATTN=tc and head_dim is a multiple of 16
 * up to 128.  Unverified on hardware (docs/CUDA.md); the f32 kernel in
 * cuda_attention_prefill.cu stays the default until the parity test has
 * passed on a GPU with this path forced.
 *
 * A block of 4 warps owns 64 queries of one head (16 per warp).  Per tile of
 * 64 keys staged in shared memory as bf16: S = Q K^T with 16x16x16 bf16 MMAs
 * into f32, stored to the warp's shared scratch; lanes 0..15 then each own
 * one query row — mask, running max / sum (online softmax), P rounded to
 * bf16, and the rescaling of that row of the f32 output kept in shared
 * memory; finally O += P V with MMAs (O loaded from and stored back to shared
 * memory, since the fragment layout is opaque).  Softmax statistics and O
 * stay f32; only the MMA operands are bf16, so parity is at bf16 tolerance.
 */
#include "cuda_internal.h"

#include <cuda_bf16.h>
#include <mma.h>

using namespace nvcuda;

#define TQ 64      /* queries per block */
#define TK 64      /* keys per tile */
#define TC_MAX_D 128

struct tc_smem_layout {
    int d;
    size_t q, k, v, s, p, o, total; /* byte offsets */
};

__host__ __device__ static tc_smem_layout tc_layout(int d)
{
    tc_smem_layout L;
    L.d = d;
    L.q = 0;                                            /* bf16 [TQ][d] */
    L.k = L.q + (size_t)TQ * d * 2;                     /* bf16 [TK][d] */
    L.v = L.k + (size_t)TK * d * 2;                     /* bf16 [TK][d] */
    L.s = L.v + (size_t)TK * d * 2;                     /* f32 [4][16][TK] */
    L.p = L.s + (size_t)4 * 16 * TK * 4;                /* bf16 [4][16][TK] */
    L.o = L.p + (size_t)4 * 16 * TK * 2;                /* f32 [4][16][d] */
    L.total = L.o + (size_t)4 * 16 * d * 4;
    return L;
}

__global__ static void tc_kernel(float *out, const float *q, const float *k, const float *v,
                                 int n_q, int q_pos0, int n_kv, int kv_stride, int n_heads,
                                 int group, int D, float scale, int causal, cuda_alibi_slopes slopes)
{
    extern __shared__ __align__(32) unsigned char smem[];
    const tc_smem_layout L = tc_layout(D);
    __nv_bfloat16 *qs = (__nv_bfloat16 *)(smem + L.q), *ks = (__nv_bfloat16 *)(smem + L.k);
    __nv_bfloat16 *vs = (__nv_bfloat16 *)(smem + L.v);
    const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float *S = (float *)(smem + L.s) + w * 16 * TK;
    __nv_bfloat16 *P = (__nv_bfloat16 *)(smem + L.p) + w * 16 * TK;
    float *O = (float *)(smem + L.o) + w * 16 * D;
    const int h = blockIdx.y, kvh = h / group, qbase = blockIdx.x * TQ, qd = n_heads * D;
    const float slope = slopes.on ? slopes.s[h] : 0.0f;

    for (int idx = threadIdx.x; idx < TQ * D; idx += blockDim.x) {
        int r = idx / D, c = idx % D, qi = qbase + r;
        qs[idx] = __float2bfloat16_rn(qi < n_q ? q[(long)qi * qd + (long)h * D + c] : 0.0f);
    }
    for (int idx = lane; idx < 16 * D; idx += 32) O[idx] = 0.0f;
    float m = -INFINITY, l = 0.0f; /* lane r < 16: row r of this warp */
    const int my_q = qbase + w * 16 + lane, my_pos = q_pos0 + my_q;
    const int qlast = min(n_q - 1, qbase + TQ - 1);
    const int kend = causal ? min(n_kv, q_pos0 + qlast + 1) : n_kv;

    for (int t0 = 0; t0 < kend; t0 += TK) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < TK * D; idx += blockDim.x) {
            int r = idx / D, c = idx % D, key = t0 + r;
            long off = (long)key * kv_stride + (long)kvh * D + c;
            ks[idx] = __float2bfloat16_rn(key < n_kv ? k[off] : 0.0f);
            vs[idx] = __float2bfloat16_rn(key < n_kv ? v[off] : 0.0f);
        }
        __syncthreads();
        /* S[16][TK] = Q_w[16][D] . K[TK][D]^T */
        for (int kt = 0; kt < TK / 16; kt++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int dd = 0; dd < D; dd += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
                wmma::load_matrix_sync(fa, qs + (w * 16) * D + dd, D);
                wmma::load_matrix_sync(fb, ks + (kt * 16) * D + dd, D);
                wmma::mma_sync(acc, fa, fb, acc);
            }
            wmma::store_matrix_sync(S + kt * 16, acc, TK, wmma::mem_row_major);
        }
        __syncwarp();
        if (lane < 16 && my_q < n_q) {
            float *sr = S + lane * TK;
            float tmax = -INFINITY;
            for (int j = 0; j < TK; j++) {
                int key = t0 + j;
                bool ok = key < n_kv && (!causal || key <= my_pos);
                float s = ok ? sr[j] * scale + (slopes.on ? slope * (float)(key - my_pos) : 0.0f) : -INFINITY;
                sr[j] = s;
                tmax = fmaxf(tmax, s);
            }
            float mnew = fmaxf(m, tmax);
            float corr = mnew == -INFINITY ? 1.0f : expf(m - mnew);
            float sum = 0.0f;
            for (int j = 0; j < TK; j++) {
                float p = sr[j] == -INFINITY ? 0.0f : expf(sr[j] - mnew);
                P[lane * TK + j] = __float2bfloat16_rn(p);
                sum += p;
            }
            l = l * corr + sum;
            m = mnew;
            for (int c = 0; c < D; c++) O[lane * D + c] *= corr;
        } else if (lane < 16) {
            for (int j = 0; j < TK; j++) P[lane * TK + j] = __float2bfloat16_rn(0.0f);
        }
        __syncwarp();
        /* O_w[16][D] += P[16][TK] . V[TK][D] */
        for (int dt = 0; dt < D / 16; dt++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, O + dt * 16, D, wmma::mem_row_major);
            for (int kt = 0; kt < TK; kt += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
                wmma::load_matrix_sync(fa, P + kt, TK);
                wmma::load_matrix_sync(fb, vs + kt * D + dt * 16, D);
                wmma::mma_sync(acc, fa, fb, acc);
            }
            wmma::store_matrix_sync(O + dt * 16, acc, D, wmma::mem_row_major);
        }
        __syncwarp();
    }
    if (lane < 16 && my_q < n_q) {
        float inv = l > 0.0f ? 1.0f / l : 0.0f; /* sees nothing: zeros */
        float *o = out + (long)my_q * qd + (long)h * D;
        for (int c = 0; c < D; c++) o[c] = O[lane * D + c] * inv;
    }
}

extern "C" int cuda_attention_tc_eligible(int head_dim)
{
    return head_dim % 16 == 0 && head_dim <= TC_MAX_D;
}

extern "C" void cuda_attention_tc(float *out, const float *q, const float *k, const float *v,
                                  int n_q, int q_pos0, int n_kv, int kv_stride, int n_heads,
                                  int n_kv_heads, int head_dim, float scale, int causal,
                                  const cuda_alibi_slopes *slopes)
{
    static int smem_raised;
    size_t smem = tc_layout(head_dim).total;
    if (!smem_raised) {
        if (cuda_check(cudaFuncSetAttribute(tc_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)tc_layout(TC_MAX_D).total),
                       "attention (tensor cores): shared memory opt-in"))
            return;
        smem_raised = 1;
    }
    dim3 grid((n_q + TQ - 1) / TQ, n_heads);
    tc_kernel<<<grid, 128, smem, cuda_stream()>>>(out, q, k, v, n_q, q_pos0, n_kv, kv_stride, n_heads,
                                                  n_heads / n_kv_heads, head_dim, scale, causal, *slopes);
    cuda_check_launch("attention prefill (tensor cores)");
}

/* cpu_train_cross_attention.c — backward of non-causal attention of n_q
 * queries over n_kv keys (the train table's cross_attention_backward; see
 * backend_train.h): perceiver latents over [media; latents], text over one
 * image's latents.  Same algebra as cpu_train_attention.c, with rectangular
 * score matrices and strided K/V rows (K and V may be the two column halves
 * of one to_kv output):
 *   P = softmax(scale Q_h K_g^T),  dV_g += P^T dO_h,  dP = dO_h V_g^T,
 *   dS = P * (dP - rowsum(P * dP)),  dQ_h = scale dS K_g,  dK_g += scale dS^T Q_h.
 */
#include "cpu_train_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

void cpu_cross_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                  const float *q, const float *k, const float *v, int n_q,
                                  int n_kv, int kv_stride, int n_heads, int n_kv_heads,
                                  int head_dim, float scale)
{
    if (cpu_failed() || n_q <= 0 || n_kv <= 0) return;
    if (n_kv_heads <= 0 || n_heads % n_kv_heads) {
        cpu_fail("cross-attention backward: %d heads over %d kv heads", n_heads, n_kv_heads);
        return;
    }
    int qd = n_heads * head_dim, kvd = n_kv_heads * head_dim, group = n_heads / n_kv_heads;
    size_t nn = (size_t)n_q * n_kv;
    float *p = malloc(nn * sizeof(float)), *dp = malloc(nn * sizeof(float));
    if (!p || !dp) {
        free(p);
        free(dp);
        cpu_fail("out of memory in cross-attention backward (%d x %d)", n_q, n_kv);
        return;
    }
    /* Only the kv columns are ours: dk and dv may be halves of one buffer. */
    for (int j = 0; j < n_kv; j++) {
        memset(dk + (size_t)j * kv_stride, 0, (size_t)kvd * sizeof(float));
        memset(dv + (size_t)j * kv_stride, 0, (size_t)kvd * sizeof(float));
    }
    for (int h = 0; h < n_heads; h++) {
        int g = h / group;
        const float *qh = q + (size_t)h * head_dim, *kg = k + (size_t)g * head_dim;
        const float *vg = v + (size_t)g * head_dim, *doh = dout + (size_t)h * head_dim;
        cpu_gemm(0, 1, n_q, n_kv, head_dim, scale, qh, qd, 0, kg, kv_stride, 0, 0.0f, p, n_kv, 0, 1);
        cpu_gemm(0, 1, n_q, n_kv, head_dim, 1.0f, doh, qd, 0, vg, kv_stride, 0, 0.0f, dp, n_kv, 0, 1);
#pragma omp parallel for if (nn >= CPU_PAR_MIN) num_threads(cpu_nthreads()) schedule(static)
        for (int i = 0; i < n_q; i++) {
            float *pi = p + (size_t)i * n_kv, *dpi = dp + (size_t)i * n_kv;
            float mx = -INFINITY;
            for (int j = 0; j < n_kv; j++) mx = pi[j] > mx ? pi[j] : mx;
            double sum = 0.0;
            for (int j = 0; j < n_kv; j++) {
                pi[j] = expf(pi[j] - mx);
                sum += pi[j];
            }
            float inv = (float)(1.0 / sum);
            double dot = 0.0;
            for (int j = 0; j < n_kv; j++) {
                pi[j] *= inv;
                dot += (double)pi[j] * dpi[j];
            }
            for (int j = 0; j < n_kv; j++) dpi[j] = pi[j] * (dpi[j] - (float)dot);
        }
        cpu_gemm(1, 0, n_kv, head_dim, n_q, 1.0f, p, n_kv, 0, doh, qd, 0, 1.0f,
                 dv + (size_t)g * head_dim, kv_stride, 0, 1);
        cpu_gemm(0, 0, n_q, head_dim, n_kv, scale, dp, n_kv, 0, kg, kv_stride, 0, 0.0f,
                 dq + (size_t)h * head_dim, qd, 0, 1);
        cpu_gemm(1, 0, n_kv, head_dim, n_q, scale, dp, n_kv, 0, qh, qd, 0, 1.0f,
                 dk + (size_t)g * head_dim, kv_stride, 0, 1);
    }
    free(p);
    free(dp);
}

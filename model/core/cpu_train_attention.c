/* cpu_train_attention.c — backward pass of (causal, grouped-query) scaled
 * dot-product attention on the CPU, head by head with the backend's GEMM
 * (OpenBLAS blocks spread over the OpenMP threads).
 *
 * Forward (per query head h, reading kv head g = h / (n_heads / n_kv_heads)):
 *   S = scale Q_h K_g^T (causal mask), P = softmax(S), O_h = P V_g.
 * Backward recomputes P from q and k (nothing but q, k, v is kept), then
 *   dV_g += P^T dO_h,  dP = dO_h V_g^T,  dS = P * (dP - rowsum(P * dP)),
 *   dQ_h = scale dS K_g,  dK_g += scale dS^T Q_h.
 * ALiBi adds slope_h (j - i) to S before the softmax (MPT).
 */
#include "cpu_train_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

void cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, int n, int n_heads, int n_kv_heads,
                            int head_dim, float scale, int causal)
{
    cpu_attention_alibi_backward(dq, dk, dv, dout, q, k, v, n, n_heads, n_kv_heads, head_dim, scale,
                                 causal, 0.0f);
}

/* The bias is a constant of the scores, so the backward formulas stay; only
 * the recomputed probabilities must include it. */
void cpu_attention_alibi_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                  const float *k, const float *v, int n, int n_heads, int n_kv_heads,
                                  int head_dim, float scale, int causal, float alibi_max_bias)
{
    if (cpu_failed() || n <= 0) return;
    int qd = n_heads * head_dim, kvd = n_kv_heads * head_dim, group = n_heads / n_kv_heads;
    size_t nn = (size_t)n * n;
    float *p = malloc(nn * sizeof(float)), *dp = malloc(nn * sizeof(float));
    if (!p || !dp) {
        free(p);
        free(dp);
        cpu_fail("out of memory in attention backward (%d tokens)", n);
        return;
    }
    memset(dk, 0, (size_t)n * kvd * sizeof(float));
    memset(dv, 0, (size_t)n * kvd * sizeof(float));
    for (int h = 0; h < n_heads; h++) {
        int g = h / group;
        float slope = alibi_max_bias > 0 ? cpu_alibi_slope(h, n_heads, alibi_max_bias) : 0.0f;
        const float *qh = q + (size_t)h * head_dim, *kg = k + (size_t)g * head_dim;
        const float *vg = v + (size_t)g * head_dim, *doh = dout + (size_t)h * head_dim;
        cpu_gemm(0, 1, n, n, head_dim, scale, qh, qd, 0, kg, kvd, 0, 0.0f, p, n, 0, 1);
        cpu_gemm(0, 1, n, n, head_dim, 1.0f, doh, qd, 0, vg, kvd, 0, 0.0f, dp, n, 0, 1);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++) {
            float *pi = p + (size_t)i * n, *dpi = dp + (size_t)i * n;
            int len = causal ? i + 1 : n;
            float mx = -INFINITY;
            if (slope != 0.0f)
                for (int j = 0; j < len; j++) pi[j] += slope * (float)(j - i);
            for (int j = 0; j < len; j++) mx = pi[j] > mx ? pi[j] : mx;
            double sum = 0.0;
            for (int j = 0; j < len; j++) {
                pi[j] = expf(pi[j] - mx);
                sum += pi[j];
            }
            float inv = (float)(1.0 / sum);
            double dot = 0.0;
            for (int j = 0; j < len; j++) {
                pi[j] *= inv;
                dot += (double)pi[j] * dpi[j];
            }
            for (int j = 0; j < len; j++) dpi[j] = pi[j] * (dpi[j] - (float)dot);
            for (int j = len; j < n; j++) pi[j] = dpi[j] = 0.0f;
        }
        /* dV_g += P^T dO_h */
        cpu_gemm(1, 0, n, head_dim, n, 1.0f, p, n, 0, doh, qd, 0, 1.0f, dv + (size_t)g * head_dim, kvd, 0, 1);
        /* dQ_h = scale dS K_g */
        cpu_gemm(0, 0, n, head_dim, n, scale, dp, n, 0, kg, kvd, 0, 0.0f, dq + (size_t)h * head_dim, qd, 0, 1);
        /* dK_g += scale dS^T Q_h */
        cpu_gemm(1, 0, n, head_dim, n, scale, dp, n, 0, qh, qd, 0, 1.0f, dk + (size_t)g * head_dim, kvd, 0, 1);
    }
    free(p);
    free(dp);
}

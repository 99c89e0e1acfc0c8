/* cpu_norm.c — RMSNorm (with Gemma's 1 + w) and LayerNorm over rows of d.
 *
 * Statistics accumulate in double: rows are short (d <= 8192), so the cost is
 * nothing and the result does not depend on d's size or the activations'
 * magnitude.  Parallel over rows.
 */
#include "cpu_internal.h"

#include <math.h>
#include <stdlib.h>

void cpu_rmsnorm(float *y, const float *x, const iris_tensor *w, int n, int d, float eps,
                 int add_one)
{
    if (cpu_failed() || n <= 0 || d <= 0) return;
    float *owned;
    const float *wf = cpu_vec_f32(w, d, &owned, "rmsnorm weight");
    if (!wf) return;
#pragma omp parallel for if ((long)n * d >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int i = 0; i < n; i++) {
        const float *xr = x + (long)i * d;
        float *yr = y + (long)i * d;
        double ss = 0.0;
        for (int j = 0; j < d; j++) ss += (double)xr[j] * xr[j];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        if (add_one)
            for (int j = 0; j < d; j++) yr[j] = xr[j] * r * (1.0f + wf[j]);
        else
            for (int j = 0; j < d; j++) yr[j] = xr[j] * r * wf[j];
    }
    free(owned);
}

void cpu_layernorm(float *y, const float *x, const iris_tensor *w, const iris_tensor *b,
                   int n, int d, float eps)
{
    if (cpu_failed() || n <= 0 || d <= 0) return;
    float *w_owned = NULL, *b_owned = NULL;
    const float *wf = NULL, *bf = NULL;
    if (w && !(wf = cpu_vec_f32(w, d, &w_owned, "layernorm weight"))) return;
    if (b && !(bf = cpu_vec_f32(b, d, &b_owned, "layernorm bias"))) {
        free(w_owned);
        return;
    }
#pragma omp parallel for if ((long)n * d >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int i = 0; i < n; i++) {
        const float *xr = x + (long)i * d;
        float *yr = y + (long)i * d;
        double s = 0.0;
        for (int j = 0; j < d; j++) s += xr[j];
        double mean = s / d, var = 0.0;
        for (int j = 0; j < d; j++) var += (xr[j] - mean) * (xr[j] - mean);
        float r = (float)(1.0 / sqrt(var / d + eps)), mf = (float)mean;
        for (int j = 0; j < d; j++) {
            float v = (xr[j] - mf) * r;
            if (wf) v *= wf[j];
            if (bf) v += bf[j];
            yr[j] = v;
        }
    }
    free(w_owned);
    free(b_owned);
}

/* cpu_train_norm.c — RMSNorm and LayerNorm backward (backend_train.h).
 *
 * Per row, with r = 1/sqrt(var + eps) computed as in the forward pass:
 *   RMSNorm:   g = dy * w'  (w' = w or 1 + w),
 *              dx = r g - x r^3 mean(g x),        dw += sum_rows dy x r
 *   LayerNorm: xhat = (x - mean) r,  g = dy * w,
 *              dx = r (g - mean(g) - xhat mean(g xhat)),
 *              dw += sum_rows dy xhat,            db += sum_rows dy
 * dx is parallel over rows; dw/db over columns (each thread owns whole
 * columns, so no two threads add to one element and the order is fixed).
 * Row statistics go to a scratch array first so dx may overwrite dy or x.
 */
#include "cpu_train_internal.h"

#include <math.h>
#include <stdlib.h>

/* stats[2i] = mean (0 for RMSNorm), stats[2i+1] = r. */
static float *row_stats(const float *x, int n, int d, float eps, int center)
{
    float *stats = malloc((size_t)n * 2 * sizeof *stats);
    if (!stats) {
        cpu_fail("cpu: out of memory in norm backward");
        return NULL;
    }
#pragma omp parallel for if ((long)n * d >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int i = 0; i < n; i++) {
        const float *xr = x + (long)i * d;
        double mean = 0.0, ss = 0.0;
        if (center) {
            for (int j = 0; j < d; j++) mean += xr[j];
            mean /= d;
        }
        for (int j = 0; j < d; j++) ss += (xr[j] - mean) * (xr[j] - mean);
        stats[2 * i] = (float)mean;
        stats[2 * i + 1] = (float)(1.0 / sqrt(ss / d + eps));
    }
    return stats;
}

static void weight_grads(float *dw, float *db, const float *dy, const float *x,
                         const float *stats, int n, int d)
{
#pragma omp parallel for if ((long)n * d >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int j = 0; j < d; j++) {
        double sw = 0.0, sb = 0.0;
        for (int i = 0; i < n; i++) {
            float g = dy[(long)i * d + j];
            sw += (double)g * ((x[(long)i * d + j] - stats[2 * i]) * stats[2 * i + 1]);
            sb += g;
        }
        if (dw) dw[j] += (float)sw;
        if (db) db[j] += (float)sb;
    }
}

void cpu_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                          const float *w, int n, int d, float eps, int add_one)
{
    if (cpu_failed() || n <= 0 || d <= 0) return;
    if (!w) {
        cpu_fail("cpu: rmsnorm backward without a weight");
        return;
    }
    float *stats = row_stats(x, n, d, eps, 0);
    if (!stats) return;
    if (dw) weight_grads(dw, NULL, dy, x, stats, n, d);
#pragma omp parallel for if ((long)n * d >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int i = 0; i < n; i++) {
        long off = (long)i * d;
        float r = stats[2 * i + 1];
        double dot = 0.0;
        for (int j = 0; j < d; j++) dot += (double)dy[off + j] * (add_one ? 1.0f + w[j] : w[j]) * x[off + j];
        float c = (float)(dot / d) * r * r * r;
        for (int j = 0; j < d; j++) {
            float wj = add_one ? 1.0f + w[j] : w[j];
            dx[off + j] = r * dy[off + j] * wj - x[off + j] * c;
        }
    }
    free(stats);
}

void cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int n, int d, float eps)
{
    if (cpu_failed() || n <= 0 || d <= 0) return;
    float *stats = row_stats(x, n, d, eps, 1);
    if (!stats) return;
    if (dw || db) weight_grads(dw, db, dy, x, stats, n, d);
#pragma omp parallel for if ((long)n * d >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int i = 0; i < n; i++) {
        long off = (long)i * d;
        float mean = stats[2 * i], r = stats[2 * i + 1];
        double sg = 0.0, sgx = 0.0;
        for (int j = 0; j < d; j++) {
            float g = dy[off + j] * (w ? w[j] : 1.0f);
            sg += g;
            sgx += (double)g * ((x[off + j] - mean) * r);
        }
        float mg = (float)(sg / d), mgx = (float)(sgx / d);
        for (int j = 0; j < d; j++) {
            float g = dy[off + j] * (w ? w[j] : 1.0f);
            float xhat = (x[off + j] - mean) * r;
            dx[off + j] = r * (g - mg - xhat * mgx);
        }
    }
    free(stats);
}

/* cpu_linear.c — y[n,m] = x[n,k] . W[m,k]^T + bias for every weight dtype.
 *
 * Two regimes:
 *  - few rows (decode, n <= LINEAR_GEMV_MAX_N): the op is bound by reading W,
 *    so each thread streams its share of W's rows once and dots each row with
 *    all n inputs (cpu_gemv.c holds the per-dtype kernels);
 *  - many rows (prefill): compute-bound, so OpenBLAS sgemm does the work — on
 *    W directly when it is f32, otherwise on panels of W converted to f32.
 */
#include "cpu_internal.h"
#include "cpu_gemv.h"

#include <cblas.h>
#include <stdlib.h>

/* Panel of W rows converted at a time for sgemm: big enough that sgemm runs
 * efficiently on it, small enough (PANEL_ROWS * k * 4 bytes) to stay in L2/L3. */
#define PANEL_ROWS 256

static int check_linear(const float *y, const float *x, const iris_tensor *w,
                        const iris_tensor *bias, int n, int k, int m)
{
    if (!y || !x || !w || !w->data || n < 0 || k <= 0 || m <= 0) {
        cpu_fail("cpu: linear called with a NULL pointer or bad size (n=%d k=%d m=%d)", n, k, m);
        return -1;
    }
    if (iris_tensor_cols(w) != k || iris_tensor_rows(w) != m) {
        cpu_fail("cpu: linear weight is [%lld,%lld], expected [%d,%d]",
                 (long long)iris_tensor_rows(w), (long long)iris_tensor_cols(w), m, k);
        return -1;
    }
    if (w->dtype == IRIS_I32 || (unsigned)w->dtype >= IRIS_DTYPE_COUNT ||
        !iris_dtype_row_bytes(w->dtype, k)) {
        cpu_fail("cpu: linear weight dtype %s with k=%d is not supported",
                 iris_dtype_name(w->dtype), k);
        return -1;
    }
    if (bias && (!bias->data || iris_tensor_numel(bias) != m)) {
        cpu_fail("cpu: linear bias has %lld elements, expected %d",
                 (long long)iris_tensor_numel(bias), m);
        return -1;
    }
    return 0;
}

static void add_bias(float *y, const float *b, int n, int m)
{
#pragma omp parallel for if ((long)n * m >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) y[(long)i * m + j] += b[j];
}

/* sgemm on f32 panels of W: convert PANEL_ROWS rows (in parallel), multiply,
 * repeat.  Each panel writes a column block of y (ldc = m). */
static void linear_panels(float *y, const float *x, const iris_tensor *w, int n, int k, int m)
{
    int rows = m < PANEL_ROWS ? m : PANEL_ROWS;
    float *panel = malloc((size_t)rows * k * sizeof *panel);
    if (!panel) {
        cpu_fail("cpu: out of memory for a %dx%d linear panel", rows, k);
        return;
    }
    size_t row_bytes = iris_dtype_row_bytes(w->dtype, k);
    for (int j0 = 0; j0 < m; j0 += rows) {
        int nr = m - j0 < rows ? m - j0 : rows;
#pragma omp parallel for num_threads(cpu_nthreads()) schedule(static)
        for (int r = 0; r < nr; r++)
            iris_to_f32(w->dtype, (const char *)w->data + (size_t)(j0 + r) * row_bytes,
                        panel + (size_t)r * k, k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nr, k, 1.0f, x, k, panel, k,
                    0.0f, y + j0, m);
    }
    free(panel);
}

void cpu_linear(float *y, const float *x, const iris_tensor *w, const iris_tensor *bias,
                int n, int k, int m)
{
    if (cpu_failed() || check_linear(y, x, w, bias, n, k, m) || n == 0) return;
    float *b_owned = NULL;
    const float *b = NULL;
    if (bias && !(b = cpu_vec_f32(bias, m, &b_owned, "linear bias"))) return;

    if (n <= LINEAR_GEMV_MAX_N)
        cpu_gemv(y, x, w, b, n, k, m);
    else {
        if (w->dtype == IRIS_F32)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, x, k, w->data, k,
                        0.0f, y, m);
        else
            linear_panels(y, x, w, n, k, m);
        if (b) add_bias(y, b, n, m);
    }
    free(b_owned);
}

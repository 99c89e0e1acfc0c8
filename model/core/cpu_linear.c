/* cpu_linear.c — y[n,m] = x[n,k] . W[m,k]^T + bias for every weight dtype.
 *
 * Two regimes:
 *  - few rows (decode, n <= LINEAR_GEMV_MAX_N): the op is bound by reading W,
 *    so each thread streams its share of W's rows once and dots each row with
 *    all n inputs (cpu_gemv.c holds the per-dtype kernels);
 *  - many rows (prefill): compute-bound, so OpenBLAS sgemm does the work on
 *    blocks of W's rows, one block per OpenMP task — on W directly when it
 *    is f32, otherwise on blocks converted to f32 in a per-thread buffer.
 */
#include "cpu_internal.h"
#include "cpu_gemv.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

/* Target f32 bytes of W per sgemm block: big enough for sgemm to run at full
 * speed and the calls to be few, small enough to sit in L2 while it works. */
#define BLOCK_BYTES (1u << 20)

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

/* Many rows: sgemm on blocks of W's rows, spread over the OpenMP threads
 * (OpenBLAS itself runs single-threaded, see cpu_threads.c).  Block b writes
 * columns [j0, j1) of y (ldc = m).  Non-f32 weights are converted block by
 * block into a per-thread f32 buffer first; the conversion costs ~1% of the
 * block's sgemm.  The block count is a multiple of the thread count so that
 * the threads finish together. */
static void linear_blocks(float *y, const float *x, const iris_tensor *w, int n, int k, int m)
{
    int nt = cpu_nthreads();
    double bytes = 4.0 * m * k;
    long per_thread = (long)(bytes / ((double)nt * BLOCK_BYTES)) + 1;
    long nblocks = per_thread * nt;
    long rows = ((m + nblocks - 1) / nblocks + 15) & ~15L;
    if (rows > m) rows = m;
    nblocks = (m + rows - 1) / rows;
    float *bufs = NULL;
    if (w->dtype != IRIS_F32) {
        bufs = malloc((size_t)nt * rows * k * sizeof *bufs);
        if (!bufs) {
            cpu_fail("cpu: out of memory for %d linear blocks of %ldx%d", nt, rows, k);
            return;
        }
    }
    size_t row_bytes = iris_dtype_row_bytes(w->dtype, k);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (long b = 0; b < nblocks; b++) {
        int j0 = (int)(b * rows), nr = m - j0 < rows ? m - j0 : (int)rows;
        const char *src = (const char *)w->data + (size_t)j0 * row_bytes;
        const float *wb = (const float *)src;
        if (bufs) {
            float *buf = bufs + (size_t)omp_get_thread_num() * rows * k;
            cpu_to_f32(w->dtype, src, buf, (int64_t)nr * k);
            wb = buf;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nr, k, 1.0f, x, k, wb, k, 0.0f,
                    y + j0, m);
    }
    free(bufs);
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
        linear_blocks(y, x, w, n, k, m);
        if (b) add_bias(y, b, n, m);
    }
    free(b_owned);
}

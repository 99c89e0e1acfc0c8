/* cpu_gemm.c — batched row-major f32 GEMM on OpenBLAS.
 *
 * OpenBLAS runs single-threaded (cpu_threads.c); the products are spread
 * over the OpenMP threads: whole products when the batch has enough of them,
 * otherwise blocks of rows of each product.
 */
#include "cpu_internal.h"

#include <cblas.h>

void cpu_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, long stride_a, const float *b, int ldb,
              long stride_b, float beta, float *c, int ldc, long stride_c, int batch)
{
    if (cpu_failed() || m <= 0 || n <= 0 || batch <= 0) return;
    if (k < 0 || ldc < n || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n) ||
        lda < 1 || ldb < 1) {
        cpu_fail("cpu: gemm with inconsistent shapes m=%d n=%d k=%d lda=%d ldb=%d ldc=%d",
                 m, n, k, lda, ldb, ldc);
        return;
    }
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    int nt = cpu_nthreads();
    double flops = 2.0 * m * n * k * batch;
    if (flops < 1e6) nt = 1; /* too small to share */
    if (batch >= nt) {
        /* one product per task (attention-sized batches) */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int i = 0; i < batch; i++)
            cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a + i * stride_a, lda,
                        b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
        return;
    }
    /* few large products: split each one's rows of C (rows of op(A)) */
    int rows = ((m + nt - 1) / nt + 7) & ~7;
    int nblocks = (m + rows - 1) / rows;
    for (int i = 0; i < batch; i++) {
        const float *ai = a + i * stride_a, *bi = b + i * stride_b;
        float *ci = c + i * stride_c;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int blk = 0; blk < nblocks; blk++) {
            int r0 = blk * rows, nr = m - r0 < rows ? m - r0 : rows;
            /* row r0 of op(A): row r0 of A, or column r0 of A stored [k, m] */
            const float *ar = trans_a ? ai + r0 : ai + (long)r0 * lda;
            cblas_sgemm(CblasRowMajor, ta, tb, nr, n, k, alpha, ar, lda, bi, ldb, beta,
                        ci + (long)r0 * ldc, ldc);
        }
    }
}

/* cpu_gemm.c — batched row-major f32 GEMM on OpenBLAS.
 *
 * One (multi-threaded) cblas_sgemm per batch entry.
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
    for (int i = 0; i < batch; i++)
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a + i * stride_a, lda,
                    b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
}

/* cuda_gemm.c — the backend's batched f32 GEMM on cuBLAS.
 *
 * backend.h's gemm is row-major; cuBLAS is column-major.  A row-major matrix
 * is its transpose in column-major, so C = op(A) op(B) (row-major) is computed
 * as C^T = op(B)^T op(A)^T (column-major): swap the operands, keep the
 * transpose flags, swap m and n.
 */
#include "cuda_internal.h"

#include <cublas_v2.h>

void cuda_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
               const float *a, int lda, long stride_a, const float *b, int ldb,
               long stride_b, float beta, float *c, int ldc, long stride_c, int batch)
{
    if (cuda_failed() || m <= 0 || n <= 0 || batch <= 0) return;
    if (k < 0 || ldc < n || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n) || lda < 1 ||
        ldb < 1) {
        cuda_fail("cuda: gemm with inconsistent shapes (m %d n %d k %d, lda %d ldb %d ldc %d)",
                  m, n, k, lda, ldb, ldc);
        return;
    }
    cublasStatus_t s = cublasSgemmStridedBatched(
        (cublasHandle_t)cuda_blas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
        trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, stride_b, a, lda, stride_a,
        &beta, c, ldc, stride_c, batch);
    cublas_check(s, "sgemm strided batched");
}

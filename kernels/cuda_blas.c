/* cuda_blas.c — the cuBLAS and cuBLASLt handles, bound to the backend's
 * stream, and the cuBLASLt workspace.
 *
 * Math mode stays CUBLAS_DEFAULT_MATH: f32 GEMMs (backend gemm) are true f32,
 * never silently TF32, because the CPU backend is the reference they are
 * compared with.  Only linear() trades precision (bf16 weights), knowingly.
 */
#include "cuda_internal.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <stdio.h>

#define LT_WORKSPACE_BYTES (32u << 20)  /* what cuBLASLt's Hopper kernels like */

static cublasHandle_t blas;
static cublasLtHandle_t blaslt;
static void *lt_workspace;

int cuda_blas_init(char *why, size_t why_len)
{
    cublasStatus_t s = cublasCreate(&blas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, why_len, "cuBLAS initialisation failed (%s)", cublasGetStatusString(s));
        return -1;
    }
    if ((s = cublasSetStream(blas, cuda_stream())) != CUBLAS_STATUS_SUCCESS ||
        (s = cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, why_len, "cuBLAS set-up failed (%s)", cublasGetStatusString(s));
        return -1;
    }
    if ((s = cublasLtCreate(&blaslt)) != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, why_len, "cuBLASLt initialisation failed (%s)", cublasGetStatusString(s));
        return -1;
    }
    cudaError_t e = cudaMalloc(&lt_workspace, LT_WORKSPACE_BYTES);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        lt_workspace = NULL;
        snprintf(why, why_len, "cannot allocate the cuBLASLt workspace (%s)", cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

void *cuda_blas_handle(void)
{
    return blas;
}

void *cuda_blaslt_handle(void)
{
    return blaslt;
}

void *cuda_blaslt_workspace(size_t *bytes)
{
    *bytes = lt_workspace ? LT_WORKSPACE_BYTES : 0;
    return lt_workspace;
}

int cublas_check(int status, const char *what)
{
    if (status == CUBLAS_STATUS_SUCCESS) return 0;
    cuda_fail("cublas: %s: %s", what, cublasGetStatusString((cublasStatus_t)status));
    return -1;
}

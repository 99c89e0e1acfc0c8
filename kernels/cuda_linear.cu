/* cuda_linear.cu — y[n,m] = x[n,k] . W[m,k]^T (+ bias) with bf16 tensor cores.
 *
 * Weights live on the device in bf16 (cuda_memory.c).  Activations arrive in
 * f32 (backend.h's contract), and cuBLASLt has no f32 x bf16 mixed-input GEMM,
 * so x is first rounded to bf16 by a small kernel into a scratch buffer; the
 * GEMM then runs bf16 x bf16 with f32 accumulation (CUBLAS_COMPUTE_32F) and
 * writes f32, adding the bias in its epilogue.  The rounding of x costs one
 * read and a half-size write of x — small next to reading W — and is the same
 * precision trade every bf16 inference stack makes; parity with the CPU is
 * therefore checked at bf16 tolerance.
 *
 * Row-major y = x W^T is column-major y^T[m,n] = W[k,m]^T x^T[k,n]: A = W with
 * TRANSA = T (the "TN" layout cuBLASLt prefers), B = x untransposed.
 * Algorithms come from cuBLASLt's heuristic, cached per shape and pointer
 * alignment; if it offers none, cublasGemmEx does the same sum.
 * An f32 weight on the device (e.g. a LoRA matrix being trained) takes the
 * exact f32 path through cuda_gemm instead.
 */
#include "cuda_internal.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <string.h>

__global__ static void f32_to_bf16_kernel(__nv_bfloat16 *dst, const float *src, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ static void add_bias_kernel(float *y, const float *bias, long total, int m)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
        y[i] += bias[i % m];
}

extern "C" void cuda_add_bias(float *y, const float *bias, int n, int m)
{
    long total = (long)n * m;
    if (cuda_failed() || total <= 0) return;
    add_bias_kernel<<<cuda_blocks(total, 256), 256, 0, cuda_stream()>>>(y, bias, total, m);
    cuda_check_launch("linear bias");
}

static unsigned alignment_of(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    unsigned al = 256;
    while (al > 1 && (a & (al - 1))) al >>= 1;
    return al;
}

/* One cached cuBLASLt plan: descriptors and the heuristic's algorithm. */
typedef struct {
    int used, n, k, m, bias;
    unsigned align_x, align_y;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    int has_algo;
} lt_plan;

#define PLAN_CACHE 64
static lt_plan plans[PLAN_CACHE];
static int plan_next;

static void plan_destroy(lt_plan *p)
{
    if (!p->used) return;
    cublasLtMatmulDescDestroy(p->op);
    cublasLtMatrixLayoutDestroy(p->a);
    cublasLtMatrixLayoutDestroy(p->b);
    cublasLtMatrixLayoutDestroy(p->c);
    p->used = 0;
}

static int plan_build(lt_plan *p, int n, int k, int m, int bias, unsigned ax, unsigned ay)
{
    memset(p, 0, sizeof *p);
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    cudaDataType_t bias_type = CUDA_R_32F;
    if (cublas_check(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "lt desc"))
        return -1;
    p->used = 1; /* partly built plans are destroyed as a whole below */
    if (cublas_check(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, k, m, k), "lt layout W") ||
        cublas_check(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, k, n, k), "lt layout x") ||
        cublas_check(cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, m, n, m), "lt layout y") ||
        cublas_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "lt transa") ||
        cublas_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "lt transb") ||
        cublas_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "lt epilogue") ||
        (bias && cublas_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                              &bias_type, sizeof bias_type), "lt bias type"))) {
        plan_destroy(p);
        return -1;
    }
    p->n = n; p->k = k; p->m = m; p->bias = bias; p->align_x = ax; p->align_y = ay;

    cublasLtMatmulPreference_t pref;
    if (cublas_check(cublasLtMatmulPreferenceCreate(&pref), "lt preference")) {
        plan_destroy(p);
        return -1;
    }
    size_t ws_bytes;
    (void)cuda_blaslt_workspace(&ws_bytes);
    uint32_t a_al = 256, b_al = ax, c_al = ay;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &a_al, sizeof a_al);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &b_al, sizeof b_al);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &c_al, sizeof c_al);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &c_al, sizeof c_al);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)cuda_blaslt_handle(), p->op,
                                                      p->a, p->b, p->c, p->c, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s == CUBLAS_STATUS_SUCCESS && found > 0 && res.state == CUBLAS_STATUS_SUCCESS) {
        p->algo = res.algo;
        p->has_algo = 1;
    }
    return 0;
}

static lt_plan *plan_get(int n, int k, int m, int bias, unsigned ax, unsigned ay)
{
    for (int i = 0; i < PLAN_CACHE; i++) {
        lt_plan *p = &plans[i];
        if (p->used && p->n == n && p->k == k && p->m == m && p->bias == bias &&
            p->align_x == ax && p->align_y == ay)
            return p;
    }
    lt_plan *p = &plans[plan_next];
    plan_next = (plan_next + 1) % PLAN_CACHE;
    plan_destroy(p);
    return plan_build(p, n, k, m, bias, ax, ay) == 0 ? p : NULL;
}

static const float *bias_data(const iris_tensor *bias, int m)
{
    if (!bias) return NULL;
    if (bias->dtype != IRIS_F32 || !bias->data || bias->ndim < 1 ||
        bias->shape[bias->ndim - 1] != m) {
        cuda_fail("cuda: linear bias must be an uploaded f32 vector of %d elements", m);
        return NULL;
    }
    return (const float *)bias->data;
}

extern "C" void cuda_linear(float *y, const float *x, const iris_tensor *w,
                            const iris_tensor *bias, int n, int k, int m)
{
    if (cuda_failed() || n <= 0 || m <= 0) return;
    if (!w || !w->data || k <= 0 || w->ndim < 2 || w->shape[w->ndim - 1] != k ||
        w->shape[w->ndim - 2] != m) {
        cuda_fail("cuda: linear weight is not an uploaded [%d, %d] matrix", m, k);
        return;
    }
    const float *b = bias_data(bias, m);
    if (bias && !b) return;
    if (w->dtype == IRIS_F32) {
        cuda_gemm(0, 1, n, m, k, 1.0f, x, k, 0, (const float *)w->data, k, 0, 0.0f, y, m, 0, 1);
        if (b) cuda_add_bias(y, b, n, m);
        return;
    }
    if (w->dtype != IRIS_BF16) {
        cuda_fail("cuda: linear weight has dtype %d; upload it with weight_upload (bf16)", (int)w->dtype);
        return;
    }
    long nk = (long)n * k;
    __nv_bfloat16 *xb = (__nv_bfloat16 *)cuda_scratch(CUDA_SCRATCH_ACT_BF16, (size_t)nk * sizeof *xb);
    if (!xb) return;
    f32_to_bf16_kernel<<<cuda_blocks(nk, 256), 256, 0, cuda_stream()>>>(xb, x, nk);
    if (cuda_check_launch("linear: activations to bf16")) return;

    float alpha = 1.0f, beta = 0.0f;
    unsigned ay = alignment_of(y);
    lt_plan *p = plan_get(n, k, m, b != NULL, alignment_of(xb), ay);
    if (!p) return;
    if (p->has_algo) {
        if (b && cublas_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                              &b, sizeof b), "lt bias pointer"))
            return;
        size_t ws_bytes;
        void *ws = cuda_blaslt_workspace(&ws_bytes);
        cublasStatus_t s = cublasLtMatmul((cublasLtHandle_t)cuda_blaslt_handle(), p->op, &alpha,
                                          w->data, p->a, xb, p->b, &beta, y, p->c, y, p->c,
                                          &p->algo, ws, ws_bytes, cuda_stream());
        cublas_check(s, "cublasLt bf16 matmul");
        return;
    }
    cublasStatus_t s = cublasGemmEx((cublasHandle_t)cuda_blas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, m, n, k,
                                    &alpha, w->data, CUDA_R_16BF, k, xb, CUDA_R_16BF, k, &beta, y,
                                    CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (cublas_check(s, "cublasGemmEx bf16")) return;
    if (b) cuda_add_bias(y, b, n, m);
}

/* cuda_embedding.cu — token embedding gather (forward) and scatter-add
 * (backward).
 *
 * Forward: one block per token copies its row of the table (bf16 matrix or f32)
 * scaled.  Backward: one block per token adds its gradient row into the
 * table's gradient with atomicAdd, because the same id can appear many times
 * in a batch; the summation order of repeated ids is therefore not fixed
 * (differences of a few ulp between runs).
 */
#include "cuda_internal.h"
#include "cuda_reduce.cuh"

__global__ static void embedding_kernel(float *y, const void *table, int t_bf16,
                                        const int32_t *ids, int d, float scale)
{
    long row = ids[blockIdx.x];
    float *yr = y + (long)blockIdx.x * d;
    for (int j = threadIdx.x; j < d; j += blockDim.x) yr[j] = weight_at(table, t_bf16, row * d + j) * scale;
}

__global__ static void embedding_backward_kernel(float *dtable, const float *dy,
                                                 const int32_t *ids, int d, float scale)
{
    float *tr = dtable + (long)ids[blockIdx.x] * d;
    const float *gr = dy + (long)blockIdx.x * d;
    for (int j = threadIdx.x; j < d; j += blockDim.x) atomicAdd(&tr[j], scale * gr[j]);
}

/* Counts ids outside [0, vocab) so a bad id is an error, never a wild write. */
__global__ static void count_bad_ids(const int32_t *ids, int n, int vocab, int *bad)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        if (ids[i] < 0 || ids[i] >= vocab) atomicAdd(bad, 1);
}

extern "C" void cuda_embedding(float *y, const iris_tensor *table, const int32_t *ids, int n,
                               float scale)
{
    if (cuda_failed() || n <= 0) return;
    if (!table || !table->data || table->ndim != 2 ||
        (table->dtype != IRIS_F32 && table->dtype != IRIS_BF16)) {
        cuda_fail("cuda: embedding table must be an uploaded 2-D weight");
        return;
    }
    int d = (int)table->shape[1];
    const int32_t *dids = cuda_ints(ids, n, CUDA_SCRATCH_INTS_A);
    if (!dids || d <= 0) return;
    /* backend.h: ids are validated by the caller, so no check on this hot path. */
    embedding_kernel<<<n, row_threads(d), 0, cuda_stream()>>>(y, table->data, table->dtype == IRIS_BF16,
                                                               dids, d, scale);
    cuda_check_launch("embedding");
}

extern "C" void cuda_embedding_backward(float *dtable, const float *dy, const int32_t *ids,
                                        int n, int d, int vocab, float scale)
{
    if (cuda_failed() || n <= 0 || d <= 0) return;
    const int32_t *dids = cuda_ints(ids, n, CUDA_SCRATCH_INTS_A);
    if (!dids) return;
    int *bad = (int *)cuda_scratch(CUDA_SCRATCH_SAMPLE, sizeof(int));
    if (!bad || cuda_check(cudaMemsetAsync(bad, 0, sizeof(int), cuda_stream()), "embedding backward"))
        return;
    count_bad_ids<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dids, n, vocab, bad);
    int nbad = 0;
    if (cuda_check_launch("embedding backward id check") ||
        cuda_check(cudaMemcpyAsync(&nbad, bad, sizeof nbad, cudaMemcpyDeviceToHost, cuda_stream()),
                   "embedding backward id check") ||
        cuda_sync())
        return;
    if (nbad) {
        cuda_fail("cuda: embedding backward: %d ids outside [0, %d)", nbad, vocab);
        return;
    }
    embedding_backward_kernel<<<n, row_threads(d), 0, cuda_stream()>>>(dtable, dy, dids, d, scale);
    cuda_check_launch("embedding backward");
}

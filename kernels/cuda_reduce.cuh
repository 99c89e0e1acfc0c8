/* cuda_reduce.cuh — warp and block reductions shared by the row kernels
 * (norms, softmax, cross-entropy, sampling).  Blocks are at most 1024 threads
 * and a multiple of 32; every thread of the block must call a block reduce,
 * and every thread gets the result.
 */
#ifndef IRIS_CUDA_REDUCE_CUH
#define IRIS_CUDA_REDUCE_CUH

#include <cuda_bf16.h>

template <typename T> __device__ inline T warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename T> __device__ inline T warp_max(T v)
{
    for (int o = 16; o > 0; o >>= 1) {
        T u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;
    }
    return v;
}

template <typename T> __device__ inline T block_sum(T v)
{
    __shared__ T part[32];
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads(); /* part[] may still be read by a previous call */
    if (lane == 0) part[wid] = v;
    __syncthreads();
    T r = lane < nw ? part[lane] : (T)0;
    return warp_sum(r);
}

template <typename T> __device__ inline T block_max(T v)
{
    __shared__ T part[32];
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) part[wid] = v;
    __syncthreads();
    T r = lane < nw ? part[lane] : part[0];
    return warp_max(r);
}

/* Element i of a weight vector that is f32 or bf16 on the device. */
__device__ inline float weight_at(const void *w, int is_bf16, long i)
{
    return is_bf16 ? __bfloat162float(((const __nv_bfloat16 *)w)[i]) : ((const float *)w)[i];
}

/* Threads for a row kernel over rows of d elements. */
static inline int row_threads(int d)
{
    int t = 32;
    while (t < d && t < 1024) t <<= 1;
    return t > 256 && d < 4096 ? 256 : t;
}

#endif

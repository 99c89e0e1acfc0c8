/* cuda_convert.cu — weight dtype conversions on the device: any file dtype
 * (f32, f16, bf16, GGUF Q8_0) to bf16 for matrices or to f32 for vectors.
 * Rounding to bf16 is round-to-nearest-even (__float2bfloat16_rn), as
 * iris_f32_to_bf16 does on the CPU.
 */
#include "cuda_internal.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

__device__ static float load_any(const void *src, iris_dtype dt, long i)
{
    switch (dt) {
    case IRIS_F32: return ((const float *)src)[i];
    case IRIS_F16: return __half2float(((const __half *)src)[i]);
    case IRIS_BF16: return __bfloat162float(((const __nv_bfloat16 *)src)[i]);
    case IRIS_Q8_0: {
        /* 34-byte blocks: f16 scale, then 32 int8; byte-wise loads because
         * blocks are only 2-byte aligned. */
        const unsigned char *b = (const unsigned char *)src + (i / 32) * 34;
        unsigned short bits = (unsigned short)(b[0] | (b[1] << 8));
        float d = __half2float(__ushort_as_half(bits));
        return d * (float)(signed char)b[2 + i % 32];
    }
    default: return 0.0f;
    }
}

__global__ static void to_bf16_kernel(__nv_bfloat16 *dst, const void *src, iris_dtype dt, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(load_any(src, dt, i));
}

__global__ static void to_f32_kernel(float *dst, const void *src, iris_dtype dt, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        dst[i] = load_any(src, dt, i);
}

static int supported(iris_dtype dt, long n)
{
    if (dt == IRIS_F32 || dt == IRIS_F16 || dt == IRIS_BF16) return 1;
    if (dt == IRIS_Q8_0 && n % 32 == 0) return 1;
    cuda_fail("cuda: no conversion from dtype %d (%ld elements)", (int)dt, n);
    return 0;
}

extern "C" void cuda_convert_to_bf16(uint16_t *dst, const void *src, iris_dtype dt, long n)
{
    if (cuda_failed() || n <= 0 || !supported(dt, n)) return;
    to_bf16_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>((__nv_bfloat16 *)dst, src, dt, n);
    cuda_check_launch("convert to bf16");
}

extern "C" void cuda_convert_to_f32(float *dst, const void *src, iris_dtype dt, long n)
{
    if (cuda_failed() || n <= 0 || !supported(dt, n)) return;
    to_f32_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dst, src, dt, n);
    cuda_check_launch("convert to f32");
}

/* cpu_convert.c — weight rows to f32, vectorised (F16C for f16, a shift for
 * bf16, int8 widening for Q8_0).  tensor.c's iris_to_f32 is the portable
 * scalar definition; this is the same mapping at memory speed, for the hot
 * paths (prefill panels, embeddings). */
#include "cpu_internal.h"

#include <string.h>

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>

void cpu_to_f32(iris_dtype dt, const void *src, float *dst, int64_t n)
{
    int64_t i = 0;
    if (dt == IRIS_F16) {
        const uint16_t *s = src;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
        for (; i < n; i++) dst[i] = _cvtsh_ss(s[i]);
    } else if (dt == IRIS_BF16) {
        const uint16_t *s = src;
        for (; i + 8 <= n; i += 8) {
            __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + i)));
            _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
        }
        for (; i < n; i++) dst[i] = iris_bf16_to_f32(s[i]);
    } else if (dt == IRIS_Q8_0) {
        const uint8_t *p = src;
        for (; i + IRIS_Q8_0_BLOCK <= n; i += IRIS_Q8_0_BLOCK, p += IRIS_Q8_0_BLOCK_BYTES) {
            uint16_t hd;
            memcpy(&hd, p, 2);
            __m256 d = _mm256_set1_ps(_cvtsh_ss(hd));
            for (int j = 0; j < 4; j++) {
                __m128i q = _mm_loadl_epi64((const __m128i *)(p + 2 + 8 * j));
                _mm256_storeu_ps(dst + i + 8 * j,
                                 _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
            }
        }
    } else {
        iris_to_f32(dt, src, dst, n);
    }
}

#else

void cpu_to_f32(iris_dtype dt, const void *src, float *dst, int64_t n)
{
    iris_to_f32(dt, src, dst, n);
}

#endif

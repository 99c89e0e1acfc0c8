/* cpu_gemv.c — weight-streaming GEMV for small n (see cpu_gemv.h).
 *
 * Decode is bound by how fast W comes from memory, so the kernels are built
 * around one thing: read each weight row exactly once, convert it to f32 in
 * registers (F16C for f16, a shift for bf16, int8 widening for Q8_0), and FMA
 * it into n accumulators at once.  Threads take ~64 KiB chunks of consecutive
 * rows, so each streams its own part of W.  The n = 1..4 variants are specialised at
 * compile time (the always-inline kernel with a constant n) so that the
 * accumulators live in registers.
 *
 * Built for AVX2 + FMA + F16C (-march=x86-64-v3); without them a portable
 * row-at-a-time loop is used.
 */
#include "cpu_internal.h"
#include "cpu_gemv.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* Software prefetch distance in W: the hardware prefetcher alone leaves the
 * stream ~15% short of the read bandwidth; asking for the bytes 16 KiB ahead
 * (one row's worth per row) closes most of that gap (measured 8-32 KiB on a
 * Sapphire Rapids: 16 best). */
#define PREFETCH_BYTES (16u << 10)

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 consecutive weights starting at element t, as f32. */
INLINE __m256 load8(iris_dtype dt, const void *w, int t)
{
    if (dt == IRIS_F32) return _mm256_loadu_ps((const float *)w + t);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + t));
    if (dt == IRIS_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); /* bf16 */
}

INLINE float load1(iris_dtype dt, const void *w, int t)
{
    if (dt == IRIS_F32) return ((const float *)w)[t];
    uint16_t h = ((const uint16_t *)w)[t];
    return dt == IRIS_F16 ? _cvtsh_ss(h) : iris_bf16_to_f32(h);
}

/* Accumulator chains per input row: an FMA takes 4 cycles and two issue per
 * cycle, so one row needs 4+ independent sums to stream (n = 1: decode);
 * with 3-4 rows, 2 chains each already keep the FMA units busy. */
#define NACC(n) ((n) <= 2 ? 4 : 2)
#define UNROLL_N _Pragma("GCC unroll 4")

/* out[i] = dot(w row, x row i) for i < n; f32, f16 or bf16 weights. */
INLINE void dot_dense(iris_dtype dt, const void *w, const float *x, int k, const int n,
                      float *out)
{
    __m256 acc[LINEAR_GEMV_MAX_N][4];
    UNROLL_N for (int i = 0; i < n; i++)
        UNROLL_N for (int c = 0; c < 4; c++) acc[i][c] = _mm256_setzero_ps();
    int t = 0;
    for (; t + 32 <= k; t += 32) {
        __m256 wv[4];
        UNROLL_N for (int c = 0; c < 4; c++) wv[c] = load8(dt, w, t + 8 * c);
        UNROLL_N for (int i = 0; i < n; i++)
            UNROLL_N for (int c = 0; c < 4; c++) {
                int a = c % NACC(n);
                acc[i][a] = _mm256_fmadd_ps(wv[c], _mm256_loadu_ps(x + (long)i * k + t + 8 * c),
                                            acc[i][a]);
            }
    }
    for (; t + 8 <= k; t += 8) {
        __m256 w0 = load8(dt, w, t);
        UNROLL_N for (int i = 0; i < n; i++)
            acc[i][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (long)i * k + t), acc[i][0]);
    }
    UNROLL_N for (int i = 0; i < n; i++) {
        __m256 s = _mm256_add_ps(acc[i][0], acc[i][1]);
        if (NACC(n) == 4) s = _mm256_add_ps(s, _mm256_add_ps(acc[i][2], acc[i][3]));
        out[i] = hsum8(s);
    }
    for (; t < k; t++) {
        float wt = load1(dt, w, t);
        UNROLL_N for (int i = 0; i < n; i++) out[i] += wt * x[(long)i * k + t];
    }
}

/* Q8_0: per block of 32, widen the int8s to f32 and dot them with x in
 * independent partial sums; only the final multiply by the block's f16 scale
 * d joins the accumulator chain (two chains, alternating blocks). */
INLINE void dot_q8_0(const void *w, const float *x, int k, const int n, float *out)
{
    const uint8_t *p = w;
    __m256 acc[LINEAR_GEMV_MAX_N][2];
    UNROLL_N for (int i = 0; i < n; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    int blk = 0;
    for (int t = 0; t < k; t += IRIS_Q8_0_BLOCK, p += IRIS_Q8_0_BLOCK_BYTES, blk ^= 1) {
        uint16_t hd;
        memcpy(&hd, p, 2);
        __m256 d = _mm256_set1_ps(_cvtsh_ss(hd)), qv[4];
        UNROLL_N for (int j = 0; j < 4; j++) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(p + 2 + 8 * j));
            qv[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
        }
        UNROLL_N for (int i = 0; i < n; i++) {
            const float *xr = x + (long)i * k + t;
            __m256 s0 = _mm256_mul_ps(qv[0], _mm256_loadu_ps(xr));
            __m256 s1 = _mm256_mul_ps(qv[1], _mm256_loadu_ps(xr + 8));
            s0 = _mm256_fmadd_ps(qv[2], _mm256_loadu_ps(xr + 16), s0);
            s1 = _mm256_fmadd_ps(qv[3], _mm256_loadu_ps(xr + 24), s1);
            if (blk)
                acc[i][1] = _mm256_fmadd_ps(_mm256_add_ps(s0, s1), d, acc[i][1]);
            else
                acc[i][0] = _mm256_fmadd_ps(_mm256_add_ps(s0, s1), d, acc[i][0]);
        }
    }
    UNROLL_N for (int i = 0; i < n; i++) out[i] = hsum8(_mm256_add_ps(acc[i][0], acc[i][1]));
}

/* Rows [j0, j1) of y for a constant n: the compiler unrolls the i loops. */
INLINE void gemv_rows(float *y, const float *x, const iris_tensor *w, const float *b, const int n,
                      int k, int m, int j0, int j1)
{
    size_t row_bytes = iris_dtype_row_bytes(w->dtype, k);
    const char *base = w->data;
    float out[LINEAR_GEMV_MAX_N];
    for (int j = j0; j < j1; j++) {
        const void *wr = base + (size_t)j * row_bytes;
        size_t pf = (size_t)j * row_bytes + PREFETCH_BYTES, end = (size_t)j1 * row_bytes;
        for (size_t o = pf; o < pf + row_bytes && o < end; o += 64) _mm_prefetch(base + o, _MM_HINT_T0);
        switch (w->dtype) {
        case IRIS_F32: dot_dense(IRIS_F32, wr, x, k, n, out); break;
        case IRIS_F16: dot_dense(IRIS_F16, wr, x, k, n, out); break;
        case IRIS_BF16: dot_dense(IRIS_BF16, wr, x, k, n, out); break;
        default: dot_q8_0(wr, x, k, n, out); break;
        }
        float bj = b ? b[j] : 0.0f;
        UNROLL_N for (int i = 0; i < n; i++) y[(long)i * m + j] = out[i] + bj;
    }
}

static void gemv_slice(float *y, const float *x, const iris_tensor *w, const float *b, int n,
                       int k, int m, int j0, int j1)
{
    switch (n) {
    case 1: gemv_rows(y, x, w, b, 1, k, m, j0, j1); break;
    case 2: gemv_rows(y, x, w, b, 2, k, m, j0, j1); break;
    case 3: gemv_rows(y, x, w, b, 3, k, m, j0, j1); break;
    default: gemv_rows(y, x, w, b, 4, k, m, j0, j1); break;
    }
}

void cpu_gemv(float *y, const float *x, const iris_tensor *w, const float *b, int n, int k,
              int m)
{
    size_t row_bytes = iris_dtype_row_bytes(w->dtype, k);
    /* Below ~64 KiB of weights a second thread costs more than it brings. */
    int nt = row_bytes * (size_t)m < (64u << 10) ? 1 : cpu_nthreads();
    /* Threads take chunks of ~64 KiB of consecutive rows (a multiple of 16
     * rows, so chunks of y never share a cache line) from a shared counter:
     * each chunk is a long sequential stream for the prefetchers, and when a
     * core is busy with something else the other threads take its share
     * instead of waiting for it at the end. */
    int chunk = (int)((64u << 10) / row_bytes);
    chunk = chunk < 16 ? 16 : chunk & ~15;
    int nchunks = (m + chunk - 1) / chunk;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int c = 0; c < nchunks; c++) {
        int j0 = c * chunk, j1 = j0 + chunk < m ? j0 + chunk : m;
        gemv_slice(y, x, w, b, n, k, m, j0, j1);
    }
}

#else /* portable fallback */

void cpu_gemv(float *y, const float *x, const iris_tensor *w, const float *b, int n, int k,
              int m)
{
    size_t row_bytes = iris_dtype_row_bytes(w->dtype, k);
    int nt = cpu_nthreads();
    float *rowbuf = malloc((size_t)nt * k * sizeof *rowbuf);
    if (!rowbuf) {
        cpu_fail("cpu: out of memory in linear");
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        float *wr = rowbuf + (size_t)omp_get_thread_num() * k;
#pragma omp for schedule(static)
        for (int j = 0; j < m; j++) {
            iris_to_f32(w->dtype, (const char *)w->data + (size_t)j * row_bytes, wr, k);
            for (int i = 0; i < n; i++) {
                const float *xr = x + (long)i * k;
                float s = 0.0f;
                for (int t = 0; t < k; t++) s += wr[t] * xr[t];
                y[(long)i * m + j] = s + (b ? b[j] : 0.0f);
            }
        }
    }
    free(rowbuf);
}

#endif

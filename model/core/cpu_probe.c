/* cpu_probe.c — memory bandwidth and sgemm speed of this machine (cpu_probe.h). */
#include "cpu_probe.h"
#include "cpu_internal.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Both bandwidth probes walk a ring of RING_BYTES (source and destination
 * each) in steps of UNIT_BYTES per thread, so that every step reads memory
 * last touched far more than an L3 ago (server L3s reach ~100 MiB); each
 * step is timed on its own and the best step counts.  Short steps (~1 ms)
 * keep the figure honest on a shared machine: a step that the scheduler
 * interrupts is simply not the best. */
#define RING_BYTES (256u << 20)
#define UNIT_BYTES (4u << 20)
#define PROBE_RUNS 5

/* Sums n floats (n % 32 == 0) with independent accumulators, so that the loop
 * is bound by loads, not by the adds' latency. */
static float read_stream(const float *p, size_t n)
{
    float acc[32] = {0};
    for (size_t i = 0; i < n; i += 32)
#pragma omp simd
        for (int j = 0; j < 32; j++) acc[j] += p[i + j];
    float s = 0;
    for (int j = 0; j < 32; j++) s += acc[j];
    return s;
}

static double ring_bandwidth(int copy)
{
    int nt = cpu_nthreads();
    char *src = cpu_alloc(RING_BYTES), *dst = copy ? cpu_alloc(RING_BYTES) : NULL;
    if (!src || (copy && !dst)) {
        cpu_free(src);
        cpu_free(dst);
        return 0;
    }
    memset(src, 1, RING_BYTES); /* touch the pages: no page faults in the timing */
    if (dst) memset(dst, 2, RING_BYTES);
    double best = 0;
    float sink = 0; /* keeps the reads from being optimised away */
    size_t unit = (size_t)UNIT_BYTES * nt;
    for (int round = 0; round < 3; round++)
        for (size_t base = 0; base + unit <= RING_BYTES; base += unit) {
            double t0 = omp_get_wtime();
#pragma omp parallel num_threads(nt)
            {
                /* each thread streams one contiguous slice, like a row split */
                size_t per = unit / (size_t)omp_get_num_threads();
                size_t off = base + per * (size_t)omp_get_thread_num();
                if (copy)
                    memcpy(dst + off, src + off, per);
                else {
                    float r = read_stream((const float *)(src + off), per / sizeof(float));
#pragma omp atomic
                    sink += r;
                }
            }
            double dt = omp_get_wtime() - t0;
            if (dt > 0 && unit / dt > best) best = unit / dt;
        }
    if (sink == 1.0f) best += 0; /* sink is used */
    cpu_free(src);
    cpu_free(dst);
    return best;
}

double iris_probe_copy_bandwidth(void)
{
    return ring_bandwidth(1);
}

double iris_probe_read_bandwidth(void)
{
    return ring_bandwidth(0);
}

double iris_probe_sgemm_gflops(int m, int n, int k)
{
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    /* plain OpenBLAS: its own threads for this measurement, back to one
     * thread (the backend's setting, cpu_threads.c) afterwards */
    openblas_set_num_threads(cpu_nthreads());
    float *a = cpu_alloc((size_t)m * k * sizeof(float));
    float *b = cpu_alloc((size_t)k * n * sizeof(float));
    float *c = cpu_alloc((size_t)m * n * sizeof(float));
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7) * 0.25f - 0.5f;
        for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)(i % 5) * 0.25f - 0.5f;
        double flops = 2.0 * m * n * k, spent = 0;
        /* one warm-up, then the best of at least PROBE_RUNS runs, more while
         * under ~0.6 s (small shapes: more chances of an uninterrupted run) */
        for (int run = 0; run <= 200 && (run <= PROBE_RUNS || spent < 0.6); run++) {
            double t0 = omp_get_wtime();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f,
                        c, n);
            double dt = omp_get_wtime() - t0;
            spent += dt;
            if (run > 0 && dt > 0 && flops / dt / 1e9 > best) best = flops / dt / 1e9;
        }
    }
    cpu_free(a);
    cpu_free(b);
    cpu_free(c);
    openblas_set_num_threads(1);
    return best;
}

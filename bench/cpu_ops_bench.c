/* cpu_ops_bench.c — speed of the CPU backend's linear against the machine's
 * yardsticks (cpu_probe.h), at the shapes of a 134M LLaMA (hidden 768, MLP
 * 2048, vocabulary 32000).  Built and run by bench/bench-cpu-ops.sh; prints
 * Markdown for docs/PERF.md.
 *
 *  - decode (n = 1): weight GB/s = weight bytes / time, against the copy
 *    and the read bandwidth.  The calls cycle through copies of the weight whose total
 *    exceeds the caches, as decode walks all layers' weights; the best call
 *    counts (see time_linear).
 *  - prefill (n = 128): GFLOP/s = 2 n m k / time, against plain OpenBLAS
 *    sgemm on the same shape.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/cpu_probe.h"
#include "core/tensor.h"

#define STREAM_BYTES (320u << 20) /* weight copies cycled through: well beyond L3 */

static unsigned rng_state = 12345;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f; /* [-1, 1) */
}

/* Random weights of normal magnitude (no denormals: they would time the
 * FPU's slow path, not the kernel). */
static void fill_weight(iris_tensor *t, iris_dtype dt, int m, int k)
{
    int64_t shape[2] = {m, k};
    if (iris_tensor_alloc(t, dt, 2, shape)) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    size_t n = (size_t)m * k;
    if (dt == IRIS_F32)
        for (size_t i = 0; i < n; i++) ((float *)t->data)[i] = 0.1f * frand();
    else if (dt == IRIS_F16)
        for (size_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = iris_f32_to_f16(0.1f * frand());
    else if (dt == IRIS_BF16)
        for (size_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = iris_f32_to_bf16(0.1f * frand());
    else {
        unsigned char *p = t->data;
        for (size_t b = 0; b < n / IRIS_Q8_0_BLOCK; b++, p += IRIS_Q8_0_BLOCK_BYTES) {
            uint16_t d = iris_f32_to_f16(0.001f);
            memcpy(p, &d, 2);
            for (int i = 0; i < IRIS_Q8_0_BLOCK; i++) p[2 + i] = (unsigned char)(127 * frand());
        }
    }
}

/* Best time of one call, cycling through the copies: each call reads a
 * weight that is cold (the others pushed it out of L3), and the best call is
 * one the scheduler did not interrupt.  At least min_calls calls, and more
 * until budget_s seconds are spent (at most 2000). */
static double time_linear(const iris_backend *be, float *y, const float *x, iris_tensor *w,
                          int copies, int n, int k, int m, int min_calls, double budget_s)
{
    double best = INFINITY, spent = 0;
    be->linear(y, x, &w[0], NULL, n, k, m); /* warm-up: page faults, thread start */
    for (int r = 0; r < 2000 && (r < min_calls || spent < budget_s); r++) {
        double t0 = omp_get_wtime();
        be->linear(y, x, &w[(r + 1) % copies], NULL, n, k, m);
        double dt = omp_get_wtime() - t0;
        spent += dt;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    iris_cpu_set_threads(threads);
    const iris_backend *be = iris_cpu_backend();
    static const int shapes[][2] = {{768, 768}, {768, 2048}, {2048, 768}, {32000, 768}};
    static const iris_dtype dts[] = {IRIS_F32, IRIS_F16, IRIS_BF16, IRIS_Q8_0};
    double bw = iris_probe_copy_bandwidth(), rbw = iris_probe_read_bandwidth();
    printf("Threads: %d.  Copy bandwidth %.1f GB/s (bytes copied), read bandwidth %.1f GB/s.\n\n",
           iris_cpu_threads(), bw / 1e9, rbw / 1e9);

    printf("Decode, `linear` at n = 1 (weight GB/s; %% of copy / %% of read bandwidth):\n\n");
    printf("| W [m,k] | f32 | f16 | bf16 | Q8_0 |\n|---|---|---|---|---|\n");
    for (int s = 0; s < 4; s++) {
        int m = shapes[s][0], k = shapes[s][1];
        printf("| %dx%d |", m, k);
        for (int d = 0; d < 4; d++) {
            size_t wb = iris_dtype_row_bytes(dts[d], k) * (size_t)m;
            int copies = (int)(STREAM_BYTES / wb) + 1;
            iris_tensor *w = calloc((size_t)copies, sizeof *w);
            float *x = calloc((size_t)k, sizeof *x), *y = calloc((size_t)m, sizeof *y);
            if (!w || !x || !y) return 1;
            for (int c = 0; c < copies; c++) fill_weight(&w[c], dts[d], m, k);
            for (int i = 0; i < k; i++) x[i] = 0.01f * (i % 13);
            double t = time_linear(be, y, x, w, copies, 1, k, m, 2 * copies, 0.4);
            printf(" %.1f (%.0f%% / %.0f%%) |", wb / t / 1e9, 100.0 * wb / t / bw, 100.0 * wb / t / rbw);
            fflush(stdout);
            for (int c = 0; c < copies; c++) iris_tensor_free(&w[c]);
            free(w);
            free(x);
            free(y);
        }
        printf("\n");
    }

    /* The kernels' own ceiling: the same call on a weight that stays in L2,
     * so memory is not the limit.  Far above the streaming figures means the
     * decode numbers are the memory system's, not the kernel's. */
    printf("\nKernel ceiling, n = 1 on a 128x768 weight resident in L2 (GB/s):\n\n");
    printf("| f32 | f16 | bf16 | Q8_0 |\n|---|---|---|---|\n|");
    for (int d = 0; d < 4; d++) {
        iris_tensor w;
        fill_weight(&w, dts[d], 128, 768);
        float *x = calloc(768, sizeof *x), *y = calloc(128, sizeof *y);
        if (!x || !y) return 1;
        double t = time_linear(be, y, x, &w, 1, 1, 768, 128, 2000, 0);
        printf(" %.1f |", iris_tensor_bytes(&w) / t / 1e9);
        iris_tensor_free(&w);
        free(x);
        free(y);
    }
    printf("\n");

    int n = 128;
    printf("\nPrefill, `linear` at n = %d (GFLOP/s; %% of OpenBLAS sgemm on the same shape):\n\n", n);
    printf("| W [m,k] | sgemm | f32 | f16 | bf16 | Q8_0 |\n|---|---|---|---|---|---|\n");
    for (int s = 0; s < 4; s++) {
        int m = shapes[s][0], k = shapes[s][1];
        double ref = iris_probe_sgemm_gflops(n, m, k);
        printf("| %dx%d | %.1f |", m, k, ref);
        for (int d = 0; d < 4; d++) {
            iris_tensor w;
            fill_weight(&w, dts[d], m, k);
            float *x = calloc((size_t)n * k, sizeof *x), *y = calloc((size_t)n * m, sizeof *y);
            if (!x || !y) return 1;
            for (int i = 0; i < n * k; i++) x[i] = 0.01f * (i % 13);
            double t = time_linear(be, y, x, &w, 1, n, k, m, 5, 0.6);
            double gf = 2.0 * n * m * k / t / 1e9;
            printf(" %.1f (%.0f%%) |", gf, 100.0 * gf / ref);
            fflush(stdout);
            iris_tensor_free(&w);
            free(x);
            free(y);
        }
        printf("\n");
    }
    if (be->error()) {
        fprintf(stderr, "bench: %s\n", be->error());
        return 1;
    }
    return 0;
}

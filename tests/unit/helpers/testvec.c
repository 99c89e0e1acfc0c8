/* testvec.c — see testvec.h. */
#include "testvec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;

void tv_seed(const char *test_name)
{
    const char *env = getenv("IRIS_TEST_SEED");
    uint64_t s = env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("%s: random seed %llu (IRIS_TEST_SEED=%llu replays it)\n", test_name,
           (unsigned long long)s, (unsigned long long)s);
    state = s * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    if (!state) state = 1;
}

uint64_t tv_u64(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

float tv_uniform(void)
{
    return (float)((tv_u64() >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "testvec: out of memory\n");
        abort();
    }
    return p;
}

float *tv_rand(size_t n, float scale)
{
    float *v = must(malloc((n ? n : 1) * sizeof *v));
    for (size_t i = 0; i < n; i++) v[i] = scale * tv_uniform();
    return v;
}

float *tv_nan(size_t n)
{
    float *v = must(malloc((n ? n : 1) * sizeof *v));
    for (size_t i = 0; i < n; i++) v[i] = NAN;
    return v;
}

float *tv_copy(const float *a, size_t n)
{
    float *v = must(malloc((n ? n : 1) * sizeof *v));
    if (n) memcpy(v, a, n * sizeof *v);
    return v;
}

int32_t *tv_ints(size_t n, int32_t lo, int32_t hi)
{
    int32_t *v = must(malloc((n ? n : 1) * sizeof *v));
    for (size_t i = 0; i < n; i++) v[i] = lo + (int32_t)(tv_u64() % (uint64_t)(hi - lo));
    return v;
}

double tv_rel_err(const float *got, const float *ref, size_t n)
{
    double emax = 0, rmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(ref[i])) return INFINITY;
        double e = fabs((double)got[i] - ref[i]);
        emax = e > emax ? e : emax;
        rmax = fabs(ref[i]) > rmax ? fabs(ref[i]) : rmax;
    }
    return rmax > 0 ? emax / rmax : emax;
}

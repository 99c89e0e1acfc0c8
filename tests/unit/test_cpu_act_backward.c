/* test_cpu_act_backward.c — the CPU activation backward ops (gelu,
 * gelu_tanh, quick_gelu in backend_train.h) against central finite
 * differences of the definitions in double precision, and against finite
 * differences of the backend's own forward ops (so forward and backward agree
 * on which function they mean).  Inputs: random values over [-8, 8] plus the
 * edges where formulas cancel (large negative x), at an awkward length that
 * exercises the threaded path.  dx may alias dy: checked too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/backend_train.h"

#define N 40013

typedef double (*fn64)(double);
typedef void (*bwd_fn)(float *, const float *, const float *, long);
typedef void (*fwd_fn)(float *, const float *, long);

static double gelu64(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double gelu_tanh64(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double quick_gelu64(double x) { return x / (1.0 + exp(-1.702 * x)); }

static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static void fill(float *x, float *dy)
{
    for (int i = 0; i < N; i++) {
        x[i] = (float)(16.0 * urand() - 8.0);
        dy[i] = (float)(2.0 * urand() - 1.0);
    }
    const float edges[] = {0.0f, -0.0f, 1e-8f, -1e-8f, -20.0f, 20.0f, -9.5f, 9.5f, -3.0f, 3.0f};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) x[i] = edges[i];
}

static void check(bwd_fn bwd, fn64 f, fwd_fn fwd)
{
    float *x = malloc(N * sizeof *x), *dy = malloc(N * sizeof *dy), *dx = malloc(N * sizeof *dx);
    float *alias = malloc(N * sizeof *alias), *xp = malloc(N * sizeof *xp), *xm = malloc(N * sizeof *xm);
    float *yp = malloc(N * sizeof *yp), *ym = malloc(N * sizeof *ym);
    assert_non_null(x && dy && dx && alias && xp && xm && yp && ym);
    fill(x, dy);
    for (int i = 0; i < N; i++) dx[i] = NAN;
    bwd(dx, dy, x, N);
    memcpy(alias, dy, N * sizeof *alias);
    bwd(alias, alias, x, N);
    /* the definition, in double: derivative by central differences */
    double worst = 0, worst_fwd = 0;
    const float hf = 1e-2f;
    for (int i = 0; i < N; i++) {
        xp[i] = x[i] + hf;
        xm[i] = x[i] - hf;
    }
    fwd(yp, xp, N);
    fwd(ym, xm, N);
    for (int i = 0; i < N; i++) {
        double h = 1e-5, xi = x[i];
        double ref = dy[i] * (f(xi + h) - f(xi - h)) / (2 * h);
        double err = fabs(dx[i] - ref) / (1.0 + fabs(ref));
        assert_false(isnan(dx[i]));
        worst = err > worst ? err : worst;
        assert_true(alias[i] == dx[i]);
        /* the forward op, differenced in f32 with a wide step: agreement up to
         * the step's truncation (second derivative bounded) and rounding */
        double fd = dy[i] * ((double)yp[i] - ym[i]) / ((double)xp[i] - xm[i]);
        double e2 = fabs(dx[i] - fd) / (1.0 + fabs(fd));
        worst_fwd = e2 > worst_fwd ? e2 : worst_fwd;
    }
    assert_true(worst < 1e-5);
    assert_true(worst_fwd < 5e-3);
    free(x), free(dy), free(dx), free(alias), free(xp), free(xm), free(yp), free(ym);
}

static void test_gelu_backward(void **st)
{
    (void)st;
    check(iris_cpu_train_ops()->gelu_backward, gelu64, iris_cpu_backend()->gelu);
}

static void test_gelu_tanh_backward(void **st)
{
    (void)st;
    check(iris_cpu_train_ops()->gelu_tanh_backward, gelu_tanh64, iris_cpu_backend()->gelu_tanh);
}

static void test_quick_gelu_backward(void **st)
{
    (void)st;
    check(iris_cpu_train_ops()->quick_gelu_backward, quick_gelu64, iris_cpu_backend()->quick_gelu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_backward),
        cmocka_unit_test(test_gelu_tanh_backward),
        cmocka_unit_test(test_quick_gelu_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

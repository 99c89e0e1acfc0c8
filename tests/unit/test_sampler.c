/* The sampler: greedy is argmax, seeds reproduce, filters keep what they should,
 * and sampled frequencies follow softmax(logits / T). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "text/sampler.h"

static void fill(float *x, int n, unsigned seed)
{
    srand(seed);
    for (int i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX * 6.0f - 3.0f;
}

static void test_greedy_is_argmax(void **state)
{
    (void)state;
    enum { N = 1000 };
    float x[N];
    fill(x, N, 1);
    x[737] = 10.0f;
    iris_sampler_params p = iris_sampler_defaults();
    p.temperature = 0;
    iris_sampler s;
    assert_int_equal(iris_sampler_init(&s, &p, N), 0);
    assert_int_equal(iris_sample(&s, x, NULL, 0), 737);
    iris_sampler_free(&s);
}

static void test_seed_reproduces(void **state)
{
    (void)state;
    enum { N = 500 };
    float x[N], y[N];
    iris_sampler_params p = iris_sampler_defaults();
    p.temperature = 1.0f;
    p.seed = 42;
    iris_sampler a, b, c;
    iris_sampler_init(&a, &p, N);
    iris_sampler_init(&b, &p, N);
    p.seed = 43;
    iris_sampler_init(&c, &p, N);
    int same = 0;
    for (int i = 0; i < 50; i++) {
        fill(x, N, 100 + i);
        memcpy(y, x, sizeof x);
        int ta = iris_sample(&a, x, NULL, 0), tb = iris_sample(&b, y, NULL, 0);
        assert_int_equal(ta, tb);
        memcpy(y, x, sizeof x);
        same += iris_sample(&c, y, NULL, 0) == ta;
    }
    assert_true(same < 50);
    iris_sampler_free(&a);
    iris_sampler_free(&b);
    iris_sampler_free(&c);
}

static void test_top_k_one_and_tiny_top_p_are_greedy(void **state)
{
    (void)state;
    enum { N = 300 };
    float x[N];
    iris_sampler_params p = iris_sampler_defaults();
    p.temperature = 2.0f;
    p.top_k = 1;
    iris_sampler s;
    iris_sampler_init(&s, &p, N);
    for (int i = 0; i < 20; i++) {
        fill(x, N, 7 + i);
        int best = 0;
        for (int j = 1; j < N; j++) if (x[j] > x[best]) best = j;
        assert_int_equal(iris_sample(&s, x, NULL, 0), best);
    }
    iris_sampler_free(&s);
    p.top_k = 0;
    p.top_p = 1e-6f;
    p.min_p = 0;
    iris_sampler_init(&s, &p, N);
    for (int i = 0; i < 20; i++) {
        fill(x, N, 70 + i);
        int best = 0;
        for (int j = 1; j < N; j++) if (x[j] > x[best]) best = j;
        assert_int_equal(iris_sample(&s, x, NULL, 0), best);
    }
    iris_sampler_free(&s);
}

static void test_min_p_excludes_unlikely(void **state)
{
    (void)state;
    float x[4] = {0.0f, logf(0.5f), logf(0.09f), logf(0.3f)};
    iris_sampler_params p = iris_sampler_defaults();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.1f; /* token 2 has p2/p0 = 0.09 < 0.1 */
    iris_sampler s;
    iris_sampler_init(&s, &p, 4);
    for (int i = 0; i < 2000; i++) {
        float y[4];
        memcpy(y, x, sizeof y);
        assert_int_not_equal(iris_sample(&s, y, NULL, 0), 2);
    }
    iris_sampler_free(&s);
}

static void test_frequencies_follow_softmax(void **state)
{
    (void)state;
    enum { N = 5, DRAWS = 200000 };
    const float x[N] = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f};
    const float T = 0.7f;
    iris_sampler_params p = iris_sampler_defaults();
    p.temperature = T;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 9;
    iris_sampler s;
    iris_sampler_init(&s, &p, N);
    int count[N] = {0};
    for (int i = 0; i < DRAWS; i++) {
        float y[N];
        memcpy(y, x, sizeof y);
        count[iris_sample(&s, y, NULL, 0)]++;
    }
    double z = 0;
    for (int i = 0; i < N; i++) z += exp(x[i] / T);
    for (int i = 0; i < N; i++) {
        double expect = exp(x[i] / T) / z, got = (double)count[i] / DRAWS;
        double sigma = sqrt(expect * (1 - expect) / DRAWS);
        assert_true(fabs(got - expect) < 5 * sigma);
    }
    iris_sampler_free(&s);
}

static void test_repetition_penalty(void **state)
{
    (void)state;
    float x[3] = {2.0f, 1.9f, -1.0f};
    int32_t hist[2] = {0, 0};
    iris_sampler_params p = iris_sampler_defaults();
    p.temperature = 0;
    p.repeat_penalty = 1.5f;
    iris_sampler s;
    iris_sampler_init(&s, &p, 3);
    assert_int_equal(iris_sample(&s, x, hist, 2), 1);   /* 2.0/1.5 < 1.9 */
    assert_float_equal(x[0], 2.0f / 1.5f, 1e-6);        /* penalised once, not twice */
    iris_sampler_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_is_argmax),
        cmocka_unit_test(test_seed_reproduces),
        cmocka_unit_test(test_top_k_one_and_tiny_top_p_are_greedy),
        cmocka_unit_test(test_min_p_excludes_unlikely),
        cmocka_unit_test(test_frequencies_follow_softmax),
        cmocka_unit_test(test_repetition_penalty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

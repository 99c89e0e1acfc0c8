/* Incremental decoding with the KV cache equals recomputing the whole
 * sequence, for every architecture switch, across internal chunk boundaries. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/backend.h"
#include "formats/weights.h"
#include "helpers/random_llama.h"
#include "nets/llama.h"

static double max_rel(const float *a, const float *b, size_t n)
{
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m) m = d;
        if (fabs(b[i]) > r) r = fabs(b[i]);
    }
    return m / (r > 0 ? r : 1);
}

static void check_arch(iris_arch arch, int dtype, int n_tokens)
{
    char dir[] = "/tmp/iris-kvtest-XXXXXX";
    assert_non_null(mkdtemp(dir));
    iris_llama_config c = random_llama_config(arch);
    assert_int_equal(random_llama_write(dir, &c, dtype, 1234u + arch), 0);
    iris_weights w;
    assert_int_equal(iris_weights_open(&w, dir), 0);
    iris_llama m;
    assert_int_equal(iris_llama_load(&m, &w, &c, iris_cpu_backend(), 512, NULL), 0);

    int32_t *tok = malloc((size_t)n_tokens * sizeof *tok);
    size_t V = (size_t)c.vocab_size;
    float *all = malloc((size_t)n_tokens * V * sizeof(float));
    float *inc = malloc((size_t)n_tokens * V * sizeof(float));
    for (int i = 0; i < n_tokens; i++) tok[i] = (i * 37 + 11) % c.vocab_size;

    assert_int_equal(iris_llama_forward(&m, tok, n_tokens, all, 1), 0);
    assert_int_equal(m.n_past, n_tokens);
    iris_llama_reset(&m);
    /* a 5-token prefill, single tokens, then the rest in one call */
    int done = 0, steps[] = {5, 1, 1, 1, 3};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0] && done < n_tokens; s++) {
        int k = steps[s] < n_tokens - done ? steps[s] : n_tokens - done;
        assert_int_equal(iris_llama_forward(&m, tok + done, k, inc + done * V, 1), 0);
        done += k;
    }
    if (done < n_tokens) assert_int_equal(iris_llama_forward(&m, tok + done, n_tokens - done, inc + done * V, 1), 0);
    double err = max_rel(inc, all, (size_t)n_tokens * V);
    if (err > 1e-5) fprintf(stderr, "arch %d dtype %d: relative error %g\n", arch, dtype, err);
    assert_true(err <= 1e-5);

    /* embeddings in, the same logits out (Gemma's scale applies to both paths) */
    float *emb = malloc((size_t)n_tokens * c.dim * sizeof(float));
    iris_llama_reset(&m);
    assert_int_equal(iris_llama_embed(&m, tok, n_tokens, emb), 0);
    assert_int_equal(iris_llama_forward_embeds(&m, emb, n_tokens, inc, 1), 0);
    assert_true(max_rel(inc, all, (size_t)n_tokens * V) <= 1e-6);
    free(emb);

    /* last-logits mode gives the last row of the all-logits run */
    float *last = malloc(V * sizeof(float));
    iris_llama_reset(&m);
    assert_int_equal(iris_llama_forward(&m, tok, n_tokens, last, 0), 0);
    assert_true(max_rel(last, all + (size_t)(n_tokens - 1) * V, V) <= 1e-6);
    /* truncation rewinds */
    iris_llama_truncate(&m, n_tokens - 1);
    assert_int_equal(iris_llama_forward(&m, tok + n_tokens - 1, 1, last, 0), 0);
    assert_true(max_rel(last, all + (size_t)(n_tokens - 1) * V, V) <= 1e-5);

    free(last);
    free(tok);
    free(all);
    free(inc);
    iris_llama_free(&m);
    iris_weights_close(&w);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_llama_f32(void **s) { (void)s; check_arch(IRIS_ARCH_LLAMA, IRIS_F32, 20); }
static void test_llama_beyond_one_chunk(void **s) { (void)s; check_arch(IRIS_ARCH_LLAMA, IRIS_F32, 300); }
static void test_gemma_bf16(void **s) { (void)s; check_arch(IRIS_ARCH_GEMMA, IRIS_BF16, 17); }
static void test_qwen2_f16(void **s) { (void)s; check_arch(IRIS_ARCH_QWEN2, IRIS_F16, 23); }

static void test_context_overflow_and_bad_ids(void **state)
{
    (void)state;
    char dir[] = "/tmp/iris-kvtest-XXXXXX";
    assert_non_null(mkdtemp(dir));
    iris_llama_config c = random_llama_config(IRIS_ARCH_LLAMA);
    assert_int_equal(random_llama_write(dir, &c, IRIS_F32, 5), 0);
    iris_weights w;
    assert_int_equal(iris_weights_open(&w, dir), 0);
    iris_llama m;
    assert_int_equal(iris_llama_load(&m, &w, &c, iris_cpu_backend(), 8, NULL), 0);
    int32_t tok[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(iris_llama_forward(&m, tok, 9, NULL, 0), -1);
    assert_int_equal(iris_llama_forward(&m, tok, 8, NULL, 0), 0);
    assert_int_equal(iris_llama_forward(&m, tok, 1, NULL, 0), -1);
    iris_llama_reset(&m);
    int32_t bad[2] = {3, 97};
    assert_int_equal(iris_llama_forward(&m, bad, 2, NULL, 0), -1);
    int32_t neg = -1;
    assert_int_equal(iris_llama_forward(&m, &neg, 1, NULL, 0), -1);
    assert_int_equal(iris_llama_forward(&m, tok, 0, NULL, 0), -1);
    iris_llama_free(&m);
    iris_weights_close(&w);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_f32),
        cmocka_unit_test(test_llama_beyond_one_chunk),
        cmocka_unit_test(test_gemma_bf16),
        cmocka_unit_test(test_qwen2_f16),
        cmocka_unit_test(test_context_overflow_and_bad_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_decoder_grads.c — backward pieces of the generic decoders against
 * PyTorch autograd (float64): attention with MPT's ALiBi (transformers'
 * build_mpt_alibi_tensor, power-of-two and other head counts, grouped-query)
 * and the plain GELU activations (erf and tanh) of MPT / GPT-NeoX / BioGPT's
 * feed-forward.  Fresh random inputs each run. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "core/backend_train.h"
#include "helpers/pyref.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static double rel_err(const float *a, const float *b, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static int setup(void **state)
{
    (void)state;
    rng ^= (uint64_t)time(NULL) * 0x2545f4914f6cdd1dull;
    if (!rng) rng = 1;
    printf("# seed state %llu\n", (unsigned long long)rng);
    return 0;
}

static void test_alibi_attention_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    const iris_train_ops *ops = iris_cpu_train_ops();
    assert_non_null(ops->attention_alibi_backward);
    /* n, heads, kv heads, head_dim, max bias */
    const int cases[][5] = {{9, 4, 4, 8, 8}, {17, 6, 6, 16, 8}, {12, 6, 2, 8, 8}, {5, 3, 1, 4, 4}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n = cases[c][0], nh = cases[c][1], nkv = cases[c][2], hd = cases[c][3];
        float max_bias = (float)cases[c][4], scale = 1.0f / sqrtf((float)hd);
        size_t nq = (size_t)n * nh * hd, nk = (size_t)n * nkv * hd;
        float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *dout = malloc(nq * 4);
        float *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
        assert_true(q && k && v && dout && dq && dk && dv);
        for (size_t i = 0; i < nq; i++) q[i] = 2 * frand(), dout[i] = frand();
        for (size_t i = 0; i < nk; i++) k[i] = 2 * frand(), v[i] = frand();
        ops->attention_alibi_backward(dq, dk, dv, dout, q, k, v, n, nh, nkv, hd, scale, 1, max_bias);
        pyref *r = pyref_new();
        assert_non_null(r);
        pyref_put_f32(r, "q", q, nq);
        pyref_put_f32(r, "k", k, nk);
        pyref_put_f32(r, "v", v, nk);
        pyref_put_f32(r, "dout", dout, nq);
        pyref_param(r, "n", n);
        pyref_param(r, "nh", nh);
        pyref_param(r, "nkv", nkv);
        pyref_param(r, "hd", hd);
        pyref_param(r, "scale", scale);
        pyref_param(r, "max_bias", max_bias);
        assert_int_equal(pyref_run(r, "decoder_ref", "attn_alibi_bwd"), 0);
        float *rq = pyref_get_f32(r, "dq", nq), *rk = pyref_get_f32(r, "dk", nk), *rv = pyref_get_f32(r, "dv", nk);
        assert_true(rq && rk && rv);
        double eq = rel_err(dq, rq, (long)nq), ek = rel_err(dk, rk, (long)nk), ev = rel_err(dv, rv, (long)nk);
        print_message("alibi attention backward n=%d heads=%d/%d: rel err dq %.2e dk %.2e dv %.2e\n", n, nh,
                      nkv, eq, ek, ev);
        assert_true(eq <= 1e-4 && ek <= 1e-4 && ev <= 1e-4);
        free(rq), free(rk), free(rv);
        pyref_free(r);
        free(q), free(k), free(v), free(dout), free(dq), free(dk), free(dv);
    }
}

static void test_gelu_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    const iris_train_ops *ops = iris_cpu_train_ops();
    assert_true(ops->gelu_backward && ops->gelu_tanh_backward);
    enum { N = 4099 };
    static float x[N], dy[N], dx[N], dx_alias[N];
    for (int i = 0; i < N; i++) x[i] = 6.0f * frand(), dy[i] = frand();
    x[0] = 0.0f, x[1] = -12.0f, x[2] = 12.0f;
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_put_f32(r, "x", x, N);
    pyref_put_f32(r, "dy", dy, N);
    assert_int_equal(pyref_run(r, "decoder_ref", "gelu_bwd"), 0);
    float *ref_erf = pyref_get_f32(r, "dx_erf", N), *ref_tanh = pyref_get_f32(r, "dx_tanh", N);
    assert_true(ref_erf && ref_tanh);
    ops->gelu_backward(dx, dy, x, N);
    double e1 = rel_err(dx, ref_erf, N);
    for (int i = 0; i < N; i++) dx_alias[i] = dy[i];
    ops->gelu_tanh_backward(dx_alias, dx_alias, x, N); /* dx aliasing dy */
    double e2 = rel_err(dx_alias, ref_tanh, N);
    print_message("gelu backward rel err: erf %.2e tanh %.2e\n", e1, e2);
    assert_true(e1 <= 1e-5 && e2 <= 1e-5);
    free(ref_erf), free(ref_tanh);
    pyref_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alibi_attention_backward),
        cmocka_unit_test(test_gelu_backward),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/* test_flamingo_train.c — one training step of a whole OpenFlamingo model
 * (train/flamingo_train.h) against open_flamingo's Flamingo under PyTorch
 * autograd (tests/ref/flamingo_model_ref.py): a random MPT-based model loaded
 * from its three released parts, trained as OpenFlamingo trains it
 * (perceiver, gated cross-attention blocks and the input embeddings; the
 * language model frozen).  The loss and every trainable parameter's gradient
 * must agree to 1e-4 (normwise relative, f32).  Skips without the venv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/backend_train.h"
#include "core/error.h"
#include "formats/weights.h"
#include "helpers/pyref.h"
#include "helpers/testvec.h"
#include "nets/flamingo.h"
#include "train/flamingo_train.h"

#define TOL 1e-4

static int check_set(const iris_param_set *s, const iris_weights *grads)
{
    int matched = 0;
    for (int i = 0; i < s->n; i++) {
        if (!s->p[i].g) continue;
        const iris_tensor *want = iris_weights_find(grads, s->p[i].name);
        if (!want) fail_msg("%s: no such trainable parameter in the reference", s->p[i].name);
        assert_int_equal(iris_tensor_numel(want), s->p[i].n);
        double e = tv_rel_err(s->p[i].g, want->data, (size_t)s->p[i].n);
        print_message("  %-64s rel err %.2e\n", s->p[i].name, e);
        if (!(e <= TOL)) fail_msg("%s: gradient error %.3g > %.1g", s->p[i].name, e, TOL);
        matched++;
    }
    return matched;
}

static void test_step_matches_open_flamingo(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_param(r, "seed", 1234);
    if (pyref_run(r, "flamingo_model_ref", "train") != 0) {
        pyref_free(r);
        print_message("SKIP: the open_flamingo reference did not run (open_flamingo missing?)\n");
        skip();
    }
    int32_t *meta = pyref_get_i32(r, "meta", 5);
    assert_non_null(meta);
    int T = meta[0], n = meta[1], v = meta[2], D = meta[3], counted = meta[4];
    float *feats = pyref_get_f32(r, "feats", (size_t)T * v * D), *loss = pyref_get_f32(r, "loss", 1);
    int32_t *ids = pyref_get_i32(r, "ids", (size_t)n), *labels = pyref_get_i32(r, "labels", (size_t)n);
    assert_true(feats && loss && ids && labels && counted > 0);

    char path[512];
    snprintf(path, sizeof path, "%s/m/openflamingo.json", pyref_dir(r));
    iris_lm lm;
    iris_lm_options lo = {.n_ctx = 128};
    if (iris_lm_load_opts(&lm, path, iris_cpu_backend(), &lo)) fail_msg("%s", iris_last_error());
    iris_flamingo_train t;
    if (iris_flamingo_train_init(&t, &lm, iris_cpu_train_ops(), 96, 4)) fail_msg("%s", iris_last_error());
    double sum = 0;
    int got_counted = 0;
    if (iris_flamingo_train_step(&t, feats, T, ids, labels, n, 1.0f / counted, &sum, &got_counted))
        fail_msg("%s", iris_last_error());
    assert_int_equal(got_counted, counted);
    double l = sum / counted;
    print_message("  loss %.7f vs %.7f\n", l, loss[0]);
    assert_true(fabs(l - loss[0]) <= TOL * fabs(loss[0]));

    iris_weights g;
    snprintf(path, sizeof path, "%s/grads.safetensors", pyref_dir(r));
    if (iris_weights_open(&g, path)) fail_msg("%s", iris_last_error());
    int matched = check_set(&t.p, &g) + check_set(&t.m.params, &g);
    /* perceiver + 2 blocks + the embedding table */
    assert_int_equal(matched, iris_perceiver_slot_count(&t.pv.net.cfg) - 2 + 2 * IRIS_XA_COUNT + 1);
    iris_weights_close(&g);
    iris_flamingo_train_free(&t);
    iris_lm_free(&lm);
    free(meta);
    free(feats);
    free(loss);
    free(ids);
    free(labels);
    pyref_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_step_matches_open_flamingo)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

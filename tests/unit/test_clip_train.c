/* test_clip_train.c — the trainable vision tower (train/clip_train.h) by
 * itself, without Python: on a tiny random tower (3 tokens + class, two
 * layers), the gradient of L = sum(features * dy) over a batch of images is
 * checked against central finite differences of L along random directions,
 * one parameter tensor at a time (so every tensor's gradient is tested), for
 * each activation and both class-token strategies; the training forward
 * gives the inference forward's features (nets/clip.h); later layers than the
 * feature layer are not parameters.
 */
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
#include "nets/clip.h"
#include "train/clip_train.h"

static unsigned rng = 2024u;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static void rand_tensor(iris_tensor *t, int ndim, int64_t a, int64_t b, float base, float spread)
{
    int64_t shape[2] = {a, b};
    assert_int_equal(iris_tensor_alloc(t, IRIS_F32, ndim, shape), 0);
    float *p = t->data;
    for (int64_t i = 0; i < (ndim == 1 ? a : a * b); i++) p[i] = base + spread * frand();
}

/* hidden 8, 2 heads, ffn 12, 3 layers, patch 2 over 4x4x3 images: 4 patches. */
static void make_tower(iris_clip *m, iris_act act)
{
    memset(m, 0, sizeof *m);
    iris_clip_config *c = &m->cfg;
    *c = (iris_clip_config){.hidden = 8, .intermediate = 12, .n_layers = 3, .n_heads = 2, .patch = 2,
                            .image_size = 4, .channels = 3, .eps = 1e-5f, .act = act, .class_token = 1,
                            .pre_layernorm = 1};
    m->be = iris_cpu_backend();
    snprintf(m->prefix, sizeof m->prefix, "vision_model.");
    int d = 8, f = 12, cpp = 12, n = 5;
    rand_tensor(&m->patch_w, 2, d, cpp, 0, 0.5f);
    rand_tensor(&m->class_emb, 2, 1, d, 0, 0.5f);
    rand_tensor(&m->pos_emb, 2, n, d, 0, 0.5f);
    rand_tensor(&m->pre_ln_w, 1, d, 0, 1, 0.3f);
    rand_tensor(&m->pre_ln_b, 1, d, 0, 0, 0.3f);
    m->layers = calloc(3, sizeof *m->layers);
    assert_non_null(m->layers);
    for (int l = 0; l < 3; l++) {
        iris_clip_layer *L = &m->layers[l];
        rand_tensor(&L->ln1_w, 1, d, 0, 1, 0.3f);
        rand_tensor(&L->ln1_b, 1, d, 0, 0, 0.3f);
        rand_tensor(&L->ln2_w, 1, d, 0, 1, 0.3f);
        rand_tensor(&L->ln2_b, 1, d, 0, 0, 0.3f);
        iris_tensor *sq[] = {&L->q_w, &L->k_w, &L->v_w, &L->o_w};
        iris_tensor *bd[] = {&L->q_b, &L->k_b, &L->v_b, &L->o_b, &L->fc2_b};
        for (int i = 0; i < 4; i++) rand_tensor(sq[i], 2, d, d, 0, 0.5f);
        for (int i = 0; i < 5; i++) rand_tensor(bd[i], 1, d, 0, 0, 0.3f);
        rand_tensor(&L->fc1_w, 2, f, d, 0, 0.5f);
        rand_tensor(&L->fc1_b, 1, f, 0, 0, 0.3f);
        rand_tensor(&L->fc2_w, 2, d, f, 0, 0.5f);
    }
    m->loaded = 1;
}

static void free_tower(iris_clip *m)
{
    iris_tensor *top[] = {&m->patch_w, &m->class_emb, &m->pos_emb, &m->pre_ln_w, &m->pre_ln_b};
    for (size_t i = 0; i < sizeof top / sizeof *top; i++) iris_tensor_free(top[i]);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        iris_tensor *t = &m->layers[l].ln1_w;
        for (size_t j = 0; j < sizeof(iris_clip_layer) / sizeof(iris_tensor); j++) iris_tensor_free(&t[j]);
    }
    free(m->layers);
}

#define NIMG 3

static double loss(iris_clip_train *t, iris_param_set *s, const float *px, const float *dy)
{
    assert_int_equal(iris_clip_train_forward(t, s, px, NIMG), 0);
    size_t nf = (size_t)iris_clip_train_n_feat(t) * t->cfg.hidden;
    double L = 0;
    for (int b = 0; b < NIMG; b++) {
        const float *f = iris_clip_train_features(t, b);
        for (size_t i = 0; i < nf; i++) L += (double)f[i] * dy[b * nf + i];
    }
    return L;
}

static void check(iris_act act, int keep_class, int feature_layer)
{
    iris_clip src;
    make_tower(&src, act);
    iris_param_set s;
    iris_clip_train t;
    assert_int_equal(iris_params_init(&s, iris_cpu_backend(), 4), 0);   /* grows */
    assert_int_equal(iris_clip_train_init(&t, &s, &src, feature_layer, keep_class, iris_cpu_train_ops(), NIMG), 0);
    assert_int_equal(iris_clip_train_set_trainable(&t, &s), 0);
    int n_run = feature_layer < 0 ? 3 + 1 + feature_layer : feature_layer;
    assert_int_equal(s.n, 5 + 16 * n_run);
    assert_int_equal(iris_params_find(&s, "vision_model.encoder.layers.2.mlp.fc1.weight") >= 0, n_run == 3);
    assert_true(iris_params_find(&s, "vision_model.embeddings.class_embedding") >= 0);

    size_t plane = 3 * 4 * 4, nf = (size_t)iris_clip_train_n_feat(&t) * 8;
    float px[NIMG * 48], dy[NIMG * 5 * 8];
    for (size_t i = 0; i < NIMG * plane; i++) px[i] = frand();
    for (size_t i = 0; i < NIMG * nf; i++) dy[i] = frand();

    /* the training forward is the inference forward */
    loss(&t, &s, px, dy);
    float ref[5 * 8];
    for (int b = 0; b < NIMG; b++) {
        if (iris_clip_features(&src, px + b * plane, feature_layer, ref)) fail_msg("%s", iris_last_error());
        const float *got = iris_clip_train_features(&t, b);
        /* the same ops over more rows: OpenBLAS may block them differently */
        for (size_t i = 0; i < nf; i++) {
            float r = ref[i + (keep_class ? 0 : 8)];
            if (fabsf(got[i] - r) > 1e-5f * (1.0f + fabsf(r)))
                fail_msg("feature %zu of image %d: %.8g, inference %.8g", i, b, got[i], r);
        }
    }

    for (int b = 0; b < NIMG; b++) assert_int_equal(iris_clip_train_set_dfeatures(&t, b, dy + b * nf), 0);
    iris_params_zero_grad(&s);
    assert_int_equal(iris_clip_train_backward(&t, &s), 0);

    for (int i = 0; i < s.n; i++) {
        iris_param *p = &s.p[i];
        float *dir = malloc((size_t)p->n * sizeof *dir), *w0 = malloc((size_t)p->n * sizeof *w0);
        assert_true(dir && w0);
        double analytic = 0, gnorm = 0;
        for (long e = 0; e < p->n; e++) {
            dir[e] = frand();
            analytic += (double)p->g[e] * dir[e];
            gnorm += (double)p->g[e] * p->g[e];
        }
        memcpy(w0, p->w, (size_t)p->n * sizeof *w0);
        /* central differences at h and 2h, Richardson-combined: truncation
         * O(h^4), so h can be large enough to drown the f32 rounding */
        double dh[2];
        for (int k = 0; k < 2; k++) {
            float h = k ? 2e-2f : 1e-2f;
            for (long e = 0; e < p->n; e++) p->w[e] = w0[e] + h * dir[e];
            double lp = loss(&t, &s, px, dy);
            for (long e = 0; e < p->n; e++) p->w[e] = w0[e] - h * dir[e];
            double lm = loss(&t, &s, px, dy);
            dh[k] = (lp - lm) / (2.0 * h);
        }
        memcpy(p->w, w0, (size_t)p->n * sizeof *w0);
        double fd = (4.0 * dh[0] - dh[1]) / 3.0;
        if (getenv("CLIP_TRAIN_VERBOSE"))
            printf("%-50s fd %12.6g grad %12.6g rel %.2e\n", p->name, fd, analytic, fabs(fd - analytic) / fabs(analytic));
        /* f32 forward: rounding of the difference ~ 1e-7 |L| / h */
        double tol = 2e-3 * fabs(analytic) + 2e-4 * (1.0 + sqrt(gnorm));
        if (fabs(fd - analytic) > tol)
            fail_msg("%s: finite difference %.6g, gradient %.6g (act %d, keep_class %d, layer %d)", p->name, fd,
                     analytic, (int)act, keep_class, feature_layer);
        free(dir);
        free(w0);
    }
    iris_clip_train_free(&t);
    iris_params_free(&s);
    free_tower(&src);
}

static void test_quick_gelu_default_strategy(void **st)
{
    (void)st;
    check(IRIS_ACT_QUICK_GELU, 0, -2);
}

static void test_gelu_full_strategy(void **st)
{
    (void)st;
    check(IRIS_ACT_GELU, 1, -1);
}

static void test_gelu_tanh_first_layer(void **st)
{
    (void)st;
    check(IRIS_ACT_GELU_TANH, 0, 1);
}

static void test_rejects_too_many_images(void **st)
{
    (void)st;
    iris_clip src;
    make_tower(&src, IRIS_ACT_QUICK_GELU);
    iris_param_set s;
    iris_clip_train t;
    assert_int_equal(iris_params_init(&s, iris_cpu_backend(), 8), 0);
    assert_int_equal(iris_clip_train_init(&t, &s, &src, -2, 0, iris_cpu_train_ops(), 1), 0);
    float px[2 * 48] = {0};
    assert_int_equal(iris_clip_train_forward(&t, &s, px, 2), -1);
    assert_int_equal(iris_clip_train_backward(&t, &s), -1);   /* no forward yet */
    assert_int_equal(iris_clip_train_set_dfeatures(&t, 0, px), -1);
    iris_train_ops no_act = *iris_cpu_train_ops();
    no_act.quick_gelu_backward = NULL;
    iris_clip_train t2;
    assert_int_equal(iris_clip_train_init(&t2, &s, &src, -2, 0, &no_act, 1), -1);
    iris_clip_train_free(&t2);
    assert_int_equal(iris_clip_train_init(&t2, &s, &src, 7, 0, iris_cpu_train_ops(), 1), -1);
    iris_clip_train_free(&t2);
    iris_clip_train_free(&t);
    iris_params_free(&s);
    free_tower(&src);
}

int main(void)
{
    iris_cpu_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quick_gelu_default_strategy),
        cmocka_unit_test(test_gelu_full_strategy),
        cmocka_unit_test(test_gelu_tanh_first_layer),
        cmocka_unit_test(test_rejects_too_many_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_flamingo_modules.c — the OpenFlamingo modules (nets/perceiver.h,
 * nets/gated_xattn.h and their backward passes in train/) against the
 * open_flamingo package's own PerceiverResampler and GatedCrossAttentionBlock
 * (tests/ref/flamingo_ref.py), on random small configurations: the reference
 * draws the weights (saved under the checkpoint's names, which the C side
 * binds by name), the inputs and the upstream gradient; we compare the
 * output, the inputs' gradients and every parameter's gradient, normwise
 * (helpers/testvec.h) <= 1e-4 against a float64 reference.  The inference
 * path (weights bound straight from the file, one reused activation set) must
 * give the same output.  Without the Python venv every case skips.
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
#include "formats/weights.h"
#include "helpers/pyref.h"
#include "helpers/testvec.h"
#include "nets/perceiver.h"
#include "nets/gated_xattn.h"
#include "train/perceiver_train.h"
#include "train/xattn_train.h"

#define TOL 1e-4

/* The reference needs open_flamingo and einops_exts in the venv (a venv made
 * before they joined tests/requirements*.txt lacks them): skip, saying so. */
static int have_open_flamingo(void)
{
    static int known = -1;
    if (known < 0) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd,
                 "'%s' -c 'import importlib.util as u, sys; "
                 "sys.exit(0 if u.find_spec(\"open_flamingo\") and u.find_spec(\"einops_exts\") else 1)'",
                 pyref_python());
        known = system(cmd) == 0;
    }
    return known;
}

#define REQUIRE_OPEN_FLAMINGO()                                                              \
    do {                                                                                     \
        PYREF_REQUIRE();                                                                     \
        if (!have_open_flamingo()) {                                                         \
            print_message("SKIP: open_flamingo / einops_exts missing from the venv "       \
                          "(pip install --no-deps -r tests/requirements-nodeps.txt)\n");   \
            skip();                                                                          \
        }                                                                                    \
    } while (0)

static void check_err(const char *what, const float *got, const float *want, size_t n)
{
    double e = tv_rel_err(got, want, n);
    print_message("  %-48s rel err %.2e\n", what, e);
    if (!(e <= TOL)) fail_msg("%s: error %.3g > %.1g", what, e, TOL);
}

static void open_in(iris_weights *w, pyref *r, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", pyref_dir(r), file);
    if (iris_weights_open(w, path)) fail_msg("%s: %s", path, iris_last_error());
}

/* Every parameter's gradient against the reference's, by name; every
 * reference tensor must have been bound (names are the checkpoint's). */
static void check_param_grads(const iris_param_set *s, const iris_weights *grads)
{
    int matched = 0;
    for (int i = 0; i < s->n; i++) {
        const iris_tensor *want = iris_weights_find(grads, s->p[i].name);
        if (!want) fail_msg("%s: no such parameter in the reference", s->p[i].name);
        assert_int_equal(iris_tensor_numel(want), s->p[i].n);
        assert_non_null(s->p[i].g);
        check_err(s->p[i].name, s->p[i].g, want->data, (size_t)s->p[i].n);
        matched++;
    }
    assert_int_equal(matched, grads->st[0].n_tensors);
}

static float *get(pyref *r, const char *name, size_t n)
{
    float *a = pyref_get_f32(r, name, n);
    if (!a) fail_msg("reference output %s missing", name);
    return a;
}

/* ---------------------------------------------------------------- perceiver */

typedef struct {
    int dim, depth, heads, dim_head, latents, ff_mult, max_media, max_frames;
    int T, F, v;
} pv_case;

static void perceiver_case(const pv_case *k)
{
    const char *prefix = "perceiver.";
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_param(r, "seed", (double)(tv_u64() % 1000000007u));
    pyref_param(r, "dim", k->dim), pyref_param(r, "depth", k->depth);
    pyref_param(r, "heads", k->heads), pyref_param(r, "dim_head", k->dim_head);
    pyref_param(r, "latents", k->latents), pyref_param(r, "ff_mult", k->ff_mult);
    pyref_param(r, "max_media", k->max_media), pyref_param(r, "max_frames", k->max_frames);
    pyref_param(r, "T", k->T), pyref_param(r, "F", k->F), pyref_param(r, "v", k->v);
    assert_int_equal(pyref_put_raw(r, "prefix", prefix, strlen(prefix)), 0);
    assert_int_equal(pyref_run(r, "flamingo_ref", "perceiver"), 0);
    print_message("perceiver D %d depth %d heads %dx%d latents %d ff x%d embs %d/%d; T %d F %d v %d\n",
                  k->dim, k->depth, k->heads, k->dim_head, k->latents, k->ff_mult, k->max_media,
                  k->max_frames, k->T, k->F, k->v);

    iris_weights w, gw;
    open_in(&w, r, "weights.safetensors");
    open_in(&gw, r, "grads.safetensors");
    iris_perceiver_config c;
    if (iris_perceiver_config_infer(&c, iris_weights_lookup, &w, prefix, k->dim_head))
        fail_msg("config: %s", iris_last_error());
    assert_int_equal(c.dim, k->dim);
    assert_int_equal(c.depth, k->depth);
    assert_int_equal(c.heads, k->heads);
    assert_int_equal(c.n_latents, k->latents);
    assert_int_equal(c.ff_mult, k->ff_mult);
    assert_int_equal(c.max_media, k->max_media);
    assert_int_equal(c.max_frames, k->max_frames);

    size_t nx = (size_t)k->T * k->F * k->v * k->dim, ny = (size_t)k->T * k->latents * k->dim;
    float *x = get(r, "x", nx), *dy = get(r, "dy", ny), *want_y = get(r, "y", ny);
    float *want_dx = get(r, "dx", nx), *y = tv_nan(ny), *dx = tv_nan(nx);

    /* inference: bound to the file's tensors, one reused activation set */
    const iris_backend *be = iris_cpu_backend();
    iris_perceiver net;
    iris_perceiver_acts acts;
    if (iris_perceiver_bind(&net, &c, be, iris_weights_lookup, &w, prefix) ||
        iris_perceiver_acts_alloc(&acts, &net, k->T, k->F * k->v, 0))
        fail_msg("bind: %s", iris_last_error());
    if (iris_perceiver_forward(&net, &acts, x, k->T, k->F, k->v, y)) fail_msg("%s", iris_last_error());
    check_err("forward (inference)", y, want_y, ny);
    iris_perceiver_acts_free(&acts);
    iris_perceiver_unbind(&net);

    /* training: f32 parameters, forward + backward */
    iris_param_set s;
    iris_perceiver_train pt;
    assert_int_equal(iris_params_init(&s, be, 16 + k->depth * IRIS_PV_LAYER_COUNT), 0);
    if (iris_perceiver_train_init(&pt, &s, iris_cpu_train_ops(), &c, prefix, iris_weights_lookup, &w, k->T,
                                  k->F * k->v) ||
        iris_perceiver_train_set_trainable(&pt))
        fail_msg("train init: %s", iris_last_error());
    memset(y, 0xff, ny * sizeof *y);
    if (iris_perceiver_train_forward(&pt, x, k->T, k->F, k->v, y)) fail_msg("%s", iris_last_error());
    check_err("forward (training)", y, want_y, ny);
    if (iris_perceiver_train_backward(&pt, dy, dx)) fail_msg("%s", iris_last_error());
    check_err("d media", dx, want_dx, nx);
    check_param_grads(&s, &gw);

    iris_perceiver_train_free(&pt);
    iris_params_free(&s);
    iris_weights_close(&w);
    iris_weights_close(&gw);
    free(x), free(dy), free(want_y), free(want_dx), free(y), free(dx);
    pyref_free(r);
}

static void test_perceiver(void **state)
{
    (void)state;
    REQUIRE_OPEN_FLAMINGO();
    const pv_case cases[] = {
        /* dim depth heads dh latents ff embs(media frames)  T F v */
        {32, 2, 2, 8, 5, 4, 0, 0, 1, 1, 7},
        {48, 3, 3, 16, 8, 2, 0, 0, 3, 1, 10},
        {24, 1, 4, 6, 3, 4, 4, 3, 2, 3, 5},   /* both embeddings, several frames */
        {64, 2, 8, 8, 16, 4, 2, 0, 2, 1, 17}, /* media time embeddings only */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) perceiver_case(&cases[i]);
}

static void test_perceiver_bad_input(void **state)
{
    (void)state;
    /* names and shapes are checked when binding; sizes when running */
    iris_perceiver_config c;
    iris_perceiver_config_default(&c, 16);
    iris_param_set s;
    assert_int_equal(iris_params_init(&s, iris_cpu_backend(), 128), 0);
    iris_perceiver_train pt;
    c.depth = 1, c.heads = 2, c.dim_head = 4, c.n_latents = 3;
    assert_int_equal(iris_perceiver_train_init(&pt, &s, iris_cpu_train_ops(), &c, "p.", NULL, NULL, 2, 4), 0);
    float x[3 * 5 * 16] = {0}, y[3 * 3 * 16];
    assert_int_equal(iris_perceiver_train_forward(&pt, x, 3, 1, 4, y), -1);   /* 3 images > 2 */
    assert_int_equal(iris_perceiver_train_forward(&pt, x, 1, 1, 5, y), -1);   /* 5 rows > 4 */
    assert_int_equal(iris_perceiver_train_forward(&pt, x, 2, 1, 4, y), 0);
    iris_perceiver net;
    iris_perceiver_config c2 = c;
    c2.n_latents = 4;   /* latents are [3, 16] in the set */
    assert_int_equal(iris_perceiver_bind(&net, &c2, iris_cpu_backend(), iris_params_lookup, &s, "p."), -1);
    assert_non_null(strstr(iris_last_error(), "p.latents"));
    assert_int_equal(iris_perceiver_bind(&net, &c, iris_cpu_backend(), iris_params_lookup, &s, "q."), -1);
    iris_perceiver_train_free(&pt);
    iris_params_free(&s);
}


/* ---------------------------------------------------------------- gated cross-attention */

typedef struct {
    int dim, dim_visual, heads, dim_head, ff_mult;
    int n, T, L;
    const char *locs;   /* one char per token: 'I' = <image>, '.' = text */
    int cached;         /* use_cached_media: every token after the last image */
    const char *prefix; /* how the checkpoint spells the block's place */
} xa_case;

static void xattn_case(const xa_case *k)
{
    const char *prefix = k->prefix;
    int n = k->n;
    assert_int_equal((int)strlen(k->locs), n);
    int32_t *locs = malloc((size_t)n * sizeof *locs), *time = malloc((size_t)n * sizeof *time);
    assert_true(locs && time);
    int count = 0;
    for (int i = 0; i < n; i++) count += locs[i] = k->locs[i] == 'I';
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_param(r, "seed", (double)(tv_u64() % 1000000007u));
    pyref_param(r, "dim", k->dim), pyref_param(r, "dim_visual", k->dim_visual);
    pyref_param(r, "heads", k->heads), pyref_param(r, "dim_head", k->dim_head);
    pyref_param(r, "ff_mult", k->ff_mult), pyref_param(r, "n", n), pyref_param(r, "T", k->T);
    pyref_param(r, "L", k->L), pyref_param(r, "cached", k->cached);
    assert_int_equal(pyref_put_i32(r, "locs", locs, (size_t)n), 0);
    assert_int_equal(pyref_put_raw(r, "prefix", prefix, strlen(prefix)), 0);
    assert_int_equal(pyref_run(r, "flamingo_ref", "xattn"), 0);
    print_message("gated xattn D %d Dv %d heads %dx%d ff x%d; %d images of %d latents; text %s%s\n",
                  k->dim, k->dim_visual, k->heads, k->dim_head, k->ff_mult, k->T, k->L, k->locs,
                  k->cached ? " (cached media)" : "");
    if (k->cached) iris_xattn_text_time(NULL, n, count, time);
    else iris_xattn_text_time(locs, n, 0, time);

    iris_weights w, gw;
    open_in(&w, r, "weights.safetensors");
    open_in(&gw, r, "grads.safetensors");
    iris_xattn_config c;
    if (iris_xattn_config_infer(&c, iris_weights_lookup, &w, prefix, k->dim_head))
        fail_msg("config: %s", iris_last_error());
    assert_int_equal(c.dim, k->dim);
    assert_int_equal(c.dim_visual, k->dim_visual);
    assert_int_equal(c.heads, k->heads);
    assert_int_equal(c.ff_mult, k->ff_mult);

    size_t nx = (size_t)n * k->dim, nm = (size_t)k->T * k->L * k->dim_visual;
    float *x = get(r, "x", nx), *media = get(r, "media", nm), *dy = get(r, "dy", nx);
    float *want_y = get(r, "y", nx), *want_dx = get(r, "dx", nx), *want_dm = get(r, "dmedia", nm);
    float *y = tv_nan(nx), *dx = tv_nan(nx), *dm = calloc(nm, sizeof *dm);
    assert_non_null(dm);

    /* inference: bound to the file's tensors */
    const iris_backend *be = iris_cpu_backend();
    iris_xattn net;
    iris_xattn_media med;
    iris_xattn_acts acts;
    if (iris_xattn_bind(&net, &c, be, iris_weights_lookup, &w, prefix) ||
        iris_xattn_media_alloc(&med, &net, k->T, k->L) || iris_xattn_acts_alloc(&acts, &net, n) ||
        iris_xattn_media_set(&net, &med, media, k->T))
        fail_msg("bind: %s", iris_last_error());
    if (iris_xattn_forward(&net, &med, &acts, x, n, time, y)) fail_msg("%s", iris_last_error());
    check_err("forward (inference)", y, want_y, nx);
    iris_xattn_media_free(&med);

    /* the same media appended one image at a time, as a conversation encodes
     * them: only the new image's keys and values are computed each time */
    if (iris_xattn_media_alloc(&med, &net, k->T, k->L)) fail_msg("%s", iris_last_error());
    for (int t = 1; t <= k->T; t++)
        if (iris_xattn_media_append(&net, &med, media, t)) fail_msg("append %d: %s", t, iris_last_error());
    assert_int_equal(iris_xattn_media_append(&net, &med, media, k->T - 1), -1);      /* cannot shrink */
    assert_int_equal(iris_xattn_media_append(&net, &med, media, k->T + 1), -1);      /* no room */
    assert_int_equal(iris_xattn_media_append(&net, &med, dm, k->T), -1);             /* another buffer */
    assert_int_equal(med.n_media, k->T);
    memset(y, 0xff, nx * sizeof *y);
    if (iris_xattn_forward(&net, &med, &acts, x, n, time, y)) fail_msg("%s", iris_last_error());
    check_err("forward (media appended image by image)", y, want_y, nx);
    iris_xattn_acts_free(&acts);
    iris_xattn_media_free(&med);

    iris_param_set s;
    iris_xattn_train b;
    assert_int_equal(iris_params_init(&s, be, IRIS_XA_COUNT), 0);
    if (iris_xattn_train_init(&b, &s, iris_cpu_train_ops(), &c, prefix, iris_weights_lookup, &w, n, k->T, k->L) ||
        iris_xattn_train_set_trainable(&b))
        fail_msg("train init: %s", iris_last_error());
    memset(y, 0xff, nx * sizeof *y);
    if (iris_xattn_train_forward(&b, x, n, media, k->T, time, y)) fail_msg("%s", iris_last_error());
    check_err("forward (training)", y, want_y, nx);
    if (iris_xattn_train_backward(&b, dy, dx, dm)) fail_msg("%s", iris_last_error());
    check_err("d text", dx, want_dx, nx);
    check_err("d media", dm, want_dm, nm);
    check_param_grads(&s, &gw);

    iris_xattn_train_free(&b);
    iris_params_free(&s);
    iris_weights_close(&w);
    iris_weights_close(&gw);
    free(x), free(media), free(dy), free(want_y), free(want_dx), free(want_dm);
    free(y), free(dx), free(dm), free(locs), free(time);
    pyref_free(r);
}

#define FULL "lang_encoder.gated_cross_attn_layers.3."
#define RELEASED "lang_encoder.transformer.blocks.1.gated_cross_attn_layer."

static void test_gated_xattn(void **state)
{
    (void)state;
    REQUIRE_OPEN_FLAMINGO();
    const xa_case cases[] = {
        /* D Dv heads dh ff  n T L  text */
        {32, 48, 2, 8, 4, 9, 2, 5, "..I...I..", 0, FULL},          /* text before the first image */
        {24, 16, 3, 8, 2, 7, 1, 4, "I......", 0, RELEASED},
        {40, 40, 4, 10, 4, 12, 3, 6, "I..I....I...", 0, FULL},
        {32, 24, 2, 16, 4, 8, 3, 4, ".I..I...", 0, RELEASED},          /* the third image unused */
        {16, 32, 2, 8, 4, 6, 2, 3, "......", 0, FULL},             /* no image token: no attention */
        {32, 48, 2, 8, 4, 5, 2, 5, "I.I..", 1, FULL},              /* decoding after the prompt */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) xattn_case(&cases[i]);
}

static void test_text_time(void **state)
{
    (void)state;
    const int32_t is_media[] = {0, 0, 1, 0, 1, 1, 0};
    int32_t t[7];
    const int32_t want[] = {0, 0, 1, 1, 2, 3, 3};
    iris_xattn_text_time(is_media, 7, 0, t);
    assert_memory_equal(t, want, sizeof want);
    iris_xattn_text_time(NULL, 3, 2, t);
    assert_int_equal(t[0], 2), assert_int_equal(t[2], 2);
}

static void test_gated_xattn_bad_input(void **state)
{
    (void)state;
    iris_xattn_config c;
    iris_xattn_config_default(&c, 8, 6);
    c.heads = 2, c.dim_head = 4;
    iris_param_set s;
    assert_int_equal(iris_params_init(&s, iris_cpu_backend(), 16), 0);
    iris_xattn_train b;
    assert_int_equal(iris_xattn_train_init(&b, &s, iris_cpu_train_ops(), &c, "x.", NULL, NULL, 4, 2, 3), 0);
    float text[4 * 8] = {0}, media[2 * 3 * 6] = {0}, y[4 * 8];
    const int32_t ok[] = {0, 1, 1, 2}, beyond[] = {0, 1, 3, 3}, backwards[] = {1, 2, 1, 2};
    assert_int_equal(iris_xattn_train_forward(&b, text, 4, media, 2, ok, y), 0);
    /* zero gates (a fresh block): the identity */
    for (int i = 0; i < 4 * 8; i++) assert_true(y[i] == 0.0f);
    assert_int_equal(iris_xattn_train_forward(&b, text, 4, media, 2, beyond, y), -1);
    assert_non_null(strstr(iris_last_error(), "image 3 of 2"));
    assert_int_equal(iris_xattn_train_forward(&b, text, 4, media, 2, backwards, y), -1);
    assert_int_equal(iris_xattn_train_forward(&b, text, 5, media, 2, ok, y), -1);   /* 5 > 4 tokens */
    assert_int_equal(iris_xattn_train_forward(&b, text, 4, media, 3, ok, y), -1);   /* 3 > 2 images */
    iris_xattn_train_free(&b);
    iris_params_free(&s);
}

int main(void)
{
    tv_seed("test_flamingo_modules");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perceiver),
        cmocka_unit_test(test_perceiver_bad_input),
        cmocka_unit_test(test_text_time),
        cmocka_unit_test(test_gated_xattn),
        cmocka_unit_test(test_gated_xattn_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

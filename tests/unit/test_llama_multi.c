/* Several sequences in one forward pass (llama_multi.h) give the logits of
 * each sequence run alone, for prompts of mixed lengths, a prompt split over
 * two calls, slots that sit a step out, token ids and embeddings in, a
 * prefix copied from another slot; bad segments are refused without
 * advancing any slot. */
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
#include "nets/llama_multi.h"

#define N_SEQ 3
#define SEQ_LEN 24

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

typedef struct {
    char dir[64];
    iris_llama_config c;
    iris_weights w;
    iris_llama m;
} model;

static void open_model(model *md, iris_arch arch, int dtype)
{
    snprintf(md->dir, sizeof md->dir, "/tmp/iris-multitest-XXXXXX");
    assert_non_null(mkdtemp(md->dir));
    md->c = random_llama_config(arch);
    assert_int_equal(random_llama_write(md->dir, &md->c, dtype, 777u + arch), 0);
    assert_int_equal(iris_weights_open(&md->w, md->dir), 0);
    assert_int_equal(iris_llama_load(&md->m, &md->w, &md->c, iris_cpu_backend(), 128, NULL), 0);
}

static void close_model(model *md)
{
    iris_llama_free(&md->m);
    iris_weights_close(&md->w);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", md->dir);
    assert_int_equal(system(cmd), 0);
}

/* Every row's logits of sequence s run alone: ref[s][i] after token i. */
static void reference(model *md, int32_t tok[N_SEQ][SEQ_LEN], float *ref)
{
    size_t V = (size_t)md->m.cfg.vocab_size;
    for (int s = 0; s < N_SEQ; s++) {
        iris_llama_reset(&md->m);
        assert_int_equal(iris_llama_forward(&md->m, tok[s], SEQ_LEN, ref + (size_t)s * SEQ_LEN * V, 1), 0);
    }
}

/* The schedule: prompts of 7, 3 and 12 rows (the last split 9 + 3 over two
 * calls, beside the others' first decode steps), then one token per call for
 * whichever slots are running; slot 1 skips a call. */
static void check_arch(iris_arch arch, int dtype, int embeds_in)
{
    model md;
    open_model(&md, arch, dtype);
    size_t V = (size_t)md.c.vocab_size;
    int32_t tok[N_SEQ][SEQ_LEN];
    for (int s = 0; s < N_SEQ; s++)
        for (int i = 0; i < SEQ_LEN; i++) tok[s][i] = (i * 37 + s * 11 + 5) % md.c.vocab_size;
    float *ref = malloc((size_t)N_SEQ * SEQ_LEN * V * sizeof(float));
    float *got = malloc((size_t)N_SEQ * V * sizeof(float));
    float *emb = malloc((size_t)64 * md.c.dim * sizeof(float));
    assert_non_null(ref);
    assert_non_null(got);
    assert_non_null(emb);
    reference(&md, tok, ref);

    iris_llama_multi b;
    assert_int_equal(iris_llama_multi_init(&b, &md.m, N_SEQ, 32, 40), 0);
    int done[N_SEQ] = {0, 0, 0};
    int32_t ids[64];
    int calls[][N_SEQ] = {{7, 3, 9}, {1, 1, 3}, {1, 0, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
    double worst = 0;
    for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++) {
        iris_llama_seg segs[N_SEQ];
        int n_segs = 0, rows = 0;
        for (int s = N_SEQ - 1; s >= 0; s--) {   /* slots in another order than their numbers */
            if (!calls[k][s]) continue;
            segs[n_segs++] = (iris_llama_seg){s, calls[k][s]};
            for (int i = 0; i < calls[k][s]; i++) ids[rows++] = tok[s][done[s] + i];
        }
        if (embeds_in) {
            assert_int_equal(iris_llama_embed(&md.m, ids, rows, emb), 0);
            assert_int_equal(iris_llama_multi_forward(&b, &md.m, segs, n_segs, NULL, emb, got), 0);
        } else {
            assert_int_equal(iris_llama_multi_forward(&b, &md.m, segs, n_segs, ids, NULL, got), 0);
        }
        for (int j = 0; j < n_segs; j++) {
            int s = segs[j].slot;
            done[s] += segs[j].n;
            assert_int_equal(b.n_past[s], done[s]);
            double e = max_rel(got + (size_t)j * V, ref + ((size_t)s * SEQ_LEN + done[s] - 1) * V, V);
            if (e > worst) worst = e;
        }
    }
    if (worst > 1e-5) fprintf(stderr, "arch %d dtype %d: relative error %g\n", arch, dtype, worst);
    assert_true(worst <= 1e-5);

    /* a reset slot starts over */
    iris_llama_multi_reset(&b, 1);
    iris_llama_seg one = {1, 4};
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, &one, 1, tok[1], NULL, got), 0);
    assert_true(max_rel(got, ref + ((size_t)1 * SEQ_LEN + 3) * V, V) <= 1e-5);

    /* a shared prefix: slot 1 takes slot 0's first 6 rows (of done[0]) and
     * goes on with sequence 0's tokens; more rows than slot 0 holds, or a
     * slot onto itself, are refused */
    assert_int_equal(iris_llama_multi_copy_prefix(&b, &md.m, 1, 0, done[0] + 1), -1);
    assert_int_equal(iris_llama_multi_copy_prefix(&b, &md.m, 0, 0, 3), -1);
    assert_int_equal(iris_llama_multi_copy_prefix(&b, &md.m, 1, 0, 6), 0);
    assert_int_equal(b.n_past[1], 6);
    iris_llama_seg cont = {1, 4};
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, &cont, 1, tok[0] + 6, NULL, got), 0);
    assert_true(max_rel(got, ref + ((size_t)0 * SEQ_LEN + 9) * V, V) <= 1e-5);

    iris_llama_multi_free(&b, &md.m);
    free(ref);
    free(got);
    free(emb);
    close_model(&md);
}

static void test_llama_f32(void **s) { (void)s; check_arch(IRIS_ARCH_LLAMA, IRIS_F32, 0); }
static void test_llama_embeddings_in(void **s) { (void)s; check_arch(IRIS_ARCH_LLAMA, IRIS_F32, 1); }
static void test_gemma_bf16(void **s) { (void)s; check_arch(IRIS_ARCH_GEMMA, IRIS_BF16, 1); }
static void test_qwen2_f16(void **s) { (void)s; check_arch(IRIS_ARCH_QWEN2, IRIS_F16, 0); }

static void test_bad_segments_are_refused(void **state)
{
    (void)state;
    model md;
    open_model(&md, IRIS_ARCH_LLAMA, IRIS_F32);
    iris_llama_multi b;
    assert_int_equal(iris_llama_multi_init(&b, &md.m, 0, 8, 8), -1);
    assert_int_equal(iris_llama_multi_init(&b, &md.m, 4, 8, 2), -1);
    assert_int_equal(iris_llama_multi_init(&b, &md.m, 2, 8, 8), 0);
    int32_t tok[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    iris_llama_seg too_long = {0, 9}, dup[2] = {{1, 1}, {1, 1}}, bad_slot = {2, 1}, empty = {0, 0};
    iris_llama_seg ok[2] = {{0, 6}, {1, 2}}, rest = {0, 3}, over_rows[2] = {{0, 2}, {1, 7}};
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, &too_long, 1, tok, NULL, NULL), -1);
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, dup, 2, tok, NULL, NULL), -1);
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, &bad_slot, 1, tok, NULL, NULL), -1);
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, &empty, 1, tok, NULL, NULL), -1);
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, over_rows, 2, tok, NULL, NULL), -1);
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, ok, 0, tok, NULL, NULL), -1);
    int32_t out_of_range[2] = {3, 97};
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, &ok[1], 1, out_of_range, NULL, NULL), -1);
    assert_int_equal(b.n_past[0] + b.n_past[1], 0);   /* nothing advanced */
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, ok, 2, tok, NULL, NULL), 0);
    assert_int_equal(b.n_past[0], 6);
    assert_int_equal(b.n_past[1], 2);
    /* slot 0 has 2 rows left of 8 */
    assert_int_equal(iris_llama_multi_forward(&b, &md.m, &rest, 1, tok, NULL, NULL), -1);
    assert_int_equal(b.n_past[0], 6);
    iris_llama_multi_free(&b, &md.m);
    close_model(&md);
}

static int no_hook(void *ctx, struct iris_llama *m, int layer, int n)
{
    (void)ctx, (void)m, (void)layer, (void)n;
    return 0;
}

static void test_generic_decoders_and_hooks_are_not_supported(void **state)
{
    (void)state;
    iris_llama m;
    memset(&m, 0, sizeof m);
    m.cfg.arch = IRIS_ARCH_LLAMA;
    assert_int_equal(iris_llama_multi_supported(&m), 1);
    m.cfg.arch = IRIS_ARCH_MPT;
    snprintf(m.cfg.arch_name, sizeof m.cfg.arch_name, "mpt");
    assert_int_equal(iris_llama_multi_supported(&m), 0);
    m.cfg.arch = IRIS_ARCH_QWEN2;
    m.pre_layer = no_hook;
    assert_int_equal(iris_llama_multi_supported(&m), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_f32),
        cmocka_unit_test(test_llama_embeddings_in),
        cmocka_unit_test(test_gemma_bf16),
        cmocka_unit_test(test_qwen2_f16),
        cmocka_unit_test(test_bad_segments_are_refused),
        cmocka_unit_test(test_generic_decoders_and_hooks_are_not_supported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

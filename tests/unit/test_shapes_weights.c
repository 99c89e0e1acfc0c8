/* The weighted question draw (shapes_random_question_weighted) on random
 * scenes: with no weights or all 1 it is shapes_random_question draw for
 * draw (so gen-shapes' data without --type-weight is unchanged); a weight-0
 * type is never asked; and over many draws on one scene the types come up in
 * proportion to their weights. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "shapes/shapes_qa.h"
#include "shapes/shapes_scene.h"

static void test_unit_weights_are_the_unweighted_draw(void **st)
{
    (void)st;
    int ones[QA_TYPE_COUNT];
    for (int t = 0; t < QA_TYPE_COUNT; t++) ones[t] = 1;
    shape_rng scenes;
    shape_rng_seed(&scenes, 11);
    for (int i = 0; i < 200; i++) {
        shape_scene s;
        shape_scene_random(&s, &scenes, 5);
        shape_rng a, b, c;
        shape_rng_seed(&a, 100 + i);
        shape_rng_seed(&b, 100 + i);
        shape_rng_seed(&c, 100 + i);
        for (int k = 0; k < 8; k++) {
            shape_qa qa, qb, qc;
            assert_int_equal(shapes_random_question(&s, &a, &qa), 0);
            assert_int_equal(shapes_random_question_weighted(&s, &b, NULL, &qb), 0);
            assert_int_equal(shapes_random_question_weighted(&s, &c, ones, &qc), 0);
            assert_string_equal(qa.question, qb.question);
            assert_string_equal(qa.question, qc.question);
            assert_string_equal(qa.answer, qc.answer);
        }
    }
}

static void test_zero_weight_is_never_asked(void **st)
{
    (void)st;
    int only_spatial[QA_TYPE_COUNT] = {0};
    only_spatial[QA_SPATIAL] = 1;
    shape_rng scenes, r;
    shape_rng_seed(&scenes, 12);
    shape_rng_seed(&r, 13);
    int asked = 0, none = 0;
    for (int i = 0; i < 300; i++) {
        shape_scene s;
        shape_scene_random(&s, &scenes, 5);
        shape_qa q;
        if (shapes_random_question_weighted(&s, &r, only_spatial, &q)) {
            /* only a scene with no left/right question at all may refuse */
            shape_qa all[24];
            assert_int_equal(shapes_questions_of_type(&s, QA_SPATIAL, &r, all, 24), 0);
            none++;
            continue;
        }
        assert_int_equal(q.type, QA_SPATIAL);
        assert_true(!strncmp(q.question, "What is left of", 15) || !strncmp(q.question, "What is right of", 16));
        asked++;
    }
    assert_true(asked > 100 && none > 10);   /* one-object scenes have no neighbour */
}

static void test_draws_follow_the_weights(void **st)
{
    (void)st;
    /* a scene with a question of every type: weights 3 for spatial, 1 for the
     * other five, so spatial should come up 3/8 of the time, each other 1/8 */
    shape_rng scenes;
    shape_rng_seed(&scenes, 14);
    shape_scene s;
    for (;;) {
        shape_scene_random(&s, &scenes, 5);
        int every = 1;
        shape_qa all[24];
        for (int t = QA_COLOR; t < QA_TYPE_COUNT; t++)
            every &= shapes_questions_of_type(&s, (shape_qa_type)t, &scenes, all, 24) > 0;
        if (every) break;
    }
    int w[QA_TYPE_COUNT], seen[QA_TYPE_COUNT] = {0};
    for (int t = 0; t < QA_TYPE_COUNT; t++) w[t] = 1;
    w[QA_SPATIAL] = 3;
    shape_rng r;
    shape_rng_seed(&r, 15);
    const int n = 8000;
    for (int i = 0; i < n; i++) {
        shape_qa q;
        assert_int_equal(shapes_random_question_weighted(&s, &r, w, &q), 0);
        seen[q.type]++;
    }
    assert_int_equal(seen[QA_CAPTION], 0);
    /* binomial sd at n = 8000: 54 for p = 3/8, 37 for p = 1/8; 5 sd allowed */
    assert_in_range(seen[QA_SPATIAL], n * 3 / 8 - 270, n * 3 / 8 + 270);
    for (int t = QA_COLOR; t < QA_TYPE_COUNT; t++)
        if (t != QA_SPATIAL) assert_in_range(seen[t], n / 8 - 185, n / 8 + 185);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unit_weights_are_the_unweighted_draw),
        cmocka_unit_test(test_zero_weight_is_never_asked),
        cmocka_unit_test(test_draws_follow_the_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

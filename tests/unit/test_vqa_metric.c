/* The VQAv2 / A-OKVQA metric on hand-checked cases, rule by rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eval/vqa_metric.h"

static void check(char *(*fn)(const char *), const char *in, const char *want)
{
    char *got = fn(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_punctuation(void **s)
{
    (void)s;
    check(iris_vqa_process_punctuation, "yes.", "yes");
    check(iris_vqa_process_punctuation, "3.5", "3.5");             /* a period before a digit stays */
    check(iris_vqa_process_punctuation, "hello, world", "hello world");  /* touches a space: deleted */
    check(iris_vqa_process_punctuation, "a,b", "a b");             /* else: becomes a space */
    check(iris_vqa_process_punctuation, "1,000", "1000");          /* digit,digit: every mark deleted */
    check(iris_vqa_process_punctuation, "it's", "it s");
    check(iris_vqa_process_punctuation, "red/blue", "red blue");
    check(iris_vqa_process_punctuation, "(left) side", " left side"); /* "(" touches no space */
    check(iris_vqa_process_punctuation, "ok!", "ok!");             /* '!' is not in the official list */
    check(iris_vqa_process_punctuation, "", "");                   /* an empty answer (read nothing past it) */
    check(iris_vqa_process_punctuation, ",", " ");
}

static void test_digit_article(void **s)
{
    (void)s;
    check(iris_vqa_process_digit_article, "Two Dogs", "2 dogs");
    check(iris_vqa_process_digit_article, "the   cat", "cat");
    check(iris_vqa_process_digit_article, "an apple a day", "apple day");
    check(iris_vqa_process_digit_article, "None", "0");
    check(iris_vqa_process_digit_article, "ten", "10");
    check(iris_vqa_process_digit_article, "dont", "don\u2019t");
    check(iris_vqa_process_digit_article, "", "");
}

static void test_prediction_cleanup(void **s)
{
    (void)s;
    check(iris_vqa_normalize_prediction, "  The Two\tcats.\n", "2 cats");
}

static void test_leave_one_out(void **s)
{
    (void)s;
    const char *a[10] = {"2", "2", "2", "3", "3", "3", "3", "3", "3", "3"};
    /* leaving out a "2": 2 matches -> 2/3 (3 subsets); leaving out a "3": 3 -> 1 (7 subsets) */
    assert_float_equal(iris_vqa_accuracy("two", a, 10), (3 * (2.0 / 3) + 7) / 10, 1e-12);
    assert_float_equal(iris_vqa_accuracy("3", a, 10), 1.0, 1e-12);
    assert_float_equal(iris_vqa_accuracy("4", a, 10), 0.0, 1e-12);
    const char *b[10] = {"cat", "cat", "dog", "dog", "dog", "dog", "dog", "dog", "dog", "dog"};
    /* one or two matches among 9: leaving out a "cat": 1/3 (2 subsets); a "dog": 2/3 (8) */
    assert_float_equal(iris_vqa_accuracy("cat", b, 10), (2 * (1.0 / 3) + 8 * (2.0 / 3)) / 10, 1e-12);
}

static void test_identical_answers_skip_normalisation(void **s)
{
    (void)s;
    /* all ten identical: compared as they are, so "two" never matches the normalised "2" */
    const char *same[10] = {"two", "two", "two", "two", "two", "two", "two", "two", "two", "two"};
    assert_float_equal(iris_vqa_accuracy("two", same, 10), 0.0, 1e-12);
    const char *yes[10] = {"Yes.", "Yes.", "Yes.", "Yes.", "Yes.", "Yes.", "Yes.", "Yes.", "Yes.", "Yes."};
    assert_float_equal(iris_vqa_accuracy("Yes.", yes, 10), 0.0, 1e-12);
    /* not identical: punctuation is processed on the answers (but not lower-casing) */
    const char *mixed[10] = {"yes.", "yes.", "yes.", "yes.", "yes.", "yes.", "yes.", "yes.", "yes.", "no"};
    assert_float_equal(iris_vqa_accuracy("Yes", mixed, 10), (9 * 1.0 + 1 * 1.0) / 10, 1e-12);
}

static void test_single_answer_and_aokvqa(void **s)
{
    (void)s;
    const char *one[1] = {"red"};
    assert_float_equal(iris_vqa_accuracy(" Red ", one, 1), 1.0, 1e-12);
    assert_float_equal(iris_vqa_accuracy("blue", one, 1), 0.0, 1e-12);
    assert_float_equal(iris_vqa_accuracy("x", one, 0), -1.0, 0);
    const char *da[10] = {"bus", "bus", "car", "bus", "van", "car", "car", "car", "truck", "car"};
    assert_float_equal(iris_aokvqa_da_accuracy("The bus.", da, 10), 1.0, 1e-12);
    assert_float_equal(iris_aokvqa_da_accuracy("van", da, 10), 1.0 / 3, 1e-12);
    assert_float_equal(iris_exact_accuracy("Two", "2"), 1.0, 0);
    assert_float_equal(iris_exact_accuracy("two", "3"), 0.0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_punctuation),
        cmocka_unit_test(test_digit_article),
        cmocka_unit_test(test_prediction_cleanup),
        cmocka_unit_test(test_leave_one_out),
        cmocka_unit_test(test_identical_answers_skip_normalisation),
        cmocka_unit_test(test_single_answer_and_aokvqa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

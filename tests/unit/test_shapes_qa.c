/* The shapes world's multi-turn conversations: which earlier turns give a
 * question's answer away (shapes_qa_told after shapes_qa_tell), by hand-made
 * cases of every question type, each with a history that tells and one that
 * names the same words without telling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "shapes/shapes_qa.h"

static shape_qa qa(shape_qa_type t, const char *q, const char *a)
{
    shape_qa x = {.type = t};
    strcpy(x.question, q);
    strcpy(x.answer, a);
    return x;
}

/* Whether q is told after the turns before it (NULL-terminated pairs). */
static int told_after(const shape_qa *q, const shape_qa *before, int n)
{
    char told[4096] = "";
    for (int i = 0; i < n; i++) shapes_qa_tell(&before[i], told, sizeof told);
    return shapes_qa_told(q, told);
}

static void test_color(void **s)
{
    (void)s;
    shape_qa q = qa(QA_COLOR, "What color is the cross?", "purple");
    shape_qa spatial = qa(QA_SPATIAL, "What is left of the purple cross?", "green square");
    shape_qa shape = qa(QA_SHAPE, "What shape is purple?", "cross");
    shape_qa other = qa(QA_COLOR, "What color is the square?", "purple");
    assert_true(told_after(&q, &spatial, 1));
    assert_true(told_after(&q, &shape, 1));   /* the fact, from a question and its answer */
    assert_true(told_after(&q, &q, 1));       /* asked again */
    assert_false(told_after(&q, &other, 1));
    assert_false(told_after(&q, NULL, 0));
    shape_qa letter = qa(QA_COLOR, "What color is the letter K?", "blue");
    shape_qa yes = qa(QA_YESNO, "Is there a blue letter K?", "yes");
    shape_qa e = qa(QA_YESNO, "Is there a blue letter E?", "yes");
    assert_true(told_after(&letter, &yes, 1));
    assert_false(told_after(&letter, &e, 1));
}

static void test_letter_and_shape(void **s)
{
    (void)s;
    shape_qa letter = qa(QA_LETTER, "Which letter is red?", "K");
    shape_qa color = qa(QA_COLOR, "What color is the letter K?", "red");
    shape_qa count = qa(QA_COUNT, "How many letters are there?", "1");
    assert_true(told_after(&letter, &color, 1));
    assert_false(told_after(&letter, &count, 1));
    shape_qa shape = qa(QA_SHAPE, "What shape is green?", "square");
    shape_qa right = qa(QA_SPATIAL, "What is right of the red star?", "green square");
    shape_qa green = qa(QA_COLOR, "What color is the star?", "green");
    assert_true(told_after(&shape, &right, 1));
    assert_false(told_after(&shape, &green, 1));
}

static void test_spatial(void **s)
{
    (void)s;
    shape_qa left = qa(QA_SPATIAL, "What is left of the purple cross?", "green square");
    shape_qa mirror = qa(QA_SPATIAL, "What is right of the green square?", "purple cross");
    shape_qa half = qa(QA_YESNO, "Is there a green square?", "yes");
    assert_true(told_after(&left, &mirror, 1));
    assert_false(told_after(&left, &half, 1));
    shape_qa both[] = {half, qa(QA_YESNO, "Is there a purple cross?", "yes")};
    assert_true(told_after(&left, both, 2));
}

static void test_count(void **s)
{
    (void)s;
    shape_qa crosses = qa(QA_COUNT, "How many crosses are there?", "1");
    shape_qa circles = qa(QA_COUNT, "How many circles are there?", "0");
    shape_qa letters = qa(QA_COUNT, "How many letters are there?", "2");
    shape_qa objects = qa(QA_COUNT, "How many objects are there?", "3");
    shape_qa named = qa(QA_SPATIAL, "What is left of the purple cross?", "green letter K");
    assert_true(told_after(&crosses, &named, 1));
    assert_true(told_after(&letters, &named, 1));
    assert_false(told_after(&circles, &named, 1));
    assert_false(told_after(&objects, &named, 1));   /* naming objects does not count them all */
    assert_false(told_after(&objects, &crosses, 1));
}

static void test_yesno(void **s)
{
    (void)s;
    shape_qa q = qa(QA_YESNO, "Is there a red star?", "no");
    shape_qa star = qa(QA_COLOR, "What color is the star?", "blue");
    shape_qa red = qa(QA_SHAPE, "What shape is red?", "circle");
    shape_qa other = qa(QA_SHAPE, "What shape is blue?", "circle");
    assert_true(told_after(&q, &star, 1));
    assert_true(told_after(&q, &red, 1));
    assert_false(told_after(&q, &other, 1));
    shape_qa an = qa(QA_YESNO, "Is there an orange letter Z?", "yes");
    shape_qa letters = qa(QA_COUNT, "How many letters are there?", "1");
    assert_true(told_after(&an, &letters, 1));
    assert_false(told_after(&an, &other, 1));
}

static void test_malformed_questions_are_not_told(void **s)
{
    (void)s;
    shape_qa odd = qa(QA_COLOR, "Colour of the cross", "purple");
    shape_qa named = qa(QA_SPATIAL, "What is left of the purple cross?", "green square");
    assert_false(told_after(&odd, &named, 1));
    shape_qa caption = qa(QA_CAPTION, "What can be seen in the image?", "a purple cross");
    assert_false(told_after(&caption, &named, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_color),
        cmocka_unit_test(test_letter_and_shape),
        cmocka_unit_test(test_spatial),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_yesno),
        cmocka_unit_test(test_malformed_questions_are_not_told),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

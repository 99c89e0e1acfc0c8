/* The shapes world's text: the two captions of a hand-made scene, and which
 * earlier turns of a conversation give a question's answer away
 * (shapes_qa_told after shapes_qa_tell), by hand-made cases of every question
 * type, each with a history that tells and one that names the same words
 * without telling. */
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

static shape_object object(shape_kind kind, char letter, int color, int column, int row)
{
    shape_object o = {.kind = kind, .letter = letter, .color = color, .r = 8};
    o.cx = 32 * column + 16;
    o.cy = 32 * row + 16;
    return o;
}

enum { RED, GREEN, BLUE, YELLOW, PURPLE, ORANGE };

static void test_captions(void **s)
{
    (void)s;
    shape_scene sc = {.width = 128, .height = 128, .n = 5};
    sc.obj[0] = object(SHAPE_LETTER, 'K', PURPLE, 3, 2);
    sc.obj[1] = object(SHAPE_CIRCLE, 0, BLUE, 2, 0);
    sc.obj[2] = object(SHAPE_STAR, 0, YELLOW, 3, 0);
    sc.obj[3] = object(SHAPE_LETTER, 'K', RED, 0, 1);
    sc.obj[4] = object(SHAPE_CIRCLE, 0, GREEN, 1, 3);
    char out[160];
    shapes_caption(&sc, out, sizeof out);
    assert_string_equal(out, "a red letter K, a green circle, a blue circle, a yellow star and a purple letter K");
    /* kinds in their order, letters last; a kind's colours left to right */
    shapes_caption_by_kind(&sc, out, sizeof out);
    assert_string_equal(out, "the circles are green and blue, the star is yellow and the letters K are red and purple");

    shape_scene two = {.width = 64, .height = 64, .n = 3};
    two.obj[0] = object(SHAPE_LETTER, 'K', ORANGE, 0, 0);
    two.obj[1] = object(SHAPE_LETTER, 'E', BLUE, 1, 0);
    two.obj[2] = object(SHAPE_CROSS, 0, RED, 1, 1);
    for (int i = 0; i < 3; i++) two.obj[i].cx /= 2;   /* a 64 px image: 16 px cells */
    shapes_caption_by_kind(&two, out, sizeof out);
    assert_string_equal(out, "the cross is red, the letter E is blue and the letter K is orange");
    two.n = 1;
    shapes_caption_by_kind(&two, out, sizeof out);
    assert_string_equal(out, "the letter K is orange");
    shapes_caption(&two, out, sizeof out);
    assert_string_equal(out, "an orange letter K");
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
        cmocka_unit_test(test_captions),
        cmocka_unit_test(test_color),
        cmocka_unit_test(test_letter_and_shape),
        cmocka_unit_test(test_spatial),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_yesno),
        cmocka_unit_test(test_malformed_questions_are_not_told),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

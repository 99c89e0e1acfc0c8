/* test_chat_template.c — the exact prompt strings of each template
 * (DESIGN.md "Prompt templates"); transformers' Jinja rendering of the
 * published templates is compared in tests/integration/test_tokenizers.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "text/chat_template.h"

static const iris_chat_msg one[] = {{"user", "<image>\nWhat is shown?"}};
static const iris_chat_msg two[] = {
    {"user", "<image>\nWhat is shown?"}, {"assistant", "A cat."}, {"user", "Colour?"}};

static void check(iris_chat_template t, const iris_chat_msg *m, int n, int gen, const char *want)
{
    char *got = iris_chat_render(t, m, n, gen);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_llava_hf(void **s)
{
    (void)s;
    check(IRIS_TPL_LLAVA_HF, one, 1, 1, "USER: <image>\nWhat is shown? ASSISTANT:");
    check(IRIS_TPL_LLAVA_HF, two, 3, 1,
          "USER: <image>\nWhat is shown? ASSISTANT: A cat. USER: Colour? ASSISTANT:");
}

static void test_vicuna(void **s)
{
    (void)s;
    check(IRIS_TPL_VICUNA_V1, two, 3, 1,
          "A chat between a curious user and an artificial intelligence assistant. The assistant "
          "gives helpful, detailed, and polite answers to the user's questions. USER: <image>\n"
          "What is shown? ASSISTANT: A cat.</s>USER: Colour? ASSISTANT:");
    const iris_chat_msg sys[] = {{"system", "Be brief."}, {"user", "Hi"}};
    check(IRIS_TPL_VICUNA_V1, sys, 2, 1, "Be brief. USER: Hi ASSISTANT:");
}

static void test_plain(void **s)
{
    (void)s;
    const iris_chat_msg cap[] = {{"user", "<image>\n"}, {"assistant", "a red circle"}};
    check(IRIS_TPL_PLAIN, cap, 2, 0, "<image>a red circle\n");
    check(IRIS_TPL_PLAIN, cap, 1, 1, "<image>");
}

static void test_gemma(void **s)
{
    (void)s;
    check(IRIS_TPL_GEMMA, two, 3, 1,
          "<start_of_turn>user\n<image>\nWhat is shown?<end_of_turn>\n"
          "<start_of_turn>model\nA cat.<end_of_turn>\n"
          "<start_of_turn>user\nColour?<end_of_turn>\n<start_of_turn>model\n");
    const iris_chat_msg pad[] = {{"user", "  hi \n"}};
    check(IRIS_TPL_GEMMA, pad, 1, 0, "<start_of_turn>user\nhi<end_of_turn>\n");
}

static void test_chatml(void **s)
{
    (void)s;
    const iris_chat_msg m[] = {{"system", "S"}, {"user", "Q"}, {"assistant", "A"}};
    check(IRIS_TPL_CHATML, m, 3, 1,
          "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
          "<|im_start|>assistant\nA<|im_end|>\n<|im_start|>assistant\n");
    check(IRIS_TPL_CHATML, m + 1, 1, 0, "<|im_start|>user\nQ<|im_end|>\n");
}

static void test_openflamingo(void **s)
{
    (void)s;
    /* the <image> markers (and LLaVA's newline after them) go in front */
    check(IRIS_TPL_OPENFLAMINGO, two, 3, 1,
          "<image>Question:What is shown? Short answer:A cat.<|endofchunk|>Question:Colour? Short answer:");
    const iris_chat_msg m[] = {{"system", "ignored"}, {"user", "  <image><image>\n Which one? "}};
    check(IRIS_TPL_OPENFLAMINGO, m, 2, 1, "<image><image>Question:Which one? Short answer:");
    const iris_chat_msg img[] = {{"user", "<image>\n"}};
    check(IRIS_TPL_OPENFLAMINGO, img, 1, 1, "<image>");
}

static void test_raw_and_names(void **s)
{
    (void)s;
    check(IRIS_TPL_RAW, one, 1, 1, "<image>\nWhat is shown?");
    check(IRIS_TPL_RAW, NULL, 0, 1, "");
    for (int t = 0; t < IRIS_TPL_COUNT; t++)
        assert_int_equal(iris_chat_template_from_name(iris_chat_template_name((iris_chat_template)t)), t);
    assert_int_equal(iris_chat_template_from_name("nope"), -1);
    assert_int_equal(iris_chat_template_from_name(NULL), -1);
    assert_string_equal(iris_chat_template_name(IRIS_TPL_GEMMA), "gemma");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llava_hf),
        cmocka_unit_test(test_vicuna),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_gemma),
        cmocka_unit_test(test_chatml),
        cmocka_unit_test(test_openflamingo),
        cmocka_unit_test(test_raw_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_of_lora_targets.c — choosing an OpenFlamingo model's LoRA targets
 * (train/of_lora_targets.h): groups and their combinations, PEFT-style
 * module-name matching (whole name or its end after a dot), errors for
 * unknown tokens and tokens that match nothing, modules_to_save, and the
 * loose check a config load makes without the model (train/lora.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "nets/llama_config.h"
#include "train/lora.h"
#include "train/of_lora_targets.h"

/* A two-layer MPT OpenFlamingo model's candidates (one block, one
 * perceiver layer). */
static const char *const names[] = {
    "lang_encoder.transformer.blocks.0.decoder_layer.attn.Wqkv",
    "lang_encoder.transformer.blocks.0.decoder_layer.attn.out_proj",
    "lang_encoder.transformer.blocks.0.decoder_layer.ffn.up_proj",
    "lang_encoder.transformer.blocks.0.decoder_layer.ffn.down_proj",
    "lang_encoder.transformer.blocks.1.decoder_layer.attn.Wqkv",
    "lang_encoder.transformer.blocks.1.gated_cross_attn_layer.attn.to_q",
    "lang_encoder.transformer.blocks.1.gated_cross_attn_layer.attn.to_kv",
    "lang_encoder.transformer.blocks.1.gated_cross_attn_layer.attn.to_out",
    "lang_encoder.transformer.blocks.1.gated_cross_attn_layer.ff.1",
    "lang_encoder.transformer.blocks.1.gated_cross_attn_layer.ff.3",
    "perceiver.layers.0.0.to_q",
    "perceiver.layers.0.0.to_kv",
    "perceiver.layers.0.1.1",
};
static const int groups[] = {IRIS_OFG_SELF_ATTN, IRIS_OFG_SELF_ATTN, IRIS_OFG_FF, IRIS_OFG_FF,
                             IRIS_OFG_SELF_ATTN, IRIS_OFG_XATTN, IRIS_OFG_XATTN, IRIS_OFG_XATTN,
                             IRIS_OFG_XATTN_FF, IRIS_OFG_XATTN_FF, IRIS_OFG_PERCEIVER, IRIS_OFG_PERCEIVER,
                             IRIS_OFG_PERCEIVER};
#define N ((int)(sizeof names / sizeof *names))

/* The selection as a string of 0/1, one per candidate. */
static const char *pick(const char *spec)
{
    static char out[N + 1];
    unsigned char sel[N];
    if (iris_of_lora_select(spec, names, groups, N, sel)) return NULL;
    for (int i = 0; i < N; i++) out[i] = sel[i] ? '1' : '0';
    out[N] = 0;
    return out;
}

static void test_groups(void **s)
{
    (void)s;
    assert_string_equal(pick("self_attn"), "1100100000000");
    assert_string_equal(pick("ff"), "0011000000000");
    assert_string_equal(pick("mlp"), "0011000000000");
    assert_string_equal(pick("xattn"), "0000011100000");
    assert_string_equal(pick("xattn_ff"), "0000000011000");
    assert_string_equal(pick("perceiver"), "0000000000111");
    assert_string_equal(pick("attn"), "1100111100000");
    assert_string_equal(pick("attn, ffn"), "1111111111000");
    assert_string_equal(pick("lm"), "1111100000000");
    assert_string_equal(pick("all"), "1111111111111");
    assert_string_equal(pick("all-linear"), "1111111111111");
    assert_string_equal(pick("xattn,xattn , perceiver"), "0000011100111");
}

static void test_module_names(void **s)
{
    (void)s;
    /* PEFT's rule: the whole name or its end after a dot */
    assert_string_equal(pick("to_q"), "0000010000100");
    assert_string_equal(pick("gated_cross_attn_layer.attn.to_q"), "0000010000000");
    assert_string_equal(pick("Wqkv"), "1000100000000");
    assert_string_equal(pick("lang_encoder.transformer.blocks.1.decoder_layer.attn.Wqkv"), "0000100000000");
    assert_string_equal(pick("ff.1"), "0000000010000");
    assert_string_equal(pick("1.1"), "0000000000001");
    assert_string_equal(pick("self_attn,to_kv"), "1100101000010");
    /* a partial component is not a match */
    assert_null(pick("kv"));
    assert_non_null(strstr(iris_last_error(), "'kv' matches no module"));
}

static void test_errors(void **s)
{
    (void)s;
    assert_null(pick("xatn"));
    assert_non_null(strstr(iris_last_error(), "'xatn' matches no module"));
    assert_null(pick("lang_encoder.transformer.blocks.7.decoder_layer.attn.Wqkv"));
    assert_null(pick(""));
    assert_non_null(strstr(iris_last_error(), "no LoRA target"));
    assert_null(pick(" , "));
    char long_tok[400];
    memset(long_tok, 'a', sizeof long_tok - 1);
    long_tok[sizeof long_tok - 1] = 0;
    assert_null(pick(long_tok));
    assert_non_null(strstr(iris_last_error(), "too long"));
    /* a group the model lacks (no perceiver candidates) */
    unsigned char sel[4];
    assert_int_equal(iris_of_lora_select("perceiver", names, groups, 4, sel), -1);
    assert_non_null(strstr(iris_last_error(), "has no such modules"));
}

static void test_modules_to_save(void **s)
{
    (void)s;
    unsigned m = 99;
    assert_int_equal(iris_of_lora_parse_save("none", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(iris_of_lora_parse_save("", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(iris_of_lora_parse_save("perceiver", &m), 0);
    assert_int_equal(m, IRIS_OFS_PERCEIVER);
    assert_int_equal(iris_of_lora_parse_save("xattn, perceiver", &m), 0);
    assert_int_equal(m, IRIS_OFS_PERCEIVER | IRIS_OFS_XATTN);
    assert_int_equal(iris_of_lora_parse_save("gated_cross_attn_layer", &m), 0);
    assert_int_equal(m, IRIS_OFS_XATTN);
    assert_int_equal(iris_of_lora_parse_save("gates", &m), -1);
    assert_non_null(strstr(iris_last_error(), "unknown module 'gates'"));
}

/* A config load (no model yet) accepts OpenFlamingo tokens beside the
 * decoders' names; a plain decoder then refuses them. */
static void test_loose_check(void **s)
{
    (void)s;
    iris_lora_config lc = {.r = 4, .alpha = 8, .layer_first = -1, .layer_last = -1};
    assert_int_equal(iris_lora_parse_targets(&lc, "attn, ffn"), 0);
    assert_int_equal(iris_lora_parse_targets(&lc, "xattn,perceiver.layers.0.0.to_q"), 0);
    assert_int_equal(iris_lora_parse_targets(&lc, "ff.1, 1.3"), 0);
    assert_int_equal(iris_lora_parse_targets(&lc, "q_proj,xattn"), 0);
    assert_int_equal(iris_lora_resolve_targets(&lc, IRIS_ARCH_LLAMA, "llama"), -1);
    assert_non_null(strstr(iris_last_error(), "unknown LoRA target 'xattn' for llama"));
    assert_int_equal(iris_lora_parse_targets(&lc, "xatn"), -1);
    assert_non_null(strstr(iris_last_error(), "OpenFlamingo: self_attn"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_module_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_modules_to_save),
        cmocka_unit_test(test_loose_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_clip_config.c — vision_config parsing: transformers' defaults for the
 * keys llava-hf checkpoints leave out, SigLIP switches, refusals with messages.
 * (The forward pass itself is checked against transformers in
 * tests/integration/test_clip.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/error.h"
#include "nets/clip.h"

static int parse(const char *json, iris_clip_config *c)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    int rc = iris_clip_config_from_json(c, j, "config.json");
    cJSON_Delete(j);
    return rc;
}

static void test_llava_hf_partial_config(void **state)
{
    (void)state;
    /* llava-1.5-7b-hf's vision_config lists only what differs from CLIPVisionConfig */
    iris_clip_config c, ref;
    assert_int_equal(parse("{\"hidden_size\":1024,\"image_size\":336,\"intermediate_size\":4096,"
                           "\"model_type\":\"clip_vision_model\",\"num_attention_heads\":16,"
                           "\"num_hidden_layers\":24,\"patch_size\":14,\"projection_dim\":768}", &c), 0);
    iris_clip_config_vit_l14_336(&ref);
    assert_memory_equal(&c, &ref, sizeof c);
    assert_int_equal(iris_clip_n_tokens(&c), 577);
}

static void test_clip_defaults(void **state)
{
    (void)state;
    iris_clip_config c;
    assert_int_equal(parse("{}", &c), 0);
    assert_int_equal(c.hidden, 768);
    assert_int_equal(c.patch, 32);
    assert_int_equal(c.image_size, 224);
    assert_int_equal(c.act, IRIS_ACT_QUICK_GELU);
    assert_true(c.class_token && c.pre_layernorm);
    assert_int_equal(iris_clip_n_tokens(&c), 50);
}

static void test_siglip(void **state)
{
    (void)state;
    iris_clip_config c;
    assert_int_equal(parse("{\"model_type\":\"siglip_vision_model\",\"image_size\":384,"
                           "\"hidden_size\":1152,\"num_attention_heads\":16,\"patch_size\":14,"
                           "\"intermediate_size\":4304,\"num_hidden_layers\":27}", &c), 0);
    assert_int_equal(c.act, IRIS_ACT_GELU_TANH);
    assert_false(c.class_token);
    assert_false(c.pre_layernorm);
    assert_true(c.eps == 1e-6f);
    assert_int_equal(iris_clip_n_tokens(&c), 729);
}

static void test_refusals(void **state)
{
    (void)state;
    iris_clip_config c;
    assert_int_equal(parse("{\"hidden_act\":\"swish\"}", &c), -1);
    assert_non_null(strstr(iris_last_error(), "swish"));
    assert_int_equal(parse("{\"hidden_size\":100,\"num_attention_heads\":16}", &c), -1);
    assert_non_null(strstr(iris_last_error(), "config.json"));
    assert_int_equal(parse("{\"hidden_size\":\"big\"}", &c), -1);
    assert_int_equal(parse("{\"model_type\":\"vit\"}", &c), -1);
    assert_int_equal(parse("{\"image_size\":10,\"patch_size\":14}", &c), -1);
    assert_int_equal(iris_act_from_name("gelu"), IRIS_ACT_GELU);
    assert_int_equal(iris_act_from_name("nope"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llava_hf_partial_config), cmocka_unit_test(test_clip_defaults),
        cmocka_unit_test(test_siglip), cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Scalar dtype conversions against the processor's own F16C instructions,
 * bf16 rounding, Q8_0 dequantisation and tensor size arithmetic. */
#include <immintrin.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/tensor.h"

static void test_f16_to_f32_every_value(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float ours = iris_f16_to_f32((uint16_t)h);
        float hw = _cvtsh_ss((unsigned short)h);
        if (isnan(hw)) {
            assert_true(isnan(ours));
            continue;
        }
        assert_memory_equal(&ours, &hw, 4);
    }
}

static void test_f32_to_f16_rounding_matches_f16c(void **state)
{
    (void)state;
    uint32_t s = 99;
    for (int i = 0; i < 2000000; i++) {
        s = s * 1664525u + 1013904223u;
        uint32_t bits = s;
        if (i % 3 == 0) bits = (bits & 0x807fffffu) | ((uint32_t)(100 + (s >> 27) % 60) << 23); /* f16 range */
        float f;
        memcpy(&f, &bits, 4);
        if (isnan(f)) continue;
        uint16_t ours = iris_f32_to_f16(f);
        uint16_t hw = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
        assert_int_equal(ours, hw);
    }
}

static void test_bf16_round_to_nearest_even(void **state)
{
    (void)state;
    assert_int_equal(iris_f32_to_bf16(1.0f), 0x3f80);
    /* 1 + 2^-8 is exactly half-way between bf16 neighbours 1 and 1+2^-7: even wins */
    assert_int_equal(iris_f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
    assert_int_equal(iris_f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
    assert_true(isnan(iris_bf16_to_f32(iris_f32_to_bf16(NAN))));
    for (uint32_t h = 0; h < 65536; h++) {
        float f = iris_bf16_to_f32((uint16_t)h);
        if (!isnan(f)) assert_int_equal(iris_f32_to_bf16(f), h);
    }
}

static void test_q8_0_dequant(void **state)
{
    (void)state;
    uint8_t blk[2 * IRIS_Q8_0_BLOCK_BYTES];
    for (int b = 0; b < 2; b++) {
        uint16_t d = iris_f32_to_f16(b ? 0.25f : -0.5f);
        memcpy(blk + b * 34, &d, 2);
        for (int i = 0; i < 32; i++) blk[b * 34 + 2 + i] = (uint8_t)(int8_t)(i - 16);
    }
    float out[64];
    iris_q8_0_to_f32(blk, out, 64);
    for (int i = 0; i < 64; i++) assert_float_equal(out[i], (i < 32 ? -0.5f : 0.25f) * ((i % 32) - 16), 0);
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(iris_dtype_row_bytes(IRIS_Q8_0, 64), 68);
    assert_int_equal(iris_dtype_row_bytes(IRIS_Q8_0, 33), 0);
    assert_int_equal(iris_dtype_row_bytes(IRIS_BF16, 3), 6);
    int64_t shape[3] = {2, 3, 5};
    iris_tensor t;
    assert_int_equal(iris_tensor_alloc(&t, IRIS_F32, 3, shape), 0);
    assert_int_equal(iris_tensor_numel(&t), 30);
    assert_int_equal(iris_tensor_rows(&t), 6);
    assert_int_equal(iris_tensor_bytes(&t), 120);
    iris_tensor_free(&t);
    assert_int_equal(iris_dtype_from_name("BF16"), IRIS_BF16);
    assert_int_equal(iris_dtype_from_name("F64"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_to_f32_every_value),
        cmocka_unit_test(test_f32_to_f16_rounding_matches_f16c),
        cmocka_unit_test(test_bf16_round_to_nearest_even),
        cmocka_unit_test(test_q8_0_dequant),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

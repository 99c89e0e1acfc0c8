/* test_preprocess.c — properties of the resizer and the preprocessing modes
 * that do not need a reference implementation (the comparison with PIL and
 * transformers is tests/integration/test_image_preprocess.py): a window of a
 * resize equals the same block of the full resize, same-size resize is the
 * identity, pad of a square image equals crop, padding colour, crop offsets
 * and zero fill, normalisation arithmetic, bad configurations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "vision/preprocess.h"

static iris_image random_image(int w, int h, unsigned seed)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        px[i] = (uint8_t)(seed >> 16);
    }
    iris_image img;
    assert_int_equal(iris_image_from_rgb(&img, px, w, h), 0);
    free(px);
    return img;
}

static void check_window(int w, int h, int ow, int oh)
{
    iris_image img = random_image(w, h, (unsigned)(w * 31 + h));
    uint8_t *full = malloc((size_t)ow * oh * 3);
    assert_non_null(full);
    assert_int_equal(iris_resize_bicubic_window(img.rgb, w, h, ow, oh, 0, 0, ow, oh, full), 0);
    int x0 = ow / 3, y0 = oh / 4, nw = ow - x0 - ow / 5, nh = oh - y0 - oh / 7;
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    uint8_t *win = malloc((size_t)nw * nh * 3);
    assert_non_null(win);
    assert_int_equal(iris_resize_bicubic_window(img.rgb, w, h, ow, oh, x0, y0, nw, nh, win), 0);
    for (int j = 0; j < nh; j++)
        assert_memory_equal(win + (size_t)j * nw * 3, full + ((size_t)(y0 + j) * ow + x0) * 3, (size_t)nw * 3);
    free(win);
    free(full);
    iris_image_free(&img);
}

static void test_window_equals_full(void **state)
{
    (void)state;
    check_window(517, 333, 336, 336);  /* down both ways */
    check_window(40, 30, 97, 71);      /* up both ways */
    check_window(1, 7, 336, 2352);     /* extreme up */
    check_window(300, 20, 300, 50);    /* vertical only */
    check_window(20, 300, 50, 300);    /* horizontal only */
}

static void test_same_size_is_identity(void **state)
{
    (void)state;
    iris_image img = random_image(37, 23, 5);
    uint8_t out[37 * 23 * 3];
    assert_int_equal(iris_resize_bicubic_window(img.rgb, 37, 23, 37, 23, 0, 0, 37, 23, out), 0);
    assert_memory_equal(out, img.rgb, sizeof out);
    iris_image_free(&img);
}

static void test_pad_of_square_is_crop(void **state)
{
    (void)state;
    iris_image img = random_image(90, 90, 7);
    iris_preproc pad, crop;
    iris_preproc_clip(&pad, IRIS_PREPROC_PAD, 56);
    iris_preproc_clip(&crop, IRIS_PREPROC_CROP, 56);
    uint8_t a[56 * 56 * 3], b[56 * 56 * 3];
    assert_int_equal(iris_preprocess_u8(&img, &pad, a), 0);
    assert_int_equal(iris_preprocess_u8(&img, &crop, b), 0);
    assert_memory_equal(a, b, sizeof a);
    iris_image_free(&img);
}

/* PAD computes the square lazily (background rows and columns are resampled
 * once); it must equal CROP on the square built pixel by pixel. */
static void check_pad_equals_explicit_square(int w, int h)
{
    iris_image img = random_image(w, h, (unsigned)(w * 7 + h));
    iris_preproc pad, crop;
    iris_preproc_clip(&pad, IRIS_PREPROC_PAD, 56);
    iris_preproc_clip(&crop, IRIS_PREPROC_CROP, 56);
    int side = w > h ? w : h, ox = (side - w) / 2, oy = (side - h) / 2;
    uint8_t *sq = malloc((size_t)side * side * 3);
    assert_non_null(sq);
    for (size_t i = 0; i < (size_t)side * side; i++) memcpy(sq + i * 3, pad.pad_rgb, 3);
    for (int y = 0; y < h; y++)
        memcpy(sq + ((size_t)(y + oy) * side + ox) * 3, img.rgb + (size_t)y * w * 3, (size_t)w * 3);
    iris_image square;
    assert_int_equal(iris_image_from_rgb(&square, sq, side, side), 0);
    uint8_t a[56 * 56 * 3], b[56 * 56 * 3];
    assert_int_equal(iris_preprocess_u8(&img, &pad, a), 0);
    assert_int_equal(iris_preprocess_u8(&square, &crop, b), 0);
    assert_memory_equal(a, b, sizeof a);
    iris_image_free(&square);
    iris_image_free(&img);
    free(sq);
}

static void test_pad_equals_explicit_square(void **state)
{
    (void)state;
    check_pad_equals_explicit_square(1, 300);
    check_pad_equals_explicit_square(300, 1);
    check_pad_equals_explicit_square(17, 200);
    check_pad_equals_explicit_square(200, 17);
    check_pad_equals_explicit_square(40, 30);
    check_pad_equals_explicit_square(30, 41);
}

static void test_pad_colour(void **state)
{
    (void)state;
    iris_preproc p;
    iris_preproc_clip(&p, IRIS_PREPROC_PAD, 336);
    assert_int_equal(p.pad_rgb[0], 122);
    assert_int_equal(p.pad_rgb[1], 116);
    assert_int_equal(p.pad_rgb[2], 104);
    /* a wide strip: the top and bottom rows of the output are pure background
     * (far from the strip, the bicubic taps see only the pad colour) */
    iris_image img = random_image(400, 10, 9);
    uint8_t out[56 * 56 * 3];
    iris_preproc_clip(&p, IRIS_PREPROC_PAD, 56);
    assert_int_equal(iris_preprocess_u8(&img, &p, out), 0);
    for (int x = 0; x < 56; x++)
        for (int c = 0; c < 3; c++) {
            assert_int_equal(out[x * 3 + c], p.pad_rgb[c]);
            assert_int_equal(out[(55 * 56 + x) * 3 + c], p.pad_rgb[c]);
        }
    iris_image_free(&img);
}

static void test_crop_centre_offsets(void **state)
{
    (void)state;
    /* shortest edge == crop == the image's short side: no resize, pure crop
     * at ((w - c) // 2) */
    iris_image img = random_image(61, 40, 11);
    iris_preproc p;
    iris_preproc_clip(&p, IRIS_PREPROC_CROP, 40);
    uint8_t out[40 * 40 * 3];
    assert_int_equal(iris_preprocess_u8(&img, &p, out), 0);
    for (int y = 0; y < 40; y++)
        assert_memory_equal(out + (size_t)y * 40 * 3, img.rgb + ((size_t)y * 61 + 10) * 3, 40 * 3);
    iris_image_free(&img);
}

static void test_crop_larger_than_resize_zero_fills(void **state)
{
    (void)state;
    /* shortest edge 8, crop 12: transformers pads the 8x8 resize with zeros,
     * offset ceil((12 - 8) / 2) = 2 */
    iris_image img = random_image(8, 8, 13);
    iris_preproc p;
    iris_preproc_clip(&p, IRIS_PREPROC_CROP, 8);
    p.crop_w = p.crop_h = 12;
    uint8_t out[12 * 12 * 3];
    assert_int_equal(iris_preprocess_u8(&img, &p, out), 0);
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 12; x++) {
            const uint8_t *o = out + ((size_t)y * 12 + x) * 3;
            if (y < 2 || y >= 10 || x < 2 || x >= 10) {
                assert_int_equal(o[0] | o[1] | o[2], 0);
            } else {
                assert_memory_equal(o, img.rgb + ((size_t)(y - 2) * 8 + (x - 2)) * 3, 3);
            }
        }
    iris_image_free(&img);
}

static void test_normalise(void **state)
{
    (void)state;
    iris_preproc p;
    iris_preproc_clip(&p, IRIS_PREPROC_CROP, 2);
    const uint8_t hwc[12] = {0, 128, 255, 1, 2, 3, 4, 5, 6, 250, 251, 252};
    float chw[12];
    iris_preproc_normalise(&p, hwc, chw);
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) {
            float x = (float)(hwc[i * 3 + c] * (1.0 / 255.0));
            float want = (x - p.mean[c]) / p.std[c];
            assert_true(chw[c * 4 + i] == want);
        }
}

static void test_bad_configs(void **state)
{
    (void)state;
    iris_image img = random_image(10, 10, 17);
    iris_preproc p;
    uint8_t out[16];
    iris_preproc_clip(&p, IRIS_PREPROC_CROP, 0);
    assert_int_equal(iris_preprocess_u8(&img, &p, out), -1);
    iris_preproc_clip(&p, (iris_preproc_mode)7, 2);
    assert_int_equal(iris_preprocess_u8(&img, &p, out), -1);
    iris_image empty = {0};
    iris_preproc_clip(&p, IRIS_PREPROC_CROP, 2);
    assert_int_equal(iris_preprocess_u8(&empty, &p, out), -1);
    assert_int_equal(iris_resize_bicubic_window(img.rgb, 10, 10, 5, 5, 3, 0, 4, 5, out), -1);
    assert_int_equal(iris_preproc_mode_from_name("zoom"), -1);
    assert_int_equal(iris_preproc_mode_from_name("pad"), IRIS_PREPROC_PAD);
    iris_image_free(&img);
}

static void test_siglip_config(void **state)
{
    (void)state;
    iris_preproc p;
    iris_preproc_siglip(&p, 384);
    assert_int_equal(p.mode, IRIS_PREPROC_RESIZE);
    assert_int_equal(p.crop_w, 384);
    assert_true(p.mean[0] == 0.5f && p.std[2] == 0.5f);
    assert_int_equal(p.pad_rgb[0], 127);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_equals_full), cmocka_unit_test(test_same_size_is_identity),
        cmocka_unit_test(test_pad_of_square_is_crop), cmocka_unit_test(test_pad_colour),
        cmocka_unit_test(test_pad_equals_explicit_square),
        cmocka_unit_test(test_crop_centre_offsets), cmocka_unit_test(test_crop_larger_than_resize_zero_fills),
        cmocka_unit_test(test_normalise),          cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_siglip_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

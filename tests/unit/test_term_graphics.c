/* Terminal graphics: DA1 and CSI 16 t replies, fitting pictures into cells,
 * area-average scaling, the 256-colour mapping, and sixel output that
 * libsixel's own decoder turns back into the scaled picture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tui/term_graphics.c"

static void test_da1_replies(void **state)
{
    (void)state;
    const char *yes[] = {"\033[?62;4;22c", "\033[?4c", "junk\033[?63;1;2;4;6;9;15;22c", "\033[?1;2;4c"};
    const char *no[] = {"\033[?1;2c", "\033[?62;22;44c", "\033[?64;1;2;6;9;15;18;21;22c", "", "\033[?62;4",
                        "\033[62;4c", "4c"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) assert_true(gfx_da1_has_sixel(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) assert_false(gfx_da1_has_sixel(no[i], strlen(no[i])));
    int w = 0, h = 0;
    const char *r = "\033[6;20;10t\033[?62;4c";
    assert_true(gfx_parse_cell_size(r, strlen(r), &w, &h));
    assert_int_equal(w, 10);
    assert_int_equal(h, 20);
    assert_false(gfx_parse_cell_size("\033[4;600;800t", 12, &w, &h));   /* window size, not cells */
    assert_false(gfx_parse_cell_size("\033[6;0;10t", 9, &w, &h));
    assert_int_equal(gfx_mode_from_name("sixel"), GFX_SIXEL);
    assert_int_equal(gfx_mode_from_name("blocks"), GFX_BLOCKS);
    assert_int_equal(gfx_mode_from_name("none"), GFX_NONE);
    assert_int_equal(gfx_mode_from_name("kitty"), -1);
    /* keys typed during the probe survive, replies do not */
    char out[64];
    const char *mix = "ab\033[6;20;10tc\033[?62;4c\033[Ad";
    int n = gfx_strip_replies(mix, strlen(mix), out, sizeof out);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "abc\033[Ad", 7);
}

static void test_fit_keeps_the_aspect_ratio(void **state)
{
    (void)state;
    int c, r;
    gfx_fit_cells(64, 48, 80, 12, 1, 2, &c, &r);   /* half-blocks: 1x2 px cells */
    assert_int_equal(c, 32);
    assert_int_equal(r, 12);
    gfx_fit_cells(1000, 10, 40, 12, 1, 2, &c, &r);   /* very wide: width-limited */
    assert_int_equal(c, 40);
    assert_int_equal(r, 1);
    gfx_fit_cells(336, 336, 80, 20, 10, 20, &c, &r);  /* square in 10x20 px cells */
    assert_int_equal(c, 40);
    assert_int_equal(r, 20);
    gfx_fit_cells(0, 0, 5, 5, 10, 20, &c, &r);
    assert_true(c >= 1 && r >= 1);
}

static void test_scaling_averages_areas(void **state)
{
    (void)state;
    uint8_t src[4 * 2 * 3], dst[2 * 1 * 3];
    for (int i = 0; i < 8; i++) {
        src[i * 3] = (uint8_t)(i * 10);
        src[i * 3 + 1] = 100;
        src[i * 3 + 2] = (uint8_t)(255 - i);
    }
    gfx_scale_rgb(src, 4, 2, dst, 2, 1);
    /* left output pixel: source pixels 0,1,4,5 */
    assert_int_equal(dst[0], (0 + 10 + 40 + 50 + 2) / 4);
    assert_int_equal(dst[1], 100);
    assert_int_equal(dst[3], (20 + 30 + 60 + 70 + 2) / 4);
    uint8_t big[3 * 3 * 3];
    gfx_scale_rgb(dst, 2, 1, big, 3, 3);   /* upscaling repeats */
    assert_int_equal(big[0], dst[0]);
    assert_int_equal(big[(2 * 3 + 2) * 3], dst[3]);
}

static void test_256_colour_mapping(void **state)
{
    (void)state;
    assert_int_equal(gfx_rgb_to_256(0, 0, 0), 16);
    assert_int_equal(gfx_rgb_to_256(255, 255, 255), 231);
    assert_int_equal(gfx_rgb_to_256(255, 0, 0), 196);
    assert_int_equal(gfx_rgb_to_256(0, 135, 255), 16 + 0 + 6 * 2 + 5);
    int g = gfx_rgb_to_256(128, 128, 128);
    assert_true(g >= 232 && g <= 255);
}

static void test_sixel_decodes_to_the_scaled_picture(void **state)
{
    (void)state;
    /* a picture with smooth gradients and a few flat blocks, scaled to 4x3
     * cells of 10x20 px as the UI does, then encoded */
    enum { SW = 97, SH = 71, W = 40, H = 60 };
    uint8_t *src = malloc(SW * SH * 3), *px = malloc(W * H * 3);
    assert_non_null(src);
    assert_non_null(px);
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++) {
            uint8_t *p = src + (y * SW + x) * 3;
            p[0] = (uint8_t)(x * 255 / SW);
            p[1] = (uint8_t)(y * 255 / SH);
            p[2] = (x / 20 + y / 20) % 2 ? 200 : 30;
        }
    gfx_scale_rgb(src, SW, SH, px, W, H);
    char *six;
    size_t n;
    assert_int_equal(gfx_sixel_encode(px, W, H, &six, &n), 0);
    assert_true(n > 10);
    assert_true(six[0] == 0x1b && six[1] == 'P');          /* DCS */
    assert_true(six[n - 2] == 0x1b && six[n - 1] == '\\');  /* ST */
    unsigned char *idx = NULL, *pal = NULL;
    int w = 0, h = 0, ncol = 0;
    assert_false(SIXEL_FAILED(sixel_decode_raw((unsigned char *)six, (int)n, &idx, &w, &h, &pal, &ncol, NULL)));
    assert_int_equal(w, W);
    assert_true(h >= H && h < H + 6);   /* sixel bands are 6 rows high */
    long err = 0, worst = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const unsigned char *c = pal + 3 * idx[y * w + x];
            for (int k = 0; k < 3; k++) {
                long d = labs((long)c[k] - px[(y * W + x) * 3 + k]);
                err += d;
                if (d > worst) worst = d;
            }
        }
    /* a 256-colour palette: small average error, no wild pixel */
    assert_true(err / (W * H * 3) <= 6);
    assert_true(worst <= 48);
    free(idx);
    free(pal);
    free(six);
    assert_int_equal(gfx_sixel_encode(px, 0, 5, &six, &n), -1);
    free(src);
    free(px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_da1_replies),
        cmocka_unit_test(test_fit_keeps_the_aspect_ratio),
        cmocka_unit_test(test_scaling_averages_areas),
        cmocka_unit_test(test_256_colour_mapping),
        cmocka_unit_test(test_sixel_decodes_to_the_scaled_picture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Braille plotting and EMA smoothing: dot bits per the Unicode braille
 * layout, clipping, line drawing, data mapping (linear and log), ticks,
 * labels; EMA equals its definition, debiasing keeps constants constant. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tui/braille_plot.c"
#include "tui/ema.c"

static unsigned cell_cp(const braille_canvas *c, int col, int row)
{
    char u[4];
    braille_cell_utf8(c, col, row, u);
    unsigned char *b = (unsigned char *)u;
    return ((b[0] & 0x0Fu) << 12) | ((b[1] & 0x3Fu) << 6) | (b[2] & 0x3Fu);
}

static void test_dot_bits_follow_the_braille_numbering(void **state)
{
    (void)state;
    braille_canvas c;
    assert_int_equal(braille_init(&c, 2, 2), 0);
    assert_int_equal(cell_cp(&c, 0, 0), 0x2800);
    /* dots 1..8 at (x,y): 1(0,0) 2(0,1) 3(0,2) 4(1,0) 5(1,1) 6(1,2) 7(0,3) 8(1,3) */
    static const int pos[8][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {0, 3}, {1, 3}};
    for (int d = 0; d < 8; d++) {
        braille_clear(&c);
        assert_true(braille_set(&c, pos[d][0] + 2, pos[d][1] + 4, 1));
        assert_int_equal(cell_cp(&c, 1, 1), 0x2800 + (1u << d));
        assert_int_equal(cell_cp(&c, 0, 0), 0x2800);
    }
    /* outside: clipped */
    assert_false(braille_set(&c, -1, 0, 1));
    assert_false(braille_set(&c, 4, 0, 1));
    assert_false(braille_set(&c, 0, 8, 1));
    braille_free(&c);
    assert_int_equal(braille_init(&c, 0, 5), -1);
}

static int count_dots(const braille_canvas *c)
{
    int n = 0;
    for (int i = 0; i < c->cols * c->rows; i++) n += __builtin_popcount(c->dots[i]);
    return n;
}

static void test_lines_are_connected_and_clipped(void **state)
{
    (void)state;
    braille_canvas c;
    assert_int_equal(braille_init(&c, 10, 5), 0);   /* 20 x 20 dots */
    braille_line(&c, 0, 0, 19, 19, 2);
    assert_int_equal(count_dots(&c), 20);            /* a diagonal: one dot per column */
    for (int i = 0; i < 20; i++) assert_true(c.dots[(i / 4) * 10 + i / 2] != 0);
    assert_int_equal(c.color[0], 2);
    braille_clear(&c);
    braille_line(&c, 0, 5, 19, 5, 1);
    assert_int_equal(count_dots(&c), 20);
    braille_clear(&c);
    braille_line(&c, -1000000, 3, 1000000, 3, 1);   /* far outside: bounded, clipped */
    assert_true(count_dots(&c) <= 20);
    braille_free(&c);
}

static void test_mapping_ranges_and_log_axis(void **state)
{
    (void)state;
    braille_canvas c;
    assert_int_equal(braille_init(&c, 10, 5), 0);
    plot_range r = {0, 100, 0, 1, 0};
    int px, py;
    assert_true(plot_map(&c, &r, 0, 0, &px, &py));
    assert_int_equal(px, 0);
    assert_int_equal(py, 19);      /* y grows upwards */
    assert_true(plot_map(&c, &r, 100, 1, &px, &py));
    assert_int_equal(px, 19);
    assert_int_equal(py, 0);
    assert_false(plot_map(&c, &r, NAN, 1, &px, &py));
    r = (plot_range){0, 1, 1, 1000, 1};
    assert_true(plot_map(&c, &r, 0, 10, &px, &py));
    assert_int_equal(py, (int)lround((1 - 1.0 / 3) * 19));   /* a third of the way up */
    assert_false(plot_map(&c, &r, 0, 0, &px, &py));           /* log of 0 */
    /* a NaN breaks the line: two separate points, no segment between them */
    double ys[3] = {0, NAN, 1};
    double xs[3] = {0, 0.5, 1};
    r = (plot_range){0, 1, 0, 1, 0};
    braille_plot_series(&c, &r, xs, ys, 3, 1);
    assert_int_equal(count_dots(&c), 2);
    double lo = 0, hi = 0, v[4] = {3, -2, NAN, 7};
    assert_true(plot_data_range(v, 4, 0, &lo, &hi));
    assert_true(lo == -2 && hi == 7);
    assert_true(plot_data_range(v, 4, 1, &lo, &hi));
    assert_true(lo == 3 && hi == 7);
    assert_false(plot_data_range(v + 2, 1, 0, &lo, &hi));
    braille_free(&c);
}

static void test_ticks_and_labels(void **state)
{
    (void)state;
    double t[16];
    int n = plot_ticks(0, 10, 0, 6, t);
    assert_true(n >= 3 && n <= 6);
    assert_true(t[0] == 0 && t[n - 1] == 10);
    for (int i = 1; i < n; i++) assert_true(fabs((t[i] - t[i - 1]) - (t[1] - t[0])) < 1e-12);
    n = plot_ticks(0.0123, 0.0987, 0, 5, t);
    for (int i = 0; i < n; i++) assert_true(t[i] >= 0.0123 && t[i] <= 0.0987);
    assert_true(n >= 2);
    n = plot_ticks(0.5, 5000, 1, 8, t);
    assert_int_equal(n, 4);
    assert_true(t[0] == 1 && t[3] == 1000);
    assert_int_equal(plot_ticks(3, 3, 0, 5, t), 1);
    assert_int_equal(plot_ticks(NAN, 3, 0, 5, t), 0);
    char b[16];
    plot_format_value(0, b, sizeof b);
    assert_string_equal(b, "0");
    plot_format_value(2.5, b, sizeof b);
    assert_string_equal(b, "2.5");
    plot_format_value(12000, b, sizeof b);
    assert_string_equal(b, "12k");
    plot_format_value(3e6, b, sizeof b);
    assert_string_equal(b, "3M");
    plot_format_value(4e-5, b, sizeof b);
    assert_string_equal(b, "4e-05");
    plot_format_seconds(45, b, sizeof b);
    assert_string_equal(b, "45s");
    plot_format_seconds(720, b, sizeof b);
    assert_string_equal(b, "12m");
}

static void test_ema_matches_its_definition(void **state)
{
    (void)state;
    enum { N = 200 };
    double in[N], out[N];
    srand(7);
    for (int i = 0; i < N; i++) in[i] = (double)rand() / RAND_MAX;
    for (int k = 0; k < 4; k++) {
        double s = (double[]){0, 0.5, 0.9, 0.99}[k];
        ema_smooth(in, N, s, out);
        double v = 0;
        for (int i = 0; i < N; i++) {
            v = s * v + (1 - s) * in[i];
            assert_true(fabs(out[i] - v / (1 - pow(s, i + 1))) < 1e-9);
        }
    }
    ema_smooth(in, N, 0, out);
    assert_memory_equal(in, out, sizeof in);
    /* debiasing: a constant stays constant from the first point on */
    for (int i = 0; i < N; i++) in[i] = 3.25;
    ema_smooth(in, N, 0.95, out);
    for (int i = 0; i < N; i++) assert_true(fabs(out[i] - 3.25) < 1e-9);
    /* non-finite inputs are skipped; in place works */
    double x[5] = {NAN, 1, INFINITY, 1, 1};
    ema_smooth(x, 5, 0.5, x);
    assert_true(isnan(x[0]));
    for (int i = 1; i < 5; i++) assert_true(fabs(x[i] - 1) < 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_bits_follow_the_braille_numbering),
        cmocka_unit_test(test_lines_are_connected_and_clipped),
        cmocka_unit_test(test_mapping_ranges_and_log_axis),
        cmocka_unit_test(test_ticks_and_labels),
        cmocka_unit_test(test_ema_matches_its_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

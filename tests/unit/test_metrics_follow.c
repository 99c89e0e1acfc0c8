/* Following metrics.jsonl: incremental reads, partial lines completed by a
 * later write, junk lines skipped, truncation and replacement start over,
 * deletion keeps the points. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tui/metrics_follow.c"

static char dir[64], path[128];

static void append(const char *s)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_follows_growth_partial_lines_and_junk(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/iris-mf-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    metrics_follow m;
    assert_int_equal(metrics_follow_init(&m, path), 0);
    assert_int_equal(metrics_follow_poll(&m), 0);
    assert_true(m.missing);
    append("{\"step\": 1, \"loss\": 2.5, \"lr\": 1e-4, \"wall_s\": 0.5}\n{\"step\": 2, \"lo");
    assert_int_equal(metrics_follow_poll(&m), 1);
    assert_false(m.missing);
    assert_int_equal(m.n, 1);
    assert_true(m.v[MF_LOSS][0] == 2.5 && m.v[MF_STEP][0] == 1 && m.v[MF_LR][0] == 1e-4);
    assert_true(isnan(m.v[MF_GRAD_NORM][0]));
    append("ss\": 2.0}\nnot json\n[1,2]\n{}\n\n{\"step\": 3, \"loss\": 1.5, \"mem_bytes\": 1073741824}\n");
    assert_int_equal(metrics_follow_poll(&m), 2);
    assert_int_equal(m.n, 3);
    assert_true(m.v[MF_LOSS][1] == 2.0 && m.v[MF_STEP][2] == 3 && m.v[MF_MEM_BYTES][2] == 1073741824.0);
    assert_true(m.bad_lines >= 3);
    assert_int_equal(metrics_follow_poll(&m), 0);   /* nothing new */
    /* 2000 steps written in small pieces */
    for (int i = 4; i < 2004; i++) {
        char line[128];
        snprintf(line, sizeof line, "{\"step\": %d, \"loss\": %g}\n", i, 1.0 / i);
        size_t h = strlen(line) / 2;
        char a[128];
        memcpy(a, line, h);
        a[h] = 0;
        append(a);
        if (i % 7 == 0) metrics_follow_poll(&m);
        append(line + h);
    }
    metrics_follow_poll(&m);
    assert_int_equal(m.n, 2003);
    for (int i = 3; i < 2003; i++) assert_true(m.v[MF_STEP][i] == i + 1);
    /* truncated (a restarted run): read again from the start */
    FILE *f = fopen(path, "w");
    fputs("{\"step\": 1, \"loss\": 9}\n", f);
    fclose(f);
    metrics_follow_poll(&m);
    assert_int_equal(m.n, 1);
    assert_true(m.v[MF_LOSS][0] == 9);
    assert_int_equal(m.restarted, 1);
    /* deleted: the points stay, the state says missing */
    unlink(path);
    assert_int_equal(metrics_follow_poll(&m), 0);
    assert_true(m.missing);
    assert_int_equal(m.n, 1);
    /* a new file with the same name: a new series */
    append("{\"step\": 5, \"loss\": 4}\n{\"step\": 6, \"loss\": 3}\n");
    metrics_follow_poll(&m);
    assert_int_equal(m.n, 2);
    assert_true(m.v[MF_STEP][0] == 5);
    /* a directory where the file should be: missing, no crash */
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(metrics_follow_poll(&m), 0);
    assert_true(m.missing);
    rmdir(path);
    rmdir(dir);
    metrics_follow_free(&m);
}

static void test_line_parser(void **state)
{
    (void)state;
    double v[MF_N_FIELDS];
    const char *ok = "{\"step\":7,\"epoch\":0.5,\"loss\":1.25,\"lr\":3e-5,\"grad_norm\":0.9,\"tokens_per_s\":1234,"
                     "\"mem_bytes\":5e9,\"wall_s\":12.5}";
    assert_true(metrics_parse_line(ok, strlen(ok), v));
    double want[MF_N_FIELDS] = {7, 0.5, 1.25, 3e-5, 0.9, 1234, 5e9, 12.5};
    for (int f = 0; f < MF_N_FIELDS; f++) assert_true(v[f] == want[f]);
    assert_false(metrics_parse_line("{\"loss\": \"x\"}", 13, v));
    assert_false(metrics_parse_line("{\"loss\": 1", 10, v));
    assert_false(metrics_parse_line("", 0, v));
    assert_true(metrics_parse_line("{\"loss\": 1}\r", 12, v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follows_growth_partial_lines_and_junk),
        cmocka_unit_test(test_line_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

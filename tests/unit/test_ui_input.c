/* The input editor: UTF-8 repair, editing by code point, multi-line moves,
 * history, the size cap, and the wrapped layout's cursor position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <locale.h>
#include <cmocka.h>

#include "tui/ui_input.c"

static int valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && !(k == 3 && !memcmp(s + i, "\xef\xbf\xbd", 3))) return 0;
        i += (size_t)k;
    }
    return 1;
}

static void test_invalid_bytes_become_replacement_characters(void **state)
{
    (void)state;
    ui_input e;
    ui_input_init(&e);
    const char bad[] = "a\xff\xfe\xc3\x28 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf z\xc3\xa9";
    assert_int_equal(ui_input_insert_bytes(&e, bad, sizeof bad - 1), 0);
    assert_true(valid_utf8(e.buf, e.len));
    assert_non_null(strstr(e.buf, "\xef\xbf\xbd"));
    assert_non_null(strstr(e.buf, "z\xc3\xa9"));
    /* random bytes never leave invalid UTF-8 behind */
    srand(3);
    for (int round = 0; round < 200; round++) {
        char junk[64];
        for (int i = 0; i < 64; i++) junk[i] = (char)rand();
        ui_input_insert_bytes(&e, junk, sizeof junk);
        if (rand() % 3 == 0) ui_input_backspace(&e);
        if (rand() % 5 == 0) ui_input_left(&e);
    }
    assert_true(valid_utf8(e.buf, e.len));
    assert_int_equal(strlen(e.buf), e.len);
    /* control characters are dropped, surrogates replaced */
    ui_input_clear(&e);
    ui_input_insert_cp(&e, 7);
    ui_input_insert_cp(&e, 0xD800);
    ui_input_insert_cp(&e, 0x110000);
    assert_string_equal(e.buf, "\xef\xbf\xbd\xef\xbf\xbd");
    ui_input_free(&e);
}

static void test_editing_by_code_point(void **state)
{
    (void)state;
    ui_input e;
    ui_input_init(&e);
    ui_input_set(&e, "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c");   /* héllo 世界 */
    ui_input_backspace(&e);
    assert_string_equal(e.buf, "h\xc3\xa9llo \xe4\xb8\x96");
    ui_input_home(&e);
    ui_input_right(&e);
    ui_input_delete(&e);   /* the é, both bytes */
    assert_string_equal(e.buf, "hllo \xe4\xb8\x96");
    ui_input_insert_cp(&e, 0xE9);
    assert_string_equal(e.buf, "h\xc3\xa9llo \xe4\xb8\x96");
    ui_input_end(&e);
    ui_input_delete_word(&e);
    assert_string_equal(e.buf, "h\xc3\xa9llo ");
    ui_input_home(&e);
    ui_input_kill_to_end(&e);
    assert_string_equal(e.buf, "");
    ui_input_backspace(&e);   /* on empty: nothing */
    ui_input_delete(&e);
    ui_input_left(&e);
    assert_int_equal(e.len, 0);
    ui_input_free(&e);
}

static void test_lines_and_history(void **state)
{
    (void)state;
    ui_input e;
    ui_input_init(&e);
    ui_input_set(&e, "first\nsecond line\nx");
    assert_true(ui_input_line_up(&e));   /* from the end of "x" (col 1) */
    assert_int_equal(e.cur, strlen("first\ns"));
    assert_true(ui_input_line_up(&e));
    assert_int_equal(e.cur, 1);
    assert_false(ui_input_line_up(&e));
    ui_input_end(&e);
    assert_true(ui_input_line_down(&e));
    assert_true(ui_input_line_down(&e));
    assert_int_equal(e.cur, e.len);      /* "x" is shorter: clamped */
    assert_false(ui_input_line_down(&e));
    char *t = ui_input_take(&e);
    assert_string_equal(t, "first\nsecond line\nx");
    free(t);
    assert_int_equal(e.len, 0);
    ui_input_set(&e, "two");
    free(ui_input_take(&e));
    ui_input_set(&e, "draft");
    ui_input_history_prev(&e);
    assert_string_equal(e.buf, "two");
    ui_input_history_prev(&e);
    assert_string_equal(e.buf, "first\nsecond line\nx");
    ui_input_history_prev(&e);
    assert_string_equal(e.buf, "first\nsecond line\nx");
    ui_input_history_next(&e);
    ui_input_history_next(&e);
    assert_string_equal(e.buf, "draft");
    ui_input_free(&e);
}

static void test_cap_and_layout(void **state)
{
    (void)state;
    ui_input e;
    ui_input_init(&e);
    char *big = malloc(UI_INPUT_MAX + 100);
    assert_non_null(big);
    memset(big, 'a', UI_INPUT_MAX + 100);
    ui_input_insert_bytes(&e, big, UI_INPUT_MAX + 100);
    free(big);
    assert_int_equal(e.len, UI_INPUT_MAX);
    assert_true(e.truncated);
    ui_input_clear(&e);
    ui_input_layout l;
    ui_input_set(&e, "abcdefghij");      /* 10 columns in a width of 4 */
    ui_input_layout_compute(&e, 4, &l);
    assert_int_equal(l.rows, 3);
    assert_int_equal(l.cur_row, 2);
    assert_int_equal(l.cur_col, 2);
    ui_input_set(&e, "abcd");             /* the cursor after a full row wraps */
    ui_input_layout_compute(&e, 4, &l);
    assert_int_equal(l.cur_row, 1);
    assert_int_equal(l.cur_col, 0);
    assert_int_equal(l.rows, 2);
    ui_input_set(&e, "\xe4\xb8\x96\xe7\x95\x8c\xe4\xb8\x96\nz");   /* wide characters: 2 columns each */
    ui_input_layout_compute(&e, 5, &l);
    assert_int_equal(l.rows, 3);
    assert_int_equal(l.cur_row, 2);
    assert_int_equal(l.cur_col, 1);
    ui_input_free(&e);
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_bytes_become_replacement_characters),
        cmocka_unit_test(test_editing_by_code_point),
        cmocka_unit_test(test_lines_and_history),
        cmocka_unit_test(test_cap_and_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

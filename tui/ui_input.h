/* ui_input.h — the multi-line input editor: a UTF-8 buffer with a cursor,
 * editing by code point, history of sent entries, and the layout of the
 * text wrapped into a box of a given width (cursor row and column included).
 *
 * Contract: the buffer always holds valid UTF-8 (invalid input becomes
 * U+FFFD); it is capped at UI_INPUT_MAX bytes (further input is dropped).
 * No ncurses here; the caller draws the layout. */
#ifndef IRIS_UI_INPUT_H
#define IRIS_UI_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define UI_INPUT_MAX (1u << 20)

typedef struct {
    char *buf;
    size_t len, cap, cur;     /* cur: byte offset of the cursor, on a code point boundary */
    char **hist;
    int n_hist, cap_hist, hist_pos;   /* hist_pos == n_hist: editing a new entry */
    char *draft;              /* the new entry while browsing history */
    int truncated;            /* input was dropped at the cap */
} ui_input;

typedef struct {
    int rows;                 /* wrapped rows of the whole text */
    int cur_row, cur_col;     /* cursor position in those rows */
} ui_input_layout;

void ui_input_init(ui_input *e);
void ui_input_free(ui_input *e);
void ui_input_clear(ui_input *e);
int ui_input_set(ui_input *e, const char *text);
/* Inserts a code point (invalid ones and surrogates as U+FFFD; control
 * characters other than newline and tab are ignored). */
int ui_input_insert_cp(ui_input *e, uint32_t cp);
/* Inserts bytes, repairing invalid UTF-8. */
int ui_input_insert_bytes(ui_input *e, const char *s, size_t n);
void ui_input_backspace(ui_input *e);
void ui_input_delete(ui_input *e);
void ui_input_left(ui_input *e);
void ui_input_right(ui_input *e);
void ui_input_home(ui_input *e);          /* start of the current line */
void ui_input_end(ui_input *e);
void ui_input_kill_to_start(ui_input *e); /* Ctrl-U */
void ui_input_kill_to_end(ui_input *e);   /* Ctrl-K */
void ui_input_delete_word(ui_input *e);   /* Ctrl-W */
/* Up/Down: move between lines of a multi-line entry; 0 when already on the
 * first/last line (the caller then browses history). */
int ui_input_line_up(ui_input *e);
int ui_input_line_down(ui_input *e);
void ui_input_history_prev(ui_input *e);
void ui_input_history_next(ui_input *e);
/* Takes the text (malloc'd), adds it to the history, clears the buffer. */
char *ui_input_take(ui_input *e);
/* Wraps at width columns (wcwidth); fills the layout. */
void ui_input_layout_compute(const ui_input *e, int width, ui_input_layout *l);
/* Decodes one code point at s (n bytes available); returns its length
 * (>= 1) and U+FFFD for an invalid sequence. */
int utf8_decode(const char *s, size_t n, uint32_t *cp);
int utf8_encode(uint32_t cp, char out[4]);
/* Display width of a code point: 0, 1 or 2 (control characters: 1, shown as '?'). */
int cp_width(uint32_t cp);

#endif

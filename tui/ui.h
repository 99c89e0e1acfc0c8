/* ui.h — the full-screen interface's shared pieces: the application state,
 * the panel interface each tui/ui_<panel>.c implements, and drawing helpers.
 *
 * Threads: only the UI thread calls ncurses.  Workers (generation, model
 * loading, downloads) publish results under their own mutex and call
 * ui_wake(), which writes a byte to a pipe the UI loop polls. */
#ifndef IRIS_UI_H
#define IRIS_UI_H

#include <stddef.h>
#include <wchar.h>

#include "cli_common.h"
#include "term_graphics.h"

/* keys beyond ncurses' own (define_key) */
enum {
    UI_KEY_PASTE_BEGIN = 0x1000, UI_KEY_PASTE_END, UI_KEY_ALT_ENTER,
    UI_KEY_ALT_1, UI_KEY_ALT_2, UI_KEY_ALT_3, UI_KEY_ALT_4, UI_KEY_ALT_5,
};

/* colour pairs */
enum {
    UI_C_TAB = 1, UI_C_TAB_ACTIVE, UI_C_USER, UI_C_ASSISTANT, UI_C_INFO, UI_C_ERROR, UI_C_STATUS,
    UI_C_SERIES0,   /* UI_C_SERIES0 .. +7: plot series; +8..+15 their faint raw lines */
};
#define UI_N_SERIES_COLORS 8

typedef struct ui_app ui_app;

typedef struct ui_panel {
    const char *title;
    void *st;
    /* draws into rows [y, y+h) and columns [x, x+w) of stdscr */
    void (*draw)(struct ui_panel *p, ui_app *app, int y, int x, int h, int w);
    /* after refresh(): pictures written straight to the terminal (sixel) */
    void (*overlay)(struct ui_panel *p, ui_app *app);
    /* a key: ch is a character when is_key == 0, else a KEY_* / UI_KEY_* code;
     * returns 1 when used */
    int (*key)(struct ui_panel *p, ui_app *app, wint_t ch, int is_key);
    /* every loop turn (after wake-ups and timeouts): pick up worker results */
    void (*tick)(struct ui_panel *p, ui_app *app);
    /* text for the status line */
    void (*status)(struct ui_panel *p, ui_app *app, char *buf, size_t n);
    /* 1 when the panel is editing text (then '?' and 'q' are typed) */
    int (*typing)(struct ui_panel *p);
    void (*destroy)(struct ui_panel *p);
} ui_panel;

#define UI_N_PANELS 5

struct ui_app {
    ui_panel panels[UI_N_PANELS];
    int current;
    int rows, cols;
    int wake_rd, wake_wr;
    int quit;
    int show_help, help_top;
    int in_paste;
    gfx_mode gfx;
    gfx_caps caps;
    int overlay_dirty;        /* the next frame repaints pictures */
    int has_color, colors256;
    cli_model_opts mo;        /* -m, --device, sampling from the command line */
    const char *runs_dir;     /* where training runs live */
    char **plot_paths;        /* --plot DIR|FILE given on the command line */
    int n_plot_paths;
    const char *compare_b;    /* --compare MODEL: the Compare panel's second model */
    char flash[256];          /* a one-off message shown in the status line */
};

void ui_wake(ui_app *app);
void ui_flash(ui_app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Draws UTF-8 text at (y, x) clipped to w columns; control characters and
 * invalid bytes are shown as '?' / U+FFFD.  Returns the columns used. */
int ui_text(int y, int x, int w, const char *s, size_t n);
/* Splits text into display lines of at most width columns, breaking at
 * spaces where possible and at '\n'.  Calls fn for each line. */
typedef void (*ui_line_fn)(const char *s, size_t n, void *ud);
void ui_wrap(const char *s, size_t n, int width, ui_line_fn fn, void *ud);
/* A horizontal rule of U+2500 (not ACS: it survives every terminal). */
void ui_hline(int y, int x, int w);
/* Fills a rectangle with spaces in the current attributes. */
void ui_blank(int y, int x, int h, int w);
/* A colour pair for a 256-colour fg/bg (alloc_pair), 0 when unavailable. */
int ui_pair256(int fg, int bg);
/* Writes raw bytes to the terminal (after refresh), at row y, column x. */
void ui_raw_at(int y, int x, const char *bytes, size_t n);

/* panels */
void ui_chat_create(ui_panel *p, ui_app *app);
void ui_compare_create(ui_panel *p, ui_app *app);
void ui_train_create(ui_panel *p, ui_app *app);
void ui_plot_create(ui_panel *p, ui_app *app);
void ui_models_create(ui_panel *p, ui_app *app);

/* The backend picked by --device (CUDA when present by default). */
const iris_backend *ui_backend(ui_app *app);

/* Shows a run (folder or metrics.jsonl) in the Plots panel and switches to it. */
void ui_plot_show_run(ui_app *app, const char *path);

/* A model name as /model takes it: a path, else ORG/NAME[@REV] or an alias
 * found in the Hub cache (its snapshot folder).  0, or -1 with the error set. */
int ui_resolve_model(const char *name, char *out, size_t n);

/* Loads a model into the Chat panel and shows that panel. */
void ui_chat_use_model(ui_app *app, const char *path);

/* image helpers shared by chat and compare (ui_image.c) */
typedef struct ui_image ui_image;
ui_image *ui_image_load(const char *path);   /* NULL + iris_last_error() */
void ui_image_free(ui_image *im);
int ui_image_width(const ui_image *im);
int ui_image_height(const ui_image *im);
/* Cells the image takes at most max_cols x max_rows. */
void ui_image_cells(ui_app *app, const ui_image *im, int max_cols, int max_rows, int *cols, int *rows);
/* Call before each frame's drawing (forgets where the sixel went). */
void ui_image_begin_frame(ui_image *im);
/* Draws half-blocks (GFX_BLOCKS) or leaves the cells blank (GFX_SIXEL) and
 * records where the sixel goes; GFX_NONE draws a one-line placeholder. */
void ui_image_draw(ui_app *app, ui_image *im, int y, int x, int cols, int rows);
/* Rows skip .. skip+shown-1 of a picture rows high, drawn from row y (a
 * picture partly scrolled out of view). */
void ui_image_draw_part(ui_app *app, ui_image *im, int y, int x, int cols, int rows, int skip, int shown);
/* Writes the sixel for the last ui_image_draw position (after refresh). */
void ui_image_overlay(ui_app *app, ui_image *im);

#endif

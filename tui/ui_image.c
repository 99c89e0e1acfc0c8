/* ui_image.c — an image shown in a panel: decoded once, drawn as half-block
 * cells (colour pairs from the 256-colour palette) or as a sixel written
 * after ncurses' refresh into cells left blank.  The scaled pixels and the
 * sixel bytes are cached per cell size, so a redraw costs nothing until the
 * size changes. */
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "core/error.h"
#include "ui.h"
#include "vision/image_load.h"

struct ui_image {
    iris_image img;
    /* half-block cache */
    int hb_cols, hb_rows;
    uint8_t *hb_px;          /* cols x 2*rows RGB */
    /* sixel cache and placement */
    int sx_w, sx_h;
    char *sixel;
    size_t n_sixel;
    int at_y, at_x, at_cols, at_rows, placed, was_placed;
};

ui_image *ui_image_load(const char *path)
{
    ui_image *im = calloc(1, sizeof *im);
    if (!im) {
        iris_set_error("out of memory");
        return NULL;
    }
    if (iris_image_load(&im->img, path)) {
        free(im);
        return NULL;
    }
    return im;
}

void ui_image_free(ui_image *im)
{
    if (!im) return;
    iris_image_free(&im->img);
    free(im->hb_px);
    free(im->sixel);
    free(im);
}

int ui_image_width(const ui_image *im) { return im->img.width; }
int ui_image_height(const ui_image *im) { return im->img.height; }

static void cell_px(ui_app *app, int *cw, int *ch)
{
    *cw = app->caps.cell_w > 0 ? app->caps.cell_w : 10;
    *ch = app->caps.cell_h > 0 ? app->caps.cell_h : 20;
}

void ui_image_cells(ui_app *app, const ui_image *im, int max_cols, int max_rows, int *cols, int *rows)
{
    int cw, ch;
    if (app->gfx == GFX_SIXEL) cell_px(app, &cw, &ch);
    else {
        cw = 1;   /* half-blocks: a cell is one pixel wide, two high, and a cell is about 1:2 */
        ch = 2;
    }
    gfx_fit_cells(im->img.width, im->img.height, max_cols, max_rows, cw, ch, cols, rows);
    if (app->gfx == GFX_NONE) *rows = 1;
}

static int ensure_halfblocks(ui_image *im, int cols, int rows)
{
    if (im->hb_px && im->hb_cols == cols && im->hb_rows == rows) return 0;
    uint8_t *px = malloc((size_t)cols * rows * 2 * 3);
    if (!px) return -1;
    gfx_scale_rgb(im->img.rgb, im->img.width, im->img.height, px, cols, rows * 2);
    free(im->hb_px);
    im->hb_px = px;
    im->hb_cols = cols;
    im->hb_rows = rows;
    return 0;
}

void ui_image_begin_frame(ui_image *im)
{
    im->was_placed = im->placed;
    im->placed = 0;
}

void ui_image_draw(ui_app *app, ui_image *im, int y, int x, int cols, int rows)
{
    ui_image_draw_part(app, im, y, x, cols, rows, 0, rows);
}

void ui_image_draw_part(ui_app *app, ui_image *im, int y, int x, int cols, int rows, int skip, int shown)
{
    if (skip < 0) skip = 0;
    if (shown > rows - skip) shown = rows - skip;
    if (shown < 1) return;
    if (skip || shown < rows) {
        /* partly scrolled out: half-blocks show the visible rows; a sixel
         * would spill over the transcript, so its cells stay blank */
        if (app->gfx != GFX_BLOCKS) {
            ui_blank(y, x, shown, cols);
            return;
        }
    }
    if (cols < 1 || rows < 1) return;
    if (app->gfx == GFX_NONE) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "[image %dx%d]", im->img.width, im->img.height);
        ui_text(y, x, cols > n ? n : cols, buf, (size_t)n);
        return;
    }
    if (app->gfx == GFX_SIXEL) {
        ui_blank(y, x, rows, cols);
        if (!im->was_placed || im->at_y != y || im->at_x != x || im->at_cols != cols || im->at_rows != rows) {
            app->overlay_dirty = 1;
            clearok(curscr, TRUE);   /* the old pixels must go where ncurses sees only blanks */
        }
        im->at_y = y;
        im->at_x = x;
        im->at_cols = cols;
        im->at_rows = rows;
        im->placed = 1;
        return;
    }
    if (ensure_halfblocks(im, cols, rows)) return;
    for (int r = skip; r < skip + shown; r++) {
        for (int c = 0; c < cols; c++) {
            const uint8_t *top = im->hb_px + ((size_t)(2 * r) * cols + c) * 3;
            const uint8_t *bot = im->hb_px + ((size_t)(2 * r + 1) * cols + c) * 3;
            int fg, bg;
            if (COLORS >= 0x1000000) {   /* a direct-colour terminal: 24-bit cells */
                fg = top[0] << 16 | top[1] << 8 | top[2];
                bg = bot[0] << 16 | bot[1] << 8 | bot[2];
            } else {
                fg = gfx_rgb_to_256(top[0], top[1], top[2]);
                bg = gfx_rgb_to_256(bot[0], bot[1], bot[2]);
            }
            int pair = ui_pair256(fg, bg);
            if (pair) attr_set(A_NORMAL, (short)pair, NULL);
            else attrset(A_NORMAL);
            mvaddstr(y + r - skip, x + c, "\xe2\x96\x80");   /* U+2580 upper half block */
        }
    }
    attrset(A_NORMAL);
}

void ui_image_overlay(ui_app *app, ui_image *im)
{
    if (app->gfx != GFX_SIXEL || !im->placed || !app->overlay_dirty) return;
    int cw, ch;
    cell_px(app, &cw, &ch);
    int w = im->at_cols * cw, h = im->at_rows * ch;
    if (!im->sixel || im->sx_w != w || im->sx_h != h) {
        uint8_t *px = malloc((size_t)w * h * 3);
        if (!px) return;
        gfx_scale_rgb(im->img.rgb, im->img.width, im->img.height, px, w, h);
        free(im->sixel);
        im->sixel = NULL;
        if (gfx_sixel_encode(px, w, h, &im->sixel, &im->n_sixel)) {
            free(px);
            return;
        }
        free(px);
        im->sx_w = w;
        im->sx_h = h;
    }
    ui_raw_at(im->at_y, im->at_x, im->sixel, im->n_sixel);
}

/* braille_plot.h — a canvas of Unicode braille cells (2x4 dots each) and the
 * arithmetic of plotting series onto it: data-to-dot mapping (linear or log
 * y), line drawing between consecutive points, "nice" axis ticks and short
 * tick labels.  Pure: no terminal, no ncurses; unit-tested.
 *
 * Contract: coordinates outside the canvas are clipped, never written;
 * non-finite values (and values <= 0 on a log axis) break the line. */
#ifndef IRIS_BRAILLE_PLOT_H
#define IRIS_BRAILLE_PLOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int cols, rows;         /* size in cells; dots are 2*cols x 4*rows */
    uint8_t *dots;          /* per cell: braille dot bits (U+2800 + bits) */
    uint8_t *color;         /* per cell: colour index of the last series drawn there, 0 none */
} braille_canvas;

typedef struct {
    double x0, x1, y0, y1;  /* data range mapped onto the canvas */
    int log_y;              /* y mapped through log10 (y0, y1 > 0) */
} plot_range;

int braille_init(braille_canvas *c, int cols, int rows);
void braille_free(braille_canvas *c);
void braille_clear(braille_canvas *c);
/* Dot (px, py), origin top-left; returns 1 when inside the canvas. */
int braille_set(braille_canvas *c, int px, int py, int color);
void braille_line(braille_canvas *c, int x0, int y0, int x1, int y1, int color);
/* The cell's character as UTF-8 (3 bytes + NUL); a blank cell gives U+2800. */
void braille_cell_utf8(const braille_canvas *c, int col, int row, char out[4]);
/* Maps data to dot coordinates; 0 when the value cannot be placed (non-finite,
 * or <= 0 on a log axis). */
int plot_map(const braille_canvas *c, const plot_range *r, double x, double y, int *px, int *py);
/* Draws a polyline through the points (xs may be NULL: x = index). */
void braille_plot_series(braille_canvas *c, const plot_range *r, const double *xs,
                         const double *ys, int n, int color);
/* The finite range of ys (positive values only when log_y); 0 when none. */
int plot_data_range(const double *ys, int n, int log_y, double *lo, double *hi);
/* Up to max_ticks round values (1, 2, 5 x 10^k steps) covering [lo, hi];
 * on a log axis the powers of ten inside.  Returns the count. */
int plot_ticks(double lo, double hi, int log_y, int max_ticks, double *ticks);
/* A short label: "0", "2.5", "1.2k", "3M", "4e-05". At most 7 characters. */
void plot_format_value(double v, char *buf, size_t n);
/* Seconds as "45s", "12m", "3.5h". */
void plot_format_seconds(double s, char *buf, size_t n);

#endif

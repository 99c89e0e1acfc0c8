/* resize_bicubic.h — Pillow-exact bicubic resampling of 8-bit RGB.
 *
 * Reproduces Image.resize(size, Image.BICUBIC) of Pillow (9.x-10.x) on an RGB
 * image bit for bit: for each output coordinate o of an axis scaled in -> out,
 * scale = in/out, fs = max(scale, 1), support = 2*fs, centre = (o+0.5)*scale,
 * taps x in [int(centre-support+0.5) clipped at 0, int(centre+support+0.5)
 * clipped at in), weight cubic((x-centre+0.5)/fs) with Keys' a = -0.5,
 * weights divided by their sum, then rounded to fixed point with 22 fraction
 * bits (away from zero at .5).  The horizontal pass runs first, each pass
 * starts its sum at 2^21 and rounds/clips to 0..255 — so the intermediate image
 * is 8-bit, as in Pillow.  An axis whose size does not change is not resampled.
 *
 * Only a window of the full output is computed; its pixels equal those of the
 * full resize at the same coordinates.
 */
#ifndef IRIS_RESIZE_BICUBIC_H
#define IRIS_RESIZE_BICUBIC_H

#include <stdint.h>

/* A source image delivered a row at a time, so that a padded image (PAD
 * mode) need not be materialised.  row() returns a pointer to w*3 bytes of row
 * y (it may fill and return scratch, which holds w*3 bytes) and sets
 * [*lo, *hi) to the columns that may differ from `background`.  When
 * background is NULL every row must report [0, w).  With a background, the
 * resizer computes the background's horizontal pass once and, in each row,
 * only the output columns whose taps reach [lo, hi): a 1 x 16384 image padded
 * to a square costs no more than its pixels. */
typedef struct iris_row_source {
    int w, h;
    const uint8_t *(*row)(void *ctx, int y, uint8_t *scratch, int *lo, int *hi);
    const uint8_t *background;   /* NULL, or a row of w*3 bytes */
    void *ctx;
} iris_row_source;

/* Writes the window [x0, x0+nw) x [y0, y0+nh) of the out_w x out_h resize
 * into dst (nh rows of nw*3 bytes).  The window must lie inside the output.
 * 0 on success, -1 (iris_last_error) on bad arguments or out of memory. */
int iris_resize_rows(const iris_row_source *src, int out_w, int out_h,
                     int x0, int y0, int nw, int nh, uint8_t *dst);
/* The same for a plain w x h RGB buffer. */
int iris_resize_bicubic_window(const uint8_t *src, int w, int h, int out_w, int out_h,
                               int x0, int y0, int nw, int nh, uint8_t *dst);

#endif

/* term_graphics.h — pictures in the terminal: what the terminal can do (DA1
 * sixel flag, cell size in pixels), fitting an image into a block of cells,
 * scaling it, colour reduction for half-block cells (U+2580, two pixels per
 * cell: foreground the top one, background the bottom one), and sixel
 * encoding with libsixel.
 *
 * Everything but gfx_probe is pure and unit-tested; gfx_probe talks to the
 * terminal and must run before ncurses takes it over. */
#ifndef IRIS_TERM_GRAPHICS_H
#define IRIS_TERM_GRAPHICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { GFX_NONE, GFX_BLOCKS, GFX_SIXEL } gfx_mode;

typedef struct {
    int sixel;              /* DA1 listed 4 */
    int cell_w, cell_h;     /* pixels per cell, 0 when unknown */
    int truecolor;          /* $COLORTERM says truecolor/24bit */
    char typed[256];        /* keys typed during the probe (not replies), to replay */
    int n_typed;
} gfx_caps;

/* "sixel", "blocks", "none" -> mode; -1 when unknown. */
int gfx_mode_from_name(const char *name);
const char *gfx_mode_name(gfx_mode m);
/* 1 when a DA1 reply (ESC [ ? Ps ; ... c) lists parameter 4. */
int gfx_da1_has_sixel(const char *reply, size_t n);
/* Copies what is not a DA1 or CSI 16 t reply out of buf (keys the user
 * typed while the probe waited); returns the count. */
int gfx_strip_replies(const char *buf, size_t n, char *out, size_t cap);
/* Parses a CSI 16 t reply (ESC [ 6 ; height ; width t); 1 on success. */
int gfx_parse_cell_size(const char *reply, size_t n, int *cell_w, int *cell_h);
/* Queries the terminal on fd (raw mode set and restored here); waits at most
 * timeout_ms for the DA1 reply.  Fills caps; never fails (unknown = no). */
void gfx_probe(int fd, int timeout_ms, gfx_caps *caps);

/* The largest block of at most max_cols x max_rows cells that shows an
 * img_w x img_h picture with its aspect ratio, for cells of cell_w x cell_h
 * pixels (half-blocks: pass 1 x 2 proportions).  At least 1x1. */
void gfx_fit_cells(int img_w, int img_h, int max_cols, int max_rows, int cell_w, int cell_h,
                   int *cols, int *rows);
/* Area-average resampling of RGB src (sw x sh) to dst (dw x dh). */
void gfx_scale_rgb(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);
/* The nearest xterm-256 colour (6x6x6 cube or grey ramp). */
int gfx_rgb_to_256(int r, int g, int b);
/* Sixel for an RGB image (w x h), starting with DCS and ending with ST;
 * *out malloc'd.  0, or -1 with iris_last_error(). */
int gfx_sixel_encode(const uint8_t *rgb, int w, int h, char **out, size_t *n_out);

#endif

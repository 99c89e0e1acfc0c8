/* shapes_font.h — a 5x7 bitmap font of the capital letters A-Z, drawn into the
 * synthetic shapes world. */
#ifndef IRIS_SHAPES_FONT_H
#define IRIS_SHAPES_FONT_H

#define IRIS_GLYPH_W 5
#define IRIS_GLYPH_H 7

/* 1 when pixel (x, y) of letter c ('A'..'Z') is ink, (0, 0) top left. */
int iris_glyph_pixel(char c, int x, int y);

#endif

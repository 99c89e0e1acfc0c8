/* jpeg_decode.h — JPEG to 8-bit RGB through libjpeg(-turbo), the library PIL
 * decodes with, so that iris's pixels are PIL's pixels (stb_image's IDCT,
 * colour conversion and chroma upsampling round differently: up to 4 levels).
 *
 * Contract: decodes exactly as PIL's Image.open(...).convert("RGB") with
 * default settings (islow IDCT, fancy upsampling): YCbCr and RGB files to
 * RGB, greyscale replicated into R=G=B, CMYK / YCCK (Adobe, stored inverted as
 * Photoshop writes them) converted with PIL's CMYK->RGB formula.
 * The size is checked against the caller's limits from the header, before any
 * pixel is decoded.  Errors return -1 with a one-line iris_last_error() naming
 * the file: not a JPEG, too large, truncated (the data ends before the last
 * scan), or corrupt (libjpeg's reason appended).  Warnings other than a
 * premature end (e.g. extraneous bytes) are tolerated, as PIL tolerates them.
 */
#ifndef IRIS_JPEG_DECODE_H
#define IRIS_JPEG_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Does data (at least 3 bytes) start with a JPEG SOI marker? */
int iris_is_jpeg(const uint8_t *data, size_t len);

/* Decodes from memory (mem, len) or, when mem is NULL, from the open file f
 * (positioned at the start).  On success *rgb is a malloc'd buffer of
 * (*w) x (*h) x 3 bytes. */
int iris_jpeg_decode(const uint8_t *mem, size_t len, FILE *f, const char *name, int max_side,
                     long max_pixels, uint8_t **rgb, int *w, int *h);

#endif

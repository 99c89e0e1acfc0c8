/* image_load.h — decode an image file into 8-bit RGB for the vision towers.
 *
 * Formats: JPEG (baseline and progressive), PNG (1-16 bit, palette, alpha),
 * BMP, GIF (first frame only) and binary PNM (P5/P6).  JPEG is decoded by
 * libjpeg-turbo (jpeg_decode.h), the library PIL uses, so its pixels are PIL's;
 * everything else by stb_image.
 *
 * Conversion to RGB follows PIL's Image.convert("RGB"), which is what LLaVA and
 * transformers do before preprocessing: grey is replicated into R=G=B, alpha is
 * dropped (NOT composited over a background), palette entries are looked up.
 * Known, deliberate differences from PIL:
 *  - 16-bit PNGs keep their high byte and 16-bit PNMs are scaled by
 *    255/maxval (PIL keeps the high byte of 16-bit RGB PNGs too, but clips
 *    16-bit greyscale at 255, which turns such images white).
 *  - transparent pixels of a GIF's first frame come out black (stb_image), PIL
 *    gives the colour of the transparent palette entry.
 *
 * Limits: the header's size is checked BEFORE any pixel is decoded; an image
 * is refused when a side exceeds IRIS_IMAGE_MAX_SIDE or the pixel count
 * exceeds IRIS_IMAGE_MAX_PIXELS (64 Mpx: 192 MiB of RGB).  1x1 images are
 * accepted (PIL and transformers accept them; they preprocess to a flat colour).
 *
 * Errors: every failure returns -1 with a one-line iris_last_error() that names
 * the file: missing or unreadable file, empty file, not an image of a supported
 * format, too large, truncated (the decoder needed bytes past the end) or
 * corrupt (the decoder's reason appended).
 */
#ifndef IRIS_IMAGE_LOAD_H
#define IRIS_IMAGE_LOAD_H

#include <stddef.h>
#include <stdint.h>

#define IRIS_IMAGE_MAX_SIDE 16384
#define IRIS_IMAGE_MAX_PIXELS (64L * 1024 * 1024)

typedef struct iris_image {
    int width, height;
    uint8_t *rgb;   /* height rows of width*3 bytes, R G B; owned */
} iris_image;

/* Reads and decodes the file at path.  0 on success. */
int iris_image_load(iris_image *img, const char *path);
/* Decodes an image held in memory; name labels error messages. 0 on success. */
int iris_image_decode(iris_image *img, const void *data, size_t len, const char *name);
/* Takes ownership of nothing: copies w*h*3 bytes of RGB into a new image. */
int iris_image_from_rgb(iris_image *img, const uint8_t *rgb, int width, int height);
void iris_image_free(iris_image *img);

#endif

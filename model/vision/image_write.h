/* image_write.h — writes 8-bit RGB images as PNG (stb_image_write), atomically
 * (rename) but without fsync: the callers write generated data sets, many
 * small files that a rerun recreates.  Light zlib compression: the pixels are
 * the same at any level, and the encoder was most of gen-shapes' time.
 * Contract: 0 on success; -1 with a message naming the path. */
#ifndef IRIS_IMAGE_WRITE_H
#define IRIS_IMAGE_WRITE_H

#include <stdint.h>

int iris_png_write(const char *path, const uint8_t *rgb, int width, int height);

#endif

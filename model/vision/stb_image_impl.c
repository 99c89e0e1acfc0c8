/* stb_image_impl.c — the one translation unit that compiles stb_image.
 *
 * We compile Debian's libstb-dev header ourselves instead of linking its
 * libstb.so so that we can (a) restrict the decoders to the five formats iris
 * documents (less attack surface: no PSD, TGA, HDR, PIC), and (b) drop stdio: files are
 * fed through callbacks so that truncation can be detected (image_load.c).
 */
#include "image_load.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR

/* UBSan is off for stb_image's code (here for clang, by a target-specific
 * flag in the Makefile for gcc): 2.27 does arithmetic on a NULL pointer with
 * a zero offset on empty PNG IDAT chunks and similar harmless things that
 * would abort a sanitized build on a crafted file.  The two bugs that are not
 * harmless (PNM header overflow, 16-bit PNM conversion overrun) are kept away
 * by image_load.c; AddressSanitizer still watches every access. */
#ifdef __clang__
#pragma clang attribute push(__attribute__((no_sanitize("undefined"))), apply_to = function)
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#include <stb_image.h>
#pragma GCC diagnostic pop
#ifdef __clang__
#pragma clang attribute pop
#endif

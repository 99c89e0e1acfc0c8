/* fuzz_image.c — libFuzzer target: iris_image_decode over arbitrary bytes
 * (JPEG, PNG, BMP, GIF, PNM through stb_image plus our size and truncation
 * checks), then both preprocessing modes on whatever decodes, so odd sizes
 * and aspect ratios reach the resizer too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vision/image_load.h"
#include "vision/preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    iris_image img;
    if (iris_image_decode(&img, data, size, "fuzz.img") != 0) return 0;
    if (img.width <= 0 || img.height <= 0 || !img.rgb) abort();
    volatile uint8_t sink = img.rgb[(size_t)img.width * img.height * 3 - 1];
    (void)sink;
    /* keep each run fast: preprocessing cost grows with the image */
    if ((long)img.width * img.height <= 1L << 20) {
        uint8_t out[24 * 24 * 3];
        iris_preproc p;
        iris_preproc_clip(&p, IRIS_PREPROC_PAD, 24);
        if (iris_preprocess_u8(&img, &p, out)) abort();
        iris_preproc_clip(&p, IRIS_PREPROC_CROP, 24);
        if (iris_preprocess_u8(&img, &p, out)) abort();
    }
    iris_image_free(&img);
    return 0;
}

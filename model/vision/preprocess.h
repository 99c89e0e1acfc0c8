/* preprocess.h — an RGB image to the pixel tensor a vision tower expects.
 *
 * Modes (DESIGN.md, "Image preprocessing"):
 *  - CROP  (transformers' CLIPImageProcessor, used by llava-hf): resize so the
 *          shortest side is `shortest_edge` (the other side int(S*long/short)),
 *          bicubic; then centre-crop crop_h x crop_w at ((h-ch)//2, (w-cw)//2)
 *          (zero pixels where the resized image is smaller than the crop).
 *  - PAD   (original LLaVA-1.5, "expand2square"): paste the image centred
 *          ((side-w)//2 or (side-h)//2) on a square of the pad colour
 *          int(mean*255) = (122,116,104) for CLIP, then CROP as above.
 *  - RESIZE (SigLIP-style processors): bicubic straight to crop_h x crop_w.
 * Then x/255 and (x - mean)/std in the same f32 arithmetic as transformers,
 * into a CHW f32 tensor [3, crop_h, crop_w].
 *
 * The bicubic resize reproduces Pillow's Image.resize(BICUBIC) on 8-bit RGB
 * bit for bit: separable (horizontal pass first), Keys cubic a=-0.5, support
 * 2 x max(1, in/out), weights normalised then fixed point with 22 fraction
 * bits, and each pass rounded and clipped to 8 bits.  Only the pixels that
 * survive the crop are computed, so extreme aspect ratios cost no more than
 * the crop itself.
 */
#ifndef IRIS_PREPROCESS_H
#define IRIS_PREPROCESS_H

#include <stdint.h>
#include "image_load.h"
#include "resize_bicubic.h"

typedef enum {
    IRIS_PREPROC_CROP = 0,
    IRIS_PREPROC_PAD,
    IRIS_PREPROC_RESIZE
} iris_preproc_mode;

typedef struct iris_preproc {
    iris_preproc_mode mode;
    int shortest_edge;      /* CROP/PAD resize target (336 for LLaVA-1.5) */
    int crop_h, crop_w;     /* output size */
    float mean[3], std[3];  /* normalisation, applied to x/255 */
    uint8_t pad_rgb[3];     /* PAD background: int(mean * 255) */
} iris_preproc;

/* CLIP's processor at `size` (336 or 224): shortest_edge = crop = size,
 * OpenAI CLIP mean/std, pad colour (122,116,104). */
void iris_preproc_clip(iris_preproc *p, iris_preproc_mode mode, int size);
/* SigLIP's processor: RESIZE to size x size, mean = std = 0.5. */
void iris_preproc_siglip(iris_preproc *p, int size);
/* Sets mean (and the pad colour int(mean*255), computed in double as Python does). */
void iris_preproc_set_mean(iris_preproc *p, const double mean[3]);
/* Parses "pad", "crop" or "resize"; -1 when unknown. */
int iris_preproc_mode_from_name(const char *name);

/* The 8-bit pixels after resize/pad/crop, before scaling: crop_h rows of
 * crop_w*3 bytes (HWC).  out holds crop_h*crop_w*3 bytes.  0 on success. */
int iris_preprocess_u8(const iris_image *img, const iris_preproc *p, uint8_t *out);
/* The tower's input: [3, crop_h, crop_w] f32, normalised.  0 on success. */
int iris_preprocess(const iris_image *img, const iris_preproc *p, float *out);
/* Normalises HWC bytes into CHW floats (the last step of iris_preprocess). */
void iris_preproc_normalise(const iris_preproc *p, const uint8_t *hwc, float *chw);

#endif

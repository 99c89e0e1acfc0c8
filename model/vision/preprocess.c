/* preprocess.c — LLaVA/CLIP/SigLIP image preprocessing (see preprocess.h). */
#include "preprocess.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

static const double clip_mean[3] = {0.48145466, 0.4578275, 0.40821073};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

void iris_preproc_set_mean(iris_preproc *p, const double mean[3])
{
    for (int c = 0; c < 3; c++) {
        p->mean[c] = (float)mean[c];
        double v = mean[c] * 255.0;   /* Python: int(x * 255), truncation */
        p->pad_rgb[c] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
    }
}

void iris_preproc_clip(iris_preproc *p, iris_preproc_mode mode, int size)
{
    memset(p, 0, sizeof *p);
    p->mode = mode;
    p->shortest_edge = p->crop_h = p->crop_w = size;
    iris_preproc_set_mean(p, clip_mean);
    memcpy(p->std, clip_std, sizeof p->std);
}

void iris_preproc_siglip(iris_preproc *p, int size)
{
    static const double half[3] = {0.5, 0.5, 0.5};
    memset(p, 0, sizeof *p);
    p->mode = IRIS_PREPROC_RESIZE;
    p->shortest_edge = p->crop_h = p->crop_w = size;
    iris_preproc_set_mean(p, half);
    for (int c = 0; c < 3; c++) p->std[c] = 0.5f;
}

int iris_preproc_mode_from_name(const char *name)
{
    if (!strcmp(name, "crop")) return IRIS_PREPROC_CROP;
    if (!strcmp(name, "pad")) return IRIS_PREPROC_PAD;
    if (!strcmp(name, "resize")) return IRIS_PREPROC_RESIZE;
    return -1;
}

/* ---- row sources: the image itself, or it pasted on a square (expand2square) */

typedef struct {
    const iris_image *img;
    int side, ox, oy;          /* paste offset inside the square */
    const uint8_t *pad;        /* background colour */
    uint8_t *bg_row;           /* one row of background, side*3 bytes */
    uint8_t *row_buf;          /* background with the image's slot rewritten per row */
} padded_ctx;

static const uint8_t *image_row(void *ctx, int y, uint8_t *scratch, int *lo, int *hi)
{
    (void)scratch;
    const iris_image *img = ctx;
    *lo = 0;
    *hi = img->width;
    return img->rgb + (size_t)y * img->width * 3;
}

static const uint8_t *padded_row(void *ctx, int y, uint8_t *scratch, int *lo, int *hi)
{
    padded_ctx *c = ctx;
    const iris_image *img = c->img;
    if (y < c->oy || y >= c->oy + img->height) {
        *lo = *hi = 0;
        return c->bg_row;
    }
    *lo = c->ox;
    *hi = c->ox + img->width;
    const uint8_t *row = img->rgb + (size_t)(y - c->oy) * img->width * 3;
    (void)scratch;
    if (img->width == c->side) return row;
    memcpy(c->row_buf + (size_t)c->ox * 3, row, (size_t)img->width * 3);
    return c->row_buf;
}

static int floor_div2(int a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

/* Resize src to rw x rh and centre-crop ch x cw as transformers'
 * center_crop does: offset floor((r - c)/2); zeros outside the resized image. */
static int resize_and_crop(const iris_row_source *src, int rw, int rh, int cw, int ch, uint8_t *out)
{
    int ox = floor_div2(rw - cw), oy = floor_div2(rh - ch);
    int vx0 = ox < 0 ? 0 : ox, vy0 = oy < 0 ? 0 : oy;
    int vx1 = ox + cw > rw ? rw : ox + cw, vy1 = oy + ch > rh ? rh : oy + ch;
    int nw = vx1 - vx0, nh = vy1 - vy0;
    if (nw == cw && nh == ch) return iris_resize_rows(src, rw, rh, vx0, vy0, nw, nh, out);

    memset(out, 0, (size_t)cw * ch * 3);
    if (nw <= 0 || nh <= 0) return 0;
    uint8_t *win = malloc((size_t)nw * nh * 3);
    if (!win) {
        iris_set_error("preprocess: out of memory");
        return -1;
    }
    int rc = iris_resize_rows(src, rw, rh, vx0, vy0, nw, nh, win);
    if (rc == 0)
        for (int j = 0; j < nh; j++)
            memcpy(out + ((size_t)(vy0 - oy + j) * cw + (vx0 - ox)) * 3,
                   win + (size_t)j * nw * 3, (size_t)nw * 3);
    free(win);
    return rc;
}

/* CLIPImageProcessor's resize target: shortest side S, the other int(S*long/short). */
static void shortest_edge_size(int w, int h, int s, int *rw, int *rh)
{
    int shrt = w <= h ? w : h, lng = w <= h ? h : w;
    int other = (int)((double)((long long)s * lng) / shrt);
    if (w <= h) {
        *rw = s;
        *rh = other;
    } else {
        *rw = other;
        *rh = s;
    }
}

static int check_config(const iris_preproc *p)
{
    if (p->crop_w <= 0 || p->crop_h <= 0 || p->crop_w > 4096 || p->crop_h > 4096 ||
        (p->mode != IRIS_PREPROC_RESIZE && (p->shortest_edge <= 0 || p->shortest_edge > 4096))) {
        iris_set_error("preprocess: bad sizes (shortest edge %d, crop %dx%d)",
                       p->shortest_edge, p->crop_w, p->crop_h);
        return -1;
    }
    if ((unsigned)p->mode > IRIS_PREPROC_RESIZE) {
        iris_set_error("preprocess: unknown mode %d", (int)p->mode);
        return -1;
    }
    return 0;
}

int iris_preprocess_u8(const iris_image *img, const iris_preproc *p, uint8_t *out)
{
    if (check_config(p)) return -1;
    if (!img->rgb || img->width <= 0 || img->height <= 0) {
        iris_set_error("preprocess: empty image");
        return -1;
    }
    iris_row_source src = {img->width, img->height, image_row, NULL, (void *)img};
    if (p->mode == IRIS_PREPROC_RESIZE)
        return iris_resize_rows(&src, p->crop_w, p->crop_h, 0, 0, p->crop_w, p->crop_h, out);

    padded_ctx pc = {0};
    if (p->mode == IRIS_PREPROC_PAD && img->width != img->height) {
        pc.img = img;
        pc.side = img->width > img->height ? img->width : img->height;
        pc.ox = (pc.side - img->width) / 2;
        pc.oy = (pc.side - img->height) / 2;
        pc.pad = p->pad_rgb;
        pc.bg_row = malloc((size_t)pc.side * 3);
        pc.row_buf = malloc((size_t)pc.side * 3);
        if (!pc.bg_row || !pc.row_buf) {
            free(pc.bg_row);
            free(pc.row_buf);
            iris_set_error("preprocess: out of memory");
            return -1;
        }
        for (int x = 0; x < pc.side; x++) memcpy(pc.bg_row + (size_t)x * 3, p->pad_rgb, 3);
        memcpy(pc.row_buf, pc.bg_row, (size_t)pc.side * 3);
        src = (iris_row_source){pc.side, pc.side, padded_row, pc.bg_row, &pc};
    }
    int rw, rh;
    shortest_edge_size(src.w, src.h, p->shortest_edge, &rw, &rh);
    int rc = resize_and_crop(&src, rw, rh, p->crop_w, p->crop_h, out);
    free(pc.bg_row);
    free(pc.row_buf);
    return rc;
}

void iris_preproc_normalise(const iris_preproc *p, const uint8_t *hwc, float *chw)
{
    size_t plane = (size_t)p->crop_w * p->crop_h;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            /* transformers: float64 x * (1/255) -> float32, then f32 (x-m)/s */
            float x = (float)(hwc[i * 3 + c] * (1.0 / 255.0));
            chw[c * plane + i] = (x - p->mean[c]) / p->std[c];
        }
}

int iris_preprocess(const iris_image *img, const iris_preproc *p, float *out)
{
    if (check_config(p)) return -1;
    uint8_t *px = malloc((size_t)p->crop_w * p->crop_h * 3);
    if (!px) {
        iris_set_error("preprocess: out of memory");
        return -1;
    }
    int rc = iris_preprocess_u8(img, p, px);
    if (rc == 0) iris_preproc_normalise(p, px, out);
    free(px);
    return rc;
}

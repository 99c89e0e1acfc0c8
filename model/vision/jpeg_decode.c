/* jpeg_decode.c — libjpeg(-turbo) decoding matched to PIL (see jpeg_decode.h). */
#include "jpeg_decode.h"

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "../core/error.h"

int iris_is_jpeg(const uint8_t *data, size_t len)
{
    return len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

/* libjpeg reports fatal errors through error_exit, which must not return:
 * we jump back to the decode call.  Warnings come through emit_message; the
 * one that matters is "premature end of data", after which libjpeg pads the
 * image with grey — PIL calls such a file truncated, and so do we. */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf back;
    int truncated;
    char reason[JMSG_LENGTH_MAX];
} jpeg_errors;

static void on_error(j_common_ptr cinfo)
{
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    e->pub.format_message(cinfo, e->reason);
    longjmp(e->back, 1);
}

static void on_message(j_common_ptr cinfo, int level)
{
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    if (level < 0 && e->pub.msg_code == JWRN_JPEG_EOF) e->truncated = 1;
    if (level < 0) e->pub.num_warnings++;
}

static void silent(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* PIL's CMYK -> RGB (Convert.c cmyk2rgb): each channel is nk - c*nk/255 with
 * nk = 255 - k, rounded as its MULDIV255. */
static uint8_t cmyk_channel(int c, int nk)
{
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void cmyk_row_to_rgb(uint8_t *rgb, const uint8_t *cmyk, int w, int inverted)
{
    for (int x = 0; x < w; x++) {
        int c[4];
        for (int i = 0; i < 4; i++) c[i] = inverted ? 255 - cmyk[4 * x + i] : cmyk[4 * x + i];
        int nk = 255 - c[3];
        for (int i = 0; i < 3; i++) rgb[3 * x + i] = cmyk_channel(c[i], nk);
    }
}

static void grey_row_to_rgb(uint8_t *rgb, const uint8_t *grey, int w)
{
    for (int x = w - 1; x >= 0; x--) rgb[3 * x] = rgb[3 * x + 1] = rgb[3 * x + 2] = grey[x];
}

int iris_jpeg_decode(const uint8_t *mem, size_t len, FILE *f, const char *name, int max_side,
                     long max_pixels, uint8_t **rgb, int *w, int *h)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err;
    /* volatile: they change between setjmp and a possible longjmp */
    uint8_t *volatile out = NULL;
    uint8_t *volatile row = NULL;
    *rgb = NULL;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
    err.pub.output_message = silent;
    if (setjmp(err.back)) {
        if (err.truncated)
            iris_set_error("%s: file is truncated", name);
        else
            iris_set_error("%s: corrupt JPEG (%s)", name, err.reason);
        jpeg_destroy_decompress(&cinfo);
        free(out);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    if (mem) jpeg_mem_src(&cinfo, mem, (unsigned long)len);
    else jpeg_stdio_src(&cinfo, f);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        iris_set_error("%s: JPEG holds tables but no image", name);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (err.truncated) {
        iris_set_error("%s: file is truncated (its header is incomplete)", name);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    long iw = (long)cinfo.image_width, ih = (long)cinfo.image_height;
    if (iw <= 0 || ih <= 0) {
        iris_set_error("%s: image has no pixels (%ldx%ld)", name, iw, ih);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (iw > max_side || ih > max_side || iw * ih > max_pixels) {
        iris_set_error("%s: image is %ldx%ld; iris accepts at most %d pixels a side and %ld Mpx", name,
                       iw, ih, max_side, max_pixels / (1024 * 1024));
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    int four = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    int grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    int inverted = four && cinfo.saw_Adobe_marker;   /* PIL's "CMYK;I" */
    cinfo.out_color_space = four ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if ((long)cinfo.output_width != iw || (long)cinfo.output_height != ih ||
        cinfo.output_components != (four ? 4 : grey ? 1 : 3)) {
        iris_set_error("%s: corrupt JPEG (unexpected output geometry)", name);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    size_t stride = (size_t)iw * 3;
    out = malloc(stride * (size_t)ih);
    if (four) row = malloc((size_t)iw * 4);
    if (!out || (four && !row)) {
        iris_set_error("%s: out of memory for %ldx%ld pixels", name, iw, ih);
        jpeg_destroy_decompress(&cinfo);
        free(out);
        free(row);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = out + stride * cinfo.output_scanline;
        JSAMPROW target = four ? row : dst;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) break;
        if (four) cmyk_row_to_rgb(dst, row, (int)iw, inverted);
        else if (grey) grey_row_to_rgb(dst, dst, (int)iw);
    }
    if (cinfo.output_scanline == cinfo.output_height) jpeg_finish_decompress(&cinfo);
    int ok = cinfo.output_scanline == cinfo.output_height && !err.truncated;
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (!ok) {
        free(out);
        iris_set_error("%s: file is truncated", name);
        return -1;
    }
    *rgb = out;
    *w = (int)iw;
    *h = (int)ih;
    return 0;
}

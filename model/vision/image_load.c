/* image_load.c — files to RGB through libjpeg (JPEG) and stb_image (the rest), with size and truncation
 * checks (see image_load.h for the contract). */
#include "image_load.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

#include "../core/error.h"
#include "jpeg_decode.h"

/* A byte source for stb_image's callbacks: a memory buffer or an open file.
 * `overran` records that the decoder asked for bytes past the end, which
 * stb_image itself silently answers with zeros for some formats (BMP, GIF). */
typedef struct {
    const uint8_t *mem;
    FILE *f;
    size_t len, pos;
    int overran;
} byte_source;

#define STB_REFILL_BYTES 128   /* sizeof stbi__context.buffer_start */

static int src_read(void *user, char *data, int size)
{
    byte_source *s = user;
    if (size <= 0) return 0;
    if (s->pos >= s->len) {
        s->overran = 1;
        return 0;
    }
    size_t n = s->len - s->pos;
    if (n > (size_t)size) n = (size_t)size;
    if (s->mem) {
        memcpy(data, s->mem + s->pos, n);
    } else {
        n = fread(data, 1, n, s->f);
    }
    s->pos += n;
    /* stb_image refills its 128-byte buffer with short reads near the end as
     * a matter of course; any other short read is a block (PNM pixels) that
     * the file does not hold, which stb_image 2.27 does not report itself. */
    if (n < (size_t)size && size != STB_REFILL_BYTES) s->overran = 1;
    return (int)n;
}

static void src_skip(void *user, int n)
{
    byte_source *s = user;
    size_t to;
    if (n < 0) {
        to = (size_t)-(long)n > s->pos ? 0 : s->pos - (size_t)-(long)n;
    } else if ((size_t)n > s->len - s->pos) {
        s->overran = 1;
        to = s->len;
    } else {
        to = s->pos + (size_t)n;
    }
    if (s->f && fseek(s->f, (long)to, SEEK_SET) != 0) to = s->len; /* read() then reports the end */
    s->pos = to;
}

static int src_eof(void *user)
{
    byte_source *s = user;
    return s->pos >= s->len;
}

static const stbi_io_callbacks src_callbacks = {src_read, src_skip, src_eof};

static int src_rewind(byte_source *s)
{
    s->pos = 0;
    s->overran = 0;
    return s->f ? fseek(s->f, 0, SEEK_SET) : 0;
}

/* Two bugs of stb_image 2.27's PNM loader are kept away here:
 *  - header numbers are read into an int without an overflow check
 *    (undefined behaviour on "P5 99999999999 ..."): we walk the header the
 *    way it does and refuse numbers of more than 9 digits first;
 *  - a 16-bit PNM (maxval > 255) converted to another channel count goes
 *    through the 8-bit converter and reads past its buffer, and its samples
 *    are read in host byte order although PNM's are big-endian: PNMs are
 *    decoded in their own channel count, 16-bit ones through the 16-bit
 *    interface, and converted here (pnm_to_rgb), 16-bit samples scaled by
 *    255/maxval.
 * Returns 1 for a PNM (*maxval set), 0 for anything else, -1 (error set) to
 * refuse. */
#define PNM_PEEK 4096

static int pnm_isspace(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int pnm_guard(byte_source *src, const char *name, long *maxval)
{
    uint8_t buf[PNM_PEEK];
    size_t n = src->len < PNM_PEEK ? src->len : PNM_PEEK;
    if (src->mem) memcpy(buf, src->mem, n);
    else if (fread(buf, 1, n, src->f) != n || fseek(src->f, 0, SEEK_SET) != 0) {
        iris_set_error("%s: read error", name);
        return -1;
    }
    if (n < 2 || buf[0] != 'P' || (buf[1] != '5' && buf[1] != '6')) return 0;
    int is_pnm = 1;
    size_t i = 2;
    for (int field = 0; field < 3; field++) {   /* width, height, maxval */
        for (;;) {
            while (i < n && pnm_isspace(buf[i])) i++;
            if (i >= n || buf[i] != '#') break;
            while (i < n && buf[i] != '\n' && buf[i] != '\r') i++;
        }
        int digits = 0;
        long value = 0;
        while (i < n && buf[i] >= '0' && buf[i] <= '9' && digits <= 9)
            value = value * 10 + (buf[i++] - '0'), digits++;
        if (field == 2) *maxval = value;
        if (digits > 9) {
            iris_set_error("%s: PNM header holds a number too large to be a size", name);
            return -1;
        }
        if (i >= n && n == PNM_PEEK) {
            iris_set_error("%s: PNM header is longer than %d bytes", name, PNM_PEEK);
            return -1;
        }
    }
    return is_pnm;
}

/* PNM grey or RGB samples (1 or 3 channels; 8-bit, or 16-bit big-endian as
 * stored in the file) to 8-bit RGB, grey replicated as PIL does.  Returns a
 * new buffer or NULL. */
static uint8_t *pnm_to_rgb(const void *px, int channels, size_t n_px, long maxval)
{
    uint8_t *out = malloc(n_px * 3);
    if (!out) return NULL;
    const uint8_t *b = px;
    for (size_t i = 0; i < n_px; i++)
        for (int c = 0; c < 3; c++) {
            size_t k = i * channels + (channels == 3 ? c : 0);
            if (maxval <= 255) {
                out[i * 3 + c] = b[k];
            } else {
                long v = (long)b[2 * k] << 8 | b[2 * k + 1];
                v = (v * 255 + maxval / 2) / maxval;
                out[i * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    return out;
}

static int decode_source(iris_image *img, byte_source *src, const char *name)
{
    memset(img, 0, sizeof *img);
    if (src->len == 0) {
        iris_set_error("%s: empty file", name);
        return -1;
    }
    uint8_t magic[3] = {0, 0, 0};
    size_t n_magic = src->len < 3 ? src->len : 3;
    if (src->mem) memcpy(magic, src->mem, n_magic);
    else if (fread(magic, 1, n_magic, src->f) != n_magic || fseek(src->f, 0, SEEK_SET) != 0) {
        iris_set_error("%s: read error", name);
        return -1;
    }
    if (iris_is_jpeg(magic, n_magic)) {
        if (iris_jpeg_decode(src->mem, src->len, src->f, name, IRIS_IMAGE_MAX_SIDE, IRIS_IMAGE_MAX_PIXELS,
                             &img->rgb, &img->width, &img->height))
            return -1;
        return 0;
    }
    long maxval = 255;
    int is_pnm = pnm_guard(src, name, &maxval);
    if (is_pnm < 0) return -1;
    int w = 0, h = 0, comp = 0;
    /* Size first, from the header alone: nothing is allocated for a huge image. */
    if (!stbi_info_from_callbacks(&src_callbacks, src, &w, &h, &comp)) {
        if (src->overran)
            iris_set_error("%s: file is truncated (its header is incomplete)", name);
        else
            iris_set_error("%s: not a JPEG, PNG, BMP, GIF or PNM image", name);
        return -1;
    }
    if (w <= 0 || h <= 0) {
        iris_set_error("%s: image has no pixels (%dx%d)", name, w, h);
        return -1;
    }
    if (w > IRIS_IMAGE_MAX_SIDE || h > IRIS_IMAGE_MAX_SIDE || (long)w * h > IRIS_IMAGE_MAX_PIXELS) {
        iris_set_error("%s: image is %dx%d; iris accepts at most %d pixels a side and %ld Mpx",
                       name, w, h, IRIS_IMAGE_MAX_SIDE, IRIS_IMAGE_MAX_PIXELS / (1024 * 1024));
        return -1;
    }
    if (src_rewind(src) != 0) {
        iris_set_error("%s: cannot rewind: %s", name, strerror(errno));
        return -1;
    }
    int w2 = 0, h2 = 0;
    /* Everything but PNM is converted to RGB by stb_image (req_comp 3 is
     * reliable there; req_comp 0 is not for PNGs with tRNS). */
    uint8_t *px;
    if (is_pnm && maxval > 255)
        px = (uint8_t *)stbi_load_16_from_callbacks(&src_callbacks, src, &w2, &h2, &comp, 0);
    else
        px = stbi_load_from_callbacks(&src_callbacks, src, &w2, &h2, &comp, is_pnm ? 0 : 3);
    if (!px) {
        const char *why = stbi_failure_reason();
        if (src->overran)
            iris_set_error("%s: file is truncated", name);
        else
            iris_set_error("%s: corrupt image (%s)", name, why ? why : "decoder failed");
        return -1;
    }
    if (src->overran) {
        stbi_image_free(px);
        iris_set_error("%s: file is truncated", name);
        return -1;
    }
    if (w2 != w || h2 != h) { /* header and decoder disagree: do not trust either */
        stbi_image_free(px);
        iris_set_error("%s: corrupt image (header says %dx%d, decoded %dx%d)", name, w, h, w2, h2);
        return -1;
    }
    if (is_pnm && (comp != 3 || maxval > 255)) {
        uint8_t *rgb = comp == 1 || comp == 3 ? pnm_to_rgb(px, comp, (size_t)w * h, maxval) : NULL;
        stbi_image_free(px);
        if (!rgb) {
            iris_set_error("%s: out of memory for %dx%d pixels", name, w, h);
            return -1;
        }
        px = rgb;
    }
    /* stb_image allocates with plain malloc (stb_image_impl.c keeps the
     * default STBI_MALLOC), so the buffer is ours to free() directly. */
    img->rgb = px;
    img->width = w;
    img->height = h;
    return 0;
}

int iris_image_decode(iris_image *img, const void *data, size_t len, const char *name)
{
    byte_source src = {.mem = data, .len = len};
    if (!data && len) {
        memset(img, 0, sizeof *img);
        iris_set_error("%s: no data", name);
        return -1;
    }
    return decode_source(img, &src, name);
}

int iris_image_load(iris_image *img, const char *path)
{
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f) {
        iris_set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        iris_set_error("%s: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        iris_set_error("%s: is a directory, not an image", path);
        fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        iris_set_error("%s: not a regular file", path);
        fclose(f);
        return -1;
    }
    byte_source src = {.f = f, .len = (size_t)st.st_size};
    int rc = decode_source(img, &src, path);
    if (rc == 0 && ferror(f)) {
        iris_set_error("%s: read error", path);
        iris_image_free(img);
        rc = -1;
    }
    fclose(f);
    return rc;
}

int iris_image_from_rgb(iris_image *img, const uint8_t *rgb, int width, int height)
{
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0 || width > IRIS_IMAGE_MAX_SIDE || height > IRIS_IMAGE_MAX_SIDE ||
        (long)width * height > IRIS_IMAGE_MAX_PIXELS) {
        iris_set_error("image of %dx%d pixels is out of range", width, height);
        return -1;
    }
    size_t bytes = (size_t)width * height * 3;
    img->rgb = malloc(bytes);
    if (!img->rgb) {
        iris_set_error("out of memory for a %dx%d image", width, height);
        return -1;
    }
    memcpy(img->rgb, rgb, bytes);
    img->width = width;
    img->height = height;
    return 0;
}

void iris_image_free(iris_image *img)
{
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

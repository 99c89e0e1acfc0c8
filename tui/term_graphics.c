/* term_graphics.c — see term_graphics.h. */
#include "term_graphics.h"

#include <errno.h>
#include <poll.h>
#if __has_include(<sixel.h>)
#include <sixel.h>
#else
#include <sixel/sixel.h>   /* Debian puts it in a folder */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "core/error.h"

int gfx_mode_from_name(const char *name)
{
    if (!strcmp(name, "sixel")) return GFX_SIXEL;
    if (!strcmp(name, "blocks")) return GFX_BLOCKS;
    if (!strcmp(name, "none")) return GFX_NONE;
    return -1;
}

const char *gfx_mode_name(gfx_mode m)
{
    return m == GFX_SIXEL ? "sixel" : m == GFX_BLOCKS ? "blocks" : "none";
}

/* Finds "ESC [ <intro> params <final>" in s; returns the parameter text span. */
static const char *find_csi(const char *s, size_t n, char intro, char final, size_t *plen)
{
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] != 0x1b || s[i + 1] != '[') continue;
        size_t j = i + 2;
        if (intro) {
            if (s[j] != intro) continue;
            j++;
        }
        size_t k = j;
        while (k < n && ((s[k] >= '0' && s[k] <= '9') || s[k] == ';')) k++;
        if (k < n && s[k] == final) {
            *plen = k - j;
            return s + j;
        }
    }
    return NULL;
}

int gfx_da1_has_sixel(const char *reply, size_t n)
{
    size_t len;
    const char *p = find_csi(reply, n, '?', 'c', &len);
    if (!p) return 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && p[j] != ';') j++;
        if (j - i == 1 && p[i] == '4') return 1;
        i = j + 1;
    }
    return 0;
}

int gfx_parse_cell_size(const char *reply, size_t n, int *cell_w, int *cell_h)
{
    size_t len;
    const char *p = find_csi(reply, n, 0, 't', &len);
    if (!p) return 0;
    char tmp[64];
    if (len >= sizeof tmp) return 0;
    memcpy(tmp, p, len);
    tmp[len] = 0;
    int kind, h, w;
    if (sscanf(tmp, "%d;%d;%d", &kind, &h, &w) != 3 || kind != 6 || h <= 0 || w <= 0 || h > 1000 || w > 1000)
        return 0;
    *cell_w = w;
    *cell_h = h;
    return 1;
}

int gfx_strip_replies(const char *buf, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (buf[i] == 0x1b && i + 1 < n && buf[i + 1] == '[') {
            size_t j = i + 2;
            if (j < n && buf[j] == '?') j++;
            while (j < n && ((buf[j] >= '0' && buf[j] <= '9') || buf[j] == ';')) j++;
            if (j < n && (buf[j] == 'c' || buf[j] == 't')) {
                i = j + 1;   /* a reply: dropped */
                continue;
            }
        }
        if (k < cap) out[k++] = buf[i];
        i++;
    }
    return (int)k;
}

void gfx_probe(int fd, int timeout_ms, gfx_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    const char *ct = getenv("COLORTERM");
    caps->truecolor = ct && (!strcmp(ct, "truecolor") || !strcmp(ct, "24bit"));
    struct winsize ws;
    if (!ioctl(fd, TIOCGWINSZ, &ws) && ws.ws_xpixel && ws.ws_ypixel && ws.ws_col && ws.ws_row) {
        caps->cell_w = ws.ws_xpixel / ws.ws_col;
        caps->cell_h = ws.ws_ypixel / ws.ws_row;
    }
    struct termios old, raw;
    if (!isatty(fd) || tcgetattr(fd, &old)) return;
    raw = old;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &raw)) return;
    /* the cell-size query first: every terminal answers DA1, so its reply
     * marks the end of whatever came back */
    static const char q[] = "\033[16t\033[c";
    if (write(fd, q, sizeof q - 1) != (ssize_t)(sizeof q - 1)) goto out;
    char buf[512];
    size_t n = 0;
    for (int waited = 0; waited < timeout_ms && n < sizeof buf - 1;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, 20);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) {
            waited += 20;
            continue;
        }
        ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        size_t len;
        if (find_csi(buf, n, '?', 'c', &len)) break;
    }
    caps->sixel = gfx_da1_has_sixel(buf, n);
    caps->n_typed = gfx_strip_replies(buf, n, caps->typed, sizeof caps->typed);
    int cw, ch;
    if (gfx_parse_cell_size(buf, n, &cw, &ch)) {
        caps->cell_w = cw;
        caps->cell_h = ch;
    }
out:
    tcsetattr(fd, TCSANOW, &old);
}

void gfx_fit_cells(int img_w, int img_h, int max_cols, int max_rows, int cell_w, int cell_h,
                   int *cols, int *rows)
{
    if (max_cols < 1) max_cols = 1;
    if (max_rows < 1) max_rows = 1;
    if (img_w < 1 || img_h < 1 || cell_w < 1 || cell_h < 1) {
        *cols = max_cols;
        *rows = max_rows;
        return;
    }
    /* width in cells if the height fills max_rows, and the other way round */
    double cols_for_rows = (double)max_rows * cell_h * img_w / img_h / cell_w;
    int c, r;
    if (cols_for_rows <= max_cols) {
        r = max_rows;
        c = (int)(cols_for_rows + 0.5);
    } else {
        c = max_cols;
        r = (int)((double)max_cols * cell_w * img_h / img_w / cell_h + 0.5);
    }
    *cols = c < 1 ? 1 : c > max_cols ? max_cols : c;
    *rows = r < 1 ? 1 : r > max_rows ? max_rows : r;
}

void gfx_scale_rgb(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
    for (int y = 0; y < dh; y++) {
        int y0 = (int)((long)y * sh / dh), y1 = (int)((long)(y + 1) * sh / dh);
        if (y1 <= y0) y1 = y0 + 1;
        for (int x = 0; x < dw; x++) {
            int x0 = (int)((long)x * sw / dw), x1 = (int)((long)(x + 1) * sw / dw);
            if (x1 <= x0) x1 = x0 + 1;
            unsigned long acc[3] = {0, 0, 0}, cnt = 0;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++) {
                    const uint8_t *p = src + ((size_t)yy * sw + xx) * 3;
                    acc[0] += p[0];
                    acc[1] += p[1];
                    acc[2] += p[2];
                    cnt++;
                }
            uint8_t *q = dst + ((size_t)y * dw + x) * 3;
            for (int k = 0; k < 3; k++) q[k] = (uint8_t)((acc[k] + cnt / 2) / cnt);
        }
    }
}

int gfx_rgb_to_256(int r, int g, int b)
{
    static const int level[6] = {0, 95, 135, 175, 215, 255};
    int idx[3], v[3] = {r, g, b};
    for (int k = 0; k < 3; k++) {
        int best = 0;
        for (int i = 1; i < 6; i++)
            if (abs(level[i] - v[k]) < abs(level[best] - v[k])) best = i;
        idx[k] = best;
    }
    int cube = 16 + 36 * idx[0] + 6 * idx[1] + idx[2];
    long dc = 0;
    for (int k = 0; k < 3; k++) dc += (long)(level[idx[k]] - v[k]) * (level[idx[k]] - v[k]);
    int avg = (r + g + b) / 3, gi = avg < 8 ? 0 : avg > 238 ? 23 : (avg - 8 + 5) / 10;
    if (gi > 23) gi = 23;
    int gv = 8 + 10 * gi;
    long dg = (long)(gv - r) * (gv - r) + (long)(gv - g) * (gv - g) + (long)(gv - b) * (gv - b);
    return dg < dc ? 232 + gi : cube;
}

typedef struct {
    char *buf;
    size_t n, cap;
    int failed;
} sixel_sink;

static int sink_write(char *data, int size, void *priv)
{
    sixel_sink *s = priv;
    if (s->failed || size <= 0) return 0;
    if (s->n + (size_t)size + 1 > s->cap) {
        size_t cap = (s->cap ? s->cap * 2 : 65536) + (size_t)size;
        char *p = realloc(s->buf, cap);
        if (!p) {
            s->failed = 1;
            return 0;
        }
        s->buf = p;
        s->cap = cap;
    }
    memcpy(s->buf + s->n, data, (size_t)size);
    s->n += (size_t)size;
    return size;
}

int gfx_sixel_encode(const uint8_t *rgb, int w, int h, char **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (w < 1 || h < 1) {
        iris_set_error("sixel: empty image");
        return -1;
    }
    sixel_sink sink = {0};
    sixel_output_t *output = NULL;
    sixel_dither_t *dither = NULL;
    int rc = -1;
    if (SIXEL_FAILED(sixel_output_new(&output, sink_write, &sink, NULL))) {
        iris_set_error("sixel: cannot create the encoder output");
        goto done;
    }
    if (SIXEL_FAILED(sixel_dither_new(&dither, 256, NULL)) ||
        SIXEL_FAILED(sixel_dither_initialize(dither, (unsigned char *)rgb, w, h, SIXEL_PIXELFORMAT_RGB888,
                                             SIXEL_LARGE_AUTO, SIXEL_REP_AUTO, SIXEL_QUALITY_HIGH))) {
        iris_set_error("sixel: cannot build the palette");
        goto done;
    }
    sixel_dither_set_diffusion_type(dither, SIXEL_DIFFUSE_NONE);
    if (SIXEL_FAILED(sixel_encode((unsigned char *)rgb, w, h, 3, dither, output)) || sink.failed) {
        iris_set_error("sixel: encoding failed");
        goto done;
    }
    sink.buf[sink.n] = 0;
    *out = sink.buf;
    *n_out = sink.n;
    sink.buf = NULL;
    rc = 0;
done:
    free(sink.buf);
    if (dither) sixel_dither_unref(dither);
    if (output) sixel_output_unref(output);
    return rc;
}

/* braille_plot.c — see braille_plot.h. */
#include "braille_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int braille_init(braille_canvas *c, int cols, int rows)
{
    memset(c, 0, sizeof *c);
    if (cols < 1 || rows < 1 || cols > 4096 || rows > 4096) {
        iris_set_error("plot canvas %dx%d: bad size", cols, rows);
        return -1;
    }
    c->dots = calloc((size_t)cols * rows, 1);
    c->color = calloc((size_t)cols * rows, 1);
    if (!c->dots || !c->color) {
        braille_free(c);
        iris_set_error("plot canvas: out of memory");
        return -1;
    }
    c->cols = cols;
    c->rows = rows;
    return 0;
}

void braille_free(braille_canvas *c)
{
    free(c->dots);
    free(c->color);
    memset(c, 0, sizeof *c);
}

void braille_clear(braille_canvas *c)
{
    memset(c->dots, 0, (size_t)c->cols * c->rows);
    memset(c->color, 0, (size_t)c->cols * c->rows);
}

int braille_set(braille_canvas *c, int px, int py, int color)
{
    if (px < 0 || py < 0 || px >= 2 * c->cols || py >= 4 * c->rows) return 0;
    /* the braille dot numbering: left column 1,2,3,7; right column 4,5,6,8 */
    static const uint8_t bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    size_t i = (size_t)(py / 4) * c->cols + px / 2;
    c->dots[i] |= bit[py % 4][px % 2];
    if (color) c->color[i] = (uint8_t)color;
    return 1;
}

void braille_line(braille_canvas *c, int x0, int y0, int x1, int y1, int color)
{
    /* Bresenham; long segments far off-canvas are bounded by the canvas size */
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    long limit = 4L * (2 * c->cols + 4 * c->rows) + dx - dy + 2;
    for (long k = 0; k < limit; k++) {
        braille_set(c, x0, y0, color);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

void braille_cell_utf8(const braille_canvas *c, int col, int row, char out[4])
{
    unsigned cp = 0x2800;
    if (col >= 0 && row >= 0 && col < c->cols && row < c->rows) cp += c->dots[(size_t)row * c->cols + col];
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    out[3] = 0;
}

int plot_map(const braille_canvas *c, const plot_range *r, double x, double y, int *px, int *py)
{
    if (!isfinite(x) || !isfinite(y)) return 0;
    double y0 = r->y0, y1 = r->y1;
    if (r->log_y) {
        if (y <= 0 || y0 <= 0 || y1 <= 0) return 0;
        y = log10(y);
        y0 = log10(y0);
        y1 = log10(y1);
    }
    double w = 2.0 * c->cols - 1, h = 4.0 * c->rows - 1;
    double fx = r->x1 > r->x0 ? (x - r->x0) / (r->x1 - r->x0) : 0.5;
    double fy = y1 > y0 ? (y - y0) / (y1 - y0) : 0.5;
    /* clamp far-away points so the integer conversion stays defined */
    if (fx < -4) fx = -4;
    if (fx > 5) fx = 5;
    if (fy < -4) fy = -4;
    if (fy > 5) fy = 5;
    *px = (int)lround(fx * w);
    *py = (int)lround((1.0 - fy) * h);
    return 1;
}

void braille_plot_series(braille_canvas *c, const plot_range *r, const double *xs,
                         const double *ys, int n, int color)
{
    int have = 0, lx = 0, ly = 0;
    for (int i = 0; i < n; i++) {
        int px, py;
        if (!plot_map(c, r, xs ? xs[i] : i, ys[i], &px, &py)) {
            have = 0;
            continue;
        }
        if (have) braille_line(c, lx, ly, px, py, color);
        else braille_set(c, px, py, color);
        lx = px;
        ly = py;
        have = 1;
    }
}

int plot_data_range(const double *ys, int n, int log_y, double *lo, double *hi)
{
    int found = 0;
    for (int i = 0; i < n; i++) {
        double y = ys[i];
        if (!isfinite(y) || (log_y && y <= 0)) continue;
        if (!found || y < *lo) *lo = y;
        if (!found || y > *hi) *hi = y;
        found = 1;
    }
    return found;
}

int plot_ticks(double lo, double hi, int log_y, int max_ticks, double *ticks)
{
    if (max_ticks < 1 || !isfinite(lo) || !isfinite(hi) || hi < lo) return 0;
    int n = 0;
    if (log_y) {
        if (lo <= 0) return 0;
        int e0 = (int)ceil(log10(lo) - 1e-9), e1 = (int)floor(log10(hi) + 1e-9);
        int step = 1;
        while ((e1 - e0) / step + 1 > max_ticks) step++;
        for (int e = e0; e <= e1 && n < max_ticks; e += step) ticks[n++] = pow(10, e);
        return n;
    }
    if (hi == lo) {
        ticks[0] = lo;
        return 1;
    }
    double raw = (hi - lo) / max_ticks, mag = pow(10, floor(log10(raw))), step = mag;
    static const double mult[] = {1, 2, 5, 10};
    for (int i = 0; i < 4; i++) {
        step = mult[i] * mag;
        if ((hi - lo) / step <= max_ticks + 1e-9) break;
    }
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && n < max_ticks; t += step)
        ticks[n++] = fabs(t) < step * 1e-9 ? 0 : t;
    return n;
}

void plot_format_value(double v, char *buf, size_t n)
{
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, n, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    else if (a == 0) snprintf(buf, n, "0");
    else if (a >= 1e9) snprintf(buf, n, "%.3gG", v / 1e9);
    else if (a >= 1e6) snprintf(buf, n, "%.3gM", v / 1e6);
    else if (a >= 1e4) snprintf(buf, n, "%.3gk", v / 1e3);
    else if (a >= 1e-3) snprintf(buf, n, "%.4g", v);
    else snprintf(buf, n, "%.0e", v);
}

void plot_format_seconds(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) snprintf(buf, n, "--");
    else if (s < 100) snprintf(buf, n, "%.0fs", s);
    else if (s < 6000) snprintf(buf, n, "%.0fm", s / 60);
    else snprintf(buf, n, "%.1fh", s / 3600);
}

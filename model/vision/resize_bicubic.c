/* resize_bicubic.c — Pillow-exact bicubic resampling (see resize_bicubic.h). */
#include "resize_bicubic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

#define FIX_BITS 22   /* fraction bits of the 8-bit path's weights, as Pillow */

/* Taps of every output coordinate of one axis (only the window's). */
typedef struct {
    int n, taps;       /* coordinates, weights stored per coordinate */
    int *first;        /* first input index */
    int *count;        /* number of inputs */
    int32_t *w;        /* n * taps fixed-point weights */
} axis_plan;

static double cubic(double x)
{
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static void plan_free(axis_plan *p)
{
    free(p->first);
    free(p->count);
    free(p->w);
    memset(p, 0, sizeof *p);
}

static int plan_axis(axis_plan *p, int in, int out, int o0, int n)
{
    memset(p, 0, sizeof *p);
    double scale = (double)in / out;
    double fs = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * fs;
    double inv_fs = 1.0 / fs;   /* multiply, not divide: Pillow's rounding */
    p->n = n;
    p->taps = (int)ceil(support) * 2 + 1;
    p->first = malloc((size_t)n * sizeof *p->first);
    p->count = malloc((size_t)n * sizeof *p->count);
    p->w = calloc((size_t)n * p->taps, sizeof *p->w);
    double *k = malloc((size_t)p->taps * sizeof *k);
    if (!p->first || !p->count || !p->w || !k) {
        free(k);
        plan_free(p);
        iris_set_error("resize: out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        double centre = (o0 + i + 0.5) * scale;
        int lo = (int)(centre - support + 0.5);
        int hi = (int)(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        int cnt = hi - lo;
        if (cnt > p->taps) cnt = p->taps;
        if (cnt < 0) cnt = 0;
        double sum = 0;
        for (int x = 0; x < cnt; x++) {
            k[x] = cubic((x + lo - centre + 0.5) * inv_fs);
            sum += k[x];
        }
        int32_t *w = p->w + (size_t)i * p->taps;
        for (int x = 0; x < cnt; x++) {
            double v = sum != 0.0 ? k[x] / sum : k[x];
            w[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << FIX_BITS)) : (int32_t)(0.5 + v * (1 << FIX_BITS));
        }
        p->first[i] = lo;
        p->count[i] = cnt;
    }
    free(k);
    return 0;
}

static inline uint8_t clip8(int32_t acc)
{
    int32_t v = acc >> FIX_BITS;   /* arithmetic shift: floor, as Pillow */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Output columns [i0, i1) of one row through the horizontal plan:
 * in (w*3 bytes) -> out (plan.n*3). */
static void pass_row(const axis_plan *p, const uint8_t *in, uint8_t *out, int i0, int i1)
{
    for (int i = i0; i < i1; i++) {
        const int32_t *w = p->w + (size_t)i * p->taps;
        const uint8_t *s = in + (size_t)p->first[i] * 3;
        int32_t r = 1 << (FIX_BITS - 1), g = r, b = r;
        for (int x = 0; x < p->count[i]; x++) {
            r += s[3 * x] * w[x];
            g += s[3 * x + 1] * w[x];
            b += s[3 * x + 2] * w[x];
        }
        out[3 * i] = clip8(r);
        out[3 * i + 1] = clip8(g);
        out[3 * i + 2] = clip8(b);
    }
}

int iris_resize_rows(const iris_row_source *src, int out_w, int out_h,
                     int x0, int y0, int nw, int nh, uint8_t *dst)
{
    if (src->w <= 0 || src->h <= 0 || out_w <= 0 || out_h <= 0 || nw <= 0 || nh <= 0 ||
        x0 < 0 || y0 < 0 || x0 > out_w - nw || y0 > out_h - nh) {
        iris_set_error("resize: bad window %dx%d+%d+%d of %dx%d -> %dx%d",
                       nw, nh, x0, y0, src->w, src->h, out_w, out_h);
        return -1;
    }
    int need_h = out_w != src->w, need_v = out_h != src->h;
    axis_plan ph = {0}, pv = {0};
    uint8_t *scratch = NULL, *mid = NULL, *bg_out = NULL, *is_bg = NULL;
    int32_t *acc = NULL;
    int rc = -1;

    /* Input rows the vertical pass reads (all window rows when it does not run). */
    int r0 = y0, r1 = y0 + nh;
    if (need_v) {
        if (plan_axis(&pv, src->h, out_h, y0, nh)) goto done;
        r0 = pv.first[0];
        r1 = pv.first[nh - 1] + pv.count[nh - 1];
        for (int j = 0; j < nh; j++) { /* taps are monotonic in Pillow's plan, but be safe */
            if (pv.first[j] < r0) r0 = pv.first[j];
            if (pv.first[j] + pv.count[j] > r1) r1 = pv.first[j] + pv.count[j];
        }
        if (r1 <= r0) r1 = r0 + 1;
    }
    if (need_h && plan_axis(&ph, src->w, out_w, x0, nw)) goto done;

    size_t row_out = (size_t)nw * 3;
    scratch = malloc((size_t)src->w * 3);
    mid = malloc((size_t)(r1 - r0) * row_out);
    bg_out = malloc(row_out);
    is_bg = calloc((size_t)(r1 - r0), 1);
    acc = malloc(row_out * sizeof *acc);
    if (!scratch || !mid || !bg_out || !is_bg || !acc) {
        iris_set_error("resize: out of memory for %dx%d", nw, r1 - r0);
        goto done;
    }
    if (need_h && src->background) pass_row(&ph, src->background, bg_out, 0, nw);
    for (int y = r0; y < r1; y++) {
        int lo = 0, hi = src->w;
        const uint8_t *in = src->row(src->ctx, y, scratch, &lo, &hi);
        uint8_t *o = mid + (size_t)(y - r0) * row_out;
        if (!need_h) {
            memcpy(o, in + (size_t)x0 * 3, row_out);
        } else if (!src->background) {
            pass_row(&ph, in, o, 0, nw);
        } else {
            /* background everywhere, recomputed where the taps reach [lo, hi) */
            memcpy(o, bg_out, row_out);
            is_bg[y - r0] = lo >= hi;
            int i0 = 0, i1 = nw;
            while (i0 < nw && ph.first[i0] + ph.count[i0] <= lo) i0++;
            while (i1 > i0 && ph.first[i1 - 1] >= hi) i1--;
            if (lo < hi) pass_row(&ph, in, o, i0, i1);
        }
    }
    if (!need_v) {
        memcpy(dst, mid, (size_t)nh * row_out);
    } else {
        for (int j = 0; j < nh; j++) {
            const int32_t *w = pv.w + (size_t)j * pv.taps;
            const uint8_t *base = mid + (size_t)(pv.first[j] - r0) * row_out;
            uint8_t *o = dst + (size_t)j * row_out;
            /* Taps over background rows only: every tap row is bg_out, so the
             * sum of products is bg_out[c] * (sum of weights) -- the same
             * integers, without the per-tap loop. */
            int all_bg = 1;
            for (int t = 0; t < pv.count[j] && all_bg; t++) all_bg = is_bg[pv.first[j] - r0 + t];
            if (all_bg) {
                int32_t wsum = 0;
                for (int t = 0; t < pv.count[j]; t++) wsum += w[t];
                for (size_t c = 0; c < row_out; c++) o[c] = clip8((1 << (FIX_BITS - 1)) + bg_out[c] * wsum);
                continue;
            }
            /* tap-major so each tap reads one contiguous row (vectorises) */
            for (size_t c = 0; c < row_out; c++) acc[c] = 1 << (FIX_BITS - 1);
            for (int t = 0; t < pv.count[j]; t++) {
                const uint8_t *r = base + (size_t)t * row_out;
                int32_t wt = w[t];
                for (size_t c = 0; c < row_out; c++) acc[c] += r[c] * wt;
            }
            for (size_t c = 0; c < row_out; c++) o[c] = clip8(acc[c]);
        }
    }
    rc = 0;
done:
    plan_free(&ph);
    plan_free(&pv);
    free(scratch);
    free(mid);
    free(bg_out);
    free(is_bg);
    free(acc);
    return rc;
}

typedef struct {
    const uint8_t *px;
    int w;
} plain_ctx;

static const uint8_t *plain_row(void *ctx, int y, uint8_t *scratch, int *lo, int *hi)
{
    (void)scratch;
    const plain_ctx *c = ctx;
    *lo = 0;
    *hi = c->w;
    return c->px + (size_t)y * c->w * 3;
}

int iris_resize_bicubic_window(const uint8_t *src, int w, int h, int out_w, int out_h,
                               int x0, int y0, int nw, int nh, uint8_t *dst)
{
    plain_ctx c = {src, w};
    iris_row_source s = {w, h, plain_row, NULL, &c};
    return iris_resize_rows(&s, out_w, out_h, x0, y0, nw, nh, dst);
}

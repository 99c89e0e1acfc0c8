/* hub_progress.c — transfer rate estimate and the text of progress lines;
 * no terminal handling here (the CLI and the UI draw the lines their way). */
#include "hub.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void hub_rate_update(hub_rate *r, int64_t bytes, double now)
{
    if (!r->started) {
        r->started = 1;
        r->last_t = now;
        r->last_bytes = bytes;
        r->rate = 0;
        return;
    }
    double dt = now - r->last_t;
    if (dt < 0.2) return;   /* too short a window to say anything */
    double inst = (double)(bytes - r->last_bytes) / dt;
    if (inst < 0) inst = 0;
    /* Weight by elapsed time so the estimate settles in ~2 s whatever the tick. */
    double a = 1.0 - exp(-dt / 2.0);
    r->rate = r->rate == 0 ? inst : r->rate + a * (inst - r->rate);
    r->last_t = now;
    r->last_bytes = bytes;
}

void hub_format_bytes(int64_t n, char *buf, size_t size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) {
        snprintf(buf, size, "%lld B", (long long)(n < 0 ? 0 : n));
        return;
    }
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 5) { v /= 1024; u++; }
    if (v >= 999.95 && u < 5) { v /= 1024; u++; }
    snprintf(buf, size, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void hub_format_rate(double bytes_per_s, char *buf, size_t size)
{
    char b[32];
    if (!(bytes_per_s >= 0) || isinf(bytes_per_s)) bytes_per_s = 0;
    hub_format_bytes((int64_t)(bytes_per_s + 0.5), b, sizeof b);
    snprintf(buf, size, "%.24s/s", b);
}

void hub_format_eta(double s, char *buf, size_t size)
{
    if (!(s >= 0) || s > 359999) { snprintf(buf, size, "--"); return; }
    long t = (long)(s + 0.5);
    if (t < 60) snprintf(buf, size, "%lds", t);
    else if (t < 3600) snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, size, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

void hub_format_progress_line(const char *name, int64_t done, int64_t total, double rate,
                              char *buf, size_t size, int width)
{
    char d[32], t[32], r[32], e[32], tail[200];
    hub_format_bytes(done, d, sizeof d);
    hub_format_bytes(total, t, sizeof t);
    hub_format_rate(rate, r, sizeof r);
    double left = total > done ? (double)(total - done) : 0;
    hub_format_eta(rate > 0 ? left / rate : (left == 0 ? 0 : -1), e, sizeof e);
    int pct = total > 0 ? (int)(100.0 * (double)done / (double)total) : 100;
    if (pct > 100) pct = 100;
    snprintf(tail, sizeof tail, "  %9.20s / %-9.20s %3d%%  %11.24s  ETA %.16s", d, t, pct, r, e);
    int tl = (int)strlen(tail);
    int room = width - tl;
    if (room < 12) room = 12;
    int nl = (int)strlen(name);
    if (nl <= room) {
        snprintf(buf, size, "%-*s%s", room, name, tail);
    } else {
        /* Keep the end of a long name: that is where file names differ. */
        snprintf(buf, size, "...%s%s", name + nl - (room - 3), tail);
    }
}

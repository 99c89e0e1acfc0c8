/* ui_plot.c — the Plots panel: live curves of one or several training runs
 * overlaid in braille, following each run's metrics.jsonl as it grows (polled
 * from the UI loop's timeout, never a spin).  EMA smoothing with the raw line
 * faint behind, x by step or wall time, log y, a choice of series, a legend. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curses.h>

#include "braille_plot.h"
#include "core/timer.h"
#include "ema.h"
#include "metrics_follow.h"
#include "ui.h"

typedef struct {
    char *name;
    metrics_follow mf;
    int shown;
    int seen_data;
} plot_run;

typedef struct {
    plot_run *runs;
    int n, cap;
    int sel;
    int series;               /* MF_LOSS, MF_LR, ... */
    int by_wall;
    int log_y;
    int raw;
    int smooth_idx;
    double last_poll, last_scan;
    braille_canvas canvas, raw_canvas;   /* smoothed lines; the raw ones behind */
} plot_state;

static const double smooth_levels[] = {0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99};
#define N_SMOOTH ((int)(sizeof smooth_levels / sizeof smooth_levels[0]))
static const int series_keys[5] = {MF_LOSS, MF_LR, MF_GRAD_NORM, MF_MEM_BYTES, MF_TOKENS_PER_S};
static const char *const series_names[5] = {"loss", "lr", "grad norm", "memory", "tokens/s"};

static int series_slot(int field)
{
    for (int i = 0; i < 5; i++)
        if (series_keys[i] == field) return i;
    return 0;
}

/* Adds a run by its metrics file unless it is already listed. */
static void add_run(plot_state *s, const char *name, const char *metrics_path, int shown)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->runs[i].mf.path, metrics_path)) return;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        plot_run *r = realloc(s->runs, (size_t)cap * sizeof *r);
        if (!r) return;
        s->runs = r;
        s->cap = cap;
    }
    plot_run *r = &s->runs[s->n];
    memset(r, 0, sizeof *r);
    r->name = strdup(name);
    if (!r->name || metrics_follow_init(&r->mf, metrics_path)) {
        free(r->name);
        return;
    }
    r->shown = shown;
    s->n++;
}

static void add_path(plot_state *s, const char *path, int shown)
{
    struct stat st;
    char buf[4096];
    const char *name = strrchr(path, '/');
    name = name && name[1] ? name + 1 : path;
    if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
        snprintf(buf, sizeof buf, "%s/metrics.jsonl", path);
        add_run(s, name, buf, shown);
    } else {
        /* a metrics file: the run is its folder */
        char dirname[4096];
        snprintf(dirname, sizeof dirname, "%s", path);
        char *slash = strrchr(dirname, '/');
        if (slash && slash != dirname) {
            *slash = 0;
            const char *d = strrchr(dirname, '/');
            add_run(s, d ? d + 1 : dirname, path, shown);
        } else {
            add_run(s, name, path, shown);
        }
    }
}

/* Lists <runs_dir>/<run>/metrics.jsonl (new runs appear while the UI runs). */
static void scan_runs(plot_state *s, ui_app *app)
{
    DIR *d = opendir(app->runs_dir);
    if (!d) return;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s/metrics.jsonl", app->runs_dir, de->d_name);
        struct stat st;
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        add_run(s, de->d_name, path, s->n == 0);
    }
    closedir(d);
}

static void plot_tick(ui_panel *p, ui_app *app)
{
    plot_state *s = p->st;
    double now = iris_now();
    if (now - s->last_scan > 2.0) {
        s->last_scan = now;
        scan_runs(s, app);
    }
    if (now - s->last_poll < 0.2) return;
    s->last_poll = now;
    for (int i = 0; i < s->n; i++) {
        metrics_follow_poll(&s->runs[i].mf);
        if (s->runs[i].mf.n) s->runs[i].seen_data = 1;
    }
}

static int plot_key(ui_panel *p, ui_app *app, wint_t ch, int is_key)
{
    (void)app;
    plot_state *s = p->st;
    if (is_key) {
        if (ch == KEY_UP && s->sel > 0) s->sel--;
        else if (ch == KEY_DOWN && s->sel + 1 < s->n) s->sel++;
        else return 0;
        return 1;
    }
    switch (ch) {
    case ' ': case '\r':
        if (s->sel < s->n) s->runs[s->sel].shown = !s->runs[s->sel].shown;
        break;
    case 'a': {
        int all = 1;
        for (int i = 0; i < s->n; i++) all &= s->runs[i].shown;
        for (int i = 0; i < s->n; i++) s->runs[i].shown = !all;
        break;
    }
    case '1': case '2': case '3': case '4': case '5': s->series = series_keys[ch - '1']; break;
    case '+': case '=': if (s->smooth_idx + 1 < N_SMOOTH) s->smooth_idx++; break;
    case '-': if (s->smooth_idx > 0) s->smooth_idx--; break;
    case 'r': s->raw = !s->raw; break;
    case 'x': s->by_wall = !s->by_wall; break;
    case 'l': s->log_y = !s->log_y; break;
    default: return 0;
    }
    return 1;
}

static int series_color(int i) { return UI_C_SERIES0 + i % UI_N_SERIES_COLORS; }
static int faint_color(int i) { return UI_C_SERIES0 + UI_N_SERIES_COLORS + i % UI_N_SERIES_COLORS; }

static void draw_run_list(plot_state *s, ui_app *app, int y, int x, int h, int w)
{
    for (int i = 0; i < s->n && i < h; i++) {
        plot_run *r = &s->runs[i];
        int top = s->sel >= h ? s->sel - h + 1 : 0;
        if (i + top >= s->n) break;
        r = &s->runs[i + top];
        int idx = i + top;
        char line[256];
        const char *state = r->mf.missing ? (r->seen_data ? " (gone)" : " (no data)") : "";
        snprintf(line, sizeof line, "%s %s%s", r->shown ? "\xe2\x97\x8f" : "\xe2\x97\x8b", r->name, state);
        if (idx == s->sel) attron(A_REVERSE);
        if (app->has_color && r->shown) attron(COLOR_PAIR(series_color(idx)));
        ui_blank(y + i, x, 1, w);
        ui_text(y + i, x, w, line, strlen(line));
        attrset(A_NORMAL);
    }
}

static void plot_draw(ui_panel *p, ui_app *app, int y, int x, int h, int w)
{
    plot_state *s = p->st;
    int list_w = w >= 60 ? (w / 4 < 26 ? w / 4 : 26) : 0;
    if (list_w) {
        draw_run_list(s, app, y + 1, x, h - 1, list_w - 1);
        attron(A_BOLD);
        ui_text(y, x, list_w - 1, "runs", 4);
        attroff(A_BOLD);
        for (int r = y; r < y + h; r++) mvaddstr(r, x + list_w - 1, "\xe2\x94\x82");
    }
    int px = x + list_w, pw = w - list_w;
    /* title: series, smoothing, axes */
    double sm = smooth_levels[s->smooth_idx];
    char title[256];
    snprintf(title, sizeof title, " %s \xc2\xb7 EMA %.2f%s \xc2\xb7 x: %s%s", series_names[series_slot(s->series)], sm,
             s->raw ? " + raw" : "", s->by_wall ? "wall time" : "step", s->log_y ? " \xc2\xb7 log y" : "");
    attron(A_BOLD);
    ui_text(y, px, pw, title, strlen(title));
    attroff(A_BOLD);
    if (!s->n) {
        char msg[512];
        snprintf(msg, sizeof msg, "no runs in %s (start one in Train, or iris --plot RUN)", app->runs_dir);
        ui_text(y + 2, px + 1, pw - 2, msg, strlen(msg));
        return;
    }
    int label_w = 8;
    int legend_h = 1;
    int ch = h - 1 - 2 - legend_h;   /* title, x axis + labels, legend */
    int cw = pw - label_w - 1;
    if (ch < 1 || cw < 4) return;
    /* the data: smoothed copies and the ranges of all shown runs */
    double xlo = 0, xhi = 0, ylo = 0, yhi = 0;
    int have_x = 0, have_y = 0;
    double **sm_y = calloc((size_t)s->n, sizeof *sm_y);
    if (!sm_y) return;
    for (int i = 0; i < s->n; i++) {
        plot_run *r = &s->runs[i];
        if (!r->shown || !r->mf.n) continue;
        sm_y[i] = malloc((size_t)r->mf.n * sizeof(double));
        if (!sm_y[i]) continue;
        ema_smooth(r->mf.v[s->series], r->mf.n, sm, sm_y[i]);
        double a, b;
        const double *xs = r->mf.v[s->by_wall ? MF_WALL_S : MF_STEP];
        if (plot_data_range(xs, r->mf.n, 0, &a, &b)) {
            if (!have_x || a < xlo) xlo = a;
            if (!have_x || b > xhi) xhi = b;
            have_x = 1;
        }
        const double *ys = s->raw ? r->mf.v[s->series] : sm_y[i];
        if (plot_data_range(ys, r->mf.n, s->log_y, &a, &b)) {
            if (!have_y || a < ylo) ylo = a;
            if (!have_y || b > yhi) yhi = b;
            have_y = 1;
        }
    }
    if (have_x && have_y) {
        if (!s->log_y) {
            double pad = (yhi - ylo) * 0.05;
            if (pad == 0) pad = fabs(yhi) * 0.05 + 1e-9;
            ylo -= pad;
            yhi += pad;
        } else if (ylo == yhi) {
            ylo /= 1.5;
            yhi *= 1.5;
        }
        if (xhi == xlo) xhi = xlo + 1;
        if (s->canvas.cols != cw || s->canvas.rows != ch) {
            braille_free(&s->canvas);
            braille_free(&s->raw_canvas);
            if (braille_init(&s->canvas, cw, ch) || braille_init(&s->raw_canvas, cw, ch)) goto out;
        }
        braille_clear(&s->canvas);
        braille_clear(&s->raw_canvas);
        plot_range rg = {xlo, xhi, ylo, yhi, s->log_y};
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0 && !s->raw) continue;
            for (int i = 0; i < s->n; i++) {
                plot_run *r = &s->runs[i];
                if (!sm_y[i]) continue;
                const double *xs = r->mf.v[s->by_wall ? MF_WALL_S : MF_STEP];
                braille_plot_series(pass ? &s->canvas : &s->raw_canvas, &rg, xs,
                                    pass ? sm_y[i] : r->mf.v[s->series], r->mf.n,
                                    pass ? series_color(i) : faint_color(i));
            }
        }
        int cy = y + 1, cx = px + label_w + 1;
        for (int row = 0; row < ch; row++) {
            for (int col = 0; col < cw; col++) {
                /* a cell shows the smoothed line where it has one, else the
                 * faint raw dots: the trend stays readable over the noise */
                size_t k = (size_t)row * cw + col;
                const braille_canvas *cv = s->canvas.dots[k] ? &s->canvas : &s->raw_canvas;
                if (!cv->dots[k]) continue;
                char u[4];
                braille_cell_utf8(cv, col, row, u);
                if (app->has_color) attrset(COLOR_PAIR(cv->color[k]));
                else attrset(cv == &s->raw_canvas ? A_DIM : A_NORMAL);
                mvaddstr(cy + row, cx + col, u);
            }
        }
        attrset(A_NORMAL);
        /* y axis and its labels */
        for (int row = 0; row < ch; row++) mvaddstr(cy + row, cx - 1, "\xe2\x94\x82");
        double ticks[16];
        int nt = plot_ticks(s->log_y ? ylo : ylo, yhi, s->log_y, ch / 2 + 1 < 8 ? ch / 2 + 1 : 8, ticks);
        for (int t = 0; t < nt; t++) {
            int tx, ty;
            if (!plot_map(&s->canvas, &rg, xlo, ticks[t], &tx, &ty)) continue;
            int row = ty / 4;
            if (row < 0 || row >= ch) continue;
            char lab[32];
            plot_format_value(ticks[t], lab, sizeof lab);
            int lw = (int)strlen(lab);
            ui_text(cy + row, px + (label_w - lw > 0 ? label_w - lw : 0), label_w, lab, (size_t)lw);
            mvaddstr(cy + row, cx - 1, "\xe2\x94\xa4");
        }
        /* x axis and its labels */
        int ay = cy + ch;
        mvaddstr(ay, cx - 1, "\xe2\x94\x94");
        for (int col = 0; col < cw; col++) mvaddstr(ay, cx + col, "\xe2\x94\x80");
        nt = plot_ticks(xlo, xhi, 0, cw / 10 > 1 ? (cw / 10 < 10 ? cw / 10 : 10) : 2, ticks);
        int next_free = cx;
        for (int t = 0; t < nt; t++) {
            int tx, ty;
            if (!plot_map(&s->canvas, &rg, ticks[t], ylo, &tx, &ty)) continue;
            int col = tx / 2;
            char lab[32];
            if (s->by_wall) plot_format_seconds(ticks[t], lab, sizeof lab);
            else plot_format_value(ticks[t], lab, sizeof lab);
            int lw = (int)strlen(lab), lx = cx + col - lw / 2;
            if (lx < next_free || lx + lw > cx + cw) continue;
            mvaddstr(ay, cx + col, "\xe2\x94\xac");
            ui_text(ay + 1, lx, lw, lab, (size_t)lw);
            next_free = lx + lw + 1;
        }
    } else {
        ui_text(y + 2, px + 1, pw - 2, "waiting for data (no run shown: Space shows one)", 48);
    }
    /* the legend: each shown run with its latest smoothed value and step */
    {
        int ly = y + h - 1, lx = px;
        for (int i = 0; i < s->n && lx < px + pw; i++) {
            plot_run *r = &s->runs[i];
            if (!r->shown) continue;
            char lab[256], val[32] = "-";
            int n = r->mf.n;
            if (n && sm_y[i] && isfinite(sm_y[i][n - 1])) plot_format_value(sm_y[i][n - 1], val, sizeof val);
            double step = n ? r->mf.v[MF_STEP][n - 1] : NAN;
            snprintf(lab, sizeof lab, "\xe2\x96\xa0 %s %s @%s%s  ", r->name, val,
                     isfinite(step) ? "" : "-", r->mf.missing && r->seen_data ? " (gone)" : "");
            if (isfinite(step)) {
                char st[32];
                snprintf(st, sizeof st, "%.0f", step);
                snprintf(lab, sizeof lab, "\xe2\x96\xa0 %s %s @%s%s  ", r->name, val, st,
                         r->mf.missing && r->seen_data ? " (gone)" : "");
            }
            if (app->has_color) attrset(COLOR_PAIR(series_color(i)));
            lx += ui_text(ly, lx, px + pw - lx, lab, strlen(lab));
            attrset(A_NORMAL);
        }
    }
out:
    for (int i = 0; i < s->n; i++) free(sm_y[i]);
    free(sm_y);
}

static void plot_status(ui_panel *p, ui_app *app, char *buf, size_t n)
{
    (void)app;
    plot_state *s = p->st;
    int shown = 0;
    for (int i = 0; i < s->n; i++) shown += s->runs[i].shown;
    snprintf(buf, n, " Plots | %d run%s, %d shown | 1-5 series  +/- smoothing  r raw  x axis  l log  Space show",
             s->n, s->n == 1 ? "" : "s", shown);
}

static void plot_destroy(ui_panel *p)
{
    plot_state *s = p->st;
    for (int i = 0; i < s->n; i++) {
        free(s->runs[i].name);
        metrics_follow_free(&s->runs[i].mf);
    }
    free(s->runs);
    braille_free(&s->canvas);
    braille_free(&s->raw_canvas);
    free(s);
}

void ui_plot_show_run(ui_app *app, const char *path)
{
    plot_state *s = app->panels[3].st;
    if (!s) return;
    add_path(s, path, 1);
    char met[4096];
    snprintf(met, sizeof met, "%s/metrics.jsonl", path);
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->runs[i].mf.path, path) || !strcmp(s->runs[i].mf.path, met)) {
            s->runs[i].shown = 1;
            s->sel = i;
        }
    app->current = 3;
    app->overlay_dirty = 1;
}

void ui_plot_create(ui_panel *p, ui_app *app)
{
    memset(p, 0, sizeof *p);
    p->title = "Plots";
    plot_state *s = calloc(1, sizeof *s);
    if (!s) return;
    p->st = s;
    p->draw = plot_draw;
    p->key = plot_key;
    p->tick = plot_tick;
    p->status = plot_status;
    p->destroy = plot_destroy;
    s->series = MF_LOSS;
    s->raw = 1;
    s->smooth_idx = 2;
    for (int i = 0; i < app->n_plot_paths; i++) add_path(s, app->plot_paths[i], 1);
    s->last_scan = iris_now();
    scan_runs(s, app);
}

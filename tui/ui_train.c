/* ui_train.c — the Train panel: the runs under the runs directory with their
 * state, step/total, last loss and ETA (read from metrics.jsonl as it grows);
 * a form that writes a run's config.ini and starts `iris train` as a child
 * in its own session (it outlives the UI); stop (SIGTERM: the trainer saves
 * a checkpoint) and resume. */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <curses.h>

#include "braille_plot.h"
#include "core/error.h"
#include "core/timer.h"
#include "metrics_follow.h"
#include "train_runs.h"
#include "ui.h"

typedef struct {
    char name[128];
    char dir[PATH_MAX];
    metrics_follow mf;
    int total;
    int exit_code;      /* of a child this UI started and reaped; -1 unknown */
} run_row;

enum { F_NAME, F_BASE, F_DATA, F_IMAGES, F_PRESET, F_R, F_ALPHA, F_TARGETS, F_LR, F_SCHED, F_WARMUP, F_STEPS,
       F_EPOCHS, F_BATCH, F_ACCUM, F_N };

static const char *const field_labels[F_N] = {
    "run name", "base model", "dataset (JSON)", "image folder", "stage preset", "LoRA r", "LoRA alpha",
    "LoRA targets", "learning rate", "schedule", "warm-up steps", "steps (0: epochs)", "epochs", "batch size",
    "grad accumulation"};

typedef struct {
    ui_app *app;
    run_row *runs;
    int n, sel;
    double last_poll, last_scan;
    int form;           /* the form is open */
    int field;
    char text[F_N][1024];
    int preset, sched;
    char message[1024];
    int message_error;
    pid_t children[64];
    int n_children;
} train_state;

static void scan(train_state *s)
{
    DIR *d = opendir(s->app->runs_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[PATH_MAX], ini[PATH_MAX + 16], met[PATH_MAX + 16];
        snprintf(dir, sizeof dir, "%s/%s", s->app->runs_dir, de->d_name);
        snprintf(ini, sizeof ini, "%s/config.ini", dir);
        snprintf(met, sizeof met, "%s/metrics.jsonl", dir);
        if (access(ini, F_OK) && access(met, F_OK)) continue;
        int have = 0;
        for (int i = 0; i < s->n; i++) have |= !strcmp(s->runs[i].dir, dir);
        if (have) continue;
        run_row *r = realloc(s->runs, (size_t)(s->n + 1) * sizeof *r);
        if (!r) break;
        s->runs = r;
        run_row *row = &r[s->n];
        memset(row, 0, sizeof *row);
        snprintf(row->name, sizeof row->name, "%.127s", de->d_name);
        snprintf(row->dir, sizeof row->dir, "%s", dir);
        row->exit_code = -1;
        if (metrics_follow_init(&row->mf, met)) break;
        s->n++;
    }
    closedir(d);
}

static void reap(train_state *s)
{
    for (int i = 0; i < s->n_children; i++) {
        int status;
        pid_t p = waitpid(s->children[i], &status, WNOHANG);
        if (p != s->children[i]) continue;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        char pidp[PATH_MAX + 16];
        for (int k = 0; k < s->n; k++) {
            snprintf(pidp, sizeof pidp, "%s/ui.pid", s->runs[k].dir);
            FILE *f = fopen(pidp, "r");
            int rp = 0;
            if (f) {
                if (fscanf(f, "%d", &rp) != 1) rp = 0;
                fclose(f);
            }
            if (rp == p) s->runs[k].exit_code = code;
        }
        s->children[i--] = s->children[--s->n_children];
    }
}

static void train_tick(ui_panel *p, ui_app *app)
{
    (void)app;
    train_state *s = p->st;
    double now = iris_now();
    reap(s);
    if (now - s->last_scan > 2.0) {
        s->last_scan = now;
        scan(s);
    }
    if (now - s->last_poll < 0.25) return;
    s->last_poll = now;
    for (int i = 0; i < s->n; i++) {
        metrics_follow_poll(&s->runs[i].mf);
        s->runs[i].total = train_total_steps(s->runs[i].dir);
    }
}

static void open_form(train_state *s)
{
    train_form_values v;
    memset(&v, 0, sizeof v);
    train_form_defaults(&v, 1);
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(s->text[F_NAME], sizeof s->text[F_NAME], "run-%Y%m%d-%H%M%S", &tm);
    const char *base = s->app->mo.model ? s->app->mo.model : cli_default_model();
    snprintf(s->text[F_BASE], sizeof s->text[F_BASE], "%s", base ? base : "");
    s->text[F_DATA][0] = s->text[F_IMAGES][0] = 0;
    s->preset = v.preset;
    s->sched = v.schedule;
    snprintf(s->text[F_R], 64, "%d", v.lora_r);
    snprintf(s->text[F_ALPHA], 64, "%g", v.lora_alpha);
    snprintf(s->text[F_TARGETS], sizeof s->text[F_TARGETS], "%s", train_default_targets(s->text[F_BASE]));
    snprintf(s->text[F_LR], 64, "%g", v.lr);
    snprintf(s->text[F_WARMUP], 64, "%d", v.warmup_steps);
    snprintf(s->text[F_STEPS], 64, "%d", v.max_steps);
    snprintf(s->text[F_EPOCHS], 64, "%d", v.epochs);
    snprintf(s->text[F_BATCH], 64, "%d", v.batch_size);
    snprintf(s->text[F_ACCUM], 64, "%d", v.grad_accum);
    s->form = 1;
    s->field = F_DATA;
    s->message[0] = 0;
}

static int parse_int(const char *t, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(t, &end, 10);
    if (end == t || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *t, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(t, &end);
    if (end == t || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static void submit_form(train_state *s)
{
    train_form_values v;
    memset(&v, 0, sizeof v);
    train_form_defaults(&v, s->preset);
    v.schedule = s->sched;
    snprintf(v.name, sizeof v.name, "%.127s", s->text[F_NAME]);
    snprintf(v.base, sizeof v.base, "%s", s->text[F_BASE]);
    snprintf(v.data, sizeof v.data, "%s", s->text[F_DATA]);
    snprintf(v.image_folder, sizeof v.image_folder, "%s", s->text[F_IMAGES]);
    snprintf(v.lora_targets, sizeof v.lora_targets, "%.255s",
             train_targets_are_foreign_default(v.base, s->text[F_TARGETS]) ? train_default_targets(v.base)
                                                                            : s->text[F_TARGETS]);
    int bad = -1;
    if (!v.base[0]) bad = F_BASE;
    else if (!v.data[0]) bad = F_DATA;
    else if (parse_int(s->text[F_R], 1, 4096, &v.lora_r)) bad = F_R;
    else if (parse_double(s->text[F_ALPHA], 1e-9, 1e9, &v.lora_alpha)) bad = F_ALPHA;
    else if (parse_double(s->text[F_LR], 0, 10, &v.lr)) bad = F_LR;
    else if (parse_int(s->text[F_WARMUP], 0, 1000000000, &v.warmup_steps)) bad = F_WARMUP;
    else if (parse_int(s->text[F_STEPS], 0, 1000000000, &v.max_steps)) bad = F_STEPS;
    else if (parse_int(s->text[F_EPOCHS], 1, 1000000, &v.epochs)) bad = F_EPOCHS;
    else if (parse_int(s->text[F_BATCH], 1, 65536, &v.batch_size)) bad = F_BATCH;
    else if (parse_int(s->text[F_ACCUM], 1, 65536, &v.grad_accum)) bad = F_ACCUM;
    if (bad >= 0) {
        snprintf(s->message, sizeof s->message, "%s: missing or out of range", field_labels[bad]);
        s->message_error = 1;
        s->field = bad;
        return;
    }
    pid_t pid = train_start(s->app->runs_dir, v.name, &v, 0);
    if (pid < 0) {
        snprintf(s->message, sizeof s->message, "%s", iris_last_error());
        s->message_error = 1;
        return;
    }
    if (s->n_children < 64) s->children[s->n_children++] = pid;
    snprintf(s->message, sizeof s->message, "started %s (pid %d; it keeps running if iris exits)", v.name, (int)pid);
    s->message_error = 0;
    s->form = 0;
    s->last_scan = 0;
    scan(s);
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->runs[i].name, v.name)) s->sel = i;
}

static int form_key(train_state *s, wint_t ch, int is_key)
{
    int choice = s->field == F_PRESET || s->field == F_SCHED;
    if (is_key) {
        switch (ch) {
        case KEY_UP: s->field = (s->field + F_N - 1) % F_N; break;
        case KEY_DOWN: s->field = (s->field + 1) % F_N; break;
        case KEY_BTAB: s->field = (s->field + F_N - 1) % F_N; break;
        case KEY_LEFT: case KEY_RIGHT:
            if (choice) goto cycle;
            break;
        case KEY_BACKSPACE: goto backspace;
        case KEY_ENTER: submit_form(s); break;
        default: return 0;
        }
        return 1;
    }
    switch (ch) {
    case 27: case 3: s->form = 0; s->message[0] = 0; return 1;
    case '\t': s->field = (s->field + 1) % F_N; return 1;
    case '\r': case '\n': submit_form(s); return 1;
    case 127: case 8:
    backspace: {
        size_t n = strlen(s->text[s->field]);
        while (n > 0 && ((unsigned char)s->text[s->field][n - 1] & 0xC0) == 0x80) n--;
        if (n > 0) n--;
        s->text[s->field][n] = 0;
        return 1;
    }
    case 21: s->text[s->field][0] = 0; return 1;
    case ' ':
        if (choice) {
        cycle:
            if (s->field == F_PRESET) {
                s->preset = (s->preset + (ch == KEY_LEFT ? 2 : 1)) % 3;
                train_form_values v;
                train_form_defaults(&v, s->preset);
                snprintf(s->text[F_LR], 64, "%g", v.lr);   /* the preset's rate */
            } else {
                s->sched = (s->sched + (ch == KEY_LEFT ? 3 : 1)) % 4;
            }
            return 1;
        }
        __attribute__((fallthrough));   /* a space in a text field */
    default:
        if (!choice && ch >= 0x20) {
            char tmp[8];
            mbstate_t ms;
            memset(&ms, 0, sizeof ms);
            size_t k = wcrtomb(tmp, (wchar_t)ch, &ms);
            size_t n = strlen(s->text[s->field]);
            if (k != (size_t)-1 && n + k < sizeof s->text[0] - 1) {
                memcpy(s->text[s->field] + n, tmp, k);
                s->text[s->field][n + k] = 0;
            }
        }
        return 1;
    }
}

static int train_key(ui_panel *p, ui_app *app, wint_t ch, int is_key)
{
    train_state *s = p->st;
    if (s->form) return form_key(s, ch, is_key);
    if (is_key) {
        if (ch == KEY_UP && s->sel > 0) s->sel--;
        else if (ch == KEY_DOWN && s->sel + 1 < s->n) s->sel++;
        else if (ch == KEY_ENTER) ui_plot_show_run(app, s->runs[s->sel].dir);
        else return 0;
        return 1;
    }
    run_row *r = s->sel < s->n ? &s->runs[s->sel] : NULL;
    switch (ch) {
    case 'n': open_form(s); return 1;
    case 's':
        if (!r) return 1;
        if (train_stop(r->dir)) snprintf(s->message, sizeof s->message, "%s: %s", r->name, iris_last_error());
        else snprintf(s->message, sizeof s->message, "stopping %s (it saves a checkpoint first)", r->name);
        s->message_error = 0;
        return 1;
    case 'r': {
        if (!r) return 1;
        if (train_run_alive(r->dir, NULL)) {
            snprintf(s->message, sizeof s->message, "%s is running", r->name);
            return 1;
        }
        pid_t pid = train_start(app->runs_dir, r->name, NULL, 1);
        if (pid < 0) {
            snprintf(s->message, sizeof s->message, "%s", iris_last_error());
            s->message_error = 1;
        } else {
            if (s->n_children < 64) s->children[s->n_children++] = pid;
            r->exit_code = -1;
            snprintf(s->message, sizeof s->message, "resumed %s (pid %d)", r->name, (int)pid);
            s->message_error = 0;
        }
        return 1;
    }
    case '\r': case 'p':
        if (r) ui_plot_show_run(app, r->dir);
        return 1;
    default: return 0;
    }
}

static const char *run_state(run_row *r, int *alive)
{
    *alive = train_run_alive(r->dir, NULL);
    if (*alive) return "running";
    int n = r->mf.n;
    double step = n ? r->mf.v[MF_STEP][n - 1] : 0;
    if (r->exit_code > 0) return "failed";
    if (r->total > 0 && step >= r->total) return "done";
    return n ? "stopped" : (r->exit_code == 0 ? "done" : "not started");
}

static void draw_form(train_state *s, ui_app *app, int y, int x, int h, int w)
{
    attron(A_BOLD);
    ui_text(y, x + 1, w - 2, "new training run (Enter starts, Esc cancels, Space/Left/Right change a choice)", 78);
    attroff(A_BOLD);
    int lw = 20;
    int top = s->field >= h - 3 ? s->field - (h - 4) : 0;
    for (int i = top, row = y + 1; i < F_N && row < y + h - 1; i++, row++) {
        char val[1100];
        if (i == F_PRESET) snprintf(val, sizeof val, "< %s >", train_presets[s->preset]);
        else if (i == F_SCHED) snprintf(val, sizeof val, "< %s >", train_schedules[s->sched]);
        else snprintf(val, sizeof val, "%s", s->text[i]);
        int dim = (i == F_R || i == F_ALPHA || i == F_TARGETS) && s->preset != 1;
        if (dim) attron(A_DIM);
        ui_text(row, x + 1, lw, field_labels[i], strlen(field_labels[i]));
        if (i == s->field) attron(A_REVERSE);
        ui_blank(row, x + 1 + lw, 1, w - lw - 2);
        ui_text(row, x + 1 + lw, w - lw - 2, val, strlen(val));
        attrset(A_NORMAL);
    }
    (void)app;
}

static void train_draw(ui_panel *p, ui_app *app, int y, int x, int h, int w)
{
    train_state *s = p->st;
    if (s->form) {
        draw_form(s, app, y, x, h - 1, w);
    } else {
        attron(A_BOLD);
        char head[256];
        snprintf(head, sizeof head, "%-22s %-11s %13s %9s %8s", "run", "state", "step/total", "loss", "ETA");
        ui_text(y, x + 1, w - 2, head, strlen(head));
        attroff(A_BOLD);
        if (!s->n) {
            char msg[600];
            snprintf(msg, sizeof msg, "no runs in %s: n opens the form for a new one", app->runs_dir);
            ui_text(y + 2, x + 1, w - 2, msg, strlen(msg));
        }
        int top = s->sel >= h - 3 ? s->sel - (h - 4) : 0;
        for (int i = top, row = y + 1; i < s->n && row < y + h - 1; i++, row++) {
            run_row *r = &s->runs[i];
            int alive;
            const char *st = run_state(r, &alive);
            int n = r->mf.n;
            double step = n ? r->mf.v[MF_STEP][n - 1] : 0, loss = n ? r->mf.v[MF_LOSS][n - 1] : NAN;
            double wall = n ? r->mf.v[MF_WALL_S][n - 1] : NAN;
            char steps[32], lossb[32], eta[32] = "--";
            if (r->total > 0) snprintf(steps, sizeof steps, "%.0f/%d", step, r->total);
            else snprintf(steps, sizeof steps, "%.0f/?", step);
            if (isfinite(loss)) snprintf(lossb, sizeof lossb, "%.4f", loss);
            else snprintf(lossb, sizeof lossb, "-");
            if (alive && r->total > 0 && step > 0 && isfinite(wall))
                plot_format_seconds(wall / step * (r->total - step), eta, sizeof eta);
            char line[512];
            snprintf(line, sizeof line, "%-22.22s %-11s %13s %9s %8s", r->name, st, steps, lossb, eta);
            if (i == s->sel) attron(A_REVERSE);
            if (app->has_color && alive) attron(COLOR_PAIR(UI_C_SERIES0 + 3));
            ui_blank(row, x, 1, w);
            ui_text(row, x + 1, w - 2, line, strlen(line));
            attrset(A_NORMAL);
        }
    }
    if (s->message[0]) {
        if (app->has_color && s->message_error) attron(COLOR_PAIR(UI_C_ERROR));
        ui_text(y + h - 1, x + 1, w - 2, s->message, strlen(s->message));
        attrset(A_NORMAL);
    }
}

static void train_status(ui_panel *p, ui_app *app, char *buf, size_t n)
{
    train_state *s = p->st;
    if (s->form) snprintf(buf, n, " Train | form: Up/Down/Tab move, Enter starts, Esc cancels");
    else
        snprintf(buf, n, " Train | %d run%s in %s | n new  s stop  r resume  Enter plot", s->n, s->n == 1 ? "" : "s",
                 app->runs_dir);
}

static int train_typing(ui_panel *p)
{
    train_state *s = p->st;
    return s->form;
}

static void train_destroy(ui_panel *p)
{
    train_state *s = p->st;
    for (int i = 0; i < s->n; i++) metrics_follow_free(&s->runs[i].mf);
    free(s->runs);
    free(s);   /* children are left running on purpose */
}

void ui_train_create(ui_panel *p, ui_app *app)
{
    memset(p, 0, sizeof *p);
    p->title = "Train";
    train_state *s = calloc(1, sizeof *s);
    if (!s) return;
    p->st = s;
    s->app = app;
    p->draw = train_draw;
    p->key = train_key;
    p->tick = train_tick;
    p->status = train_status;
    p->typing = train_typing;
    p->destroy = train_destroy;
    scan(s);
}

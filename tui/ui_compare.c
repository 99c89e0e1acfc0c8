/* ui_compare.c — the Compare panel: two models answer the same picture and
 * question side by side, streaming together (one chat_worker thread each),
 * each with its time to first token and tokens/s.  Several lines in the
 * input are several questions, run in a row; every question starts from a
 * fresh conversation so both models see exactly the same prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "chat_worker.h"
#include "core/error.h"
#include "cli_common.h"
#include "ui.h"
#include "ui_input.h"

typedef struct {
    char *text;
    size_t len;
    double first_s, tok_s;
    int n_tokens, done, failed;
} answer;

typedef struct {
    chat_worker w;
    int ok;
    char *model;
    answer *a;          /* one per question */
    int q;              /* the question being worked on */
    int step;           /* 0 clear, 1 image, 2 turn, 3 waiting for it */
    char status[128];
} side;

typedef struct {
    ui_app *app;
    side s[2];
    char **questions;
    int n_q;
    char *image_path;
    ui_image *image;
    ui_input in;
    int scroll;
    char message[512];
} compare_state;

static void wake_app(void *ud) { ui_wake(ud); }

static const char *base(const char *p)
{
    if (!p) return "(no model: /a or /b PATH)";
    const char *b = strrchr(p, '/');
    return b && b[1] ? b + 1 : p;
}

static void append(answer *a, const char *t, size_t n)
{
    char *p = realloc(a->text, a->len + n + 1);
    if (!p) return;
    memcpy(p + a->len, t, n);
    p[a->len + n] = 0;
    a->text = p;
    a->len += n;
}

static void reset_run(compare_state *c)
{
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < c->n_q; i++) free(c->s[k].a[i].text);
        free(c->s[k].a);
        c->s[k].a = NULL;
        c->s[k].q = 0;
        c->s[k].step = 0;
    }
    for (int i = 0; i < c->n_q; i++) free(c->questions[i]);
    free(c->questions);
    c->questions = NULL;
    c->n_q = 0;
}

static int busy(compare_state *c)
{
    for (int k = 0; k < 2; k++)
        if (c->s[k].ok && (chat_worker_busy(&c->s[k].w) || (c->s[k].model && c->s[k].q < c->n_q))) return 1;
    return 0;
}

/* Starts a run of the questions (one per non-empty line). */
static void start_run(compare_state *c, const char *text)
{
    reset_run(c);
    char *copy = strdup(text);
    if (!copy) return;
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        while (*line == ' ') line++;
        if (!*line) continue;
        char **q = realloc(c->questions, (size_t)(c->n_q + 1) * sizeof *q);
        if (!q) break;
        c->questions = q;
        if (!(q[c->n_q] = strdup(line))) break;
        c->n_q++;
    }
    free(copy);
    for (int k = 0; k < 2; k++) {
        c->s[k].a = calloc((size_t)(c->n_q ? c->n_q : 1), sizeof(answer));
        c->s[k].q = c->s[k].model ? 0 : c->n_q;   /* a side without a model sits it out */
        c->s[k].step = 0;
    }
    c->scroll = 0;
}

/* Feeds the next job of a side's run to its worker. */
static void advance(compare_state *c, side *sd)
{
    if (!sd->ok || !sd->a || sd->q >= c->n_q || chat_worker_busy(&sd->w)) return;
    iris_gen_params gen = c->app->mo.gen;
    if (sd->step == 0) {
        chat_worker_submit(&sd->w, CW_CLEAR, "", &gen);
        sd->step = c->image_path ? 1 : 2;
    } else if (sd->step == 1) {
        chat_worker_submit(&sd->w, CW_IMAGE, c->image_path, &gen);
        sd->step = 2;
    } else if (sd->step == 2) {
        chat_worker_submit(&sd->w, CW_TURN, c->questions[sd->q], &gen);
        sd->step = 3;
    }
}

static void compare_tick(ui_panel *p, ui_app *app)
{
    (void)app;
    compare_state *c = p->st;
    for (int k = 0; k < 2; k++) {
        side *sd = &c->s[k];
        if (!sd->ok) continue;
        chat_event *ev = chat_worker_collect(&sd->w);
        for (chat_event *e = ev; e; e = e->next) {
            answer *a = sd->a && sd->q < c->n_q ? &sd->a[sd->q] : NULL;
            switch (e->kind) {
            case CW_EV_TEXT:
                if (a) append(a, e->text, e->len);
                break;
            case CW_EV_DONE:
                if (a) {
                    pthread_mutex_lock(&sd->w.mu);
                    a->first_s = sd->w.first_token_s;
                    a->tok_s = sd->w.live_tok_s;
                    a->n_tokens = sd->w.n_generated;
                    pthread_mutex_unlock(&sd->w.mu);
                    a->done = 1;
                    sd->q++;
                    sd->step = 0;
                }
                break;
            case CW_EV_ERROR:
                if (a && sd->step >= 1) {
                    append(a, "error: ", 7);
                    append(a, e->text, e->len);
                    a->failed = a->done = 1;
                    sd->q++;
                    sd->step = 0;
                } else {
                    snprintf(sd->status, sizeof sd->status, "error: %s", e->text);
                }
                break;
            case CW_EV_LOADED:
                free(sd->model);
                sd->model = strdup(e->text);
                snprintf(sd->status, sizeof sd->status, "loaded");
                break;
            default: break;
            }
        }
        chat_events_free(ev);
        advance(c, sd);
    }
}

static void command(compare_state *c, char *line)
{
    char *arg = line + strcspn(line, " \t");
    if (*arg) *arg++ = 0;
    while (*arg == ' ') arg++;
    if (!strcmp(line, "/a") || !strcmp(line, "/b")) {
        side *sd = &c->s[line[1] - 'a'];
        if (!*arg) {
            snprintf(c->message, sizeof c->message, "usage: %s MODEL", line);
            return;
        }
        char path[4096];
        if (ui_resolve_model(arg, path, sizeof path)) {
            snprintf(c->message, sizeof c->message, "%s", iris_last_error());
            return;
        }
        if (!sd->ok || chat_worker_submit(&sd->w, CW_LOAD, path, &c->app->mo.gen)) {
            snprintf(c->message, sizeof c->message, "busy: Esc stops");
            return;
        }
        snprintf(sd->status, sizeof sd->status, "loading %s ...", base(arg));
    } else if (!strcmp(line, "/image")) {
        ui_image *im = ui_image_load(arg);
        if (!im) {
            snprintf(c->message, sizeof c->message, "%s", iris_last_error());
            return;
        }
        ui_image_free(c->image);
        c->image = im;
        free(c->image_path);
        c->image_path = strdup(arg);
        c->message[0] = 0;
        c->app->overlay_dirty = 1;
    } else if (!strcmp(line, "/noimage")) {
        ui_image_free(c->image);
        c->image = NULL;
        free(c->image_path);
        c->image_path = NULL;
    } else {
        snprintf(c->message, sizeof c->message, "unknown command %s (/a /b /image /noimage)", line);
    }
}

static int compare_key(ui_panel *p, ui_app *app, wint_t ch, int is_key)
{
    compare_state *c = p->st;
    if (is_key) {
        switch (ch) {
        case KEY_ENTER: goto enter;
        case UI_KEY_ALT_ENTER: ui_input_insert_cp(&c->in, '\n'); return 1;
        case KEY_BACKSPACE: ui_input_backspace(&c->in); return 1;
        case KEY_LEFT: ui_input_left(&c->in); return 1;
        case KEY_RIGHT: ui_input_right(&c->in); return 1;
        case KEY_UP: if (!ui_input_line_up(&c->in)) ui_input_history_prev(&c->in); return 1;
        case KEY_DOWN: if (!ui_input_line_down(&c->in)) ui_input_history_next(&c->in); return 1;
        case KEY_PPAGE: c->scroll += 5; return 1;
        case KEY_NPAGE: c->scroll = c->scroll > 5 ? c->scroll - 5 : 0; return 1;
        default: return 0;
        }
    }
    switch (ch) {
    case 27: case 3:
        for (int k = 0; k < 2; k++) {
            if (!c->s[k].ok) continue;
            c->s[k].q = c->n_q;   /* the rest of the list is dropped */
            chat_worker_stop(&c->s[k].w);
        }
        snprintf(c->message, sizeof c->message, "stopped");
        return 1;
    case '\r':
        if (app->in_paste) {
            ui_input_insert_cp(&c->in, '\n');
            return 1;
        }
    enter:
        if (!c->in.len) return 1;
        if (c->in.buf[0] != '/' && busy(c)) {
            ui_flash(app, "busy: Esc stops");
            return 1;
        }
        {
            char *text = ui_input_take(&c->in);
            if (!text) return 1;
            if (text[0] == '/') command(c, text);
            else start_run(c, text);
            free(text);
        }
        return 1;
    case '\n': ui_input_insert_cp(&c->in, '\n'); return 1;
    case 127: case 8: ui_input_backspace(&c->in); return 1;
    case 21: ui_input_kill_to_start(&c->in); return 1;
    default:
        if (ch >= 0x20 || ch == '\t') ui_input_insert_cp(&c->in, (uint32_t)ch);
        return 1;
    }
}

typedef struct {
    int y, x, w, row, max_row, skip;
} column;

static void col_line(const char *s, size_t n, void *ud)
{
    column *c = ud;
    if (c->skip > 0) {
        c->skip--;
        return;
    }
    if (c->row < c->max_row) ui_text(c->row, c->x, c->w, s, n);
    c->row++;
}

static void draw_side(compare_state *c, ui_app *app, int k, int y, int x, int h, int w)
{
    side *sd = &c->s[k];
    char head[256];
    double first = 0, rate = 0;
    for (int i = 0; sd->a && i < c->n_q; i++)
        if (sd->a[i].done && !sd->a[i].failed) {
            first = sd->a[i].first_s;
            rate = sd->a[i].tok_s;
        }
    if (sd->ok && chat_worker_busy(&sd->w)) {
        pthread_mutex_lock(&sd->w.mu);
        if (sd->w.n_generated) {
            first = sd->w.first_token_s;
            rate = sd->w.live_tok_s;
        }
        pthread_mutex_unlock(&sd->w.mu);
    }
    snprintf(head, sizeof head, "%c: %s", 'A' + k, base(sd->model));
    attron(A_BOLD);
    if (app->has_color) attron(COLOR_PAIR(UI_C_SERIES0 + k));
    ui_text(y, x, w, head, strlen(head));
    attrset(A_NORMAL);
    snprintf(head, sizeof head, "latency %.2fs  %.1f tok/s%s%s", first, rate, sd->status[0] ? "  " : "", sd->status);
    ui_text(y + 1, x, w, head, strlen(head));
    column col = {y + 2, x, w, y + 2, y + h, c->scroll};
    for (int i = 0; sd->a && i < c->n_q; i++) {
        char qline[512];
        snprintf(qline, sizeof qline, "Q%d: %s", i + 1, c->questions[i]);
        attron(A_BOLD);
        ui_wrap(qline, strlen(qline), w, col_line, &col);
        attroff(A_BOLD);
        answer *a = &sd->a[i];
        if (a->text) ui_wrap(a->text, a->len, w, col_line, &col);
        if (a->done && !a->failed) {
            snprintf(qline, sizeof qline, "[%d tokens, first %.2fs, %.1f tok/s]", a->n_tokens, a->first_s, a->tok_s);
            if (app->has_color) attron(COLOR_PAIR(UI_C_INFO));
            col_line(qline, strlen(qline), &col);
            attrset(A_NORMAL);
        }
    }
}

static void compare_draw(ui_panel *p, ui_app *app, int y, int x, int h, int w)
{
    compare_state *c = p->st;
    int row = y;
    if (c->image) ui_image_begin_frame(c->image);
    if (c->image && h >= 14) {
        int cols, rows;
        ui_image_cells(app, c->image, w / 2, h / 4 < 8 ? h / 4 : 8, &cols, &rows);
        ui_image_draw(app, c->image, row, x, cols, rows);
        ui_text(row, x + cols + 1, w - cols - 1, c->image_path, strlen(c->image_path));
        row += rows;
    } else if (c->image) {
        char l[512];
        snprintf(l, sizeof l, "image: %s", c->image_path);
        ui_text(row++, x, w, l, strlen(l));
    }
    int in_rows = 2;
    int ah = y + h - row - in_rows - 1;
    int half = (w - 1) / 2;
    if (ah > 2) {
        draw_side(c, app, 0, row, x, ah, half);
        for (int r = row; r < row + ah; r++) mvaddstr(r, x + half, "\xe2\x94\x82");
        draw_side(c, app, 1, row, x + half + 1, ah, w - half - 1);
    }
    int sy = y + h - in_rows - 1;
    ui_hline(sy, x, w);
    if (c->message[0]) ui_text(sy, x + 2, w - 4, c->message, strlen(c->message));
    /* the input: its last two lines */
    ui_input_layout lay;
    ui_input_layout_compute(&c->in, w - 2, &lay);
    mvaddstr(sy + 1, x, "? ");
    const char *buf = c->in.buf ? c->in.buf : "";
    const char *last = buf, *prev = NULL;
    for (const char *q = buf; *q; q++)
        if (*q == '\n') {
            prev = last;
            last = q + 1;
        }
    if (prev) {
        ui_text(sy + 1, x + 2, w - 2, prev, (size_t)(last - 1 - prev));
        ui_text(sy + 2, x + 2, w - 2, last, strlen(last));
    } else {
        ui_text(sy + 1, x + 2, w - 2, buf, strlen(buf));
    }
}

static void compare_overlay(ui_panel *p, ui_app *app)
{
    compare_state *c = p->st;
    if (c->image) ui_image_overlay(app, c->image);
}

static void compare_status(ui_panel *p, ui_app *app, char *buf, size_t n)
{
    (void)app;
    compare_state *c = p->st;
    int done0 = c->s[0].a ? c->s[0].q : 0, done1 = c->s[1].a ? c->s[1].q : 0;
    snprintf(buf, n, " Compare | %d question%s: A %d/%d  B %d/%d | /a /b MODEL  /image PATH  Esc stops", c->n_q,
             c->n_q == 1 ? "" : "s", done0 < c->n_q ? done0 : c->n_q, c->n_q, done1 < c->n_q ? done1 : c->n_q, c->n_q);
}

static int compare_typing(ui_panel *p)
{
    compare_state *c = p->st;
    return c->in.len > 0;
}

static void compare_destroy(ui_panel *p)
{
    compare_state *c = p->st;
    for (int k = 0; k < 2; k++)
        if (c->s[k].ok) chat_worker_destroy(&c->s[k].w);
    reset_run(c);
    for (int k = 0; k < 2; k++) free(c->s[k].model);
    ui_image_free(c->image);
    free(c->image_path);
    ui_input_free(&c->in);
    free(c);
}

void ui_compare_create(ui_panel *p, ui_app *app)
{
    memset(p, 0, sizeof *p);
    p->title = "Compare";
    compare_state *c = calloc(1, sizeof *c);
    if (!c) return;
    p->st = c;
    c->app = app;
    p->draw = compare_draw;
    p->overlay = compare_overlay;
    p->key = compare_key;
    p->tick = compare_tick;
    p->status = compare_status;
    p->typing = compare_typing;
    p->destroy = compare_destroy;
    ui_input_init(&c->in);
    const iris_backend *be = ui_backend(app);
    for (int k = 0; k < 2; k++) {
        if (chat_worker_start(&c->s[k].w, be, wake_app, app)) continue;
        c->s[k].w.n_ctx = app->mo.n_ctx;
        c->s[k].ok = 1;
    }
    /* models load when the panel is first used: /a and /b; -m and --compare
     * preload; with neither, the two built-in designs answer side by side (the
     * tiny LLaVA, or $IRIS_MODEL, against the tiny OpenFlamingo) */
    const char *models[2] = {app->mo.model, app->compare_b};
    static char flamingo[4096];
    if (!models[0] && !models[1]) {
        models[0] = cli_default_model();
        models[1] = cli_builtin_model("tiny-flamingo", flamingo, sizeof flamingo);
    }
    for (int k = 0; k < 2; k++)
        if (models[k] && c->s[k].ok) {
            chat_worker_submit(&c->s[k].w, CW_LOAD, models[k], &app->mo.gen);
            snprintf(c->s[k].status, sizeof c->s[k].status, "loading ...");
        }
}

/* ui_chat.c — the Chat panel: transcript with streamed answers and inline
 * images, the multi-line input editor, slash commands, Tab completion of
 * paths, and the status line (model, backend, tokens/s, context used).
 * The model lives in a chat_worker thread. */
#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "chat_worker.h"
#include "core/error.h"
#include "ui.h"
#include "ui_input.h"

typedef enum { E_USER, E_ASSISTANT, E_INFO, E_ERROR, E_IMAGE } entry_kind;

typedef struct {
    entry_kind kind;
    char *text;
    size_t len;
    ui_image *img;
} entry;

typedef struct {
    ui_app *app;
    chat_worker w;
    int worker_ok;
    entry *e;
    int n, cap;
    ui_input in;
    int scroll;              /* display lines scrolled up from the bottom */
    int answering;           /* an assistant entry is being streamed */
    iris_gen_params gen;
    char *pending_image;     /* shown once the worker attached it */
    const iris_backend *be;
    char backend_desc[96];
} chat_state;

static entry *add_entry(chat_state *s, entry_kind k, const char *text)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        entry *e = realloc(s->e, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        s->e = e;
        s->cap = cap;
    }
    entry *e = &s->e[s->n];
    memset(e, 0, sizeof *e);
    e->kind = k;
    e->text = strdup(text ? text : "");
    if (!e->text) return NULL;
    e->len = strlen(e->text);
    s->n++;
    return e;
}

static void append_text(entry *e, const char *t, size_t n)
{
    char *p = realloc(e->text, e->len + n + 1);
    if (!p) return;
    memcpy(p + e->len, t, n);
    p[e->len + n] = 0;
    e->text = p;
    e->len += n;
}

static void info(chat_state *s, entry_kind k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void info(chat_state *s, entry_kind k, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    add_entry(s, k, buf);
    s->scroll = 0;
}

static void wake_app(void *ud) { ui_wake(ud); }

/* ---- slash commands */

static int set_param(chat_state *s, const char *kv)
{
    char key[32];
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) return -1;
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = 0;
    char *end;
    double v = strtod(eq + 1, &end);
    if (end == eq + 1 || *end) return -1;
    iris_sampler_params *sp = &s->gen.sampling;
    if (!strcmp(key, "temp") || !strcmp(key, "temperature")) {
        if (v < 0 || v > 100) return -1;
        sp->temperature = (float)v;
    } else if (!strcmp(key, "top_p")) {
        if (v <= 0 || v > 1) return -1;
        sp->top_p = (float)v;
    } else if (!strcmp(key, "top_k")) {
        if (v < 0 || v > 1e6) return -1;
        sp->top_k = (int)v;
    } else if (!strcmp(key, "min_p")) {
        if (v < 0 || v > 1) return -1;
        sp->min_p = (float)v;
    } else if (!strcmp(key, "repeat_penalty")) {
        if (v <= 0 || v > 100) return -1;
        sp->repeat_penalty = (float)v;
    } else if (!strcmp(key, "seed")) {
        if (v < 0) return -1;
        sp->seed = (uint64_t)v;
    } else if (!strcmp(key, "n") || !strcmp(key, "n_predict")) {
        if (v < 0 || v > 1 << 20) return -1;
        s->gen.n_predict = (int)v;
    } else {
        return -1;
    }
    return 0;
}

static void submit(chat_state *s, chat_job_kind job, const char *arg)
{
    if (!s->worker_ok || chat_worker_submit(&s->w, job, arg, &s->gen)) {
        ui_flash(s->app, "busy: Esc stops the answer");
        return;
    }
}

static void command(chat_state *s, char *line)
{
    char *arg = line + strcspn(line, " \t\n");
    if (*arg) *arg++ = 0;
    while (*arg == ' ' || *arg == '\t') arg++;
    size_t al = strlen(arg);
    while (al && (arg[al - 1] == ' ' || arg[al - 1] == '\n')) arg[--al] = 0;
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) {
        s->app->quit = 1;
    } else if (!strcmp(line, "/help")) {
        s->app->show_help = 1;
    } else if (!strcmp(line, "/image")) {
        if (!*arg) return info(s, E_ERROR, "usage: /image PATH");
        if (chat_worker_busy(&s->w)) return ui_flash(s->app, "busy: Esc stops the answer");
        ui_image *im = ui_image_load(arg);
        if (!im) return info(s, E_ERROR, "%s", iris_last_error());
        ui_image_free(im);   /* readable: the worker encodes it, the panel shows it when attached */
        free(s->pending_image);
        s->pending_image = strdup(arg);
        submit(s, CW_IMAGE, arg);
    } else if (!strcmp(line, "/model")) {
        if (!*arg) return info(s, E_ERROR, "usage: /model PATH|ORG/NAME");
        char path[4096];
        if (ui_resolve_model(arg, path, sizeof path)) return info(s, E_ERROR, "%s", iris_last_error());
        info(s, E_INFO, "loading %s ...", path);
        submit(s, CW_LOAD, path);
    } else if (!strcmp(line, "/system")) {
        submit(s, CW_SYSTEM, arg);
    } else if (!strcmp(line, "/set")) {
        if (!*arg) {
            const iris_sampler_params *sp = &s->gen.sampling;
            return info(s, E_INFO, "temp=%g top_p=%g top_k=%d min_p=%g repeat_penalty=%g n=%d", sp->temperature,
                        sp->top_p, sp->top_k, sp->min_p, sp->repeat_penalty, s->gen.n_predict);
        }
        for (char *tok = strtok(arg, " \t"); tok; tok = strtok(NULL, " \t"))
            if (set_param(s, tok)) return info(s, E_ERROR, "/set: cannot use '%s' (temp top_p top_k min_p repeat_penalty seed n)", tok);
        const iris_sampler_params *sp = &s->gen.sampling;
        info(s, E_INFO, "temp=%g top_p=%g top_k=%d n=%d", sp->temperature, sp->top_p, sp->top_k, s->gen.n_predict);
    } else if (!strcmp(line, "/clear")) {
        for (int i = 0; i < s->n; i++) {
            free(s->e[i].text);
            ui_image_free(s->e[i].img);
        }
        s->n = 0;
        s->scroll = 0;
        clearok(curscr, TRUE);
        submit(s, CW_CLEAR, "");
    } else if (!strcmp(line, "/save")) {
        if (!*arg) return info(s, E_ERROR, "usage: /save FILE");
        submit(s, CW_SAVE, arg);
    } else {
        info(s, E_ERROR, "unknown command %s (? lists keys and commands)", line);
    }
}

static void send_input(chat_state *s)
{
    if (!s->in.len) return;
    if (s->in.buf[0] != '/' && chat_worker_busy(&s->w)) {
        ui_flash(s->app, "busy: Esc stops the answer");
        return;
    }
    char *text = ui_input_take(&s->in);
    if (!text) return;
    s->scroll = 0;
    if (text[0] == '/') {
        command(s, text);
    } else {
        add_entry(s, E_USER, text);
        if (!s->worker_ok || chat_worker_submit(&s->w, CW_TURN, text, &s->gen)) {
            info(s, E_ERROR, "the model is busy");
        } else {
            add_entry(s, E_ASSISTANT, "");
            s->answering = 1;
        }
    }
    free(text);
}

/* Tab: completes the last word of a /image, /model or /save line as a path. */
static void complete_path(chat_state *s)
{
    if (!s->in.len || s->in.buf[0] != '/' || s->in.cur != s->in.len) return;
    char *sp = strrchr(s->in.buf, ' ');
    if (!sp) return;
    const char *word = sp + 1;
    char pattern[4096];
    if (snprintf(pattern, sizeof pattern, "%s*", word) >= (int)sizeof pattern) return;
    glob_t g;
    if (glob(pattern, GLOB_MARK | GLOB_TILDE, NULL, &g) || !g.gl_pathc) {
        ui_flash(s->app, "no match");
        return;
    }
    size_t common = strlen(g.gl_pathv[0]);
    for (size_t i = 1; i < g.gl_pathc; i++) {
        size_t k = 0;
        while (k < common && g.gl_pathv[i][k] == g.gl_pathv[0][k]) k++;
        common = k;
    }
    if (common > strlen(word) || g.gl_pathc == 1) {
        size_t keep = (size_t)(word - s->in.buf);
        char *prefix = strndup(s->in.buf, keep);
        if (prefix) {
            ui_input_set(&s->in, prefix);
            ui_input_insert_bytes(&s->in, g.gl_pathv[0], common);
            free(prefix);
        }
    }
    if (g.gl_pathc > 1) ui_flash(s->app, "%zu matches", g.gl_pathc);
    globfree(&g);
}

/* ---- panel callbacks */

static int chat_key(ui_panel *p, ui_app *app, wint_t ch, int is_key)
{
    chat_state *s = p->st;
    if (is_key) {
        switch (ch) {
        case KEY_ENTER: if (app->in_paste) ui_input_insert_cp(&s->in, '\n'); else send_input(s); return 1;
        case UI_KEY_ALT_ENTER: ui_input_insert_cp(&s->in, '\n'); return 1;
        case KEY_BACKSPACE: ui_input_backspace(&s->in); return 1;
        case KEY_DC: ui_input_delete(&s->in); return 1;
        case KEY_LEFT: ui_input_left(&s->in); return 1;
        case KEY_RIGHT: ui_input_right(&s->in); return 1;
        case KEY_HOME: ui_input_home(&s->in); return 1;
        case KEY_END: ui_input_end(&s->in); return 1;
        case KEY_UP: if (!ui_input_line_up(&s->in)) ui_input_history_prev(&s->in); return 1;
        case KEY_DOWN: if (!ui_input_line_down(&s->in)) ui_input_history_next(&s->in); return 1;
        case KEY_PPAGE: s->scroll += app->rows / 2; return 1;
        case KEY_NPAGE: s->scroll -= app->rows / 2; if (s->scroll < 0) s->scroll = 0; return 1;
        default: return 0;
        }
    }
    switch (ch) {
    case 27: case 3:   /* Esc, Ctrl-C: stop the answer, never the program */
        if (s->worker_ok && chat_worker_busy(&s->w)) {
            chat_worker_stop(&s->w);
            ui_flash(app, "stopping...");
        }
        return 1;
    case '\r':
        if (app->in_paste) ui_input_insert_cp(&s->in, '\n');
        else send_input(s);
        return 1;
    case '\n': ui_input_insert_cp(&s->in, '\n'); return 1;   /* Ctrl-J */
    case '\t':
        if (app->in_paste) ui_input_insert_cp(&s->in, '\t');
        else complete_path(s);
        return 1;
    case 127: case 8: ui_input_backspace(&s->in); return 1;
    case 1: ui_input_home(&s->in); return 1;
    case 5: ui_input_end(&s->in); return 1;
    case 21: ui_input_kill_to_start(&s->in); return 1;
    case 11: ui_input_kill_to_end(&s->in); return 1;
    case 23: ui_input_delete_word(&s->in); return 1;
    default:
        if (ch >= 0x20 && ch != 0x7F) ui_input_insert_cp(&s->in, (uint32_t)ch);
        return 1;
    }
}

static void chat_tick(ui_panel *p, ui_app *app)
{
    chat_state *s = p->st;
    if (!s->worker_ok) return;
    chat_event *ev = chat_worker_collect(&s->w);
    for (chat_event *e = ev; e; e = e->next) {
        switch (e->kind) {
        case CW_EV_TEXT:
            if (s->answering && s->n && s->e[s->n - 1].kind == E_ASSISTANT) append_text(&s->e[s->n - 1], e->text, e->len);
            break;
        case CW_EV_DONE:
            s->answering = 0;
            app->flash[0] = 0;
            info(s, E_INFO, "%s", e->text);
            break;
        case CW_EV_ERROR:
            if (s->answering && s->n && s->e[s->n - 1].kind == E_ASSISTANT && !s->e[s->n - 1].len) {
                free(s->e[s->n - 1].text);
                s->n--;
            }
            s->answering = 0;
            info(s, E_ERROR, "error: %s", e->text);
            break;
        case CW_EV_INFO: info(s, E_INFO, "%s", e->text); break;
        case CW_EV_LOADED: info(s, E_INFO, "model %s loaded", e->text); break;
        case CW_EV_IMAGE: {
            ui_image *im = ui_image_load(e->text);
            if (!im) {
                info(s, E_ERROR, "%s", iris_last_error());
                break;
            }
            entry *en = add_entry(s, E_IMAGE, e->text);
            if (en) en->img = im;
            else ui_image_free(im);
            s->scroll = 0;
            app->overlay_dirty = 1;
            break;
        }
        }
    }
    chat_events_free(ev);
}

/* ---- drawing: the transcript becomes a list of display lines */

typedef struct {
    int entry;
    const char *s;
    size_t n;
    int image_row;           /* -1 for text */
    int first;               /* the entry's first line */
} dline;

typedef struct {
    dline *v;
    int n, cap;
    int entry, first;
} dlines;

static void push_line(const char *str, size_t n, void *ud)
{
    dlines *d = ud;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 256;
        dline *v = realloc(d->v, (size_t)cap * sizeof *v);
        if (!v) return;
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = (dline){d->entry, str, n, -1, d->first};
    d->first = 0;
}

static int attr_for(ui_app *app, entry_kind k)
{
    if (!app->has_color) return k == E_USER ? A_BOLD : k == E_INFO ? A_DIM : A_NORMAL;
    switch (k) {
    case E_USER: return COLOR_PAIR(UI_C_USER) | A_BOLD;
    case E_INFO: return COLOR_PAIR(UI_C_INFO);
    case E_ERROR: return COLOR_PAIR(UI_C_ERROR);
    default: return A_NORMAL;
    }
}

static void chat_draw(ui_panel *p, ui_app *app, int y, int x, int h, int w)
{
    chat_state *s = p->st;
    /* the input box: as many rows as the text needs, at most a third of the panel */
    int prompt_w = 2, iw = w - prompt_w;
    if (iw < 1) iw = 1;
    ui_input_layout lay;
    ui_input_layout_compute(&s->in, iw, &lay);
    int max_in = h / 3 > 1 ? h / 3 : 1;
    int in_rows = lay.rows < max_in ? lay.rows : max_in;
    int th = h - in_rows - 1;   /* transcript rows */
    if (th < 1) th = 1;
    int img_max_rows = th - 1 < 12 ? th - 1 : 12;
    if (img_max_rows < 1) img_max_rows = 1;

    dlines d = {0};
    for (int i = 0; i < s->n; i++)
        if (s->e[i].img) ui_image_begin_frame(s->e[i].img);
    for (int i = 0; i < s->n; i++) {
        entry *e = &s->e[i];
        d.entry = i;
        if (e->kind == E_IMAGE && e->img) {
            int cols, rows;
            ui_image_cells(app, e->img, w, img_max_rows, &cols, &rows);
            for (int r = 0; r < rows; r++) {
                push_line(NULL, 0, &d);
                if (d.n) d.v[d.n - 1].image_row = r;
            }
            continue;
        }
        if (e->kind == E_USER) push_line(NULL, 0, &d);   /* a blank line before each question */
        d.first = 1;
        int pl = e->kind == E_USER ? 2 : 0;
        int start = d.n;
        ui_wrap(e->text, e->len, w - pl, push_line, &d);
        if (e->kind == E_ASSISTANT && s->answering && i == s->n - 1 && d.n == start) push_line("", 0, &d);
    }
    int max_scroll = d.n > th ? d.n - th : 0;
    if (s->scroll > max_scroll) s->scroll = max_scroll;
    int first = d.n - th - s->scroll;
    if (first < 0) first = 0;
    for (int r = 0; r < th && first + r < d.n; r++) {
        dline *l = &d.v[first + r];
        entry *e = &s->e[l->entry];
        if (l->image_row >= 0) {
            /* the picture's first visible row draws every visible row of it */
            if (l->image_row == 0 || r == 0) {
                int cols, rows;
                ui_image_cells(app, e->img, w, img_max_rows, &cols, &rows);
                int shown = rows - l->image_row;
                if (shown > th - r) shown = th - r;
                ui_image_draw_part(app, e->img, y + r, x, cols, rows, l->image_row, shown);
            }
            continue;
        }
        attrset(attr_for(app, e->kind));
        int cx = x;
        if (e->kind == E_USER && l->s) {
            if (l->first) ui_text(y + r, x, 2, "> ", 2);
            cx += 2;
        }
        if (l->s) ui_text(y + r, cx, w - (cx - x), l->s, l->n);
        attrset(A_NORMAL);
    }
    free(d.v);
    if (s->scroll) {
        char buf[48];
        int n = snprintf(buf, sizeof buf, "[+%d lines]", s->scroll);
        attrset(A_REVERSE);
        ui_text(y + th - 1, x + w - n, n, buf, (size_t)n);
        attrset(A_NORMAL);
    }
    /* separator and input */
    int sy = y + th;
    ui_hline(sy, x, w);
    if (s->in.truncated) ui_text(sy, x + 1, w - 2, " input limit reached ", 21);
    int top = lay.cur_row - in_rows + 1;
    if (top < 0) top = 0;
    /* draw the text rows top..top+in_rows of the wrapped input */
    int row = 0, col = 0;
    size_t i = 0;
    mvaddstr(sy + 1, x, chat_worker_busy(&s->w) ? "\xe2\x80\xa6 " : "> ");
    while (i < s->in.len && row < top + in_rows) {
        uint32_t cp;
        int k = utf8_decode(s->in.buf + i, s->in.len - i, &cp);
        i += (size_t)k;
        if (cp == '\n') {
            row++;
            col = 0;
            continue;
        }
        int cw = cp == '\t' ? 1 : cp_width(cp);
        if (col + cw > iw) {
            row++;
            col = 0;
        }
        if (row >= top && row < top + in_rows) {
            char tmp[4];
            int len = utf8_encode(cp, tmp);
            if (cp < 0x20) mvaddch(sy + 1 + row - top, x + prompt_w + col, cp == '\t' ? ' ' : '?');
            else mvaddnstr(sy + 1 + row - top, x + prompt_w + col, tmp, len);
        }
        col += cw;
    }
    /* the cursor, drawn as a reversed cell */
    int cy = sy + 1 + lay.cur_row - top, cx = x + prompt_w + lay.cur_col;
    if (cy < sy + 1 + in_rows && cx < x + w) {
        cchar_t cc;
        if (mvin_wch(cy, cx, &cc) == OK) {
            cc.attr |= A_REVERSE;
            mvadd_wch(cy, cx, &cc);
        }
    }
}

static void chat_overlay(ui_panel *p, ui_app *app)
{
    chat_state *s = p->st;
    for (int i = 0; i < s->n; i++)
        if (s->e[i].img) ui_image_overlay(app, s->e[i].img);
}

static void chat_status(ui_panel *p, ui_app *app, char *buf, size_t n)
{
    (void)app;
    chat_state *s = p->st;
    if (!s->worker_ok) {
        snprintf(buf, n, " no engine thread");
        return;
    }
    pthread_mutex_lock(&s->w.mu);
    const char *model = s->w.model_path ? s->w.model_path : "no model";
    const char *base = strrchr(model, '/');
    if (base && base[1]) model = base + 1;
    else if (base && base != model) {
        /* a path ending in '/': show the folder name */
        model = s->w.model_path;
    }
    snprintf(buf, n, " %s | %s | %.1f tok/s | ctx %d/%d%s", model, s->backend_desc, s->w.live_tok_s, s->w.ctx_used,
             s->w.ctx_size, s->w.busy ? (s->answering ? " | answering (Esc stops)" : " | working") : "");
    pthread_mutex_unlock(&s->w.mu);
}

static int chat_typing(ui_panel *p)
{
    chat_state *s = p->st;
    return s->in.len > 0;
}

static void chat_destroy(ui_panel *p)
{
    chat_state *s = p->st;
    if (s->worker_ok) chat_worker_destroy(&s->w);
    for (int i = 0; i < s->n; i++) {
        free(s->e[i].text);
        ui_image_free(s->e[i].img);
    }
    free(s->e);
    ui_input_free(&s->in);
    free(s->pending_image);
    free(s);
}

const iris_backend *ui_backend(ui_app *app)
{
    /* the backend choice prints nothing here: the panels say what happened */
    iris_cpu_set_threads(app->mo.threads);
    if (app->mo.device && !strcmp(app->mo.device, "cpu")) return iris_cpu_backend();
    char why[256] = "";
    const iris_backend *be = iris_cuda_backend(why, sizeof why);
    return be ? be : iris_cpu_backend();
}

void ui_chat_use_model(ui_app *app, const char *path)
{
    chat_state *s = app->panels[0].st;
    if (!s) return;
    app->current = 0;
    app->overlay_dirty = 1;
    clearok(curscr, TRUE);
    if (!s->worker_ok || chat_worker_busy(&s->w)) {
        ui_flash(app, "busy: Esc stops the answer, then pick the model again");
        return;
    }
    info(s, E_INFO, "loading %s ...", path);
    submit(s, CW_LOAD, path);
}

void ui_chat_create(ui_panel *p, ui_app *app)
{
    memset(p, 0, sizeof *p);
    p->title = "Chat";
    chat_state *s = calloc(1, sizeof *s);
    if (!s) return;
    p->st = s;
    p->draw = chat_draw;
    p->overlay = chat_overlay;
    p->key = chat_key;
    p->tick = chat_tick;
    p->status = chat_status;
    p->typing = chat_typing;
    p->destroy = chat_destroy;
    s->app = app;
    s->gen = app->mo.gen;
    ui_input_init(&s->in);
    const iris_backend *be = ui_backend(app);
    if (app->mo.device && !strcmp(app->mo.device, "cuda") && strcmp(be->name, "cuda"))
        info(s, E_ERROR, "--device cuda: no usable GPU; using the CPU");
    s->be = be;
    if (!strcmp(be->name, "cuda")) snprintf(s->backend_desc, sizeof s->backend_desc, "cuda %s", iris_cuda_device_name());
    else snprintf(s->backend_desc, sizeof s->backend_desc, "cpu x%d", iris_cpu_threads());
    if (chat_worker_start(&s->w, be, wake_app, app)) {
        info(s, E_ERROR, "%s", iris_last_error());
        return;
    }
    s->worker_ok = 1;
    s->w.n_ctx = app->mo.n_ctx;
    const char *model = app->mo.model ? app->mo.model : cli_default_model();
    if (model) {
        info(s, E_INFO, "loading %s ...", model);
        chat_worker_submit(&s->w, CW_LOAD, model, &s->gen);
    } else {
        info(s, E_INFO, "no model: -m PATH on the command line, /model PATH here, or pick one in Models (F5)");
    }
    info(s, E_INFO, "Enter sends, Alt-Enter new line, Esc stops, ? keys, Ctrl-Q quits");
}

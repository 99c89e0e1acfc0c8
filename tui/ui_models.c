/* ui_models.c — the Models panel: local models (the Hugging Face cache and
 * assets/), details (architecture, parameters, dtype, size), pulling by name
 * with progress bars (hub_pull in a worker thread), deleting with a
 * confirmation, and handing a model to the Chat panel. */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curses.h>

#include "core/error.h"
#include "hub/hub.h"
#include "model_alias.h"
#include "model_info.h"
#include "ui.h"
#include "ui_input.h"

/* "7.2B", "135M", "12k" */
static void plot_format_value_params(int64_t n, char *buf, size_t size)
{
    if (n >= 1000000000) snprintf(buf, size, "%.1fB", n / 1e9);
    else if (n >= 1000000) snprintf(buf, size, "%.1fM", n / 1e6);
    else if (n >= 1000) snprintf(buf, size, "%.1fk", n / 1e3);
    else snprintf(buf, size, "%lld", (long long)n);
}

typedef struct {
    char *name;        /* repo id or folder name */
    char *path;        /* what iris_lm_load takes */
    char *repo;        /* hub models: the repo id, else NULL */
    char source[16];   /* "hub" or "local" */
    char arch[64];
    int64_t size;
    int info_done;
    model_info info;
} model_entry;

enum { MODE_LIST, MODE_PULL_PROMPT, MODE_CONFIRM_DELETE };

#define MAX_SHOWN_FILES 4

typedef struct {
    ui_app *app;
    model_entry *m;
    int n, sel, mode, show_info;
    ui_input prompt;
    char message[1024];
    int message_error;
    /* the pull worker */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    int pulling, pull_finished, pull_rc;
    char pull_name[300];
    char pull_error[512];
    volatile sig_atomic_t cancel;
    int64_t total, done;
    double rate, eta;
    size_t nfiles, files_done;
    struct { char name[128]; int64_t size, done; } files[MAX_SHOWN_FILES];
    int n_files_shown;
} models_state;

static void free_entries(models_state *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->m[i].name);
        free(s->m[i].path);
        free(s->m[i].repo);
    }
    free(s->m);
    s->m = NULL;
    s->n = 0;
}

static void add_entry(models_state *s, const char *name, const char *path, const char *repo, const char *source,
                      const char *arch, int64_t size)
{
    model_entry *m = realloc(s->m, (size_t)(s->n + 1) * sizeof *m);
    if (!m) return;
    s->m = m;
    model_entry *e = &m[s->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->path = strdup(path);
    e->repo = repo ? strdup(repo) : NULL;
    if (!e->name || !e->path) {
        free(e->name);
        free(e->path);
        free(e->repo);
        return;
    }
    snprintf(e->source, sizeof e->source, "%s", source);
    snprintf(e->arch, sizeof e->arch, "%s", arch ? arch : "");
    e->size = size;
    s->n++;
}

/* Folders with a config.json and .gguf files directly in dir. */
static void scan_local(models_state *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[PATH_MAX], cfg[PATH_MAX + 16];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        snprintf(cfg, sizeof cfg, "%s/config.json", p);
        struct stat st;
        size_t len = strlen(de->d_name);
        int gguf = len > 5 && !strcmp(de->d_name + len - 5, ".gguf");
        if (!access(cfg, R_OK) || (gguf && !stat(p, &st) && S_ISREG(st.st_mode))) {
            char real[PATH_MAX];
            const char *path = realpath(p, real) ? real : p;
            int dup = 0;
            for (int i = 0; i < s->n; i++) dup |= !strcmp(s->m[i].path, path);
            if (!dup) add_entry(s, de->d_name, path, NULL, "local", NULL, model_info_disk_size(path));
        }
    }
    closedir(d);
}

static void rescan(models_state *s)
{
    char keep[PATH_MAX] = "";
    if (s->sel < s->n) snprintf(keep, sizeof keep, "%s", s->m[s->sel].path);
    free_entries(s);
    hub_config cfg;
    if (!hub_config_from_env(&cfg)) {
        hub_local_model *lm = NULL;
        size_t n = 0;
        if (!hub_list_models(cfg.cache_dir, &lm, &n)) {
            for (size_t i = 0; i < n; i++) {
                char *rd = hub_repo_dir(cfg.cache_dir, lm[i].repo);
                char *snap = rd ? hub_snapshot_dir(rd, lm[i].commit) : NULL;
                if (snap) {
                    char label[400];
                    snprintf(label, sizeof label, "%s@%s", lm[i].repo, lm[i].revision ? lm[i].revision : "?");
                    add_entry(s, label, snap, lm[i].repo, "hub", lm[i].architecture, lm[i].size);
                }
                free(rd);
                free(snap);
            }
            hub_local_models_free(lm, n);
        }
        hub_config_free(&cfg);
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 32);
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            strcpy(slash, "/../assets");
            scan_local(s, exe);
        }
    }
    scan_local(s, "assets");
    s->sel = 0;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->m[i].path, keep)) s->sel = i;
}

int ui_resolve_model(const char *name, char *out, size_t n)
{
    struct stat st;
    if (!stat(name, &st)) {
        snprintf(out, n, "%s", name);
        return 0;
    }
    model_ref ref;
    if (model_ref_parse(name, &ref)) return -1;
    hub_config cfg;
    int rc = -1;
    if (!hub_config_from_env(&cfg)) {
        char *rd = hub_repo_dir(cfg.cache_dir, ref.repo);
        char commit[41];
        if (rd && hub_read_ref(rd, ref.revision[0] ? ref.revision : "main", commit) == 1) {
            char *snap = hub_snapshot_dir(rd, commit);
            if (snap) {
                snprintf(out, n, "%s", snap);
                rc = 0;
            }
            free(snap);
        } else if (hub_valid_commit(ref.revision) && rd) {
            char *snap = hub_snapshot_dir(rd, ref.revision);
            if (snap && !stat(snap, &st)) {
                snprintf(out, n, "%s", snap);
                rc = 0;
            }
            free(snap);
        }
        if (rc) iris_set_error("%s: not a folder or file, and not in the Hub cache (Models: p pulls it)", name);
        free(rd);
        hub_config_free(&cfg);
    }
    model_ref_free(&ref);
    return rc;
}

/* ---- pulling */

static void on_progress(const hub_progress *p, int final, void *user)
{
    (void)final;
    models_state *s = user;
    pthread_mutex_lock(&s->mu);
    s->total = p->total;
    s->done = p->done;
    s->rate = p->rate;
    s->eta = p->eta;
    s->nfiles = p->nfiles;
    s->files_done = p->files_done;
    s->n_files_shown = 0;
    for (size_t i = 0; i < p->nfiles && s->n_files_shown < MAX_SHOWN_FILES; i++) {
        if (p->files[i].state != HUB_FILE_ACTIVE) continue;
        int k = s->n_files_shown++;
        snprintf(s->files[k].name, sizeof s->files[k].name, "%s", p->files[i].name);
        s->files[k].size = p->files[i].size;
        s->files[k].done = p->files[i].done;
    }
    pthread_mutex_unlock(&s->mu);
    ui_wake(s->app);
}

static void on_message(const char *msg, void *user)
{
    models_state *s = user;
    pthread_mutex_lock(&s->mu);
    snprintf(s->pull_error, sizeof s->pull_error, "%s", msg);
    pthread_mutex_unlock(&s->mu);
    ui_wake(s->app);
}

static void *pull_main(void *arg)
{
    models_state *s = arg;
    model_ref ref;
    hub_config cfg;
    int rc = -1;
    char err[512] = "";
    if (model_ref_parse(s->pull_name, &ref)) {
        snprintf(err, sizeof err, "%s", iris_last_error());
    } else {
        if (hub_config_from_env(&cfg)) {
            snprintf(err, sizeof err, "%s", iris_last_error());
        } else {
            hub_pull_request req = {
                .repo = ref.repo,
                .revision = ref.revision[0] ? ref.revision : NULL,
                .filter = {.include = (const char **)ref.include, .n_include = (size_t)ref.n_include,
                           .exclude = (const char **)ref.exclude, .n_exclude = (size_t)ref.n_exclude},
                .on_progress = on_progress,
                .on_message = on_message,
                .user = s,
                .cancel = &s->cancel,
            };
            hub_pull_result res;
            rc = hub_pull(&cfg, &req, &res);
            if (rc) snprintf(err, sizeof err, "%s", iris_last_error());
            else hub_pull_result_free(&res);
            hub_config_free(&cfg);
        }
        model_ref_free(&ref);
    }
    pthread_mutex_lock(&s->mu);
    s->pull_rc = rc;
    if (rc) snprintf(s->pull_error, sizeof s->pull_error, "%s", err);
    s->pull_finished = 1;
    pthread_mutex_unlock(&s->mu);
    ui_wake(s->app);
    return NULL;
}

static void start_pull(models_state *s, const char *name)
{
    if (s->pulling) return;
    snprintf(s->pull_name, sizeof s->pull_name, "%s", name);
    s->cancel = 0;
    s->pull_finished = 0;
    s->pull_error[0] = 0;
    s->total = s->done = 0;
    s->n_files_shown = 0;
    s->nfiles = s->files_done = 0;
    if (pthread_create(&s->thread, NULL, pull_main, s)) {
        snprintf(s->message, sizeof s->message, "cannot start a download thread");
        s->message_error = 1;
        return;
    }
    s->thread_started = 1;
    s->pulling = 1;
    snprintf(s->message, sizeof s->message, "pulling %s ...", name);
    s->message_error = 0;
}

static void models_tick(ui_panel *p, ui_app *app)
{
    (void)app;
    models_state *s = p->st;
    if (!s->pulling) return;
    pthread_mutex_lock(&s->mu);
    int fin = s->pull_finished, rc = s->pull_rc;
    char err[512];
    snprintf(err, sizeof err, "%s", s->pull_error);
    pthread_mutex_unlock(&s->mu);
    if (!fin) return;
    pthread_join(s->thread, NULL);
    s->thread_started = 0;
    s->pulling = 0;
    if (rc) {
        snprintf(s->message, sizeof s->message, "pull %s failed: %s", s->pull_name, err);
        s->message_error = 1;
    } else {
        snprintf(s->message, sizeof s->message, "pulled %s", s->pull_name);
        s->message_error = 0;
    }
    rescan(s);
}

/* ---- keys */

static void delete_selected(models_state *s)
{
    model_entry *e = &s->m[s->sel];
    if (!e->repo) {
        snprintf(s->message, sizeof s->message, "%s is not in the Hub cache: delete it by hand", e->name);
        s->message_error = 1;
        return;
    }
    hub_config cfg;
    hub_rm_stats st;
    if (hub_config_from_env(&cfg)) {
        snprintf(s->message, sizeof s->message, "%s", iris_last_error());
        s->message_error = 1;
        return;
    }
    if (hub_remove_model(cfg.cache_dir, e->repo, NULL, &st)) {
        snprintf(s->message, sizeof s->message, "delete %s: %s", e->repo, iris_last_error());
        s->message_error = 1;
    } else {
        char b[32];
        hub_format_bytes(st.bytes, b, sizeof b);
        snprintf(s->message, sizeof s->message, "deleted %s (%s freed)", e->repo, b);
        s->message_error = 0;
    }
    hub_config_free(&cfg);
    rescan(s);
}

static int models_key(ui_panel *p, ui_app *app, wint_t ch, int is_key)
{
    models_state *s = p->st;
    if (s->mode == MODE_PULL_PROMPT) {
        if (is_key) {
            if (ch == KEY_BACKSPACE) ui_input_backspace(&s->prompt);
            else if (ch == KEY_LEFT) ui_input_left(&s->prompt);
            else if (ch == KEY_RIGHT) ui_input_right(&s->prompt);
            else if (ch == KEY_ENTER) goto enter;
            return 1;
        }
        if (ch == 27 || ch == 3) {
            s->mode = MODE_LIST;
        } else if (ch == '\r' || ch == '\n') {
        enter:;
            char *name = ui_input_take(&s->prompt);
            s->mode = MODE_LIST;
            if (name && name[0]) start_pull(s, name);
            free(name);
        } else if (ch == 127 || ch == 8) {
            ui_input_backspace(&s->prompt);
        } else if (ch >= 0x20) {
            ui_input_insert_cp(&s->prompt, (uint32_t)ch);
        }
        return 1;
    }
    if (s->mode == MODE_CONFIRM_DELETE) {
        s->mode = MODE_LIST;
        if (!is_key && (ch == 'y' || ch == 'Y') && s->sel < s->n) delete_selected(s);
        else snprintf(s->message, sizeof s->message, "not deleted");
        return 1;
    }
    if (is_key) {
        if (ch == KEY_UP && s->sel > 0) s->sel--;
        else if (ch == KEY_DOWN && s->sel + 1 < s->n) s->sel++;
        else if (ch == KEY_ENTER) goto use;
        else return 0;
        return 1;
    }
    switch (ch) {
    case 'p':
        if (s->pulling) {
            snprintf(s->message, sizeof s->message, "a pull is running (Esc cancels it)");
            break;
        }
        s->mode = MODE_PULL_PROMPT;
        ui_input_clear(&s->prompt);
        break;
    case 27: case 3:
        if (s->pulling) {
            s->cancel = 1;
            snprintf(s->message, sizeof s->message, "cancelling (partial files are kept and resumed)");
        }
        break;
    case 'd':
        if (s->sel < s->n) s->mode = MODE_CONFIRM_DELETE;
        break;
    case 'i':
        s->show_info = !s->show_info;
        break;
    case 'g': case 'R':
        rescan(s);
        break;
    case '\r':
    use:
        if (s->sel < s->n) {
            ui_chat_use_model(app, s->m[s->sel].path);
        }
        break;
    default: return 0;
    }
    return 1;
}

/* ---- drawing */

static void bar(int y, int x, int w, int64_t done, int64_t total, ui_app *app)
{
    if (w < 3) return;
    double f = total > 0 ? (double)done / total : 0;
    if (f > 1) f = 1;
    int eighths = (int)(f * (w - 2) * 8);
    mvaddstr(y, x, "[");
    for (int i = 0; i < w - 2; i++) {
        int e = eighths - i * 8;
        const char *c = " ";
        static const char *const part[8] = {" ", "\xe2\x96\x8f", "\xe2\x96\x8e", "\xe2\x96\x8d",
                                            "\xe2\x96\x8c", "\xe2\x96\x8b", "\xe2\x96\x8a", "\xe2\x96\x89"};
        if (e >= 8) c = "\xe2\x96\x88";
        else if (e > 0) c = part[e];
        if (app->has_color) attron(COLOR_PAIR(UI_C_SERIES0 + 3));
        mvaddstr(y, x + 1 + i, c);
        if (app->has_color) attroff(COLOR_PAIR(UI_C_SERIES0 + 3));
    }
    mvaddstr(y, x + w - 1, "]");
}

static void models_draw(ui_panel *p, ui_app *app, int y, int x, int h, int w)
{
    models_state *s = p->st;
    int row = y;
    attron(A_BOLD);
    char head[256];
    snprintf(head, sizeof head, "%-*s %9s  %s", w > 60 ? 40 : w / 2, "model", "size", "architecture");
    ui_text(row++, x + 1, w - 2, head, strlen(head));
    attroff(A_BOLD);
    /* the progress block and the message take the bottom rows */
    int bottom = 1 + (s->pulling ? 2 + s->n_files_shown : 0) + (s->mode != MODE_LIST) + (s->show_info ? 5 : 0);
    int list_h = h - 1 - bottom;
    if (list_h < 1) list_h = 1;
    int top = s->sel >= list_h ? s->sel - list_h + 1 : 0;
    if (!s->n) {
        const char *msg = "no local models: p pulls one from the Hub (e.g. llava-hf/llava-1.5-7b-hf)";
        ui_text(row, x + 1, w - 2, msg, strlen(msg));
    }
    for (int i = top; i < s->n && row < y + 1 + list_h; i++, row++) {
        model_entry *e = &s->m[i];
        char sz[32], line[512];
        hub_format_bytes(e->size, sz, sizeof sz);
        snprintf(line, sizeof line, "%-*s %9s  %s%s", w > 60 ? 40 : w / 2, e->name, sz, e->arch,
                 e->repo ? "" : " (local)");
        if (i == s->sel) attron(A_REVERSE);
        ui_blank(row, x, 1, w);
        ui_text(row, x + 1, w - 2, line, strlen(line));
        attroff(A_REVERSE);
    }
    row = y + 1 + list_h;
    if (s->show_info && s->sel < s->n) {
        model_entry *e = &s->m[s->sel];
        if (!e->info_done) {
            model_info_get(e->path, &e->info);
            e->info_done = 1;
        }
        char l[4][512];
        char sz[32];
        hub_format_bytes(e->info.bytes, sz, sizeof sz);
        snprintf(l[0], sizeof l[0], "path: %s", e->path);
        snprintf(l[1], sizeof l[1], "architecture: %s%s", e->info.arch[0] ? e->info.arch : "?",
                 e->info.has_vision ? " (vision)" : "");
        if (e->info.params >= 0) {
            char pc[32];
            plot_format_value_params(e->info.params, pc, sizeof pc);
            snprintf(l[2], sizeof l[2], "parameters: %s in %d tensors, dtype %s", pc, e->info.n_tensors, e->info.dtype);
        } else {
            snprintf(l[2], sizeof l[2], "parameters: ? (%s)", e->info.error);
        }
        snprintf(l[3], sizeof l[3], "size on disk: %s", sz);
        ui_hline(row++, x, w);
        for (int k = 0; k < 4; k++) ui_text(row++, x + 1, w - 2, l[k], strlen(l[k]));
    }
    if (s->pulling) {
        pthread_mutex_lock(&s->mu);
        char d[32], t[32], r[32], eta[32], line[512];
        hub_format_bytes(s->done, d, sizeof d);
        hub_format_bytes(s->total, t, sizeof t);
        hub_format_rate(s->rate, r, sizeof r);
        hub_format_eta(s->eta, eta, sizeof eta);
        int pct = s->total > 0 ? (int)(100.0 * s->done / s->total) : 0;
        snprintf(line, sizeof line, "%s  %s / %s  %d%%  %s  ETA %s  files %zu/%zu", s->pull_name, d, t, pct, r, eta,
                 s->files_done, s->nfiles);
        ui_text(row++, x + 1, w - 2, line, strlen(line));
        bar(row++, x + 1, w - 2, s->done, s->total, app);
        for (int k = 0; k < s->n_files_shown; k++) {
            int nw = w / 3;
            ui_text(row, x + 3, nw, s->files[k].name, strlen(s->files[k].name));
            bar(row, x + 3 + nw, w - nw - 5, s->files[k].done, s->files[k].size, app);
            row++;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (s->mode == MODE_PULL_PROMPT) {
        const char *lab = "pull (ORG/NAME[@REV] or alias): ";
        int lw = ui_text(row, x + 1, w - 2, lab, strlen(lab));
        ui_text(row, x + 1 + lw, w - 2 - lw, s->prompt.buf ? s->prompt.buf : "", s->prompt.len);
        mvaddch(row, x + 1 + lw + (int)s->prompt.len < x + w ? x + 1 + lw + (int)s->prompt.len : x + w - 1,
                ' ' | A_REVERSE);
        row++;
    } else if (s->mode == MODE_CONFIRM_DELETE && s->sel < s->n) {
        char q[512];
        snprintf(q, sizeof q, "delete %s and its files? y/n", s->m[s->sel].name);
        attron(A_BOLD);
        ui_text(row++, x + 1, w - 2, q, strlen(q));
        attroff(A_BOLD);
    }
    if (s->message[0] && row < y + h) {
        if (app->has_color && s->message_error) attron(COLOR_PAIR(UI_C_ERROR));
        ui_text(y + h - 1, x + 1, w - 2, s->message, strlen(s->message));
        attrset(A_NORMAL);
    }
}

static void models_status(ui_panel *p, ui_app *app, char *buf, size_t n)
{
    (void)app;
    models_state *s = p->st;
    snprintf(buf, n, " Models | %d local | Enter use in Chat  p pull  d delete  i details  g refresh%s", s->n,
             s->pulling ? "  Esc cancel pull" : "");
}

static int models_typing(ui_panel *p)
{
    models_state *s = p->st;
    return s->mode == MODE_PULL_PROMPT;
}

static void models_destroy(ui_panel *p)
{
    models_state *s = p->st;
    if (s->thread_started) {
        s->cancel = 1;
        pthread_join(s->thread, NULL);
    }
    free_entries(s);
    ui_input_free(&s->prompt);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void ui_models_create(ui_panel *p, ui_app *app)
{
    memset(p, 0, sizeof *p);
    p->title = "Models";
    models_state *s = calloc(1, sizeof *s);
    if (!s) return;
    p->st = s;
    s->app = app;
    pthread_mutex_init(&s->mu, NULL);
    ui_input_init(&s->prompt);
    p->draw = models_draw;
    p->key = models_key;
    p->tick = models_tick;
    p->status = models_status;
    p->typing = models_typing;
    p->destroy = models_destroy;
    rescan(s);
}

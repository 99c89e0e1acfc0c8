/* cmd_pull.c — `iris pull`: download a model from the Hugging Face Hub into the
 * shared cache, with progress redrawn in place on a terminal and as periodic
 * plain lines otherwise. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "commands.h"
#include "core/error.h"
#include "hub/hub.h"
#include "model_alias.h"

#define MAX_GLOBS 64
#define MAX_SHOWN 6

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { (void)sig; interrupted = 1; }

typedef struct {
    int tty, quiet, drawn, width;
    double interval, last_line;
    hub_file_state *seen;   /* last state printed per file (plain mode) */
    size_t nseen;
} view;

static void usage(FILE *f)
{
    fprintf(f, "usage: iris pull ORG/NAME[@REVISION] | ALIAS[@REVISION] [--include GLOB]... [--exclude GLOB]... [--quiet]\n"
               "Downloads a model from the Hugging Face Hub into the shared cache\n"
               "($HF_HUB_CACHE or $HF_HOME/hub); aliases come from config/models.ini.\n");
}

static void clear_block(view *v)
{
    if (!v->tty || !v->drawn) return;
    printf("\033[%dA\r\033[J", v->drawn);
    v->drawn = 0;
    fflush(stdout);
}

static void on_message(const char *msg, void *user)
{
    view *v = user;
    clear_block(v);
    fprintf(stderr, "iris pull: %s\n", msg);
}

static void total_line(const hub_progress *p, char *buf, size_t n, int width)
{
    char name[96];
    if (p->done >= p->total && p->verified < p->total)
        snprintf(name, sizeof name, "total (%zu/%zu files, verifying %d%%)", p->files_done, p->nfiles,
                 (int)(100.0 * p->verified / (p->total ? p->total : 1)));
    else
        snprintf(name, sizeof name, "total (%zu/%zu files)", p->files_done, p->nfiles);
    hub_format_progress_line(name, p->done, p->total, p->rate, buf, n, width);
}

/* Lines must not wrap, or moving the cursor up would not find the block again. */
static int terminal_width(void)
{
    struct winsize ws;
    int w = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col - 1 : 99;
    return w < 40 ? 40 : w > 140 ? 140 : w;
}

static void draw_tty(view *v, const hub_progress *p, int final)
{
    clear_block(v);
    v->width = terminal_width();
    char line[512];
    int shown = 0;
    for (size_t i = 0; i < p->nfiles && !final && shown < MAX_SHOWN; i++) {
        const hub_file_progress *f = &p->files[i];
        if (f->state != HUB_FILE_ACTIVE) continue;
        char name[300];
        if (f->done >= f->size && f->verified < f->size)
            snprintf(name, sizeof name, "%.200s [verifying %d%%]", f->name, (int)(100.0 * f->verified / f->size));
        else
            snprintf(name, sizeof name, "%.200s", f->name);
        hub_format_progress_line(name, f->done, f->size, f->rate, line, sizeof line, v->width);
        printf("%s\n", line);
        shown++;
    }
    total_line(p, line, sizeof line, v->width);
    printf("%s\n", line);
    v->drawn = final ? 0 : shown + 1;
    fflush(stdout);
}

static void draw_plain(view *v, const hub_progress *p, int final)
{
    if (v->seen && v->nseen == p->nfiles) {
        for (size_t i = 0; i < p->nfiles; i++) {
            const hub_file_progress *f = &p->files[i];
            if (f->state == v->seen[i]) continue;
            char b[32];
            hub_format_bytes(f->size, b, sizeof b);
            if (f->state == HUB_FILE_DONE) printf("fetched  %s (%s)\n", f->name, b);
            else if (f->state == HUB_FILE_CACHED) printf("cached   %s (%s)\n", f->name, b);
            v->seen[i] = f->state;
        }
    }
    if (final || p->elapsed - v->last_line >= v->interval) {
        char line[512];
        total_line(p, line, sizeof line, 90);
        printf("%s\n", line);
        v->last_line = p->elapsed;
    }
    fflush(stdout);
}

static void on_progress(const hub_progress *p, int final, void *user)
{
    view *v = user;
    if (v->quiet) return;
    if (!v->seen && p->nfiles) {
        v->seen = calloc(p->nfiles, sizeof *v->seen);
        v->nseen = v->seen ? p->nfiles : 0;
        for (size_t i = 0; i < v->nseen; i++) v->seen[i] = HUB_FILE_QUEUED;
    }
    if (v->tty) draw_tty(v, p, final);
    else draw_plain(v, p, final);
}

int cmd_pull(int argc, char **argv)
{
    const char *name = NULL;
    const char *inc[MAX_GLOBS], *exc[MAX_GLOBS];
    size_t ninc = 0, nexc = 0;
    view v = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if ((!strcmp(a, "--include") || !strcmp(a, "--exclude")) && i + 1 < argc) {
            int is_inc = a[2] == 'i';
            if ((is_inc ? ninc : nexc) >= MAX_GLOBS) { fprintf(stderr, "iris pull: too many patterns\n"); return 2; }
            if (is_inc) inc[ninc++] = argv[++i];
            else exc[nexc++] = argv[++i];
        } else if (!strncmp(a, "--include=", 10)) {
            if (ninc >= MAX_GLOBS) { fprintf(stderr, "iris pull: too many patterns\n"); return 2; }
            inc[ninc++] = a + 10;
        } else if (!strncmp(a, "--exclude=", 10)) {
            if (nexc >= MAX_GLOBS) { fprintf(stderr, "iris pull: too many patterns\n"); return 2; }
            exc[nexc++] = a + 10;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            v.quiet = 1;
        } else if (a[0] == '-' || name) {
            fprintf(stderr, "iris pull: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            name = a;
        }
    }
    if (!name) { usage(stderr); return 2; }

    model_ref ref;
    if (model_ref_parse(name, &ref) != 0) {
        fprintf(stderr, "iris pull: %s\n", iris_last_error());
        return 2;
    }
    /* Patterns on the command line replace the alias's defaults. */
    if (!ninc) for (int i = 0; i < ref.n_include && ninc < MAX_GLOBS; i++) inc[ninc++] = ref.include[i];
    if (!nexc) for (int i = 0; i < ref.n_exclude && nexc < MAX_GLOBS; i++) exc[nexc++] = ref.exclude[i];

    hub_config cfg;
    if (hub_config_from_env(&cfg) != 0) {
        fprintf(stderr, "iris pull: %s\n", iris_last_error());
        model_ref_free(&ref);
        return 1;
    }
    v.tty = isatty(STDOUT_FILENO);
    const char *iv = getenv("IRIS_PROGRESS_INTERVAL");
    v.interval = iv && atof(iv) > 0 ? atof(iv) : 5.0;

    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    hub_pull_request req = {
        .repo = ref.repo,
        .revision = ref.revision[0] ? ref.revision : NULL,
        .filter = {.include = inc, .n_include = ninc, .exclude = exc, .n_exclude = nexc},
        .on_progress = on_progress,
        .on_message = on_message,
        .user = &v,
        .cancel = &interrupted,
    };
    hub_pull_result res;
    int rc = hub_pull(&cfg, &req, &res);
    clear_block(&v);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    const char *rev = req.revision ? req.revision : "main";
    if (rc != 0) {
        fprintf(stderr, "iris pull: %s\n", iris_last_error());
    } else {
        char total[32], got[32];
        hub_format_bytes(res.total_bytes, total, sizeof total);
        hub_format_bytes(res.transferred, got, sizeof got);
        if (cfg.offline)
            printf("%s@%s (commit %.7s) is in the cache: %zu files (offline)\n", ref.repo, rev, res.commit, res.nfiles);
        else
            printf("pulled %s@%s (commit %.7s): %zu files, %s, %s downloaded, %zu already cached\n", ref.repo, rev,
                   res.commit, res.nfiles, total, got, res.files_cached);
        printf("snapshot: %s\n", res.snapshot_dir ? res.snapshot_dir : "");
    }
    hub_pull_result_free(&res);
    hub_config_free(&cfg);
    model_ref_free(&ref);
    free(v.seen);
    return rc == 0 ? 0 : 1;
}

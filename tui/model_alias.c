/* model_alias.c — resolves model names through config/models.ini (inih). */
#include "model_alias.h"

#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

static char alias_path[PATH_MAX];

const char *model_alias_file(void)
{
    const char *env = getenv("IRIS_MODELS_INI");
    if (env && *env) return access(env, R_OK) == 0 ? env : NULL;
    char exe[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(alias_path, sizeof alias_path, "%s/../config/models.ini", exe);
            if (access(alias_path, R_OK) == 0) return alias_path;
        }
    }
    snprintf(alias_path, sizeof alias_path, "config/models.ini");
    return access(alias_path, R_OK) == 0 ? alias_path : NULL;
}

typedef struct {
    const char *want;
    model_ref *out;
    int found, oom;
} alias_ctx;

static int add_globs(char **dst, int *n, const char *value, int *oom)
{
    char *copy = strdup(value);
    if (!copy) { *oom = 1; return 0; }
    for (char *save = NULL, *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        if (*n >= MODEL_ALIAS_MAX_GLOBS) break;
        if (!(dst[*n] = strdup(tok))) { *oom = 1; break; }
        (*n)++;
    }
    free(copy);
    return 1;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    alias_ctx *c = user;
    if (strcmp(section, c->want)) return 1;
    c->found = 1;
    if (!strcmp(name, "repo")) snprintf(c->out->repo, sizeof c->out->repo, "%s", value);
    else if (!strcmp(name, "revision")) snprintf(c->out->revision, sizeof c->out->revision, "%s", value);
    else if (!strcmp(name, "include")) add_globs(c->out->include, &c->out->n_include, value, &c->oom);
    else if (!strcmp(name, "exclude")) add_globs(c->out->exclude, &c->out->n_exclude, value, &c->oom);
    return 1;
}

int model_ref_parse(const char *arg, model_ref *out)
{
    memset(out, 0, sizeof *out);
    char name[300];
    if (!arg || !*arg || strlen(arg) >= sizeof name) {
        iris_set_error("'%s': not a model name", arg ? arg : "");
        return -1;
    }
    snprintf(name, sizeof name, "%s", arg);
    char *at = strchr(name, '@');
    if (at) {
        *at = 0;
        snprintf(out->revision, sizeof out->revision, "%s", at + 1);
        if (!out->revision[0]) { iris_set_error("'%s': empty revision after '@'", arg); return -1; }
    }
    if (strchr(name, '/')) {
        snprintf(out->repo, sizeof out->repo, "%s", name);
        return 0;
    }
    const char *file = model_alias_file();
    if (!file) {
        iris_set_error("'%s': not ORG/NAME, and no models.ini to look the alias up in", name);
        return -1;
    }
    char rev_given[sizeof out->revision];
    snprintf(rev_given, sizeof rev_given, "%s", out->revision);
    alias_ctx c = {.want = name, .out = out};
    int r = ini_parse(file, on_entry, &c);
    if (r != 0) {
        iris_set_error("%s: %s", file, r > 0 ? "syntax error" : "cannot read");
        model_ref_free(out);
        return -1;
    }
    if (c.oom) { iris_set_error("alias: out of memory"); model_ref_free(out); return -1; }
    if (!c.found || !out->repo[0]) {
        iris_set_error("'%s': not ORG/NAME and not an alias in %s", name, file);
        model_ref_free(out);
        return -1;
    }
    if (rev_given[0]) snprintf(out->revision, sizeof out->revision, "%s", rev_given);
    snprintf(out->alias, sizeof out->alias, "%s", name);
    return 0;
}

void model_ref_free(model_ref *r)
{
    for (int i = 0; i < r->n_include; i++) free(r->include[i]);
    for (int i = 0; i < r->n_exclude; i++) free(r->exclude[i]);
    r->n_include = r->n_exclude = 0;
}

/* hub_env.c — the Hub client's settings, read from the same environment
 * variables huggingface_hub uses (plus IRIS_HUB_* knobs for tuning and tests). */
#include "hub.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static char *dup_or_fail(const char *s)
{
    char *d = strdup(s);
    if (!d) iris_set_error("hub: out of memory");
    return d;
}

static char *join2(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (!s) { iris_set_error("hub: out of memory"); return NULL; }
    snprintf(s, n, "%s%s", a, b);
    return s;
}

static int env_true(const char *name)
{
    const char *v = getenv(name);
    if (!v) return 0;
    return !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on");
}

static double env_double(const char *name, double def, double lo)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !isfinite(d) || d < lo) return def;   /* "nan", "inf": not a setting */
    return d;
}

/* Reads a token file: the first line, surrounding white space removed. */
static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[4096];
    char *tok = NULL;
    if (fgets(line, sizeof line, f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
        if (n) tok = strdup(s);
    }
    memset(line, 0, sizeof line);
    fclose(f);
    return tok;
}

int hub_config_from_env(hub_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const char *ep = getenv("HF_ENDPOINT");
    if (!ep || !*ep) ep = "https://huggingface.co";
    if (!(cfg->endpoint = dup_or_fail(ep))) goto fail;
    size_t n = strlen(cfg->endpoint);
    while (n > 0 && cfg->endpoint[n - 1] == '/') cfg->endpoint[--n] = 0;

    const char *home = getenv("HF_HOME");
    char *hf_home = NULL;
    if (home && *home) hf_home = dup_or_fail(home);
    else {
        const char *xdg = getenv("XDG_CACHE_HOME");
        const char *uh = getenv("HOME");
        if (xdg && *xdg) hf_home = join2(xdg, "/huggingface");
        else hf_home = join2(uh && *uh ? uh : ".", "/.cache/huggingface");
    }
    if (!hf_home) goto fail;
    const char *hc = getenv("HF_HUB_CACHE");
    if (!hc || !*hc) hc = getenv("HUGGINGFACE_HUB_CACHE");
    cfg->cache_dir = hc && *hc ? dup_or_fail(hc) : join2(hf_home, "/hub");
    if (!cfg->cache_dir) { free(hf_home); goto fail; }

    const char *tok = getenv("HF_TOKEN");
    if (!tok || !*tok) tok = getenv("HUGGING_FACE_HUB_TOKEN");
    if (tok && *tok) {
        if (!(cfg->token = dup_or_fail(tok))) { free(hf_home); goto fail; }
    } else {
        const char *tp = getenv("HF_TOKEN_PATH");
        char *path = tp && *tp ? dup_or_fail(tp) : join2(hf_home, "/token");
        if (path) { cfg->token = read_token_file(path); free(path); }
    }
    free(hf_home);

    cfg->offline = env_true("HF_HUB_OFFLINE");
    cfg->stall_timeout = env_double("IRIS_HUB_STALL_TIMEOUT", 30, 1);
    cfg->max_retries = (int)env_double("IRIS_HUB_RETRIES", 8, 0);
    cfg->connections = (int)env_double("IRIS_HUB_CONNECTIONS", 8, 1);
    if (cfg->connections > 64) cfg->connections = 64;
    cfg->split_parts = (int)env_double("IRIS_HUB_SPLIT_PARTS", 4, 1);
    if (cfg->split_parts > 32) cfg->split_parts = 32;
    cfg->split_min = (int64_t)env_double("IRIS_HUB_SPLIT_MIN", 64.0 * 1024 * 1024, 1);
    cfg->backoff_base = env_double("IRIS_HUB_BACKOFF", 0.5, 0);
    cfg->split_probe = env_double("IRIS_HUB_SPLIT_PROBE", 0.5, 0);
    cfg->hash_buffer = (size_t)env_double("IRIS_HUB_HASH_BUFFER", 16.0 * 1024 * 1024, 64 * 1024);
    if (cfg->hash_buffer > ((size_t)1 << 30)) cfg->hash_buffer = (size_t)1 << 30;
    return 0;
fail:
    hub_config_free(cfg);
    return -1;
}

void hub_config_free(hub_config *cfg)
{
    free(cfg->endpoint);
    free(cfg->cache_dir);
    if (cfg->token) {
        memset(cfg->token, 0, strlen(cfg->token));
        free(cfg->token);
    }
    memset(cfg, 0, sizeof *cfg);
}

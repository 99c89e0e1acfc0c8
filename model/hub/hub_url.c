/* hub_url.c — names, URLs and file filters of the Hub protocol.  Pure functions:
 * everything that decides which bytes go where (and what must be refused) is
 * here, where unit tests can reach it. */
#include "hub.h"

#include <ctype.h>
#include <curl/curl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

static int name_char(int c) { return isalnum(c) || c == '-' || c == '_' || c == '.'; }

static int valid_name_part(const char *s, size_t n)
{
    if (n == 0 || n > 96) return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i])) return 0;
    if (s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '.' && s[i + 1] == '.') return 0;
    return 1;
}

int hub_valid_repo_id(const char *repo)
{
    if (!repo) return 0;
    const char *slash = strchr(repo, '/');
    if (!slash || strchr(slash + 1, '/')) return 0;
    return valid_name_part(repo, (size_t)(slash - repo)) && valid_name_part(slash + 1, strlen(slash + 1));
}

/* Path components: none empty, none "." or "..", no '\\', no control bytes. */
static int safe_components(const char *p)
{
    if (!p || !*p || p[0] == '/' || strlen(p) > 1024) return 0;
    for (const unsigned char *s = (const unsigned char *)p; *s; s++)
        if (*s < 0x20 || *s == 0x7f || *s == '\\') return 0;
    const char *c = p;
    for (;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0) return 0;
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return 0;
        if (!e) return 1;
        c = e + 1;
    }
}

int hub_valid_revision(const char *rev)
{
    if (!safe_components(rev) || strlen(rev) > 256) return 0;
    for (const char *s = rev; *s; s++)
        if (*s == ' ' || *s == '~' || *s == '^' || *s == ':' || *s == '?' || *s == '*' || *s == '[')
            return 0;
    return 1;
}

static int lower_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int hub_valid_commit(const char *commit) { return lower_hex(commit, 40); }
int hub_valid_etag(const char *etag) { return lower_hex(etag, 40) || lower_hex(etag, 64); }

int hub_safe_relpath(const char *path) { return safe_components(path); }

char *hub_url_escape(const char *s, int keep_slash)
{
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    if (!out) { iris_set_error("hub: out of memory"); return NULL; }
    static const char hex[] = "0123456789ABCDEF";
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = 0;
    return out;
}

static char *format_url(const char *fmt, const char *a, const char *b, const char *c, const char *d)
{
    int n = snprintf(NULL, 0, fmt, a, b, c, d);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) { iris_set_error("hub: out of memory"); return NULL; }
    snprintf(s, (size_t)n + 1, fmt, a, b, c, d);
    return s;
}

char *hub_api_url(const char *endpoint, const char *repo, const char *rev)
{
    char *r = hub_url_escape(rev, 0);
    if (!r) return NULL;
    char *u = format_url("%s/api/models/%s/revision/%s%s", endpoint, repo, r, "?blobs=true");
    free(r);
    return u;
}

char *hub_resolve_url(const char *endpoint, const char *repo, const char *rev, const char *file)
{
    char *r = hub_url_escape(rev, 0);
    char *f = hub_url_escape(file, 1);
    char *u = r && f ? format_url("%s/%s/resolve/%s/%s", endpoint, repo, r, f) : NULL;
    free(r);
    free(f);
    return u;
}

/* scheme://host:port of an absolute URL, lower-cased; NULL when it does not parse. */
static char *origin_of(const char *url)
{
    CURLU *u = curl_url();
    if (!u) return NULL;
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t n = strlen(scheme) + strlen(host) + strlen(port) + 5;
        out = malloc(n);
        if (out) {
            snprintf(out, n, "%s://%s:%s", scheme, host, port);
            for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

int hub_same_origin(const char *a, const char *b)
{
    char *oa = origin_of(a), *ob = origin_of(b);
    int same = oa && ob && !strcmp(oa, ob);
    free(oa);
    free(ob);
    return same;
}

static int pattern_matches(const char *pat, const char *path)
{
    size_t n = strlen(pat);
    if (n > 0 && pat[n - 1] == '/') {
        /* "folder/" selects everything below it, as huggingface_hub does. */
        char buf[1100];
        if (n + 2 > sizeof buf) return 0;
        snprintf(buf, sizeof buf, "%s*", pat);
        return fnmatch(buf, path, 0) == 0;
    }
    return fnmatch(pat, path, 0) == 0;
}

int hub_filter_accepts(const hub_filter *f, const char *path)
{
    if (!f) return 1;
    if (f->n_include) {
        int any = 0;
        for (size_t i = 0; i < f->n_include && !any; i++) any = pattern_matches(f->include[i], path);
        if (!any) return 0;
    }
    for (size_t i = 0; i < f->n_exclude; i++)
        if (pattern_matches(f->exclude[i], path)) return 0;
    return 1;
}

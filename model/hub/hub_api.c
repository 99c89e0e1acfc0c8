/* hub_api.c — the file list of one revision, from the Hub's JSON API:
 * GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true gives the commit
 * ("sha") and siblings[] with rfilename, size, blobId and, for LFS files,
 * lfs.sha256.  The etag a file is stored under is lfs.sha256 or blobId. */
#include "hub.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/error.h"

void hub_file_list_free(hub_file_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->files[i].rfilename);
        free(l->files[i].etag);
    }
    free(l->files);
    memset(l, 0, sizeof *l);
}

static int json_size(const cJSON *o, int64_t *out)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "size");
    if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 9.0e15) return 0;
    *out = (int64_t)s->valuedouble;
    return (double)*out == s->valuedouble;
}

int hub_parse_file_list(const char *json, size_t len, hub_file_list *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) { iris_set_error("hub API: the answer is not JSON"); return -1; }
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(root, "sha");
    const cJSON *sib = cJSON_GetObjectItemCaseSensitive(root, "siblings");
    if (!cJSON_IsString(sha) || !hub_valid_commit(sha->valuestring)) {
        iris_set_error("hub API: the answer has no commit hash (\"sha\")");
        goto fail;
    }
    memcpy(out->commit, sha->valuestring, 41);
    if (!cJSON_IsArray(sib)) { iris_set_error("hub API: the answer has no file list (\"siblings\")"); goto fail; }
    int n = cJSON_GetArraySize(sib);
    out->files = calloc(n > 0 ? (size_t)n : 1, sizeof *out->files);
    if (!out->files) { iris_set_error("hub API: out of memory"); goto fail; }
    const cJSON *it;
    cJSON_ArrayForEach(it, sib) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "rfilename");
        if (!cJSON_IsString(name)) { iris_set_error("hub API: a file without a name"); goto fail; }
        const char *fn = name->valuestring;
        if (!hub_safe_relpath(fn)) {
            iris_set_error("hub API: refusing file name '%.200s': it would leave the cache directory", fn);
            goto fail;
        }
        hub_file_entry *e = &out->files[out->n];
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(it, "lfs");
        const char *etag = NULL;
        if (cJSON_IsObject(lfs)) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(lfs, "sha256");
            etag = cJSON_IsString(s) ? s->valuestring : NULL;
            e->lfs = 1;
            if (!json_size(lfs, &e->size) && !json_size(it, &e->size)) {
                iris_set_error("hub API: %s: no size", fn);
                goto fail;
            }
        } else {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "blobId");
            etag = cJSON_IsString(b) ? b->valuestring : NULL;
            if (!json_size(it, &e->size)) { iris_set_error("hub API: %s: no size", fn); goto fail; }
        }
        if (!etag || !hub_valid_etag(etag)) {
            iris_set_error("hub API: %s: no valid %s", fn, e->lfs ? "lfs.sha256" : "blobId");
            goto fail;
        }
        if ((e->lfs && strlen(etag) != 64) || (!e->lfs && strlen(etag) != 40)) {
            iris_set_error("hub API: %s: hash of the wrong length", fn);
            goto fail;
        }
        for (size_t j = 0; j < out->n; j++)
            if (!strcmp(out->files[j].rfilename, fn)) {
                iris_set_error("hub API: %s listed twice", fn);
                goto fail;
            }
        e->rfilename = strdup(fn);
        e->etag = strdup(etag);
        out->n++;
        if (!e->rfilename || !e->etag) { iris_set_error("hub API: out of memory"); goto fail; }
    }
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    hub_file_list_free(out);
    return -1;
}

typedef struct {
    char *data;
    size_t len, cap;
    char error_code[64];
    char retry_after[64];
} http_reply;

static size_t body_cb(char *p, size_t sz, size_t nm, void *user)
{
    http_reply *r = user;
    size_t n = sz * nm;
    if (r->len + n + 1 > (64u << 20)) return 0;   /* a file list is never this big */
    if (r->len + n + 1 > r->cap) {
        size_t cap = (r->len + n + 1) * 2;
        char *d = realloc(r->data, cap);
        if (!d) return 0;
        r->data = d;
        r->cap = cap;
    }
    memcpy(r->data + r->len, p, n);
    r->len += n;
    r->data[r->len] = 0;
    return n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t outsize)
{
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) || line[k] != ':') return;
    const char *v = line + k + 1;
    size_t m = n - k - 1;
    while (m && (*v == ' ' || *v == '\t')) { v++; m--; }
    while (m && (v[m - 1] == '\r' || v[m - 1] == '\n' || v[m - 1] == ' ')) m--;
    if (m >= outsize) m = outsize - 1;
    memcpy(out, v, m);
    out[m] = 0;
}

static size_t header_cb(char *p, size_t sz, size_t nm, void *user)
{
    http_reply *r = user;
    size_t n = sz * nm;
    header_value(p, n, "X-Error-Code", r->error_code, sizeof r->error_code);
    header_value(p, n, "Retry-After", r->retry_after, sizeof r->retry_after);
    return n;
}

static void sleep_seconds(double s)
{
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

int hub_fetch_file_list(const hub_config *cfg, const char *repo, const char *rev, hub_file_list *out)
{
    memset(out, 0, sizeof *out);
    char *url = hub_api_url(cfg->endpoint, repo, rev);
    if (!url) return -1;
    CURL *c = curl_easy_init();
    struct curl_slist *auth = NULL;
    char *auth_line = NULL;
    http_reply r = {0};
    int rc = -1;
    char errbuf[CURL_ERROR_SIZE];
    if (!c) { iris_set_error("hub: curl_easy_init failed"); goto out; }
    if (cfg->token) {
        size_t n = strlen(cfg->token) + 32;
        auth_line = malloc(n);
        if (!auth_line) { iris_set_error("hub: out of memory"); goto out; }
        snprintf(auth_line, n, "Authorization: Bearer %s", cfg->token);
        if (!(auth = curl_slist_append(NULL, auth_line))) { iris_set_error("hub: out of memory"); goto out; }
    }
    for (int attempt = 0;; attempt++) {
        free(r.data);
        memset(&r, 0, sizeof r);
        errbuf[0] = 0;
        CURLcode e = CURLE_OK;
        long connect_to = (long)(cfg->stall_timeout * 1000);
        if ((e = curl_easy_setopt(c, CURLOPT_URL, url)) ||
            (e = curl_easy_setopt(c, CURLOPT_HTTPHEADER, auth)) ||
            (e = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L)) ||
            (e = curl_easy_setopt(c, CURLOPT_USERAGENT, "iris/0.1")) ||
            (e = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L)) ||
            (e = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf)) ||
            (e = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_to)) ||
            (e = curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L)) ||
            (e = curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)cfg->stall_timeout)) ||
            (e = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb)) ||
            (e = curl_easy_setopt(c, CURLOPT_WRITEDATA, &r)) ||
            (e = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb)) ||
            (e = curl_easy_setopt(c, CURLOPT_HEADERDATA, &r))) {
            iris_set_error("hub: curl setup failed: %s", curl_easy_strerror(e));
            goto out;
        }
        e = curl_easy_perform(c);
        long status = 0;
        if (e == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) status = 0;
        if (e == CURLE_OK && status == 200) break;
        /* An unreachable host is worth a few quick tries, an overloaded Hub more patience. */
        int retry = e != CURLE_OK ? attempt < (cfg->max_retries < 3 ? cfg->max_retries : 3)
                                  : hub_status_retryable(status) && attempt < cfg->max_retries;
        if (retry) {
            double ra = hub_status_retryable(status) ? hub_parse_retry_after(r.retry_after, time(NULL)) : -1;
            sleep_seconds(hub_backoff_delay(cfg->backoff_base, attempt + 1, ra));
            continue;
        }
        if (e != CURLE_OK)
            iris_set_error("%s: cannot reach %s: %s", repo, cfg->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(e));
        else if (status == 401 || status == 403)
            iris_set_error("%s: access denied (HTTP %ld): the repository is gated, private or does not exist; "
                           "%s", repo, status,
                           cfg->token ? "the token in HF_TOKEN (or $HF_HOME/token) has no access to it"
                                      : "set HF_TOKEN=<your token> (or save it in $HF_HOME/token) for a repository you may read");
        else if (status == 404 && !strcasecmp(r.error_code, "RevisionNotFound"))
            iris_set_error("%s: revision '%s' not found (HTTP 404)", repo, rev);
        else if (status == 404 && !strcasecmp(r.error_code, "EntryNotFound"))
            iris_set_error("%s: revision '%s' not found (HTTP 404)", repo, rev);
        else if (status == 404)
            iris_set_error("%s: repository not found (HTTP 404)", repo);
        else
            iris_set_error("%s: the Hub API answered HTTP %ld", repo, status);
        goto out;
    }
    rc = hub_parse_file_list(r.data ? r.data : "", r.len, out);
out:
    free(r.data);
    curl_slist_free_all(auth);
    if (auth_line) { memset(auth_line, 0, strlen(auth_line)); free(auth_line); }
    if (c) curl_easy_cleanup(c);
    free(url);
    return rc;
}

/* hub_pull.c — one `pull`: resolve the revision to a commit and its file list,
 * select files with the include/exclude globs, download what the cache lacks,
 * then point refs/<revision> at the commit.  Offline (HF_HUB_OFFLINE) it only
 * checks that the cache already holds the snapshot. */
#include "hub.h"

#include <curl/curl.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;
static void init_curl(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

void hub_pull_result_free(hub_pull_result *r)
{
    if (!r) return;
    free(r->snapshot_dir);
    r->snapshot_dir = NULL;
}

/* Counts the files under a snapshot folder that the filter selects (links that resolve). */
static size_t count_snapshot_files(const char *dir, const char *rel, const hub_filter *f, int depth)
{
    if (depth > 32) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4096], r[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) n += count_snapshot_files(p, r, f, depth + 1);
        else if (S_ISREG(st.st_mode) && hub_filter_accepts(f, r)) n++;
    }
    closedir(d);
    return n;
}

static int pull_offline(const hub_config *cfg, const hub_pull_request *req, const char *repo_dir,
                        const char *rev, hub_pull_result *res)
{
    char commit[41] = "";
    struct stat st;
    char *snap = hub_valid_commit(rev) ? hub_snapshot_dir(repo_dir, rev) : NULL;
    if (snap && stat(snap, &st) == 0) memcpy(commit, rev, 41);
    free(snap);
    if (!commit[0]) {
        int r = hub_read_ref(repo_dir, rev, commit);
        if (r < 0) return -1;
        if (r == 0) {
            iris_set_error("%s@%s: not in the cache (%s) and HF_HUB_OFFLINE is set", req->repo, rev, cfg->cache_dir);
            return -1;
        }
    }
    snap = hub_snapshot_dir(repo_dir, commit);
    if (!snap) return -1;
    size_t n = count_snapshot_files(snap, "", &req->filter, 0);
    if (n == 0) {
        iris_set_error("%s@%s: no cached file of the snapshot %s (HF_HUB_OFFLINE is set)", req->repo, rev, commit);
        free(snap);
        return -1;
    }
    memcpy(res->commit, commit, 41);
    res->snapshot_dir = snap;
    res->nfiles = res->files_cached = n;
    return 0;
}

int hub_pull(const hub_config *cfg, const hub_pull_request *req, hub_pull_result *res)
{
    memset(res, 0, sizeof *res);
    const char *rev = req->revision ? req->revision : "main";
    if (!hub_valid_repo_id(req->repo)) {
        iris_set_error("'%s': not a repository name (expected ORG/NAME)", req->repo);
        return -1;
    }
    if (!hub_valid_revision(rev)) {
        iris_set_error("'%s': not a valid revision", rev);
        return -1;
    }
    char *repo_dir = hub_repo_dir(cfg->cache_dir, req->repo);
    if (!repo_dir) return -1;
    int rc = -1;
    hub_file_list list = {0};
    unsigned char *want = NULL;
    if (cfg->offline) {
        rc = pull_offline(cfg, req, repo_dir, rev, res);
        goto out;
    }
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) {
        iris_set_error("hub: curl_global_init: %s", curl_easy_strerror(curl_init_result));
        goto out;
    }
    if (hub_fetch_file_list(cfg, req->repo, rev, &list) != 0) goto out;
    memcpy(res->commit, list.commit, 41);
    want = calloc(list.n ? list.n : 1, 1);
    if (!want) { iris_set_error("hub: out of memory"); goto out; }
    size_t nsel = 0;
    for (size_t i = 0; i < list.n; i++) nsel += want[i] = (unsigned char)hub_filter_accepts(&req->filter, list.files[i].rfilename);
    if (nsel == 0) {
        iris_set_error("%s@%s: no file matches the --include/--exclude patterns (%zu files in the revision)",
                       req->repo, rev, list.n);
        goto out;
    }
    char *blobs = hub_blob_path(repo_dir, "");
    char *snap = hub_snapshot_dir(repo_dir, list.commit);
    int ok = blobs && snap && hub_mkdirs(blobs) == 0 && hub_mkdirs(snap) == 0;
    free(blobs);
    if (!ok) { free(snap); goto out; }
    res->snapshot_dir = snap;
    if (hub_download_files(cfg, req, repo_dir, &list, want, res) != 0) goto out;
    if (strcmp(rev, list.commit) && hub_write_ref(repo_dir, rev, list.commit) != 0) goto out;
    rc = 0;
out:
    free(want);
    hub_file_list_free(&list);
    free(repo_dir);
    return rc;
}

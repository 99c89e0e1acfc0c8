/* hub.h — Hugging Face Hub client: pull a model snapshot into the shared cache.
 *
 * Contract:
 * - The cache is huggingface_hub's layout, so Python tools and iris share files:
 *   {cache}/models--{org}--{name}/blobs/<etag>, refs/<revision> (a commit hash),
 *   snapshots/<commit>/<file> -> relative symlink ../../blobs/<etag>.
 * - A file becomes visible (blob renamed into place, snapshot link created) only
 *   after its size and its hash were checked: sha256 for LFS files, git's blob
 *   sha1 ("blob <size>\0" + content) for the others; both equal the etag.
 * - Partial data stays in blobs/<etag>.incomplete (huggingface_hub's name: a
 *   contiguous prefix) and is resumed with Range requests by the next run.  A
 *   large file fetched in parallel pieces has holes, so it lives under its own
 *   name, blobs/<etag>.iris-partial, with blobs/<etag>.iris-partial.ranges noting
 *   which bytes it holds; huggingface_hub never sees (or resumes) it.
 * - While a blob is being written iris holds huggingface_hub's lock for it,
 *   {cache}/.locks/models--{org}--{name}/<etag>.lock (flock).
 * - The token is sent only to the endpoint's own origin (never to the CDN a
 *   download is redirected to) and never written to output, logs or files.
 * - hub_pull keeps all its state in a struct and reports through callbacks, so
 *   the full-screen UI can drive it as well as the command line.
 * Every function that can fail returns -1 (or NULL) after iris_set_error().
 */
#ifndef IRIS_HUB_H
#define IRIS_HUB_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- configuration from the environment (hub_env.c) */
typedef struct {
    char *endpoint;        /* HF_ENDPOINT (default https://huggingface.co), no trailing '/' */
    char *cache_dir;       /* HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub */
    char *token;           /* HF_TOKEN, else the file $HF_TOKEN_PATH or $HF_HOME/token; NULL if none */
    int offline;           /* HF_HUB_OFFLINE=1 */
    double stall_timeout;  /* IRIS_HUB_STALL_TIMEOUT seconds without a byte restart a transfer (30) */
    int max_retries;       /* IRIS_HUB_RETRIES attempts after a failure without progress (8) */
    int connections;       /* IRIS_HUB_CONNECTIONS simultaneous transfers (8) */
    int split_parts;       /* IRIS_HUB_SPLIT_PARTS ranges a large file is fetched in (4) */
    int64_t split_min;     /* IRIS_HUB_SPLIT_MIN bytes from which a file is split (64 MiB) */
    double split_probe;    /* IRIS_HUB_SPLIT_PROBE seconds a file runs on one connection before it is
                              split, which happens only if that connection never outran the hash
                              (0.5; 0: split from the start) */
    double backoff_base;   /* IRIS_HUB_BACKOFF first retry delay in seconds (0.5), doubling */
    size_t hash_buffer;    /* IRIS_HUB_HASH_BUFFER bytes just received kept in memory for the hash (16 MiB) */
} hub_config;

int hub_config_from_env(hub_config *cfg);
void hub_config_free(hub_config *cfg);

/* ---- names, URLs and filters (hub_url.c); pure functions */
int hub_valid_repo_id(const char *repo);       /* "org/name", [A-Za-z0-9._-], no ".." */
int hub_valid_revision(const char *rev);       /* branch, tag or commit; no "..", no leading '/' */
int hub_valid_commit(const char *commit);      /* 40 lowercase hex digits */
int hub_valid_etag(const char *etag);          /* 40 or 64 lowercase hex digits */
/* 1 when a repository file name stays inside the snapshot directory. */
int hub_safe_relpath(const char *path);
/* Percent-encodes everything but unreserved characters (and '/' when keep_slash). */
char *hub_url_escape(const char *s, int keep_slash);
char *hub_api_url(const char *endpoint, const char *repo, const char *rev);
char *hub_resolve_url(const char *endpoint, const char *repo, const char *rev, const char *file);
/* 1 when two absolute URLs have the same scheme, host and port. */
int hub_same_origin(const char *a, const char *b);

typedef struct {
    const char **include; size_t n_include;   /* none: every file */
    const char **exclude; size_t n_exclude;
} hub_filter;
/* fnmatch without FNM_PATHNAME ('*' crosses '/'); a pattern ending in '/' means the folder. */
int hub_filter_accepts(const hub_filter *f, const char *path);

/* ---- retries (hub_retry.c) */
/* Seconds to wait from a Retry-After value (delta-seconds or an HTTP date); -1 if unusable. */
double hub_parse_retry_after(const char *value, time_t now);
int hub_status_retryable(long status);          /* 408, 429, 5xx */
/* Delay before attempt number `attempt` (1-based); retry_after >= 0 wins, capped at 5 minutes. */
double hub_backoff_delay(double base, int attempt, double retry_after);

/* ---- hashing (hub_verify.c) */
typedef enum { HUB_HASH_SHA256, HUB_HASH_GIT_SHA1 } hub_hash_kind;
typedef struct hub_hasher hub_hasher;
hub_hasher *hub_hasher_new(hub_hash_kind kind, int64_t size);
int hub_hasher_update(hub_hasher *h, const void *data, size_t n);
int hub_hasher_final(hub_hasher *h, char *hex, size_t hexsize);   /* hexsize >= 65 */
void hub_hasher_free(hub_hasher *h);
int hub_hash_file(const char *path, hub_hash_kind kind, char *hex, size_t hexsize);

/* ---- the file list of one revision (hub_api.c) */
typedef struct {
    char *rfilename;       /* path inside the repository, checked by hub_safe_relpath */
    int64_t size;
    char *etag;            /* lfs.sha256 for LFS files, blobId (git sha1) for the others */
    int lfs;
} hub_file_entry;

typedef struct {
    char commit[41];
    hub_file_entry *files;
    size_t n;
} hub_file_list;

/* Parses /api/models/{repo}/revision/{rev}?blobs=true; refuses unsafe names. */
int hub_parse_file_list(const char *json, size_t len, hub_file_list *out);
int hub_fetch_file_list(const hub_config *cfg, const char *repo, const char *rev,
                        hub_file_list *out);
void hub_file_list_free(hub_file_list *l);

/* ---- the cache (hub_cache.c) */
char *hub_repo_dir(const char *cache_dir, const char *repo);          /* .../models--org--name */
char *hub_blob_path(const char *repo_dir, const char *etag);
char *hub_snapshot_dir(const char *repo_dir, const char *commit);
/* "../../blobs/<etag>" with one more "../" for each folder in rfilename. */
char *hub_symlink_target(const char *rfilename, const char *etag);
int hub_mkdirs(const char *dir);                                       /* mkdir -p */
int hub_read_ref(const char *repo_dir, const char *rev, char commit[41]);   /* 1 found, 0 not, -1 error */
int hub_write_ref(const char *repo_dir, const char *rev, const char *commit);
int hub_link_snapshot(const char *repo_dir, const char *commit, const char *rfilename,
                      const char *etag);
/* 1 when snapshots/<commit>/<rfilename> is the right link and its blob has `size` bytes. */
int hub_snapshot_file_ok(const char *repo_dir, const char *commit, const char *rfilename,
                         const char *etag, int64_t size);

typedef struct {
    char *repo;            /* org/name */
    char *revision;        /* ref name pointing at the snapshot, else the short commit */
    char commit[41];
    int64_t size;          /* bytes of the distinct blobs the snapshot links to */
    size_t nfiles;
    char *architecture;    /* config.json architectures[0] or model_type; NULL if none */
} hub_local_model;

int hub_list_models(const char *cache_dir, hub_local_model **out, size_t *n);
void hub_local_models_free(hub_local_model *m, size_t n);

typedef struct {
    size_t snapshots, blobs, refs;
    int64_t bytes;
} hub_rm_stats;
/* Removes the snapshot of `rev` (a ref or a commit; NULL: every snapshot) and the
 * blobs that no remaining snapshot links to; the repository folder goes when empty. */
int hub_remove_model(const char *cache_dir, const char *repo, const char *rev, hub_rm_stats *st);

/* ---- progress (hub_progress.c) */
typedef enum {
    HUB_FILE_QUEUED, HUB_FILE_ACTIVE, HUB_FILE_DONE, HUB_FILE_CACHED, HUB_FILE_FAILED
} hub_file_state;

typedef struct {
    const char *name;
    int64_t size, done;
    int64_t verified;      /* bytes hashed so far (done == size, verified < size: verifying) */
    double rate;           /* bytes/s, smoothed */
    hub_file_state state;
} hub_file_progress;

typedef struct {
    const char *repo;
    const char *commit;
    hub_file_progress *files;
    size_t nfiles, files_done, files_failed;
    int64_t total, done;   /* bytes of the selected files; bytes present */
    int64_t verified;      /* bytes hashed (or found in the cache) */
    int64_t transferred;   /* bytes received over the network by this run */
    double rate, eta;      /* bytes/s; seconds left, < 0 when unknown */
    double elapsed;
} hub_progress;

/* Exponentially smoothed transfer rate. */
typedef struct { double rate, last_t; int64_t last_bytes; int started; } hub_rate;
void hub_rate_update(hub_rate *r, int64_t bytes, double now);

void hub_format_bytes(int64_t n, char *buf, size_t size);      /* "1.5 GiB" */
void hub_format_rate(double bytes_per_s, char *buf, size_t size); /* "12.3 MiB/s" */
void hub_format_eta(double seconds, char *buf, size_t size);   /* "42s", "3m07s", "1h02m", "--" */
/* One progress line: name (shortened to fit `width`), bytes, percent, rate, ETA. */
void hub_format_progress_line(const char *name, int64_t done, int64_t total, double rate,
                              char *buf, size_t size, int width);

/* ---- pulling (hub_pull.c, hub_download.c) */
typedef void (*hub_progress_fn)(const hub_progress *p, int final, void *user);
typedef void (*hub_message_fn)(const char *msg, void *user);

typedef struct {
    const char *repo;
    const char *revision;          /* NULL: "main" */
    hub_filter filter;
    hub_progress_fn on_progress;   /* every ~100 ms and once at the end */
    hub_message_fn on_message;     /* retries, discarded files, per-file failures */
    void *user;
    volatile sig_atomic_t *cancel; /* set non-zero to stop (partial files are kept) */
} hub_pull_request;

typedef struct {
    char commit[41];
    char *snapshot_dir;
    size_t nfiles, files_failed, files_cached;
    int64_t total_bytes, transferred;
} hub_pull_result;

/* 0 when every selected file is in the snapshot; -1 with the first error otherwise. */
int hub_pull(const hub_config *cfg, const hub_pull_request *req, hub_pull_result *res);
void hub_pull_result_free(hub_pull_result *r);

/* The download engine, used by hub_pull: fetches the files of `list` selected by
 * `want` (an array of list->n flags) into repo_dir and links them into the snapshot. */
int hub_download_files(const hub_config *cfg, const hub_pull_request *req, const char *repo_dir,
                       const hub_file_list *list, const unsigned char *want,
                       hub_pull_result *res);

#endif

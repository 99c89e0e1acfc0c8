/* hub_download.c — the download engine behind hub_pull: libcurl multi,
 * several files at once, a large file in parallel byte ranges (once one
 * connection has proved slow: see probe_split), resume from
 * blobs/<etag>.incomplete, retries with back-off, and hashing as the bytes
 * arrive (a catch-up thread reads back what did not arrive in order).
 *
 * Per file (a "job"): the first request goes to {endpoint}/{repo}/resolve/...
 * with the token; a 3xx answer gives the URL the data comes from (the CDN),
 * which gets the token only when it is the endpoint's own origin.  Each range
 * [start, end) of the file has a cursor `cur`: bytes before it are on disk.
 * The file is published (renamed to blobs/<etag>, linked into the snapshot)
 * only when every range is complete and the hash equals the etag.
 */
#include "hub.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

enum { J_PENDING, J_OPEN, J_DONE, J_FAILED, J_CACHED };
enum { XF_RESOLVE, XF_DATA };
enum { AB_NONE, AB_DISK, AB_RESTART, AB_BADDATA, AB_CUT };

#define HASH_CHUNK (4u << 20)
#define SIDECAR_EVERY 0.25   /* seconds between notes of which bytes are on disk */

struct xfer;

typedef struct {
    int64_t start, cur, end;
    struct xfer *active;
    int attempts;
    double not_before;
} range_t;

typedef struct job {
    const hub_file_entry *f;
    size_t index;
    int state;
    char *blob, *resolve_url;
    char *part_hf;         /* blobs/<etag>.incomplete: a contiguous prefix, huggingface_hub's name */
    char *part_split;      /* blobs/<etag>.iris-partial: pieces with holes between them */
    char *sidecar;         /* blobs/<etag>.iris-partial.ranges: which bytes part_split holds */
    char *partial;         /* the one of the two in use */
    char *lockfile;        /* huggingface_hub's {cache}/.locks/models--org--name/<etag>.lock */
    int fd, lock_fd;
    range_t *r;
    int nr, first_open;    /* ranges before first_open are complete */
    int active_n;          /* transfers in flight for this file */
    int no_split;          /* the server ignored a Range request once */
    int split_decided;     /* the one-connection probe is over (split or not) */
    int outran_hash;       /* a transfer had to wait for the hash: more connections cannot help */
    double data_since;     /* when the first bytes of the file arrived (0: not yet) */
    double busy_since;     /* thread_busy_s() then */
    int dup_of;            /* another selected file has the same etag: wait for it, then link (-1: none) */
    int restarts;
    char *data_url;
    int data_auth, redirects, resolving;
    /* hashing: in the write callback while data arrives in order, else by a
     * catch-up thread reading the file back (resumed or out-of-order bytes) */
    pthread_t th;
    int th_running;
    pthread_mutex_t hmu;   /* guards the ring and the frontier */
    pthread_cond_t hcv;    /* signalled when bytes were pushed or the job stops */
    hub_hasher *h;         /* used by the hashing thread only */
    _Atomic int64_t frontier; /* bytes hashed so far, from offset 0 */
    char *ring;            /* copies of bytes just written in order: file offset x at x % ring_cap */
    size_t ring_cap, ring_len;
    int64_t ring_start;
    int hasher_waiting;    /* the thread sleeps on hcv (guarded by hmu) */
    pthread_cond_t room_cv;   /* signalled when the thread has made room in the ring */
    int writer_waiting;    /* the download loop waits on room_cv (guarded by hmu) */
    _Atomic int64_t ready; /* contiguous bytes on disk from offset 0 */
    atomic_int stop, hash_err;
    char hex[65];
    double last_save;
    int dirty;
} job;

struct engine;

typedef struct xfer {
    CURL *easy;
    struct engine *E;
    job *j;
    int ri, kind;
    long status;
    int got_status, abort_reason;
    int64_t cr_start, got;
    int64_t req_end;       /* end of the bytes asked for; beyond the range's end when it was cut since */
    char etag[96], retry_after[64];
    char err[CURL_ERROR_SIZE];
    char why[256];
} xfer;

typedef struct engine {
    const hub_config *cfg;
    const hub_pull_request *req;
    const char *repo_dir;
    const hub_file_list *list;
    hub_pull_result *res;
    CURLM *multi;
    job *jobs;
    size_t njobs;
    int active, open_jobs;
    int fatal;
    char first_err[1024];
    struct curl_slist *auth;
    hub_file_progress *fp;
    hub_progress prog;
    hub_rate rate;
    double t0, last_progress;
} engine;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds the calling thread (the download loop, which runs the transfers'
 * callbacks) spent running or ready to run, i.e. not waiting for the network.
 * Linux's schedstat has both; elsewhere only the CPU time is known, which
 * undercounts on a busy machine. */
static double thread_busy_s(void)
{
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (f) {
        unsigned long long run, wait;
        int ok = fscanf(f, "%llu %llu", &run, &wait) == 2;
        fclose(f);
        if (ok) return (double)(run + wait) * 1e-9;
    }
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void message(engine *E, const char *fmt, ...) IRIS_PRINTF(2, 3);
static void message(engine *E, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (E->req->on_message) E->req->on_message(buf, E->req->user);
}

static void record_error(engine *E, const char *msg)
{
    if (!E->first_err[0]) snprintf(E->first_err, sizeof E->first_err, "%s", msg);
}

static int64_t contiguous_prefix(job *j)
{
    /* Ranges are sorted and tile [0, size); a complete one stays complete. */
    while (j->first_open < j->nr && j->r[j->first_open].cur >= j->r[j->first_open].end) j->first_open++;
    return j->first_open < j->nr ? j->r[j->first_open].cur : j->f->size;
}

static int64_t bytes_present(const job *j)
{
    int64_t left = 0;
    for (int i = 0; i < j->nr; i++) left += j->r[i].end - j->r[i].cur;
    return j->f->size - left;
}

/* ---- hashing.  The hash covers [0, frontier) and runs in a thread of its own,
 * so that it overlaps the transfer.  Bytes written exactly where the frontier
 * will be next are also copied into a ring buffer, and the thread hashes them
 * from there (no second read of the file); whatever missed the ring (a resumed
 * prefix, later ranges of a split file) is read back from the page cache once
 * it is contiguous with the frontier.  When the ring is full the in-order
 * transfer waits for the hash rather than overtake it (ring_wait_room). */

#define RING_WAKE (1u << 20)

/* Whether bytes written at `offset` continue the ring (or start it at the frontier). */
static int ring_in_sequence(const job *j, int64_t offset)
{
    int64_t start = j->ring_len == 0 ? atomic_load(&j->frontier) : j->ring_start;
    return offset == start + (int64_t)j->ring_len;
}

/* With hmu held: when n bytes at `offset` would continue the ring but it has
 * no room for them, waits until the hashing thread has emptied half of it.  Receiving
 * faster than the hash goes gains nothing (the file is published when the hash
 * is done), and bytes that missed the ring would cost that thread, which sets
 * the pace, a second copy: reading them back from the file.  The wait blocks
 * the download loop for milliseconds at a time (half a ring at the hash's
 * speed); libcurl's own pause (CURL_WRITEFUNC_PAUSE) is not used because
 * resuming has stalled transfers in several libcurl releases, HTTP/2 above all. */
static void ring_wait_room(job *j, size_t n, int64_t offset, volatile sig_atomic_t *cancel)
{
    if (n > j->ring_cap / 2) return;
    while (!atomic_load(&j->hash_err) && !(cancel && *cancel) && ring_in_sequence(j, offset) &&
           j->ring_len + n > j->ring_cap) {
        j->outran_hash = 1;
        j->writer_waiting = 1;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000;   /* and looks at cancel and hash_err again */
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&j->room_cv, &j->hmu, &ts);
        j->writer_waiting = 0;
    }
}

/* Copies bytes just written at `offset` into the ring when they continue it. */
static void ring_push(job *j, const char *data, size_t n, int64_t offset, volatile sig_atomic_t *cancel)
{
    if (!j->ring || n > j->ring_cap) return;
    pthread_mutex_lock(&j->hmu);
    ring_wait_room(j, n, offset, cancel);
    if (j->ring_len == 0) j->ring_start = atomic_load(&j->frontier);
    if (ring_in_sequence(j, offset) && j->ring_len + n <= j->ring_cap) {
        size_t pos = (size_t)(offset % (int64_t)j->ring_cap);
        size_t first = n < j->ring_cap - pos ? n : j->ring_cap - pos;
        memcpy(j->ring + pos, data, first);
        memcpy(j->ring, data + first, n - first);
        j->ring_len += n;
        /* Wake the thread for a batch, not for every 16 KiB (it also wakes by itself every 5 ms). */
        if (j->hasher_waiting && (j->ring_len >= RING_WAKE || j->ring_len >= j->ring_cap / 4))
            pthread_cond_signal(&j->hcv);
    }
    pthread_mutex_unlock(&j->hmu);
}

static void *hash_main(void *arg)
{
    job *j = arg;
    char *buf = malloc(HASH_CHUNK);
    if (!buf) { atomic_store(&j->hash_err, 1); return NULL; }
    pthread_mutex_lock(&j->hmu);
    while (!atomic_load(&j->hash_err) && atomic_load(&j->frontier) < j->f->size) {
        int64_t done = atomic_load(&j->frontier);
        if (j->ring_len > 0 && j->ring_start == done) {
            size_t pos = (size_t)(done % (int64_t)j->ring_cap);
            size_t m = j->ring_len < j->ring_cap - pos ? j->ring_len : j->ring_cap - pos;
            if (m > HASH_CHUNK) m = HASH_CHUNK;
            /* The pusher only appends, so these bytes stay put while unlocked. */
            pthread_mutex_unlock(&j->hmu);
            int bad = hub_hasher_update(j->h, j->ring + pos, m) != 0;
            pthread_mutex_lock(&j->hmu);
            if (bad) { atomic_store(&j->hash_err, 1); break; }
            j->ring_start += (int64_t)m;
            j->ring_len -= m;
            atomic_store(&j->frontier, done + (int64_t)m);
            if (j->writer_waiting && j->ring_len <= j->ring_cap / 2) pthread_cond_signal(&j->room_cv);
            continue;
        }
        int64_t ready = atomic_load(&j->ready);
        if (ready > done) {
            size_t n = (size_t)(ready - done < HASH_CHUNK ? ready - done : HASH_CHUNK);
            pthread_mutex_unlock(&j->hmu);
            ssize_t r = pread(j->fd, buf, n, done);
            int bad = r == 0 || (r < 0 && errno != EINTR) || (r > 0 && hub_hasher_update(j->h, buf, (size_t)r) != 0);
            pthread_mutex_lock(&j->hmu);
            if (bad) { atomic_store(&j->hash_err, 1); break; }
            if (r < 0) continue;
            int64_t f = done + r;
            atomic_store(&j->frontier, f);
            /* Bytes pushed meanwhile that are now behind the frontier are dropped. */
            if (j->ring_len > 0 && j->ring_start < f) {
                int64_t k = f - j->ring_start;
                if (k > (int64_t)j->ring_len) k = (int64_t)j->ring_len;
                j->ring_start += k;
                j->ring_len -= (size_t)k;
            }
            continue;
        }
        if (atomic_load(&j->stop)) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        j->hasher_waiting = 1;
        pthread_cond_timedwait(&j->hcv, &j->hmu, &ts);
        j->hasher_waiting = 0;
    }
    if (j->writer_waiting) pthread_cond_signal(&j->room_cv);   /* after an error: nothing to wait for */
    pthread_mutex_unlock(&j->hmu);
    free(buf);
    return NULL;
}

static int hash_done(job *j)
{
    return atomic_load(&j->hash_err) || atomic_load(&j->frontier) >= j->f->size;
}

static void hasher_stop(job *j)
{
    if (!j->th_running) return;
    pthread_mutex_lock(&j->hmu);
    atomic_store(&j->stop, 1);
    pthread_cond_signal(&j->hcv);
    pthread_mutex_unlock(&j->hmu);
    pthread_join(j->th, NULL);
    j->th_running = 0;
}

static void hasher_free(job *j)
{
    hasher_stop(j);
    if (j->h) {
        hub_hasher_free(j->h);
        pthread_mutex_destroy(&j->hmu);
        pthread_cond_destroy(&j->hcv);
        pthread_cond_destroy(&j->room_cv);
        j->h = NULL;
    }
    free(j->ring);
    j->ring = NULL;
    j->ring_cap = j->ring_len = 0;
}

static int hasher_start(job *j, size_t ring_max)
{
    hasher_free(j);
    atomic_store(&j->stop, 0);
    atomic_store(&j->hash_err, 0);
    atomic_store(&j->frontier, 0);
    j->hex[0] = 0;
    j->ring_start = 0;
    j->writer_waiting = 0;
    /* Small files need no ring: they are hashed from the page cache in one go. */
    if (j->f->size > (1 << 20)) {
        j->ring_cap = j->f->size < (int64_t)ring_max ? (size_t)j->f->size : ring_max;
        j->ring = malloc(j->ring_cap);
        if (!j->ring) j->ring_cap = 0;   /* fine: everything is read back instead */
    }
    if (!(j->h = hub_hasher_new(j->f->lfs ? HUB_HASH_SHA256 : HUB_HASH_GIT_SHA1, j->f->size))) return -1;
    if (pthread_mutex_init(&j->hmu, NULL) != 0) {
        hub_hasher_free(j->h);
        j->h = NULL;
        iris_set_error("%s: cannot create a mutex", j->f->rfilename);
        return -1;
    }
    if (pthread_cond_init(&j->hcv, NULL) != 0) {
        pthread_mutex_destroy(&j->hmu);
        hub_hasher_free(j->h);
        j->h = NULL;
        iris_set_error("%s: cannot create a condition variable", j->f->rfilename);
        return -1;
    }
    if (pthread_cond_init(&j->room_cv, NULL) != 0) {
        pthread_cond_destroy(&j->hcv);
        pthread_mutex_destroy(&j->hmu);
        hub_hasher_free(j->h);
        j->h = NULL;
        iris_set_error("%s: cannot create a condition variable", j->f->rfilename);
        return -1;
    }
    if (pthread_create(&j->th, NULL, hash_main, j) != 0) {
        iris_set_error("%s: cannot start the hashing thread", j->f->rfilename);
        return -1;
    }
    j->th_running = 1;
    return 0;
}

/* ---- the note of which ranges are on disk (only when there are several) */

static int sidecar_save(job *j)
{
    j->dirty = 0;
    if (j->nr <= 1) {
        /* One range from 0: the partial file's size says it all, as huggingface_hub expects. */
        unlink(j->sidecar);
        return 0;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", j->sidecar);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int ok = fprintf(f, "iris-ranges 1 %lld %s\n", (long long)j->f->size, j->f->etag) > 0;
    for (int i = 0; i < j->nr && ok; i++)
        ok = fprintf(f, "%lld %lld %lld\n", (long long)j->r[i].start, (long long)j->r[i].cur,
                     (long long)j->r[i].end) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, j->sidecar) != 0) { unlink(tmp); return -1; }
    return 0;
}

/* Reads the ranges note; 0 when absent or not consistent with this file. */
static int sidecar_load(job *j)
{
    FILE *f = fopen(j->sidecar, "r");
    if (!f) return 0;
    long long size, a, b, c;
    char etag[80];
    int ok = fscanf(f, "iris-ranges 1 %lld %79s", &size, etag) == 2 && size == j->f->size &&
             !strcmp(etag, j->f->etag);
    int n = 0, cap = 0;
    range_t *r = NULL;
    int64_t expect = 0;
    while (ok && fscanf(f, "%lld %lld %lld", &a, &b, &c) == 3) {
        if (a != expect || b < a || c < b || c > size || n > (1 << 20)) { ok = 0; break; }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            range_t *t = realloc(r, (size_t)cap * sizeof *t);
            if (!t) { ok = 0; break; }
            r = t;
        }
        r[n++] = (range_t){.start = a, .cur = b, .end = c};
        expect = c;
    }
    fclose(f);
    if (!ok || n == 0 || expect != j->f->size) { free(r); return 0; }
    free(j->r);
    j->r = r;
    j->nr = n;
    return 1;
}

/* Cuts the remaining work of a large file into pieces that split_parts
 * connections fetch in order, so that the bytes on disk stay nearly contiguous
 * and the hash can follow the download instead of waiting for its end. */
static int split_ranges(engine *E, job *j)
{
    if (j->no_split || j->f->size < E->cfg->split_min || E->cfg->split_parts < 2) return 0;
    int64_t piece = j->f->size / (4 * (int64_t)E->cfg->split_parts);
    if (piece > (64 << 20)) piece = 64 << 20;
    if (piece < (256 << 10)) piece = 256 << 10;
    int64_t count = 0;
    for (int i = 0; i < j->nr; i++) count += (j->r[i].end - j->r[i].cur) / piece + 1;
    if (count > (1 << 20)) { iris_set_error("%s: too many pieces", j->f->rfilename); return -1; }
    range_t *out = malloc((size_t)(count + j->nr) * sizeof *out);
    if (!out) { iris_set_error("%s: out of memory", j->f->rfilename); return -1; }
    int n = 0;
    for (int i = 0; i < j->nr; i++) {
        range_t r = j->r[i];
        /* A piece's tail shorter than half a piece stays with it. */
        while (r.end - r.cur > piece + piece / 2) {
            int64_t cut = r.cur + piece;
            range_t head = r;   /* keeps a running transfer, which stops at the cut */
            head.end = cut;
            out[n++] = head;
            r = (range_t){.start = cut, .cur = cut, .end = r.end};
        }
        out[n++] = r;
    }
    free(j->r);
    j->r = out;
    j->nr = n;
    return 0;
}

/* ---- job life cycle */

static void cancel_xfers(engine *E, job *j);

static void job_close(job *j, int discard)
{
    hasher_free(j);
    if (j->fd >= 0) {
        if (!discard) sidecar_save(j);
        close(j->fd);
        j->fd = -1;
    }
    if (discard) {
        unlink(j->partial);
        unlink(j->sidecar);
    }
    if (j->lock_fd >= 0) {
        close(j->lock_fd);   /* releases the lock; the file stays, as huggingface_hub leaves it */
        j->lock_fd = -1;
    }
}

static void job_fail(engine *E, job *j, int discard, const char *fmt, ...) IRIS_PRINTF(4, 5);
static void job_fail(engine *E, job *j, int discard, const char *fmt, ...)
{
    char why[700], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%s: %s", j->f->rfilename, why);
    cancel_xfers(E, j);
    if (j->state == J_OPEN) E->open_jobs--;
    job_close(j, discard);
    j->state = J_FAILED;
    E->res->files_failed++;
    E->fp[j->index].state = HUB_FILE_FAILED;
    record_error(E, msg);
    message(E, "%s", msg);
}

static void fatal(engine *E, const char *msg)
{
    record_error(E, msg);
    E->fatal = 1;
}

/* Takes huggingface_hub's lock for this blob (it flocks the same file), so a
 * Python download and iris never write the same partial file at once. */
static int take_hub_lock(job *j)
{
    char *dir = strdup(j->lockfile);
    if (!dir) { iris_set_error("hub: out of memory"); return -1; }
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    int rc = hub_mkdirs(dir);
    free(dir);
    if (rc != 0) return -1;
    j->lock_fd = open(j->lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->lock_fd < 0) {
        iris_set_error("%s: %s", j->lockfile, strerror(errno));
        return -1;
    }
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        iris_set_error("%s: another process (iris or huggingface_hub) is downloading this file", j->f->rfilename);
        close(j->lock_fd);
        j->lock_fd = -1;
        return -1;
    }
    return 0;
}

static int open_partial(job *j, const char *path)
{
    j->partial = (char *)path;
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        iris_set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int single_range(job *j, int64_t have)
{
    free(j->r);
    j->r = malloc(sizeof *j->r);
    if (!j->r) { iris_set_error("%s: out of memory", j->f->rfilename); return -1; }
    j->r[0] = (range_t){.start = 0, .cur = have, .end = j->f->size};
    j->nr = 1;
    return 0;
}

/* A file in several ranges has holes: it moves from huggingface_hub's
 * .incomplete name to its own, with the note of which bytes it holds. */
static int use_pieces_file(job *j)
{
    if (j->nr > 1 && j->partial == j->part_hf) {
        /* The open descriptor follows the rename. */
        if (rename(j->part_hf, j->part_split) != 0) {
            iris_set_error("%s: cannot rename: %s", j->part_hf, strerror(errno));
            return -1;
        }
        j->partial = j->part_split;
    }
    if (j->nr > 1 && sidecar_save(j) != 0) {
        iris_set_error("%s: cannot write %s: %s", j->f->rfilename, j->sidecar, strerror(errno));
        return -1;
    }
    return 0;
}

/* Opens the partial file and decides which bytes are still needed.  A file
 * fetched in pieces lives under its own name (.iris-partial + .ranges), so that
 * huggingface_hub, which resumes a .incomplete from its size, never sees holes. */
static int job_open(engine *E, job *j)
{
    if (take_hub_lock(j) != 0) return -1;
    struct stat st;
    int resumed_split = 0;
    if (stat(j->part_split, &st) == 0) {
        if (open_partial(j, j->part_split) != 0) return -1;
        resumed_split = sidecar_load(j);
        if (!resumed_split) {
            /* Pieces without their note cannot be trusted. */
            close(j->fd);
            j->fd = -1;
            unlink(j->part_split);
            unlink(j->sidecar);
        }
    }
    if (!resumed_split) {
        if (open_partial(j, j->part_hf) != 0) return -1;
        if (fstat(j->fd, &st) != 0) {
            iris_set_error("%s: %s", j->partial, strerror(errno));
            return -1;
        }
        int64_t have = (int64_t)st.st_size;
        if (have > j->f->size) {
            /* Longer than the file can be: not ours to trust. */
            if (ftruncate(j->fd, 0) != 0) { iris_set_error("%s: %s", j->partial, strerror(errno)); return -1; }
            have = 0;
        }
        if (single_range(j, have) != 0) return -1;
    }
    if (bytes_present(j) > 0)
        message(E, "%s: resuming at %lld of %lld bytes", j->f->rfilename, (long long)bytes_present(j),
                (long long)j->f->size);
    /* A file resumed in pieces goes on in pieces; a new one starts on one
     * connection and is split later if that connection turns out slow. */
    j->split_decided = j->nr > 1 || E->cfg->split_probe <= 0;
    j->outran_hash = 0;
    j->data_since = 0;
    if (j->split_decided && split_ranges(E, j) != 0) return -1;
    j->first_open = 0;
    if (use_pieces_file(j) != 0) return -1;
    atomic_store(&j->ready, contiguous_prefix(j));
    if (hasher_start(j, E->cfg->hash_buffer) != 0) return -1;
    j->state = J_OPEN;
    E->open_jobs++;
    E->fp[j->index].state = HUB_FILE_ACTIVE;
    return 0;
}

/* The server ignored a Range request (or the data cannot be trusted): start the file over. */
static int job_restart(engine *E, job *j, const char *why)
{
    cancel_xfers(E, j);
    hasher_stop(j);
    if (++j->restarts > E->cfg->max_retries + 1) {
        job_fail(E, j, 1, "%s; giving up after %d restarts", why, j->restarts - 1);
        return -1;
    }
    message(E, "%s: %s; downloading it again from the start", j->f->rfilename, why);
    if (j->partial == j->part_split) {
        /* One stream from now on: back to the name huggingface_hub knows. */
        if (rename(j->part_split, j->part_hf) != 0) {
            job_fail(E, j, 0, "cannot rename %s: %s", j->part_split, strerror(errno));
            return -1;
        }
        unlink(j->sidecar);
        j->partial = j->part_hf;
    }
    if (ftruncate(j->fd, 0) != 0) {
        job_fail(E, j, 0, "%s", strerror(errno));
        return -1;
    }
    j->no_split = 1;
    j->nr = 1;
    j->first_open = 0;
    j->r[0] = (range_t){.start = 0, .cur = 0, .end = j->f->size};
    sidecar_save(j);
    atomic_store(&j->ready, 0);
    if (hasher_start(j, E->cfg->hash_buffer) != 0) {
        job_fail(E, j, 0, "%s", iris_last_error());
        return -1;
    }
    return 0;
}

static void job_finish(engine *E, job *j)
{
    hasher_stop(j);
    if (atomic_load(&j->hash_err) || hub_hasher_final(j->h, j->hex, sizeof j->hex) != 0) {
        job_fail(E, j, 0, "cannot read back %s to verify it", j->partial);
        return;
    }
    hasher_free(j);
    struct stat st = {0};
    if (fstat(j->fd, &st) != 0 || (int64_t)st.st_size != j->f->size) {
        job_fail(E, j, 1, "size %lld on disk, expected %lld; the file was discarded",
                 (long long)st.st_size, (long long)j->f->size);
        return;
    }
    if (strcmp(j->hex, j->f->etag)) {
        job_fail(E, j, 1, "checksum mismatch (%s %s, expected %s); the file was discarded",
                 j->f->lfs ? "sha256" : "git-sha1", j->hex, j->f->etag);
        return;
    }
    close(j->fd);
    j->fd = -1;
    unlink(j->sidecar);
    if (rename(j->partial, j->blob) != 0) {
        job_fail(E, j, 0, "cannot rename to %s: %s", j->blob, strerror(errno));
        return;
    }
    if (hub_link_snapshot(E->repo_dir, E->list->commit, j->f->rfilename, j->f->etag) != 0) {
        job_fail(E, j, 0, "%s", iris_last_error());
        return;
    }
    job_close(j, 0);   /* releases the lock */
    E->open_jobs--;
    j->state = J_DONE;
    E->fp[j->index].state = HUB_FILE_DONE;
}

/* ---- transfers */

static void strip_etag(const char *in, char *out, size_t size)
{
    if (!strncmp(in, "W/", 2)) in += 2;
    while (*in == '"') in++;
    size_t n = strlen(in);
    while (n && in[n - 1] == '"') n--;
    if (n >= size) n = size - 1;
    memcpy(out, in, n);
    out[n] = 0;
}

static int header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':') return 0;
    const char *v = line + k + 1;
    size_t m = n - k - 1;
    while (m && (*v == ' ' || *v == '\t')) { v++; m--; }
    while (m && (v[m - 1] == '\r' || v[m - 1] == '\n' || v[m - 1] == ' ')) m--;
    *val = v;
    *vlen = m;
    return 1;
}

static void copy_value(char *dst, size_t size, const char *v, size_t n)
{
    if (n >= size) n = size - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *user)
{
    xfer *x = user;
    size_t n = sz * nm;
    const char *v;
    size_t vn;
    char tmp[96];
    if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
        /* A new response starts: forget the previous one's headers. */
        x->cr_start = -1;
        x->etag[0] = x->retry_after[0] = 0;
        x->got_status = 0;
    } else if (header_is(p, n, "Content-Range", &v, &vn)) {
        copy_value(tmp, sizeof tmp, v, vn);
        long long a;
        if (sscanf(tmp, "bytes %lld-", &a) == 1) x->cr_start = a;
    } else if (header_is(p, n, "X-Linked-Etag", &v, &vn)) {
        copy_value(tmp, sizeof tmp, v, vn);
        strip_etag(tmp, x->etag, sizeof x->etag);
    } else if (header_is(p, n, "ETag", &v, &vn) && !x->etag[0]) {
        copy_value(tmp, sizeof tmp, v, vn);
        strip_etag(tmp, x->etag, sizeof x->etag);
    } else if (header_is(p, n, "Retry-After", &v, &vn)) {
        copy_value(x->retry_after, sizeof x->retry_after, v, vn);
    }
    return n;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *user)
{
    xfer *x = user;
    job *j = x->j;
    size_t n = sz * nm;
    if (!x->got_status) {
        x->got_status = 1;
        if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status) != CURLE_OK) x->status = 0;
        range_t *r = &j->r[x->ri];
        if (x->status == 206 && x->cr_start != r->cur) {
            snprintf(x->why, sizeof x->why, "the server sent bytes from %lld, asked for %lld",
                     (long long)x->cr_start, (long long)r->cur);
            x->abort_reason = AB_RESTART;
            return 0;
        }
        if (x->status == 200 && !(r->cur == 0 && j->nr == 1 && r->end == j->f->size)) {
            snprintf(x->why, sizeof x->why, "the server ignored the Range request");
            x->abort_reason = AB_RESTART;
            return 0;
        }
    }
    if (x->status < 200 || x->status > 299) return n;   /* error or redirect body: not file data */
    range_t *r = &j->r[x->ri];
    int cut = 0;
    if ((int64_t)n > r->end - r->cur) {
        if (x->req_end <= r->end) {
            snprintf(x->why, sizeof x->why, "the server sent more bytes than the file has");
            x->abort_reason = AB_BADDATA;
            return 0;
        }
        /* The range was cut short when the file was split: keep what is ours, then stop. */
        n = (size_t)(r->end - r->cur);
        cut = 1;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = pwrite(j->fd, p + off, n - off, r->cur);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            snprintf(x->why, sizeof x->why, "%s", strerror(e));
            x->abort_reason = AB_DISK;
            return 0;
        }
        ring_push(j, p + off, (size_t)w, r->cur, x->E->req->cancel);
        off += (size_t)w;
        r->cur += w;
        x->got += w;
    }
    j->dirty = 1;
    x->E->res->transferred += (int64_t)n;
    if (j->data_since == 0) {
        j->data_since = now_s();
        j->busy_since = thread_busy_s();
    }
    atomic_store(&j->ready, contiguous_prefix(j));
    if (cut) {
        x->abort_reason = AB_CUT;
        return 0;
    }
    return n;
}

static int start_xfer(engine *E, job *j, int ri, int kind)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x) { iris_set_error("hub: out of memory"); return -1; }
    x->E = E;
    x->j = j;
    x->ri = ri;
    x->kind = kind;
    x->cr_start = -1;
    range_t *r = &j->r[ri];
    x->req_end = r->end;
    const char *url = kind == XF_RESOLVE ? j->resolve_url : j->data_url;
    int auth = kind == XF_RESOLVE ? 1 : j->data_auth;
    char range[64] = "";
    if (!(r->cur == 0 && r->end == j->f->size))
        snprintf(range, sizeof range, "%lld-%lld", (long long)r->cur, (long long)r->end - 1);
    x->easy = curl_easy_init();
    if (!x->easy) { free(x); iris_set_error("hub: curl_easy_init failed"); return -1; }
    CURLcode e;
    long stall = (long)(E->cfg->stall_timeout + 0.5);
    if ((e = curl_easy_setopt(x->easy, CURLOPT_URL, url)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, auth ? E->auth : NULL)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_RANGE, range[0] ? range : NULL)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "iris/0.1")) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->err)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, stall)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_LIMIT, 1L)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_TIME, stall)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_BUFFERSIZE, 512L * 1024)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header)) ||
        (e = curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x))) {
        iris_set_error("hub: curl setup failed: %s", curl_easy_strerror(e));
        curl_easy_cleanup(x->easy);
        free(x);
        return -1;
    }
    CURLMcode m = curl_multi_add_handle(E->multi, x->easy);
    if (m != CURLM_OK) {
        iris_set_error("hub: curl_multi_add_handle: %s", curl_multi_strerror(m));
        curl_easy_cleanup(x->easy);
        free(x);
        return -1;
    }
    r->active = x;
    if (kind == XF_RESOLVE) j->resolving = 1;
    E->active++;
    j->active_n++;
    return 0;
}

static void xfer_free(engine *E, xfer *x)
{
    CURLMcode m = curl_multi_remove_handle(E->multi, x->easy);
    (void)m;   /* nothing useful to do: the handle is destroyed either way */
    curl_easy_cleanup(x->easy);
    range_t *r = &x->j->r[x->ri];
    if (r->active == x) r->active = NULL;
    if (x->kind == XF_RESOLVE) x->j->resolving = 0;
    E->active--;
    x->j->active_n--;
    free(x);
}

static void cancel_xfers(engine *E, job *j)
{
    for (int i = 0; i < j->nr; i++)
        if (j->r[i].active) xfer_free(E, j->r[i].active);
}

static void retry_range(engine *E, job *j, range_t *r, int progressed, double retry_after, const char *why)
{
    if (progressed) r->attempts = 0;
    r->attempts++;
    if (r->attempts > E->cfg->max_retries) {
        job_fail(E, j, 0, "%s; gave up after %d attempts (the partial file is kept for resuming)", why,
                 r->attempts);
        return;
    }
    double d = hub_backoff_delay(E->cfg->backoff_base, r->attempts, retry_after);
    r->not_before = now_s() + d;
    message(E, "%s: %s; retrying in %.1f s", j->f->rfilename, why, d);
}

static void gated(engine *E, long status)
{
    char msg[600];
    snprintf(msg, sizeof msg,
             "%s: access denied (HTTP %ld): the repository is gated or private; %s", E->req->repo, status,
             E->cfg->token ? "the token in HF_TOKEN (or $HF_HOME/token) has no access to it"
                           : "set HF_TOKEN=<your token> (or save it in $HF_HOME/token) after accepting its terms");
    fatal(E, msg);
}

static void xfer_done(engine *E, xfer *x, CURLcode res)
{
    job *j = x->j;
    range_t *r = &j->r[x->ri];
    long status = x->status;
    if (!x->got_status && curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) status = 0;
    char *loc = NULL;
    if (status >= 300 && status < 400) {
        char *l = NULL;
        if (curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &l) == CURLE_OK && l) loc = strdup(l);
    }
    int kind = x->kind, abort_reason = x->abort_reason, progressed = x->got > 0;
    char why[300], err[CURL_ERROR_SIZE + 64], etag[96], retry_after[64];
    snprintf(why, sizeof why, "%s", x->why);
    snprintf(err, sizeof err, "%s", x->err[0] ? x->err : curl_easy_strerror(res));
    snprintf(etag, sizeof etag, "%s", x->etag);
    snprintf(retry_after, sizeof retry_after, "%s", x->retry_after);
    xfer_free(E, x);

    if (abort_reason == AB_DISK) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s: cannot write %s: %s (the partial file is kept for resuming)",
                 j->f->rfilename, j->partial, why);
        job_fail(E, j, 0, "cannot write %s: %s (the partial file is kept for resuming)", j->partial, why);
        fatal(E, msg);
    } else if (abort_reason == AB_RESTART) {
        job_restart(E, j, why);
    } else if (abort_reason == AB_CUT) {
        r->attempts = 0;   /* its part is complete; the rest is other ranges' */
    } else if (abort_reason == AB_BADDATA) {
        job_fail(E, j, 1, "%s; the file was discarded", why);
    } else if (res != CURLE_OK) {
        char w[400];
        snprintf(w, sizeof w, "transfer failed: %s", err);
        retry_range(E, j, r, progressed, -1, w);
    } else if (status >= 300 && status < 400) {
        if (!loc) {
            job_fail(E, j, 0, "HTTP %ld without a Location", status);
        } else if (++j->redirects > 10) {
            job_fail(E, j, 0, "too many redirects");
        } else {
            if (kind == XF_RESOLVE && etag[0] && strcmp(etag, j->f->etag)) {
                job_fail(E, j, 0, "changed on the server during the pull (etag %.70s, listed %s); run the pull again",
                         etag, j->f->etag);
            } else {
                free(j->data_url);
                j->data_url = loc;
                loc = NULL;
                /* The token goes only to the endpoint's own origin, never to a CDN. */
                j->data_auth = hub_same_origin(j->data_url, E->cfg->endpoint);
                r->not_before = 0;
            }
        }
    } else if (status >= 200 && status < 300) {
        if (kind == XF_RESOLVE) {
            if (etag[0] && strcmp(etag, j->f->etag)) {
                job_fail(E, j, 0, "changed on the server during the pull (etag %.70s, listed %s); run the pull again",
                         etag, j->f->etag);
                free(loc);
                return;
            }
            free(j->data_url);
            j->data_url = strdup(j->resolve_url);
            j->data_auth = 1;
            if (!j->data_url) { job_fail(E, j, 0, "out of memory"); free(loc); return; }
        }
        if (r->cur < r->end) retry_range(E, j, r, progressed, -1, "the connection closed early");
        else r->attempts = 0;
    } else if (status == 401 || status == 403) {
        if (kind == XF_DATA && !j->data_auth) {
            /* A signed CDN link may have expired: ask the endpoint again. */
            free(j->data_url);
            j->data_url = NULL;
            retry_range(E, j, r, 0, -1, "the download link was refused");
        } else {
            gated(E, status);
        }
    } else if (status == 404) {
        job_fail(E, j, 0, "not found on the server (HTTP 404) in %s@%s", E->req->repo, E->list->commit);
    } else if (status == 416) {
        job_restart(E, j, "the server refused the byte range (HTTP 416)");
    } else if (hub_status_retryable(status)) {
        char w[64];
        snprintf(w, sizeof w, "HTTP %ld", status);
        retry_range(E, j, r, 0, hub_parse_retry_after(retry_after, time(NULL)), w);
    } else {
        job_fail(E, j, 0, "the server answered HTTP %ld", status);
    }
    free(loc);
}

/* A file whose content another selected file is fetching: link it once that one is in. */
static void settle_duplicate(engine *E, job *j)
{
    const job *src = &E->jobs[j->dup_of];
    if (src->state == J_DONE || src->state == J_CACHED) {
        if (hub_link_snapshot(E->repo_dir, E->list->commit, j->f->rfilename, j->f->etag) != 0) {
            j->state = J_OPEN;   /* job_fail's bookkeeping expects an open job */
            E->open_jobs++;
            job_fail(E, j, 0, "%s", iris_last_error());
            return;
        }
        j->state = J_DONE;
        E->fp[j->index].state = HUB_FILE_DONE;
    } else if (src->state == J_FAILED) {
        j->state = J_OPEN;
        E->open_jobs++;
        job_fail(E, j, 0, "same content as %s, which failed", src->f->rfilename);
    }
}

/* ---- scheduling and the loop */

static void schedule(engine *E)
{
    double now = now_s();
    for (size_t k = 0; k < E->njobs && !E->fatal; k++) {
        if (E->active >= E->cfg->connections) return;
        job *j = &E->jobs[k];
        if (j->state == J_PENDING && j->dup_of >= 0) continue;
        if (j->state == J_PENDING) {
            if (E->open_jobs >= E->cfg->connections) continue;
            if (job_open(E, j) != 0) {
                j->state = J_OPEN;   /* job_fail expects an open job */
                E->open_jobs++;
                job_fail(E, j, 0, "%s", iris_last_error());
                continue;
            }
        }
        if (j->state != J_OPEN) continue;
        int limit = j->nr > 1 ? E->cfg->split_parts : 1;
        for (int i = j->first_open; i < j->nr && E->active < E->cfg->connections && j->active_n < limit; i++) {
            range_t *r = &j->r[i];
            if (r->cur >= r->end || r->active || r->not_before > now) continue;
            int kind = j->data_url ? XF_DATA : XF_RESOLVE;
            if (kind == XF_RESOLVE && j->resolving) break;
            if (start_xfer(E, j, i, kind) != 0) {
                job_fail(E, j, 0, "%s", iris_last_error());
                break;
            }
            if (kind == XF_RESOLVE) break;   /* the others wait for the data URL */
        }
    }
}

/* After split_probe seconds on one connection, a large file is cut into
 * pieces for split_parts connections, but only when it is the network that
 * sets the pace.  Not when that one connection brought bytes faster than they
 * could be hashed (the hash sets the pace), nor when the download loop was
 * running or waiting for a CPU most of the time (this machine sets the pace: a
 * local mirror, a loopback test server).  More connections would then only
 * add reading pieces back from the disk to the hash's work. */
static void probe_split(engine *E)
{
    double now = now_s();
    for (size_t k = 0; k < E->njobs; k++) {
        job *j = &E->jobs[k];
        if (j->state != J_OPEN || j->split_decided) continue;
        if (j->outran_hash || j->no_split || j->nr != 1) { j->split_decided = 1; continue; }
        if (j->data_since == 0 || now - j->data_since < E->cfg->split_probe) continue;
        j->split_decided = 1;
        if (thread_busy_s() - j->busy_since > 0.5 * (now - j->data_since)) continue;
        if (j->r[0].end - j->r[0].cur < E->cfg->split_min) continue;
        if (split_ranges(E, j) != 0 || use_pieces_file(j) != 0) {
            job_fail(E, j, 0, "%s", iris_last_error());
            continue;
        }
        atomic_store(&j->ready, contiguous_prefix(j));
    }
}

static int job_complete(const job *j)
{
    for (int i = 0; i < j->nr; i++)
        if (j->r[i].cur < j->r[i].end || j->r[i].active) return 0;
    return 1;
}

static void update_progress(engine *E, int final)
{
    double now = now_s();
    int64_t done = 0, verified = 0;
    for (size_t k = 0; k < E->njobs; k++) {
        job *j = &E->jobs[k];
        hub_file_progress *p = &E->fp[j->index];
        if (j->state == J_OPEN) {
            p->done = bytes_present(j);
            p->verified = atomic_load(&j->frontier);
        } else if (j->state == J_DONE || j->state == J_CACHED) {
            p->done = p->verified = p->size;
        }
        done += p->done;
        verified += p->verified;
    }
    hub_rate_update(&E->rate, E->res->transferred, now);
    size_t fdone = 0;
    for (size_t i = 0; i < E->prog.nfiles; i++)
        fdone += E->fp[i].state == HUB_FILE_DONE || E->fp[i].state == HUB_FILE_CACHED;
    E->prog.files_done = fdone;
    E->prog.files_failed = E->res->files_failed;
    E->prog.done = done;
    E->prog.verified = verified;
    E->prog.transferred = E->res->transferred;
    E->prog.elapsed = now - E->t0;
    /* The final figure is the run's average; meanwhile the smoothed estimate. */
    E->prog.rate = final && E->prog.elapsed > 0 ? (double)E->res->transferred / E->prog.elapsed : E->rate.rate;
    int64_t left = E->prog.total - done;
    E->prog.eta = left <= 0 ? 0 : E->rate.rate > 0 ? (double)left / E->rate.rate : -1;
    /* A file's rate: its share of the total, by bytes still to come in its active ranges. */
    for (size_t k = 0; k < E->njobs; k++) {
        job *j = &E->jobs[k];
        int act = 0;
        for (int i = 0; j->state == J_OPEN && i < j->nr; i++) act += j->r[i].active != NULL;
        E->fp[j->index].rate = E->active > 0 ? E->rate.rate * act / E->active : 0;
    }
    if (E->req->on_progress) E->req->on_progress(&E->prog, final, E->req->user);
    E->last_progress = now;
}

static void job_free(job *j)
{
    free(j->blob);
    free(j->part_hf);
    free(j->part_split);
    free(j->sidecar);
    free(j->lockfile);
    free(j->resolve_url);
    free(j->data_url);
    free(j->r);
}

static int setup_jobs(engine *E, const unsigned char *want)
{
    size_t nsel = 0;
    for (size_t i = 0; i < E->list->n; i++) nsel += want[i] != 0;
    E->fp = calloc(nsel ? nsel : 1, sizeof *E->fp);
    E->jobs = calloc(nsel ? nsel : 1, sizeof *E->jobs);
    if (!E->fp || !E->jobs) { iris_set_error("hub: out of memory"); return -1; }
    for (size_t i = 0; i < E->list->n; i++) {
        if (!want[i]) continue;
        const hub_file_entry *f = &E->list->files[i];
        job *j = &E->jobs[E->njobs];
        j->f = f;
        j->fd = -1;
        j->index = E->njobs;
        j->dup_of = -1;
        E->fp[j->index] = (hub_file_progress){.name = f->rfilename, .size = f->size, .state = HUB_FILE_QUEUED};
        E->prog.total += f->size;
        E->njobs++;
        size_t pn = strlen(E->repo_dir) + strlen(f->etag) + 40;
        j->blob = hub_blob_path(E->repo_dir, f->etag);
        j->part_hf = malloc(pn);
        j->part_split = malloc(pn);
        j->sidecar = malloc(pn);
        j->partial = j->part_hf;
        j->resolve_url = hub_resolve_url(E->cfg->endpoint, E->req->repo, E->list->commit, f->rfilename);
        if (!j->blob || !j->part_hf || !j->part_split || !j->sidecar || !j->resolve_url) {
            iris_set_error("hub: out of memory");
            return -1;
        }
        snprintf(j->part_hf, pn, "%s.incomplete", j->blob);
        snprintf(j->part_split, pn, "%s.iris-partial", j->blob);
        snprintf(j->sidecar, pn, "%s.iris-partial.ranges", j->blob);
        j->lock_fd = -1;
        {
            const char *folder = strrchr(E->repo_dir, '/');
            size_t ln = strlen(E->repo_dir) + strlen(f->etag) + 32;
            if (!(j->lockfile = malloc(ln))) { iris_set_error("hub: out of memory"); return -1; }
            snprintf(j->lockfile, ln, "%.*s/.locks%s/%s.lock", folder ? (int)(folder - E->repo_dir) : 0,
                     E->repo_dir, folder ? folder : "/", f->etag);
        }
        /* Already in the snapshot, or the blob is there (another revision, or Python's download). */
        struct stat st;
        if (hub_snapshot_file_ok(E->repo_dir, E->list->commit, f->rfilename, f->etag, f->size)) {
            j->state = J_CACHED;
        } else if (stat(j->blob, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)st.st_size == f->size) {
            if (hub_link_snapshot(E->repo_dir, E->list->commit, f->rfilename, f->etag) != 0) return -1;
            j->state = J_CACHED;
        }
        /* Same content twice in a revision (empty files, copies): one download, two links. */
        for (size_t q = 0; j->state != J_CACHED && q + 1 < E->njobs; q++)
            if (!strcmp(E->jobs[q].f->etag, f->etag)) { j->dup_of = (int)q; break; }
        if (j->state == J_CACHED) {
            E->fp[j->index].state = HUB_FILE_CACHED;
            E->fp[j->index].done = E->fp[j->index].verified = f->size;
            E->res->files_cached++;
        }
    }
    E->prog.files = E->fp;
    E->prog.nfiles = E->njobs;
    E->res->nfiles = E->njobs;
    E->res->total_bytes = E->prog.total;
    return 0;
}

int hub_download_files(const hub_config *cfg, const hub_pull_request *req, const char *repo_dir,
                       const hub_file_list *list, const unsigned char *want, hub_pull_result *res)
{
    engine E = {.cfg = cfg, .req = req, .repo_dir = repo_dir, .list = list, .res = res};
    E.prog.repo = req->repo;
    E.prog.commit = list->commit;
    E.t0 = now_s();
    int rc = -1;
    char *auth_line = NULL;
    if (setup_jobs(&E, want) != 0) goto out;
    if (cfg->token) {
        size_t n = strlen(cfg->token) + 32;
        if (!(auth_line = malloc(n))) { iris_set_error("hub: out of memory"); goto out; }
        snprintf(auth_line, n, "Authorization: Bearer %s", cfg->token);
        if (!(E.auth = curl_slist_append(NULL, auth_line))) { iris_set_error("hub: out of memory"); goto out; }
    }
    if (!(E.multi = curl_multi_init())) { iris_set_error("hub: curl_multi_init failed"); goto out; }
    CURLMcode mc = curl_multi_setopt(E.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->connections);
    if (mc != CURLM_OK) { iris_set_error("hub: curl_multi_setopt: %s", curl_multi_strerror(mc)); goto out; }
    update_progress(&E, 0);
    double last_save = now_s();
    for (;;) {
        if (req->cancel && *req->cancel) { fatal(&E, "interrupted; partial files are kept for resuming"); }
        if (E.fatal) break;
        schedule(&E);
        /* Files whose ranges are all in and whose hash has caught up are published. */
        int left = 0;
        for (size_t k = 0; k < E.njobs; k++) {
            job *j = &E.jobs[k];
            if (j->state == J_OPEN && job_complete(j) && hash_done(j)) job_finish(&E, j);
            if (j->state == J_PENDING && j->dup_of >= 0) settle_duplicate(&E, j);
            left += j->state == J_OPEN || j->state == J_PENDING;
        }
        if (!left || E.fatal) break;
        probe_split(&E);
        int running = 0;
        mc = curl_multi_perform(E.multi, &running);
        if (mc != CURLM_OK) {
            char m[200];
            snprintf(m, sizeof m, "curl_multi_perform: %s", curl_multi_strerror(mc));
            fatal(&E, m);
            break;
        }
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(E.multi, &q))) {
            if (msg->msg != CURLMSG_DONE) continue;
            xfer *x = NULL;
            if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x) != CURLE_OK || !x) continue;
            xfer_done(&E, x, msg->data.result);
        }
        double now = now_s();
        if (now - E.last_progress >= 0.1) update_progress(&E, 0);
        if (now - last_save >= SIDECAR_EVERY) {
            for (size_t k = 0; k < E.njobs; k++)
                if (E.jobs[k].state == J_OPEN && E.jobs[k].dirty && E.jobs[k].nr > 1) sidecar_save(&E.jobs[k]);
            last_save = now;
        }
        if (E.active > 0) {
            mc = curl_multi_poll(E.multi, NULL, 0, 50, NULL);
            if (mc != CURLM_OK) {
                char m[200];
                snprintf(m, sizeof m, "curl_multi_poll: %s", curl_multi_strerror(mc));
                fatal(&E, m);
            }
        } else {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
    }
    rc = 0;
out:
    for (size_t k = 0; k < E.njobs; k++) {
        job *j = &E.jobs[k];
        if (E.multi) cancel_xfers(&E, j);
        if (j->state == J_OPEN) job_close(j, 0);
    }
    if (E.fp) update_progress(&E, 1);
    for (size_t k = 0; k < E.njobs; k++) job_free(&E.jobs[k]);
    free(E.jobs);
    free(E.fp);
    if (E.multi) curl_multi_cleanup(E.multi);
    curl_slist_free_all(E.auth);
    if (auth_line) { memset(auth_line, 0, strlen(auth_line)); free(auth_line); }
    if (rc != 0) return -1;
    if (E.fatal) {
        iris_set_error("%s", E.first_err);
        return -1;
    }
    if (res->files_failed) {
        iris_set_error("%zu of %zu files failed (the first: %s)", res->files_failed, res->nfiles, E.first_err);
        return -1;
    }
    return 0;
}

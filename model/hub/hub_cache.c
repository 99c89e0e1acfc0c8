/* hub_cache.c — huggingface_hub's cache layout: paths, refs, snapshot links,
 * and the local-model listing and removal behind `iris ls` / `iris rm`.
 *   {cache}/models--{org}--{name}/blobs/<etag>
 *                                /refs/<revision>          (commit hash, no newline)
 *                                /snapshots/<commit>/<file> -> ../../blobs/<etag>
 */
#include "hub.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* A malloc'd formatted path, or NULL with an error set. */
__attribute__((format(printf, 1, 2))) static char *path_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        iris_set_error("cache: out of memory");
        return NULL;
    }
    return s;
}

static char *path_join(const char *a, const char *b)
{
    return path_fmt("%s/%s", a, b);
}

char *hub_repo_dir(const char *cache_dir, const char *repo)
{
    if (!hub_valid_repo_id(repo)) { iris_set_error("%s: not a repository name (ORG/NAME)", repo); return NULL; }
    const char *slash = strchr(repo, '/');
    return path_fmt("%s/models--%.*s--%s", cache_dir, (int)(slash - repo), repo, slash + 1);
}

char *hub_blob_path(const char *repo_dir, const char *etag)
{
    return path_fmt("%s/blobs/%s", repo_dir, etag);
}

char *hub_snapshot_dir(const char *repo_dir, const char *commit)
{
    return path_fmt("%s/snapshots/%s", repo_dir, commit);
}

char *hub_symlink_target(const char *rfilename, const char *etag)
{
    size_t depth = 0;
    for (const char *p = rfilename; *p; p++) depth += *p == '/';
    size_t n = 3 * (depth + 2) + strlen(etag) + 8;
    char *s = malloc(n);
    if (!s) { iris_set_error("cache: out of memory"); return NULL; }
    s[0] = 0;
    for (size_t i = 0; i < depth + 2; i++) strcat(s, "../");
    strcat(s, "blobs/");
    strcat(s, etag);
    return s;
}

int hub_mkdirs(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) { iris_set_error("%s: bad directory name", dir); return -1; }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            iris_set_error("%s: cannot create directory: %s", buf, strerror(errno));
            return -1;
        }
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) { iris_set_error("%s: not a directory", dir); return -1; }
    return 0;
}

static int mkdirs_parent(const char *path)
{
    char *d = strdup(path);
    if (!d) { iris_set_error("cache: out of memory"); return -1; }
    char *slash = strrchr(d, '/');
    int rc = 0;
    if (slash && slash != d) { *slash = 0; rc = hub_mkdirs(d); }
    free(d);
    return rc;
}

int hub_read_ref(const char *repo_dir, const char *rev, char commit[41])
{
    if (!hub_valid_revision(rev)) { iris_set_error("%s: not a valid revision name", rev); return -1; }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/refs/%s", repo_dir, rev);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[128] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    if (!hub_valid_commit(buf)) return 0;
    memcpy(commit, buf, 41);
    return 1;
}

int hub_write_ref(const char *repo_dir, const char *rev, const char *commit)
{
    if (!hub_valid_revision(rev) || !hub_valid_commit(commit)) {
        iris_set_error("%s: not a valid revision or commit", rev);
        return -1;
    }
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/refs/%s", repo_dir, rev);
    snprintf(tmp, sizeof tmp, "%s.iris-tmp-%d", path, (int)getpid());
    if (mkdirs_parent(path) != 0) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) { iris_set_error("%s: %s", tmp, strerror(errno)); return -1; }
    int ok = fputs(commit, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        iris_set_error("%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int hub_link_snapshot(const char *repo_dir, const char *commit, const char *rfilename, const char *etag)
{
    if (!hub_safe_relpath(rfilename)) {
        iris_set_error("%s: refusing a file name that leaves the cache directory", rfilename);
        return -1;
    }
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    if (snprintf(path, sizeof path, "%s/snapshots/%s/%s", repo_dir, commit, rfilename) >= (int)sizeof path) {
        iris_set_error("%s: path too long", rfilename);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.iris-tmp-%d", path, (int)getpid());
    char *target = hub_symlink_target(rfilename, etag);
    if (!target) return -1;
    int rc = -1;
    if (mkdirs_parent(path) != 0) goto out;
    unlink(tmp);
    if (symlink(target, tmp) != 0) { iris_set_error("%s: cannot create link: %s", tmp, strerror(errno)); goto out; }
    if (rename(tmp, path) != 0) {
        iris_set_error("%s: cannot create link: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(target);
    return rc;
}

int hub_snapshot_file_ok(const char *repo_dir, const char *commit, const char *rfilename,
                         const char *etag, int64_t size)
{
    char path[PATH_MAX], link[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/snapshots/%s/%s", repo_dir, commit, rfilename) >= (int)sizeof path) return 0;
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0) return 0;
    link[n] = 0;
    const char *base = strrchr(link, '/');
    if (strcmp(base ? base + 1 : link, etag)) return 0;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)st.st_size == size;
}

/* ---- listing */

typedef struct {
    dev_t dev;
    ino_t ino;
} file_id;

typedef struct {
    file_id *ids;
    size_t n, cap;
    int64_t bytes;
    size_t files;
    char **blob_names;   /* when collecting: names of blobs the links point to */
    size_t nblob, capblob;
} walk_acc;

static int acc_add_blob_name(walk_acc *a, const char *name)
{
    for (size_t i = 0; i < a->nblob; i++)
        if (!strcmp(a->blob_names[i], name)) return 0;
    if (a->nblob == a->capblob) {
        size_t cap = a->capblob ? 2 * a->capblob : 32;
        char **b = realloc(a->blob_names, cap * sizeof *b);
        if (!b) return -1;
        a->blob_names = b;
        a->capblob = cap;
    }
    if (!(a->blob_names[a->nblob] = strdup(name))) return -1;
    a->nblob++;
    return 0;
}

/* Walks a snapshot tree: counts files, sums distinct blob sizes, collects blob names. */
static int walk_snapshot(const char *dir, walk_acc *a, int depth)
{
    if (depth > 32) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = path_join(dir, e->d_name);
        if (!p) { rc = -1; break; }
        struct stat lst, st;
        if (lstat(p, &lst) == 0) {
            if (S_ISDIR(lst.st_mode)) {
                rc = walk_snapshot(p, a, depth + 1);
            } else {
                if (S_ISLNK(lst.st_mode)) {
                    char link[PATH_MAX];
                    ssize_t n = readlink(p, link, sizeof link - 1);
                    if (n > 0) {
                        link[n] = 0;
                        const char *b = strrchr(link, '/');
                        if (acc_add_blob_name(a, b ? b + 1 : link) != 0) rc = -1;
                    }
                }
                if (!strstr(e->d_name, ".iris-tmp-") && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                    a->files++;
                    int seen = 0;
                    for (size_t i = 0; i < a->n && !seen; i++)
                        seen = a->ids[i].dev == st.st_dev && a->ids[i].ino == st.st_ino;
                    if (!seen) {
                        if (a->n == a->cap) {
                            size_t cap = a->cap ? 2 * a->cap : 32;
                            file_id *ids = realloc(a->ids, cap * sizeof *ids);
                            if (!ids) { rc = -1; free(p); break; }
                            a->ids = ids;
                            a->cap = cap;
                        }
                        a->ids[a->n++] = (file_id){st.st_dev, st.st_ino};
                        a->bytes += (int64_t)st.st_size;
                    }
                }
            }
        }
        free(p);
    }
    closedir(d);
    if (rc) iris_set_error("%s: out of memory", dir);
    return rc;
}

static void acc_free(walk_acc *a)
{
    free(a->ids);
    for (size_t i = 0; i < a->nblob; i++) free(a->blob_names[i]);
    free(a->blob_names);
    memset(a, 0, sizeof *a);
}

typedef struct {
    char name[256];
    char commit[41];
} ref_entry;

/* Collects refs/<name> (nested names such as refs/pr/1 included). */
static void collect_refs(const char *refs_dir, const char *prefix, ref_entry **refs, size_t *n, size_t *cap,
                         int depth)
{
    if (depth > 8) return;
    DIR *d = opendir(refs_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".iris-tmp-")) continue;
        char name[256];
        if (snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "/" : "", e->d_name) >= (int)sizeof name) continue;
        char *p = path_join(refs_dir, e->d_name);
        if (!p) break;
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            collect_refs(p, name, refs, n, cap, depth + 1);
        } else if (S_ISREG(st.st_mode) && st.st_size < 128) {
            FILE *f = fopen(p, "r");
            char buf[128] = "";
            if (f) {
                size_t k = fread(buf, 1, sizeof buf - 1, f);
                fclose(f);
                buf[k] = 0;
                while (k && (buf[k - 1] == '\n' || buf[k - 1] == ' ')) buf[--k] = 0;
                if (hub_valid_commit(buf)) {
                    if (*n == *cap) {
                        size_t c2 = *cap ? 2 * *cap : 8;
                        ref_entry *r = realloc(*refs, c2 * sizeof *r);
                        if (!r) { free(p); break; }
                        *refs = r;
                        *cap = c2;
                    }
                    snprintf((*refs)[*n].name, sizeof (*refs)[*n].name, "%s", name);
                    memcpy((*refs)[*n].commit, buf, 41);
                    (*n)++;
                }
            }
        }
        free(p);
    }
    closedir(d);
}

static char *read_architecture(const char *snapdir)
{
    char *p = path_join(snapdir, "config.json");
    if (!p) return NULL;
    FILE *f = fopen(p, "rb");
    free(p);
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    cJSON *root = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!root) return NULL;
    char *out = NULL;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *first = cJSON_IsArray(arch) ? cJSON_GetArrayItem(arch, 0) : NULL;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (cJSON_IsString(first)) out = strdup(first->valuestring);
    else if (cJSON_IsString(mt)) out = strdup(mt->valuestring);
    cJSON_Delete(root);
    return out;
}

/* "models--org--name" -> "org/name"; NULL when the folder is not a model repo. */
static char *repo_from_folder(const char *folder)
{
    if (strncmp(folder, "models--", 8)) return NULL;
    const char *rest = folder + 8;
    const char *sep = strstr(rest, "--");
    if (!sep) return NULL;
    size_t n = strlen(rest);
    char *repo = malloc(n);
    if (!repo) return NULL;
    snprintf(repo, n, "%.*s/%s", (int)(sep - rest), rest, sep + 2);
    return repo;
}

static int cmp_models(const void *a, const void *b)
{
    const hub_local_model *x = a, *y = b;
    int c = strcmp(x->repo, y->repo);
    return c ? c : strcmp(x->revision, y->revision);
}

int hub_list_models(const char *cache_dir, hub_local_model **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(cache_dir);
    if (!d) return errno == ENOENT ? 0 : (iris_set_error("%s: %s", cache_dir, strerror(errno)), -1);
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        char *repo = repo_from_folder(e->d_name);
        if (!repo) continue;
        char *rdir = path_join(cache_dir, e->d_name);
        char *sdir = rdir ? path_join(rdir, "snapshots") : NULL;
        char *refdir = rdir ? path_join(rdir, "refs") : NULL;
        ref_entry *refs = NULL;
        size_t nrefs = 0, caprefs = 0;
        if (refdir) collect_refs(refdir, "", &refs, &nrefs, &caprefs, 0);
        DIR *sd = sdir ? opendir(sdir) : NULL;
        struct dirent *s;
        while (sd && rc == 0 && (s = readdir(sd))) {
            if (!hub_valid_commit(s->d_name)) continue;
            char *snap = path_join(sdir, s->d_name);
            if (!snap) { rc = -1; break; }
            walk_acc acc = {0};
            if (walk_snapshot(snap, &acc, 0) != 0) { free(snap); acc_free(&acc); rc = -1; break; }
            char revs[512] = "";
            for (size_t i = 0; i < nrefs; i++)
                if (!strcmp(refs[i].commit, s->d_name)) {
                    size_t l = strlen(revs);
                    snprintf(revs + l, sizeof revs - l, "%s%s", l ? "," : "", refs[i].name);
                }
            if (!revs[0]) snprintf(revs, sizeof revs, "%.7s", s->d_name);
            if (*count == cap) {
                size_t c2 = cap ? 2 * cap : 16;
                hub_local_model *m = realloc(*out, c2 * sizeof *m);
                if (!m) { free(snap); acc_free(&acc); rc = -1; iris_set_error("ls: out of memory"); break; }
                *out = m;
                cap = c2;
            }
            hub_local_model *m = &(*out)[*count];
            memset(m, 0, sizeof *m);
            m->repo = strdup(repo);
            m->revision = strdup(revs);
            memcpy(m->commit, s->d_name, 41);
            m->size = acc.bytes;
            m->nfiles = acc.files;
            m->architecture = read_architecture(snap);
            (*count)++;
            free(snap);
            acc_free(&acc);
            if (!m->repo || !m->revision) { rc = -1; iris_set_error("ls: out of memory"); }
        }
        if (sd) closedir(sd);
        free(refs);
        free(refdir);
        free(sdir);
        free(rdir);
        free(repo);
    }
    closedir(d);
    if (rc != 0) {
        hub_local_models_free(*out, *count);
        *out = NULL;
        *count = 0;
        return -1;
    }
    if (*count) qsort(*out, *count, sizeof **out, cmp_models);
    return 0;
}

void hub_local_models_free(hub_local_model *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].repo);
        free(m[i].revision);
        free(m[i].architecture);
    }
    free(m);
}

/* ---- removal */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)ftw;
    int r = flag == FTW_DP ? rmdir(p) : unlink(p);
    if (r != 0 && errno != ENOENT) {
        iris_set_error("%s: cannot remove: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

static int rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int hub_remove_model(const char *cache_dir, const char *repo, const char *rev, hub_rm_stats *stats)
{
    hub_rm_stats st = {0};
    if (stats) *stats = st;
    char *rdir = hub_repo_dir(cache_dir, repo);
    if (!rdir) return -1;
    int rc = -1;
    char *sdir = path_join(rdir, "snapshots"), *refdir = path_join(rdir, "refs"), *bdir = path_join(rdir, "blobs");
    ref_entry *refs = NULL;
    size_t nrefs = 0, caprefs = 0;
    walk_acc keep = {0};
    struct stat sst;
    if (!sdir || !refdir || !bdir) goto out;
    if (stat(rdir, &sst) != 0) { iris_set_error("%s: not in the cache (%s)", repo, cache_dir); goto out; }
    collect_refs(refdir, "", &refs, &nrefs, &caprefs, 0);

    char target[41] = "";
    if (rev) {
        char snap_probe[PATH_MAX];
        snprintf(snap_probe, sizeof snap_probe, "%s/%s", sdir, rev);
        if (hub_valid_commit(rev) && stat(snap_probe, &sst) == 0) memcpy(target, rev, 41);
        else {
            int r = hub_read_ref(rdir, rev, target);
            if (r < 0) goto out;
            if (r == 0) { iris_set_error("%s@%s: no such revision in the cache", repo, rev); goto out; }
        }
    }
    /* Remove the chosen snapshots (all when rev is NULL) and the refs naming them. */
    DIR *d = opendir(sdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (rev && strcmp(e->d_name, target)) continue;
        char *p = path_join(sdir, e->d_name);
        if (!p) { closedir(d); goto out; }
        int r = rm_tree(p);
        free(p);
        if (r != 0) { closedir(d); goto out; }
        st.snapshots++;
    }
    if (d) closedir(d);
    for (size_t i = 0; i < nrefs; i++) {
        if (rev && strcmp(refs[i].commit, target)) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", refdir, refs[i].name);
        if (unlink(p) == 0) st.refs++;
    }
    /* Blobs still linked from a remaining snapshot stay. */
    d = opendir(sdir);
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = path_join(sdir, e->d_name);
        if (!p || walk_snapshot(p, &keep, 0) != 0) { free(p); closedir(d); goto out; }
        free(p);
    }
    if (d) closedir(d);
    int remaining = keep.files > 0 || keep.nblob > 0;
    d = opendir(bdir);
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int used = 0;
        for (size_t i = 0; i < keep.nblob && !used; i++) used = !strcmp(keep.blob_names[i], e->d_name);
        /* Partial downloads belong to whoever resumes them, unless the whole model goes. */
        if (used || (remaining && (strstr(e->d_name, ".incomplete") || strstr(e->d_name, ".iris-partial")))) continue;
        char *p = path_join(bdir, e->d_name);
        if (!p) { closedir(d); goto out; }
        struct stat bst;
        if (lstat(p, &bst) == 0 && unlink(p) == 0) {
            st.blobs++;
            st.bytes += (int64_t)bst.st_size;
        }
        free(p);
    }
    if (d) closedir(d);
    if (!remaining && rm_tree(rdir) != 0) goto out;
    rc = 0;
out:
    if (stats) *stats = st;
    acc_free(&keep);
    free(refs);
    free(sdir);
    free(refdir);
    free(bdir);
    free(rdir);
    return rc;
}

/* pyref.c — see pyref.h. */
#include "pyref.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct pyref {
    char dir[PATH_MAX];
};

const char *pyref_python(void)
{
    static char path[PATH_MAX];
    const char *venv = getenv("IRIS_VENV");
    if (!venv || !*venv) venv = ".venv";
    if (snprintf(path, sizeof path, "%s/bin/python", venv) >= (int)sizeof path) return NULL;
    return access(path, X_OK) == 0 ? path : NULL;
}

pyref *pyref_new(void)
{
    pyref *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(r->dir, sizeof r->dir, "%s/iris-pyref-XXXXXX", tmp);
    if (!mkdtemp(r->dir)) {
        fprintf(stderr, "pyref: mkdtemp %s: %s\n", r->dir, strerror(errno));
        free(r);
        return NULL;
    }
    return r;
}

const char *pyref_dir(const pyref *r)
{
    return r->dir;
}

static int file_path(const pyref *r, char *out, size_t len, const char *name, const char *ext)
{
    for (const char *c = name; *c; c++)
        if (!(*c == '_' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
              (*c >= 'A' && *c <= 'Z'))) {
            fprintf(stderr, "pyref: bad array name '%s'\n", name);
            return -1;
        }
    if (snprintf(out, len, "%s/%s.%s", r->dir, name, ext) >= (int)len) return -1;
    return 0;
}

static int write_file(pyref *r, const char *name, const char *ext, const void *d, size_t bytes)
{
    char path[PATH_MAX];
    if (!r || file_path(r, path, sizeof path, name, ext)) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "pyref: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t w = bytes ? fwrite(d, 1, bytes, f) : 0;
    int bad = fclose(f) != 0 || w != bytes;
    if (bad) fprintf(stderr, "pyref: %s: short write\n", path);
    return bad ? -1 : 0;
}

int pyref_put_f32(pyref *r, const char *name, const float *a, size_t n)
{
    return write_file(r, name, "f32", a, n * sizeof *a);
}

int pyref_put_i32(pyref *r, const char *name, const int32_t *a, size_t n)
{
    return write_file(r, name, "i32", a, n * sizeof *a);
}

int pyref_put_raw(pyref *r, const char *name, const void *data, size_t bytes)
{
    return write_file(r, name, "bin", data, bytes);
}

int pyref_param(pyref *r, const char *name, double value)
{
    char path[PATH_MAX];
    if (!r || file_path(r, path, sizeof path, "params", "txt")) return -1;
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "pyref: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%s %.17g\n", name, value);
    return fclose(f) ? -1 : 0;
}

int pyref_run(pyref *r, const char *script, const char *op)
{
    const char *py = pyref_python();
    char spath[PATH_MAX];
    if (!r || !py) {
        fprintf(stderr, "pyref: no python venv\n");
        return -1;
    }
    snprintf(spath, sizeof spath, "tests/ref/%s.py", script);
    if (access(spath, R_OK) != 0) {
        fprintf(stderr, "pyref: %s not found (run tests from the repository root)\n", spath);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "pyref: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execl(py, py, spath, op, r->dir, (char *)NULL);
        fprintf(stderr, "pyref: exec %s: %s\n", py, strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "pyref: waitpid: %s\n", strerror(errno));
            return -1;
        }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "pyref: %s %s %s failed (status %d)\n", spath, op, r->dir, st);
        return -1;
    }
    return 0;
}

static void *read_file(pyref *r, const char *name, const char *ext, size_t bytes)
{
    char path[PATH_MAX];
    if (!r || file_path(r, path, sizeof path, name, ext)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "pyref: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    void *buf = malloc(bytes ? bytes : 1);
    size_t got = buf ? fread(buf, 1, bytes, f) : 0;
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (!buf || got != bytes || extra) {
        fprintf(stderr, "pyref: %s: expected %zu bytes\n", path, bytes);
        free(buf);
        return NULL;
    }
    return buf;
}

float *pyref_get_f32(pyref *r, const char *name, size_t n)
{
    return read_file(r, name, "f32", n * sizeof(float));
}

int32_t *pyref_get_i32(pyref *r, const char *name, size_t n)
{
    return read_file(r, name, "i32", n * sizeof(int32_t));
}

void pyref_free(pyref *r)
{
    if (!r) return;
    DIR *d = opendir(r->dir);
    if (d) {
        struct dirent *e;
        char path[PATH_MAX + 256];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(r->dir);
    free(r);
}

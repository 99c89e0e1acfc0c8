#include "file_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "error.h"

char *iris_read_file(const char *path, size_t *len, size_t max_bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        iris_set_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        iris_set_error("%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if ((size_t)st.st_size > max_bytes) {
        iris_set_error("%s: file too large (%lld bytes, limit %zu)", path, (long long)st.st_size, max_bytes);
        fclose(f);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        iris_set_error("%s: out of memory reading %lld bytes", path, (long long)st.st_size);
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    int err = ferror(f);
    fclose(f);
    if (err || n != (size_t)st.st_size) {
        iris_set_error("%s: read error", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int iris_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int iris_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *iris_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) {
        iris_set_error("out of memory");
        return NULL;
    }
    memcpy(p, dir, a);
    size_t o = a;
    if (a && dir[a - 1] != '/') p[o++] = '/';
    memcpy(p + o, name, b + 1);
    return p;
}

int iris_has_suffix(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    return a >= b && strcasecmp(path + a - b, suffix) == 0;
}

int iris_mkdir_p(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        iris_set_error("%s: path too long", path);
        return -1;
    }
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) goto fail;
            *p = '/';
        }
    if (mkdir(tmp, 0755) && errno != EEXIST) goto fail;
    if (!iris_is_dir(path)) {
        errno = ENOTDIR;
        goto fail;
    }
    return 0;
fail:
    iris_set_error("%s: cannot create the directory: %s", tmp, strerror(errno));
    return -1;
}

static int put_line(FILE *f, void *text)
{
    return fputs(text, f) < 0 || fputc('\n', f) < 0 ? -1 : 0;
}

int iris_write_text_file(const char *dir, const char *file, const char *text)
{
    char *path = iris_path_join(dir, file);
    if (!path) {
        iris_set_error("out of memory");
        return -1;
    }
    int rc = iris_atomic_write(path, put_line, (void *)text);
    free(path);
    return rc;
}

int iris_write_json_file(const char *dir, const char *file, cJSON *j)
{
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        iris_set_error("out of memory writing %s", file);
        return -1;
    }
    int rc = iris_write_text_file(dir, file, text);
    free(text);
    return rc;
}

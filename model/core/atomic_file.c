#include "atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

int iris_atomic_open(iris_atomic_file *af, const char *path, const char *mode)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 24;
    af->tmp = malloc(n);
    af->path = strdup(path);
    if (!af->tmp || !af->path) {
        iris_set_error("out of memory");
        goto fail;
    }
    snprintf(af->tmp, n, "%s.tmp.%d", path, (int)getpid());
    af->f = fopen(af->tmp, mode);
    if (!af->f) {
        iris_set_error("%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
    return -1;
}

int iris_atomic_commit(iris_atomic_file *af)
{
    int bad = ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0;
    int err = errno;
    bad |= fclose(af->f) != 0;
    if (!bad && rename(af->tmp, af->path) == 0) {
        free(af->tmp);
        free(af->path);
        memset(af, 0, sizeof *af);
        return 0;
    }
    iris_set_error("%s: write failed: %s", af->path, strerror(bad ? (err ? err : EIO) : errno));
    unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
    return -1;
}

void iris_atomic_abort(iris_atomic_file *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
}

#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    /* mkstemp: a unique name even for two threads of one process */
    snprintf(af->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        iris_set_error("%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    /* mkstemp makes the file 0600; the result should have a plain file's
     * permissions (0666 less the umask), as fopen would give it. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(af->f = fdopen(fd, mode))) {
        iris_set_error("%s: cannot write: %s", path, strerror(errno));
        close(fd);
        unlink(af->tmp);
        goto fail;
    }
    return 0;
fail:
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
    return -1;
}

/* Best effort: makes the rename itself durable. */
static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int iris_atomic_commit(iris_atomic_file *af)
{
    int bad = ferror(af->f) || fflush(af->f) != 0 || (!af->no_sync && fsync(fileno(af->f)) != 0);
    int err = errno;
    bad |= fclose(af->f) != 0;
    if (!bad && rename(af->tmp, af->path) == 0) {
        if (!af->no_sync) fsync_dir_of(af->path);
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

int iris_atomic_write(const char *path, int (*fill)(FILE *f, void *ctx), void *ctx)
{
    iris_atomic_file af;
    if (iris_atomic_open(&af, path, "w")) return -1;
    if (fill(af.f, ctx) || ferror(af.f)) {
        iris_atomic_abort(&af);
        iris_set_error("%s: write failed", path);
        return -1;
    }
    return iris_atomic_commit(&af);
}

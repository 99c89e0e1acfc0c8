/* atomic_file.h — write a file so that readers (and a crash) see either the
 * old content or the complete new one: a temporary file beside the target,
 * fsync, rename.
 *
 * Contract: iris_atomic_open returns a stream or NULL (error set);
 * iris_atomic_commit flushes, fsyncs, closes and renames, or removes the
 * temporary file and fails with a message naming path; iris_atomic_abort
 * discards.  Every opened file must be committed or aborted.  Setting
 * no_sync after open skips both fsyncs: readers still never see a torn file,
 * but a crash may lose it (for bulk data that can be regenerated, where
 * thousands of fsyncs would cost more than the writing).
 */
#ifndef IRIS_ATOMIC_FILE_H
#define IRIS_ATOMIC_FILE_H

#include <stdio.h>

typedef struct {
    FILE *f;
    char *tmp;
    char *path;
    int no_sync;
} iris_atomic_file;

int iris_atomic_open(iris_atomic_file *af, const char *path, const char *mode);
int iris_atomic_commit(iris_atomic_file *af);
void iris_atomic_abort(iris_atomic_file *af);
/* The whole cycle for a writer callback: fill returns 0 when it wrote all
 * (anything else, or a stream error, discards the file: "PATH: write failed"). */
int iris_atomic_write(const char *path, int (*fill)(FILE *f, void *ctx), void *ctx);

#endif

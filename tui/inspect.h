/* inspect.h — what `iris inspect` prints about a weights file, in text and
 * as JSON (the JSON form is what the integration tests compare with Python). */
#ifndef IRIS_INSPECT_H
#define IRIS_INSPECT_H

#include <stdio.h>

#include "formats/weights.h"

/* One entry per tensor across all files, in file order. */
typedef struct {
    const char *name;
    const char *dtype;         /* as the file spells it */
    const iris_tensor *t;      /* dtype < 0: iris cannot decode the values */
    unsigned long long bytes;
} inspect_tensor;

/* Fills *out (malloc'd) and *n; -1 on OOM. */
int inspect_collect(const iris_weights *w, inspect_tensor **out, size_t *n);
/* Sum and sum of squares of a tensor's values in double; -1 when undecodable
 * or out of memory. */
int inspect_sums(const iris_tensor *t, double *sum, double *sumsq);
/* Writes the JSON document; -1 with iris_last_error() set on failure. */
int inspect_print_json(FILE *f, const iris_weights *w);

#endif

/* metrics_follow.h — follows a training run's metrics.jsonl as it grows.
 *
 * The trainer appends one JSON object per optimizer step: step, epoch, loss,
 * lr, grad_norm, tokens_per_s, mem_bytes, wall_s.  metrics_follow_poll reads
 * only the bytes added since the last call, keeps an incomplete last line for
 * the next call, skips lines that are not such objects, starts over when the
 * file shrank or was replaced (truncation, a restarted run) and reports a
 * deleted file without losing the points already read.
 *
 * Contract: never fails on bad content; -1 only for out-of-memory. */
#ifndef IRIS_METRICS_FOLLOW_H
#define IRIS_METRICS_FOLLOW_H

#include <stddef.h>
#include <sys/types.h>

enum { MF_STEP, MF_EPOCH, MF_LOSS, MF_LR, MF_GRAD_NORM, MF_TOKENS_PER_S, MF_MEM_BYTES, MF_WALL_S,
       MF_N_FIELDS };

extern const char *const metrics_field_names[MF_N_FIELDS];

typedef struct {
    char *path;
    double *v[MF_N_FIELDS];  /* column per field, NaN where a line lacked it */
    int n, cap;
    off_t offset;            /* bytes consumed */
    dev_t dev;
    ino_t ino;
    char *partial;           /* an unterminated last line */
    size_t n_partial;
    int missing;             /* the file does not exist (yet, or any more) */
    int restarted;           /* times the file was truncated or replaced */
    long bad_lines;
} metrics_follow;

int metrics_follow_init(metrics_follow *m, const char *path);
void metrics_follow_free(metrics_follow *m);
/* Reads what was appended; returns the number of new points (0 none), -1 on
 * out-of-memory. */
int metrics_follow_poll(metrics_follow *m);
/* Parses one line; 1 when it is a metrics object (vals filled, NaN if absent). */
int metrics_parse_line(const char *line, size_t len, double vals[MF_N_FIELDS]);

#endif

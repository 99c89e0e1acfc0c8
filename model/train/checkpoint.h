/* checkpoint.h — a training checkpoint: the trainable parameters, their AdamW
 * moments and the trainer's position, in one safetensors file written
 * atomically (temp file, fsync, rename: a crash or a full disk leaves the
 * previous checkpoint in place).
 *
 * Tensors: "<param>", "<param>.exp_avg", "<param>.exp_avg_sq" for every
 * trainable parameter.  __metadata__ holds the iris_train_state fields as
 * strings, plus "format": "iris-train-checkpoint-1".
 */
#ifndef IRIS_TRAIN_CHECKPOINT_H
#define IRIS_TRAIN_CHECKPOINT_H

#include <stdint.h>

#include "train/params.h"

typedef struct {
    int step;                /* optimizer steps done */
    int64_t cursor;          /* records consumed (epoch = cursor / n_records) */
    int64_t n_truncated, n_skipped, tokens;
    double wall_s;
    int mode;
} iris_train_state;

int iris_ckpt_save(const char *path, const iris_param_set *s, const iris_train_state *st);
/* Loads into the trainable parameters of s (every one must be present with
 * its shape; a parameter the checkpoint trains must be trainable in s) and
 * fills st. */
int iris_ckpt_load(const char *path, iris_param_set *s, iris_train_state *st);

#endif

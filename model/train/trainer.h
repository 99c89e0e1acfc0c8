/* trainer.h — a fine-tuning run: data -> micro-batches -> gradients ->
 * clipping -> AdamW with a schedule, logged to a run directory.
 *
 * Run directory:
 *   config.ini                 the settings as used (every key)
 *   metrics.jsonl              one JSON object per optimizer step (step,
 *                              epoch, loss, lr, grad_norm, tokens_per_s,
 *                              mem_bytes, wall_s), flushed each step
 *   checkpoint.safetensors     latest checkpoint (atomic; see checkpoint.h)
 *   adapter/                   LoRA runs: the adapter in PEFT's format
 *   model/                     full / scratch runs: weights in the base's layout
 *   projector.safetensors      runs that train a LLaVA projector: its weights
 *   model/openflamingo.json    OpenFlamingo runs: a model file naming the base
 *   model/checkpoint.safetensors  language model and tower and the trained
 *                              weights, named as OpenFlamingo's checkpoint.pt
 *   (with train.vision_tower the trained tower goes into model/ and the
 *   checkpoint, named as in the base)
 *
 * Determinism: the data order is a function of (seed, epoch), dropout masks
 * of (seed, step, micro-batch), and the checkpoint stores the data cursor, so
 * a run killed at any point and resumed from its last checkpoint continues
 * with exactly the losses an uninterrupted run has (CPU backend, same thread
 * count).  *stop (set from SIGINT/SIGTERM) makes the run save a checkpoint
 * after the current step and return.
 */
#ifndef IRIS_TRAIN_TRAINER_H
#define IRIS_TRAIN_TRAINER_H

#include <signal.h>
#include <stdio.h>

#include "nets/lm.h"
#include "train/clip_train.h"
#include "train/flamingo_train.h"
#include "train/llama_train.h"
#include "train/projector_train.h"
#include "train/train_config.h"

typedef struct {
    iris_train_config cfg;
    iris_lm lm;
    iris_llama_train m;
    iris_projector_train proj;      /* LLaVA models: the projector */
    int lm_open, m_open, has_proj, proj_trainable;
    /* train.vision_tower: the tower as trainable parameters; features are
     * then computed per step with gradients (frozen: once per record, no
     * gradient) */
    iris_clip_train tower;
    int tower_trainable;
    /* OpenFlamingo models (mode projector, template openflamingo): the
     * perceiver, the gated cross-attention blocks and the grown embedding
     * table train; fl holds them, `all` is a view over both of its parameter
     * sets (the checkpoint, the optimizer and clipping see one set). */
    iris_flamingo_train fl;
    int is_flamingo;
    iris_param_set all;
    iris_param_set *params;         /* what trains: &m.params or &all */
    const iris_train_ops *ops;
} iris_train_session;

/* Loads the base and builds the trainable set the mode asks for. */
int iris_train_session_open(iris_train_session *s, const iris_train_config *cfg);
void iris_train_session_close(iris_train_session *s);

typedef struct {
    const iris_train_config *cfg;
    const char *run_dir;
    int resume;
    volatile sig_atomic_t *stop;
    FILE *progress;            /* a line per step, or NULL */
} iris_train_opts;

/* 0: finished or stopped cleanly (checkpoint saved); -1: error set. */
int iris_train_run(const iris_train_opts *o);

/* iris export: rebuilds the run's model from RUN_DIR/config.ini and its
 * latest checkpoint, then writes a PEFT adapter (merge 0) or a merged
 * checkpoint in the base's layout (merge 1) to out_dir. */
int iris_train_export(const char *run_dir, int merge, const char *out_dir);
/* The same for a PEFT adapter directory (e.g. trained with peft) on base. */
int iris_peft_export(const char *adapter_dir, const char *base, int merge, const char *out_dir);

#endif

/* train_runs.h — training runs as the Train panel sees them: a run folder
 * under the runs directory holds config.ini (written by the form), the
 * trainer's metrics.jsonl, train.log (the child's output) and ui.pid.
 * Starting a run forks a child in its own session (setsid), so it keeps
 * running when the UI exits, and execs `iris train` ($IRIS_TRAIN_EXE, when
 * set, replaces the iris binary: wrappers and tests).  No ncurses. */
#ifndef IRIS_TRAIN_RUNS_H
#define IRIS_TRAIN_RUNS_H

#include <stdio.h>
#include <sys/types.h>

typedef struct {
    char name[128];
    char base[1024], data[1024], image_folder[1024];
    int preset;                 /* index into train_presets */
    int lora_r;
    double lora_alpha;
    char lora_targets[256];
    double lr;
    int schedule;               /* index into train_schedules */
    int warmup_steps;
    int max_steps, epochs, batch_size, grad_accum;
} train_form_values;

extern const char *const train_presets[3];     /* projector, lora, full */
extern const char *const train_schedules[4];   /* constant, linear, cosine, exponential */

void train_form_defaults(train_form_values *v, int preset);
/* The LoRA targets the form offers for a base model: OpenFlamingo's
 * attention groups ("attn": self- and cross-attention) for an OpenFlamingo
 * model, LLaMA's attention projections otherwise. */
const char *train_default_targets(const char *base);
/* 1 when the form's targets are the other family's default (the base field
 * changed after the form opened), so the base's own default applies. */
int train_targets_are_foreign_default(const char *base, const char *targets);
/* Writes the INI the trainer reads (man iris, TRAINING CONFIGURATION); an
 * OpenFlamingo base gets data.template = openflamingo, the one it trains on. */
int train_write_ini(const train_form_values *v, FILE *f);
/* Creates runs_dir/name, writes config.ini there and starts the trainer;
 * resume continues an existing run.  Returns the child's pid or -1. */
pid_t train_start(const char *runs_dir, const char *name, const train_form_values *v, int resume);
/* 1 when the run's recorded trainer process is alive. */
int train_run_alive(const char *run_dir, pid_t *pid_out);
/* Asks the run to stop (SIGTERM to its process group: it saves a checkpoint). */
int train_stop(const char *run_dir);
/* Total steps from config.ini ([train] max_steps), 0 when not known. */
int train_total_steps(const char *run_dir);

#endif

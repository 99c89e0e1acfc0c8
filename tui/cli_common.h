/* cli_common.h — option handling shared by the commands that run a model
 * (run, chat, bench): model path, device, threads, context, sampling.
 *
 * Contract: cli_parse_number-style helpers print "iris <cmd>: ..." on bad
 * values and return -1; callers exit 2 (usage).
 */
#ifndef IRIS_CLI_COMMON_H
#define IRIS_CLI_COMMON_H

#include "core/backend.h"
#include "nets/generate.h"
#include "nets/lm.h"

typedef struct {
    const char *cmd;          /* for messages */
    const char *model;
    const char *device;       /* "cpu", "cuda" or NULL (auto) */
    int threads;
    int n_ctx;
    iris_gen_params gen;
} cli_model_opts;

void cli_model_opts_init(cli_model_opts *o, const char *cmd);

/* Long options every model-running command accepts; append the command's own
 * after CLI_MODEL_LONG_OPTIONS in its option table. */
enum {
    CLI_O_TEMP = 1000, CLI_O_TOPK, CLI_O_TOPP, CLI_O_MINP, CLI_O_RPEN, CLI_O_RLAST,
    CLI_O_SEED, CLI_O_DEVICE,
};
#define CLI_MODEL_SHORT_OPTIONS "m:n:t:c:"
#define CLI_MODEL_LONG_OPTIONS                                                      \
    {"model", 1, 0, 'm'}, {"n-predict", 1, 0, 'n'}, {"threads", 1, 0, 't'},        \
    {"ctx", 1, 0, 'c'}, {"temp", 1, 0, CLI_O_TEMP}, {"top-k", 1, 0, CLI_O_TOPK},    \
    {"top-p", 1, 0, CLI_O_TOPP}, {"min-p", 1, 0, CLI_O_MINP},                       \
    {"repeat-penalty", 1, 0, CLI_O_RPEN}, {"repeat-last-n", 1, 0, CLI_O_RLAST},      \
    {"seed", 1, 0, CLI_O_SEED}, {"device", 1, 0, CLI_O_DEVICE}
/* The usage lines for those options. */
extern const char cli_model_options_help[];
/* Handles option c if it is one of the common ones: returns 1 when handled,
 * 0 when not one of them, -1 on a bad value (message printed). */
int cli_model_option(cli_model_opts *o, int c, const char *arg);
int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out);
int cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out);
/* Picks the backend per o->device (auto: CUDA when present); prints errors. */
const iris_backend *cli_backend(const cli_model_opts *o);
/* Checks a --preprocess value (pad, crop, resize) and stores it in lo;
 * -1 (message printed) when it is none of them. */
int cli_parse_preprocess(const char *cmd, const char *arg, iris_lm_options *lo);
/* Resolves the model (-m, else the default), picks the backend and loads the
 * model with lo (its n_ctx is taken from o).  Returns 0, or the exit status
 * with the message already printed (2: no model, 1: load failure). */
int cli_load_model(cli_model_opts *o, iris_lm_options *lo, iris_lm *lm);
/* The default model when -m is not given: $IRIS_MODEL, else the built-in one. */
const char *cli_default_model(void);
/* The built-in model bin/../assets/NAME ("tiny-llava", "tiny-flamingo"),
 * written into path (size bytes): path when it is there, else NULL. */
const char *cli_builtin_model(const char *name, char *path, size_t size);

#endif

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

typedef struct {
    const char *cmd;          /* for messages */
    const char *model;
    const char *device;       /* "cpu", "cuda" or NULL (auto) */
    int threads;
    int n_ctx;
    iris_gen_params gen;
} cli_model_opts;

void cli_model_opts_init(cli_model_opts *o, const char *cmd);
int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out);
int cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out);
/* Picks the backend per o->device (auto: CUDA when present); prints errors. */
const iris_backend *cli_backend(const cli_model_opts *o);
/* The default model when -m is not given: $IRIS_MODEL, else the built-in one. */
const char *cli_default_model(void);

#endif

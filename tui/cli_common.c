#include "cli_common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file_util.h"

void cli_model_opts_init(cli_model_opts *o, const char *cmd)
{
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->gen.n_predict = 128;
    o->gen.sampling = iris_sampler_defaults();
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "iris %s: %s expects an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "iris %s: %s expects a number in [%g, %g], got '%s'\n", cmd, opt, lo, hi, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

const char cli_model_options_help[] =
    "  -m, --model PATH        model directory (HF layout) or .gguf file\n"
    "  -n, --n-predict N       most tokens to generate (default 128)\n"
    "      --temp T            temperature (default 0.8; 0 = greedy)\n"
    "      --top-k K           keep the K most likely tokens (default 40; 0 = off)\n"
    "      --top-p P           nucleus sampling (default 0.95; 1 = off)\n"
    "      --min-p P           drop tokens below P x the best one's probability (default 0.05)\n"
    "      --repeat-penalty R  penalise recent tokens (default 1 = off)\n"
    "      --repeat-last-n N   tokens the penalty looks back (default 64)\n"
    "      --seed S            same seed, same text\n"
    "  -t, --threads N         CPU threads (default: all cores)\n"
    "  -c, --ctx N             context size in tokens (default min(model, 4096))\n"
    "      --device cpu|cuda   backend (default: CUDA when available)\n";

int cli_model_option(cli_model_opts *o, int c, const char *arg)
{
    iris_sampler_params *sp = &o->gen.sampling;
    const char *cmd = o->cmd;
    int bad = 0;
    switch (c) {
    case 'm': o->model = arg; break;
    case 'n': bad = cli_parse_int(cmd, "-n", arg, 0, 1 << 20, &o->gen.n_predict); break;
    case 't': bad = cli_parse_int(cmd, "--threads", arg, 1, 1024, &o->threads); break;
    case 'c': bad = cli_parse_int(cmd, "--ctx", arg, 1, 1 << 20, &o->n_ctx); break;
    case CLI_O_TEMP: bad = cli_parse_float(cmd, "--temp", arg, 0, 100, &sp->temperature); break;
    case CLI_O_TOPK: bad = cli_parse_int(cmd, "--top-k", arg, 0, 1 << 24, &sp->top_k); break;
    case CLI_O_TOPP: bad = cli_parse_float(cmd, "--top-p", arg, 0, 1, &sp->top_p); break;
    case CLI_O_MINP: bad = cli_parse_float(cmd, "--min-p", arg, 0, 1, &sp->min_p); break;
    case CLI_O_RPEN: bad = cli_parse_float(cmd, "--repeat-penalty", arg, 0.01, 100, &sp->repeat_penalty); break;
    case CLI_O_RLAST: bad = cli_parse_int(cmd, "--repeat-last-n", arg, 0, 1 << 20, &sp->repeat_last_n); break;
    case CLI_O_SEED: {
        char *end;
        errno = 0;
        sp->seed = strtoull(arg, &end, 10);
        if (errno || *end || end == arg || arg[0] == '-') {
            fprintf(stderr, "iris %s: --seed expects a non-negative integer, got '%s'\n", cmd, arg);
            bad = 1;
        }
        break;
    }
    case CLI_O_DEVICE:
        if (strcmp(arg, "cpu") && strcmp(arg, "cuda")) {
            fprintf(stderr, "iris %s: --device must be cpu or cuda, got '%s'\n", cmd, arg);
            bad = 1;
        }
        o->device = arg;
        break;
    default: return 0;
    }
    return bad ? -1 : 1;
}

const iris_backend *cli_backend(const cli_model_opts *o)
{
    iris_cpu_set_threads(o->threads);
    if (o->device && !strcmp(o->device, "cpu")) return iris_cpu_backend();
    char why[256] = "";
    const iris_backend *cuda = iris_cuda_backend(why, sizeof why);
    if (cuda) return cuda;
    if (o->device && !strcmp(o->device, "cuda")) {
        fprintf(stderr, "iris %s: --device cuda: %s\n", o->cmd, why);
        return NULL;
    }
    return iris_cpu_backend();
}

int cli_parse_preprocess(const char *cmd, const char *arg, iris_lm_options *lo)
{
    if (strcmp(arg, "pad") && strcmp(arg, "crop") && strcmp(arg, "resize")) {
        fprintf(stderr, "iris %s: --preprocess must be pad, crop or resize, got '%s'\n", cmd, arg);
        return -1;
    }
    lo->preprocess = arg;
    return 0;
}

int cli_load_model(cli_model_opts *o, iris_lm_options *lo, iris_lm *lm)
{
    if (!o->model) o->model = cli_default_model();
    if (!o->model) {
        fprintf(stderr, "iris %s: no model given (-m) and no built-in model found\n", o->cmd);
        return 2;
    }
    const iris_backend *be = cli_backend(o);
    if (!be) return 1;
    lo->n_ctx = o->n_ctx;
    if (iris_lm_load_opts(lm, o->model, be, lo)) {
        fprintf(stderr, "iris %s: %s\n", o->cmd, iris_last_error());
        return 1;
    }
    return 0;
}

const char *cli_builtin_model(const char *name, char *path, size_t size)
{
    if (size < 64 + strlen(name)) return NULL;
    ssize_t n = readlink("/proc/self/exe", path, size - 16 - strlen(name));
    if (n <= 0) return NULL;
    path[n] = 0;
    char *slash = strrchr(path, '/');
    if (!slash) return NULL;
    snprintf(slash, size - (size_t)(slash - path), "/../assets/%s", name);
    return iris_is_dir(path) ? path : NULL;
}

const char *cli_default_model(void)
{
    const char *env = getenv("IRIS_MODEL");
    if (env && *env) return env;
    static char path[PATH_MAX];
    return cli_builtin_model("tiny-llava", path, sizeof path);
}

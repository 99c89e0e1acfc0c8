#include "cli_common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

const char *cli_default_model(void)
{
    const char *env = getenv("IRIS_MODEL");
    if (env && *env) return env;
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 64);
    if (n > 0) {
        path[n] = 0;
        char *slash = strrchr(path, '/');
        if (slash) {
            strcpy(slash, "/../assets/tiny-llava");
            if (iris_is_dir(path)) return path;
        }
    }
    return NULL;
}

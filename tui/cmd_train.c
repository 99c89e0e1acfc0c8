/* cmd_train.c — iris train CONFIG.ini [--run-dir DIR] [--resume]: runs a
 * fine-tune described by an INI file (keys: man iris, TRAINING
 * CONFIGURATION).  SIGINT/SIGTERM save a checkpoint after the current step
 * and stop; --resume continues from the run directory's checkpoint. */
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/error.h"
#include "train/trainer.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: iris train CONFIG.ini [options]\n"
            "  --run-dir DIR      where config, metrics, checkpoints and outputs go\n"
            "                     (default: [run] dir, else runs/<config name>)\n"
            "  --resume           continue the run in DIR from its last checkpoint\n"
            "  --set SEC.KEY=VAL  override one config key (repeatable)\n"
            "  -q, --quiet        no progress lines\n");
}

/* OpenMP workers that spin after each parallel loop take the cores OpenBLAS's
 * own threads need for the GEMMs in between (2.5x slower on 2 cores).  The
 * wait policy is read when libgomp loads, so set it and start again. */
static void prefer_passive_openmp(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("IRIS_NO_REEXEC")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("IRIS_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv - 1);   /* argv[-1] is "iris"; on failure carry on */
}

int cmd_train(int argc, char **argv)
{
    static const struct option lo[] = {{"run-dir", 1, 0, 'd'}, {"resume", 0, 0, 'r'}, {"set", 1, 0, 's'},
                                       {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *run_dir = NULL;
    int resume = 0, quiet = 0, c, n_sets = 0;
    char *sets[64];
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:rs:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'd': run_dir = optarg; break;
        case 'r': resume = 1; break;
        case 's':
            if (n_sets == 64) {
                fprintf(stderr, "iris train: too many --set options\n");
                return 2;
            }
            sets[n_sets++] = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *config_path = argv[optind];
    prefer_passive_openmp(argv);
    iris_train_config cfg;
    iris_train_config_defaults(&cfg);
    if (iris_train_config_load(&cfg, config_path)) {
        fprintf(stderr, "iris train: %s\n", iris_last_error());
        return 1;
    }
    for (int i = 0; i < n_sets; i++) {
        char buf[1200];
        snprintf(buf, sizeof buf, "%s", sets[i]);
        char *eq = strchr(buf, '='), *dot = strchr(buf, '.');
        if (!eq || !dot || dot > eq) {
            fprintf(stderr, "iris train: --set %s: expected SECTION.KEY=VALUE\n", sets[i]);
            return 2;
        }
        *eq = *dot = 0;
        if (iris_train_config_set(&cfg, buf, dot + 1, eq + 1)) {
            fprintf(stderr, "iris train: --set: %s\n", iris_last_error());
            return 2;
        }
    }
    if (n_sets && iris_train_config_check(&cfg)) {
        fprintf(stderr, "iris train: --set: %s\n", iris_last_error());
        return 2;
    }
    char def_dir[1100];
    if (!run_dir) {
        if (cfg.run_dir[0]) {
            run_dir = cfg.run_dir;
        } else {
            char tmp[1024];
            snprintf(tmp, sizeof tmp, "%s", config_path);
            char *name = basename(tmp), *ext = strrchr(name, '.');
            if (ext && ext != name) *ext = 0;
            snprintf(def_dir, sizeof def_dir, "runs/%s", name);
            run_dir = def_dir;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A file-size limit (or a full disk) must surface as a write error, so
     * that the checkpoint writer can report it and keep the previous one. */
    signal(SIGXFSZ, SIG_IGN);
    iris_train_opts o = {.cfg = &cfg, .run_dir = run_dir, .resume = resume, .stop = &stop_flag,
                         .progress = quiet ? NULL : stderr};
    if (iris_train_run(&o)) {
        fprintf(stderr, "iris train: %s\n", iris_last_error());
        return 1;
    }
    return 0;
}

/* train_runs.c — see train_runs.h. */
#include "train_runs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "nets/flamingo.h"

static const char LLAMA_TARGETS[] = "q_proj,k_proj,v_proj,o_proj", FLAMINGO_TARGETS[] = "attn";

static int is_flamingo(const char *base)
{
    char *mf = iris_flamingo_model_file(base);
    free(mf);
    return mf != NULL;
}

const char *train_default_targets(const char *base)
{
    return is_flamingo(base) ? FLAMINGO_TARGETS : LLAMA_TARGETS;
}

int train_targets_are_foreign_default(const char *base, const char *targets)
{
    const char *other = is_flamingo(base) ? LLAMA_TARGETS : FLAMINGO_TARGETS;
    return !strcmp(targets, other);
}

const char *const train_presets[3] = {"projector", "lora", "full"};
const char *const train_schedules[4] = {"constant", "linear", "cosine", "exponential"};

void train_form_defaults(train_form_values *v, int preset)
{
    /* stage presets after LLaVA-1.5: stage 1 trains the projector at a high
     * rate; stage 2 fine-tunes with LoRA (or fully) at a low one */
    v->preset = preset;
    v->lora_r = 8;
    v->lora_alpha = 16;
    snprintf(v->lora_targets, sizeof v->lora_targets, "%s", LLAMA_TARGETS);
    v->schedule = 2;
    v->warmup_steps = 3;
    v->max_steps = 100;
    v->epochs = 1;
    v->batch_size = 1;
    v->grad_accum = 1;
    v->lr = preset == 0 ? 1e-3 : preset == 1 ? 2e-4 : 2e-5;
}

int train_write_ini(const train_form_values *v, FILE *f)
{
    fprintf(f, "; written by the iris Train panel\n");
    fprintf(f, "[model]\nbase = %s\n\n", v->base);
    fprintf(f, "[data]\ndata = %s\n", v->data);
    if (v->image_folder[0]) fprintf(f, "image_folder = %s\n", v->image_folder);
    if (is_flamingo(v->base)) fprintf(f, "template = openflamingo\n");
    fprintf(f, "\n[train]\nmode = %s\nlr = %g\nschedule = %s\nwarmup_steps = %d\n", train_presets[v->preset], v->lr,
            train_schedules[v->schedule], v->warmup_steps);
    if (v->max_steps > 0) fprintf(f, "max_steps = %d\n", v->max_steps);
    fprintf(f, "epochs = %d\nbatch_size = %d\ngrad_accum = %d\n", v->epochs, v->batch_size, v->grad_accum);
    if (v->preset == 1)
        fprintf(f, "\n[lora]\nr = %d\nalpha = %g\ntargets = %s\n", v->lora_r, v->lora_alpha, v->lora_targets);
    return ferror(f) ? -1 : 0;
}

static int self_exe(char *buf, size_t n)
{
    const char *env = getenv("IRIS_TRAIN_EXE");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return 0;
    }
    ssize_t k = readlink("/proc/self/exe", buf, n - 1);
    if (k <= 0) return -1;
    buf[k] = 0;
    return 0;
}

pid_t train_start(const char *runs_dir, const char *name, const train_form_values *v, int resume)
{
    char dir[PATH_MAX], ini[PATH_MAX + 16], logp[PATH_MAX + 16], pidp[PATH_MAX + 16], exe[PATH_MAX];
    if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
        iris_set_error("run name '%s': use letters, digits, '-', '_' and '.'", name);
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/%s", runs_dir, name);
    mkdir(runs_dir, 0755);
    if (mkdir(dir, 0755) && errno != EEXIST) {
        iris_set_error("%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(ini, sizeof ini, "%s/config.ini", dir);
    snprintf(logp, sizeof logp, "%s/train.log", dir);
    snprintf(pidp, sizeof pidp, "%s/ui.pid", dir);
    if (!resume) {
        if (!access(ini, F_OK)) {
            iris_set_error("%s exists already: pick another name (or r resumes it)", dir);
            return -1;
        }
        FILE *f = fopen(ini, "w");
        if (!f) {
            iris_set_error("%s: %s", ini, strerror(errno));
            return -1;
        }
        int bad = train_write_ini(v, f);
        if (fclose(f) || bad) {
            iris_set_error("%s: write failed", ini);
            return -1;
        }
    } else if (access(ini, R_OK)) {
        iris_set_error("%s: no config.ini to resume from", dir);
        return -1;
    }
    if (self_exe(exe, sizeof exe)) {
        iris_set_error("cannot find the iris binary");
        return -1;
    }
    int logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        iris_set_error("%s: %s", logp, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        iris_set_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* the child: its own session, so closing the UI (or its terminal)
         * leaves the run going */
        setsid();
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        char *argv[8];
        int a = 0;
        argv[a++] = exe;
        argv[a++] = "train";
        argv[a++] = ini;
        argv[a++] = "--run-dir";
        argv[a++] = dir;
        if (resume) argv[a++] = "--resume";
        argv[a] = NULL;
        execv(exe, argv);
        dprintf(2, "iris: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(logfd);
    FILE *pf = fopen(pidp, "w");
    if (pf) {
        fprintf(pf, "%d\n", (int)pid);
        fclose(pf);
    }
    return pid;
}

int train_run_alive(const char *run_dir, pid_t *pid_out)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/ui.pid", run_dir);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    int pid = 0;
    int ok = fscanf(f, "%d", &pid) == 1 && pid > 1;
    fclose(f);
    if (!ok) return 0;
    if (pid_out) *pid_out = pid;
    /* alive and not a zombie: /proc/PID/stat's state field */
    char sp[64], buf[512];
    snprintf(sp, sizeof sp, "/proc/%d/stat", pid);
    FILE *s = fopen(sp, "r");
    if (!s) return kill(pid, 0) == 0;
    size_t n = fread(buf, 1, sizeof buf - 1, s);
    fclose(s);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

int train_stop(const char *run_dir)
{
    pid_t pid;
    if (!train_run_alive(run_dir, &pid)) {
        iris_set_error("the run is not running");
        return -1;
    }
    /* the trainer leads its own process group (setsid) */
    if (kill(-pid, SIGTERM) && kill(pid, SIGTERM)) {
        iris_set_error("cannot signal %d: %s", (int)pid, strerror(errno));
        return -1;
    }
    return 0;
}

int train_total_steps(const char *run_dir)
{
    char p[PATH_MAX + 16], line[1200], section[64] = "";
    snprintf(p, sizeof p, "%s/config.ini", run_dir);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    int total = 0;
    while (fgets(line, sizeof line, f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (e) {
                *e = 0;
                snprintf(section, sizeof section, "%s", s + 1);
            }
            continue;
        }
        int v;
        if (!strcmp(section, "train") && sscanf(s, "max_steps = %d", &v) == 1) total = v;
    }
    fclose(f);
    return total;
}

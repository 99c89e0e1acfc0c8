#include "train_config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "train/of_lora_targets.h"
#include "text/chat_template.h"
#include "train/optim.h"

typedef enum { K_STR, K_INT, K_FLOAT, K_BOOL, K_U64, K_MODE, K_SCHED, K_TPL, K_PRE } ktype;

typedef struct {
    const char *section, *key;
    ktype type;
    size_t off, size;
    double lo, hi;
} keydef;

#define O(f) offsetof(iris_train_config, f), sizeof(((iris_train_config *)0)->f)
static const keydef keys[] = {
    {"model", "base", K_STR, O(base), 0, 0},
    {"data", "data", K_STR, O(data), 0, 0},
    {"data", "image_folder", K_STR, O(image_folder), 0, 0},
    {"data", "template", K_TPL, O(template_name), 0, 0},
    {"data", "preprocess", K_PRE, O(preprocess), 0, 0},
    {"data", "max_length", K_INT, O(max_length), 8, 1 << 20},
    {"data", "shuffle", K_BOOL, O(shuffle), 0, 1},
    {"data", "skip_bad_records", K_BOOL, O(skip_bad_records), 0, 1},
    {"train", "mode", K_MODE, O(mode), 0, 0},
    {"train", "epochs", K_INT, O(epochs), 1, 1e6},
    {"train", "max_steps", K_INT, O(max_steps), 0, 1e9},
    {"train", "batch_size", K_INT, O(batch_size), 1, 65536},
    {"train", "grad_accum", K_INT, O(grad_accum), 1, 65536},
    {"train", "lr", K_FLOAT, O(lr), 0, 10},
    {"train", "projector_lr", K_FLOAT, O(projector_lr), 0, 10},
    {"train", "weight_decay", K_FLOAT, O(weight_decay), 0, 10},
    {"train", "beta1", K_FLOAT, O(beta1), 0, 0.999999},
    {"train", "beta2", K_FLOAT, O(beta2), 0, 0.999999},
    {"train", "eps", K_FLOAT, O(eps), 1e-30, 1},
    {"train", "max_grad_norm", K_FLOAT, O(max_grad_norm), 0, 1e9},
    {"train", "schedule", K_SCHED, O(schedule), 0, 0},
    {"train", "warmup_steps", K_INT, O(warmup_steps), 0, 1e9},
    {"train", "warmup_ratio", K_FLOAT, O(warmup_ratio), 0, 1},
    {"train", "lr_min_ratio", K_FLOAT, O(lr_min_ratio), 1e-12, 1},
    {"train", "seed", K_U64, O(seed), 0, 0},
    {"train", "gradient_checkpointing", K_BOOL, O(gradient_checkpointing), 0, 1},
    {"train", "threads", K_INT, O(threads), 0, 4096},
    {"train", "vision_tower", K_BOOL, O(vision_tower), 0, 1},
    {"train", "vision_lr", K_FLOAT, O(vision_lr), 0, 10},
    {"train", "new_token_outputs", K_BOOL, O(new_token_outputs), 0, 1},
    {"lora", "r", K_INT, O(lora_r), 1, 4096},
    {"lora", "alpha", K_FLOAT, O(lora_alpha), 1e-9, 1e9},
    {"lora", "dropout", K_FLOAT, O(lora_dropout), 0, 0.99},
    {"lora", "rslora", K_BOOL, O(lora_rslora), 0, 1},
    {"lora", "targets", K_STR, O(lora_targets), 0, 0},
    {"lora", "layers", K_STR, O(lora_layers), 0, 0},
    {"lora", "init", K_STR, O(lora_init), 0, 0},
    {"lora", "modules_to_save", K_STR, O(lora_modules_to_save), 0, 0},
    {"run", "save_steps", K_INT, O(save_steps), 0, 1e9},
    {"run", "dir", K_STR, O(run_dir), 0, 0},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *const mode_names[] = {"projector", "lora", "full", "scratch"};

const char *iris_train_mode_name(int mode) { return mode >= 0 && mode < 4 ? mode_names[mode] : "?"; }

void iris_train_config_defaults(iris_train_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->template_name, sizeof c->template_name, "vicuna_v1");
    snprintf(c->preprocess, sizeof c->preprocess, "pad");
    c->max_length = 2048;
    c->shuffle = 1;
    c->mode = IRIS_TRAIN_LORA;
    c->epochs = 1;
    c->batch_size = 1;
    c->grad_accum = 1;
    c->lr = 2e-4f;
    c->weight_decay = 0.0f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->max_grad_norm = 1.0f;
    c->schedule = IRIS_SCHED_COSINE;
    c->warmup_ratio = 0.03f;
    c->lr_min_ratio = 0.01f;
    c->seed = 42;
    c->gradient_checkpointing = 1;
    c->lora_r = 128;
    c->lora_alpha = 256;
    c->lora_dropout = 0.05f;
    snprintf(c->lora_targets, sizeof c->lora_targets, "all-linear");
    snprintf(c->lora_layers, sizeof c->lora_layers, "all");
    snprintf(c->lora_modules_to_save, sizeof c->lora_modules_to_save, "none");
    c->save_steps = 500;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1")) *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0")) *out = 0;
    else return -1;
    return 0;
}

int iris_train_config_set(iris_train_config *c, const char *section, const char *key, const char *value)
{
    const keydef *k = NULL;
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].key, key) && (!section || !*section || !strcmp(keys[i].section, section))) {
            k = &keys[i];
            break;
        }
    if (!k) {
        iris_set_error("unknown key '%s%s%s'", section && *section ? section : "", section && *section ? "." : "", key);
        return -1;
    }
    char *p = (char *)c + k->off, *end = NULL;
    errno = 0;
    switch (k->type) {
    case K_STR:
        if (strlen(value) >= k->size) {
            iris_set_error("%s.%s: value too long", k->section, k->key);
            return -1;
        }
        snprintf(p, k->size, "%s", value);
        return 0;
    case K_TPL:
        if (strcmp(value, "plain") && strcmp(value, "vicuna_v1") && strcmp(value, "llava-hf") &&
            strcmp(value, "openflamingo")) {
            iris_set_error("%s.%s: unknown template '%s' (expected plain, vicuna_v1, llava-hf or openflamingo)",
                           k->section,
                           k->key, value);
            return -1;
        }
        snprintf(p, k->size, "%s", value);
        return 0;
    case K_PRE:
        if (strcmp(value, "pad") && strcmp(value, "crop")) {
            iris_set_error("%s.%s: unknown preprocessing '%s' (expected pad or crop)", k->section, k->key, value);
            return -1;
        }
        snprintf(p, k->size, "%s", value);
        return 0;
    case K_MODE:
        for (int i = 0; i < 4; i++)
            if (!strcmp(value, mode_names[i])) {
                *(int *)p = i;
                return 0;
            }
        iris_set_error("%s.%s: unknown mode '%s' (expected projector, lora, full or scratch)", k->section,
                       k->key, value);
        return -1;
    case K_SCHED: {
        int s = iris_sched_from_name(value);
        if (s < 0) {
            iris_set_error("%s.%s: unknown schedule '%s' (expected constant, linear, cosine or exponential)",
                           k->section, k->key, value);
            return -1;
        }
        *(int *)p = s;
        return 0;
    }
    case K_BOOL:
        if (parse_bool(value, (int *)p)) {
            iris_set_error("%s.%s: '%s' is not a boolean (true/false)", k->section, k->key, value);
            return -1;
        }
        return 0;
    case K_U64: {
        unsigned long long v = strtoull(value, &end, 10);
        if (!*value || *end || errno || value[0] == '-') {
            iris_set_error("%s.%s: '%s' is not a non-negative integer", k->section, k->key, value);
            return -1;
        }
        *(uint64_t *)p = v;
        return 0;
    }
    case K_INT: {
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno) {
            iris_set_error("%s.%s: '%s' is not an integer", k->section, k->key, value);
            return -1;
        }
        if (v < k->lo || v > k->hi) {
            iris_set_error("%s.%s: %ld is out of range [%.0f, %.0f]", k->section, k->key, v, k->lo, k->hi);
            return -1;
        }
        *(int *)p = (int)v;
        return 0;
    }
    case K_FLOAT: {
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v)) {
            iris_set_error("%s.%s: '%s' is not a number", k->section, k->key, value);
            return -1;
        }
        if (v < k->lo || v > k->hi) {
            iris_set_error("%s.%s: %g is out of range [%g, %g]", k->section, k->key, v, k->lo, k->hi);
            return -1;
        }
        *(float *)p = (float)v;
        return 0;
    }
    }
    return -1;
}

typedef struct {
    iris_train_config *c;
    const char *path;
    int failed;
    int warmup_steps_set;
} load_ctx;

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *x = user;
    if (x->failed) return 0;
    if (!*section) {
        iris_set_error("key '%s' outside a section ([model], [data], [train], [lora], [run])", name);
        x->failed = 1;
        return 0;
    }
    if (iris_train_config_set(x->c, section, name, value)) {
        x->failed = 1;
        return 0;
    }
    return 1;
}

int iris_train_config_load(iris_train_config *c, const char *path)
{
    load_ctx x = {.c = c, .path = path};
    int rc = ini_parse(path, on_key, &x);
    if (rc == -1) {
        iris_set_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (rc == -2) {
        iris_set_error("%s: out of memory", path);
        return -1;
    }
    if (rc > 0) {
        if (x.failed) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", iris_last_error());
            iris_set_error("%s:%d: %s", path, rc, msg);
        } else {
            iris_set_error("%s:%d: not an INI line (expected [section] or key = value)", path, rc);
        }
        return -1;
    }
    if (!c->base[0]) {
        iris_set_error("%s: [model] base is required (the model to fine-tune)", path);
        return -1;
    }
    if (!c->data[0]) {
        iris_set_error("%s: [data] data is required (the training set)", path);
        return -1;
    }
    iris_lora_config lc;
    if (iris_train_config_lora(c, &lc) || iris_train_config_check(c)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", iris_last_error());
        iris_set_error("%s: %s", path, msg);
        return -1;
    }
    return 0;
}

int iris_train_config_check(const iris_train_config *c)
{
    if (c->vision_tower && c->mode != IRIS_TRAIN_FULL && c->mode != IRIS_TRAIN_SCRATCH) {
        iris_set_error("train.vision_tower = true needs train.mode = full or scratch (mode %s keeps the "
                       "vision tower frozen)", iris_train_mode_name(c->mode));
        return -1;
    }
    return 0;
}

int iris_train_config_lora(const iris_train_config *c, iris_lora_config *lc)
{
    memset(lc, 0, sizeof *lc);
    lc->r = c->lora_r;
    lc->alpha = c->lora_alpha;
    lc->dropout = c->lora_dropout;
    lc->rslora = c->lora_rslora;
    lc->layer_first = lc->layer_last = -1;
    if (iris_lora_parse_targets(lc, c->lora_targets)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", iris_last_error());
        iris_set_error("lora.targets: %s", msg);
        return -1;
    }
    unsigned save_mask;
    if (iris_of_lora_parse_save(c->lora_modules_to_save, &save_mask)) return -1;
    if (strcmp(c->lora_layers, "all") && c->lora_layers[0]) {
        int a, b, used = 0;
        if (sscanf(c->lora_layers, "%d-%d%n", &a, &b, &used) == 2 && !c->lora_layers[used] && a >= 0 && b >= a) {
            lc->layer_first = a;
            lc->layer_last = b;
        } else if (sscanf(c->lora_layers, "%d%n", &a, &used) == 1 && !c->lora_layers[used] && a >= 0) {
            lc->layer_first = lc->layer_last = a;
        } else {
            iris_set_error("lora.layers: '%s' is not 'all', N or FIRST-LAST", c->lora_layers);
            return -1;
        }
    }
    return 0;
}

int iris_train_config_write(const iris_train_config *c, FILE *f)
{
    const char *sec = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const keydef *k = &keys[i];
        if (strcmp(sec, k->section)) {
            fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
            sec = k->section;
        }
        const char *p = (const char *)c + k->off;
        switch (k->type) {
        case K_STR: case K_TPL: case K_PRE: fprintf(f, "%s = %s\n", k->key, p); break;
        case K_MODE: fprintf(f, "%s = %s\n", k->key, iris_train_mode_name(*(const int *)p)); break;
        case K_SCHED: fprintf(f, "%s = %s\n", k->key, iris_sched_name(*(const int *)p)); break;
        case K_BOOL: fprintf(f, "%s = %s\n", k->key, *(const int *)p ? "true" : "false"); break;
        case K_INT: fprintf(f, "%s = %d\n", k->key, *(const int *)p); break;
        case K_U64: fprintf(f, "%s = %llu\n", k->key, (unsigned long long)*(const uint64_t *)p); break;
        case K_FLOAT: fprintf(f, "%s = %.9g\n", k->key, *(const float *)p); break;
        }
    }
    return ferror(f) ? -1 : 0;
}

const char *const *iris_train_config_keys(void)
{
    static const char *names[N_KEYS + 1];
    static char buf[N_KEYS][48];
    if (!names[0])
        for (size_t i = 0; i < N_KEYS; i++) {
            snprintf(buf[i], sizeof buf[i], "%s.%s", keys[i].section, keys[i].key);
            names[i] = buf[i];
        }
    return names;
}

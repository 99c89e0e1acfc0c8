/* train_config.h — a fine-tuning run's settings, read from an INI file
 * (inih).  Every key has a default, a type and a range; unknown keys and
 * out-of-range values are errors naming the file, line and key.  The
 * resolved settings can be written back as INI (the run directory keeps the
 * config as used).  Keys are documented in man/iris.1 (TRAINING
 * CONFIGURATION); iris_train_config_keys lists them for that check.
 */
#ifndef IRIS_TRAIN_CONFIG_H
#define IRIS_TRAIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "train/lora.h"

typedef enum { IRIS_TRAIN_PROJECTOR = 0, IRIS_TRAIN_LORA, IRIS_TRAIN_FULL, IRIS_TRAIN_SCRATCH } iris_train_mode;

typedef struct {
    /* [model] */
    char base[1024];
    /* [data] */
    char data[1024], image_folder[1024], template_name[32], preprocess[16];
    int max_length, shuffle, skip_bad_records;
    /* [train] */
    int mode;
    int epochs, max_steps, batch_size, grad_accum;
    float lr, projector_lr, weight_decay, beta1, beta2, eps, max_grad_norm;
    int schedule, warmup_steps;
    float warmup_ratio, lr_min_ratio;
    uint64_t seed;
    int gradient_checkpointing, threads;
    int vision_tower;      /* train the vision tower too (modes full, scratch) */
    int new_token_outputs; /* OpenFlamingo, untied LM: the output-head rows of the new
                            * tokens train too (OpenFlamingo leaves them as initialised) */
    float vision_lr;       /* its learning rate (0: lr) */
    /* [lora] */
    int lora_r;
    float lora_alpha, lora_dropout;
    int lora_rslora;
    char lora_targets[256], lora_layers[64], lora_init[1024];
    char lora_modules_to_save[64];   /* OpenFlamingo: none, perceiver, xattn (of_lora_targets.h) */
    /* [run] */
    int save_steps;
    char run_dir[1024];
} iris_train_config;

void iris_train_config_defaults(iris_train_config *c);
/* Reads path over the defaults; 0 or -1 with the error set. */
int iris_train_config_load(iris_train_config *c, const char *path);
/* Sets one key ("section.key" or "key") from a string, with the same checks. */
int iris_train_config_set(iris_train_config *c, const char *section, const char *key, const char *value);
/* Writes every key with its value as INI. */
int iris_train_config_write(const iris_train_config *c, FILE *f);
/* Checks the keys that constrain each other (vision_tower needs mode full or
 * scratch); 0 or -1 with the error set.  iris_train_config_load runs it; call
 * it again after iris_train_config_set overrides. */
int iris_train_config_check(const iris_train_config *c);
/* Fills lc from the [lora] keys (targets, layer range). */
int iris_train_config_lora(const iris_train_config *c, iris_lora_config *lc);
const char *iris_train_mode_name(int mode);
/* NULL-terminated "section.key" names. */
const char *const *iris_train_config_keys(void);

#endif

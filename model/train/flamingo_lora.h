/* flamingo_lora.h — LoRA on an OpenFlamingo model being trained
 * (flamingo_train.h, mode lora): which linears get adapters
 * (of_lora_targets.h), the adapters on the language model (the training
 * decoder's own LoRA), on the gated cross-attention blocks and on the
 * perceiver (lora_site.h), what else trains (modules_to_save), and the
 * adapter in PEFT's format under open_flamingo's module names.
 *
 * Module names are those of open_flamingo's Flamingo module tree as
 * named_modules() lists them (what PEFT's target_modules and its saved keys
 * use), e.g. for an MPT language model
 *   lang_encoder.transformer.blocks.3.decoder_layer.attn.Wqkv
 *   lang_encoder.transformer.blocks.3.gated_cross_attn_layer.attn.to_kv
 *   lang_encoder.transformer.blocks.3.gated_cross_attn_layer.ff.1
 *   perceiver.layers.0.0.to_q, perceiver.layers.0.1.3
 * The adapter file keys are "base_model.model." + name + ".lora_A.weight"
 * (and lora_B); the aliases PEFT also writes for the same tensors
 * (lang_encoder.old_decoder_blocks.N.<path>,
 * lang_encoder.gated_cross_attn_layers.N.<path>) are read too.
 * adapter_config.json lists the adapted modules' full names as
 * target_modules (PEFT matches them exactly), modules_to_save ["perceiver"]
 * and/or ["gated_cross_attn_layer"] when those train (their weights saved
 * under their Flamingo names), task_type null.
 */
#ifndef IRIS_TRAIN_FLAMINGO_LORA_H
#define IRIS_TRAIN_FLAMINGO_LORA_H

#include "train/lora.h"
#include "train/lora_site.h"
#include "train/params.h"

struct iris_flamingo_train;

enum { IRIS_OFM_DECODER = 0, IRIS_OFM_BLOCK, IRIS_OFM_PERCEIVER };

typedef struct {
    char name[160];   /* Flamingo module path */
    char alias[160];  /* the same module's other name in a state_dict ("" when none) */
    int group;        /* IRIS_OFG_* */
    int kind;         /* IRIS_OFM_* */
    int layer, slot;  /* decoder layer (decoder, block) and iris_lora_module / xattn slot / perceiver slot */
    int in, out, rows;/* shape and the most rows one forward feeds it */
} iris_of_module;

typedef struct {
    int n;
    iris_of_module *mods;     /* every candidate */
    unsigned char *sel;       /* adapted ones */
    iris_lora_site *sites;    /* per candidate (blocks, perceiver) */
    iris_param_set set;       /* the blocks' and the perceiver's A / B */
    float *scratch;           /* the sites' shared dropout buffer (dropout > 0) */
    iris_lora_config lc;
    unsigned save_mask;       /* IRIS_OFS_* */
} iris_flamingo_lora;

/* Lists the candidates of t's model (after the decoder, blocks and
 * perceiver exist, before iris_llama_train_prepare). */
int iris_flamingo_lora_list(iris_flamingo_lora *fl, const struct iris_flamingo_train *t);
/* Selects with lc->spec (and lc's layer range for decoder layers and
 * blocks); fl keeps lc. */
int iris_flamingo_lora_select(iris_flamingo_lora *fl, const iris_lora_config *lc);
/* Creates the adapters of the selected modules (A from seed, B zero) and
 * applies save_mask (modules_to_save). */
int iris_flamingo_lora_build(iris_flamingo_lora *fl, struct iris_flamingo_train *t, uint64_t seed);
void iris_flamingo_lora_free(iris_flamingo_lora *fl);

/* Reads a PEFT adapter directory for t's model: r, alpha, rslora from its
 * adapter_config.json, the adapted modules from the tensors its
 * adapter_model.safetensors holds, modules_to_save from both; fills fl's
 * lc, sel and save_mask (after iris_flamingo_lora_list). */
int iris_flamingo_lora_read_config(iris_flamingo_lora *fl, const char *dir);
/* Loads the adapter's values (after build). */
int iris_flamingo_lora_load(iris_flamingo_lora *fl, struct iris_flamingo_train *t, const char *dir);
/* Writes dir/adapter_config.json + dir/adapter_model.safetensors. */
int iris_flamingo_lora_save(const iris_flamingo_lora *fl, const struct iris_flamingo_train *t, const char *dir,
                            const char *base_name);
/* Adds scale * B A of the adapter on perceiver / block parameter `param`
 * (an index in t->p) to w (host, that parameter's values); 0 when it has
 * none. */
int iris_flamingo_lora_merge_into(const iris_flamingo_lora *fl, const struct iris_flamingo_train *t, int param,
                                  float *w);

#endif

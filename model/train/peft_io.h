/* peft_io.h — LoRA adapters in PEFT's on-disk format, and merging them into
 * the base weights.
 *
 *   DIR/adapter_config.json      peft_type LORA, r, lora_alpha, lora_dropout,
 *                                target_modules, layers_to_transform, bias,
 *                                task_type, base_model_name_or_path, use_rslora
 *   DIR/adapter_model.safetensors
 *       base_model.model.<module path>.lora_A.weight [r, in]
 *       base_model.model.<module path>.lora_B.weight [out, r]
 *       base_model.model.<projector tensor name>   (LLaVA runs that train the
 *                                projector: listed in modules_to_save, as
 *                                PEFT writes such modules)
 * <module path> is the base checkpoint's tensor name without ".weight"
 * (e.g. model.layers.0.self_attn.q_proj for LlamaForCausalLM,
 * transformer.blocks.0.attn.Wqkv for MptForCausalLM: a fused projection has
 * one adapter, B [3 dim, r] in the checkpoint's row order).  target_modules
 * holds the modules' last name components; layers_pattern is "blocks" for
 * MPT, "layers" otherwise.
 *
 * The merged checkpoint keeps the base's tensor names and dtypes, with
 * W + scale * B A in place of each adapted weight (and, for full fine-tunes,
 * the trained values of every parameter).
 */
#ifndef IRIS_TRAIN_PEFT_IO_H
#define IRIS_TRAIN_PEFT_IO_H

#include "formats/weights.h"
#include "train/llama_train.h"

/* Writes m's LoRA adapters (m->has_lora) to dir (created when missing). */
int iris_peft_save(const iris_llama_train *m, const char *dir, const char *base_name);
/* A new adapter_config.json object with the fields every iris adapter
 * shares (peft_type LORA, the base, r, lora_alpha, lora_dropout,
 * use_rslora, bias "none", ...); task_type NULL is written as null.  The
 * caller adds target_modules, the layers and modules_to_save.  NULL when
 * out of memory. */
struct cJSON *iris_peft_config_common(const iris_lora_config *lc, const char *base_name, const char *task_type);
/* Reads dir/adapter_config.json into lc (r, alpha, rslora, targets, layers). */
int iris_peft_read_config(const char *dir, iris_lora_config *lc);
/* Only r, lora_alpha, use_rslora and lora_dropout of dir/adapter_config.json
 * (peft_type must be LORA); lc's other fields are zeroed, layers all. */
int iris_peft_read_lora_numbers(const char *dir, iris_lora_config *lc);
/* Loads dir's adapter weights into m's LoRA parameters (added with the
 * config that iris_peft_read_config returned), and a projector saved as
 * modules_to_save into m's projector parameters. */
int iris_peft_load(iris_llama_train *m, const char *dir);
/* Writes dir/model.safetensors: every tensor of base (safetensors bases only)
 * with its name and dtype; decoder weights take m's values, LoRA merged in. */
int iris_merge_save(const iris_llama_train *m, const iris_weights *base, const char *dir);

#endif

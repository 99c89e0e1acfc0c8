/* flamingo_train.h — an OpenFlamingo model (nets/flamingo.h) for training as
 * OpenFlamingo trains it: the perceiver, the gated cross-attention blocks and
 * the (grown) input embedding table are trainable, the language model and
 * the vision tower frozen.
 *
 * One step: media features (the tower's patch tokens, computed without
 * gradients by the caller) -> perceiver -> the blocks, which run through the
 * training decoder's pre-layer hooks (train/llama_train.h) -> cross-entropy
 * (labels in transformers' convention) -> backward through the frozen
 * decoder into the blocks, the perceiver (d media summed over the blocks) and
 * the embedding rows.
 *
 * Contract: parameters are named as in the checkpoint ("perceiver.latents",
 * the block prefixes of checkpoint.pt, "lang_encoder.transformer.wte.weight");
 * the decoder's own parameters live in m.params, the perceiver's and the
 * blocks' in p (so their bindings never move).  Gradients ACCUMULATE scaled
 * by grad_scale.  CPU backend.  An untied language model's output head stays
 * frozen, as OpenFlamingo trains it; the checkpoint must hold its grown copy
 * (the new tokens' rows), which the trained model keeps.  With new_outputs
 * (iris_flamingo_train_init_opts) the head's rows of the new tokens train
 * too (without weight decay), the LM's own rows staying frozen: OpenFlamingo's
 * "TODO: investigate also training the output embeddings when untied"; a
 * frozen <|endofchunk|> row may be out of a small model's reach.  In mode lora
 * (iris_flamingo_train_init_lora) only the adapters and modules_to_save
 * train.
 */
#ifndef IRIS_FLAMINGO_TRAIN_H
#define IRIS_FLAMINGO_TRAIN_H

#include "nets/flamingo.h"
#include "train/llama_train.h"
#include "train/perceiver_train.h"
#include "train/flamingo_lora.h"
#include "train/xattn_train.h"

typedef struct iris_flamingo_train {
    iris_llama_train m;
    iris_param_set p;
    iris_perceiver_train pv;
    iris_xattn_train *xa;
    uint8_t *has_block;
    int n_layers, max_len, max_media, n_patches, hidden, n_latents, dim_visual, n_media;
    int media_token;
    float *feats, *media, *dmedia, *tmp, *zeros;   /* backend */
    int32_t *time;                         /* host [max_len] */
    int m_open;
    const iris_flamingo *f;
    int base_embed;                        /* the LM's own table the grown one replaced, or -1 */
    /* mode lora: the adapters; pv_grad: the perceiver needs a gradient
     * (it trains, or has adapters) */
    int has_lora, pv_grad;
    iris_flamingo_lora lora;
    int head, head_frozen_rows;            /* new_outputs: the head's index, rows kept */
} iris_flamingo_train;

/* Mode lora (flamingo_lora.h): adapters on the modules lc->spec (or, with
 * init_dir, the PEFT adapter there) selects, modules_to_save (IRIS_OFS_*)
 * training whole; everything else, the embedding table included, frozen. */
typedef struct {
    iris_lora_config lc;       /* r, alpha, dropout, rslora, spec, layer range */
    unsigned save_mask;
    const char *init_dir;      /* start from this PEFT adapter, or NULL */
    uint64_t seed;
} iris_flamingo_lora_opts;

int iris_flamingo_train_init(iris_flamingo_train *t, const iris_lm *lm, const iris_train_ops *ops,
                             int max_len, int max_media);
/* new_outputs: see above (0: iris_flamingo_train_init). */
int iris_flamingo_train_init_opts(iris_flamingo_train *t, const iris_lm *lm, const iris_train_ops *ops,
                                  int max_len, int max_media, int new_outputs);
/* The same in mode lora. */
int iris_flamingo_train_init_lora(iris_flamingo_train *t, const iris_lm *lm, const iris_train_ops *ops,
                                  int max_len, int max_media, const iris_flamingo_lora_opts *lo);
void iris_flamingo_train_free(iris_flamingo_train *t);

/* feats: host [n_media, n_patches, hidden]; ids / labels [n]. */
int iris_flamingo_train_step(iris_flamingo_train *t, const float *feats, int n_media, const int32_t *ids,
                             const int32_t *labels, int n, float grad_scale, double *loss_sum,
                             int *n_counted);

#endif

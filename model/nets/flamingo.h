/* flamingo.h — a whole OpenFlamingo model: CLIP tower -> perceiver resampler
 * -> language model with a gated cross-attention block before every N-th
 * decoder layer, run with the decoder's KV cache.
 *
 * The released form is three parts, named by a small JSON file (the "model
 * file", openflamingo.json in a directory, or any *.json given as the model):
 *   {
 *     "lang_model": "DIR",           Hugging Face directory of the base LM
 *     "vision_model": "DIR",         CLIP (CLIPModel or CLIPVisionModel) directory
 *     "checkpoint": "checkpoint.pt", OpenFlamingo's trained weights (or a
 *                                    .safetensors file with the same names)
 *     "cross_attn_every_n_layers": 1,        optional: checked against the file
 *     "dim_head": 64, "max_images": 16,      optional
 *     "vision_ln_post": false,               optional, see below
 *     "preprocess": "crop",                  optional: crop (OpenFlamingo's, the
 *                                            default), pad (LLaVA-1.5's square
 *                                            padding) or resize
 *     "chat_template": "openflamingo"        optional: the template chats and
 *                                            iris run put questions in (default
 *                                            raw: prompts as typed)
 *   }
 * Relative paths are relative to the JSON file's directory.
 *
 * What OpenFlamingo 2.0.1 does, and iris with it:
 *  - Vision: open_clip's ViT with output_tokens; its second output, the patch
 *    tokens (class token dropped) of the last layer.  The open_clip releases
 *    the models were trained with (2.16-2.20) take them before ln_post (ln_post
 *    only normalises the pooled output) — that is transformers'
 *    last_hidden_state[:, 1:].  Newer open_clip applies ln_post to every
 *    token; "vision_ln_post": true reproduces that (post_layernorm).
 *    Preprocessing: resize the shortest side (bicubic), centre crop, CLIP
 *    mean/std (iris's "crop" mode).
 *  - Perceiver per image (OpenFlamingo builds it without media/frame
 *    embeddings), 64 latents of the vision width.
 *  - Tokens: the base tokenizer plus "<|endofchunk|>" and "<image>" as new
 *    special tokens at the next ids (a "<PAD>" OpenFlamingo may add after them
 *    only grows the table), the embedding table (and a tied output head) replaced by the
 *    checkpoint's grown copy ("lang_encoder.<the LM's embedding name>").
 *  - Masking: a token attends to the latents of the last <image> at or
 *    before it; text before any image gets no cross-attention output.  While
 *    decoding, new tokens keep the time of the last position (the cached media).
 *  - Blocks: checkpoint.pt keeps them inside the decoder layers
 *    ("lang_encoder.<layers path>.N.gated_cross_attn_layer.") or, for a full
 *    state_dict, as "lang_encoder.gated_cross_attn_layers.N."; both are read.
 *    A checkpoint saved by OpenFlamingo's training scripts may nest the state
 *    under "model_state_dict" and prefix "module.": accepted.
 *
 * Contract: iris_flamingo_load fills an iris_lm (see lm.h) whose forward
 * passes include the blocks; failures name the file and the part.
 */
#ifndef IRIS_FLAMINGO_H
#define IRIS_FLAMINGO_H

#include <stdint.h>

#include "../vision/preprocess.h"
#include "clip.h"
#include "gated_xattn.h"
#include "lm.h"
#include "perceiver.h"

typedef struct iris_flamingo {
    const iris_backend *be;
    iris_weights clip_w, ckpt;
    char ckpt_prefix[64];       /* "" or "model_state_dict." ... in front of every name */
    iris_clip clip;
    iris_preproc pre;
    int vision_ln_post;
    iris_perceiver pv;
    iris_perceiver_acts pacts;
    int n_layers, every_n, n_blocks;
    iris_xattn *xa;             /* per decoder layer; has_block[l] says which are bound */
    uint8_t *has_block;
    iris_xattn_media *xm;       /* per decoder layer */
    iris_xattn_acts xacts;      /* one set, reused by every block */
    int max_media, n_media, n_latents, dim_visual, n_patches;
    float *media;               /* backend [max_media * n_latents, Dv] */
    float *vis;                 /* backend [n_tokens, hidden] tower output */
    float *y;                   /* backend [n_batch, dim] block output */
    int32_t *time_at;           /* host [n_ctx]: image index each cached position reads */
    int pend_from, pend_to;     /* positions whose time_at the caller has set */
    int media_token, eoc_token;
    iris_llama_config base_cfg; /* the language model's own config (before the table grew) */
    char embd_name[256];        /* the grown table's name in the checkpoint ("" when none) */
    char head_name[256];        /* an untied LM's grown output head's name there ("" when none) */
    char (*block_prefix)[160];  /* per layer: the block's name prefix in the checkpoint */
    /* seconds the last add_pixels spent in the tower, and in the perceiver
     * with the blocks' media keys/values (benchmarks read them) */
    double last_tower_s, last_media_s;
} iris_flamingo;

/* tensor_lookup.h adapter over the checkpoint (ctx: the iris_flamingo *):
 * names without the checkpoint's nesting prefix, e.g. "perceiver.latents". */
const iris_tensor *iris_flamingo_lookup(void *f, const char *name);

/* The model file PATH names: PATH itself when it ends in .json, or
 * PATH/openflamingo.json when that exists; NULL otherwise (malloc'd). */
char *iris_flamingo_model_file(const char *path);

/* Loads the three parts into lm (lm.h; opts as for iris_lm_load_opts). */
int iris_flamingo_load(iris_lm *lm, const char *model_file, const iris_backend *be,
                       const iris_lm_options *opts);
void iris_flamingo_free(iris_flamingo *f);

/* Encodes an image (tower -> perceiver) as media number n_media; returns its
 * index or -1. */
int iris_flamingo_add_image(iris_flamingo *f, const iris_image *img);
/* Encodes preprocessed pixels [3, S, S] (host). */
int iris_flamingo_add_pixels(iris_flamingo *f, const float *pixels);
void iris_flamingo_clear_images(iris_flamingo *f);

/* Runs tokens through the decoder with the blocks, continuing the cache: the
 * <image> tokens among them advance the image each following token reads.
 * Logits of the last token (or all, as iris_llama_forward) when asked. */
int iris_flamingo_forward(iris_lm *lm, const int32_t *ids, int n, float *logits_out, int all_logits);

#endif

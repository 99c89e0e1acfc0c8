/* new_flamingo.h — a fresh OpenFlamingo model built around the vision tower
 * and the language model of a trained LLaVA (llava-hf layout): OpenFlamingo's
 * own recipe in miniature, a pre-trained tower and a pre-trained LM, both to
 * stay frozen, joined by a new perceiver resampler and new gated
 * cross-attention blocks.
 *
 * The spec is an INI file with one section (config/tiny/tiny-flamingo.ini):
 *   [openflamingo]
 *   llava = DIR                       the LLaVA to take the tower and LM from
 *                                     (relative to the current directory;
 *                                     the caller may override it)
 *   cross_attn_every_n_layers = 1     a block before every N-th decoder layer
 *   dim_head = 64                     perceiver and blocks (one value, as
 *                                     openflamingo.json has one)
 *   perceiver_depth = 6  perceiver_heads = 8  num_latents = 64
 *   perceiver_ff_mult = 4  xattn_heads = 8  xattn_ff_mult = 4
 *   max_images = 16  vision_ln_post = false
 *   preprocess = crop                 crop (OpenFlamingo's), pad (LLaVA-1.5's
 *                                     square padding, what a LLaVA's tower
 *                                     learnt on) or resize
 * The defaults are open_flamingo's (PerceiverResampler, GatedCrossAttention-
 * Block); unknown keys and out-of-range values are errors naming the file.
 *
 * Output directory (flamingo.h's layout, every path relative):
 *   openflamingo.json        lang_model "lm", vision_model "clip", checkpoint
 *                            "checkpoint.safetensors", the sizes above
 *   lm/                      LlamaForCausalLM: the LLaVA's language_model.*,
 *                            its tokenizer files
 *   clip/                    CLIPVisionModel: the LLaVA's tower cut after the
 *                            layer LLaVA reads (vision_feature_layer), so its
 *                            last_hidden_state[:, 1:] is exactly the patch
 *                            tokens the LLaVA's projector saw
 *   checkpoint.safetensors   the new parts under checkpoint.pt's names, with
 *                            open_flamingo's initialisation: perceiver latents
 *                            N(0, 1); every Linear (no biases) U(+-1/sqrt(in))
 *                            as torch.nn.Linear; LayerNorms (1, 0); attn_gate
 *                            and ff_gate 0 (so the model starts as the LM);
 *                            the grown embedding table (and the untied head)
 *                            "lang_encoder.model.embed_tokens.weight" /
 *                            "lang_encoder.lm_head.weight": the LM's rows, then
 *                            one row per new token (<|endofchunk|>, and
 *                            <image> unless the tokenizer has it) equal to the
 *                            mean of the old rows, as transformers'
 *                            resize_token_embeddings (mean_resizing; its
 *                            1e-9-scaled covariance noise left out).
 * Each random tensor draws from its own stream keyed by (seed, name): the same
 * spec, LLaVA and seed give byte-identical files.
 *
 * Contract: 0 on success; -1 with the error set.  Files are written atomically.
 */
#ifndef IRIS_NEW_FLAMINGO_H
#define IRIS_NEW_FLAMINGO_H

#include <stdint.h>

typedef struct {
    char llava[1024];
    int every_n, dim_head, p_depth, p_heads, n_latents, p_ff_mult, x_heads, x_ff_mult, max_images, ln_post;
    char preprocess[8];
} iris_flamingo_spec;

/* 1 when the INI file at path has an [openflamingo] section, 0 when not,
 * -1 (error set) when it cannot be read. */
int iris_spec_is_flamingo(const char *path);
int iris_flamingo_spec_load(iris_flamingo_spec *s, const char *path);
int iris_new_flamingo(const iris_flamingo_spec *s, const char *out_dir, uint64_t seed);

#endif

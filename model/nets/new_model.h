/* new_model.h — a fresh, randomly initialised LLaVA model from a spec file:
 * the starting point of the built-in tiny model's recipe, so that rebuilding
 * the shipped weights needs nothing but iris.
 *
 * The spec is an INI file (config/tiny/tiny-llava.ini is the shipped one):
 *   [vision]    image_size patch_size hidden_size intermediate_size layers
 *               heads hidden_act layer_norm_eps feature_layer
 *   [projector] type (mlp2x_gelu)
 *   [text]      hidden_size intermediate_size layers heads kv_heads
 *               max_position_embeddings rope_theta rms_norm_eps
 *               tie_word_embeddings
 *   [tokenizer] corpus (shapes) corpus_scenes corpus_seed max_vocab
 *   [init]      initializer_range dtype (f32|f16|bf16)
 * Unknown sections or keys and out-of-range values are errors naming the
 * file, line and key.
 *
 * Output, in llava-hf layout (loads unchanged in transformers'
 * LlavaForConditionalGeneration and LlavaProcessor): config.json,
 * model.safetensors, tokenizer.json (byte-level BPE built from the corpus by
 * tokenizer_build.h; specials <s> </s> <pad> <image> are ids 0-3),
 * tokenizer_config.json, special_tokens_map.json, preprocessor_config.json
 * (CLIPImageProcessor at image_size), processor_config.json.
 *
 * Initialisation follows transformers' _init_weights for each part: LLaMA
 * linears and embeddings N(0, initializer_range), RMSNorm weights 1; CLIP
 * (factor 1) patch and position embeddings N(0, initializer_range), class
 * embedding N(0, hidden^-1/2), q/k/v and fc2 N(0, hidden^-1/2 (2 layers)^-1/2),
 * out_proj N(0, hidden^-1/2), fc1 N(0, (2 hidden)^-1/2), biases 0, LayerNorms
 * (1, 0); projector linears N(0, initializer_range), biases 0.  Each tensor
 * draws from its own stream keyed by (seed, tensor name), so the same spec
 * and seed always give byte-identical files.
 *
 * Contract: 0 on success; -1 with the error set.  Files are written
 * atomically.
 */
#ifndef IRIS_NEW_MODEL_H
#define IRIS_NEW_MODEL_H

#include <stdint.h>

#include "core/tensor.h"

typedef struct {
    int v_image, v_patch, v_hidden, v_inter, v_layers, v_heads, feature_layer;
    char v_act[32];
    float v_eps;
    char projector[32];
    int t_hidden, t_inter, t_layers, t_heads, t_kv_heads, t_max_pos, tie;
    float t_rope_theta, t_eps;
    char corpus[32];
    int corpus_scenes, max_vocab;
    uint64_t corpus_seed;
    float init_range;
    char v_pos_init[16];    /* vision position embeddings: random, grid (row + column
                               codes) or sincos (2-D, as MAE) */
    float v_pos_std;        /* std of random or grid vision position codes; < 0: init_range */
    iris_dtype dtype;
} iris_model_spec;

void iris_model_spec_defaults(iris_model_spec *s);
int iris_model_spec_load(iris_model_spec *s, const char *path);
/* Writes the model to out_dir (created when missing). */
int iris_new_model(const iris_model_spec *s, const char *out_dir, uint64_t seed);

#endif

/* clip.h — the CLIP (and SigLIP) vision transformer, as LLaVA uses it.
 *
 * Forward, written as backend calls (model/core/backend.h):
 *   patches = unfold(pixels [C,H,W]) -> [n_patches, C*p*p]   (host)
 *   x = patches . Wpatch^T (+ bias: SigLIP)        conv with stride p == linear
 *   x = [class_embedding; x] (CLIP only) + position_embedding[0..n)
 *   x = pre_layrnorm(x)  (CLIP only; "layrnorm" is HF's spelling)
 *   each layer (pre-LN):  x += out_proj(attn(q,k,v of layer_norm1(x)))
 *                         x += fc2(act(fc1(layer_norm2(x))))
 *   act: quick_gelu (CLIP), gelu_pytorch_tanh (SigLIP), gelu.
 * hidden_states[0] is x after pre_layrnorm, hidden_states[i] x after layer i,
 * as in transformers' output_hidden_states.  post_layernorm is not applied
 * (LLaVA takes features from hidden states, not the pooled output).
 *
 * Weights are looked up by Hugging Face names under a prefix found by probing
 * for "<prefix>embeddings.patch_embedding.weight":
 *   vision_tower.vision_model.   (llava-hf LlavaForConditionalGeneration)
 *   model.vision_tower.vision_model.  /  model.vision_tower.   (newer exports)
 *   vision_tower.                /  vision_model.   (CLIPVisionModel)   /  ""
 * Every shape is checked against the config; errors name the tensor.
 * Other layouts (llama.cpp's mmproj GGUF, clip_gguf.c) give their own names
 * through iris_clip_names and iris_clip_load_names.
 */
#ifndef IRIS_CLIP_H
#define IRIS_CLIP_H

#include "../core/backend.h"
#include "../formats/weights.h"

typedef struct cJSON cJSON;

typedef enum { IRIS_ACT_QUICK_GELU, IRIS_ACT_GELU, IRIS_ACT_GELU_TANH } iris_act;

typedef struct iris_clip_config {
    int hidden, intermediate, n_layers, n_heads;
    int patch, image_size, channels;
    float eps;
    iris_act act;
    int class_token;      /* CLIP: 1; SigLIP: 0 */
    int pre_layernorm;    /* CLIP: 1; SigLIP: 0 */
} iris_clip_config;

/* Fills c from a CLIPVisionConfig / SiglipVisionConfig JSON object, using
 * transformers' defaults for absent keys (model_type picks CLIP or SigLIP).
 * name labels errors.  0 on success. */
int iris_clip_config_from_json(iris_clip_config *c, const cJSON *vision_config, const char *name);
/* LLaVA-1.5's tower, CLIP ViT-L/14-336 (what LlavaConfig assumes without a vision_config). */
void iris_clip_config_vit_l14_336(iris_clip_config *c);
/* Parses an activation name ("quick_gelu", "gelu", "gelu_pytorch_tanh", ...); -1 if unknown. */
int iris_act_from_name(const char *name);
/* Tokens the tower produces: patches (+1 with a class token). */
int iris_clip_n_tokens(const iris_clip_config *c);

typedef struct {
    iris_tensor ln1_w, ln1_b, ln2_w, ln2_b;
    iris_tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
    iris_tensor fc1_w, fc1_b, fc2_w, fc2_b;
} iris_clip_layer;

typedef struct iris_clip {
    iris_clip_config cfg;
    const iris_backend *be;
    char prefix[64];
    iris_tensor patch_w, patch_b;   /* patch_w viewed as [hidden, C*p*p]; patch_b may be empty */
    iris_tensor class_emb;          /* viewed as [1, hidden] */
    iris_tensor pos_emb;            /* [n_tokens, hidden] */
    iris_tensor pre_ln_w, pre_ln_b;
    iris_tensor post_ln_w, post_ln_b;   /* only when a layout has them (GGUF v.post_ln); may be empty */
    iris_clip_layer *layers;
    int loaded;
} iris_clip;

/* Finds the tower in w (see the prefixes above), checks every shape against
 * cfg and prepares the weights for be.  0 on success. */
int iris_clip_load(iris_clip *m, const iris_backend *be, const iris_weights *w,
                   const iris_clip_config *cfg);

/* Where one layout keeps the tower's tensors.  Every name is prefix + stem;
 * the per-layer stems are printf formats taking the layer index.  patch_b and
 * the post_ln pair are optional (NULL: not in this layout; absent from the
 * file: left empty); class_emb and the pre_ln pair are required exactly when
 * cfg says the tower has them. */
typedef struct iris_clip_names {
    char prefix[64];
    const char *patch_w, *patch_b, *class_emb, *pos_emb, *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b;
    const char *ln1_w, *ln1_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    const char *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} iris_clip_names;

/* Like iris_clip_load, with the names given.  Shapes are checked exactly as
 * there (patch conv [hidden, C, p, p], fc1 [intermediate, hidden], ...). */
int iris_clip_load_names(iris_clip *m, const iris_backend *be, const iris_weights *w,
                         const iris_clip_config *cfg, const iris_clip_names *names);

/* ---- llama.cpp's mmproj GGUF (clip_gguf.c) ----
 * Config from the clip.vision.* keys (embedding_length, feed_forward_length,
 * block_count, attention.head_count, attention.layer_norm_epsilon, image_size,
 * patch_size; clip.use_gelu picks GELU over quick-GELU); the class token and
 * pre-LN from the presence of v.class_embd and v.pre_ln.weight.  0 on success. */
int iris_clip_config_from_gguf(iris_clip_config *c, const iris_weights *w);
/* Loads the v.* tensors (v.patch_embd, v.class_embd, v.position_embd, v.pre_ln,
 * v.blk.N.{ln1,attn_q,attn_k,attn_v,attn_out,ln2,ffn_up,ffn_down}, optional
 * v.post_ln).  llama.cpp's CLIP converter names fc1 "ffn_down" and fc2
 * "ffn_up"; newer converters use the opposite; which is which is read from
 * the shapes. */
int iris_clip_load_gguf(iris_clip *m, const iris_backend *be, const iris_weights *w,
                        const iris_clip_config *cfg);
/* Checks a config for sizes iris can run; what labels the error ("vision_config"). */
int iris_clip_config_check(const iris_clip_config *c, const char *name, const char *what);
void iris_clip_free(iris_clip *m);

/* Runs the tower on pixels (host, [C, image, image] f32, normalised) through
 * the first n_run layers (0..n_layers).  states[i] (i = 0..n_run), when not
 * NULL, receives hidden_states[i] [n_tokens, hidden] in backend memory.
 * 0 on success; -1 with iris_last_error() on a backend failure. */
int iris_clip_hidden_states(iris_clip *m, const float *pixels, int n_run, float *const *states);

/* Convenience: hidden_states[layer] (negative counts from the end, as
 * vision_feature_layer: -1 = last, -2 = second to last), running only the
 * layers needed, into out [n_tokens, hidden] (backend memory). */
int iris_clip_features(iris_clip *m, const float *pixels, int layer, float *out);

#endif

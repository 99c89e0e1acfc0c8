/* llava_vision.h — the image half of a LLaVA model: image -> pixel tensor ->
 * vision tower -> selected hidden state -> projector -> one embedding per
 * image token, ready to be spliced into the LLM's input sequence.
 *
 * Configuration comes from the model's config.json:
 *   vision_config (CLIP/SigLIP; absent: CLIP ViT-L/14-336 as LlavaConfig assumes),
 *   vision_feature_layer (default -2), vision_feature_select_strategy
 *   ("default": drop the class token; "full": keep it), projector_hidden_act
 *   ("gelu").  A config.json that is itself a CLIPVisionConfig/SiglipVisionConfig
 *   (a bare tower) is accepted; then there is no projector and the features are
 *   the selected hidden state.
 * Preprocessing defaults to llava-hf's (CROP at the tower's image size);
 * set v->pre.mode = IRIS_PREPROC_PAD for the original LLaVA-1.5 behaviour.
 */
#ifndef IRIS_LLAVA_VISION_H
#define IRIS_LLAVA_VISION_H

#include "../vision/preprocess.h"
#include "clip.h"
#include "projector.h"

typedef struct iris_llava_vision {
    iris_clip clip;
    iris_projector proj;
    int has_projector;
    int feature_layer;      /* as vision_feature_layer: negative from the end */
    int keep_class_token;   /* strategy "full" */
    iris_preproc pre;
    const iris_backend *be;
} iris_llava_vision;

/* model_dir holds config.json; w its weights (already open).  0 on success. */
int iris_llava_vision_open(iris_llava_vision *v, const iris_backend *be, const iris_weights *w,
                           const char *model_dir);
/* llama.cpp's mmproj GGUF (llava_vision_gguf.c): general.architecture "clip",
 * clip.has_vision_encoder and clip.has_llava_projector set, clip.projector_type
 * "mlp" (or absent); tower from clip.vision.* (clip_gguf.c), projector
 * mm.0 -> GELU -> mm.2, preprocessing PAD at clip.vision.image_size with
 * clip.vision.image_mean / image_std.  Features: hidden state
 * clip.vision.feature_layer when given (one value), otherwise the output of
 * the last stored layer — the converter keeps block_count = layers - 1 for
 * vision_feature_layer -2.  The class token is dropped when the tower has
 * one (v.class_embd).  Errors name the file and what does not fit. */
int iris_llava_vision_open_gguf(iris_llava_vision *v, const iris_backend *be, const iris_weights *mmproj);
void iris_llava_vision_close(iris_llava_vision *v);
/* Image tokens per image (576 for LLaVA-1.5) and their width (the LLM's hidden size). */
int iris_llava_vision_n_tokens(const iris_llava_vision *v);
int iris_llava_vision_dim(const iris_llava_vision *v);
/* pixels: host [3, S, S] (already preprocessed); out: backend memory
 * [n_tokens, dim].  0 on success. */
int iris_llava_vision_encode_pixels(iris_llava_vision *v, const float *pixels, float *out);
/* The whole path from a decoded image. */
int iris_llava_vision_encode_image(iris_llava_vision *v, const iris_image *img, float *out);

#endif

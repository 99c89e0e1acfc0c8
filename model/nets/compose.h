/* compose.h — builds a new LLaVA-style VLM from any supported CLIP tower and
 * any supported LLaMA-family LLM, with a freshly initialised projector: the
 * "replace Vicuna with Gemma" ablation as one step (then train stage 1).
 *
 * Output, in llava-hf layout (loads in transformers' LlavaForConditionalGeneration
 * for mlp2x_gelu): config.json (model_type llava, vision_config, text_config,
 * image_token_index), model.safetensors (vision_tower.vision_model.*,
 * multi_modal_projector.linear_{1,2}.*, language_model.model.*,
 * language_model.lm_head.weight) and tokenizer.json with an added "<image>"
 * token.  When the LLM's vocabulary has no "<image>", one row is appended to
 * the embedding (and untied lm_head) initialised to the mean row, as
 * transformers' resize_token_embeddings does.  The projector is initialised as
 * PyTorch's nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) for weights and biases,
 * from a seeded generator.  A `linear` projector is written as
 * mm_projector.{weight,bias} (original LLaVA naming; iris loads it,
 * transformers' Llava class has no linear projector).
 *
 * Contract: 0 on success; -1 with a message naming the input or output; the
 * output directory is created and nothing is left half-written in it on failure
 * (files are written atomically).
 */
#ifndef IRIS_COMPOSE_H
#define IRIS_COMPOSE_H

#include <stdint.h>

typedef struct {
    const char *vision_dir;   /* CLIPVisionModel / CLIPModel / LLaVA checkpoint dir */
    const char *llm_dir;      /* LLaMA-family causal LM dir */
    const char *out_dir;
    int linear_projector;     /* 0: mlp2x_gelu */
    uint64_t seed;
    int vision_feature_layer; /* default -2 */
} iris_compose_opts;

int iris_compose(const iris_compose_opts *o);

#endif

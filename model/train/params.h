/* params.h — the trainable (and frozen) f32 parameters of a network being
 * fine-tuned, with their gradients and AdamW moments.
 *
 * Contract: every parameter is an f32 array in the backend's memory with an
 * iris_tensor descriptor over it (so forward ops take it like any weight).
 * A frozen parameter has g == m == v == NULL: no gradient, no optimizer state.
 * Names are Hugging Face module paths without the checkpoint prefix
 * ("model.layers.0.self_attn.q_proj.weight", "...q_proj.lora_A.weight").
 */
#ifndef IRIS_TRAIN_PARAMS_H
#define IRIS_TRAIN_PARAMS_H

#include "core/backend.h"

typedef enum {
    IRIS_PG_LLM = 0,    /* decoder weights */
    IRIS_PG_LORA,       /* LoRA A/B matrices */
    IRIS_PG_PROJECTOR,  /* multimodal projector */
    IRIS_PG_VISION,     /* vision tower */
    IRIS_PG_COUNT
} iris_param_group;

typedef struct {
    char name[160];
    iris_tensor t;       /* F32 descriptor; t.data == w */
    float *w, *g, *m, *v;
    long n;
    int group;
    int decay;           /* weight decay applies (2-D weights, as HF's Trainer) */
} iris_param;

typedef struct {
    const iris_backend *be;
    iris_param *p;
    int n, cap;
} iris_param_set;

int iris_params_init(iris_param_set *s, const iris_backend *be, int cap);
void iris_params_free(iris_param_set *s);
/* Adds a zeroed parameter of shape [rows, cols] (cols 0: vector [rows]);
 * returns its index or -1.  The table grows as needed (cap is a first size),
 * so hold indices, not iris_param pointers, across adds. */
int iris_params_add(iris_param_set *s, const char *name, int rows, int cols, int group);
/* Makes p trainable: allocates (zeroed) gradient and moments. */
int iris_params_set_trainable(iris_param_set *s, int idx);
int iris_params_find(const iris_param_set *s, const char *name);
/* Zeroes every gradient. */
void iris_params_zero_grad(iris_param_set *s);
/* Number of trainable elements. */
long iris_params_trainable(const iris_param_set *s);

#endif

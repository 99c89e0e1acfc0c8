/* projector.h — the multimodal projector from vision features to the LLM's
 * embedding space.
 *
 *   linear       y = x W^T + b                      (LLaVA-1 style)
 *   mlp2x_gelu   y = W2 gelu(W1 x + b1) + b2        (LLaVA-1.5; exact erf GELU,
 *                or the activation named by projector_hidden_act)
 *
 * Names: llava-hf `multi_modal_projector.linear_{1,2}` (also under `model.`);
 * original LLaVA `model.mm_projector.{0,2}` (mlp2x_gelu) or
 * `model.mm_projector` (linear); llama.cpp's mmproj GGUF `mm.{0,2}`.  The type is found from the names present;
 * dimensions come from the weights and are checked against in_dim.
 */
#ifndef IRIS_PROJECTOR_H
#define IRIS_PROJECTOR_H

#include "../core/backend.h"
#include "../formats/weights.h"
#include "clip.h"

typedef enum { IRIS_PROJ_LINEAR, IRIS_PROJ_MLP2X } iris_proj_type;

typedef struct iris_projector {
    iris_proj_type type;
    iris_act act;               /* between the two linears of MLP2X */
    int in_dim, mid_dim, out_dim;
    const iris_backend *be;
    iris_tensor w1, b1, w2, b2; /* LINEAR uses w1, b1 */
    int loaded;
} iris_projector;

/* Finds the projector in w; in_dim is the vision feature size.  act is used
 * for MLP2X (IRIS_ACT_GELU for LLaVA-1.5).  0 on success. */
int iris_projector_load(iris_projector *p, const iris_backend *be, const iris_weights *w,
                        int in_dim, iris_act act);
void iris_projector_free(iris_projector *p);
/* y[n, out_dim] = projector(x[n, in_dim]); both in backend memory. */
int iris_projector_forward(iris_projector *p, const float *x, int n, float *y);

#endif

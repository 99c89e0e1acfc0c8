/* lora_site.h — one LoRA adapter on a bias-free linear y = x W^T outside the
 * decoder (OpenFlamingo's perceiver and gated cross-attention blocks), with
 * PEFT's definition as in lora.h:
 *
 *   y += scale * dropout(x) A^T B^T,   A [r, in] (Kaiming-uniform), B [out, r] (zero)
 *
 * Contract: init adds A and B to s as trainable parameters named
 * "<module>.lora_A.weight" / "<module>.lora_B.weight" (group IRIS_PG_LORA)
 * and keeps their indexes (s may grow afterwards).  forward adds the
 * adapter's output to y [n, out] and keeps the hidden dropout(x) A^T for
 * backward; backward takes the same x and dy [n, out], ACCUMULATES the
 * gradients of A and B and adds the adapter's part of dL/dx to dx when dx is
 * non-NULL.  Dropout reads *key (the step's key, set by the trainer) and is
 * on while *training; masks are a function of (key, site, element) as in
 * lora.h, so backward redraws them instead of keeping dropout(x): scratch
 * ([max_rows, in] floats at least, needed when dropout > 0) may be shared
 * by every site.  n <= max_rows.  Backend memory, f32.
 */
#ifndef IRIS_TRAIN_LORA_SITE_H
#define IRIS_TRAIN_LORA_SITE_H

#include <stdint.h>

#include "train/lora.h"
#include "train/params.h"

typedef struct {
    iris_param_set *s;
    int a, b;                 /* parameter indexes in s */
    int r, in, out, max_rows;
    float scale, dropout;
    uint64_t site;            /* dropout site number */
    const uint64_t *key;
    const int *training;
    float *h, *dh;            /* [max_rows, r] */
    float *scratch;           /* the caller's, [max_rows, in] (dropout > 0) */
} iris_lora_site;

int iris_lora_site_init(iris_lora_site *ls, iris_param_set *s, const char *module, const iris_lora_config *lc,
                        int in, int out, int max_rows, uint64_t seed, uint64_t site, const uint64_t *key,
                        const int *training, float *scratch);
void iris_lora_site_free(iris_lora_site *ls);
void iris_lora_site_forward(iris_lora_site *ls, float *y, const float *x, int n);
void iris_lora_site_backward(iris_lora_site *ls, const float *dy, const float *x, int n, float *dx);

#endif

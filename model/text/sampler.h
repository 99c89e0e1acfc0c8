/* sampler.h — picks the next token from logits.
 *
 * Order (as llama.cpp applies it): repetition penalty over the last
 * repeat_last_n tokens, then temperature <= 0 => greedy; otherwise top-k,
 * top-p (nucleus), min-p, temperature, and a draw from the seeded generator.
 * The same seed and the same logits always give the same tokens.
 *
 * Contract: iris_sample never fails; it may reorder/modify its scratch only.
 */
#ifndef IRIS_SAMPLER_H
#define IRIS_SAMPLER_H

#include <stdint.h>

typedef struct {
    float temperature;     /* 0 = greedy */
    int top_k;             /* 0 = off */
    float top_p;           /* 1 = off */
    float min_p;           /* 0 = off */
    float repeat_penalty;  /* 1 = off */
    int repeat_last_n;
    uint64_t seed;
} iris_sampler_params;

typedef struct {
    iris_sampler_params p;
    uint64_t rng;
    int n_vocab;
    float *scratch_logit;
    int32_t *scratch_id;
} iris_sampler;

iris_sampler_params iris_sampler_defaults(void);
int iris_sampler_init(iris_sampler *s, const iris_sampler_params *p, int n_vocab);
void iris_sampler_free(iris_sampler *s);
/* logits are modified in place by the penalty; history may be NULL. */
int32_t iris_sample(iris_sampler *s, float *logits, const int32_t *history, int n_history);
/* A uniform draw in [0, 1) from the sampler's generator. */
double iris_sampler_uniform(iris_sampler *s);

#endif

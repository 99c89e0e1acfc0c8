/* generate.h — the prefill + sample + decode loop shared by `iris run`,
 * `iris chat` and the UI.
 *
 * Contract: iris_generate continues the model's KV cache (it does not reset
 * it), processes the prompt sequence (token ids and image rows, see lm.h), then samples up to n_predict tokens, stopping
 * at EOS / end-of-turn ids or when *stop becomes non-zero (set it from a signal
 * handler or another thread).  Afterwards the cache holds the prompt and every
 * sampled token (an end token included) while the context has room.  Each
 * new token's text is passed to on_text as
 * complete UTF-8.  Returns 0, or -1 with iris_last_error() set.
 */
#ifndef IRIS_GENERATE_H
#define IRIS_GENERATE_H

#include <signal.h>
#include <stdint.h>

#include "lm.h"
#include "text/sampler.h"

typedef struct {
    int n_predict;
    iris_sampler_params sampling;
    const char *dump_logits_path;   /* last prompt position's logits, raw LE f32 */
    int show_special;
    int32_t *out_tokens;            /* optional: receives the sampled ids (n_predict) */
} iris_gen_params;

typedef struct {
    int n_prompt, n_generated;
    double prompt_s, gen_s;         /* wall seconds */
    int stopped_by_eos, interrupted;
} iris_gen_stats;

typedef void (*iris_text_cb)(const char *text, int len, void *ud);

int iris_generate(iris_lm *lm, const int32_t *prompt, int n_prompt, const iris_gen_params *gp,
                  iris_text_cb on_text, void *ud, volatile sig_atomic_t *stop, iris_gen_stats *st);

/* Writes n floats as little-endian f32 to path (atomically). */
int iris_write_f32_file(const char *path, const float *x, long n);

#endif

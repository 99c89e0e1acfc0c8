/* generate_batch.h — greedy answers to many prompts at once, each in a slot
 * of a batch that runs through the decoder together (llama_multi.h).
 *
 * The caller adds prompts while slots are free and calls step: new prompts
 * are processed (packed together, up to max_rows rows per pass), then every
 * running answer gets its next token in one pass.  An answer ends at an EOS /
 * end-of-turn id, at a newline when stop_at_newline is set, or after
 * n_predict tokens; it then leaves the batch (done is called with its text)
 * and its slot takes the next prompt while the others go on.
 *
 * The stopping rules and the text are those of generate.c's loop with greedy
 * sampling (iris_generate at temperature 0): the same tokens, up to the float
 * rounding of a matrix product over more rows (llama_multi.h).
 *
 * Contract: only for models iris_gen_batch_supported accepts (a LLaMA-family
 * decoder, LLaVA images or none); errors return -1/NULL with
 * iris_last_error() set.  The model's own KV cache is left alone.
 */
#ifndef IRIS_GENERATE_BATCH_H
#define IRIS_GENERATE_BATCH_H

#include <stdint.h>

#include "lm.h"

typedef struct iris_gen_batch iris_gen_batch;

/* An answer is complete: text (malloc'd, NUL-terminated, now the callee's),
 * n_tokens sampled (end token included). */
typedef void (*iris_gen_batch_done)(int tag, char *text, int n_tokens, void *ud);

/* 1 when lm can use batched generation, 0 (reason in iris_last_error()) otherwise. */
int iris_gen_batch_supported(const iris_lm *lm);
/* n_slots sequences of at most n_ctx tokens (prompt + answer) each. */
iris_gen_batch *iris_gen_batch_new(iris_lm *lm, int n_slots, int n_ctx, int n_predict, int stop_at_newline);
void iris_gen_batch_free(iris_gen_batch *g);
int iris_gen_batch_free_slots(const iris_gen_batch *g);
/* Slots holding a prompt or an answer in progress. */
int iris_gen_batch_active(const iris_gen_batch *g);
/* Starts answering seq (token ids and image rows as lm.h describes: row r of
 * image i is -(1 + i * lm->n_img_rows + r)); images[i] are those images'
 * features, host [n_img_rows, dim], copied.  tag comes back with the answer.
 * Fails when no slot is free or the prompt + n_predict does not fit n_ctx. */
int iris_gen_batch_add(iris_gen_batch *g, const int32_t *seq, int n, const float *const *images, int n_images,
                       int tag);
/* The same for a prompt whose first keep rows equal those of the prompt added
 * with src_tag (the same image and template prefix): while that prompt is
 * still in the batch, its cache rows are copied instead of computed (after
 * its own prompt pass when both are new).  keep < n.  Without it in the
 * batch the whole prompt is processed. */
int iris_gen_batch_add_shared(iris_gen_batch *g, const int32_t *seq, int n, const float *const *images,
                              int n_images, int tag, int src_tag, int keep);
/* One step (see above); done is called for each answer that ended. */
int iris_gen_batch_step(iris_gen_batch *g, iris_gen_batch_done done, void *ud);

#endif

/* eval_internal.h — what evaluate.c shares with the batched evaluation
 * (evaluate_batch.c).  Not a public contract.
 */
#ifndef IRIS_EVAL_INTERNAL_H
#define IRIS_EVAL_INTERNAL_H

#include "evaluate.h"

/* The user turn: image placeholder, question, choices (MC), suffix; malloc'd. */
char *iris_eval_user_text(const iris_eval_item *it, const iris_eval_opts *o, int with_image);
/* The chat-templated prompt's token ids (an image is one image token). */
int32_t *iris_eval_prompt_ids(iris_lm *lm, const char *user, int tpl, int *n_out);
/* The chat-templated prompt as a sequence with n_images images expanded (lm.h). */
int32_t *iris_eval_prompt_sequence(iris_lm *lm, const char *user, int tpl, int n_images, int *n_out);
/* The question's accuracy in [0, 1], or -1 without a reference for metric m. */
double iris_eval_score(const iris_eval_item *it, const char *pred, iris_metric m);
/* Overall and per-type percentages of the r->n scored questions (r->acc). */
int iris_eval_tally(iris_eval_result *r, const iris_eval_set *set);
/* The batched path of iris_evaluate (LLaVA / text LLaMA-family models):
 * questions 0..total-1, batch slots (>= 2). */
int iris_evaluate_batched(iris_lm *lm, const iris_eval_set *set, const iris_eval_opts *o, int total, int tpl,
                          int n_predict, int batch, iris_eval_result *r);

#endif

/* evaluate.h — runs a model over a question set and scores the answers.
 *
 * Each question is asked alone (the model's chat template, the image first),
 * answered greedily until an end token, a newline or n_predict tokens.
 *
 * Batched (opts.batch != 1, LLaMA-family decoders with LLaVA images or none):
 * up to `batch` questions are answered together (generate_batch.h): their
 * prompts go through the decoder as one matrix, then each step gives every
 * running answer its next token in one pass; an answer that ends leaves the
 * batch and the next question takes its slot.  Same answers as one at a time
 * (up to float rounding, see llama_multi.h).  A question about the same
 * image as the previous one reuses its encoded image and copies the cache
 * rows of their shared prompt prefix from its slot (while that question is
 * still in the batch).
 *
 * One at a time (batch 1; always for OpenFlamingo and the generic decoders,
 * MPT, GPT-NeoX, BioGPT): questions about the same image as the previous one
 * reuse its encoded image and the shared prompt prefix in the KV cache, so
 * only the new question's tokens are processed.
 *
 * OpenFlamingo models (lm->flamingo) are prompted as OpenFlamingo's VQA
 * evaluation does, without a chat template:
 *   K x "<image>Question:{q} Short answer:{a}<|endofchunk|>"  then
 *   "<image>Question:{q} Short answer:"
 * where the K in-context examples (shots) are drawn for each question, with
 * the seed, from the support set (default: the evaluated set without the
 * question itself), a = the example's first reference answer; the answer is
 * cut at "Question", "Answer", "Short" or ", " as OpenFlamingo's
 * post-processing does.  Other models refuse shots > 0 (one image per
 * prompt: LLaVA-1.5 was not trained on interleaved examples).
 *
 * Contract: returns 0 and fills the result (per-question predictions and
 * accuracies, overall and per-type percentages), or -1 with an error set; an
 * unreadable image fails that question's run with a message naming it.
 */
#ifndef IRIS_EVALUATE_H
#define IRIS_EVALUATE_H

#include <signal.h>

#include "eval_data.h"
#include "nets/lm.h"

typedef enum { IRIS_METRIC_VQAV2, IRIS_METRIC_AOKVQA_DA, IRIS_METRIC_AOKVQA_MC, IRIS_METRIC_EXACT } iris_metric;

typedef struct {
    iris_metric metric;
    int limit;                 /* 0 = all */
    int n_predict;             /* default 24 */
    const char *prompt_suffix; /* appended to each question, e.g. LLaVA's short-answer hint */
    int tpl;                   /* chat template; -1 = the model's */
    void (*progress)(int done, int total, double acc_percent, void *ud);
    void *ud;
    volatile sig_atomic_t *stop;
    int shots;                 /* in-context examples per question (OpenFlamingo models) */
    const iris_eval_set *support; /* where they are drawn from; NULL: the evaluated set */
    unsigned long long seed;   /* the draw's seed */
    int batch;                 /* questions answered together: 0 = auto
                                * (IRIS_EVAL_DEFAULT_BATCH), 1 = one at a time */
} iris_eval_opts;

/* The automatic batch: this many questions at once, fewer when their KV
 * caches would pass IRIS_EVAL_BATCH_CACHE_MIB. */
#define IRIS_EVAL_DEFAULT_BATCH 16
#define IRIS_EVAL_BATCH_CACHE_MIB 2048

typedef struct {
    int n;                     /* questions scored */
    double overall;            /* percent */
    int n_types;
    char **types;
    double *type_acc;          /* percent */
    int *type_n;
    char **pred;               /* n predictions */
    double *acc;               /* n accuracies in [0, 1] */
    char **shots;              /* n: the examples' question ids, '\n'-separated (NULL: none) */
    double seconds;
    long tokens_processed;
} iris_eval_result;

int iris_metric_from_name(const char *name);
const char *iris_metric_name(iris_metric m);
int iris_evaluate(iris_lm *lm, const iris_eval_set *set, const iris_eval_opts *o, iris_eval_result *r);
void iris_eval_result_free(iris_eval_result *r);
/* results.json: {model, metric, n, overall, per_type, seconds, predictions: [...]};
 * a prediction made with in-context examples lists their question ids as "shots". */
int iris_eval_write_json(const iris_eval_result *r, const iris_eval_set *set, const char *model,
                         iris_metric metric, const char *path);

#endif

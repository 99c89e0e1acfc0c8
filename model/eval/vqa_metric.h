/* vqa_metric.h — the VQAv2 and A-OKVQA accuracy metrics.
 *
 * VQAv2 (the official evaluation's rules):
 *  - the prediction: newlines/tabs to spaces, trimmed, then punctuation
 *    processing and digit/article processing (below);
 *  - the human answers: punctuation processing only, and only when they are
 *    not all identical (identical answers are compared as they are);
 *  - accuracy = mean over the 10 leave-one-out subsets of
 *    min(1, #answers in the subset equal to the prediction / 3).
 *    With a single answer (datasets that have one) leave-one-out is undefined
 *    (it would always give 0): iris then scores an exact match after the
 *    same processing.  Per-question-type figures average these per-question
 *    accuracies (the official script averages its last leave-one-out term).
 * Punctuation processing: each of ; : / ' [ ] " ( ) = + \ _ > < @ ` , ?
 * is deleted when it touches a space in the text or the text has a digit,
 * digit comma ("1,000"), else replaced by a space; then every '.' not
 * followed by a digit is deleted.  Digit/article processing: lower-case,
 * split on whitespace, number words none/zero..ten to digits, drop a/an/the,
 * expand contractions ("dont" -> "don't"), join with single spaces.
 * A-OKVQA direct answer: min(1, matches / 3) over the direct answers, no
 * leave-one-out; multiple choice: exact match with the correct choice.
 *
 * Contract: pure functions; normalisers return malloc'd strings (NULL on OOM).
 */
#ifndef IRIS_VQA_METRIC_H
#define IRIS_VQA_METRIC_H

char *iris_vqa_process_punctuation(const char *text);
char *iris_vqa_process_digit_article(const char *text);
/* Both steps as applied to a prediction (with the whitespace clean-up). */
char *iris_vqa_normalize_prediction(const char *text);
/* VQAv2 accuracy in [0, 1]; -1 on OOM or when there are no answers. */
double iris_vqa_accuracy(const char *prediction, const char *const *answers, int n_answers);
double iris_aokvqa_da_accuracy(const char *prediction, const char *const *answers, int n_answers);
double iris_exact_accuracy(const char *prediction, const char *answer);

#endif

/* shapes_corpus.h — the shapes world's language as a list of texts: every
 * question form, answer and caption of n random scenes, answers and captions
 * also with the leading space a chat template puts before them.  This is what
 * the tiny model's tokenizer is built from (iris new-model), so its words
 * are whole tokens.  Same seed and count, same list.
 *
 * Contract: returns a malloc'd array of *n malloc'd strings (free with
 * shapes_corpus_free), or NULL with the error set.
 */
#ifndef IRIS_SHAPES_CORPUS_H
#define IRIS_SHAPES_CORPUS_H

#include <stdint.h>

char **shapes_corpus(int n_scenes, uint64_t seed, int *n);
void shapes_corpus_free(char **texts, int n);

#endif

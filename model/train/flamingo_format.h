/* flamingo_format.h — one LLaVA-format record rendered as OpenFlamingo
 * trains on interleaved text: every human/gpt pair becomes one chunk
 *   "<image>Question:{q} Short answer:{a}<|endofchunk|>"
 * or, when the human turn holds nothing but its image(s), a caption chunk
 *   "<image>{a}<|endofchunk|>".
 * A chunk starts with as many "<image>" as its human turn names; a record
 * whose turns name none puts all its images in front of the first chunk.
 * "image" is a file name or a list of them (several images per record).
 *
 * Labels (transformers' convention, -100 = no loss): the answer/caption
 * tokens and their <|endofchunk|> train; "<image>", "Question:..." and the
 * question do not.  (OpenFlamingo's own scripts train on all text except
 * media and padding; iris trains the answer, as the VQA evaluation asks it.)
 * The ids hold the model's real <image> token (no placeholder); masks come
 * from the token counts of rendered prefixes, as conv_format.h does.
 */
#ifndef IRIS_TRAIN_FLAMINGO_FORMAT_H
#define IRIS_TRAIN_FLAMINGO_FORMAT_H

#include <stdint.h>

#include "text/tokenizer.h"

struct cJSON;

typedef struct {
    int32_t *ids, *labels;
    int n;
    char **images;      /* resolved paths, in order */
    int n_images;
} iris_flamingo_sample;

/* tok must know "<image>" and "<|endofchunk|>" (the OpenFlamingo loader adds
 * them); image_folder may be NULL; missing image files are errors. */
int iris_flamingo_format_record(const struct cJSON *rec, int ri, const iris_tokenizer *tok, int media_token,
                                const char *image_folder, iris_flamingo_sample *s);
void iris_flamingo_sample_free(iris_flamingo_sample *s);

#endif

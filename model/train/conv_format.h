/* conv_format.h — one LLaVA-format record -> token ids and labels.
 *
 * A record is {id, image?, conversations: [{from: "human"|"gpt", value}]}.
 * The conversation is rendered with a template (plain for stage 1,
 * vicuna_v1 or llava-hf for stage 2; see text/chat_template.h) and
 * tokenized; "<image>" becomes IRIS_IMAGE_PLACEHOLDER, which the model side
 * replaces with the image's feature rows.  Labels copy the ids of assistant
 * answers and their end token; everything else is -100 (as LLaVA masks).
 * Masks come from the token counts of rendered prefixes, so they match the
 * tokenization of the whole text.
 *
 * Records may also be pre-tokenized: {"input_ids": [...], "labels": [...]}
 * (labels optional: then every token trains).
 *
 * Errors (a record with no assistant turn, an unknown role, a missing image
 * file, ...) name the record by its index and "id".
 */
#ifndef IRIS_TRAIN_CONV_FORMAT_H
#define IRIS_TRAIN_CONV_FORMAT_H

#include <stdint.h>

#include "text/chat_template.h"
#include "text/tokenizer.h"

struct cJSON;

#define IRIS_IMAGE_PLACEHOLDER (-200)

typedef struct {
    const iris_tokenizer *tok;      /* may be NULL for pre-tokenized data */
    iris_chat_template tpl;
    const char *image_folder;       /* NULL: image paths as given */
    int check_images;               /* fail when the image file is missing */
    int vocab;                      /* ids must lie in [0, vocab) */
} iris_format_opts;

typedef struct {
    int32_t *ids, *labels;
    int n;
    char *image;                    /* resolved path, NULL for text-only */
    int n_images;                   /* placeholders in ids */
} iris_sample;

/* 0 on success; -1 with the error set (record index ri labels messages). */
int iris_format_record(const struct cJSON *rec, int ri, const iris_format_opts *o, iris_sample *s);
void iris_sample_free(iris_sample *s);
/* Turn t of a LLaVA conversation: 1 for a human/user turn, 0 for gpt/assistant,
 * -1 (error set, naming who and t) for a malformed turn; *value its text. */
int iris_conv_turn(const struct cJSON *turn, const char *who, int t, const char **value);
/* Number of label entries that train (>= 0, the HF shift applied: labels[1..]). */
int iris_sample_counted(const iris_sample *s);

#endif

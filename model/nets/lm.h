/* lm.h — a language model ready to run: weights, config, decoder, tokenizer.
 *
 * Loads a directory in Hugging Face layout (config.json + safetensors +
 * tokenizer.json; LLaVA configs use their text_config) or a single .gguf file
 * (metadata + tensors + vocabulary).
 *
 * A GGUF LLaVA comes as two files, as llama.cpp publishes it: the language
 * model .gguf and an mmproj .gguf (options.mmproj) holding the CLIP tower and
 * projector.  Such a vocabulary has no <image> token, so — as llama.cpp's
 * llava-cli does — the literal text "<image>" in a prompt marks where an
 * image goes: iris_lm_tokenize cuts the text there, tokenizes each piece on
 * its own (BOS only before the first) and puts image_token_id, a virtual id
 * one past the vocabulary, in between; iris_lm_expand_images replaces it.
 *
 * Contract: iris_lm_load fails with a one-line iris_last_error() naming the
 * file and the problem, and leaves nothing allocated.
 */
#ifndef IRIS_LM_H
#define IRIS_LM_H

#include "core/backend.h"
#include "formats/weights.h"
#include "llama.h"
#include "text/tokenizer.h"

struct iris_llava_vision;
struct iris_flamingo;

typedef struct iris_lm {
    char *path;
    iris_weights w;
    iris_llama net;
    iris_tokenizer *tok;
    int default_template;   /* iris_chat_template guessed from the model */
    /* LLaVA models: the vision half and the images encoded so far */
    struct iris_llava_vision *vision;   /* NULL for a text-only model */
    iris_weights *mmproj;               /* GGUF: the separate mmproj file */
    int image_token_id;                 /* -1 when none */
    int image_marker_text;              /* 1: "<image>" is found in the text (mmproj) */
    int n_img_rows;                     /* embeddings per image (576 for LLaVA-1.5) */
    float **image_feats;                /* host [n_img_rows, dim] per image */
    int n_images, cap_images;
    /* OpenFlamingo models (flamingo.h): images are media for the gated
     * cross-attention blocks; <image> stays a token in the sequence */
    struct iris_flamingo *flamingo;
} iris_lm;

typedef struct {
    int n_ctx;
    const char *mmproj;          /* GGUF vision projector file, or NULL */
    const char *preprocess;      /* "pad" (default), "crop" or NULL */
} iris_lm_options;

int iris_lm_load(iris_lm *lm, const char *path, const iris_backend *be, int n_ctx);
/* PATH may also name an OpenFlamingo model: a *.json model file or a
 * directory holding openflamingo.json (flamingo.h). */
int iris_lm_load_opts(iris_lm *lm, const char *path, const iris_backend *be,
                      const iris_lm_options *opts);
/* The same for plain language models and LLaVA only (no model file). */
int iris_lm_load_base(iris_lm *lm, const char *path, const iris_backend *be,
                      const iris_lm_options *opts);
/* True when the model takes images (LLaVA or OpenFlamingo). */
int iris_lm_has_vision(const iris_lm *lm);
void iris_lm_free(iris_lm *lm);
/* True for the model's EOS and the tokenizer's other end-of-turn ids. */
int iris_lm_is_end(const iris_lm *lm, int32_t token);

/* ---- images (lm_images.c) ----
 * A prompt sequence is an int32 array: ids >= 0 are tokens; a negative value
 * -(1 + image * n_img_rows + row) stands for one row of an encoded image's
 * embeddings, so that identical prefixes of mixed sequences compare equal. */

/* Loads, preprocesses and encodes an image; returns its index or -1. */
int iris_lm_add_image(iris_lm *lm, const char *path);
void iris_lm_clear_images(iris_lm *lm);
/* Replaces the k-th image token of ids with the rows of image first_image+k.
 * Fails when the counts do not match.  *out is malloc'd. */
int iris_lm_expand_images(const iris_lm *lm, const int32_t *ids, int n, int first_image,
                          int n_images, int32_t **out, int *n_out);
/* Tokenizes a prompt for this model (parse_special on); same contract as
 * iris_tokenize.  With an mmproj the text "<image>" becomes image_token_id. */
int iris_lm_tokenize(const iris_lm *lm, const char *text, size_t len, int add_bos, int32_t *ids, int cap);
/* Counts the image tokens in ids. */
int iris_lm_count_image_tokens(const iris_lm *lm, const int32_t *ids, int n);
/* Runs a mixed sequence through the decoder (continuing its cache); logits of
 * the last row to logits_out when non-NULL. */
int iris_lm_forward_seq(iris_lm *lm, const int32_t *seq, int n, float *logits_out);

#endif

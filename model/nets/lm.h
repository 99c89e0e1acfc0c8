/* lm.h — a language model ready to run: weights, config, decoder, tokenizer.
 *
 * Loads a directory in Hugging Face layout (config.json + safetensors +
 * tokenizer.json; LLaVA configs use their text_config) or a single .gguf file
 * (metadata + tensors + vocabulary).
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

typedef struct iris_lm {
    char *path;
    iris_weights w;
    iris_llama net;
    iris_tokenizer *tok;
    int default_template;   /* iris_chat_template guessed from the model */
} iris_lm;

int iris_lm_load(iris_lm *lm, const char *path, const iris_backend *be, int n_ctx);
void iris_lm_free(iris_lm *lm);

#endif

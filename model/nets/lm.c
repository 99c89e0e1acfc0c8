#include "lm.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file_util.h"
#include "text/chat_template.h"

static int guess_template(const iris_llama_config *c)
{
    switch (c->arch) {
    case IRIS_ARCH_GEMMA: return IRIS_TPL_GEMMA;
    case IRIS_ARCH_QWEN2: return IRIS_TPL_CHATML;
    default: return IRIS_TPL_VICUNA_V1;
    }
}

int iris_lm_load(iris_lm *lm, const char *path, const iris_backend *be, int n_ctx)
{
    memset(lm, 0, sizeof *lm);
    iris_llama_config cfg;
    int is_dir = iris_is_dir(path);
    if (!is_dir && !iris_file_exists(path)) {
        iris_set_error("%s: no such model directory or file", path);
        return -1;
    }
    if (!is_dir && !iris_has_suffix(path, ".gguf")) {
        iris_set_error("%s: not a model directory or .gguf file", path);
        return -1;
    }
    if (is_dir) {
        char *cfg_path = iris_path_join(path, "config.json");
        if (!cfg_path) return -1;
        if (!iris_file_exists(cfg_path)) {
            iris_set_error("%s: config.json is missing", path);
            free(cfg_path);
            return -1;
        }
        int rc = iris_llama_config_load_json(&cfg, cfg_path);
        free(cfg_path);
        if (rc) return -1;
    }
    if (iris_weights_open(&lm->w, path)) return -1;
    if (!is_dir && iris_llama_config_from_gguf(&cfg, lm->w.gguf)) goto fail;
    lm->tok = is_dir ? iris_tokenizer_load(path) : iris_tokenizer_from_gguf(lm->w.gguf);
    if (!lm->tok) goto fail;
    if (iris_tokenizer_n_vocab(lm->tok) > cfg.vocab_size) {
        iris_set_error("%s: tokenizer has %d tokens but the model's vocabulary is %d", path,
                       iris_tokenizer_n_vocab(lm->tok), cfg.vocab_size);
        goto fail;
    }
    if (cfg.bos_id < 0) cfg.bos_id = iris_tokenizer_bos(lm->tok);
    if (cfg.eos_id < 0) cfg.eos_id = iris_tokenizer_eos(lm->tok);
    if (iris_llama_load(&lm->net, &lm->w, &cfg, be, n_ctx, NULL)) goto fail;
    lm->default_template = guess_template(&cfg);
    lm->path = strdup(path);
    if (!lm->path) {
        iris_set_error("out of memory");
        goto fail;
    }
    return 0;
fail:
    iris_lm_free(lm);
    return -1;
}

void iris_lm_free(iris_lm *lm)
{
    iris_llama_free(&lm->net);
    if (lm->tok) iris_tokenizer_free(lm->tok);
    if (lm->w.path) iris_weights_close(&lm->w);
    free(lm->path);
    memset(lm, 0, sizeof *lm);
}

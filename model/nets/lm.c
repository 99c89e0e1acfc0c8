#include "lm.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file_util.h"
#include "flamingo.h"
#include "llava_vision.h"
#include <cjson/cJSON.h>
#include "text/chat_template.h"

static int guess_template(const iris_llama_config *c)
{
    switch (c->arch) {
    case IRIS_ARCH_GEMMA: return IRIS_TPL_GEMMA;
    case IRIS_ARCH_QWEN2: return IRIS_TPL_CHATML;
    default: return IRIS_TPL_VICUNA_V1;
    }
}

/* model_type and image_token_index of a config.json; 0 when readable. */
static int read_vlm_keys(const char *cfg_path, int *is_llava, int *image_token)
{
    size_t len;
    char *text = iris_read_file(cfg_path, &len, 1 << 24);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) {
        iris_set_error("%s: not valid JSON", cfg_path);
        return -1;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    *is_llava = cJSON_IsString(mt) && !strcmp(mt->valuestring, "llava");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "image_token_index");
    if (!cJSON_IsNumber(it)) it = cJSON_GetObjectItemCaseSensitive(root, "image_token_id");
    *image_token = cJSON_IsNumber(it) ? (int)it->valuedouble : 32000;
    cJSON_Delete(root);
    return 0;
}

/* Preprocessing mode, width check, rows per image: what every vision half needs.
 * label names the file the vision half came from. */
static int finish_vision(iris_lm *lm, const char *label, const iris_lm_options *o)
{
    int mode = IRIS_PREPROC_PAD;
    if (o && o->preprocess && (mode = iris_preproc_mode_from_name(o->preprocess)) < 0) {
        iris_set_error("unknown preprocessing mode '%s' (pad, crop or resize)", o->preprocess);
        return -1;
    }
    lm->vision->pre.mode = mode;
    if (iris_llava_vision_dim(lm->vision) != lm->net.cfg.dim) {
        iris_set_error("%s: the projector produces %d-dim features but the language model's hidden size is %d",
                       label, iris_llava_vision_dim(lm->vision), lm->net.cfg.dim);
        return -1;
    }
    lm->n_img_rows = iris_llava_vision_n_tokens(lm->vision);
    return 0;
}

static int open_vision(iris_lm *lm, const char *dir, const iris_backend *be, const iris_lm_options *o)
{
    lm->vision = calloc(1, sizeof *lm->vision);
    if (!lm->vision) {
        iris_set_error("out of memory");
        return -1;
    }
    if (iris_llava_vision_open(lm->vision, be, &lm->w, dir)) {
        free(lm->vision);
        lm->vision = NULL;
        return -1;
    }
    return finish_vision(lm, dir, o);
}

/* The vision half from a separate llama.cpp mmproj GGUF. */
static int open_mmproj(iris_lm *lm, const char *path, const iris_backend *be, const iris_lm_options *o)
{
    if (lm->vision) {
        iris_set_error("%s: the model %s already has its own vision tower (--mmproj is for GGUF language models)",
                       path, lm->w.path);
        return -1;
    }
    if (iris_is_dir(path)) {
        iris_set_error("%s: a directory, not an mmproj .gguf file", path);
        return -1;
    }
    if (!iris_file_exists(path)) {
        iris_set_error("%s: no such mmproj file", path);
        return -1;
    }
    lm->mmproj = calloc(1, sizeof *lm->mmproj);
    lm->vision = calloc(1, sizeof *lm->vision);
    if (!lm->mmproj || !lm->vision) {
        iris_set_error("out of memory");
        return -1;
    }
    if (iris_weights_open(lm->mmproj, path)) return -1;
    if (!lm->mmproj->gguf) {
        iris_set_error("%s: not a GGUF file (an mmproj is llama.cpp's .gguf vision projector)", path);
        return -1;
    }
    if (iris_llava_vision_open_gguf(lm->vision, be, lm->mmproj)) {
        free(lm->vision);
        lm->vision = NULL;
        return -1;
    }
    if (finish_vision(lm, path, o)) return -1;
    /* no <image> in a GGUF vocabulary: the prompt text marks it (see lm.h) */
    lm->image_token_id = lm->net.cfg.vocab_size;
    lm->image_marker_text = 1;
    return 0;
}

int iris_lm_load(iris_lm *lm, const char *path, const iris_backend *be, int n_ctx)
{
    iris_lm_options o = {.n_ctx = n_ctx};
    return iris_lm_load_opts(lm, path, be, &o);
}

int iris_lm_load_opts(iris_lm *lm, const char *path, const iris_backend *be, const iris_lm_options *opts)
{
    char *of = iris_flamingo_model_file(path);
    if (of) {
        int rc = iris_flamingo_load(lm, of, be, opts);
        free(of);
        return rc;
    }
    return iris_lm_load_base(lm, path, be, opts);
}

int iris_lm_has_vision(const iris_lm *lm) { return lm->vision != NULL || lm->flamingo != NULL; }

int iris_lm_load_base(iris_lm *lm, const char *path, const iris_backend *be, const iris_lm_options *opts)
{
    int n_ctx = opts ? opts->n_ctx : 0, is_llava = 0;
    memset(lm, 0, sizeof *lm);
    lm->image_token_id = -1;
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
        if (!rc) rc = read_vlm_keys(cfg_path, &is_llava, &lm->image_token_id);
        free(cfg_path);
        if (rc) return -1;
        if (!is_llava) lm->image_token_id = -1;
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
    if (is_llava && open_vision(lm, path, be, opts)) goto fail;
    if (opts && opts->mmproj && open_mmproj(lm, opts->mmproj, be, opts)) goto fail;
    lm->default_template = is_llava ? IRIS_TPL_LLAVA_HF : guess_template(&cfg);
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
    iris_lm_clear_images(lm);
    free(lm->image_feats);
    if (lm->vision) {
        iris_llava_vision_close(lm->vision);
        free(lm->vision);
    }
    if (lm->mmproj) {   /* after the vision half, whose weights may point into it */
        if (lm->mmproj->path) iris_weights_close(lm->mmproj);
        free(lm->mmproj);
    }
    iris_llama_free(&lm->net);
    if (lm->flamingo) {   /* after the decoder, whose embedding table may point into it */
        iris_flamingo_free(lm->flamingo);
        free(lm->flamingo);
    }
    if (lm->tok) iris_tokenizer_free(lm->tok);
    if (lm->w.path) iris_weights_close(&lm->w);
    free(lm->path);
    memset(lm, 0, sizeof *lm);
}

int iris_lm_is_end(const iris_lm *lm, int32_t t)
{
    if (t == lm->net.cfg.eos_id) return 1;
    if (lm->flamingo && t == lm->flamingo->eoc_token) return 1;   /* OpenFlamingo's generate stops there */
    /* A generated <image> asks for an image nobody can supply; open_flamingo
     * gives the text after it whichever image its bookkeeping lands on (the
     * first under generate(), none when the sequence is recomputed), so iris
     * ends the answer there rather than pick one of those accidents. */
    if (lm->flamingo && t == lm->flamingo->media_token) return 1;
    int32_t eog[8];
    int n = iris_tokenizer_eog_ids(lm->tok, eog, 8);
    for (int i = 0; i < n; i++)
        if (eog[i] == t) return 1;
    return 0;
}

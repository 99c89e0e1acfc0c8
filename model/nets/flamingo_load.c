/* flamingo_load.c — reading an OpenFlamingo model's three parts (see
 * flamingo.h): the model file, the base language model through
 * iris_lm_load_base, the CLIP tower, and checkpoint.pt's perceiver, gated
 * cross-attention blocks and grown embedding table. */
#include "flamingo.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/file_util.h"
#include "../text/chat_template.h"

int iris_flamingo_pre_layer(void *ctx, iris_llama *m, int l, int n);

char *iris_flamingo_model_file(const char *path)
{
    if (iris_has_suffix(path, ".json") && !iris_is_dir(path)) return strdup(path);
    if (!iris_is_dir(path)) return NULL;
    char *p = iris_path_join(path, "openflamingo.json");
    if (p && iris_file_exists(p)) return p;
    free(p);
    return NULL;
}

/* dir of file + rel (rel kept when absolute); malloc'd */
static char *resolve(const char *file, const char *rel)
{
    if (rel[0] == '/') return strdup(rel);
    const char *slash = strrchr(file, '/');
    if (!slash) return strdup(rel);
    size_t n = (size_t)(slash - file);
    char *dir = malloc(n + 1);
    if (!dir) return NULL;
    memcpy(dir, file, n);
    dir[n] = 0;
    char *p = iris_path_join(dir, rel);
    free(dir);
    return p;
}

typedef struct {
    char *lang, *vision, *ckpt;
    int every_n, dim_head, max_images, ln_post, tpl, pre;
} model_file;

static void model_file_free(model_file *mf)
{
    free(mf->lang);
    free(mf->vision);
    free(mf->ckpt);
}

static int read_path(const cJSON *root, const char *key, const char *file, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsString(v) || !*v->valuestring) {
        iris_set_error("%s: \"%s\" (a path) is missing", file, key);
        return -1;
    }
    if (!(*out = resolve(file, v->valuestring))) {
        iris_set_error("out of memory");
        return -1;
    }
    if (!iris_file_exists(*out) && !iris_is_dir(*out)) {
        iris_set_error("%s: %s '%s' does not exist", file, key, *out);
        return -1;
    }
    return 0;
}

static int read_int(const cJSON *root, const char *key, const char *file, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != (int)v->valuedouble || v->valuedouble < lo ||
        v->valuedouble > hi) {
        iris_set_error("%s: \"%s\" must be an integer from %d to %d", file, key, lo, hi);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int parse_model_file(model_file *mf, const char *file)
{
    memset(mf, 0, sizeof *mf);
    mf->dim_head = 64;
    mf->max_images = 16;
    size_t len;
    char *text = iris_read_file(file, &len, 1 << 20);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        iris_set_error("%s: not a JSON object", file);
        return -1;
    }
    int rc = -1;
    const cJSON *lnp = cJSON_GetObjectItemCaseSensitive(root, "vision_ln_post");
    if (lnp && !cJSON_IsBool(lnp)) {
        iris_set_error("%s: \"vision_ln_post\" must be true or false", file);
        goto done;
    }
    mf->ln_post = cJSON_IsTrue(lnp);
    mf->tpl = IRIS_TPL_RAW;   /* OpenFlamingo was trained on plain interleaved text */
    mf->pre = IRIS_PREPROC_CROP;   /* OpenFlamingo's: CLIP's resize and centre crop */
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "preprocess");
    if (pre && (!cJSON_IsString(pre) || (mf->pre = iris_preproc_mode_from_name(pre->valuestring)) < 0)) {
        iris_set_error("%s: \"preprocess\" must be crop, pad or resize", file);
        goto done;
    }
    const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
    if (tpl && (!cJSON_IsString(tpl) || (mf->tpl = iris_chat_template_from_name(tpl->valuestring)) < 0)) {
        iris_set_error("%s: \"chat_template\" must name a template (openflamingo, raw, ...)", file);
        goto done;
    }
    if (read_path(root, "lang_model", file, &mf->lang) || read_path(root, "vision_model", file, &mf->vision) ||
        read_path(root, "checkpoint", file, &mf->ckpt) ||
        read_int(root, "cross_attn_every_n_layers", file, 1, 1 << 16, &mf->every_n) ||
        read_int(root, "dim_head", file, 1, 4096, &mf->dim_head) ||
        read_int(root, "max_images", file, 1, 4096, &mf->max_images))
        goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc) model_file_free(mf);
    return rc;
}

/* ---- the tower ---- */

static int open_tower(iris_flamingo *f, const char *dir)
{
    char *cfg_path = iris_path_join(dir, "config.json");
    if (!cfg_path) return -1;
    size_t len;
    char *text = iris_file_exists(cfg_path) ? iris_read_file(cfg_path, &len, 1 << 24) : NULL;
    if (!text) {
        iris_set_error("%s: the vision model has no readable config.json", dir);
        free(cfg_path);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int rc = -1;
    iris_clip_config cc;
    const cJSON *mt = root ? cJSON_GetObjectItemCaseSensitive(root, "model_type") : NULL;
    const cJSON *vc = root ? cJSON_GetObjectItemCaseSensitive(root, "vision_config") : NULL;
    if (!root) {
        iris_set_error("%s: not valid JSON", cfg_path);
    } else if (cJSON_IsString(mt) && !strcmp(mt->valuestring, "clip_vision_model")) {
        rc = iris_clip_config_from_json(&cc, root, cfg_path);
    } else if (cJSON_IsString(mt) && !strcmp(mt->valuestring, "clip") && cJSON_IsObject(vc)) {
        rc = iris_clip_config_from_json(&cc, vc, cfg_path);
    } else {
        iris_set_error("%s: not a CLIP model (model_type clip or clip_vision_model)", cfg_path);
    }
    cJSON_Delete(root);
    free(cfg_path);
    if (rc) return -1;
    if (!cc.class_token) {
        iris_set_error("%s: the tower has no class token (OpenFlamingo uses CLIP)", dir);
        return -1;
    }
    if (iris_weights_open(&f->clip_w, dir) || iris_clip_load(&f->clip, f->be, &f->clip_w, &cc)) return -1;
    iris_preproc_clip(&f->pre, IRIS_PREPROC_CROP, cc.image_size);
    f->n_patches = iris_clip_n_tokens(&cc) - 1;
    if (f->vision_ln_post) {
        char name[128];
        int64_t shape[1] = {cc.hidden};
        int err = 0;
        snprintf(name, sizeof name, "%spost_layernorm.weight", f->clip.prefix);
        iris_lookup_shaped(iris_weights_lookup, &f->clip_w, name, 1, shape, 0, &err);
        snprintf(name, sizeof name, "%spost_layernorm.bias", f->clip.prefix);
        iris_lookup_shaped(iris_weights_lookup, &f->clip_w, name, 1, shape, 0, &err);
        if (err) return -1;
    }
    return 0;
}

/* ---- checkpoint.pt ---- */

typedef struct {
    const iris_weights *w;
    const char *prefix;
} ckpt_view;

/* Lookups see the checkpoint's names without its nesting prefix. */
static const iris_tensor *ckpt_lookup(void *ctx, const char *name)
{
    const ckpt_view *v = ctx;
    char full[512];
    if ((size_t)snprintf(full, sizeof full, "%s%s", v->prefix, name) >= sizeof full) return NULL;
    return iris_weights_find(v->w, full);
}

const iris_tensor *iris_flamingo_lookup(void *ctx, const char *name)
{
    iris_flamingo *f = ctx;
    ckpt_view v = {&f->ckpt, f->ckpt_prefix};
    return ckpt_lookup(&v, name);
}

static int find_prefix(iris_flamingo *f, const char *path)
{
    static const char *const cands[] = {"", "model_state_dict.", "module.", "model_state_dict.module.",
                                        "state_dict."};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        char name[128];
        snprintf(name, sizeof name, "%sperceiver.latents", cands[i]);
        if (iris_weights_find(&f->ckpt, name)) {
            snprintf(f->ckpt_prefix, sizeof f->ckpt_prefix, "%s", cands[i]);
            return 0;
        }
    }
    iris_set_error("%s: not an OpenFlamingo checkpoint (no perceiver.latents)", path);
    return -1;
}

/* The decoder-layer paths of the language models OpenFlamingo wraps. */
static const char *const layer_paths[] = {"transformer.blocks", "model.layers", "gpt_neox.layers",
                                          "biogpt.layers", "transformer.h"};

static int bind_blocks(iris_flamingo *f, ckpt_view *cv, const iris_llama_config *lc, int dim_head,
                       int every_n, const char *path)
{
    for (int l = 0; l < f->n_layers; l++) {
        char pfx[160], probe[256];
        int found = 0;
        snprintf(pfx, sizeof pfx, "lang_encoder.gated_cross_attn_layers.%d.", l);
        snprintf(probe, sizeof probe, "%sattn.to_q.weight", pfx);
        found = ckpt_lookup(cv, probe) != NULL;
        for (size_t i = 0; !found && i < sizeof layer_paths / sizeof *layer_paths; i++) {
            snprintf(pfx, sizeof pfx, "lang_encoder.%s.%d.gated_cross_attn_layer.", layer_paths[i], l);
            snprintf(probe, sizeof probe, "%sattn.to_q.weight", pfx);
            found = ckpt_lookup(cv, probe) != NULL;
        }
        if (every_n && found != ((l + 1) % every_n == 0)) {
            iris_set_error("%s: decoder layer %d %s a gated cross-attention block, but cross_attn_every_n_layers "
                           "is %d", path, l, found ? "has" : "lacks", every_n);
            return -1;
        }
        if (!found) continue;
        iris_xattn_config xc;
        if (iris_xattn_config_infer(&xc, ckpt_lookup, cv, pfx, dim_head)) return -1;
        if (xc.dim != lc->dim || xc.dim_visual != f->dim_visual) {
            iris_set_error("%s: block %s is %d wide reading %d-wide media, but the language model is %d wide "
                           "and the perceiver gives %d", path, pfx, xc.dim, xc.dim_visual, lc->dim, f->dim_visual);
            return -1;
        }
        if (iris_xattn_bind(&f->xa[l], &xc, f->be, ckpt_lookup, cv, pfx) ||
            iris_xattn_media_alloc(&f->xm[l], &f->xa[l], f->max_media, f->n_latents))
            return -1;
        f->has_block[l] = 1;
        snprintf(f->block_prefix[l], sizeof f->block_prefix[l], "%s", pfx);
        f->n_blocks++;
    }
    if (!f->n_blocks) {
        iris_set_error("%s: no gated cross-attention blocks for this %d-layer language model", path, f->n_layers);
        return -1;
    }
    return 0;
}

/* The grown embedding table (and an untied head) under lang_encoder. */
static int replace_embeddings(iris_lm *lm, iris_flamingo *f, const char *path)
{
    static const char *const emb[] = {"transformer.wte.weight", "model.embed_tokens.weight",
                                      "gpt_neox.embed_in.weight", "biogpt.embed_tokens.weight"};
    static const char *const head[] = {"lm_head.weight", "embed_out.weight", "output_projection.weight"};
    char name[256];
    for (size_t i = 0; i < sizeof emb / sizeof *emb; i++) {
        snprintf(name, sizeof name, "%slang_encoder.%s", f->ckpt_prefix, emb[i]);
        if (iris_weights_find(&f->ckpt, name)) {
            if (iris_llama_replace_embeddings(&lm->net, &f->ckpt, name)) return -1;
            snprintf(f->embd_name, sizeof f->embd_name, "%s", name);
            break;
        }
    }
    for (size_t i = 0; !lm->net.cfg.tied_embeddings && i < sizeof head / sizeof *head; i++) {
        snprintf(name, sizeof name, "%slang_encoder.%s", f->ckpt_prefix, head[i]);
        if (iris_weights_find(&f->ckpt, name)) {
            if (iris_llama_replace_head(&lm->net, &f->ckpt, name)) return -1;
            snprintf(f->head_name, sizeof f->head_name, "%s", name);
            break;
        }
    }
    int need = f->media_token > f->eoc_token ? f->media_token : f->eoc_token;
    if (need >= lm->net.n_embd_rows) {
        iris_set_error("%s: no embedding for <image> / <|endofchunk|> (ids %d, %d): the checkpoint has no "
                       "lang_encoder embedding table and the language model's has %d rows",
                       path, f->media_token, f->eoc_token, lm->net.n_embd_rows);
        return -1;
    }
    return 0;
}

static int open_parts(iris_lm *lm, iris_flamingo *f, const model_file *mf)
{
    f->be = lm->net.be;
    f->max_media = mf->max_images;
    f->vision_ln_post = mf->ln_post;
    f->n_layers = lm->net.cfg.n_layers;
    if (strcmp(f->be->name, "cpu")) {
        iris_set_error("OpenFlamingo models run on the CPU backend for now (use --device cpu)");
        return -1;
    }
    if ((f->eoc_token = iris_tokenizer_add_special(lm->tok, "<|endofchunk|>")) < 0 ||
        (f->media_token = iris_tokenizer_add_special(lm->tok, "<image>")) < 0)
        return -1;
    if (open_tower(f, mf->vision)) return -1;
    f->pre.mode = mf->pre;
    if (iris_weights_open(&f->ckpt, mf->ckpt) || find_prefix(f, mf->ckpt)) return -1;
    ckpt_view cv = {&f->ckpt, f->ckpt_prefix};
    iris_perceiver_config pc;
    if (iris_perceiver_config_infer(&pc, ckpt_lookup, &cv, "perceiver.", mf->dim_head)) return -1;
    if (pc.max_media > 0) {   /* images are encoded one at a time, each as media 0 */
        iris_set_error("%s: perceiver.media_time_embs (per-image time embeddings) is not supported; "
                       "OpenFlamingo's Flamingo builds its perceiver without them", mf->ckpt);
        return -1;
    }
    if (pc.dim != f->clip.cfg.hidden) {
        iris_set_error("%s: the perceiver is %d wide but the vision tower %s gives %d-wide tokens", mf->ckpt,
                       pc.dim, mf->vision, f->clip.cfg.hidden);
        return -1;
    }
    if (iris_perceiver_bind(&f->pv, &pc, f->be, ckpt_lookup, &cv, "perceiver.") ||
        iris_perceiver_acts_alloc(&f->pacts, &f->pv, 1, f->n_patches, 0))
        return -1;
    f->n_latents = pc.n_latents;
    f->dim_visual = pc.dim;
    f->base_cfg = lm->net.cfg;
    if (replace_embeddings(lm, f, mf->ckpt)) return -1;
    f->xa = calloc((size_t)f->n_layers, sizeof *f->xa);
    f->xm = calloc((size_t)f->n_layers, sizeof *f->xm);
    f->has_block = calloc((size_t)f->n_layers, 1);
    f->time_at = calloc((size_t)lm->net.n_ctx, sizeof *f->time_at);
    f->block_prefix = calloc((size_t)f->n_layers, sizeof *f->block_prefix);
    if (!f->xa || !f->xm || !f->has_block || !f->time_at || !f->block_prefix) {
        iris_set_error("out of memory");
        return -1;
    }
    /* one activation set sized for the decoder's chunks */
    int n_batch = lm->net.n_batch;
    if (bind_blocks(f, &cv, &lm->net.cfg, mf->dim_head, mf->every_n, mf->ckpt)) return -1;
    for (int l = 0; l < f->n_layers; l++)
        if (f->has_block[l]) {
            if (iris_xattn_acts_alloc(&f->xacts, &f->xa[l], n_batch)) return -1;
            break;
        }
    const iris_backend *be = f->be;
    f->media = be->alloc((size_t)f->max_media * f->n_latents * f->dim_visual * sizeof(float));
    f->vis = be->alloc((size_t)(f->n_patches + 1) * f->clip.cfg.hidden * sizeof(float));
    f->y = be->alloc((size_t)n_batch * lm->net.cfg.dim * sizeof(float));
    if (!f->media || !f->vis || !f->y) {
        iris_set_error("out of memory for the media of %d images", f->max_media);
        return -1;
    }
    return 0;
}

int iris_flamingo_load(iris_lm *lm, const char *model_file_path, const iris_backend *be,
                       const iris_lm_options *opts)
{
    model_file mf;
    if (parse_model_file(&mf, model_file_path)) return -1;
    if (opts && opts->mmproj) {
        iris_set_error("%s: --mmproj is for GGUF LLaVA models, not OpenFlamingo", model_file_path);
        model_file_free(&mf);
        return -1;
    }
    if (iris_lm_load_base(lm, mf.lang, be, opts)) {
        model_file_free(&mf);
        return -1;
    }
    iris_flamingo *f = calloc(1, sizeof *f);
    if (!f) {
        iris_set_error("out of memory");
        goto fail;
    }
    lm->flamingo = f;
    if (open_parts(lm, f, &mf)) goto fail;
    lm->image_token_id = f->media_token;
    lm->default_template = mf.tpl;
    lm->net.pre_layer = iris_flamingo_pre_layer;
    lm->net.pre_layer_ctx = f;
    free(lm->path);
    if (!(lm->path = strdup(model_file_path))) {
        iris_set_error("out of memory");
        goto fail;
    }
    model_file_free(&mf);
    return 0;
fail:
    model_file_free(&mf);
    iris_lm_free(lm);
    return -1;
}

void iris_flamingo_free(iris_flamingo *f)
{
    const iris_backend *be = f->be;
    for (int l = 0; f->xm && l < f->n_layers; l++) iris_xattn_media_free(&f->xm[l]);
    free(f->xa);
    free(f->xm);
    free(f->has_block);
    iris_xattn_acts_free(&f->xacts);
    iris_perceiver_acts_free(&f->pacts);
    iris_perceiver_unbind(&f->pv);
    if (be) {
        be->free(f->media);
        be->free(f->vis);
        be->free(f->y);
    }
    free(f->time_at);
    free(f->block_prefix);
    if (f->clip.loaded) iris_clip_free(&f->clip);
    if (f->clip_w.path) iris_weights_close(&f->clip_w);
    if (f->ckpt.path) iris_weights_close(&f->ckpt);
    memset(f, 0, sizeof *f);
}

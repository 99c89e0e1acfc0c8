#include "trainer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/timer.h"
#include "train/checkpoint.h"
#include "train/conv_format.h"
#include "train/dataset.h"
#include "train/flamingo_format.h"
#include "train/of_lora_targets.h"
#include "train/optim.h"
#include "train/peft_io.h"
#include "formats/safetensors.h"
#include "nets/llava_vision.h"
#include "vision/image_load.h"

/* ---- session: base model + trainable set ---- */

/* Tower images per batched forward/backward: the whole optimizer step's
 * micro-batches when their activations fit in about 1 GiB, fewer otherwise. */
static int tower_group(const iris_train_config *cfg, const iris_llava_vision *v)
{
    const iris_clip_config *c = &v->clip.cfg;
    double per_image = (double)iris_clip_n_tokens(c) * 4.0 *
                       ((double)(c->n_layers + 2) * (8.0 * c->hidden + c->intermediate) + 2.0 * c->intermediate);
    int cap = (int)((double)(1 << 30) / (per_image > 1 ? per_image : 1));
    int per_step = cfg->batch_size * cfg->grad_accum;
    if (cap < 1) cap = 1;
    return per_step < cap ? per_step : cap;
}

static int open_tower(iris_train_session *s, const iris_train_config *cfg)
{
    iris_llava_vision *v = s->lm.vision;
    if (!v || !s->has_proj) {
        iris_set_error("train.vision_tower = true: %s has no vision tower and projector (a LLaVA model is "
                       "needed)", cfg->base);
        return -1;
    }
    if (!s->lm.w.st) {
        iris_set_error("train.vision_tower = true: %s is not a safetensors checkpoint (the trained tower is "
                       "written in the base's layout)", cfg->base);
        return -1;
    }
    if (iris_clip_train_init(&s->tower, &s->m.params, &v->clip, v->feature_layer, v->keep_class_token,
                             s->m.ops, tower_group(cfg, v)))
        return -1;
    s->tower_trainable = 1;
    return iris_clip_train_set_trainable(&s->tower, &s->m.params);
}

/* OpenFlamingo: the trainable set is fixed (perceiver, blocks, grown
 * embedding table), as OpenFlamingo trains it; mode projector names it. */
static int open_flamingo(iris_train_session *s, const iris_train_config *cfg)
{
    if (cfg->mode != IRIS_TRAIN_PROJECTOR && cfg->mode != IRIS_TRAIN_LORA) {
        iris_set_error("%s is an OpenFlamingo model: train.mode must be projector (the perceiver, the gated "
                       "cross-attention blocks and the new token embeddings train) or lora (mode %s is not "
                       "supported)", cfg->base, iris_train_mode_name(cfg->mode));
        return -1;
    }
    if (strcmp(cfg->template_name, "openflamingo")) {
        iris_set_error("%s is an OpenFlamingo model: data.template must be openflamingo (not %s)", cfg->base,
                       cfg->template_name);
        return -1;
    }
    if (iris_train_config_check(cfg)) return -1;
    iris_flamingo *f = s->lm.flamingo;
    if (cfg->mode == IRIS_TRAIN_LORA) {
        iris_flamingo_lora_opts lo = {.init_dir = cfg->lora_init[0] ? cfg->lora_init : NULL, .seed = cfg->seed};
        if (iris_train_config_lora(cfg, &lo.lc) || iris_of_lora_parse_save(cfg->lora_modules_to_save, &lo.save_mask))
            return -1;
        s->is_flamingo = 1;   /* fl is (partly) built: freed on failure */
        if (iris_flamingo_train_init_lora(&s->fl, &s->lm, iris_cpu_train_ops(), cfg->max_length, f->max_media, &lo))
            return -1;
    } else {
        s->is_flamingo = 1;
        if (iris_flamingo_train_init_opts(&s->fl, &s->lm, iris_cpu_train_ops(), cfg->max_length, f->max_media,
                                          cfg->new_token_outputs))
            return -1;
    }
    s->ops = iris_cpu_train_ops();
    /* The view: shallow copies of the sets' parameters (same buffers). */
    const iris_param_set *a = &s->fl.m.params, *b = &s->fl.p, *c = &s->fl.lora.set;
    int nc = s->fl.has_lora ? c->n : 0;
    if (iris_params_init(&s->all, a->be, a->n + b->n + nc + 1)) return -1;
    memcpy(s->all.p, a->p, (size_t)a->n * sizeof *a->p);
    memcpy(s->all.p + a->n, b->p, (size_t)b->n * sizeof *b->p);
    if (nc) memcpy(s->all.p + a->n + b->n, c->p, (size_t)nc * sizeof *c->p);
    s->all.n = a->n + b->n + nc;
    s->params = &s->all;
    return 0;
}

int iris_train_session_open(iris_train_session *s, const iris_train_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    const iris_backend *be = iris_cpu_backend();
    iris_lm_options lo = {.n_ctx = 16, .preprocess = cfg->preprocess[0] ? cfg->preprocess : "pad"};
    if (iris_lm_load_opts(&s->lm, cfg->base, be, &lo)) return -1;
    s->lm_open = 1;
    if (s->lm.flamingo) {
        if (open_flamingo(s, cfg)) goto fail;
        return 0;
    }
    s->params = &s->m.params;
    s->ops = iris_cpu_train_ops();
    if (iris_llama_train_init(&s->m, &s->lm.w, &s->lm.net.cfg, be, iris_cpu_train_ops(), cfg->max_length,
                              cfg->gradient_checkpointing))
        goto fail;
    s->m_open = 1;
    if (s->lm.vision && s->lm.vision->has_projector) {
        if (iris_projector_train_init(&s->proj, &s->m.params, &s->lm.w, &s->lm.vision->proj, s->lm.n_img_rows))
            goto fail;
        s->has_proj = 1;
        /* Every mode trains the projector (LLaVA's stage 1 and stage 2). */
        if (iris_projector_train_set_trainable(&s->proj, &s->m.params)) goto fail;
        s->proj_trainable = 1;
    }
    switch (cfg->mode) {
    case IRIS_TRAIN_LORA: {
        if (iris_train_config_check(cfg)) goto fail;
        iris_lora_config lc;
        if (cfg->lora_init[0]) {
            /* Start from a PEFT adapter: its config decides the shapes. */
            if (iris_peft_read_config(cfg->lora_init, &lc)) goto fail;
            lc.dropout = cfg->lora_dropout;
        } else if (iris_train_config_lora(cfg, &lc)) {
            goto fail;
        }
        if (lc.layer_first >= s->m.cfg.n_layers) {
            iris_set_error("lora.layers: the model has only %d layers", s->m.cfg.n_layers);
            goto fail;
        }
        if (iris_llama_train_add_lora(&s->m, &lc, cfg->seed)) goto fail;
        if (cfg->lora_init[0] && iris_peft_load(&s->m, cfg->lora_init)) goto fail;
        break;
    }
    case IRIS_TRAIN_FULL:
    case IRIS_TRAIN_SCRATCH:
        if (iris_llama_train_unfreeze_all(&s->m)) goto fail;
        if (cfg->vision_tower && open_tower(s, cfg)) goto fail;
        break;
    default:
        if (iris_train_config_check(cfg)) goto fail;
        if (!s->has_proj) {
            iris_set_error("train.mode = projector: %s has no multimodal projector (a LLaVA model is needed)",
                           cfg->base);
            goto fail;
        }
        break;
    }
    if (iris_llama_train_prepare(&s->m)) goto fail;
    return 0;
fail:
    iris_train_session_close(s);
    return -1;
}

void iris_train_session_close(iris_train_session *s)
{
    if (s->all.p) {   /* a view: the buffers belong to fl */
        free(s->all.p);
        s->all.p = NULL;
        s->all.n = 0;
    }
    if (s->is_flamingo) iris_flamingo_train_free(&s->fl);
    s->is_flamingo = 0;
    iris_clip_train_free(&s->tower);
    s->tower_trainable = 0;
    if (s->has_proj) iris_projector_train_free(&s->proj);
    s->has_proj = 0;
    if (s->m_open) iris_llama_train_free(&s->m);
    if (s->lm_open) iris_lm_free(&s->lm);
    s->m_open = s->lm_open = 0;
}

/* ---- run directory helpers ---- */

static int prepare_run_dir(const char *dir)
{
    if (iris_mkdir_p(dir)) {
        char why[512];
        snprintf(why, sizeof why, "%s", iris_last_error());
        iris_set_error("run directory: %s", why);
        return -1;
    }
    if (access(dir, W_OK | X_OK)) {
        iris_set_error("run directory %s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static char *join(const char *dir, const char *name)
{
    char *p = iris_path_join(dir, name);
    if (!p) iris_set_error("out of memory");
    return p;
}

static int put_config(FILE *f, void *c)
{
    fprintf(f, "; iris train: the settings this run used\n");
    return iris_train_config_write(c, f);
}

static int write_config(const iris_train_config *c, const char *dir)
{
    char *path = join(dir, "config.ini");
    if (!path) return -1;
    int rc = iris_atomic_write(path, put_config, (void *)c);
    free(path);
    return rc;
}

/* Keeps the metrics lines of steps <= last_step (a resumed run rewrites the
 * steps after its checkpoint). */
static int trim_metrics(const char *path, int last_step)
{
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? 0 : -1;
    iris_atomic_file af;
    if (iris_atomic_open(&af, path, "w")) {
        fclose(in);
        return -1;
    }
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        int step;
        if (strchr(line, '\n') && sscanf(line, "{\"step\":%d", &step) == 1 && step <= last_step)
            fputs(line, af.f);
    }
    fclose(in);
    return iris_atomic_commit(&af);
}

static long peak_rss_bytes(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? 0 : ru.ru_maxrss * 1024L;
}

static int copy_file(const char *src, const char *dst)
{
    size_t len;
    char *data = iris_read_file(src, &len, (size_t)1 << 30);
    if (!data) return -1;
    iris_atomic_file af;
    int rc = iris_atomic_open(&af, dst, "wb");
    if (!rc) {
        if (fwrite(data, 1, len, af.f) != len) {
            iris_atomic_abort(&af);
            iris_set_error("%s: write failed", dst);
            rc = -1;
        } else {
            rc = iris_atomic_commit(&af);
        }
    }
    free(data);
    return rc;
}

/* config.json and tokenizer files travel with exported weights. */
static int copy_aux_files(const char *base, const char *dir)
{
    if (!iris_is_dir(base)) return 0;
    static const char *const files[] = {"config.json", "generation_config.json", "tokenizer.json",
                                        "tokenizer_config.json", "special_tokens_map.json",
                                        "tokenizer.model", "preprocessor_config.json",
                                        "processor_config.json", NULL};
    for (int i = 0; files[i]; i++) {
        char *src = iris_path_join(base, files[i]), *dst = iris_path_join(dir, files[i]);
        int rc = src && dst && iris_file_exists(src) ? copy_file(src, dst) : 0;
        free(src);
        free(dst);
        if (rc) return -1;
    }
    return 0;
}

static int write_projector(iris_train_session *s, const char *run_dir)
{
    iris_param_set *ps = &s->m.params;
    const char *names[4];
    iris_tensor ts[4];
    int idx[4] = {s->proj.w1, s->proj.b1, s->proj.w2, s->proj.b2}, n = 0;
    for (int i = 0; i < 4; i++)
        if (idx[i] >= 0) {
            names[n] = ps->p[idx[i]].name;
            ts[n] = ps->p[idx[i]].t;
            ts[n++].owns_data = 0;
        }
    char *path = join(run_dir, "projector.safetensors");
    if (!path) return -1;
    int rc = iris_st_write(path, n, names, ts, "{\"format\":\"pt\"}");
    free(path);
    return rc;
}

/* A path in the model file, absolute (the run directory lies elsewhere). */
static int abs_part(cJSON *j, const char *key, const char *json_dir)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v) || v->valuestring[0] == '/') return 0;
    char *joined = iris_path_join(json_dir, v->valuestring), *real = joined ? realpath(joined, NULL) : NULL;
    int rc = real && cJSON_SetValuestring(v, real) ? 0 : -1;
    if (rc) iris_set_error("%s: cannot resolve %s", joined ? joined : v->valuestring, key);
    free(joined);
    free(real);
    return rc;
}

/* OpenFlamingo: DIR/checkpoint.safetensors (the trained weights under
 * checkpoint.pt's names) and DIR/openflamingo.json naming it with the base's
 * language model and tower. */
/* OpenFlamingo lora runs: host copies (owned) of every perceiver and block
 * weight with its adapter merged in, and of the grown embedding table, named
 * as the checkpoint names them. */
static int flamingo_merged_tensors(iris_train_session *s, const char **names, iris_tensor *ts, int *n)
{
    iris_flamingo_train *t = &s->fl;
    const iris_backend *be = t->m.be;
    for (int i = 0; i <= t->p.n; i++) {
        const iris_param *p = i < t->p.n ? &t->p.p[i] : &t->m.params.p[t->m.embed];
        if (i == t->p.n && !s->lm.flamingo->embd_name[0]) break;
        iris_tensor x;
        if (iris_tensor_alloc(&x, IRIS_F32, p->t.ndim, p->t.shape)) {
            iris_set_error("out of memory");
            return -1;
        }
        ts[*n] = x;
        names[(*n)++] = p->name;
        if (be->download(x.data, p->w, (size_t)p->n * sizeof(float))) {
            iris_set_error("cannot read %s back", p->name);
            return -1;
        }
        if (i < t->p.n && iris_flamingo_lora_merge_into(&t->lora, t, i, x.data)) return -1;
    }
    return 0;
}

static int write_flamingo_model(iris_train_session *s, const char *dir)
{
    int rc = -1;
    const iris_param_set *ps = &s->all;
    const char **names = calloc((size_t)ps->n, sizeof *names);
    iris_tensor *ts = calloc((size_t)ps->n, sizeof *ts);
    int lora = s->fl.has_lora, n = 0, lm_merged = 0;
    char *mf = iris_flamingo_model_file(s->cfg.base), *st = join(dir, "checkpoint.safetensors");
    char *out_json = join(dir, "openflamingo.json"), *text = NULL, *json_dir = NULL;
    cJSON *j = NULL;
    if (!names || !ts || !mf || !st || !out_json) {
        if (!mf) iris_set_error("%s: no OpenFlamingo model file", s->cfg.base);
        goto done;
    }
    if (iris_mkdir_p(dir)) goto done;
    if (lora) {
        /* every perceiver / block weight with its adapter merged, and the grown table */
        if (flamingo_merged_tensors(s, names, ts, &n)) goto done;
    } else {
        /* the trained parts, and the grown tables even when frozen (an untied
         * LM's head: its new tokens' rows live only in the checkpoint) */
        for (int i = 0; i < ps->n; i++)
            if (ps->p[i].g || !strncmp(ps->p[i].name, "lang_encoder.", 13)) {
                names[n] = ps->p[i].name;
                ts[n] = ps->p[i].t;
                ts[n++].owns_data = 0;
            }
    }
    if (iris_st_write(st, n, names, ts, "{\"format\":\"pt\"}")) goto done;
    size_t len;
    if (!(text = iris_read_file(mf, &len, 1 << 20))) goto done;
    if (!(j = cJSON_Parse(text))) {
        iris_set_error("%s: not valid JSON", mf);
        goto done;
    }
    json_dir = strdup(mf);
    if (!json_dir) goto done;
    char *slash = strrchr(json_dir, '/');
    if (slash) *slash = 0;
    else snprintf(json_dir, 2, ".");
    if (abs_part(j, "lang_model", json_dir) || abs_part(j, "vision_model", json_dir)) goto done;
    if (lora && s->fl.m.has_lora) {   /* the language model with its adapters merged, beside the model file */
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "lang_model");
        char *lm_dir = join(dir, "lang_model");
        int r = lm_dir && cJSON_IsString(src) ? iris_merge_save(&s->fl.m, &s->lm.w, lm_dir) : -1;
        if (!r) r = copy_aux_files(src->valuestring, lm_dir);
        free(lm_dir);
        if (r) goto done;
        lm_merged = 1;
    }
    if (lm_merged) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "lang_model");
        cJSON_AddStringToObject(j, "lang_model", "lang_model");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "checkpoint");
    cJSON_AddStringToObject(j, "checkpoint", "checkpoint.safetensors");
    char *out = cJSON_Print(j);
    if (!out) goto done;
    iris_atomic_file af;
    if (!iris_atomic_open(&af, out_json, "w")) {
        if (fputs(out, af.f) < 0 || fputc('\n', af.f) < 0) {
            iris_atomic_abort(&af);
            iris_set_error("%s: write failed", out_json);
        } else {
            rc = iris_atomic_commit(&af);
        }
    }
    free(out);
done:
    cJSON_Delete(j);
    free(text);
    free(json_dir);
    for (int i = 0; lora && ts && i < n; i++) iris_tensor_free(&ts[i]);
    free(names);
    free(ts);
    free(mf);
    free(st);
    free(out_json);
    return rc;
}

static int write_final(iris_train_session *s, const char *run_dir)
{
    int rc;
    if (s->is_flamingo) {
        char *dir = join(run_dir, s->fl.has_lora ? "adapter" : "model");
        rc = !dir ? -1
             : s->fl.has_lora ? iris_flamingo_lora_save(&s->fl.lora, &s->fl, dir, s->cfg.base)
                              : write_flamingo_model(s, dir);
        free(dir);
        return rc;
    }
    if (s->proj_trainable && write_projector(s, run_dir)) return -1;
    if (s->cfg.mode == IRIS_TRAIN_PROJECTOR) return 0;
    if (s->m.has_lora) {
        char *dir = join(run_dir, "adapter");
        if (!dir) return -1;
        rc = iris_peft_save(&s->m, dir, s->cfg.base);
        free(dir);
    } else {
        char *dir = join(run_dir, "model");
        if (!dir) return -1;
        rc = iris_merge_save(&s->m, &s->lm.w, dir);
        if (!rc) rc = copy_aux_files(s->cfg.base, dir);
        free(dir);
    }
    return rc;
}

/* ---- micro-batches ---- */

/* The frozen tower's features of an image: the projector's input rows. */
static float *image_features(iris_train_session *s, const char *path)
{
    iris_llava_vision *v = s->lm.vision;
    const iris_backend *be = v->be;
    int n_all = iris_clip_n_tokens(&v->clip.cfg), d = v->clip.cfg.hidden, skip = v->keep_class_token ? 0 : 1;
    size_t plane = (size_t)v->pre.crop_w * v->pre.crop_h;
    iris_image img;
    if (iris_image_load(&img, path)) return NULL;
    float *px = malloc(plane * 3 * sizeof *px), *host = malloc((size_t)(n_all - skip) * d * sizeof(float));
    float *dev = be->alloc((size_t)n_all * d * sizeof(float));
    int rc = -1;
    if (!px || !host || !dev) iris_set_error("out of memory for image features");
    else if (!iris_preprocess(&img, &v->pre, px) && !iris_clip_features(&v->clip, px, v->feature_layer, dev) &&
             !be->download(host, dev + (size_t)skip * d, (size_t)(n_all - skip) * d * sizeof(float)))
        rc = 0;
    iris_image_free(&img);
    free(px);
    if (dev) be->free(dev);
    if (rc) {
        free(host);
        return NULL;
    }
    return host;
}

/* A trainable tower's input: the preprocessed pixels of an image. */
static float *image_pixels(iris_train_session *s, const char *path)
{
    iris_llava_vision *v = s->lm.vision;
    size_t plane = (size_t)v->pre.crop_w * v->pre.crop_h;
    iris_image img;
    if (iris_image_load(&img, path)) return NULL;
    float *px = malloc(plane * 3 * sizeof *px);
    if (!px) iris_set_error("out of memory for image pixels");
    else if (iris_preprocess(&img, &v->pre, px)) px = (free(px), NULL);
    iris_image_free(&img);
    return px;
}

typedef struct {
    int32_t *ids, *labels;
    int n;
    float *img;      /* host vision features [rows, vision hidden] (projector input) */
    float *px;       /* trainable tower: host pixels [3, S, S] instead of features */
    float *media;    /* OpenFlamingo: host tower tokens [n_media, patches, hidden] */
    int n_media;
    int counted;
} seq;

static void seq_free(seq *q)
{
    free(q->media);
    free(q->px);
    free(q->img);
    free(q->ids);
    free(q->labels);
    memset(q, 0, sizeof *q);
}

/* Expands the image placeholder into feature rows and truncates to max_len. */
static int build_seq(iris_train_session *s, iris_sample *smp, seq *q, int *truncated)
{
    int rows = smp->n_images ? s->lm.n_img_rows : 0;
    int n = smp->n - smp->n_images + smp->n_images * rows;
    q->ids = malloc((size_t)n * sizeof(int32_t));
    q->labels = malloc((size_t)n * sizeof(int32_t));
    if (!q->ids || !q->labels) {
        iris_set_error("out of memory");
        return -1;
    }
    int k = 0;
    for (int i = 0; i < smp->n; i++) {
        if (smp->ids[i] == IRIS_IMAGE_PLACEHOLDER) {
            for (int r = 0; r < rows; r++) {
                q->ids[k] = -1 - r;
                q->labels[k++] = -100;
            }
        } else {
            q->ids[k] = smp->ids[i];
            q->labels[k++] = smp->labels[i];
        }
    }
    *truncated = n > s->cfg.max_length;
    q->n = *truncated ? s->cfg.max_length : n;
    q->counted = 0;
    for (int i = 1; i < q->n; i++) q->counted += q->labels[i] >= 0;
    return 0;
}

/* OpenFlamingo: the frozen tower's patch tokens of an image (class token
 * dropped, ln_post when the model file asks), into host out. */
static int flamingo_features(iris_flamingo *f, const char *path, float *out)
{
    const iris_backend *be = f->be;
    int hidden = f->clip.cfg.hidden;
    iris_image img;
    if (iris_image_load(&img, path)) return -1;
    float *px = malloc((size_t)3 * f->pre.crop_w * f->pre.crop_h * sizeof *px);
    int rc = -1;
    if (!px) iris_set_error("out of memory for image pixels");
    else if (!iris_preprocess(&img, &f->pre, px) && !iris_clip_features(&f->clip, px, -1, f->vis)) {
        float *tokens = f->vis + hidden;
        if (f->vision_ln_post) {
            char name[128];
            snprintf(name, sizeof name, "%spost_layernorm.weight", f->clip.prefix);
            const iris_tensor *w = iris_weights_find(&f->clip_w, name);
            snprintf(name, sizeof name, "%spost_layernorm.bias", f->clip.prefix);
            const iris_tensor *b = iris_weights_find(&f->clip_w, name);
            be->layernorm(tokens, tokens, w, b, f->n_patches, hidden, f->clip.cfg.eps);
        }
        rc = be->download(out, tokens, (size_t)f->n_patches * hidden * sizeof(float));
        if (rc) iris_set_error("cannot read the tower's output");
    }
    iris_image_free(&img);
    free(px);
    return rc;
}

/* An OpenFlamingo record -> sequence (truncated; images cut off with their
 * <image> tokens are dropped). */
static int flamingo_seq(iris_train_session *s, const cJSON *rec, int ri, seq *q, int *truncated)
{
    iris_flamingo *f = s->lm.flamingo;
    iris_flamingo_sample smp;
    if (iris_flamingo_format_record(rec, ri, s->lm.tok, f->media_token,
                                    s->cfg.image_folder[0] ? s->cfg.image_folder : NULL, &smp))
        return -1;
    int rc = -1;
    *truncated = smp.n > s->cfg.max_length;
    q->n = *truncated ? s->cfg.max_length : smp.n;
    q->n_media = 0;
    for (int i = 0; i < q->n; i++) q->n_media += smp.ids[i] == f->media_token;
    if (q->n_media > s->fl.max_media) {
        iris_set_error("record %d: %d images (the model file allows %d: max_images)", ri, q->n_media,
                       s->fl.max_media);
        goto done;
    }
    size_t per = (size_t)f->n_patches * f->clip.cfg.hidden;
    q->ids = smp.ids;
    q->labels = smp.labels;
    smp.ids = smp.labels = NULL;
    if (q->n_media && !(q->media = malloc((size_t)q->n_media * per * sizeof(float)))) {
        iris_set_error("out of memory");
        goto done;
    }
    for (int i = 0; i < q->n_media; i++)
        if (flamingo_features(f, smp.images[i], q->media + (size_t)i * per)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", iris_last_error());
            iris_set_error("record %d: %s", ri, msg);
            goto done;
        }
    q->counted = 0;
    for (int i = 1; i < q->n; i++) q->counted += q->labels[i] >= 0;
    rc = 0;
done:
    iris_flamingo_sample_free(&smp);
    if (rc) seq_free(q);
    return rc;
}

typedef struct {
    iris_dataset ds;
    int32_t *perm;
    int perm_epoch;
    iris_format_opts fo;
} data_iter;

/* Next usable sequence; bad records are skipped (counted) or fatal. */
static int next_seq(iris_train_session *s, data_iter *it, iris_train_state *st, seq *q, FILE *progress)
{
    int n = it->ds.n, bad_in_a_row = 0;
    for (;;) {
        int epoch = (int)(st->cursor / n);
        if (epoch != it->perm_epoch) {
            iris_dataset_order(n, s->cfg.seed, epoch, s->cfg.shuffle, it->perm);
            it->perm_epoch = epoch;
        }
        int ri = it->perm[st->cursor % n];
        st->cursor++;
        cJSON *rec = iris_dataset_record(&it->ds, ri);
        iris_sample smp;
        int rc = -1;
        if (s->is_flamingo) {
            int truncated = 0;
            rc = rec ? flamingo_seq(s, rec, ri, q, &truncated) : -1;
            cJSON_Delete(rec);
            if (!rc) {
                st->n_truncated += truncated;
                return 0;
            }
            goto bad;
        }
        if (rec) rc = iris_format_record(rec, ri, &it->fo, &smp);
        cJSON_Delete(rec);
        float *feats = NULL, *px = NULL;
        if (!rc && smp.image) {
            if (!s->has_proj) {
                iris_set_error("record %d: has an image but the base model has no vision tower and projector", ri);
                rc = -1;
            } else if (s->tower_trainable ? !(px = image_pixels(s, smp.image))
                                          : !(feats = image_features(s, smp.image))) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", iris_last_error());
                iris_set_error("record %d: %s", ri, msg);
                rc = -1;
            }
            if (rc) iris_sample_free(&smp);
        }
        if (!rc) {
            int truncated = 0;
            rc = build_seq(s, &smp, q, &truncated);
            q->img = feats;
            q->px = px;
            st->n_truncated += truncated;
            iris_sample_free(&smp);
            if (!rc) return 0;
            seq_free(q);
            return -1;
        }
    bad:
        if (!s->cfg.skip_bad_records) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", iris_last_error());
            iris_set_error("%s: %s (set skip_bad_records = true to skip such records)", it->ds.path, msg);
            return -1;
        }
        st->n_skipped++;
        if (progress) fprintf(progress, "skipping: %s\n", iris_last_error());
        if (++bad_in_a_row >= n) {
            iris_set_error("%s: every record is unusable", it->ds.path);
            return -1;
        }
    }
}

/* ---- the run ---- */

int iris_train_run(const iris_train_opts *o)
{
    const iris_train_config *cfg = o->cfg;
    const char *dir = o->run_dir;
    int rc = -1;
    char *ckpt = NULL, *metrics_path = NULL;
    FILE *metrics = NULL;
    seq *batch = NULL;
    float *proj_y = NULL, *proj_dy = NULL, *tower_px = NULL, *tower_dfeat = NULL;
    size_t px_plane = 0;
    data_iter it = {.perm_epoch = -1};
    iris_train_session s;
    int session_open = 0, ds_open = 0;
    if (cfg->threads) iris_cpu_set_threads(cfg->threads);
    if (prepare_run_dir(dir)) return -1;
    ckpt = join(dir, "checkpoint.safetensors");
    metrics_path = join(dir, "metrics.jsonl");
    if (!ckpt || !metrics_path) goto done;
    int have_ckpt = iris_file_exists(ckpt);
    if (!o->resume && have_ckpt) {
        iris_set_error("run directory %s already holds a run (checkpoint.safetensors); use --resume to "
                       "continue it or choose another --run-dir", dir);
        goto done;
    }
    if (o->resume && !have_ckpt) {
        iris_set_error("%s: no checkpoint to resume from", dir);
        goto done;
    }
    if (iris_train_session_open(&s, cfg)) goto done;
    session_open = 1;
    if (iris_dataset_open(&it.ds, cfg->data)) goto done;
    ds_open = 1;
    it.perm = malloc((size_t)it.ds.n * sizeof *it.perm);
    if (!it.perm) {
        iris_set_error("out of memory");
        goto done;
    }
    it.fo.tok = s.lm.tok;
    it.fo.tpl = iris_chat_template_from_name(cfg->template_name);
    it.fo.image_folder = cfg->image_folder[0] ? cfg->image_folder : NULL;
    it.fo.check_images = 1;
    it.fo.vocab = s.is_flamingo ? s.fl.m.cfg.vocab_size : s.m.cfg.vocab_size;

    int per_step = cfg->batch_size * cfg->grad_accum;
    int total = cfg->max_steps > 0 ? cfg->max_steps
                                   : (int)(((int64_t)it.ds.n * cfg->epochs + per_step - 1) / per_step);
    iris_schedule sched = {.kind = cfg->schedule, .total_steps = total, .min_ratio = cfg->lr_min_ratio,
                           .warmup_steps = cfg->warmup_steps > 0 ? cfg->warmup_steps
                                                                 : (int)ceil(cfg->warmup_ratio * total)};
    iris_adamw_config ac = {.beta1 = cfg->beta1, .beta2 = cfg->beta2, .eps = cfg->eps,
                            .weight_decay = cfg->weight_decay};
    for (int g = 0; g < IRIS_PG_COUNT; g++) ac.lr[g] = cfg->lr;
    ac.lr[IRIS_PG_PROJECTOR] = cfg->projector_lr > 0 ? cfg->projector_lr : cfg->lr;
    ac.lr[IRIS_PG_VISION] = cfg->vision_lr > 0 ? cfg->vision_lr : cfg->lr;

    iris_train_state st = {.mode = cfg->mode};
    if (o->resume) {
        if (iris_ckpt_load(ckpt, s.params, &st)) goto done;
        if (st.mode != cfg->mode) {
            iris_set_error("%s: the checkpoint was made in mode %s, the config asks for %s", ckpt,
                           iris_train_mode_name(st.mode), iris_train_mode_name(cfg->mode));
            goto done;
        }
        if (trim_metrics(metrics_path, st.step)) goto done;
    }
    if (write_config(cfg, dir)) goto done;
    metrics = fopen(metrics_path, o->resume ? "a" : "w");
    if (!metrics) {
        iris_set_error("%s: cannot open for writing: %s", metrics_path, strerror(errno));
        goto done;
    }
    batch = calloc((size_t)per_step, sizeof *batch);
    if (s.has_proj) {
        proj_y = malloc((size_t)s.lm.n_img_rows * s.m.cfg.dim * sizeof(float));
        proj_dy = malloc((size_t)s.lm.n_img_rows * s.m.cfg.dim * sizeof(float));
        if (!proj_y || !proj_dy) batch = (free(batch), NULL);
    }
    if (s.tower_trainable) {
        px_plane = (size_t)3 * s.lm.vision->pre.crop_w * s.lm.vision->pre.crop_h;
        tower_px = malloc((size_t)s.tower.max_images * px_plane * sizeof(float));
        tower_dfeat = malloc((size_t)s.lm.n_img_rows * s.tower.cfg.hidden * sizeof(float));
        if (!tower_px || !tower_dfeat) batch = (free(batch), NULL);
    }
    if (!batch) {
        iris_set_error("out of memory");
        goto done;
    }
    if (o->progress) {
        long n_all = 0, n_train = iris_params_trainable(s.params);
        for (int i = 0; i < s.params->n; i++) n_all += s.params->p[i].n;
        if (s.is_flamingo && s.fl.base_embed >= 0)   /* the grown table replaces the base's */
            n_all -= s.fl.m.params.p[s.fl.base_embed].n;
        fprintf(o->progress, "iris train: %s, mode %s, %ld trainable parameters (%.4g%% of %ld), %d records, "
                "%d steps%s\n", cfg->base,
                !s.is_flamingo ? iris_train_mode_name(cfg->mode)
                : s.fl.has_lora ? "lora (OpenFlamingo: adapters, see lora.targets and lora.modules_to_save)"
                                : "openflamingo (perceiver, cross-attention, new embeddings)",
                n_train, n_all > 0 ? 100.0 * (double)n_train / (double)n_all : 0.0, n_all, it.ds.n, total,
                o->resume ? " (resumed)" : "");
    }
    double wall0 = iris_now() - st.wall_s;
    int stopped = 0;
    while (st.step < total) {
        double t0 = iris_now();
        int counted = 0;
        long tokens = 0;
        for (int k = 0; k < per_step; k++) {
            if (next_seq(&s, &it, &st, &batch[k], o->progress)) {
                for (int j = 0; j < k; j++) seq_free(&batch[j]);
                goto done;
            }
            counted += batch[k].counted;
            tokens += batch[k].n;
        }
        iris_params_zero_grad(s.params);
        s.m.training = 1;
        double loss_sum = 0;
        int fail = 0;
        if (s.is_flamingo) {
            s.fl.m.training = 1;
            for (int k = 0; k < per_step; k++) {
                double ls = 0;
                s.fl.m.dropout_key = iris_rng_mix(cfg->seed ^ 0xD50Full, (uint64_t)st.step * 65536u + (uint64_t)k);
                if (!fail && iris_flamingo_train_step(&s.fl, batch[k].media, batch[k].n_media, batch[k].ids,
                                                      batch[k].labels, batch[k].n,
                                                      1.0f / (counted > 0 ? counted : 1), &ls, NULL))
                    fail = 1;
                loss_sum += ls;
                seq_free(&batch[k]);
            }
        }
        /* A trainable tower runs groups of micro-batches' images at once:
         * forward, then each sequence (projector, decoder, back to the
         * features), then one backward through the tower. */
        int group = s.tower_trainable ? s.tower.max_images : per_step;
        for (int k0 = s.is_flamingo ? per_step : 0; k0 < per_step; k0 += group) {
            int k1 = k0 + group < per_step ? k0 + group : per_step, n_img = 0;
            if (s.tower_trainable && !fail) {
                for (int k = k0; k < k1; k++)
                    if (batch[k].px) memcpy(tower_px + (size_t)n_img++ * px_plane, batch[k].px, px_plane * sizeof(float));
                if (n_img && iris_clip_train_forward(&s.tower, &s.m.params, tower_px, n_img)) fail = 1;
            }
            for (int k = k0, slot = 0; k < k1; k++) {
                double ls = 0;
                s.m.dropout_key = iris_rng_mix(cfg->seed ^ 0xD50Full, (uint64_t)st.step * 65536u + (uint64_t)k);
                float *rows = NULL;
                const float *in = batch[k].img;
                int my_slot = -1;
                if (s.tower_trainable && batch[k].px) {
                    my_slot = slot++;
                    in = fail ? NULL : iris_clip_train_features(&s.tower, my_slot);
                }
                if (!fail && in) {
                    rows = proj_y;
                    memset(proj_dy, 0, (size_t)s.lm.n_img_rows * s.m.cfg.dim * sizeof(float));
                    if (iris_projector_train_forward(&s.proj, &s.m.params, in, s.lm.n_img_rows, proj_y)) fail = 1;
                }
                if (!fail && iris_llama_train_step(&s.m, batch[k].ids, rows, batch[k].labels, batch[k].n,
                                                   1.0f / (counted > 0 ? counted : 1), 1,
                                                   rows && s.proj_trainable ? proj_dy : NULL, &ls, NULL))
                    fail = 1;
                if (!fail && rows && s.proj_trainable) {
                    iris_projector_train_backward_input(&s.proj, &s.m.params, proj_dy, s.lm.n_img_rows,
                                                        my_slot >= 0 ? tower_dfeat : NULL);
                    if (my_slot >= 0 && iris_clip_train_set_dfeatures(&s.tower, my_slot, tower_dfeat)) fail = 1;
                }
                loss_sum += ls;
                seq_free(&batch[k]);
            }
            if (!fail && n_img && iris_clip_train_backward(&s.tower, &s.m.params)) fail = 1;
        }
        if (fail) goto done;
        double loss = counted > 0 ? loss_sum / counted : 0.0;
        double gnorm = iris_clip_grad_norm(s.params, cfg->max_grad_norm);
        double factor = iris_schedule_factor(&sched, st.step);
        iris_adamw_apply(s.params, s.ops, &ac, factor, st.step + 1);
        st.step++;
        st.tokens += tokens;
        double now = iris_now(), dt = now - t0;
        st.wall_s = now - wall0;
        fprintf(metrics,
                "{\"step\":%d,\"epoch\":%.6f,\"loss\":%.9g,\"lr\":%.9g,\"grad_norm\":%.9g,\"tokens_per_s\":%.3f,"
                "\"mem_bytes\":%ld,\"wall_s\":%.3f}\n",
                st.step, (double)st.cursor / it.ds.n, loss, cfg->lr * factor, gnorm, dt > 0 ? tokens / dt : 0.0,
                peak_rss_bytes(), st.wall_s);
        if (fflush(metrics)) {
            iris_set_error("%s: write failed: %s", metrics_path, strerror(errno));
            goto done;
        }
        if (o->progress)
            fprintf(o->progress, "step %d/%d  loss %.4f  lr %.3g  grad_norm %.3g  %.0f tok/s\n", st.step, total,
                    loss, cfg->lr * factor, gnorm, dt > 0 ? tokens / dt : 0.0);
        int stop_now = o->stop && *o->stop;
        if ((cfg->save_steps > 0 && st.step % cfg->save_steps == 0) || stop_now || st.step == total) {
            if (iris_ckpt_save(ckpt, s.params, &st)) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", iris_last_error());
                iris_set_error("cannot save the checkpoint of step %d (%s); the previous checkpoint is "
                               "still in place", st.step, msg);
                goto done;
            }
        }
        if (stop_now && st.step < total) {
            stopped = 1;
            break;
        }
    }
    if (stopped) {
        if (o->progress)
            fprintf(o->progress, "iris train: stopped at step %d/%d; checkpoint saved (continue with --resume)\n",
                    st.step, total);
    } else {
        if (write_final(&s, dir)) goto done;
        if (o->progress)
            fprintf(o->progress, "iris train: done, %d steps; %lld records truncated to %d tokens, %lld skipped; "
                    "output in %s/%s\n", st.step, (long long)st.n_truncated, cfg->max_length,
                    (long long)st.n_skipped, dir,
                    (s.m_open && s.m.has_lora) || (s.is_flamingo && s.fl.has_lora) ? "adapter" : "model");
    }
    rc = 0;
done:
    if (metrics) fclose(metrics);
    free(batch);
    free(proj_y);
    free(proj_dy);
    free(tower_px);
    free(tower_dfeat);
    free(it.perm);
    if (ds_open) iris_dataset_close(&it.ds);
    if (session_open) iris_train_session_close(&s);
    free(ckpt);
    free(metrics_path);
    return rc;
}

int iris_train_export(const char *run_dir, int merge, const char *out_dir)
{
    char *cfg_path = join(run_dir, "config.ini"), *ckpt = join(run_dir, "checkpoint.safetensors");
    int rc = -1;
    iris_train_session s;
    int open = 0;
    if (!cfg_path || !ckpt) goto done;
    if (!iris_file_exists(cfg_path) || !iris_file_exists(ckpt)) {
        iris_set_error("%s: not a training run directory (config.ini and checkpoint.safetensors expected)", run_dir);
        goto done;
    }
    iris_train_config cfg;
    iris_train_config_defaults(&cfg);
    if (iris_train_config_load(&cfg, cfg_path)) goto done;
    cfg.max_length = 8;   /* no training: a small workspace */
    cfg.batch_size = cfg.grad_accum = 1;
    if (iris_train_session_open(&s, &cfg)) goto done;
    open = 1;
    iris_train_state st;
    if (iris_ckpt_load(ckpt, s.params, &st)) goto done;
    if (s.is_flamingo) {   /* the trained weights and a model file naming them, or the adapter */
        rc = s.fl.has_lora && !merge ? iris_flamingo_lora_save(&s.fl.lora, &s.fl, out_dir, cfg.base)
                                     : write_flamingo_model(&s, out_dir);
    } else if (!merge) {
        rc = iris_peft_save(&s.m, out_dir, cfg.base);
    } else {
        rc = iris_merge_save(&s.m, &s.lm.w, out_dir);
        if (!rc) rc = copy_aux_files(cfg.base, out_dir);
    }
done:
    if (open) iris_train_session_close(&s);
    free(cfg_path);
    free(ckpt);
    return rc;
}

int iris_peft_export(const char *adapter_dir, const char *base, int merge, const char *out_dir)
{
    iris_train_config cfg;
    iris_train_config_defaults(&cfg);
    snprintf(cfg.base, sizeof cfg.base, "%s", base);
    snprintf(cfg.lora_init, sizeof cfg.lora_init, "%s", adapter_dir);
    cfg.mode = IRIS_TRAIN_LORA;
    cfg.max_length = 8;
    cfg.lora_dropout = 0;
    char *mf = iris_flamingo_model_file(base);
    if (mf) snprintf(cfg.template_name, sizeof cfg.template_name, "openflamingo");
    free(mf);
    iris_train_session s;
    if (iris_train_session_open(&s, &cfg)) return -1;
    int rc;
    if (s.is_flamingo) {
        rc = merge ? write_flamingo_model(&s, out_dir) : iris_flamingo_lora_save(&s.fl.lora, &s.fl, out_dir, base);
    } else if (!merge) {
        rc = iris_peft_save(&s.m, out_dir, base);
    } else {
        rc = iris_merge_save(&s.m, &s.lm.w, out_dir);
        if (!rc) rc = copy_aux_files(base, out_dir);
    }
    iris_train_session_close(&s);
    return rc;
}

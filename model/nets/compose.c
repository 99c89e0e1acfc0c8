#include "compose.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clip.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "formats/safetensors.h"
#include "formats/weights.h"
#include "llama_config.h"

typedef struct {
    int n, cap;
    char **names;
    iris_tensor *ts;   /* views into the inputs, or owned new tensors */
} out_list;

static int out_add(out_list *o, const char *name, const iris_tensor *t, int take_ownership)
{
    if (o->n == o->cap) {
        int cap = o->cap ? o->cap * 2 : 256;
        char **nn = realloc(o->names, (size_t)cap * sizeof *nn);
        if (!nn) goto oom;
        o->names = nn;
        iris_tensor *nt = realloc(o->ts, (size_t)cap * sizeof *nt);
        if (!nt) goto oom;
        o->ts = nt;
        o->cap = cap;
    }
    o->names[o->n] = strdup(name);
    if (!o->names[o->n]) goto oom;
    o->ts[o->n] = *t;
    o->ts[o->n].owns_data = take_ownership;
    o->n++;
    return 0;
oom:
    iris_set_error("out of memory");
    return -1;
}

static void out_free(out_list *o)
{
    for (int i = 0; i < o->n; i++) {
        free(o->names[i]);
        iris_tensor_free(&o->ts[i]);
    }
    free(o->names);
    free(o->ts);
}

static cJSON *load_json(const char *dir, const char *file)
{
    char *path = iris_path_join(dir, file);
    if (!path) return NULL;
    size_t len;
    char *text = iris_read_file(path, &len, 1 << 28);
    cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;
    if (text && !j) iris_set_error("%s: not valid JSON", path);
    free(text);
    free(path);
    return j;
}

static int write_json(const char *dir, const char *file, const cJSON *j)
{
    char *path = iris_path_join(dir, file);
    char *text = cJSON_Print(j);
    int rc = -1;
    iris_atomic_file af;
    if (path && text && iris_atomic_open(&af, path, "w") == 0) {
        fputs(text, af.f);
        fputc('\n', af.f);
        rc = iris_atomic_commit(&af);
    } else if (!text) {
        iris_set_error("out of memory");
    }
    free(text);
    free(path);
    return rc;
}

/* splitmix64 -> uniform in [-bound, bound) */
static float uniform(uint64_t *s, float bound)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)(((z >> 11) * (1.0 / 9007199254740992.0)) * 2.0 - 1.0) * bound;
}

static void store_f32(iris_tensor *t, int64_t i, float v)
{
    switch (t->dtype) {
    case IRIS_F16: ((uint16_t *)t->data)[i] = iris_f32_to_f16(v); break;
    case IRIS_BF16: ((uint16_t *)t->data)[i] = iris_f32_to_bf16(v); break;
    default: ((float *)t->data)[i] = v; break;
    }
}

/* nn.Linear's default initialisation: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)). */
static int add_linear(out_list *o, const char *stem, int out_dim, int in_dim, iris_dtype dt, uint64_t *seed)
{
    char name[128];
    int64_t ws[2] = {out_dim, in_dim}, bs[1] = {out_dim};
    iris_tensor w, b;
    float bound = 1.0f / sqrtf((float)in_dim);
    if (iris_tensor_alloc(&w, dt, 2, ws) || iris_tensor_alloc(&b, dt, 1, bs)) {
        iris_set_error("out of memory for the projector");
        return -1;
    }
    for (int64_t i = 0; i < (int64_t)out_dim * in_dim; i++) store_f32(&w, i, uniform(seed, bound));
    for (int64_t i = 0; i < out_dim; i++) store_f32(&b, i, uniform(seed, bound));
    snprintf(name, sizeof name, "%s.weight", stem);
    if (out_add(o, name, &w, 1)) return -1;
    snprintf(name, sizeof name, "%s.bias", stem);
    return out_add(o, name, &b, 1);
}

/* A copy of an embedding-like matrix with rows appended up to new_rows, each
 * new row the mean of the old ones. */
static int grown_matrix(const iris_tensor *src, int64_t new_rows, iris_tensor *dst)
{
    int64_t rows = src->shape[0], cols = src->shape[1];
    int64_t shape[2] = {new_rows, cols};
    if (iris_tensor_alloc(dst, src->dtype, 2, shape)) {
        iris_set_error("out of memory growing the embedding");
        return -1;
    }
    size_t row_bytes = iris_dtype_row_bytes(src->dtype, cols);
    memcpy(dst->data, src->data, (size_t)rows * row_bytes);
    double *mean = calloc((size_t)cols, sizeof *mean);
    float *row = malloc((size_t)cols * sizeof *row);
    if (!mean || !row) {
        free(mean);
        free(row);
        iris_tensor_free(dst);
        iris_set_error("out of memory");
        return -1;
    }
    for (int64_t r = 0; r < rows; r++) {
        iris_tensor_row_to_f32(src, r, row);
        for (int64_t c = 0; c < cols; c++) mean[c] += row[c];
    }
    for (int64_t r = rows; r < new_rows; r++)
        for (int64_t c = 0; c < cols; c++) store_f32(dst, r * cols + c, (float)(mean[c] / rows));
    free(mean);
    free(row);
    return 0;
}

/* The vision tower's tensors under "vision_tower.vision_model.". */
static int add_vision(out_list *o, const iris_weights *w, const char *dir)
{
    static const char *const prefixes[] = {
        "vision_tower.vision_model.", "model.vision_tower.vision_model.", "vision_model.", "model.vision_tower.",
    };
    int added = 0;
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes && !added; p++) {
        size_t pl = strlen(prefixes[p]);
        for (int f = 0; f < w->n_files; f++)
            for (int i = 0; i < w->st[f].n_tensors; i++) {
                const char *nm = w->st[f].tensors[i].name;
                if (strncmp(nm, prefixes[p], pl) != 0) continue;
                char name[512];
                snprintf(name, sizeof name, "vision_tower.vision_model.%s", nm + pl);
                if (out_add(o, name, &w->st[f].tensors[i].t, 0)) return -1;
                added++;
            }
    }
    if (!added) {
        iris_set_error("%s: no vision tower tensors (vision_model.* or vision_tower.*)", dir);
        return -1;
    }
    return 0;
}

static int add_llm(out_list *o, const iris_weights *w, const char *dir, int64_t new_vocab, int *tied)
{
    int added = 0;
    *tied = 1;
    for (int f = 0; f < w->n_files; f++)
        for (int i = 0; i < w->st[f].n_tensors; i++) {
            const char *nm = w->st[f].tensors[i].name;
            const iris_tensor *t = &w->st[f].tensors[i].t;
            char name[512];
            if (!strcmp(nm, "lm_head.weight")) *tied = 0;
            if (strncmp(nm, "model.", 6) && strcmp(nm, "lm_head.weight")) continue;
            snprintf(name, sizeof name, "language_model.%s", nm);
            int grow = (!strcmp(nm, "model.embed_tokens.weight") || !strcmp(nm, "lm_head.weight")) &&
                       t->ndim == 2 && t->shape[0] < new_vocab;
            if (grow) {
                iris_tensor g;
                if (grown_matrix(t, new_vocab, &g) || out_add(o, name, &g, 1)) return -1;
            } else if (out_add(o, name, t, 0)) {
                return -1;
            }
            added++;
        }
    if (!added) {
        iris_set_error("%s: no language-model tensors (model.* / lm_head.weight)", dir);
        return -1;
    }
    return 0;
}

/* Adds "<image>" to tokenizer.json (if absent); returns its id or -1. */
static int add_image_token(cJSON *tok, const char *dir)
{
    cJSON *model = cJSON_GetObjectItemCaseSensitive(tok, "model");
    cJSON *vocab = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
    cJSON *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    if (!cJSON_IsObject(vocab)) {
        iris_set_error("%s/tokenizer.json: no model.vocab object", dir);
        return -1;
    }
    int max_id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!strcmp(it->string, "<image>")) return (int)it->valuedouble;
        if (cJSON_IsNumber(it) && it->valuedouble > max_id) max_id = (int)it->valuedouble;
    }
    if (!cJSON_IsArray(added)) {
        added = cJSON_AddArrayToObject(tok, "added_tokens");
        if (!added) goto oom;
    }
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (cJSON_IsString(content) && !strcmp(content->valuestring, "<image>") && cJSON_IsNumber(id))
            return (int)id->valuedouble;
        if (cJSON_IsNumber(id) && id->valuedouble > max_id) max_id = (int)id->valuedouble;
    }
    cJSON *t = cJSON_CreateObject();
    if (!t || !cJSON_AddNumberToObject(t, "id", max_id + 1) || !cJSON_AddStringToObject(t, "content", "<image>") ||
        !cJSON_AddBoolToObject(t, "single_word", 0) || !cJSON_AddBoolToObject(t, "lstrip", 0) ||
        !cJSON_AddBoolToObject(t, "rstrip", 0) || !cJSON_AddBoolToObject(t, "normalized", 0) ||
        !cJSON_AddBoolToObject(t, "special", 1)) {
        cJSON_Delete(t);
        goto oom;
    }
    cJSON_AddItemToArray(added, t);
    return max_id + 1;
oom:
    iris_set_error("out of memory");
    return -1;
}

int iris_compose(const iris_compose_opts *o)
{
    int rc = -1, tied = 1;
    cJSON *vcfg_file = NULL, *lcfg = NULL, *tok = NULL, *out_cfg = NULL;
    iris_weights vw = {0}, lw = {0};
    out_list out = {0};
    uint64_t seed = o->seed ? o->seed : 0x1a11a;

    if (!(vcfg_file = load_json(o->vision_dir, "config.json"))) goto done;
    if (!(lcfg = load_json(o->llm_dir, "config.json"))) goto done;
    if (!(tok = load_json(o->llm_dir, "tokenizer.json"))) goto done;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(lcfg, "model_type");
    if (cJSON_IsString(mt) && !strcmp(mt->valuestring, "llava")) {
        iris_set_error("%s: is already a LLaVA model; give its language model (--llm) on its own", o->llm_dir);
        goto done;
    }
    iris_llama_config lc;
    if (iris_llama_config_from_json(&lc, lcfg, o->llm_dir)) goto done;
    cJSON *vcfg = cJSON_GetObjectItemCaseSensitive(vcfg_file, "vision_config");
    if (!cJSON_IsObject(vcfg)) vcfg = vcfg_file;
    iris_clip_config cc;
    if (iris_clip_config_from_json(&cc, vcfg, o->vision_dir)) goto done;
    if (!cc.class_token) {
        iris_set_error("%s: only CLIP towers (with a class token) can be composed", o->vision_dir);
        goto done;
    }
    int image_id = add_image_token(tok, o->llm_dir);
    if (image_id < 0) goto done;
    int64_t vocab = lc.vocab_size > image_id ? lc.vocab_size : image_id + 1;

    if (iris_weights_open(&vw, o->vision_dir) || iris_weights_open(&lw, o->llm_dir)) goto done;
    if (vw.gguf || lw.gguf) {
        iris_set_error("compose works on safetensors checkpoints (Hugging Face layout)");
        goto done;
    }
    if (add_vision(&out, &vw, o->vision_dir)) goto done;
    iris_dtype dt = IRIS_F32;
    const iris_tensor *emb = iris_weights_find(&lw, "model.embed_tokens.weight");
    if (!emb) {
        iris_set_error("%s: model.embed_tokens.weight is missing", o->llm_dir);
        goto done;
    }
    if (emb->dtype == IRIS_F16 || emb->dtype == IRIS_BF16) dt = emb->dtype;
    if (o->linear_projector) {
        if (add_linear(&out, "model.mm_projector", lc.dim, cc.hidden, dt, &seed)) goto done;
    } else if (add_linear(&out, "multi_modal_projector.linear_1", lc.dim, cc.hidden, dt, &seed) ||
               add_linear(&out, "multi_modal_projector.linear_2", lc.dim, lc.dim, dt, &seed)) {
        goto done;
    }
    if (add_llm(&out, &lw, o->llm_dir, vocab, &tied)) goto done;

    /* config.json */
    out_cfg = cJSON_CreateObject();
    cJSON *text_cfg = cJSON_Duplicate(lcfg, 1), *vis_cfg = cJSON_Duplicate(vcfg, 1);
    cJSON *arch = cJSON_CreateStringArray((const char *const[]){"LlavaForConditionalGeneration"}, 1);
    if (!out_cfg || !text_cfg || !vis_cfg || !arch) {
        cJSON_Delete(text_cfg);
        cJSON_Delete(vis_cfg);
        cJSON_Delete(arch);
        iris_set_error("out of memory");
        goto done;
    }
    cJSON_ReplaceItemInObject(text_cfg, "vocab_size", cJSON_CreateNumber((double)vocab));
    if (!cJSON_GetObjectItemCaseSensitive(text_cfg, "vocab_size"))
        cJSON_AddNumberToObject(text_cfg, "vocab_size", (double)vocab);
    if (!cJSON_GetObjectItemCaseSensitive(vis_cfg, "model_type"))
        cJSON_AddStringToObject(vis_cfg, "model_type", "clip_vision_model");
    int n_patch = (cc.image_size / cc.patch) * (cc.image_size / cc.patch);
    cJSON_AddItemToObject(out_cfg, "architectures", arch);
    cJSON_AddStringToObject(out_cfg, "model_type", "llava");
    cJSON_AddNumberToObject(out_cfg, "image_token_index", image_id);
    cJSON_AddNumberToObject(out_cfg, "image_seq_length", n_patch);
    cJSON_AddStringToObject(out_cfg, "projector_hidden_act", "gelu");
    if (o->linear_projector) cJSON_AddStringToObject(out_cfg, "mm_projector_type", "linear");
    cJSON_AddNumberToObject(out_cfg, "vision_feature_layer", o->vision_feature_layer ? o->vision_feature_layer : -2);
    cJSON_AddStringToObject(out_cfg, "vision_feature_select_strategy", "default");
    cJSON_AddBoolToObject(out_cfg, "tie_word_embeddings", tied);
    cJSON_AddItemToObject(out_cfg, "text_config", text_cfg);
    cJSON_AddItemToObject(out_cfg, "vision_config", vis_cfg);

    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST) {
        iris_set_error("%s: cannot create: %s", o->out_dir, strerror(errno));
        goto done;
    }
    char *st_path = iris_path_join(o->out_dir, "model.safetensors");
    if (!st_path) goto done;
    int wrc = iris_st_write(st_path, out.n, (const char *const *)out.names, out.ts,
                            "{\"format\": \"pt\", \"composed_by\": \"iris\"}");
    free(st_path);
    if (wrc || write_json(o->out_dir, "tokenizer.json", tok) || write_json(o->out_dir, "config.json", out_cfg))
        goto done;
    rc = 0;
done:
    out_free(&out);
    if (vw.path) iris_weights_close(&vw);
    if (lw.path) iris_weights_close(&lw);
    cJSON_Delete(vcfg_file);
    cJSON_Delete(lcfg);
    cJSON_Delete(tok);
    cJSON_Delete(out_cfg);
    return rc;
}

/* new_flamingo.c — an OpenFlamingo model (flamingo.h's layout) around a
 * trained LLaVA's tower and language model; see new_flamingo.h. */
#include "new_flamingo.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/tensor.h"
#include "formats/safetensors.h"
#include "formats/weights.h"
#include "text/tokenizer.h"

/* ---- the spec ---- */

static const struct {
    const char *key;
    size_t off;
    int lo, hi;
} int_keys[] = {
    {"cross_attn_every_n_layers", offsetof(iris_flamingo_spec, every_n), 1, 256},
    {"dim_head", offsetof(iris_flamingo_spec, dim_head), 1, 4096},
    {"perceiver_depth", offsetof(iris_flamingo_spec, p_depth), 1, 64},
    {"perceiver_heads", offsetof(iris_flamingo_spec, p_heads), 1, 256},
    {"num_latents", offsetof(iris_flamingo_spec, n_latents), 1, 4096},
    {"perceiver_ff_mult", offsetof(iris_flamingo_spec, p_ff_mult), 1, 64},
    {"xattn_heads", offsetof(iris_flamingo_spec, x_heads), 1, 256},
    {"xattn_ff_mult", offsetof(iris_flamingo_spec, x_ff_mult), 1, 64},
    {"max_images", offsetof(iris_flamingo_spec, max_images), 1, 4096},
};

typedef struct {
    iris_flamingo_spec *s;
    const char *path;
    int failed, sections;
} parse_ctx;

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *x = user;
    if (x->failed) return 0;
    if (strcmp(section, "openflamingo")) {
        iris_set_error("%s: unknown section [%s] (an OpenFlamingo spec has only [openflamingo])", x->path, section);
        x->failed = 1;
        return 0;
    }
    if (!strcmp(name, "llava")) {
        if (!*value || strlen(value) >= sizeof x->s->llava) {
            iris_set_error("%s: [openflamingo] llava must be a directory path", x->path);
            x->failed = 1;
            return 0;
        }
        snprintf(x->s->llava, sizeof x->s->llava, "%s", value);
        return 1;
    }
    if (!strcmp(name, "preprocess")) {
        if (!strcmp(value, "crop") || !strcmp(value, "pad") || !strcmp(value, "resize")) {
            snprintf(x->s->preprocess, sizeof x->s->preprocess, "%s", value);
            return 1;
        }
        iris_set_error("%s: [openflamingo] preprocess must be crop, pad or resize", x->path);
        x->failed = 1;
        return 0;
    }
    if (!strcmp(name, "vision_ln_post")) {
        if (!strcmp(value, "true") || !strcmp(value, "false")) {
            x->s->ln_post = value[0] == 't';
            return 1;
        }
        iris_set_error("%s: [openflamingo] vision_ln_post must be true or false", x->path);
        x->failed = 1;
        return 0;
    }
    for (size_t i = 0; i < sizeof int_keys / sizeof *int_keys; i++) {
        if (strcmp(int_keys[i].key, name)) continue;
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (*end || end == value || errno || v < int_keys[i].lo || v > int_keys[i].hi) {
            iris_set_error("%s: [openflamingo] %s must be an integer in [%d, %d] (got '%s')", x->path, name,
                           int_keys[i].lo, int_keys[i].hi, value);
            x->failed = 1;
            return 0;
        }
        *(int *)((char *)x->s + int_keys[i].off) = (int)v;
        return 1;
    }
    iris_set_error("%s: unknown key [openflamingo] %s", x->path, name);
    x->failed = 1;
    return 0;
}

int iris_spec_is_flamingo(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        iris_set_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    /* a section header line, even of an empty section (ini.h reports keys only) */
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        found = !strncmp(p, "[openflamingo]", 14);
    }
    fclose(f);
    return found;
}

int iris_flamingo_spec_load(iris_flamingo_spec *s, const char *path)
{
    memset(s, 0, sizeof *s);
    *s = (iris_flamingo_spec){.every_n = 1, .dim_head = 64, .p_depth = 6, .p_heads = 8, .n_latents = 64,
                              .p_ff_mult = 4, .x_heads = 8, .x_ff_mult = 4, .max_images = 16,
                              .preprocess = "crop"};
    parse_ctx x = {.s = s, .path = path};
    FILE *f = fopen(path, "r");
    if (!f) {
        iris_set_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = ini_parse_file(f, on_key, &x);
    fclose(f);
    if (x.failed) return -1;
    if (rc) {
        iris_set_error("%s:%d: not an INI line", path, rc);
        return -1;
    }
    return 0;
}

/* ---- random tensors (torch's initialisers, our streams) ---- */

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t name_key(uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static double uniform01(uint64_t *s) { return (mix(s) >> 11) * (1.0 / 9007199254740992.0); }

typedef struct {
    int n, cap;
    char **names;
    iris_tensor *ts;
    uint64_t seed;
} tlist;

static void tlist_free(tlist *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->names[i]);
        iris_tensor_free(&l->ts[i]);
    }
    free(l->names);
    free(l->ts);
    memset(l, 0, sizeof *l);
}

/* A new f32 tensor (zeroed) named name; NULL on out of memory. */
static float *add(tlist *l, const char *name, int ndim, int64_t a, int64_t b)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        char **nn = realloc(l->names, (size_t)cap * sizeof *nn);
        if (!nn) goto oom;
        l->names = nn;
        iris_tensor *nt = realloc(l->ts, (size_t)cap * sizeof *nt);
        if (!nt) goto oom;
        l->ts = nt;
        l->cap = cap;
    }
    iris_tensor *t = &l->ts[l->n];
    if (iris_tensor_alloc(t, IRIS_F32, ndim, (int64_t[]){a, b})) goto oom;
    if (!(l->names[l->n] = strdup(name))) {
        iris_tensor_free(t);
        goto oom;
    }
    l->n++;
    memset(t->data, 0, (size_t)iris_tensor_numel(t) * sizeof(float));
    return t->data;
oom:
    iris_set_error("out of memory for the new OpenFlamingo weights");
    return NULL;
}

/* torch.nn.Linear(in, out, bias=False): kaiming_uniform(a = sqrt 5), i.e.
 * U(-1/sqrt(in), 1/sqrt(in)) */
static int linear(tlist *l, const char *name, int64_t out, int64_t in)
{
    float *w = add(l, name, 2, out, in);
    if (!w) return -1;
    uint64_t s = name_key(l->seed, name);
    double bound = 1.0 / sqrt((double)in);
    for (int64_t i = 0; i < out * in; i++) w[i] = (float)((2.0 * uniform01(&s) - 1.0) * bound);
    return 0;
}

static int layer_norm(tlist *l, const char *stem, int64_t d)
{
    char n[300];
    snprintf(n, sizeof n, "%s.weight", stem);
    float *w = add(l, n, 1, d, 0);
    if (!w) return -1;
    for (int64_t i = 0; i < d; i++) w[i] = 1.0f;
    snprintf(n, sizeof n, "%s.bias", stem);
    return add(l, n, 1, d, 0) ? 0 : -1;
}

/* N(0, 1) by Box-Muller, as torch.randn for the latents */
static int randn(tlist *l, const char *name, int64_t a, int64_t b)
{
    float *w = add(l, name, 2, a, b);
    if (!w) return -1;
    uint64_t s = name_key(l->seed, name);
    for (int64_t i = 0; i < a * b; i++) {
        double u1 = ((mix(&s) >> 11) + 1) * (1.0 / 9007199254740992.0), u2 = uniform01(&s);
        w[i] = (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
    return 0;
}

static int feed_forward(tlist *l, const char *stem, int64_t dim, int mult)
{
    char n[300];
    snprintf(n, sizeof n, "%s.0", stem);
    if (layer_norm(l, n, dim)) return -1;
    snprintf(n, sizeof n, "%s.1.weight", stem);
    if (linear(l, n, dim * mult, dim)) return -1;
    snprintf(n, sizeof n, "%s.3.weight", stem);
    return linear(l, n, dim, dim * mult);
}

static int perceiver(tlist *l, const iris_flamingo_spec *s, int64_t dv)
{
    char n[300];
    int64_t inner = (int64_t)s->dim_head * s->p_heads;
    if (randn(l, "perceiver.latents", s->n_latents, dv)) return -1;
    for (int i = 0; i < s->p_depth; i++) {
        snprintf(n, sizeof n, "perceiver.layers.%d.0.norm_media", i);
        if (layer_norm(l, n, dv)) return -1;
        snprintf(n, sizeof n, "perceiver.layers.%d.0.norm_latents", i);
        if (layer_norm(l, n, dv)) return -1;
        snprintf(n, sizeof n, "perceiver.layers.%d.0.to_q.weight", i);
        if (linear(l, n, inner, dv)) return -1;
        snprintf(n, sizeof n, "perceiver.layers.%d.0.to_kv.weight", i);
        if (linear(l, n, 2 * inner, dv)) return -1;
        snprintf(n, sizeof n, "perceiver.layers.%d.0.to_out.weight", i);
        if (linear(l, n, dv, inner)) return -1;
        snprintf(n, sizeof n, "perceiver.layers.%d.1", i);
        if (feed_forward(l, n, dv, s->p_ff_mult)) return -1;
    }
    return layer_norm(l, "perceiver.norm", dv);
}

static int blocks(tlist *l, const iris_flamingo_spec *s, int n_layers, int64_t dim, int64_t dv)
{
    char n[300];
    int64_t inner = (int64_t)s->dim_head * s->x_heads;
    for (int i = 0; i < n_layers; i++) {
        if ((i + 1) % s->every_n) continue;
        const char *P = "lang_encoder.model.layers";
        snprintf(n, sizeof n, "%s.%d.gated_cross_attn_layer.attn.norm", P, i);
        if (layer_norm(l, n, dim)) return -1;
        snprintf(n, sizeof n, "%s.%d.gated_cross_attn_layer.attn.to_q.weight", P, i);
        if (linear(l, n, inner, dim)) return -1;
        snprintf(n, sizeof n, "%s.%d.gated_cross_attn_layer.attn.to_kv.weight", P, i);
        if (linear(l, n, 2 * inner, dv)) return -1;
        snprintf(n, sizeof n, "%s.%d.gated_cross_attn_layer.attn.to_out.weight", P, i);
        if (linear(l, n, dim, inner)) return -1;
        snprintf(n, sizeof n, "%s.%d.gated_cross_attn_layer.attn_gate", P, i);
        if (!add(l, n, 1, 1, 0)) return -1;   /* 0: the block starts closed */
        snprintf(n, sizeof n, "%s.%d.gated_cross_attn_layer.ff", P, i);
        if (feed_forward(l, n, dim, s->x_ff_mult)) return -1;
        snprintf(n, sizeof n, "%s.%d.gated_cross_attn_layer.ff_gate", P, i);
        if (!add(l, n, 1, 1, 0)) return -1;
    }
    return 0;
}

/* The LM's table grown to rows, the new rows the mean of the old ones. */
static int grown(tlist *l, const char *name, const iris_tensor *src, int64_t rows)
{
    int64_t old = src->shape[0], d = src->shape[1];
    float *w = add(l, name, 2, rows, d);
    if (!w) return -1;
    double *mean = calloc((size_t)d, sizeof *mean);
    if (!mean) {
        iris_set_error("out of memory");
        return -1;
    }
    for (int64_t r = 0; r < old; r++) {
        iris_tensor_row_to_f32(src, r, w + r * d);
        for (int64_t c = 0; c < d; c++) mean[c] += w[r * d + c];
    }
    for (int64_t r = old; r < rows; r++)
        for (int64_t c = 0; c < d; c++) w[r * d + c] = (float)(mean[c] / (double)old);
    free(mean);
    return 0;
}

/* ---- files ---- */

static cJSON *read_json(const char *dir, const char *file)
{
    char *path = iris_path_join(dir, file);
    if (!path) {
        iris_set_error("out of memory");
        return NULL;
    }
    size_t len;
    char *text = iris_read_file(path, &len, 1 << 26);
    cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;
    if (text && !cJSON_IsObject(j)) {
        iris_set_error("%s: not a JSON object", path);
        cJSON_Delete(j);
        j = NULL;
    }
    free(text);
    free(path);
    return j;
}

/* dir/file copied into out, its processor_class (a LLaVA processor's) dropped. */
static int copy_json(const char *dir, const char *file, const char *out, int required)
{
    char *path = iris_path_join(dir, file);
    int exists = path && iris_file_exists(path);
    free(path);
    if (!exists) {
        if (!required) return 0;
        iris_set_error("%s: %s is missing", dir, file);
        return -1;
    }
    cJSON *j = read_json(dir, file);
    if (!j) return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(j, "processor_class");
    return iris_write_json_file(out, file, j);
}

/* A config object from the LLaVA's, with the architecture and dtype added. */
static cJSON *part_config(const cJSON *src, const char *arch, const cJSON *dtype)
{
    cJSON *c = cJSON_Duplicate(src, 1), *a = cJSON_CreateArray(), *s = cJSON_CreateString(arch);
    if (!c || !a || !s) {
        cJSON_Delete(c);
        cJSON_Delete(a);
        cJSON_Delete(s);
        return NULL;
    }
    cJSON_AddItemToArray(a, s);
    cJSON_DeleteItemFromObjectCaseSensitive(c, "architectures");
    cJSON_AddItemToObject(c, "architectures", a);
    if (cJSON_IsString(dtype) && !cJSON_GetObjectItemCaseSensitive(c, "torch_dtype"))
        cJSON_AddStringToObject(c, "torch_dtype", dtype->valuestring);
    return c;
}

static int int_of(const cJSON *o, const char *key, const char *what, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) {
        iris_set_error("%s: \"%s\" is missing", what, key);
        return -1;
    }
    *out = v->valueint;
    return 0;
}

/* Views of the LLaVA's tensors whose names start with from, renamed to start
 * with to (keep(name) decides), written as one safetensors file. */
typedef int (*keep_fn)(const char *rest, int arg);

static int keep_all(const char *rest, int arg)
{
    (void)rest;
    (void)arg;
    return 1;
}

/* CLIP layers below arg only */
static int keep_layers(const char *rest, int arg)
{
    const char *p = strstr(rest, "encoder.layers.");
    return !p || atoi(p + strlen("encoder.layers.")) < arg;
}

static int write_part(const iris_weights *w, const char *from, const char *to, keep_fn keep, int arg,
                      const char *out_dir, int *n_out)
{
    int total = 0, n = 0, rc = -1;
    for (int f = 0; f < w->n_files; f++) total += w->st[f].n_tensors;
    char **names = calloc((size_t)total + 1, sizeof *names);
    iris_tensor *ts = calloc((size_t)total + 1, sizeof *ts);
    char *path = iris_path_join(out_dir, "model.safetensors");
    if (!names || !ts || !path) {
        iris_set_error("out of memory");
        goto done;
    }
    size_t fl = strlen(from);
    for (int f = 0; f < w->n_files; f++)
        for (int i = 0; i < w->st[f].n_tensors; i++) {
            const iris_st_tensor *t = &w->st[f].tensors[i];
            if (strncmp(t->name, from, fl) || !keep(t->name + fl, arg)) continue;
            if ((int)t->t.dtype < 0) {
                iris_set_error("%s: %s has dtype %s, which iris cannot write", w->path, t->name, t->dtype_name);
                goto done;
            }
            size_t len = strlen(to) + strlen(t->name + fl) + 1;
            if (!(names[n] = malloc(len))) {
                iris_set_error("out of memory");
                goto done;
            }
            snprintf(names[n], len, "%s%s", to, t->name + fl);
            ts[n] = t->t;
            ts[n++].owns_data = 0;
        }
    if (!n) {
        iris_set_error("%s: no tensors named %s* (not a llava-hf LLaVA)", w->path, from);
        goto done;
    }
    rc = iris_st_write(path, n, (const char *const *)names, ts, "{\"format\":\"pt\"}");
    *n_out = n;
done:
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(ts);
    free(path);
    return rc;
}

static int write_model_file(const iris_flamingo_spec *s, const char *out_dir)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) {
        iris_set_error("out of memory");
        return -1;
    }
    cJSON_AddStringToObject(j, "lang_model", "lm");
    cJSON_AddStringToObject(j, "vision_model", "clip");
    cJSON_AddStringToObject(j, "checkpoint", "checkpoint.safetensors");
    cJSON_AddNumberToObject(j, "cross_attn_every_n_layers", s->every_n);
    cJSON_AddNumberToObject(j, "dim_head", s->dim_head);
    cJSON_AddNumberToObject(j, "max_images", s->max_images);
    cJSON_AddBoolToObject(j, "vision_ln_post", s->ln_post);
    cJSON_AddStringToObject(j, "preprocess", s->preprocess);
    /* chats and iris run ask in the format the model is trained on */
    cJSON_AddStringToObject(j, "chat_template", "openflamingo");
    return iris_write_json_file(out_dir, "openflamingo.json", j);
}

int iris_new_flamingo(const iris_flamingo_spec *s, const char *out_dir, uint64_t seed)
{
    int rc = -1, n_part;
    iris_weights w = {0};
    iris_tokenizer *tok = NULL;
    cJSON *cfg = NULL;
    tlist l = {.seed = seed};
    char *lm_dir = iris_path_join(out_dir, "lm"), *clip_dir = iris_path_join(out_dir, "clip");
    char *ck = iris_path_join(out_dir, "checkpoint.safetensors"), *cfg_path = iris_path_join(s->llava, "config.json");
    if (!lm_dir || !clip_dir || !ck || !cfg_path) {
        iris_set_error("out of memory");
        goto done;
    }
    if (!(cfg = read_json(s->llava, "config.json"))) goto done;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(cfg, "vision_config");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(cfg, "torch_dtype");
    const cJSON *tmt = cJSON_GetObjectItemCaseSensitive(tc, "model_type");
    if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "llava") || !cJSON_IsObject(tc) || !cJSON_IsObject(vc) ||
        !cJSON_IsString(tmt) || strcmp(tmt->valuestring, "llama")) {
        iris_set_error("%s: not a llava-hf LLaVA with a LLaMA language model", cfg_path);
        goto done;
    }
    int v_layers, v_hidden, t_layers, t_hidden, fl = -2;
    if (int_of(vc, "num_hidden_layers", cfg_path, &v_layers) || int_of(vc, "hidden_size", cfg_path, &v_hidden) ||
        int_of(tc, "num_hidden_layers", cfg_path, &t_layers) || int_of(tc, "hidden_size", cfg_path, &t_hidden))
        goto done;
    const cJSON *flj = cJSON_GetObjectItemCaseSensitive(cfg, "vision_feature_layer");
    if (cJSON_IsNumber(flj)) fl = flj->valueint;
    /* hidden_states[fl]: 0 the embeddings, -1 the last layer's output */
    int keep = fl < 0 ? v_layers + 1 + fl : fl;
    if (keep < 1 || keep > v_layers) {
        iris_set_error("%s: vision_feature_layer %d leaves no layer of the tower's %d", cfg_path, fl, v_layers);
        goto done;
    }
    if (t_layers < s->every_n) {
        iris_set_error("cross_attn_every_n_layers %d exceeds the language model's %d layers", s->every_n, t_layers);
        goto done;
    }
    if (iris_weights_open(&w, s->llava)) goto done;
    if (!(tok = iris_tokenizer_load(s->llava))) goto done;
    int old_vocab = iris_tokenizer_n_vocab(tok);
    if (iris_tokenizer_add_special(tok, "<|endofchunk|>") < 0 || iris_tokenizer_add_special(tok, "<image>") < 0)
        goto done;
    int64_t rows = iris_tokenizer_n_vocab(tok);
    const iris_tensor *emb = iris_weights_get(&w, "language_model.model.embed_tokens.weight");
    const iris_tensor *head = iris_weights_find(&w, "language_model.lm_head.weight");
    if (!emb) goto done;
    if (emb->ndim != 2 || emb->shape[1] != t_hidden || emb->shape[0] != old_vocab) {
        iris_set_error("%s: the embedding table is not [%d, %d] (the tokenizer's size by the width)", s->llava,
                       old_vocab, t_hidden);
        goto done;
    }
    if (head && (head->ndim != 2 || head->shape[0] != emb->shape[0] || head->shape[1] != t_hidden)) {
        iris_set_error("%s: the output head's shape differs from the embedding table's", s->llava);
        goto done;
    }

    if (iris_mkdir_p(out_dir) || iris_mkdir_p(lm_dir) || iris_mkdir_p(clip_dir)) goto done;
    /* lm/: LlamaForCausalLM */
    if (write_part(&w, "language_model.", "", keep_all, 0, lm_dir, &n_part) ||
        iris_write_json_file(lm_dir, "config.json", part_config(tc, "LlamaForCausalLM", dtype)) ||
        copy_json(s->llava, "tokenizer.json", lm_dir, 1) || copy_json(s->llava, "tokenizer_config.json", lm_dir, 0) ||
        copy_json(s->llava, "special_tokens_map.json", lm_dir, 0))
        goto done;
    /* clip/: CLIPVisionModel with the layers LLaVA read */
    cJSON *vcfg = part_config(vc, "CLIPVisionModel", dtype);
    if (vcfg) cJSON_ReplaceItemInObjectCaseSensitive(vcfg, "num_hidden_layers", cJSON_CreateNumber(keep));
    if (write_part(&w, "vision_tower.", "", keep_layers, keep, clip_dir, &n_part) ||
        iris_write_json_file(clip_dir, "config.json", vcfg) || copy_json(s->llava, "preprocessor_config.json", clip_dir, 1))
        goto done;
    /* the new parts */
    if (perceiver(&l, s, v_hidden) || blocks(&l, s, t_layers, t_hidden, v_hidden) ||
        grown(&l, "lang_encoder.model.embed_tokens.weight", emb, rows) ||
        (head && grown(&l, "lang_encoder.lm_head.weight", head, rows)))
        goto done;
    if (iris_st_write(ck, l.n, (const char *const *)l.names, l.ts, "{\"format\":\"pt\"}") ||
        write_model_file(s, out_dir))
        goto done;
    rc = 0;
done:
    tlist_free(&l);
    if (tok) iris_tokenizer_free(tok);
    if (w.path) iris_weights_close(&w);
    cJSON_Delete(cfg);
    free(lm_dir);
    free(clip_dir);
    free(ck);
    free(cfg_path);
    return rc;
}

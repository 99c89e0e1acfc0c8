/* new_model.c — a random LLaVA model (llava-hf layout) from a spec file. */
#include "new_model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "formats/safetensors.h"
#include "shapes/shapes_corpus.h"
#include "text/tokenizer_build.h"

/* ---- the spec ---- */

typedef enum { K_INT, K_FLOAT, K_STR, K_BOOL, K_U64, K_DTYPE } ktype;

typedef struct {
    const char *section, *key;
    ktype type;
    size_t off, size;
    double lo, hi;
} keydef;

#define O(f) offsetof(iris_model_spec, f), sizeof(((iris_model_spec *)0)->f)
static const keydef keys[] = {
    {"vision", "image_size", K_INT, O(v_image), 8, 4096},
    {"vision", "patch_size", K_INT, O(v_patch), 1, 1024},
    {"vision", "hidden_size", K_INT, O(v_hidden), 8, 16384},
    {"vision", "intermediate_size", K_INT, O(v_inter), 1, 65536},
    {"vision", "layers", K_INT, O(v_layers), 1, 256},
    {"vision", "heads", K_INT, O(v_heads), 1, 256},
    {"vision", "hidden_act", K_STR, O(v_act), 0, 0},
    {"vision", "layer_norm_eps", K_FLOAT, O(v_eps), 1e-12, 1},
    {"vision", "feature_layer", K_INT, O(feature_layer), -256, 256},
    {"projector", "type", K_STR, O(projector), 0, 0},
    {"text", "hidden_size", K_INT, O(t_hidden), 8, 16384},
    {"text", "intermediate_size", K_INT, O(t_inter), 1, 65536},
    {"text", "layers", K_INT, O(t_layers), 1, 256},
    {"text", "heads", K_INT, O(t_heads), 1, 256},
    {"text", "kv_heads", K_INT, O(t_kv_heads), 1, 256},
    {"text", "max_position_embeddings", K_INT, O(t_max_pos), 16, 1 << 20},
    {"text", "rope_theta", K_FLOAT, O(t_rope_theta), 1, 1e9},
    {"text", "rms_norm_eps", K_FLOAT, O(t_eps), 1e-12, 1},
    {"text", "tie_word_embeddings", K_BOOL, O(tie), 0, 1},
    {"tokenizer", "corpus", K_STR, O(corpus), 0, 0},
    {"tokenizer", "corpus_scenes", K_INT, O(corpus_scenes), 1, 1000000},
    {"tokenizer", "corpus_seed", K_U64, O(corpus_seed), 0, 0},
    {"tokenizer", "max_vocab", K_INT, O(max_vocab), 0, 1 << 20},
    {"init", "initializer_range", K_FLOAT, O(init_range), 0, 10},
    {"init", "dtype", K_DTYPE, O(dtype), 0, 0},
    {"init", "vision_position", K_STR, O(v_pos_init), 0, 0},
    {"init", "vision_position_std", K_FLOAT, O(v_pos_std), 0, 100},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

void iris_model_spec_defaults(iris_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->v_image = 64;
    s->v_patch = 8;
    s->v_hidden = 128;
    s->v_inter = 512;
    s->v_layers = 3;
    s->v_heads = 2;
    snprintf(s->v_act, sizeof s->v_act, "quick_gelu");
    s->v_eps = 1e-5f;
    s->feature_layer = -2;
    snprintf(s->projector, sizeof s->projector, "mlp2x_gelu");
    snprintf(s->v_pos_init, sizeof s->v_pos_init, "random");
    s->v_pos_std = -1.0f;
    s->t_hidden = 192;
    s->t_inter = 512;
    s->t_layers = 4;
    s->t_heads = 3;
    s->t_kv_heads = 3;
    s->t_max_pos = 512;
    s->t_rope_theta = 10000.0f;
    s->t_eps = 1e-5f;
    snprintf(s->corpus, sizeof s->corpus, "shapes");
    s->corpus_scenes = 2000;
    s->init_range = 0.02f;
    s->dtype = IRIS_F32;
}

typedef struct {
    iris_model_spec *s;
    const char *path;
    int failed;
} parse_ctx;

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *x = user;
    if (x->failed) return 0;
    const keydef *k = NULL;
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, name)) k = &keys[i];
    if (!k) {
        iris_set_error("%s: unknown key [%s] %s", x->path, section, name);
        x->failed = 1;
        return 0;
    }
    char *field = (char *)x->s + k->off, *end;
    errno = 0;
    switch (k->type) {
    case K_INT: {
        long v = strtol(value, &end, 10);
        if (*end || end == value || errno || v < k->lo || v > k->hi) goto range;
        *(int *)field = (int)v;
        break;
    }
    case K_FLOAT: {
        double v = strtod(value, &end);
        if (*end || end == value || errno || !(v >= k->lo && v <= k->hi)) goto range;
        *(float *)field = (float)v;
        break;
    }
    case K_U64: {
        if (value[0] == '-') goto range;
        unsigned long long v = strtoull(value, &end, 10);
        if (*end || end == value || errno) goto range;
        *(uint64_t *)field = v;
        break;
    }
    case K_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1")) *(int *)field = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "0")) *(int *)field = 0;
        else {
            iris_set_error("%s: [%s] %s must be true or false", x->path, section, name);
            x->failed = 1;
            return 0;
        }
        break;
    case K_DTYPE:
        if (!strcmp(value, "f32")) *(iris_dtype *)field = IRIS_F32;
        else if (!strcmp(value, "f16")) *(iris_dtype *)field = IRIS_F16;
        else if (!strcmp(value, "bf16")) *(iris_dtype *)field = IRIS_BF16;
        else {
            iris_set_error("%s: [%s] %s must be f32, f16 or bf16", x->path, section, name);
            x->failed = 1;
            return 0;
        }
        break;
    case K_STR:
        if (strlen(value) >= k->size) {
            iris_set_error("%s: [%s] %s is too long", x->path, section, name);
            x->failed = 1;
            return 0;
        }
        snprintf(field, k->size, "%s", value);
        break;
    }
    return 1;
range:
    if (k->type == K_U64)
        iris_set_error("%s: [%s] %s must be a non-negative integer (got '%s')", x->path, section,
                       name, value);
    else
        iris_set_error("%s: [%s] %s must be a number in [%g, %g] (got '%s')", x->path, section, name,
                       k->lo, k->hi, value);
    x->failed = 1;
    return 0;
}

static int check_spec(const iris_model_spec *s, const char *path)
{
    if (s->v_image % s->v_patch) {
        iris_set_error("%s: [vision] image_size %d is not a multiple of patch_size %d", path, s->v_image, s->v_patch);
        return -1;
    }
    if (s->v_hidden % s->v_heads) {
        iris_set_error("%s: [vision] hidden_size %d is not a multiple of heads %d", path, s->v_hidden, s->v_heads);
        return -1;
    }
    if (s->t_hidden % s->t_heads || (s->t_hidden / s->t_heads) % 2) {
        iris_set_error("%s: [text] hidden_size %d must split into %d heads of even size", path, s->t_hidden,
                       s->t_heads);
        return -1;
    }
    if (s->t_heads % s->t_kv_heads) {
        iris_set_error("%s: [text] heads %d is not a multiple of kv_heads %d", path, s->t_heads, s->t_kv_heads);
        return -1;
    }
    int fl = s->feature_layer;
    /* as transformers' hidden_states: 0 is the embeddings, -1 the last layer */
    if (fl > s->v_layers || fl < -(s->v_layers + 1)) {
        iris_set_error("%s: [vision] feature_layer %d is outside the tower's %d layers", path, fl, s->v_layers);
        return -1;
    }
    if (strcmp(s->v_act, "quick_gelu") && strcmp(s->v_act, "gelu")) {
        iris_set_error("%s: [vision] hidden_act must be quick_gelu or gelu", path);
        return -1;
    }
    if (strcmp(s->projector, "mlp2x_gelu")) {
        iris_set_error("%s: [projector] type must be mlp2x_gelu", path);
        return -1;
    }
    if (strcmp(s->v_pos_init, "random") && strcmp(s->v_pos_init, "sincos") && strcmp(s->v_pos_init, "grid")) {
        iris_set_error("%s: [init] vision_position must be random, grid or sincos", path);
        return -1;
    }
    if (!strcmp(s->v_pos_init, "sincos") && s->v_pos_std >= 0) {
        iris_set_error("%s: [init] vision_position_std applies to random and grid positions, not sincos", path);
        return -1;
    }
    if (!strcmp(s->v_pos_init, "sincos") && s->v_hidden % 4) {
        iris_set_error("%s: [init] vision_position = sincos needs a hidden_size divisible by 4", path);
        return -1;
    }
    if (strcmp(s->corpus, "shapes")) {
        iris_set_error("%s: [tokenizer] corpus must be shapes", path);
        return -1;
    }
    return 0;
}

int iris_model_spec_load(iris_model_spec *s, const char *path)
{
    iris_model_spec_defaults(s);
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
    return check_spec(s, path);
}

/* ---- random tensors ---- */

/* splitmix64: one stream per tensor, keyed by (seed, name) */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t name_key(uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ULL ^ seed;   /* FNV-1a over the name, seeded */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* Box-Muller on two 53-bit uniforms in (0, 1] */
static double normal(uint64_t *s)
{
    double u1 = ((mix(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double u2 = (mix(s) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

typedef struct {
    int n, cap;
    char **names;
    iris_tensor *ts;
    iris_dtype dt;
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
}

/* Element i of a [1 + g*g, d] table of 2-D sine-cosine position codes (row 0,
 * the class token's, zero): the first half of the dimensions encodes the
 * patch's row, the second its column, each as sines then cosines of
 * geometrically spaced frequencies.  Neighbouring patches start with similar
 * codes, so attention can find an object's other patches before the tower
 * has learnt where anything is; random codes leave that to be learnt. */
static float sincos2d(int64_t i, int64_t rows, int64_t d)
{
    int64_t r = i / d, c = i % d, g = (int64_t)llround(sqrt((double)(rows - 1)));
    if (r == 0 || g < 1) return 0.0f;
    int64_t p = r - 1, coord = c < d / 2 ? p / g : p % g, k = c % (d / 2), q = d / 4;
    double omega = pow(10000.0, -(double)(k % q) / (double)q);
    return (float)(k < q ? sin(coord * omega) : cos(coord * omega));
}

/* A [1 + g*g, d] table of factorised random position codes: the class
 * token's row N(0, std); a patch's row is the sum of its grid row's and its
 * grid column's vector, each N(0, std^2 / 2), so the patch's code has the
 * spread std and every patch of one column shares that column's part.  With
 * a code of its own per patch (kind 'n') "column 2" is four unrelated
 * vectors the model must learn to group; here it is one direction. */
static double *grid_codes(int64_t rows, int64_t d, double std, uint64_t *s)
{
    int64_t g = (int64_t)llround(sqrt((double)(rows - 1)));
    double *parts = malloc((size_t)(1 + 2 * g) * (size_t)d * sizeof *parts), *out = malloc((size_t)(rows * d) * sizeof *out);
    if (!parts || !out) {
        free(parts);
        free(out);
        return NULL;
    }
    for (int64_t i = 0; i < (1 + 2 * g) * d; i++) parts[i] = (i < d ? std : std * sqrt(0.5)) * normal(s);
    for (int64_t i = 0; i < rows * d; i++) {
        int64_t r = i / d, c = i % d, p = r - 1;
        out[i] = r == 0 ? parts[c] : parts[(1 + p / g) * d + c] + parts[(1 + g + p % g) * d + c];
    }
    free(parts);
    return out;
}

/* kind: 'n' normal(0, std), 'z' zeros, 'o' ones, 's' 2-D sine-cosine codes,
 * 'g' factorised random position codes of spread std (grid_codes) */
static int add(tlist *l, const char *name, int ndim, const int64_t *shape, char kind, double std)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 128;
        char **nn = realloc(l->names, (size_t)cap * sizeof *nn);
        if (!nn) goto oom;
        l->names = nn;
        iris_tensor *nt = realloc(l->ts, (size_t)cap * sizeof *nt);
        if (!nt) goto oom;
        l->ts = nt;
        l->cap = cap;
    }
    iris_tensor *t = &l->ts[l->n];
    if (iris_tensor_alloc(t, l->dt, ndim, shape)) goto oom;
    if (!(l->names[l->n] = strdup(name))) {
        iris_tensor_free(t);
        goto oom;
    }
    l->n++;
    uint64_t s = name_key(l->seed, name);
    int64_t n = iris_tensor_numel(t);
    double *grid = kind == 'g' ? grid_codes(shape[0], shape[1], std, &s) : NULL;
    if (kind == 'g' && !grid) goto oom;
    for (int64_t i = 0; i < n; i++) {
        float v = kind == 'n'   ? (float)(std * normal(&s))
                  : kind == 'g' ? (float)grid[i]
                  : kind == 's' ? sincos2d(i, shape[0], shape[1])
                  : kind == 'o' ? 1.0f
                                : 0.0f;
        switch (t->dtype) {
        case IRIS_F16: ((uint16_t *)t->data)[i] = iris_f32_to_f16(v); break;
        case IRIS_BF16: ((uint16_t *)t->data)[i] = iris_f32_to_bf16(v); break;
        default: ((float *)t->data)[i] = v; break;
        }
    }
    free(grid);
    return 0;
oom:
    iris_set_error("out of memory for the new model's weights");
    return -1;
}

static int add1(tlist *l, const char *name, int64_t a, char kind, double std)
{
    return add(l, name, 1, (int64_t[]){a}, kind, std);
}

static int add2(tlist *l, const char *name, int64_t a, int64_t b, char kind, double std)
{
    return add(l, name, 2, (int64_t[]){a, b}, kind, std);
}

static int linear(tlist *l, const char *stem, int64_t out, int64_t in, double std, int bias)
{
    char n[300];
    snprintf(n, sizeof n, "%s.weight", stem);
    if (add2(l, n, out, in, 'n', std)) return -1;
    snprintf(n, sizeof n, "%s.bias", stem);
    return bias ? add1(l, n, out, 'z', 0) : 0;
}

static int layer_norm(tlist *l, const char *stem, int64_t d)
{
    char n[300];
    snprintf(n, sizeof n, "%s.weight", stem);
    if (add1(l, n, d, 'o', 0)) return -1;
    snprintf(n, sizeof n, "%s.bias", stem);
    return add1(l, n, d, 'z', 0);
}

static int build_weights(const iris_model_spec *s, int vocab, tlist *l)
{
    const char *V = "vision_tower.vision_model";
    char n[256];
    int64_t d = s->v_hidden, np = (int64_t)(s->v_image / s->v_patch) * (s->v_image / s->v_patch);
    double f = s->init_range;
    double in_std = pow((double)d, -0.5) * pow(2.0 * s->v_layers, -0.5), out_std = pow((double)d, -0.5);
    double fc_std = pow(2.0 * d, -0.5);
    snprintf(n, sizeof n, "%s.embeddings.class_embedding", V);
    if (add1(l, n, d, 'n', pow((double)d, -0.5))) return -1;
    snprintf(n, sizeof n, "%s.embeddings.patch_embedding.weight", V);
    if (add(l, n, 4, (int64_t[]){d, 3, s->v_patch, s->v_patch}, 'n', f)) return -1;
    snprintf(n, sizeof n, "%s.embeddings.position_embedding.weight", V);
    char pos_kind = !strcmp(s->v_pos_init, "sincos") ? 's' : !strcmp(s->v_pos_init, "grid") ? 'g' : 'n';
    if (add2(l, n, np + 1, d, pos_kind, s->v_pos_std >= 0 ? s->v_pos_std : f))
        return -1;
    snprintf(n, sizeof n, "%s.pre_layrnorm", V);
    if (layer_norm(l, n, d)) return -1;
    for (int i = 0; i < s->v_layers; i++) {
        static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
        for (int k = 0; k < 3; k++) {
            snprintf(n, sizeof n, "%s.encoder.layers.%d.self_attn.%s", V, i, qkv[k]);
            if (linear(l, n, d, d, in_std, 1)) return -1;
        }
        snprintf(n, sizeof n, "%s.encoder.layers.%d.self_attn.out_proj", V, i);
        if (linear(l, n, d, d, out_std, 1)) return -1;
        snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm1", V, i);
        if (layer_norm(l, n, d)) return -1;
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc1", V, i);
        if (linear(l, n, s->v_inter, d, fc_std, 1)) return -1;
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc2", V, i);
        if (linear(l, n, d, s->v_inter, in_std, 1)) return -1;
        snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm2", V, i);
        if (layer_norm(l, n, d)) return -1;
    }
    snprintf(n, sizeof n, "%s.post_layernorm", V);
    if (layer_norm(l, n, d)) return -1;

    int64_t h = s->t_hidden, hd = s->t_hidden / s->t_heads, kv = (int64_t)s->t_kv_heads * hd;
    if (linear(l, "multi_modal_projector.linear_1", h, d, f, 1) ||
        linear(l, "multi_modal_projector.linear_2", h, h, f, 1))
        return -1;
    if (add2(l, "language_model.model.embed_tokens.weight", vocab, h, 'n', f)) return -1;
    for (int i = 0; i < s->t_layers; i++) {
        const char *P = "language_model.model.layers";
        struct { const char *name; int64_t out, in; } lin[7] = {
            {"self_attn.q_proj", h, h}, {"self_attn.k_proj", kv, h}, {"self_attn.v_proj", kv, h},
            {"self_attn.o_proj", h, h}, {"mlp.gate_proj", s->t_inter, h}, {"mlp.up_proj", s->t_inter, h},
            {"mlp.down_proj", h, s->t_inter}};
        for (int k = 0; k < 7; k++) {
            snprintf(n, sizeof n, "%s.%d.%s", P, i, lin[k].name);
            if (linear(l, n, lin[k].out, lin[k].in, f, 0)) return -1;
        }
        snprintf(n, sizeof n, "%s.%d.input_layernorm.weight", P, i);
        if (add1(l, n, h, 'o', 0)) return -1;
        snprintf(n, sizeof n, "%s.%d.post_attention_layernorm.weight", P, i);
        if (add1(l, n, h, 'o', 0)) return -1;
    }
    if (add1(l, "language_model.model.norm.weight", h, 'o', 0)) return -1;
    if (!s->tie && add2(l, "language_model.lm_head.weight", vocab, h, 'n', f)) return -1;
    return 0;
}

/* ---- the JSON files ---- */

static const char *const SPECIALS[] = {"<s>", "</s>", "<pad>", "<image>"};
enum { BOS_ID, EOS_ID, PAD_ID, IMAGE_ID };

static const char *dtype_torch(iris_dtype dt)
{
    return dt == IRIS_F16 ? "float16" : dt == IRIS_BF16 ? "bfloat16" : "float32";
}

static cJSON *config_json(const iris_model_spec *s, int vocab)
{
    cJSON *c = cJSON_CreateObject(), *v = cJSON_CreateObject(), *t = cJSON_CreateObject();
    if (!c || !v || !t) {
        cJSON_Delete(c); cJSON_Delete(v); cJSON_Delete(t);
        return NULL;
    }
    int np = (s->v_image / s->v_patch) * (s->v_image / s->v_patch);
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    if (arch) cJSON_AddItemToArray(arch, cJSON_CreateString("LlavaForConditionalGeneration"));
    cJSON_AddStringToObject(c, "model_type", "llava");
    cJSON_AddNumberToObject(c, "image_token_index", IMAGE_ID);
    cJSON_AddNumberToObject(c, "image_seq_length", np);
    cJSON_AddStringToObject(c, "projector_hidden_act", "gelu");
    cJSON_AddNumberToObject(c, "vision_feature_layer", s->feature_layer);
    cJSON_AddStringToObject(c, "vision_feature_select_strategy", "default");
    cJSON_AddNumberToObject(c, "ignore_index", -100);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", s->tie);
    cJSON_AddStringToObject(c, "torch_dtype", dtype_torch(s->dtype));

    cJSON_AddStringToObject(v, "model_type", "clip_vision_model");
    cJSON_AddNumberToObject(v, "hidden_size", s->v_hidden);
    cJSON_AddNumberToObject(v, "intermediate_size", s->v_inter);
    cJSON_AddNumberToObject(v, "num_hidden_layers", s->v_layers);
    cJSON_AddNumberToObject(v, "num_attention_heads", s->v_heads);
    cJSON_AddNumberToObject(v, "image_size", s->v_image);
    cJSON_AddNumberToObject(v, "patch_size", s->v_patch);
    cJSON_AddNumberToObject(v, "num_channels", 3);
    cJSON_AddStringToObject(v, "hidden_act", s->v_act);
    cJSON_AddNumberToObject(v, "layer_norm_eps", s->v_eps);
    cJSON_AddNumberToObject(v, "projection_dim", s->v_hidden);
    cJSON_AddNumberToObject(v, "initializer_range", s->init_range);
    cJSON_AddItemToObject(c, "vision_config", v);

    cJSON_AddStringToObject(t, "model_type", "llama");
    cJSON_AddNumberToObject(t, "vocab_size", vocab);
    cJSON_AddNumberToObject(t, "hidden_size", s->t_hidden);
    cJSON_AddNumberToObject(t, "intermediate_size", s->t_inter);
    cJSON_AddNumberToObject(t, "num_hidden_layers", s->t_layers);
    cJSON_AddNumberToObject(t, "num_attention_heads", s->t_heads);
    cJSON_AddNumberToObject(t, "num_key_value_heads", s->t_kv_heads);
    cJSON_AddNumberToObject(t, "head_dim", s->t_hidden / s->t_heads);
    cJSON_AddNumberToObject(t, "max_position_embeddings", s->t_max_pos);
    cJSON_AddNumberToObject(t, "rope_theta", s->t_rope_theta);
    cJSON_AddNumberToObject(t, "rms_norm_eps", s->t_eps);
    cJSON_AddStringToObject(t, "hidden_act", "silu");
    cJSON_AddNumberToObject(t, "bos_token_id", BOS_ID);
    cJSON_AddNumberToObject(t, "eos_token_id", EOS_ID);
    cJSON_AddNumberToObject(t, "pad_token_id", PAD_ID);
    cJSON_AddBoolToObject(t, "tie_word_embeddings", s->tie);
    cJSON_AddNumberToObject(t, "initializer_range", s->init_range);
    cJSON_AddItemToObject(c, "text_config", t);
    return c;
}

static cJSON *tokenizer_config_json(const iris_model_spec *s)
{
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    cJSON_AddBoolToObject(c, "add_bos_token", 1);
    cJSON_AddBoolToObject(c, "add_eos_token", 0);
    cJSON_AddStringToObject(c, "bos_token", SPECIALS[BOS_ID]);
    cJSON_AddStringToObject(c, "eos_token", SPECIALS[EOS_ID]);
    cJSON_AddStringToObject(c, "pad_token", SPECIALS[PAD_ID]);
    cJSON_AddStringToObject(c, "image_token", SPECIALS[IMAGE_ID]);
    cJSON_AddBoolToObject(c, "clean_up_tokenization_spaces", 0);
    cJSON_AddNumberToObject(c, "model_max_length", s->t_max_pos);
    cJSON_AddStringToObject(c, "tokenizer_class", "PreTrainedTokenizerFast");
    cJSON_AddStringToObject(c, "processor_class", "LlavaProcessor");
    /* a fast tokenizer would also hand out token_type_ids, which Llava's forward refuses */
    const char *names[2] = {"input_ids", "attention_mask"};
    cJSON *mi = cJSON_CreateStringArray(names, 2);
    if (!mi) {
        cJSON_Delete(c);
        return NULL;
    }
    cJSON_AddItemToObject(c, "model_input_names", mi);
    return c;
}

static cJSON *special_tokens_map_json(void)
{
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    cJSON_AddStringToObject(c, "bos_token", SPECIALS[BOS_ID]);
    cJSON_AddStringToObject(c, "eos_token", SPECIALS[EOS_ID]);
    cJSON_AddStringToObject(c, "pad_token", SPECIALS[PAD_ID]);
    return c;
}

static cJSON *preprocessor_json(const iris_model_spec *s)
{
    static const double mean[3] = {0.48145466, 0.4578275, 0.40821073}, std[3] = {0.26862954, 0.26130258, 0.27577711};
    cJSON *c = cJSON_CreateObject(), *size = cJSON_CreateObject(), *crop = cJSON_CreateObject();
    cJSON *m = cJSON_CreateDoubleArray(mean, 3), *sd = cJSON_CreateDoubleArray(std, 3);
    if (!c || !size || !crop || !m || !sd) {
        cJSON_Delete(c); cJSON_Delete(size); cJSON_Delete(crop); cJSON_Delete(m); cJSON_Delete(sd);
        return NULL;
    }
    cJSON_AddStringToObject(c, "image_processor_type", "CLIPImageProcessor");
    cJSON_AddStringToObject(c, "processor_class", "LlavaProcessor");
    cJSON_AddBoolToObject(c, "do_resize", 1);
    cJSON_AddNumberToObject(size, "shortest_edge", s->v_image);
    cJSON_AddItemToObject(c, "size", size);
    cJSON_AddNumberToObject(c, "resample", 3);
    cJSON_AddBoolToObject(c, "do_center_crop", 1);
    cJSON_AddNumberToObject(crop, "height", s->v_image);
    cJSON_AddNumberToObject(crop, "width", s->v_image);
    cJSON_AddItemToObject(c, "crop_size", crop);
    cJSON_AddBoolToObject(c, "do_rescale", 1);
    cJSON_AddNumberToObject(c, "rescale_factor", 1.0 / 255.0);
    cJSON_AddBoolToObject(c, "do_normalize", 1);
    cJSON_AddItemToObject(c, "image_mean", m);
    cJSON_AddItemToObject(c, "image_std", sd);
    cJSON_AddBoolToObject(c, "do_convert_rgb", 1);
    return c;
}

static cJSON *processor_json(const iris_model_spec *s)
{
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    cJSON_AddStringToObject(c, "processor_class", "LlavaProcessor");
    cJSON_AddNumberToObject(c, "patch_size", s->v_patch);
    cJSON_AddStringToObject(c, "vision_feature_select_strategy", "default");
    return c;
}

/* ---- the model ---- */

/* Text the chat templates put around the world's words (llava-hf and plain). */
static const char *const TEMPLATE_TEXTS[] = {"USER: ", " ASSISTANT:", "\n"};

int iris_new_model(const iris_model_spec *s, const char *out_dir, uint64_t seed)
{
    int n_texts = 0, vocab = 0, rc = -1;
    char **corpus = shapes_corpus(s->corpus_scenes, s->corpus_seed, &n_texts);
    if (!corpus) return -1;
    const char **texts = malloc((size_t)(n_texts + 3) * sizeof *texts);
    char *tok_json = NULL;
    tlist l = {.dt = s->dtype, .seed = seed};
    if (!texts) {
        iris_set_error("out of memory");
        goto done;
    }
    for (int i = 0; i < 3; i++) texts[i] = TEMPLATE_TEXTS[i];
    for (int i = 0; i < n_texts; i++) texts[3 + i] = corpus[i];
    iris_bpe_build_opts bo = {.texts = texts, .n_texts = n_texts + 3, .specials = SPECIALS, .n_specials = 4,
                              .max_vocab = s->max_vocab};
    if (!(tok_json = iris_bpe_build_json(&bo, &vocab))) goto done;
    if (build_weights(s, vocab, &l)) goto done;
    if (iris_mkdir_p(out_dir)) goto done;
    char *st_path = iris_path_join(out_dir, "model.safetensors");
    if (!st_path) {
        iris_set_error("out of memory");
        goto done;
    }
    int st_rc = iris_st_write(st_path, l.n, (const char *const *)l.names, l.ts, "{\"format\":\"pt\"}");
    free(st_path);
    if (st_rc || iris_write_text_file(out_dir, "tokenizer.json", tok_json) ||
        iris_write_json_file(out_dir, "config.json", config_json(s, vocab)) ||
        iris_write_json_file(out_dir, "tokenizer_config.json", tokenizer_config_json(s)) ||
        iris_write_json_file(out_dir, "special_tokens_map.json", special_tokens_map_json()) ||
        iris_write_json_file(out_dir, "preprocessor_config.json", preprocessor_json(s)) ||
        iris_write_json_file(out_dir, "processor_config.json", processor_json(s)))
        goto done;
    rc = 0;
done:
    tlist_free(&l);
    free(tok_json);
    free(texts);
    shapes_corpus_free(corpus, n_texts);
    return rc;
}

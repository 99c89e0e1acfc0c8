#include "lora.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "nets/llama_internal.h"
#include "train/of_lora_targets.h"

static const char *const names[IRIS_LM_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                 "gate_proj", "up_proj", "down_proj", "qkv_proj"};
static const char *const short_names[IRIS_LM_COUNT] = {"q", "k", "v", "o", "gate", "up", "down", "qkv"};
static const char *const llama_paths[IRIS_LM_COUNT] = {"self_attn.q_proj", "self_attn.k_proj",
                                                       "self_attn.v_proj", "self_attn.o_proj",
                                                       "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", NULL};
/* Architectures whose names the loose (architecture-free) parse accepts. */
static const int known_archs[] = {IRIS_ARCH_LLAMA, IRIS_ARCH_MPT, IRIS_ARCH_GPTNEOX, IRIS_ARCH_BIOGPT};

const char *iris_lora_module_name(int m) { return m >= 0 && m < IRIS_LM_COUNT ? names[m] : "?"; }

const char *iris_lora_module_parent(int m) { return m <= IRIS_LM_O ? "self_attn" : "mlp"; }

const char *iris_lora_module_path(int arch, int m)
{
    if (m < 0 || m >= IRIS_LM_COUNT) return NULL;
    if (!IRIS_ARCH_IS_GENERIC(arch)) return llama_paths[m];
    const iris_decoder_names *N = iris_decoder_names_of((iris_arch)arch);
    if (!N) return NULL;
    const char *const p[IRIS_LM_COUNT] = {N->q, N->k, N->v, N->o, NULL, N->up, N->down, N->qkv};
    return p[m];
}

/* The module's last path component ("attn.Wqkv" -> "Wqkv"). */
static const char *leaf(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* Modules of arch named by tok: a bit set, 0 when none.  Matches the path
 * inside the layer, its last component, or iris's short name. */
static unsigned token_bits(const char *tok, int arch)
{
    unsigned bits = 0;
    for (int m = 0; m < IRIS_LM_COUNT; m++) {
        const char *path = iris_lora_module_path(arch, m);
        if (!path) continue;
        if (!strcmp(tok, "all-linear") || !strcmp(tok, "all") || !strcmp(tok, path) ||
            !strcmp(tok, leaf(path)) || !strcmp(tok, short_names[m]))
            bits |= 1u << m;
    }
    return bits;
}

/* "Wqkv, out_proj, ..., all-linear; short names: qkv, o, ..." for messages. */
static void valid_names(int arch, char *out, size_t cap)
{
    char full[200] = "", brief[100] = "";
    for (int m = 0; m < IRIS_LM_COUNT; m++) {
        const char *path = iris_lora_module_path(arch, m);
        if (!path) continue;
        size_t lf = strlen(full), lb = strlen(brief);
        snprintf(full + lf, sizeof full - lf, "%s%s", lf ? ", " : "", leaf(path));
        snprintf(brief + lb, sizeof brief - lb, "%s%s", lb ? ", " : "", short_names[m]);
    }
    snprintf(out, cap, "%s, all-linear; short names: %s", full, brief);
}

/* Reads list for arch (-1: any known architecture, bits unioned). */
static int parse(iris_lora_config *c, const char *list, int arch, const char *arch_name)
{
    c->targets = 0;
    c->target_projector = 0;
    int of_token = 0;   /* an OpenFlamingo group or module name (checked against the model later) */
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t') s++;
        if (!*s) break;
        size_t len = strcspn(s, ", \t");
        char tok[64];
        if (len >= sizeof tok) {
            iris_set_error("unknown LoRA target '%.*s'", (int)len, s);
            return -1;
        }
        memcpy(tok, s, len);
        tok[len] = 0;
        unsigned bits = 0;
        int found = 0;
        if (!strcmp(tok, "projector") || !strcmp(tok, "mm_projector") || !strcmp(tok, "multi_modal_projector")) {
            c->target_projector = 1;
            found = 1;
        } else if (arch >= 0) {
            bits = token_bits(tok, arch);
        } else {
            for (size_t a = 0; a < sizeof known_archs / sizeof known_archs[0]; a++)
                bits |= token_bits(tok, known_archs[a]);
            if (!bits && iris_of_lora_token_known(tok)) found = of_token = 1;
        }
        if (!found && !bits) {
            char valid[400];
            if (arch >= 0) {
                valid_names(arch, valid, sizeof valid);
                iris_set_error("unknown LoRA target '%s' for %s models (valid: %s; projector)", tok, arch_name,
                               valid);
            } else {
                valid_names(IRIS_ARCH_LLAMA, valid, sizeof valid);
                iris_set_error("unknown LoRA target '%s' (LLaMA: %s; MPT: Wqkv, out_proj, up_proj, down_proj; "
                               "GPT-NeoX: query_key_value, dense, dense_h_to_4h, dense_4h_to_h; BioGPT: q_proj, "
                               "k_proj, v_proj, out_proj, fc1, fc2; projector; OpenFlamingo: self_attn, ff, xattn, xattn_ff, perceiver, "
                               "attn, ffn, lm, all or Flamingo module names)", tok, valid);
            }
            return -1;
        }
        c->targets |= bits;
        s += len;
    }
    if (!c->targets && !c->target_projector && !of_token) {
        iris_set_error("no LoRA target modules given");
        return -1;
    }
    return 0;
}

int iris_lora_parse_targets(iris_lora_config *c, const char *list)
{
    if (strlen(list) >= sizeof c->spec) {
        iris_set_error("the LoRA target list is too long (%zu characters, at most %zu)", strlen(list),
                       sizeof c->spec - 1);
        return -1;
    }
    if (parse(c, list, -1, NULL)) return -1;
    if (c->spec != list) memmove(c->spec, list, strlen(list) + 1);
    return 0;
}

int iris_lora_resolve_targets(iris_lora_config *c, int arch, const char *arch_name)
{
    if (!c->spec[0]) {
        /* built by hand, not parsed: keep the bits the architecture has */
        for (int m = 0; m < IRIS_LM_COUNT; m++)
            if (!iris_lora_module_path(arch, m)) c->targets &= ~(1u << m);
        return 0;
    }
    char spec[sizeof c->spec];
    memcpy(spec, c->spec, sizeof spec);
    spec[sizeof spec - 1] = 0;
    return parse(c, spec, arch, arch_name);
}

float iris_lora_scale(const iris_lora_config *c)
{
    return c->rslora ? c->alpha / sqrtf((float)c->r) : c->alpha / (float)c->r;
}

int iris_lora_targets_layer(const iris_lora_config *c, int layer)
{
    if (c->layer_first >= 0 && layer < c->layer_first) return 0;
    if (c->layer_last >= 0 && layer > c->layer_last) return 0;
    return 1;
}

uint64_t iris_rng_mix(uint64_t a, uint64_t b)
{
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double iris_rng_uniform(uint64_t key)
{
    return (double)(iris_rng_mix(key, 0x5851F42D4C957F2Dull) >> 11) * (1.0 / 9007199254740992.0);
}

void iris_dropout(float *y, const float *x, long n, float p, uint64_t key)
{
    float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        y[i] = iris_rng_uniform(iris_rng_mix(key, (uint64_t)i)) >= p ? x[i] * keep_scale : 0.0f;
}

void iris_dropout_backward_add(float *dx, const float *dy, long n, float p, uint64_t key)
{
    float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        if (iris_rng_uniform(iris_rng_mix(key, (uint64_t)i)) >= p) dx[i] += dy[i] * keep_scale;
}

void iris_kaiming_uniform(float *w, int rows, int cols, uint64_t key)
{
    /* kaiming_uniform_(a=sqrt(5)): gain sqrt(2/(1+5)), bound gain*sqrt(3/fan_in) = 1/sqrt(fan_in) */
    double bound = 1.0 / sqrt((double)cols);
    long n = (long)rows * cols;
    for (long i = 0; i < n; i++)
        w[i] = (float)((2.0 * iris_rng_uniform(iris_rng_mix(key, (uint64_t)i)) - 1.0) * bound);
}

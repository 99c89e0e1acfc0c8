#include "lora.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

static const char *const names[IRIS_LM_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"};
static const char *const short_names[IRIS_LM_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};

const char *iris_lora_module_name(int m) { return m >= 0 && m < IRIS_LM_COUNT ? names[m] : "?"; }

const char *iris_lora_module_parent(int m) { return m <= IRIS_LM_O ? "self_attn" : "mlp"; }

int iris_lora_parse_targets(iris_lora_config *c, const char *list)
{
    c->targets = 0;
    c->target_projector = 0;
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
        int found = 0;
        if (!strcmp(tok, "all-linear") || !strcmp(tok, "all")) {
            c->targets = (1u << IRIS_LM_COUNT) - 1;
            found = 1;
        } else if (!strcmp(tok, "projector") || !strcmp(tok, "mm_projector") ||
                   !strcmp(tok, "multi_modal_projector")) {
            c->target_projector = 1;
            found = 1;
        }
        for (int m = 0; !found && m < IRIS_LM_COUNT; m++)
            if (!strcmp(tok, names[m]) || !strcmp(tok, short_names[m])) {
                c->targets |= 1u << m;
                found = 1;
            }
        if (!found) {
            iris_set_error("unknown LoRA target '%s' (expected q_proj, k_proj, v_proj, o_proj, "
                           "gate_proj, up_proj, down_proj, projector or all-linear)", tok);
            return -1;
        }
        s += len;
    }
    if (!c->targets && !c->target_projector) {
        iris_set_error("no LoRA target modules given");
        return -1;
    }
    return 0;
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

/* clip_config.c — CLIP / SigLIP vision configs from config.json (cJSON),
 * with transformers' defaults for the keys a checkpoint leaves out. */
#include "clip.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "../core/error.h"

int iris_act_from_name(const char *name)
{
    if (!strcmp(name, "quick_gelu")) return IRIS_ACT_QUICK_GELU;
    if (!strcmp(name, "gelu")) return IRIS_ACT_GELU;
    if (!strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_new") ||
        !strcmp(name, "gelu_fast") || !strcmp(name, "gelu_tanh"))
        return IRIS_ACT_GELU_TANH;
    return -1;
}

void iris_clip_config_vit_l14_336(iris_clip_config *c)
{
    *c = (iris_clip_config){.hidden = 1024, .intermediate = 4096, .n_layers = 24, .n_heads = 16,
                            .patch = 14, .image_size = 336, .channels = 3, .eps = 1e-5f,
                            .act = IRIS_ACT_QUICK_GELU, .class_token = 1, .pre_layernorm = 1};
}

int iris_clip_n_tokens(const iris_clip_config *c)
{
    int side = c->image_size / c->patch;
    return side * side + (c->class_token ? 1 : 0);
}

int iris_clip_config_check(const iris_clip_config *c, const char *name, const char *what)
{
    if (c->hidden <= 0 || c->intermediate <= 0 || c->n_layers <= 0 || c->n_heads <= 0 ||
        c->hidden % c->n_heads || c->patch <= 0 || c->image_size < c->patch || c->channels <= 0 ||
        c->hidden > 65536 || c->intermediate > 1 << 20 || c->n_layers > 1024 ||
        c->image_size > 8192 || c->channels > 16 || !(c->eps > 0)) {
        iris_set_error("%s: %s is inconsistent (hidden %d, heads %d, layers %d, "
                       "patch %d, image %d)", name, what, c->hidden, c->n_heads, c->n_layers, c->patch,
                       c->image_size);
        return -1;
    }
    return 0;
}

static int get_int(const cJSON *o, const char *key, int *v, const char *name)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsNumber(j) || j->valuedouble != (double)(int)j->valuedouble) {
        iris_set_error("%s: vision_config.%s is not an integer", name, key);
        return -1;
    }
    *v = (int)j->valuedouble;
    return 0;
}

int iris_clip_config_from_json(iris_clip_config *c, const cJSON *vc, const char *name)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(vc, "model_type");
    int siglip = cJSON_IsString(mt) && strstr(mt->valuestring, "siglip") != NULL;
    if (cJSON_IsString(mt) && !siglip && !strstr(mt->valuestring, "clip")) {
        iris_set_error("%s: vision tower type '%s' is not supported (CLIP or SigLIP)", name,
                       mt->valuestring);
        return -1;
    }
    /* transformers' CLIPVisionConfig / SiglipVisionConfig defaults */
    *c = (iris_clip_config){.hidden = 768, .intermediate = 3072, .n_layers = 12, .n_heads = 12,
                            .patch = siglip ? 16 : 32, .image_size = 224, .channels = 3,
                            .eps = siglip ? 1e-6f : 1e-5f,
                            .act = siglip ? IRIS_ACT_GELU_TANH : IRIS_ACT_QUICK_GELU,
                            .class_token = !siglip, .pre_layernorm = !siglip};
    if (get_int(vc, "hidden_size", &c->hidden, name) ||
        get_int(vc, "intermediate_size", &c->intermediate, name) ||
        get_int(vc, "num_hidden_layers", &c->n_layers, name) ||
        get_int(vc, "num_attention_heads", &c->n_heads, name) ||
        get_int(vc, "patch_size", &c->patch, name) || get_int(vc, "image_size", &c->image_size, name) ||
        get_int(vc, "num_channels", &c->channels, name))
        return -1;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(vc, "layer_norm_eps");
    if (cJSON_IsNumber(eps)) c->eps = (float)eps->valuedouble;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(vc, "hidden_act");
    if (cJSON_IsString(act)) {
        int a = iris_act_from_name(act->valuestring);
        if (a < 0) {
            iris_set_error("%s: vision_config.hidden_act '%s' is not supported", name, act->valuestring);
            return -1;
        }
        c->act = (iris_act)a;
    }
    return iris_clip_config_check(c, name, "vision_config");
}

/* llava_vision.c — config.json + weights -> image features (see llava_vision.h). */
#include "llava_vision.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        iris_set_error("%s: cannot open", path);
        return NULL;
    }
    char *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || len > (64L << 20) || fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)len + 1)) ||
        fread(buf, 1, (size_t)len, f) != (size_t)len) {
        iris_set_error("%s: cannot read", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[len] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j || !cJSON_IsObject(j)) {
        iris_set_error("%s: not a JSON object", path);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

int iris_llava_vision_open(iris_llava_vision *v, const iris_backend *be, const iris_weights *w,
                           const char *model_dir)
{
    memset(v, 0, sizeof *v);
    v->be = be;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    cJSON *cfg = read_json(path);
    if (!cfg) return -1;

    iris_clip_config cc;
    int rc = -1, bare = 0;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(cfg, "vision_config");
    if (cJSON_IsString(mt) && strstr(mt->valuestring, "vision_model")) {
        bare = 1;   /* a CLIPVisionModel / SiglipVisionModel checkpoint */
        if (iris_clip_config_from_json(&cc, cfg, path)) goto done;
    } else if (cJSON_IsObject(vc)) {
        if (iris_clip_config_from_json(&cc, vc, path)) goto done;
    } else {
        iris_clip_config_vit_l14_336(&cc);
    }

    v->feature_layer = -2;
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(cfg, "vision_feature_layer");
    if (cJSON_IsNumber(fl)) v->feature_layer = (int)fl->valuedouble;
    else if (fl && !cJSON_IsNull(fl)) {
        iris_set_error("%s: vision_feature_layer must be one integer (lists are not supported)", path);
        goto done;
    }
    if (bare) v->feature_layer = -1;
    if (v->feature_layer < -(cc.n_layers + 1) || v->feature_layer > cc.n_layers) {
        iris_set_error("%s: vision_feature_layer %d is outside the tower's %d layers", path,
                       v->feature_layer, cc.n_layers);
        goto done;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(cfg, "vision_feature_select_strategy");
    if (cJSON_IsString(st)) {
        if (!strcmp(st->valuestring, "full")) v->keep_class_token = 1;
        else if (strcmp(st->valuestring, "default")) {
            iris_set_error("%s: vision_feature_select_strategy '%s' is not supported", path, st->valuestring);
            goto done;
        }
    }
    if (bare || !cc.class_token) v->keep_class_token = 1;   /* nothing to drop */
    iris_act act = IRIS_ACT_GELU;
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(cfg, "projector_hidden_act");
    if (cJSON_IsString(pa)) {
        int a = iris_act_from_name(pa->valuestring);
        if (a < 0) {
            iris_set_error("%s: projector_hidden_act '%s' is not supported", path, pa->valuestring);
            goto done;
        }
        act = (iris_act)a;
    }

    if (cc.class_token || cc.pre_layernorm)
        iris_preproc_clip(&v->pre, IRIS_PREPROC_CROP, cc.image_size);
    else
        iris_preproc_siglip(&v->pre, cc.image_size);

    if (iris_clip_load(&v->clip, be, w, &cc)) goto done;
    if (!bare) {
        if (iris_projector_load(&v->proj, be, w, cc.hidden, act)) {
            iris_clip_free(&v->clip);
            goto done;
        }
        v->has_projector = 1;
    }
    rc = 0;
done:
    cJSON_Delete(cfg);
    return rc;
}

void iris_llava_vision_close(iris_llava_vision *v)
{
    iris_projector_free(&v->proj);
    iris_clip_free(&v->clip);
    memset(v, 0, sizeof *v);
}

int iris_llava_vision_n_tokens(const iris_llava_vision *v)
{
    return iris_clip_n_tokens(&v->clip.cfg) - (v->keep_class_token ? 0 : 1);
}

int iris_llava_vision_dim(const iris_llava_vision *v)
{
    return v->has_projector ? v->proj.out_dim : v->clip.cfg.hidden;
}

int iris_llava_vision_encode_pixels(iris_llava_vision *v, const float *pixels, float *out)
{
    const iris_backend *be = v->be;
    int n_all = iris_clip_n_tokens(&v->clip.cfg), d = v->clip.cfg.hidden;
    int skip = v->keep_class_token ? 0 : 1, n = n_all - skip;
    float *feats = be->alloc((size_t)n_all * d * sizeof(float));
    if (!feats) {
        iris_set_error("vision: out of memory");
        return -1;
    }
    int rc = iris_clip_features(&v->clip, pixels, v->feature_layer, feats);
    int last = v->feature_layer == -1 || v->feature_layer == v->clip.cfg.n_layers;
    if (rc == 0 && last && v->clip.post_ln_w.data)   /* a GGUF tower with v.post_ln, as llama.cpp runs it */
        be->layernorm(feats, feats, &v->clip.post_ln_w, &v->clip.post_ln_b, n_all, d, v->clip.cfg.eps);
    if (rc == 0) {
        if (v->has_projector) rc = iris_projector_forward(&v->proj, feats + (size_t)skip * d, n, out);
        else be->copy(out, feats + (size_t)skip * d, (long)n * d);
    }
    if (rc == 0 && be->sync()) {
        iris_set_error("vision: %s backend: %s", be->name, be->error() ? be->error() : "failed");
        rc = -1;
    }
    be->free(feats);
    return rc;
}

int iris_llava_vision_encode_image(iris_llava_vision *v, const iris_image *img, float *out)
{
    size_t plane = (size_t)v->pre.crop_w * v->pre.crop_h;
    if (v->pre.crop_w != v->clip.cfg.image_size || v->pre.crop_h != v->clip.cfg.image_size) {
        iris_set_error("vision: preprocessing makes %dx%d, the tower wants %d", v->pre.crop_w,
                       v->pre.crop_h, v->clip.cfg.image_size);
        return -1;
    }
    float *px = malloc(plane * 3 * sizeof *px);
    if (!px) {
        iris_set_error("vision: out of memory");
        return -1;
    }
    int rc = iris_preprocess(img, &v->pre, px);
    if (rc == 0) rc = iris_llava_vision_encode_pixels(v, px, out);
    free(px);
    return rc;
}

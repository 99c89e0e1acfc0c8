/* llava_vision_gguf.c — the image half of a LLaVA from llama.cpp's mmproj
 * GGUF (see llava_vision.h): metadata checks, tower, projector, preprocessing. */
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "llava_vision.h"

/* Element i of a numeric array value as a double; -1 when not numeric. */
static int arr_number(const iris_gguf_kv *kv, uint64_t i, double *out)
{
    iris_gguf_kv e;
    if (iris_gguf_arr_elem(kv, i, &e)) return -1;
    switch (e.type) {
    case GGUF_FLOAT32: case GGUF_FLOAT64: *out = e.v.f; return 0;
    case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64: *out = (double)e.v.i; return 0;
    case GGUF_UINT8: case GGUF_UINT16: case GGUF_UINT32: case GGUF_UINT64: *out = (double)e.v.u; return 0;
    default: return -1;
    }
}

/* Reads clip.vision.<key> as three numbers into v (left alone when absent). */
static int read_rgb(const iris_gguf *g, const char *key, double v[3], int positive)
{
    const iris_gguf_kv *kv = iris_gguf_find(g, key);
    if (!kv) return 0;
    double t[3];
    int ok = kv->type == GGUF_ARRAY && kv->v.arr.n == 3;
    for (int i = 0; ok && i < 3; i++)
        ok = arr_number(kv, (uint64_t)i, &t[i]) == 0 && t[i] == t[i] && t[i] > -1e6 && t[i] < 1e6 &&
             (!positive || t[i] > 0);
    if (!ok) {
        iris_set_error("%s: %s must be three%s numbers", g->path, key, positive ? " positive" : "");
        return -1;
    }
    memcpy(v, t, sizeof t);
    return 0;
}

/* The metadata says this file is a LLaVA (mlp) projector iris can run. */
static int check_kind(const iris_weights *w)
{
    const iris_gguf *g = w->gguf;
    char *arch = iris_gguf_get_str(g, "general.architecture");
    if (!arch || strcmp(arch, "clip")) {
        iris_set_error("%s: not a vision projector (general.architecture is '%s', an mmproj file has 'clip')",
                       w->path, arch ? arch : "missing");
        free(arch);
        return -1;
    }
    free(arch);
    if (iris_gguf_get_int(g, "clip.has_vision_encoder", 0) == 0) {
        iris_set_error("%s: has no vision encoder (clip.has_vision_encoder is not set)", w->path);
        return -1;
    }
    if (iris_gguf_get_int(g, "clip.has_llava_projector", 0) == 0) {
        iris_set_error("%s: not a LLaVA projector (clip.has_llava_projector is not set; "
                       "MiniCPM-V, GLM-Edge and Qwen2-VL projectors are not supported)", w->path);
        return -1;
    }
    char *type = iris_gguf_get_str(g, "clip.projector_type");
    int bad_type = type && strcmp(type, "mlp");
    if (bad_type) {
        iris_set_error("%s: projector type '%s' is not supported (iris runs LLaVA's 'mlp')", w->path, type);
    } else if (iris_weights_find(w, "mm.3.weight")) {
        iris_set_error("%s: a normalised MLP projector (mm.1/mm.3/mm.4, 'mlp_norm') is not supported", w->path);
        bad_type = 1;
    }
    free(type);
    if (bad_type) return -1;
    char *merge = iris_gguf_get_str(g, "clip.vision.mm_patch_merge_type");
    int anyres = (merge && !strcmp(merge, "spatial_unpad")) ||
                 iris_gguf_find(g, "clip.vision.image_grid_pinpoints") != NULL;
    free(merge);
    if (anyres) {
        iris_set_error("%s: a LLaVA-1.6 (anyres, image_grid_pinpoints) projector is not supported", w->path);
        return -1;
    }
    if (!iris_weights_find(w, "mm.0.weight") || !iris_weights_find(w, "mm.2.weight")) {
        iris_set_error("%s: the projector tensors mm.0.weight and mm.2.weight are missing", w->path);
        return -1;
    }
    return 0;
}

/* clip.vision.feature_layer: one hidden-state index (0 = embeddings); -1 when absent. */
static int read_feature_layer(const iris_weights *w, int n_layers, int *layer)
{
    const iris_gguf_kv *kv = iris_gguf_find(w->gguf, "clip.vision.feature_layer");
    *layer = -1;
    if (!kv) return 0;
    double v;
    if (kv->type != GGUF_ARRAY || kv->v.arr.n != 1 || arr_number(kv, 0, &v) ||
        v != (double)(int)v || v < 0 || v > n_layers) {
        iris_set_error("%s: clip.vision.feature_layer must be one layer index in 0..%d "
                       "(stacked feature layers are not supported)", w->path, n_layers);
        return -1;
    }
    *layer = (int)v;
    return 0;
}

int iris_llava_vision_open_gguf(iris_llava_vision *v, const iris_backend *be, const iris_weights *w)
{
    memset(v, 0, sizeof *v);
    v->be = be;
    if (!w->gguf) {
        iris_set_error("%s: an mmproj must be a GGUF file", w->path);
        return -1;
    }
    iris_clip_config cc;
    if (check_kind(w) || iris_clip_config_from_gguf(&cc, w) ||
        read_feature_layer(w, cc.n_layers, &v->feature_layer))
        return -1;
    v->keep_class_token = !cc.class_token;

    /* LLaVA-1.5 pads to a square of the mean colour, then resizes */
    iris_preproc_clip(&v->pre, IRIS_PREPROC_PAD, cc.image_size);
    double mean[3], stdv[3];
    for (int c = 0; c < 3; c++) {
        mean[c] = v->pre.mean[c];
        stdv[c] = v->pre.std[c];
    }
    if (read_rgb(w->gguf, "clip.vision.image_mean", mean, 0) ||
        read_rgb(w->gguf, "clip.vision.image_std", stdv, 1))
        return -1;
    iris_preproc_set_mean(&v->pre, mean);
    for (int c = 0; c < 3; c++) v->pre.std[c] = (float)stdv[c];

    if (iris_clip_load_gguf(&v->clip, be, w, &cc)) return -1;
    /* llama.cpp's projector: mm.0, GELU, mm.2 — ggml's GELU, the tanh form:
     * a GGUF gives llama.cpp's results (safetensors give transformers' erf). */
    if (iris_projector_load(&v->proj, be, w, cc.hidden, IRIS_ACT_GELU_TANH)) {
        iris_clip_free(&v->clip);
        return -1;
    }
    v->has_projector = 1;
    return 0;
}

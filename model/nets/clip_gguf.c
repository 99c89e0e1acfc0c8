/* clip_gguf.c — the CLIP tower of a llama.cpp mmproj GGUF (see clip.h).
 *
 * llama.cpp's converter (convert_image_encoder_to_gguf.py) renames the
 * transformers CLIPVisionModel tensors: vision_model -> v, embeddings. -> "",
 * encoder.layers -> blk, self_attn.X_proj -> attn_X (out_proj -> attn_out),
 * layer_norm1/2 -> ln1/2, pre_layrnorm -> pre_ln, post_layernorm -> post_ln,
 * patch_embedding -> patch_embd, and — swapped — mlp.fc1 -> ffn_down,
 * mlp.fc2 -> ffn_up.  Shapes are kept (GGUF lists them fastest-first; the
 * reader gives them back row-major), so the patch conv is [hidden, C, p, p].
 */
#include <stdio.h>
#include <string.h>

#include "../core/error.h"
#include "clip.h"

static const char *const KEY_PREFIX = "clip.vision.";

/* A required positive integer key clip.vision.<name>. */
static int need_int(const iris_gguf *g, const char *name, int *out)
{
    char key[96];
    snprintf(key, sizeof key, "%s%s", KEY_PREFIX, name);
    const iris_gguf_kv *kv = iris_gguf_find(g, key);
    int64_t v = iris_gguf_get_int(g, key, -1);
    if (!kv) {
        iris_set_error("%s: %s is missing (not a CLIP vision projector?)", g->path, key);
        return -1;
    }
    if (v <= 0 || v > (1 << 24)) {
        iris_set_error("%s: %s is not a positive integer", g->path, key);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int gguf_flag(const iris_gguf *g, const char *key)
{
    return iris_gguf_get_int(g, key, 0) != 0;
}

int iris_clip_config_from_gguf(iris_clip_config *c, const iris_weights *w)
{
    const iris_gguf *g = w->gguf;
    memset(c, 0, sizeof *c);
    if (!g) {
        iris_set_error("%s: not a GGUF file", w->path);
        return -1;
    }
    if (need_int(g, "embedding_length", &c->hidden) || need_int(g, "feed_forward_length", &c->intermediate) ||
        need_int(g, "block_count", &c->n_layers) || need_int(g, "attention.head_count", &c->n_heads) ||
        need_int(g, "image_size", &c->image_size) || need_int(g, "patch_size", &c->patch))
        return -1;
    c->channels = 3;
    c->eps = (float)iris_gguf_get_float(g, "clip.vision.attention.layer_norm_epsilon", 1e-5);
    if (gguf_flag(g, "clip.use_silu")) {
        iris_set_error("%s: clip.use_silu (a SiLU vision tower) is not supported", g->path);
        return -1;
    }
    /* llama.cpp: use_gelu selects GELU, otherwise CLIP's quick-GELU.  A GGUF
     * gives llama.cpp's results, and ggml's GELU is the tanh form (not erf). */
    c->act = gguf_flag(g, "clip.use_gelu") ? IRIS_ACT_GELU_TANH : IRIS_ACT_QUICK_GELU;
    c->class_token = iris_weights_find(w, "v.class_embd") != NULL;
    c->pre_layernorm = iris_weights_find(w, "v.pre_ln.weight") != NULL;
    return iris_clip_config_check(c, w->path, "clip.vision metadata");
}

/* Whether tensor name has row-major shape [rows, cols]. */
static int has_shape(const iris_weights *w, const char *name, int64_t rows, int64_t cols)
{
    const iris_tensor *t = iris_weights_find(w, name);
    return t && t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols;
}

int iris_clip_load_gguf(iris_clip *m, const iris_backend *be, const iris_weights *w,
                        const iris_clip_config *cfg)
{
    iris_clip_names nm = {
        .prefix = "",
        .patch_w = "v.patch_embd.weight", .patch_b = "v.patch_embd.bias",
        .class_emb = "v.class_embd", .pos_emb = "v.position_embd.weight",
        .pre_ln_w = "v.pre_ln.weight", .pre_ln_b = "v.pre_ln.bias",
        .post_ln_w = "v.post_ln.weight", .post_ln_b = "v.post_ln.bias",
        .ln1_w = "v.blk.%d.ln1.weight", .ln1_b = "v.blk.%d.ln1.bias",
        .q_w = "v.blk.%d.attn_q.weight", .q_b = "v.blk.%d.attn_q.bias",
        .k_w = "v.blk.%d.attn_k.weight", .k_b = "v.blk.%d.attn_k.bias",
        .v_w = "v.blk.%d.attn_v.weight", .v_b = "v.blk.%d.attn_v.bias",
        .o_w = "v.blk.%d.attn_out.weight", .o_b = "v.blk.%d.attn_out.bias",
        .ln2_w = "v.blk.%d.ln2.weight", .ln2_b = "v.blk.%d.ln2.bias",
        /* llama.cpp's CLIP converter: fc1 is "ffn_down", fc2 "ffn_up" */
        .fc1_w = "v.blk.%d.ffn_down.weight", .fc1_b = "v.blk.%d.ffn_down.bias",
        .fc2_w = "v.blk.%d.ffn_up.weight", .fc2_b = "v.blk.%d.ffn_up.bias",
    };
    /* Newer converters name them the other way round.  fc1 is the one that
     * widens (row-major [intermediate, hidden]); when both readings fit (a
     * square MLP) the legacy naming is kept. */
    if (cfg->intermediate != cfg->hidden &&
        !has_shape(w, "v.blk.0.ffn_down.weight", cfg->intermediate, cfg->hidden) &&
        has_shape(w, "v.blk.0.ffn_up.weight", cfg->intermediate, cfg->hidden)) {
        nm.fc1_w = "v.blk.%d.ffn_up.weight";
        nm.fc1_b = "v.blk.%d.ffn_up.bias";
        nm.fc2_w = "v.blk.%d.ffn_down.weight";
        nm.fc2_b = "v.blk.%d.ffn_down.bias";
    }
    return iris_clip_load_names(m, be, w, cfg, &nm);
}

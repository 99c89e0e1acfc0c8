/* flamingo_train.c — see flamingo_train.h.  The blocks run inside the
 * training decoder through its pre-layer hooks; each block keeps its own
 * activations (xattn_train), so the backward pass needs nothing else. */
#include "flamingo_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/llama_train_internal.h"
#include "train/of_lora_targets.h"

static int hook_fwd(void *ctx, int l, float *x, int n)
{
    iris_flamingo_train *t = ctx;
    if (!t->has_block[l]) return 0;
    const iris_backend *be = t->m.be;
    be->copy(t->tmp, x, (long)n * t->m.cfg.dim);
    return iris_xattn_train_forward(&t->xa[l], t->tmp, n, t->media, t->n_media, t->time, x);
}

static int hook_bwd(void *ctx, int l, float *dx, int n)
{
    iris_flamingo_train *t = ctx;
    if (!t->has_block[l]) return 0;
    if (iris_xattn_train_backward(&t->xa[l], dx, t->tmp, t->n_media && t->pv_grad ? t->dmedia : NULL)) return -1;
    t->m.be->copy(dx, t->tmp, (long)n * t->m.cfg.dim);
    return 0;
}

/* The decoder's embedding (and tied head) become the checkpoint's grown,
 * trainable table.  An untied head stays frozen, as OpenFlamingo leaves it
 * (factory.py unfreezes only the input embeddings; "TODO: investigate also
 * training the output embeddings when untied"), but it must be the grown one
 * the checkpoint stores, whose rows for the new tokens then stay what the
 * checkpoint says: the model emits <|endofchunk|> through them.  With
 * new_outputs those rows (only) train. */
static int grown_embeddings(iris_flamingo_train *t, const iris_lm *lm, int trainable, int new_outputs)
{
    const iris_flamingo *f = lm->flamingo;
    iris_llama_train *m = &t->m;
    int tied = m->cfg.tied_embeddings && m->lm_head == m->embed;
    if (!trainable && !tied) {   /* mode lora writes the merged model without an untied grown head */
        iris_set_error("%s: mode lora on an OpenFlamingo model needs a language model with tied embeddings",
                       lm->path);
        return -1;
    }
    const char *name = f->embd_name[0] ? f->embd_name + strlen(f->ckpt_prefix) : NULL;
    int idx = m->embed;
    t->base_embed = -1;
    if (name) {
        t->base_embed = idx;
        if ((idx = iris_llama_train_add_from(m, name, &lm->net.tok_embd, IRIS_PG_LLM)) < 0) return -1;
        m->embed = idx;
        if (tied) m->lm_head = idx;
        m->cfg.vocab_size = (int)lm->net.tok_embd.shape[0];
    }
    if (!tied) {
        int rows = (int)lm->net.lm_head.shape[0];
        if (rows != lm->net.n_embd_rows) {
            iris_set_error("%s: the language model's output head is untied and has %d rows, but the embedding "
                           "table %d: the checkpoint must hold the grown head (lang_encoder.lm_head.weight or "
                           "embed_out.weight), whose rows for the new tokens OpenFlamingo draws at random",
                           lm->path, rows, lm->net.n_embd_rows);
            return -1;
        }
        if (f->head_name[0]) {
            int h = iris_llama_train_add_from(m, f->head_name + strlen(f->ckpt_prefix), &lm->net.lm_head,
                                              IRIS_PG_LLM);
            if (h < 0) return -1;
            m->lm_head = h;
            if (trainable && new_outputs && f->base_cfg.vocab_size < rows) {
                if (iris_params_set_trainable(&m->params, h)) return -1;
                m->params.p[h].decay = 0;   /* the frozen rows must not decay either */
                t->head = h;
                t->head_frozen_rows = f->base_cfg.vocab_size;
            }
        }
        m->cfg.vocab_size = rows;
    }
    return trainable ? iris_params_set_trainable(&m->params, idx) : 0;
}

/* Mode lora: the adapters, modules_to_save, and the decoder's backward
 * floor (the lowest block when anything at or below it needs a gradient). */
static int setup_lora(iris_flamingo_train *t, const iris_flamingo_lora_opts *lo)
{
    iris_flamingo_lora *fl = &t->lora;
    t->has_lora = 1;
    if (iris_flamingo_lora_list(fl, t)) return -1;
    if (lo->init_dir) {
        if (iris_flamingo_lora_read_config(fl, lo->init_dir)) return -1;
        fl->lc.dropout = lo->lc.dropout;
    } else {
        if (iris_flamingo_lora_select(fl, &lo->lc)) return -1;
        fl->save_mask = lo->save_mask;
    }
    if (iris_flamingo_lora_build(fl, t, lo->seed)) return -1;
    if (lo->init_dir && iris_flamingo_lora_load(fl, t, lo->init_dir)) return -1;
    int blocks = (fl->save_mask & IRIS_OFS_XATTN) != 0;
    t->pv_grad = (fl->save_mask & IRIS_OFS_PERCEIVER) != 0;
    for (int i = 0; i < fl->n; i++) {
        if (!fl->sel[i]) continue;
        blocks |= fl->mods[i].kind == IRIS_OFM_BLOCK;
        t->pv_grad |= fl->mods[i].kind == IRIS_OFM_PERCEIVER;
    }
    if (!blocks && !t->pv_grad) t->m.grad_floor = t->n_layers;   /* the decoder's own LoRA decides */
    return 0;
}

static int init_any(iris_flamingo_train *t, const iris_lm *lm, const iris_train_ops *ops, int max_len,
                    int max_media, const iris_flamingo_lora_opts *lo, int new_outputs)
{
    memset(t, 0, sizeof *t);
    iris_flamingo *f = lm->flamingo;
    if (!f) {
        iris_set_error("%s: not an OpenFlamingo model", lm->path);
        return -1;
    }
    const iris_backend *be = lm->net.be;
    t->n_layers = f->n_layers;
    t->max_len = max_len;
    t->max_media = max_media;
    t->n_patches = f->n_patches;
    t->hidden = f->clip.cfg.hidden;
    t->n_latents = f->n_latents;
    t->dim_visual = f->dim_visual;
    t->media_token = f->media_token;
    if (iris_llama_train_init(&t->m, &lm->w, &f->base_cfg, be, ops, max_len, 0)) return -1;
    t->m_open = 1;
    t->f = f;
    t->pv_grad = 1;
    if (grown_embeddings(t, lm, !lo, new_outputs)) goto fail;
    int cap = iris_perceiver_slot_count(&f->pv.cfg) + IRIS_XA_COUNT * f->n_blocks;
    t->xa = calloc((size_t)t->n_layers, sizeof *t->xa);
    t->has_block = calloc((size_t)t->n_layers, 1);
    t->time = calloc((size_t)max_len, sizeof *t->time);
    if (!t->xa || !t->has_block || !t->time || iris_params_init(&t->p, be, cap)) {
        iris_set_error("out of memory");
        goto fail;
    }
    if (iris_perceiver_train_init(&t->pv, &t->p, ops, &f->pv.cfg, "perceiver.", iris_flamingo_lookup, f,
                                  max_media, f->n_patches) ||
        (!lo && iris_perceiver_train_set_trainable(&t->pv)))
        goto fail;
    for (int l = 0; l < t->n_layers; l++) {
        if (!f->has_block[l]) continue;
        if (iris_xattn_train_init(&t->xa[l], &t->p, ops, &f->xa[l].cfg, f->block_prefix[l], iris_flamingo_lookup,
                                  f, max_len, max_media, f->n_latents) ||
            (!lo && iris_xattn_train_set_trainable(&t->xa[l])))
            goto fail;
        t->has_block[l] = 1;
    }
    t->m.grad_floor = t->n_layers;   /* the lowest block */
    for (int l = t->n_layers - 1; l >= 0; l--)
        if (t->has_block[l]) t->m.grad_floor = l;
    if (lo && setup_lora(t, lo)) goto fail;
    if (iris_llama_train_prepare(&t->m)) goto fail;
    size_t D = (size_t)lm->net.cfg.dim, media = (size_t)max_media * f->n_latents * f->dim_visual;
    t->feats = be->alloc((size_t)max_media * f->n_patches * t->hidden * sizeof(float));
    t->media = be->alloc(media * sizeof(float));
    t->dmedia = be->alloc(media * sizeof(float));
    t->tmp = be->alloc((size_t)max_len * D * sizeof(float));
    t->zeros = be->alloc(media * sizeof(float));   /* stays zero: clears dmedia even of a NaN */
    if (!t->feats || !t->media || !t->dmedia || !t->tmp || !t->zeros) {
        iris_set_error("out of memory for the OpenFlamingo training buffers");
        goto fail;
    }
    t->m.pre_fwd = hook_fwd;
    t->m.pre_bwd = hook_bwd;
    t->m.pre_ctx = t;
    return 0;
fail:
    iris_flamingo_train_free(t);
    return -1;
}

int iris_flamingo_train_init(iris_flamingo_train *t, const iris_lm *lm, const iris_train_ops *ops, int max_len,
                             int max_media)
{
    return init_any(t, lm, ops, max_len, max_media, NULL, 0);
}

int iris_flamingo_train_init_opts(iris_flamingo_train *t, const iris_lm *lm, const iris_train_ops *ops,
                                  int max_len, int max_media, int new_outputs)
{
    return init_any(t, lm, ops, max_len, max_media, NULL, new_outputs);
}

int iris_flamingo_train_init_lora(iris_flamingo_train *t, const iris_lm *lm, const iris_train_ops *ops,
                                  int max_len, int max_media, const iris_flamingo_lora_opts *lo)
{
    return init_any(t, lm, ops, max_len, max_media, lo, 0);
}

void iris_flamingo_train_free(iris_flamingo_train *t)
{
    const iris_backend *be = t->m.be;
    for (int l = 0; t->xa && l < t->n_layers; l++)
        if (t->has_block && t->has_block[l]) iris_xattn_train_free(&t->xa[l]);
    if (t->pv.s) iris_perceiver_train_free(&t->pv);
    if (t->has_lora) iris_flamingo_lora_free(&t->lora);
    if (be) {
        be->free(t->feats);
        be->free(t->media);
        be->free(t->dmedia);
        be->free(t->tmp);
        be->free(t->zeros);
    }
    iris_params_free(&t->p);
    if (t->m_open) iris_llama_train_free(&t->m);
    free(t->xa);
    free(t->has_block);
    free(t->time);
    memset(t, 0, sizeof *t);
}

int iris_flamingo_train_step(iris_flamingo_train *t, const float *feats, int n_media, const int32_t *ids,
                             const int32_t *labels, int n, float grad_scale, double *loss_sum, int *n_counted)
{
    const iris_backend *be = t->m.be;
    if (n_media < 0 || n_media > t->max_media || n <= 0 || n > t->max_len) {
        iris_set_error("OpenFlamingo step: %d images / %d tokens (room for %d / %d)", n_media, n, t->max_media,
                       t->max_len);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        k += ids[i] == t->media_token;
        t->time[i] = k;
    }
    if (k != n_media) {
        iris_set_error("OpenFlamingo step: %d <image> tokens for %d images", k, n_media);
        return -1;
    }
    t->n_media = n_media;
    size_t media = (size_t)n_media * t->n_latents * t->dim_visual;
    if (n_media) {
        if (be->upload(t->feats, feats, (size_t)n_media * t->n_patches * t->hidden * sizeof(float))) {
            iris_set_error("cannot upload the media features");
            return -1;
        }
        if (iris_perceiver_train_forward(&t->pv, t->feats, n_media, 1, t->n_patches, t->media)) return -1;
        be->copy(t->dmedia, t->zeros, (long)media);
    }
    if (iris_llama_train_step(&t->m, ids, NULL, labels, n, grad_scale, 1, NULL, loss_sum, n_counted)) return -1;
    if (t->head_frozen_rows) {   /* only the new tokens' output rows learn (CPU backend: host memory) */
        const iris_param *h = &t->m.params.p[t->head];
        memset(h->g, 0, (size_t)t->head_frozen_rows * t->m.cfg.dim * sizeof(float));
    }
    if (n_media && t->pv_grad && iris_perceiver_train_backward(&t->pv, t->dmedia, NULL)) return -1;
    return 0;
}

/* llama_train.h — the LLaMA-family decoder for training: f32 parameters,
 * optional LoRA adapters, a forward pass that keeps what the backward pass
 * needs, and the backward pass itself (explicit backend calls, mirroring
 * model/nets/llama.c's forward order).
 *
 * Contract:
 *  - iris_llama_train_init copies every weight of a checkpoint (any dtype,
 *    HF or GGUF names) into f32 parameters named as in the checkpoint
 *    (HF spelling, e.g. "model.layers.0.mlp.up_proj.weight"); all start frozen.
 *  - Trainable sets: iris_llama_train_unfreeze_all (full fine-tune) and/or
 *    iris_llama_train_add_lora (adapters, trainable; base stays frozen).
 *  - iris_llama_train_step runs one sequence: cross-entropy against labels
 *    (HF convention: labels[i+1] is the target of position i; -100 ignored),
 *    gradients scaled by grad_scale ACCUMULATE into the trainable parameters
 *    (so micro-batches add up), and the sum of token losses and the number of
 *    counted tokens come back.  Negative ids stand for image rows: the k-th
 *    negative id takes row k of img_rows (host [n_img, dim]; times the
 *    embedding scale, as transformers scales inputs_embeds) and its gradient
 *    goes to row k of d_img_rows (host) when non-NULL.
 *  - Gradient checkpointing keeps only each layer's input and recomputes the
 *    layer before its backward pass (same results, less memory).
 *  - MPT, GPT-NeoX and BioGPT (decoder_train.c) train on the CPU backend:
 *    fused QKV stays one parameter as the checkpoint has it; LoRA adapters
 *    carry the checkpoint's module names (e.g. transformer.blocks.0.attn.Wqkv
 *    .lora_A.weight), a fused QKV ONE adapter whose B rows follow the
 *    checkpoint's (PEFT's) layout; MPT's clip_qkv and mosaic_gpt's QK
 *    LayerNorm (attn.q_ln / attn.k_ln, parameters like the other norms)
 *    train too.
 *  - iris_llama_train_add_lora resolves lc's target names for the model's
 *    architecture (iris_lora_resolve_targets); m->lora holds the result.
 */
#ifndef IRIS_LLAMA_TRAIN_H
#define IRIS_LLAMA_TRAIN_H

#include <stdint.h>

#include "core/backend.h"
#include "core/backend_train.h"
#include "formats/weights.h"
#include "nets/llama_config.h"
#include "train/lora.h"
#include "train/params.h"

enum { TL_ATTN_NORM = 0, TL_WQ, TL_WK, TL_WV, TL_WO, TL_BQ, TL_BK, TL_BV,
       TL_FFN_NORM, TL_GATE, TL_UP, TL_DOWN,
       /* generic decoders (decoder_train.c): norm biases, output and
        * feed-forward biases, fused QKV weight and bias, and the QK
        * LayerNorm's weights and optional biases (mosaic_gpt attn_qk_ln) */
       TL_ATTN_NORM_B, TL_FFN_NORM_B, TL_BO, TL_BUP, TL_BDOWN, TL_QKV, TL_BQKV,
       TL_Q_NORM, TL_Q_NORM_B, TL_K_NORM, TL_K_NORM_B,
       TL_COUNT };

typedef struct {
    int p[TL_COUNT];                 /* parameter index, -1 when absent */
    int lora_a[IRIS_LM_COUNT], lora_b[IRIS_LM_COUNT];
} iris_tl_layer;

typedef struct {
    float *xn1, *q, *k, *v, *att, *xmid, *xn2, *g, *u, *a;
    /* generic decoders with clip_qkv or a QK LayerNorm: q and k as projected
     * and clamped, before the LayerNorm and RoPE (NULL otherwise) */
    float *qr, *kr;
    float *lh[IRIS_LM_COUNT];        /* LoRA hidden dropout(x) A^T [n, r] */
    float *lx[IRIS_LM_COUNT];        /* dropout(x) [n, in] when dropout > 0 */
} iris_tl_acts;

typedef struct iris_llama_train {
    iris_llama_config cfg;
    const iris_backend *be;
    const iris_train_ops *ops;
    iris_param_set params;
    char prefix[64];                 /* "model.", "language_model.model.", ... */
    int gguf;                        /* source was GGUF (names are HF spelling anyway) */
    int embed, out_norm, lm_head;    /* lm_head == embed when tied */
    int out_norm_b, pos_embd;        /* generic decoders; -1 when absent */
    float *qkv;                      /* generic decoders: fused QKV rows [max_len, 3 dim] */
    int32_t *pos_rows;               /* learned-position rows (pos + offset) */
    iris_tl_layer *layers;
    int has_lora;
    iris_lora_config lora;
    float lora_scale;
    int max_len, checkpointing;
    iris_tl_acts *acts;              /* n_layers sets, or 1 with checkpointing */
    float **xs;                      /* n_layers + 1 layer inputs [max_len, dim] */
    float *xf, *logits, *loss;
    float *dcur, *dxn, *tmp, *da, *dg, *du, *datt, *dq, *dk, *dv, *dh, *dtmp;
    int32_t *pos, *targets, *ids;
    /* OpenFlamingo: a module before decoder layer l (gated cross-attention).
     * pre_fwd rewrites layer l's input x [n, dim] in place; pre_bwd turns
     * dx = dL/d(its output) into dL/d(its input) in place.  grad_floor: the
     * backward pass goes down at least to this layer (the lowest hooked one)
     * even when no parameter of the decoder trains.  NULL / n_layers: none. */
    int (*pre_fwd)(void *ctx, int l, float *x, int n);
    int (*pre_bwd)(void *ctx, int l, float *dx, int n);
    void *pre_ctx;
    int grad_floor;
    uint64_t dropout_key;            /* set per micro-batch by the trainer */
    int training;                    /* dropout on */
} iris_llama_train;

int iris_llama_train_init(iris_llama_train *m, const iris_weights *w, const iris_llama_config *cfg,
                          const iris_backend *be, const iris_train_ops *ops, int max_len,
                          int checkpointing);
void iris_llama_train_free(iris_llama_train *m);
/* Every decoder parameter becomes trainable. */
int iris_llama_train_unfreeze_all(iris_llama_train *m);
/* Adds LoRA adapters (A Kaiming-uniform from seed, B zero), trainable. */
int iris_llama_train_add_lora(iris_llama_train *m, const iris_lora_config *lc, uint64_t seed);
/* The pieces of add_lora, for callers that choose adapters one by one
 * (OpenFlamingo): begin sets r, alpha, dropout and the target bits (the
 * union of the modules that will get adapters: it sizes the workspace);
 * add_lora_site puts one adapter on layer l's module mod (an
 * iris_lora_module), its parameters named module + ".lora_A.weight" /
 * ".lora_B.weight"; module_path gives the checkpoint's path of that module
 * ("transformer.blocks.0.attn.Wqkv"), -1 when the architecture lacks it. */
int iris_llama_train_begin_lora(iris_llama_train *m, const iris_lora_config *lc);
int iris_llama_train_add_lora_site(iris_llama_train *m, int l, int mod, const char *module, uint64_t seed);
int iris_llama_train_module_path(const iris_llama_train *m, int l, int mod, char *out, size_t cap);
/* Allocates the activation workspace; call after the trainable set is final. */
int iris_llama_train_prepare(iris_llama_train *m);

int iris_llama_train_step(iris_llama_train *m, const int32_t *ids, const float *img_rows,
                          const int32_t *labels, int n, float grad_scale, int backward,
                          float *d_img_rows, double *loss_sum, int *n_counted);
/* Logits of every position after a step (host, [n, vocab]); valid after a
 * step with backward = 0. */
const float *iris_llama_train_logits(const iris_llama_train *m);

#endif

/* lora.h — LoRA adapters on linear layers (PEFT's definition).
 *
 *   y = x W^T + b + scale * dropout(x) A^T B^T,   A [r, in], B [out, r]
 *   scale = alpha / r, or alpha / sqrt(r) with rsLoRA.
 * A starts Kaiming-uniform (bound 1/sqrt(in), PEFT's kaiming_uniform_(a=sqrt(5))),
 * B starts at zero, so a fresh adapter leaves the model unchanged.
 * Targets are chosen by module name and by layer range.
 *
 * Dropout masks are a pure function of (seed, step, micro-batch, site, element)
 * so a recomputation (gradient checkpointing) or a resumed run draws the same
 * masks without storing RNG state.
 */
#ifndef IRIS_TRAIN_LORA_H
#define IRIS_TRAIN_LORA_H

#include <stdint.h>

typedef enum {
    IRIS_LM_Q = 0, IRIS_LM_K, IRIS_LM_V, IRIS_LM_O,
    IRIS_LM_GATE, IRIS_LM_UP, IRIS_LM_DOWN,
    IRIS_LM_QKV,          /* a fused QKV projection (MPT Wqkv, GPT-NeoX
                           * query_key_value): ONE adapter over the fused
                           * output, B's rows in the checkpoint's layout */
    IRIS_LM_COUNT
} iris_lora_module;

typedef struct {
    int r;
    float alpha;
    float dropout;
    int rslora;
    unsigned targets;     /* bit per iris_lora_module */
    int target_projector; /* LoRA on the projector's linears */
    int layer_first, layer_last;  /* inclusive; -1: all */
    char spec[256];       /* the target list as written: targets holds its
                           * meaning for any architecture until
                           * iris_lora_resolve_targets fixes it for one */
} iris_lora_config;

/* HF module names: "q_proj" ... "down_proj" (LLaMA's). */
const char *iris_lora_module_name(int m);
/* "self_attn" or "mlp". */
const char *iris_lora_module_parent(int m);
/* The module's path inside a decoder layer for architecture arch (an
 * iris_arch): "self_attn.q_proj" (LLaMA family), "attn.Wqkv" (MPT),
 * "attention.query_key_value" (GPT-NeoX), "fc1" (BioGPT) ...; NULL when the
 * architecture has no such module. */
const char *iris_lora_module_path(int arch, int m);
/* Parses a target list (HF module names of any supported architecture, or
 * their last component, e.g. "q_proj,v_proj", "Wqkv", "dense_h_to_4h"; the
 * short names q,k,v,o,gate,up,down,qkv; "all-linear"), keeps it in c->spec
 * and sets targets (for any architecture) and target_projector.  -1 with the
 * unknown name in the error. */
int iris_lora_parse_targets(iris_lora_config *c, const char *list);
/* Re-reads c->spec for architecture arch (arch_name for messages): targets
 * becomes that architecture's modules; a name it lacks is an error listing
 * the valid ones.  An empty spec (a config built by hand) keeps the target
 * bits the architecture has. */
int iris_lora_resolve_targets(iris_lora_config *c, int arch, const char *arch_name);
float iris_lora_scale(const iris_lora_config *c);
int iris_lora_targets_layer(const iris_lora_config *c, int layer);

/* Deterministic uniform in [0,1) from a 64-bit key. */
double iris_rng_uniform(uint64_t key);
uint64_t iris_rng_mix(uint64_t a, uint64_t b);
/* y[i] = x[i] * keep(i) / (1 - p) with keep drawn from key; n floats (host). */
void iris_dropout(float *y, const float *x, long n, float p, uint64_t key);
/* dx[i] += dy[i] * keep(i) / (1 - p), the same masks as iris_dropout. */
void iris_dropout_backward_add(float *dx, const float *dy, long n, float p, uint64_t key);
/* Kaiming-uniform init of a [rows, cols] matrix (bound 1/sqrt(cols)). */
void iris_kaiming_uniform(float *w, int rows, int cols, uint64_t key);

#endif

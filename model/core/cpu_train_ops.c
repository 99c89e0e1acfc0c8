/* cpu_train_ops.c — the CPU table of backend_train.h. */
#include "cpu_train_attention.h"
#include "cpu_train_internal.h"

static const iris_train_ops cpu_train = {
    .name = "cpu",
    .rmsnorm_backward = cpu_rmsnorm_backward,
    .layernorm_backward = cpu_layernorm_backward,
    .rope_backward = cpu_rope_backward,
    .swiglu_backward = cpu_swiglu_backward,
    .geglu_backward = cpu_geglu_backward,
    .embedding_backward = cpu_embedding_backward,
    .cross_entropy = cpu_cross_entropy,
    .adamw_step = cpu_adamw_step,
    .argmax = cpu_argmax,
    .sample = cpu_sample,
    .attention_backward = cpu_attention_backward,
    .gelu_backward = cpu_gelu_backward,
    .gelu_tanh_backward = cpu_gelu_tanh_backward,
    .quick_gelu_backward = cpu_quick_gelu_backward,
    .cross_attention_backward = cpu_cross_attention_backward,
    .attention_alibi_backward = cpu_attention_alibi_backward,
    .clamp_backward = cpu_clamp_backward,
};

const iris_train_ops *iris_cpu_train_ops(void)
{
    return &cpu_train;
}

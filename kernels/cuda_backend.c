/* cuda_backend.c — the CUDA plugin's entry points: the backend.h table, the
 * backend_train.h table and the device name, as model/core/cuda_loader.c
 * finds them with dlsym.  Nothing here is called before
 * iris_cuda_plugin_backend() has found a usable device.
 */
#include "cuda_internal.h"

#include <stdio.h>

static const iris_backend cuda_backend = {
    .name = "cuda",
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .weight_upload = cuda_weight_upload,
    .weight_free = cuda_weight_free,
    .sync = cuda_sync,
    .error = cuda_error,
    .linear = cuda_linear,
    .gemm = cuda_gemm,
    .rmsnorm = cuda_rmsnorm,
    .layernorm = cuda_layernorm,
    .rope = cuda_rope,
    .attention = cuda_attention,
    .add = cuda_add,
    .scale = cuda_scale,
    .swiglu = cuda_swiglu,
    .geglu = cuda_geglu,
    .gelu = cuda_gelu,
    .gelu_tanh = cuda_gelu_tanh,
    .quick_gelu = cuda_quick_gelu,
    .silu = cuda_silu,
    .softmax = cuda_softmax,
    .embedding = cuda_embedding,
    .copy = cuda_copy,
};

static const iris_train_ops cuda_train = {
    .name = "cuda",
    .rmsnorm_backward = cuda_rmsnorm_backward,
    .layernorm_backward = cuda_layernorm_backward,
    .rope_backward = cuda_rope_backward,
    .swiglu_backward = cuda_swiglu_backward,
    .geglu_backward = cuda_geglu_backward,
    .embedding_backward = cuda_embedding_backward,
    .cross_entropy = cuda_cross_entropy,
    .adamw_step = cuda_adamw_step,
    .argmax = cuda_argmax,
    .sample = cuda_sample,
};

const iris_backend *iris_cuda_plugin_backend(char *why, size_t why_len)
{
    return cuda_init(why, why_len) == 0 ? &cuda_backend : NULL;
}

const iris_train_ops *iris_cuda_plugin_train_ops(char *why, size_t why_len)
{
    return cuda_init(why, why_len) == 0 ? &cuda_train : NULL;
}

const char *iris_cuda_plugin_device_name(void)
{
    return cuda_init(NULL, 0) == 0 ? cuda_device_name() : "none";
}

void iris_cuda_plugin_clear_error(void)
{
    cuda_clear_error();
}

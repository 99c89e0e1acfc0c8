/* random_llama.h — writes a small random LLaMA-family checkpoint
 * (model.safetensors, HF names) into a directory, for tests that need a real
 * model without Python. */
#ifndef IRIS_TEST_RANDOM_LLAMA_H
#define IRIS_TEST_RANDOM_LLAMA_H

#include "nets/llama_config.h"

/* A small config: dim 48, 2 layers, 4 heads, 2 kv heads, ffn 96, vocab 97. */
iris_llama_config random_llama_config(iris_arch arch);
/* Writes dir/model.safetensors with random weights in dtype (IRIS_F32/F16/BF16). */
int random_llama_write(const char *dir, const iris_llama_config *c, int dtype, unsigned seed);

#endif

/* fuzz_safetensors.c — libFuzzer target: iris_st_parse over arbitrary bytes,
 * then lookups and a touch of every tensor's first and last data byte. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "formats/safetensors.h"

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    iris_safetensors st;
    if (iris_st_parse(&st, data, size, "fuzz.safetensors") != 0) return 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const iris_st_tensor *t = &st.tensors[i];
        if (iris_st_find(&st, t->name) != &t->t) abort();
        const uint8_t *p = t->t.data;
        if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
        if ((int)t->t.dtype >= 0 && iris_tensor_bytes(&t->t) != t->nbytes) abort();
    }
    iris_st_close(&st);
    return 0;
}

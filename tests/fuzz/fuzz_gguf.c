/* fuzz_gguf.c — libFuzzer target: iris_gguf_parse over arbitrary bytes, then
 * every accessor a loader would use, touching the first and last byte of each
 * tensor's data so that any bounds mistake becomes an ASan report. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    iris_gguf g;
    if (iris_gguf_parse(&g, data, size, "fuzz.gguf") != 0) return 0;
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const iris_gguf_kv *kv = &g.kv[i];
        if (iris_gguf_find(&g, kv->key) == NULL) abort();
        iris_gguf_get_int(&g, kv->key, 0);
        iris_gguf_get_float(&g, kv->key, 0);
        free(iris_gguf_get_str(&g, kv->key));
        if (kv->type == GGUF_STRING && kv->v.s.len) sink ^= (uint8_t)kv->v.s.ptr[kv->v.s.len - 1];
        if (kv->type != GGUF_ARRAY) continue;
        for (uint64_t j = 0; j < kv->v.arr.n; j++) {
            iris_gguf_kv e;
            if (iris_gguf_arr_elem(kv, j, &e) != 0) abort();
            if (e.type == GGUF_STRING && e.v.s.len) sink ^= (uint8_t)e.v.s.ptr[e.v.s.len - 1];
        }
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const iris_gguf_tensor *t = &g.tensors[i];
        if (iris_gguf_find_tensor(&g, t->name) != t) abort();
        const uint8_t *p = t->t.data;
        if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
        if ((int)t->t.dtype >= 0 && iris_tensor_bytes(&t->t) != t->nbytes) abort();
    }
    iris_gguf_close(&g);
    return 0;
}

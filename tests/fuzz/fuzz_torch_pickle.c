/* fuzz_torch_pickle.c — libFuzzer target for torch checkpoints.  An input
 * starting with "PK" is a whole torch.save archive (zip reader, byteorder,
 * data.pkl, storages) through iris_torch_parse; anything else is a data.pkl
 * run by iris_torch_unpickle with every storage key "0".."9" resolving to a
 * 256-byte buffer.  After a successful load every tensor's first and last
 * byte is touched and its byte count checked against dtype and shape. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/torch_checkpoint.h"
#include "formats/torch_pickle.h"

static volatile uint8_t sink;
static uint8_t storage[256];

static const uint8_t *resolve(void *ctx, const char *key, uint64_t *n)
{
    (void)ctx;
    if (key[0] >= '0' && key[0] <= '9' && !key[1]) {
        *n = sizeof storage;
        return storage;
    }
    iris_set_error("fuzz.bin: no storage '%s'", key);
    return NULL;
}

static void touch(const iris_st_tensor *ts, int n)
{
    for (int i = 0; i < n; i++) {
        const iris_st_tensor *t = &ts[i];
        const uint8_t *p = t->t.data;
        if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
        if ((int)t->t.dtype >= 0 && iris_tensor_bytes(&t->t) != t->nbytes) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        iris_safetensors st;
        if (iris_torch_parse(&st, data, size, "fuzz.bin") != 0) return 0;
        for (int i = 0; i < st.n_tensors; i++)
            if (iris_st_find(&st, st.tensors[i].name) != &st.tensors[i].t) abort();
        touch(st.tensors, st.n_tensors);
        iris_st_close(&st);
        return 0;
    }
    iris_torch_pickle_opts o = {"fuzz.bin", resolve, NULL, 1u << 20};
    iris_st_tensor *ts;
    int n;
    if (iris_torch_unpickle(data, size, &o, &ts, &n) != 0) return 0;
    touch(ts, n);
    iris_torch_tensors_free(ts, n);
    return 0;
}

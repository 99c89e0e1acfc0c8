/* fuzz_tokenizer.c — libFuzzer target for the tokenizer loaders and encoder.
 * The first byte picks the source of the rest: even = a tokenizer.json text,
 * odd = a GGUF image whose tokenizer.ggml.* metadata is the vocabulary.  A
 * tokenizer that loads then encodes the input bytes themselves (invalid
 * UTF-8 included), with and without special-token parsing, and every id goes
 * back through the streaming detokeniser with the smallest buffer allowed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "formats/gguf.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"

static void exercise(const iris_tokenizer *t, const char *text, size_t len, int special)
{
    static int32_t ids[4096];
    int n = iris_tokenize(t, text, len, 1, special, ids, 4096);
    if (n < 0) abort();                  /* encode never fails once loaded */
    if (n > 4096) n = 4096;
    iris_detok d;
    char out[256];
    iris_detok_init(&d, t, special);
    for (int i = 0; i < n; i++)
        if (iris_detok_push(&d, ids[i], out, sizeof out) >= (int)sizeof out) abort();
    while (iris_detok_flush(&d, out, sizeof out) > 0) {}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    iris_tokenizer *t = NULL;
    iris_gguf g;
    if (data[0] & 1) {
        if (iris_gguf_parse(&g, rest, n, "fuzz.gguf") != 0) return 0;
        t = iris_tokenizer_from_gguf(&g);
        iris_gguf_close(&g);
    } else {
        t = tok_from_json_text("fuzz/tokenizer.json", rest, n);
    }
    if (!t) return 0;
    exercise(t, rest, n < 512 ? n : 512, 0);
    exercise(t, rest, n < 512 ? n : 512, 1);
    iris_tokenizer_free(t);
    return 0;
}

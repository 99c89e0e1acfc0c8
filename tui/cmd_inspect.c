/* cmd_inspect.c — `iris inspect PATH [--json]`: what a weights file holds.
 * Text: format, metadata (long arrays abbreviated) and one line per tensor.
 * JSON (inspect_json.c): everything, with value sums for checking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/error.h"
#include "inspect.h"

#define ARRAY_PREVIEW 8
#define STRING_PREVIEW 64

static const char *const gguf_type_names[GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
    "string", "array", "u64", "i64", "f64",
};

static void print_str(iris_gguf_str s)
{
    putchar('"');
    for (uint64_t i = 0; i < s.len && i < STRING_PREVIEW; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    printf(s.len > STRING_PREVIEW ? "\"..." : "\"");
}

static void print_scalar(const iris_gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_BOOL: printf("%s", kv->v.u ? "true" : "false"); break;
    case GGUF_UINT8: case GGUF_UINT16: case GGUF_UINT32: case GGUF_UINT64:
        printf("%llu", (unsigned long long)kv->v.u);
        break;
    case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64:
        printf("%lld", (long long)kv->v.i);
        break;
    case GGUF_FLOAT32: case GGUF_FLOAT64: printf("%.9g", kv->v.f); break;
    case GGUF_STRING: print_str(kv->v.s); break;
    default: printf("?"); break;
    }
}

static void print_gguf_metadata(const iris_gguf *g)
{
    printf("metadata:\n");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const iris_gguf_kv *kv = &g->kv[i];
        printf("  %s = ", kv->key);
        if (kv->type != GGUF_ARRAY) {
            print_scalar(kv);
        } else {
            printf("[%s x %llu]", gguf_type_names[kv->v.arr.type],
                   (unsigned long long)kv->v.arr.n);
            for (uint64_t j = 0; j < kv->v.arr.n && j < ARRAY_PREVIEW; j++) {
                iris_gguf_kv e;
                iris_gguf_arr_elem(kv, j, &e);
                printf(j ? ", " : " ");
                print_scalar(&e);
            }
            if (kv->v.arr.n > ARRAY_PREVIEW) printf(", ...");
        }
        putchar('\n');
    }
}

static void print_text(const iris_weights *w, const inspect_tensor *ts, size_t n)
{
    if (w->gguf) {
        printf("format: gguf version %u, %llu metadata keys, %llu tensors, alignment %llu\n",
               w->gguf->version, (unsigned long long)w->gguf->n_kv,
               (unsigned long long)w->gguf->n_tensors, (unsigned long long)w->gguf->alignment);
        print_gguf_metadata(w->gguf);
    } else {
        printf("format: %s, %d file%s, %zu tensors\n",
               w->n_files && w->st[0].from_torch ? "torch" : "safetensors", w->n_files,
               w->n_files == 1 ? "" : "s", n);
        for (int f = 0; f < w->n_files; f++)
            if (w->st[f].metadata_json) printf("metadata (%s): %s\n", w->st[f].path,
                                               w->st[f].metadata_json);
    }
    printf("tensors:\n");
    unsigned long long total = 0;
    for (size_t i = 0; i < n; i++) {
        char shape[128];
        int len = snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < ts[i].t->ndim && len < (int)sizeof shape; d++)
            len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%lld", d ? ", " : "",
                            (long long)ts[i].t->shape[d]);
        if (len < (int)sizeof shape) snprintf(shape + len, sizeof shape - (size_t)len, "]");
        printf("  %-48s %-7s %-24s %12llu\n", ts[i].name, ts[i].dtype, shape, ts[i].bytes);
        total += ts[i].bytes;
    }
    printf("total: %zu tensors, %llu bytes\n", n, total);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: iris inspect PATH [--json]\n\n"
               "Lists the metadata and tensors of a .gguf file, a .safetensors file or a\n"
               "model directory (model.safetensors or sharded with an index.json).\n"
               "  --json   one JSON object with every tensor's sum and sum of squares\n");
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "iris inspect: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    iris_weights w;
    if (iris_weights_open(&w, path) != 0) {
        fprintf(stderr, "iris inspect: %s\n", iris_last_error());
        return 1;
    }
    int rc = 0;
    if (json) {
        rc = inspect_print_json(stdout, &w);
    } else {
        inspect_tensor *ts;
        size_t n;
        rc = inspect_collect(&w, &ts, &n);
        if (rc == 0) {
            print_text(&w, ts, n);
            free(ts);
        } else {
            iris_set_error("%s: out of memory", path);
        }
    }
    if (rc != 0) fprintf(stderr, "iris inspect: %s\n", iris_last_error());
    iris_weights_close(&w);
    return rc ? 1 : 0;
}

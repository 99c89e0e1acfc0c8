/* ggml_types.c — names and block sizes of ggml's tensor types, so that GGUF
 * tensors of every type can be sized and bounds-checked even when iris cannot
 * compute with them. */
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "gguf_reader.h"

typedef struct {
    const char *name;
    uint16_t block_elems;
    uint16_t block_bytes;
} ggml_type_info;

/* Indexed by ggml type id; ids ggml retired have no name. */
static const ggml_type_info types[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},
    [2] = {"Q4_0", 32, 18},     [3] = {"Q4_1", 32, 20},
    [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 40},
    [10] = {"Q2_K", 256, 84},   [11] = {"Q3_K", 256, 110},
    [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 256, 66}, [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},  [23] = {"IQ4_XS", 256, 136},
    [24] = {"I8", 1, 1},        [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},       [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},
};

const char *iris_ggml_type_name(uint32_t t)
{
    return t < sizeof types / sizeof types[0] ? types[t].name : NULL;
}

int ggml_type_block(uint32_t t, uint64_t *block_elems, uint64_t *block_bytes)
{
    if (!iris_ggml_type_name(t)) return 0;
    *block_elems = types[t].block_elems;
    *block_bytes = types[t].block_bytes;
    return 1;
}

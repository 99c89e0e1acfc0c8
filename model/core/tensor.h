/* tensor.h — the engine's tensor: a dtype, a row-major shape and a data pointer.
 *
 * Contract: shape[0] is the slowest dimension, shape[ndim-1] the fastest (rows of
 * a weight matrix [out, in] are contiguous, as in PyTorch and safetensors).
 * Weights keep their file dtype (f32, f16, bf16, GGUF Q8_0) and usually point into
 * an mmap'd file (owns_data == 0); compute happens in f32.  A tensor never
 * aliases another one's ownership: iris_tensor_free releases data only when the
 * tensor owns it.
 */
#ifndef IRIS_TENSOR_H
#define IRIS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define IRIS_MAX_DIMS 4

typedef enum {
    IRIS_F32 = 0,
    IRIS_F16,
    IRIS_BF16,
    IRIS_I32,
    IRIS_Q8_0,   /* GGUF: blocks of 32 int8 with one f16 scale (34 bytes a block) */
    IRIS_DTYPE_COUNT
} iris_dtype;

#define IRIS_Q8_0_BLOCK 32
#define IRIS_Q8_0_BLOCK_BYTES 34

typedef struct iris_tensor {
    iris_dtype dtype;
    int ndim;
    int64_t shape[IRIS_MAX_DIMS];
    void *data;
    int owns_data;
} iris_tensor;

const char *iris_dtype_name(iris_dtype t);
/* Parses "F32", "F16", "BF16", "I32" (safetensors spelling); -1 when unknown. */
int iris_dtype_from_name(const char *name);
/* Bytes for n consecutive elements of a row; n must be a multiple of the block
 * size for block-quantised types.  Returns 0 for an invalid request. */
size_t iris_dtype_row_bytes(iris_dtype t, int64_t n);

int64_t iris_tensor_numel(const iris_tensor *t);
size_t iris_tensor_bytes(const iris_tensor *t);
/* Rows = product of all but the last dimension; cols = last dimension. */
int64_t iris_tensor_rows(const iris_tensor *t);
int64_t iris_tensor_cols(const iris_tensor *t);

/* Allocates an owned, zeroed f32/other tensor; returns 0 on success, -1 on OOM. */
int iris_tensor_alloc(iris_tensor *t, iris_dtype dt, int ndim, const int64_t *shape);
void iris_tensor_free(iris_tensor *t);

/* Converts row r of any weight tensor to f32 (n = cols). */
void iris_tensor_row_to_f32(const iris_tensor *t, int64_t r, float *out);

/* Scalar conversions (round-to-nearest-even on the way down). */
float iris_f16_to_f32(uint16_t h);
uint16_t iris_f32_to_f16(float f);
float iris_bf16_to_f32(uint16_t h);
uint16_t iris_f32_to_bf16(float f);
/* Dequantises n elements (n % 32 == 0) of a Q8_0 row. */
void iris_q8_0_to_f32(const void *src, float *dst, int64_t n);
/* Converts n elements of dtype dt at src to f32. */
void iris_to_f32(iris_dtype dt, const void *src, float *dst, int64_t n);

#endif

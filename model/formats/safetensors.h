/* safetensors.h — reader for .safetensors files and sharded checkpoints.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the data; offsets are relative to the end of the header.
 *
 * Contract: iris_st_open mmaps the file and validates the header (length within
 * the file, JSON well-formed, known dtypes, shape product x dtype size equal to
 * end - begin, offsets within the data) and fails with a one-line message
 * naming the file and the tensor.  Tensors point into the mapping.
 * Dtypes iris cannot compute with (F64, I64, U8, BOOL, F8_*, ...) are listed
 * with t.dtype = -1 and their name in dtype_name (some checkpoints carry an
 * I64 position_ids buffer nobody needs); an unknown dtype string is an error.
 * Tensor data must be aligned to its element size (every writer that pads the
 * header to 8 bytes, as the safetensors library does, satisfies this), so
 * consumers may read it in place.
 * The same struct carries torch.save checkpoints (torch_checkpoint.h,
 * from_torch = 1), whose strided views are owned copies (t.owns_data = 1);
 * iris_st_close frees those.
 */
#ifndef IRIS_SAFETENSORS_H
#define IRIS_SAFETENSORS_H

#include <stddef.h>
#include "../core/tensor.h"

typedef struct {
    char *name;
    const char *dtype_name;    /* safetensors spelling ("F32", "I64", ...) */
    uint64_t nbytes;           /* end - begin */
    iris_tensor t;             /* dtype = -1 for valid safetensors dtypes iris
                                * does not compute with (F64, I64, U8, ...) */
} iris_st_tensor;

typedef struct iris_safetensors {
    char *path;
    void *map;
    size_t map_len;
    int n_tensors;
    iris_st_tensor *tensors;
    char *metadata_json;           /* "__metadata__" re-serialised, or NULL */
    int mapped;                    /* 1: map is our mmap (iris_st_open) */
    int from_torch;                /* 1: a torch.save checkpoint (torch_checkpoint.h) */
    struct iris_name_index *index; /* tensor name -> position in tensors[] */
} iris_safetensors;

int iris_st_open(iris_safetensors *st, const char *path);
void iris_st_close(iris_safetensors *st);
/* Parses a safetensors image already in memory (buf must outlive st);
 * name labels error messages.  Same validation as iris_st_open. */
int iris_st_parse(iris_safetensors *st, const void *buf, size_t len, const char *name);
const iris_tensor *iris_st_find(const iris_safetensors *st, const char *name);

/* Writes tensors to path atomically (temp file, fsync, rename).  metadata
 * may be NULL; names[i] labels tensors[i]. 0 on success.  metadata_json, when
 * given, must be a JSON object of strings.  Data is laid out by descending
 * element size and the header padded to 8 bytes, as the safetensors library
 * does, so every tensor is aligned.  Only F32, F16, BF16 and I32 can be written. */
int iris_st_write(const char *path, int n, const char *const *names,
                  const iris_tensor *tensors, const char *metadata_json);

#endif

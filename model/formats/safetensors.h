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
 */
#ifndef IRIS_SAFETENSORS_H
#define IRIS_SAFETENSORS_H

#include <stddef.h>
#include "../core/tensor.h"

typedef struct {
    char *name;
    iris_tensor t;
} iris_st_tensor;

typedef struct iris_safetensors {
    char *path;
    void *map;
    size_t map_len;
    int n_tensors;
    iris_st_tensor *tensors;
} iris_safetensors;

int iris_st_open(iris_safetensors *st, const char *path);
void iris_st_close(iris_safetensors *st);
const iris_tensor *iris_st_find(const iris_safetensors *st, const char *name);

/* Writes tensors to path atomically (temp file, fsync, rename).  metadata
 * may be NULL; names[i] labels tensors[i]. 0 on success. */
int iris_st_write(const char *path, int n, const char *const *names,
                  const iris_tensor *tensors, const char *metadata_json);

#endif

/* torch_pickle.h — a data-only pickle interpreter for torch.save's data.pkl.
 *
 * torch.save pickles a (nested) dict of tensors with protocol 2; every tensor
 * is a call of torch._utils._rebuild_tensor_v2 on a storage named by a
 * persistent id ('storage', torch.FloatStorage, key, location, numel).  This
 * VM understands exactly that: the opcodes that build plain data (dicts,
 * lists, tuples, ints, floats, strings, bytes, memo) plus GLOBAL/STACK_GLOBAL
 * and REDUCE for an allow-list of names that it *interprets itself*:
 *   collections.OrderedDict, torch._utils._rebuild_tensor_v2,
 *   torch._utils._rebuild_tensor, torch._utils._rebuild_parameter
 *   (and _rebuild_parameter_with_state, its state discarded),
 *   torch.<Type>Storage (as the storage type in a persistent id),
 *   _codecs.encode (protocol 2's spelling of a bytes object).
 * Nothing is ever imported or executed.  Any other global (os.system,
 * builtins.eval, torch.storage._load_from_bytes, which would unpickle again)
 * and the object-building opcodes INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT* and text
 * PERSID are refused with "refusing to load <file>: ...".  BUILD is accepted
 * and its state discarded (OrderedDict state dicts carry a _metadata attribute).
 *
 * Naming rule (documented in man/iris.1): the result must be a dict.  When it
 * has a key "state_dict", "model_state_dict", "model" or "module" (tried in
 * that order) whose value is a dict holding tensors, that dict is the root;
 * otherwise the whole result is.  Tensors in nested dicts/lists are named by
 * joining keys with '.' (integer keys and list positions in decimal); entries
 * under other key types, and non-tensor values, are skipped.
 *
 * Views: a tensor is (storage, offset, shape, stride).  A row-major contiguous
 * view points into the storage (the mmap'd file); a strided view (transpose,
 * step slice, expand) is gathered into an owned contiguous copy (t.owns_data
 * = 1).  Dtypes: Float/Half/BFloat16/Int storages map to F32/F16/BF16/I32;
 * Long/Double/Short/Char/Byte/Bool are listed with t.dtype = -1 and their
 * safetensors spelling (I64, F64, I16, I8, U8, BOOL), like safetensors.c.
 * At most IRIS_MAX_DIMS dimensions.
 */
#ifndef IRIS_TORCH_PICKLE_H
#define IRIS_TORCH_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

/* Returns the bytes of storage KEY (the "data/<key>" entry), or NULL with an
 * error set. */
typedef const uint8_t *(*iris_torch_storage_fn)(void *ctx, const char *key, uint64_t *nbytes);

typedef struct {
    const char *label;            /* file name for messages */
    iris_torch_storage_fn storage;
    void *ctx;
    uint64_t copy_budget;         /* most bytes of strided-view copies allowed */
} iris_torch_pickle_opts;

/* Runs data.pkl and returns the named tensors (*out, *n; names malloc'd,
 * dtype_name static, owned copies flagged t.owns_data).  0 on success; -1
 * with a message naming the file (and the offset for malformed streams). */
int iris_torch_unpickle(const void *pkl, size_t len, const iris_torch_pickle_opts *o,
                        iris_st_tensor **out, int *n);
/* Frees what iris_torch_unpickle returned. */
void iris_torch_tensors_free(iris_st_tensor *ts, int n);

#endif

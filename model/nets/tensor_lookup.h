/* tensor_lookup.h — how a network module finds its tensors by name without
 * caring where they live: a weights file (iris_weights) for inference, the
 * trainer's f32 parameters for training, anything else a caller adapts.
 *
 * Contract: a lookup returns the tensor called `name`, or NULL (silently)
 * when there is none; the tensor must stay valid as long as the module using
 * it, and be usable by the module's backend (CPU: as loaded; CUDA: after
 * be->weight_upload).
 */
#ifndef IRIS_TENSOR_LOOKUP_H
#define IRIS_TENSOR_LOOKUP_H

#include "../core/tensor.h"

typedef const iris_tensor *(*iris_tensor_lookup)(void *ctx, const char *name);

/* Adapter over iris_weights_find: pass the iris_weights * as ctx. */
const iris_tensor *iris_weights_lookup(void *weights, const char *name);

/* Looks `name` up and checks its shape (ndim dims, row-major).  A missing
 * tensor is an error unless optional (then NULL without error); a tensor of
 * another shape is always an error.  *err is set to 1 on error (with
 * iris_set_error naming the tensor) and left alone otherwise. */
const iris_tensor *iris_lookup_shaped(iris_tensor_lookup fn, void *ctx, const char *name, int ndim,
                                      const int64_t *shape, int optional, int *err);

/* Reads element 0 of a one-element tensor in be's memory (f32, f16 or bf16),
 * e.g. a tanh gate; 0 on success. */
struct iris_backend;
int iris_read_scalar(const struct iris_backend *be, const iris_tensor *t, float *out);

#endif

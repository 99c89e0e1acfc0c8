/* weights.h — one name -> tensor view over wherever a model's weights live.
 *
 * A model directory in Hugging Face layout (model.safetensors, or shards listed
 * in model.safetensors.index.json) or a single .gguf file.  Networks look their
 * tensors up by name here and never care which format they came from.
 *
 * Contract: iris_weights_open fails with a one-line message when the path holds
 * no weights, a shard is missing or any file is malformed.  iris_weights_get
 * returns NULL and sets an error naming the tensor and the file when a tensor
 * is absent; iris_weights_find returns NULL silently (for optional tensors).
 *
 * PATH may be a .gguf file (or any file starting with the GGUF magic), a
 * .safetensors file, a torch.save checkpoint (.bin/.pt/.pth or any file
 * starting with the zip magic; see torch_checkpoint.h), or a directory holding
 * model.safetensors.index.json (every shard in its weight_map must exist and
 * hold the tensors the map assigns to it) or model.safetensors, or else
 * pytorch_model.bin.index.json (same rules) or pytorch_model.bin.  Torch
 * checkpoints are presented as safetensors sets (st[], n_files).  Lookups are
 * hashed.  A tensor whose dtype iris cannot compute with (dtype -1) is returned
 * by iris_weights_find as it is, while iris_weights_get refuses it, naming the
 * tensor, the file and the dtype.
 */
#ifndef IRIS_WEIGHTS_H
#define IRIS_WEIGHTS_H

#include "../core/tensor.h"
#include "gguf.h"
#include "safetensors.h"

typedef struct iris_weights {
    char *path;             /* the directory or .gguf file given */
    int n_files;
    iris_safetensors *st;   /* n_files entries when safetensors or torch.save */
    iris_gguf *gguf;        /* non-NULL for a .gguf file */
    struct iris_name_index *index; /* safetensors: name -> file << 32 | tensor */
} iris_weights;

int iris_weights_open(iris_weights *w, const char *path);
/* Opens an additional .gguf (e.g. an mmproj) as its own set. */
void iris_weights_close(iris_weights *w);
const iris_tensor *iris_weights_find(const iris_weights *w, const char *name);
const iris_tensor *iris_weights_get(const iris_weights *w, const char *name);
/* Like get, and checks the shape (row-major); ndim dims in shape[]. */
const iris_tensor *iris_weights_get_shaped(const iris_weights *w, const char *name,
                                           int ndim, const int64_t *shape);
/* The file a tensor lives in (for messages), or NULL when absent. */
const char *iris_weights_file_of(const iris_weights *w, const char *name);
/* The dtype as the file spells it ("F32", "Q4_K", "I64"), or NULL when absent. */
const char *iris_weights_dtype_name(const iris_weights *w, const char *name);

#endif

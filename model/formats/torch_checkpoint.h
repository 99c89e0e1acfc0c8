/* torch_checkpoint.h — PyTorch checkpoints (torch.save, >= 1.6 zip format).
 *
 * A .bin/.pt/.pth file written by torch.save is a zip archive holding
 * <prefix>/data.pkl (the pickled dict), <prefix>/data/<key> (one raw storage
 * each), <prefix>/version and maybe <prefix>/byteorder.  The checkpoint is
 * presented as an iris_safetensors set (same tensor table, name index and
 * close function) so everything that lists or looks up safetensors tensors
 * works unchanged.  data.pkl is run by the data-only VM in torch_pickle.h:
 * no pickle code is ever executed; see there for what is refused and for the
 * naming rule of nested dicts.
 *
 * Contract: iris_torch_open mmaps PATH and fails with a one-line message for
 * a legacy (pre-1.6, non-zip) torch.save file, a big-endian archive, a
 * compressed entry, a pickle that calls anything but tensor rebuilding, or any
 * malformed structure.  Contiguous tensors point into the mapping; strided
 * views are owned copies (freed by iris_st_close).
 */
#ifndef IRIS_TORCH_CHECKPOINT_H
#define IRIS_TORCH_CHECKPOINT_H

#include <stddef.h>

#include "safetensors.h"

/* 1 when the bytes look like a torch.save file (zip, or the legacy pickle). */
int iris_torch_looks_like(const void *buf, size_t len);
int iris_torch_open(iris_safetensors *st, const char *path);
/* The in-memory half of iris_torch_open (buf must outlive st). */
int iris_torch_parse(iris_safetensors *st, const void *buf, size_t len, const char *name);

#endif

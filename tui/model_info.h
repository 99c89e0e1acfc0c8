/* model_info.h — what the Models panel shows about a local model: the
 * architecture from config.json, the parameter count and the most common
 * dtype from the weights' headers (nothing is read but headers), the size on
 * disk.  No ncurses; callable from any thread. */
#ifndef IRIS_MODEL_INFO_H
#define IRIS_MODEL_INFO_H

#include <stdint.h>

typedef struct {
    char arch[128];          /* architectures[0] or model_type, "" if unknown */
    char dtype[16];          /* the dtype most parameters have */
    int64_t params;          /* -1 when the weights could not be read */
    int64_t bytes;           /* files in the folder (links followed) */
    int n_tensors;
    int has_vision;
    char error[256];         /* why params is -1 */
} model_info;

/* Fills info for a model folder or .gguf file; never fails (see error). */
void model_info_get(const char *path, model_info *info);
/* Bytes of the regular files under path (symlinks followed, one level of folders). */
int64_t model_info_disk_size(const char *path);

#endif

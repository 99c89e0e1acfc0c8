/* file_map.h — read-only memory mapping of a whole model file.
 *
 * Weight files are mapped rather than read so that opening a 14 GB checkpoint
 * costs nothing until a tensor is touched.  An empty file maps to (NULL, 0).
 */
#ifndef IRIS_FILE_MAP_H
#define IRIS_FILE_MAP_H

#include <stddef.h>

/* 0 on success; -1 with iris_last_error() naming path. */
int iris_map_file(const char *path, void **map, size_t *len);
void iris_unmap_file(void *map, size_t len);

#endif

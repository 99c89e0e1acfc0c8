/* name_index.h — string -> integer hash map for tensor-name lookups.
 *
 * A checkpoint holds hundreds of tensors and a network looks each one up by
 * name while loading, so lookups must not be linear scans.  Open addressing
 * with FNV-1a; keys are borrowed (they must outlive the index), values are
 * non-negative integers chosen by the caller (a tensor index, or file and
 * tensor packed together).
 */
#ifndef IRIS_NAME_INDEX_H
#define IRIS_NAME_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct iris_name_index iris_name_index;

/* expected: number of keys planned (the table grows when exceeded). NULL on OOM. */
iris_name_index *iris_name_index_new(size_t expected);
void iris_name_index_free(iris_name_index *ix);
/* Returns 0 when inserted, 1 when the key already exists (value unchanged),
 * -1 on OOM. value must be >= 0. */
int iris_name_index_put(iris_name_index *ix, const char *key, int64_t value);
/* Returns the value, or -1 when the key is absent (or ix is NULL). */
int64_t iris_name_index_get(const iris_name_index *ix, const char *key);

#endif

/* file_util.h — small file helpers shared by the loaders.
 *
 * Contract: functions return NULL/-1 with iris_last_error() naming the path.
 */
#ifndef IRIS_FILE_UTIL_H
#define IRIS_FILE_UTIL_H

#include <stddef.h>

/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer. */
char *iris_read_file(const char *path, size_t *len, size_t max_bytes);
int iris_is_dir(const char *path);
int iris_file_exists(const char *path);
/* Joins dir and name into a malloc'd path. */
char *iris_path_join(const char *dir, const char *name);
/* True when path ends with suffix (case-insensitive). */
int iris_has_suffix(const char *path, const char *suffix);
/* Creates path and its missing parents (0755); 0 when it exists as a directory. */
int iris_mkdir_p(const char *path);
/* Writes text and a newline as dir/file, atomically (core/atomic_file.h). */
int iris_write_text_file(const char *dir, const char *file, const char *text);
/* The same for a cJSON tree, printed indented; takes j (freed, also on error;
 * NULL counts as out of memory, so a failed build can be passed straight in). */
struct cJSON;
int iris_write_json_file(const char *dir, const char *file, struct cJSON *j);

#endif

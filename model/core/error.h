/* error.h — one-line error messages carried from deep in the engine to the CLI.
 *
 * Contract: a failing engine function returns an error code (-1 or NULL) after
 * calling iris_set_error() with a message that names the file or object and the
 * problem ("model.safetensors: header length 9e18 exceeds file size 1024").
 * The message is per thread and stays until the next iris_set_error().
 */
#ifndef IRIS_ERROR_H
#define IRIS_ERROR_H

#if defined(__GNUC__)
#define IRIS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IRIS_PRINTF(a, b)
#endif

void iris_set_error(const char *fmt, ...) IRIS_PRINTF(1, 2);
const char *iris_last_error(void);
void iris_clear_error(void);

#endif

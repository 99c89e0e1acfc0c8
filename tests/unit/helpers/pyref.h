/* pyref.h — run a Python reference (PyTorch, transformers, ...) on arrays a
 * cmocka test wrote, and read its answers back.
 *
 * Usage (one temporary directory per reference run):
 *
 *     PYREF_REQUIRE();                          // skip() the test without a venv
 *     pyref *r = pyref_new();                   // makes the temp dir
 *     pyref_put_f32(r, "x", x, n);              // -> <dir>/x.f32 (raw little-endian)
 *     pyref_param(r, "eps", 1e-5);              // -> line "eps 1e-05" in <dir>/params.txt
 *     assert_int_equal(pyref_run(r, "cpu_ops_ref", "rmsnorm"), 0);
 *     float *y = pyref_get_f32(r, "y", n);      // reads <dir>/y.f32; NULL unless n floats
 *     ...; free(y); pyref_free(r);              // removes the dir
 *
 * pyref_run executes `$IRIS_VENV/bin/python tests/ref/<script>.py <op> <dir>`
 * from the current directory (the repository root, as `make unit` runs tests);
 * IRIS_VENV defaults to `.venv`.  The script reads params.txt (one "name value"
 * per line) and the <name>.<f32|i32|bin> files, and writes <name>.f32 or
 * <name>.i32 outputs.  Its stderr goes to the test's output.  Names are plain
 * identifiers (letters, digits, '_').
 */
#ifndef IRIS_TESTS_PYREF_H
#define IRIS_TESTS_PYREF_H

#include <stddef.h>
#include <stdint.h>

typedef struct pyref pyref;

/* Path of the venv's python when it exists and is executable, else NULL. */
const char *pyref_python(void);

/* Skips the current cmocka test with a message when the venv is missing
 * (cmocka.h must be included first). */
#define PYREF_REQUIRE()                                                              \
    do {                                                                             \
        if (!pyref_python()) {                                                       \
            print_message("SKIP: no Python venv at $IRIS_VENV (default .venv); "    \
                          "set IRIS_VENV=/path/to/venv to compare with PyTorch\n"); \
            skip();                                                                  \
        }                                                                            \
    } while (0)

/* A fresh temp directory; NULL (and a message on stderr) on failure. */
pyref *pyref_new(void);
/* Writes name.f32 / name.i32 / name.bin with n elements (bytes for _raw). */
int pyref_put_f32(pyref *r, const char *name, const float *a, size_t n);
int pyref_put_i32(pyref *r, const char *name, const int32_t *a, size_t n);
int pyref_put_raw(pyref *r, const char *name, const void *data, size_t bytes);
/* Appends "name value" to params.txt (value printed exactly, %.17g). */
int pyref_param(pyref *r, const char *name, double value);
/* Runs the script; 0 when it exited 0, -1 otherwise (reason on stderr). */
int pyref_run(pyref *r, const char *script, const char *op);
/* The output name.f32 / name.i32 as a malloc'd array of exactly n elements;
 * NULL (message on stderr) when missing or of another size. */
float *pyref_get_f32(pyref *r, const char *name, size_t n);
int32_t *pyref_get_i32(pyref *r, const char *name, size_t n);
/* The temp directory (for scripts that need extra files). */
const char *pyref_dir(const pyref *r);
/* Removes the directory and everything in it. */
void pyref_free(pyref *r);

#endif

/* Finds the CUDA backend plugin (bin/libiris-cuda.so, built only where nvcc
 * exists) at run time, so the CPU-only binary needs no CUDA library at all. */
#include "backend.h"
#include "backend_train.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef const iris_backend *(*plugin_backend_fn)(char *why, size_t why_len);
typedef const char *(*plugin_name_fn)(void);

static void *plugin;
static int plugin_tried;
static char plugin_why[256];

static void *open_plugin(void)
{
    if (plugin_tried) return plugin;
    plugin_tried = 1;
    const char *env = getenv("IRIS_CUDA_PLUGIN");
    char path[PATH_MAX];
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
        if (n <= 0) { snprintf(plugin_why, sizeof plugin_why, "cannot locate the iris binary"); return NULL; }
        path[n] = 0;
        char *slash = strrchr(path, '/');
        if (slash) slash[1] = 0; else path[0] = 0;
        strcat(path, "libiris-cuda.so");
    }
    plugin = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!plugin) {
        const char *e = dlerror();
        snprintf(plugin_why, sizeof plugin_why, "CUDA backend not available (%s)", e ? e : path);
    }
    return plugin;
}

const iris_backend *iris_cuda_backend(char *why, size_t why_len)
{
    void *h = open_plugin();
    if (!h) {
        if (why) snprintf(why, why_len, "%s", plugin_why);
        return NULL;
    }
    plugin_backend_fn fn = (plugin_backend_fn)dlsym(h, "iris_cuda_plugin_backend");
    if (!fn) {
        if (why) snprintf(why, why_len, "libiris-cuda.so lacks iris_cuda_plugin_backend");
        return NULL;
    }
    return fn(why, why_len);
}

const char *iris_cuda_device_name(void)
{
    void *h = open_plugin();
    if (!h) return "none";
    plugin_name_fn fn = (plugin_name_fn)dlsym(h, "iris_cuda_plugin_device_name");
    return fn ? fn() : "none";
}

typedef const iris_train_ops *(*plugin_train_fn)(char *why, size_t why_len);
typedef void (*plugin_void_fn)(void);

const iris_train_ops *iris_cuda_train_ops(char *why, size_t why_len)
{
    void *h = open_plugin();
    if (!h) {
        if (why) snprintf(why, why_len, "%s", plugin_why);
        return NULL;
    }
    plugin_train_fn fn = (plugin_train_fn)dlsym(h, "iris_cuda_plugin_train_ops");
    if (!fn) {
        if (why) snprintf(why, why_len, "libiris-cuda.so lacks iris_cuda_plugin_train_ops");
        return NULL;
    }
    return fn(why, why_len);
}

void iris_cuda_clear_error(void)
{
    void *h = open_plugin();
    if (!h) return;
    plugin_void_fn fn = (plugin_void_fn)dlsym(h, "iris_cuda_plugin_clear_error");
    if (fn) fn();
}

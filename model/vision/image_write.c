#include "image_write.h"

#include <stdio.h>

#include "core/atomic_file.h"
#include "core/error.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

static void to_file(void *ctx, void *data, int size)
{
    fwrite(data, 1, (size_t)size, (FILE *)ctx);
}

int iris_png_write(const char *path, const uint8_t *rgb, int width, int height)
{
    iris_atomic_file af;
    if (iris_atomic_open(&af, path, "wb")) return -1;
    af.no_sync = 1;
    stbi_write_png_compression_level = 2;
    if (!stbi_write_png_to_func(to_file, af.f, width, height, 3, rgb, width * 3)) {
        iris_atomic_abort(&af);
        iris_set_error("%s: PNG encoding failed", path);
        return -1;
    }
    return iris_atomic_commit(&af);
}

/* cmd_image_preprocess.c — `iris image-preprocess`: an image file to the f32
 * tensor a vision tower would see, for checking against the Python processors
 * and for inspecting what the model is given. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "core/error.h"
#include "vision/image_load.h"
#include "vision/preprocess.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: iris image-preprocess -i IMAGE [-o OUT.f32] [--u8 OUT.rgb]\n"
            "                             [--mode pad|crop|resize] [--size N] [--crop N]\n"
            "                             [--mean R,G,B] [--std R,G,B] [--repeat N]\n\n"
            "Decodes IMAGE (JPEG, PNG, BMP, GIF, PNM) and preprocesses it as LLaVA does:\n"
            "  crop    resize the shortest side to --size (bicubic), centre-crop --crop\n"
            "          (transformers' CLIPImageProcessor, llava-hf; the default)\n"
            "  pad     pad to a square with int(mean*255) first (original LLaVA-1.5)\n"
            "  resize  bicubic straight to --crop x --crop (SigLIP processors)\n"
            "OUT.f32 receives [3, crop, crop] little-endian float32 (CHW), normalised\n"
            "with --mean/--std (default: CLIP's).  --u8 writes the 8-bit pixels before\n"
            "normalisation (HWC, RGB).  --size defaults to 336; --crop to --size.\n"
            "--repeat N decodes and preprocesses N times and prints the mean times.\n");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse3(const char *s, double v[3])
{
    char *end;
    for (int i = 0; i < 3; i++) {
        v[i] = strtod(s, &end);
        if (end == s || (i < 2 && *end != ',') || (i == 2 && *end)) return -1;
        s = end + 1;
    }
    return 0;
}

static int write_file(const char *path, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, bytes, f);
    int rc = fclose(f);
    return n == bytes && rc == 0 ? 0 : -1;
}

int cmd_image_preprocess(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, 0, 'i'}, {"output", required_argument, 0, 'o'},
        {"u8", required_argument, 0, 'u'},    {"mode", required_argument, 0, 'm'},
        {"size", required_argument, 0, 's'},  {"crop", required_argument, 0, 'c'},
        {"mean", required_argument, 0, 'M'},  {"std", required_argument, 0, 'S'},
        {"repeat", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *in = NULL, *out = NULL, *out_u8 = NULL, *mode_name = "crop";
    const char *mean_s = NULL, *std_s = NULL;
    int size = 336, crop = 0, repeat = 1, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'u': out_u8 = optarg; break;
        case 'm': mode_name = optarg; break;
        case 's': size = atoi(optarg); break;
        case 'c': crop = atoi(optarg); break;
        case 'M': mean_s = optarg; break;
        case 'S': std_s = optarg; break;
        case 'r': repeat = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int mode = iris_preproc_mode_from_name(mode_name);
    if (!in || optind != argc || mode < 0 || size <= 0 || size > 4096 || crop < 0 || crop > 4096 ||
        repeat < 1) {
        if (mode < 0) fprintf(stderr, "iris image-preprocess: unknown mode '%s'\n", mode_name);
        usage(stderr);
        return 2;
    }
    iris_preproc p;
    iris_preproc_clip(&p, (iris_preproc_mode)mode, size);
    if (crop) p.crop_w = p.crop_h = crop;
    double v[3];
    if (mean_s) {
        if (parse3(mean_s, v)) {
            fprintf(stderr, "iris image-preprocess: --mean wants three numbers R,G,B\n");
            return 2;
        }
        iris_preproc_set_mean(&p, v);
    }
    if (std_s) {
        if (parse3(std_s, v) || v[0] == 0 || v[1] == 0 || v[2] == 0) {
            fprintf(stderr, "iris image-preprocess: --std wants three non-zero numbers R,G,B\n");
            return 2;
        }
        for (int i = 0; i < 3; i++) p.std[i] = (float)v[i];
    }

    iris_image img;
    double t0 = now();
    for (int r = 0; r < repeat; r++) {
        if (r) iris_image_free(&img);
        if (iris_image_load(&img, in)) {
            fprintf(stderr, "iris image-preprocess: %s\n", iris_last_error());
            return 1;
        }
    }
    double t_decode = (now() - t0) / repeat;
    size_t plane = (size_t)p.crop_w * p.crop_h;
    uint8_t *px = malloc(plane * 3);
    float *t = malloc(plane * 3 * sizeof *t);
    int rc = 1;
    if (!px || !t) {
        fprintf(stderr, "iris image-preprocess: out of memory\n");
        goto done;
    }
    t0 = now();
    for (int r = 0; r < repeat; r++) {
        if (iris_preprocess_u8(&img, &p, px)) {
            fprintf(stderr, "iris image-preprocess: %s: %s\n", in, iris_last_error());
            goto done;
        }
        iris_preproc_normalise(&p, px, t);
    }
    double t_pre = (now() - t0) / repeat;
    if (out && write_file(out, t, plane * 3 * sizeof *t)) {
        fprintf(stderr, "iris image-preprocess: cannot write %s\n", out);
        goto done;
    }
    if (out_u8 && write_file(out_u8, px, plane * 3)) {
        fprintf(stderr, "iris image-preprocess: cannot write %s\n", out_u8);
        goto done;
    }
    printf("%s: %dx%d -> 3x%dx%d (%s)", in, img.width, img.height, p.crop_h, p.crop_w, mode_name);
    if (repeat > 1) printf("; decode %.4f s, preprocess %.4f s (mean of %d)", t_decode, t_pre, repeat);
    printf("\n");
    rc = 0;
done:
    free(px);
    free(t);
    iris_image_free(&img);
    return rc;
}

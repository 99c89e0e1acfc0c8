/* cmd_vision_encode.c — `iris vision-encode`: an image (or a pixel tensor)
 * through a model's vision tower and projector, features written as f32.
 * The image half of visual chat, runnable alone to check it against
 * transformers and to time it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "core/backend.h"
#include "core/backend_train.h"
#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/weights.h"
#include "nets/llava_vision.h"
#include "train/clip_train.h"
#include "vision/image_load.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: iris vision-encode -m MODEL_DIR (-i IMAGE | --pixels PIX.f32) [-o OUT.f32]\n"
            "                          [--mode crop|pad] [--layer N] [--no-projector]\n"
            "                          [--repeat N] [--threads N]\n"
            "                          [--grad DY.f32 --grad-out GRADS.safetensors [--batch N]]\n\n"
            "Runs the vision half of a LLaVA model (config.json + safetensors in\n"
            "MODEL_DIR, llava-hf layout, or a bare CLIPVisionModel) on IMAGE, or on an\n"
            "already preprocessed [3,S,S] float32 tensor, and writes the image-token\n"
            "features [n_tokens, dim] as float32.  --layer overrides\n"
            "vision_feature_layer; --no-projector writes the tower's features.\n"
            "--repeat times N encodings and prints the mean wall time.\n"
            "--grad runs the trainable tower instead (N images of pixels, the tower's\n"
            "features, no projector), back-propagates DY (d(features), N x [n_tokens,\n"
            "hidden] float32) and writes every tower parameter's gradient, named as\n"
            "in the checkpoint, to GRADS.safetensors.\n");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds used by this process (all threads): on a shared machine wall
 * time alone says little. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static float *read_f32(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *p = malloc(n * sizeof *p);
    int extra = 0;
    if (p && fread(p, sizeof *p, n, f) == n && fread(&extra, 1, 1, f) == 0) {
        fclose(f);
        return p;
    }
    free(p);
    fclose(f);
    return NULL;
}

/* --grad: the training tower's features of n images (to out) and the
 * gradients of every tower parameter for d(features) = dy. */
static int tower_grads(iris_llava_vision *v, const float *px, int nimg, const char *dy_path, const char *grad_out,
                       const char *out)
{
    iris_param_set ps;
    iris_clip_train t;
    int rc = 1, ps_open = 0, t_open = 0;
    float *dy = NULL, *feats = NULL;
    const char **names = NULL;
    iris_tensor *ts = NULL;
    if (iris_params_init(&ps, iris_cpu_backend(), 64)) goto fail;
    ps_open = 1;
    if (iris_clip_train_init(&t, &ps, &v->clip, v->feature_layer, v->keep_class_token, iris_cpu_train_ops(), nimg))
        goto fail;
    t_open = 1;
    if (iris_clip_train_set_trainable(&t, &ps)) goto fail;
    size_t nf = (size_t)iris_clip_train_n_feat(&t) * v->clip.cfg.hidden;
    if (!(dy = read_f32(dy_path, nf * nimg))) {
        fprintf(stderr, "iris vision-encode: %s: cannot read %zu float32 values (exactly)\n", dy_path, nf * nimg);
        goto done;
    }
    if (iris_clip_train_forward(&t, &ps, px, nimg)) goto fail;
    if (!(feats = malloc(nf * nimg * sizeof *feats))) goto oom;
    for (int b = 0; b < nimg; b++) {
        memcpy(feats + nf * b, iris_clip_train_features(&t, b), nf * sizeof *feats);
        if (iris_clip_train_set_dfeatures(&t, b, dy + nf * b)) goto fail;
    }
    if (iris_clip_train_backward(&t, &ps)) goto fail;
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(feats, sizeof *feats, nf * nimg, f) != nf * nimg || fclose(f)) {
            if (f) fclose(f);
            fprintf(stderr, "iris vision-encode: cannot write %s\n", out);
            goto done;
        }
    }
    names = calloc((size_t)ps.n, sizeof *names);
    ts = calloc((size_t)ps.n, sizeof *ts);
    if (!names || !ts) goto oom;
    for (int i = 0; i < ps.n; i++) {
        names[i] = ps.p[i].name;
        ts[i] = ps.p[i].t;
        ts[i].data = ps.p[i].g;
        ts[i].owns_data = 0;
    }
    if (iris_st_write(grad_out, ps.n, names, ts, NULL)) goto fail;
    printf("gradients: %d tower parameters, %d images, %d layers run\n", ps.n, nimg, t.n_run);
    rc = 0;
    goto done;
oom:
    fprintf(stderr, "iris vision-encode: out of memory\n");
    goto done;
fail:
    fprintf(stderr, "iris vision-encode: %s\n", iris_last_error());
done:
    free(names);
    free(ts);
    free(dy);
    free(feats);
    if (t_open) iris_clip_train_free(&t);
    if (ps_open) iris_params_free(&ps);
    return rc;
}

int cmd_vision_encode(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"input", required_argument, 0, 'i'},
        {"pixels", required_argument, 0, 'p'}, {"output", required_argument, 0, 'o'},
        {"mode", required_argument, 0, 'M'},   {"layer", required_argument, 0, 'l'},
        {"no-projector", no_argument, 0, 'n'}, {"repeat", required_argument, 0, 'r'},
        {"threads", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {"grad", required_argument, 0, 'g'},   {"grad-out", required_argument, 0, 'G'},
        {"batch", required_argument, 0, 'b'},
        {0, 0, 0, 0}};
    const char *model = NULL, *image = NULL, *pix = NULL, *out = NULL, *mode = NULL, *grad = NULL,
               *grad_out = NULL;
    int layer = 0, have_layer = 0, no_proj = 0, repeat = 1, threads = 0, batch = 1, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'i': image = optarg; break;
        case 'p': pix = optarg; break;
        case 'o': out = optarg; break;
        case 'M': mode = optarg; break;
        case 'l': layer = atoi(optarg); have_layer = 1; break;
        case 'n': no_proj = 1; break;
        case 'r': repeat = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'g': grad = optarg; break;
        case 'G': grad_out = optarg; break;
        case 'b': batch = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int pmode = mode ? iris_preproc_mode_from_name(mode) : IRIS_PREPROC_CROP;
    if (!model || !!image == !!pix || optind != argc || pmode < 0 || repeat < 1 || threads < 0 ||
        !grad != !grad_out || batch < 1 || batch > 4096 || (batch > 1 && (!grad || !pix))) {
        usage(stderr);
        return 2;
    }
    if (threads) iris_cpu_set_threads(threads);
    const iris_backend *be = iris_cpu_backend();
    iris_weights w;
    if (iris_weights_open(&w, model)) {
        fprintf(stderr, "iris vision-encode: %s\n", iris_last_error());
        return 1;
    }
    /* config.json sits next to the weights (MODEL_DIR, or the file's directory) */
    char dir[4096];
    struct stat st;
    snprintf(dir, sizeof dir, "%s", model);
    if (stat(model, &st) == 0 && !S_ISDIR(st.st_mode)) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    iris_llava_vision v;
    iris_image img = {0};
    float *px = NULL, *feats = NULL, *host = NULL;
    int rc = 1;
    if (iris_llava_vision_open(&v, be, &w, dir)) {
        fprintf(stderr, "iris vision-encode: %s\n", iris_last_error());
        iris_weights_close(&w);
        return 1;
    }
    if (have_layer) v.feature_layer = layer;
    if (no_proj) v.has_projector = 0;
    v.pre.mode = (iris_preproc_mode)pmode;
    int S = v.clip.cfg.image_size, n = iris_llava_vision_n_tokens(&v), d = iris_llava_vision_dim(&v);
    size_t npx = (size_t)v.clip.cfg.channels * S * S;
    if (pix) {
        if (!(px = read_f32(pix, npx * batch))) {
            fprintf(stderr, "iris vision-encode: %s: cannot read %zu float32 values (exactly)\n", pix,
                    npx * batch);
            goto done;
        }
    } else {
        if (iris_image_load(&img, image)) {
            fprintf(stderr, "iris vision-encode: %s\n", iris_last_error());
            goto done;
        }
        if (!(px = malloc(npx * sizeof *px)) || iris_preprocess(&img, &v.pre, px)) {
            fprintf(stderr, "iris vision-encode: %s: %s\n", image, iris_last_error());
            goto done;
        }
    }
    if (grad) {
        rc = tower_grads(&v, px, batch, grad, grad_out, out);
        goto done;
    }
    feats = be->alloc((size_t)n * d * sizeof(float));
    host = malloc((size_t)n * d * sizeof(float));
    if (!feats || !host) {
        fprintf(stderr, "iris vision-encode: out of memory\n");
        goto done;
    }
    double t0 = now(), c0 = cpu_seconds();
    for (int r = 0; r < repeat; r++)
        if (iris_llava_vision_encode_pixels(&v, px, feats)) {
            fprintf(stderr, "iris vision-encode: %s\n", iris_last_error());
            goto done;
        }
    double dt = (now() - t0) / repeat, dc = (cpu_seconds() - c0) / repeat;
    if (be->download(host, feats, (size_t)n * d * sizeof(float))) {
        fprintf(stderr, "iris vision-encode: cannot read the features back\n");
        goto done;
    }
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(host, sizeof(float), (size_t)n * d, f) != (size_t)n * d || fclose(f)) {
            if (f) fclose(f);
            fprintf(stderr, "iris vision-encode: cannot write %s\n", out);
            goto done;
        }
    }
    printf("features: %d x %d (layer %d, %s); encode %.3f s (%.3f CPU s)\n", n, d, v.feature_layer,
           v.has_projector ? "projected" : "tower", dt, dc);
    rc = 0;
done:
    if (feats) be->free(feats);
    free(host);
    free(px);
    iris_image_free(&img);
    iris_llava_vision_close(&v);
    iris_weights_close(&w);
    return rc;
}

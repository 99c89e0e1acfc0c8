/* iris bench — prompt-processing (pp) and generation (tg) tokens/s, reported
 * beside the machine's own limits measured in the same run: memory copy
 * bandwidth (the roofline for generation) and OpenBLAS sgemm GFLOP/s (the
 * ceiling for prompt processing). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "core/cpu_probe.h"
#include "core/error.h"
#include "core/timer.h"
#include "nets/flamingo.h"
#include "nets/lm.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: iris bench -m MODEL [-p 128] [-n 64] [-r 3] [-i IMAGE [--images N]] [--threads N]\n"
        "                  [--device cpu|cuda] [--json]\n"
        "  -p N   prompt tokens processed in one batch (pp)\n"
        "  -n N   tokens generated one at a time from an empty context (tg)\n"
        "  -r N   repetitions after one warm-up; the mean is reported\n"
        "  -i IMAGE  vision models: time image to first token (decode, preprocess, vision\n"
        "          tower, projector, prefill of the image and a -p token question;\n"
        "          OpenFlamingo: tower, perceiver, prefill of <image> and the question)\n"
        "  --images N  OpenFlamingo: N images, prompt <image> question repeated N times (few-shot)\n"
        "  --no-probe  skip measuring copy bandwidth and sgemm throughput\n");
}

/* Parameters a token's forward pass multiplies through, lm_head excluded. */
static double layer_matmul_params(const iris_llama_config *c)
{
    double qd = (double)c->n_heads * c->head_dim, kvd = (double)c->n_kv_heads * c->head_dim;
    return c->n_layers * (c->dim * (qd + 2 * kvd) + qd * c->dim + 3.0 * c->dim * c->ffn_dim);
}

/* Image to first token: everything a user waits for between giving an image
 * and seeing the answer start.  LLaVA: BOS, the image's rows, the question.
 * OpenFlamingo: "<image>" and the question (its tokenizer adds no BOS); the
 * image reaches the text through the cross-attention blocks. */
static int bench_image(iris_lm *lm, const char *image, int n_images, int n_question, int tg, int reps, int json,
                       const char *model)
{
    const iris_flamingo *of = lm->flamingo;
    if (!lm->vision && !of) {
        fprintf(stderr, "iris bench: -i needs a vision model; %s has no vision tower\n", model);
        return 1;
    }
    if (n_images > 1 && !of) {
        fprintf(stderr, "iris bench: --images is for OpenFlamingo models\n");
        return 2;
    }
    int V = lm->net.cfg.vocab_size;
    float *logits = malloc((size_t)V * sizeof *logits);
    int32_t *seq = malloc((size_t)n_images * (2 + lm->n_img_rows + n_question) * sizeof *seq);
    if (!logits || !seq) {
        free(logits);
        free(seq);
        fprintf(stderr, "iris bench: out of memory\n");
        return 1;
    }
    /* question ids below OpenFlamingo's added tokens, so none is an <image> */
    int q_vocab = of ? (of->eoc_token < of->media_token ? of->eoc_token : of->media_token) : V;
    double enc = 0, pre = 0, gen = 0, tower = 0, media = 0;
    int n_seq = 0;
    for (int rep = 0; rep <= reps; rep++) {
        iris_lm_clear_images(lm);
        iris_llama_reset(&lm->net);
        double t0 = iris_now(), t_tower = 0, t_media = 0;
        for (int k = 0; k < n_images; k++) {
            if (iris_lm_add_image(lm, image) < 0) goto fail;
            if (of) {
                t_tower += of->last_tower_s;
                t_media += of->last_media_s;
            }
        }
        double t1 = iris_now();
        n_seq = 0;
        for (int k = 0; k < n_images; k++) {   /* few-shot: <image> question, <image> question, ... */
            if (of) {
                seq[n_seq++] = of->media_token;
            } else {
                seq[n_seq++] = lm->net.cfg.bos_id >= 0 ? lm->net.cfg.bos_id : 0;
                for (int r = 0; r < lm->n_img_rows; r++) seq[n_seq++] = -(1 + r);
            }
            for (int i = 0; i < n_question; i++) seq[n_seq++] = (int32_t)((i * 7919 + 13) % q_vocab);
        }
        if (iris_lm_forward_seq(lm, seq, n_seq, logits)) goto fail;
        double t2 = iris_now();
        int32_t t = 0;
        for (int i = 0; i < tg; i++) {
            for (int k = 1; k < V; k++)
                if (logits[k] > logits[t]) t = k;
            if (iris_llama_forward(&lm->net, &t, 1, logits, 0)) goto fail;
        }
        double t3 = iris_now();
        if (rep > 0) {
            enc += t1 - t0;
            pre += t2 - t1;
            gen += t3 - t2;
            tower += t_tower;
            media += t_media;
        }
    }
    enc /= reps;
    pre /= reps;
    gen /= reps;
    tower /= reps;
    media /= reps;
    if (json) {
        printf("{\"model\": \"%s\", \"arch\": \"%s\", \"backend\": \"%s\", \"image\": \"%s\", \"images\": %d, "
               "\"image_tokens\": %d, \"question_tokens\": %d, \"prefill_tokens\": %d, \"image_encode_s\": %.6f, ",
               model, of ? "openflamingo" : "llava", lm->net.be->name, image, n_images,
               of ? of->n_latents : lm->n_img_rows, n_question, n_seq, enc);
        if (of) printf("\"tower_s\": %.6f, \"perceiver_s\": %.6f, ", tower, media);
        printf("\"prefill_s\": %.6f, \"image_to_first_token_s\": %.6f, \"tg_tokens\": %d, \"tg_tokens_per_s\": %.3f, "
               "\"repetitions\": %d, \"threads\": %d}\n",
               pre, enc + pre, tg, tg > 0 ? tg / gen : 0.0, reps, iris_cpu_threads());
    } else if (of)
        printf("image to first token %.1f ms (load+preprocess %.1f ms, vision tower %.1f ms, perceiver + media keys "
               "%.1f ms, prefill of %d tokens %.1f ms)\n"
               "generation           %.1f tokens/s\n",
               1e3 * (enc + pre), 1e3 * (enc - tower - media), 1e3 * tower, 1e3 * media, n_seq, 1e3 * pre,
               tg > 0 ? tg / gen : 0.0);
    else
        printf("image to first token %.1f ms (load+preprocess+vision+projector %.1f ms, prefill of %d rows %.1f ms)\n"
               "generation           %.1f tokens/s\n",
               1e3 * (enc + pre), 1e3 * enc, n_seq, 1e3 * pre, tg > 0 ? tg / gen : 0.0);
    free(logits);
    free(seq);
    return 0;
fail:
    fprintf(stderr, "iris bench: %s\n", iris_last_error());
    free(logits);
    free(seq);
    return 1;
}

int cmd_bench(int argc, char **argv)
{
    cli_model_opts o;
    cli_model_opts_init(&o, "bench");
    int pp = 128, tg = 64, reps = 3, json = 0, probe = 1, n_images = 1;
    const char *image = NULL;
    enum { O_JSON = 256, O_DEV, O_NOPROBE, O_IMAGES };
    static const struct option lo[] = {
        {"model", 1, 0, 'm'}, {"threads", 1, 0, 't'}, {"json", 0, 0, O_JSON},
        {"device", 1, 0, O_DEV}, {"no-probe", 0, 0, O_NOPROBE}, {"images", 1, 0, O_IMAGES}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "m:p:n:r:t:i:h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'i': image = optarg; break;
        case 'p': bad = cli_parse_int("bench", "-p", optarg, 0, 1 << 16, &pp); break;
        case 'n': bad = cli_parse_int("bench", "-n", optarg, 0, 1 << 16, &tg); break;
        case 'r': bad = cli_parse_int("bench", "-r", optarg, 1, 1000, &reps); break;
        case 't': bad = cli_parse_int("bench", "--threads", optarg, 1, 1024, &o.threads); break;
        case O_JSON: json = 1; break;
        case O_NOPROBE: probe = 0; break;
        case O_IMAGES: bad = cli_parse_int("bench", "--images", optarg, 1, 4096, &n_images); break;
        case O_DEV: o.device = optarg; break;
        case 'h': usage(stdout); return 0;
        default: bad = 1;
        }
    }
    if (bad) return 2;
    if (!o.model) o.model = cli_default_model();
    if (!o.model) {
        fprintf(stderr, "iris bench: -m MODEL is required\n");
        return 2;
    }
    const iris_backend *be = cli_backend(&o);
    if (!be) return 1;
    /* LLaVA puts the image's rows into the context; OpenFlamingo one <image> token */
    char *of_file = image ? iris_flamingo_model_file(o.model) : NULL;
    o.n_ctx = (pp > tg ? pp : tg) + 8 + (image ? (of_file ? n_images * (pp + 1) : 4096) : 0);
    free(of_file);
    iris_lm lm;
    if (iris_lm_load(&lm, o.model, be, o.n_ctx)) {
        fprintf(stderr, "iris bench: %s\n", iris_last_error());
        return 1;
    }
    if (image) {
        int rc = bench_image(&lm, image, n_images, pp, tg, reps, json, o.model);
        iris_lm_free(&lm);
        return rc;
    }
    const iris_llama_config *cfg = &lm.net.cfg;
    int n_tok = pp > tg ? pp : tg;
    int32_t *toks = malloc((size_t)(n_tok + 1) * sizeof *toks);
    float *logits = malloc((size_t)cfg->vocab_size * sizeof *logits);
    int rc = 1;
    if (!toks || !logits) {
        fprintf(stderr, "iris bench: out of memory\n");
        goto out;
    }
    uint64_t r = 12345;
    for (int i = 0; i < n_tok; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        toks[i] = (int32_t)((r >> 33) % (uint64_t)cfg->vocab_size);
    }
    double pp_s = 0, tg_s = 0;
    for (int rep = 0; rep <= reps; rep++) {  /* rep 0 warms up */
        double t0 = iris_now();
        if (pp > 0) {
            iris_llama_reset(&lm.net);
            if (iris_llama_forward(&lm.net, toks, pp, logits, 0)) goto fail;
        }
        double t1 = iris_now();
        iris_llama_reset(&lm.net);
        for (int i = 0; i < tg; i++)
            if (iris_llama_forward(&lm.net, toks + i, 1, logits, 0)) goto fail;
        double t2 = iris_now();
        if (rep > 0) {
            pp_s += t1 - t0;
            tg_s += t2 - t1;
        }
    }
    pp_s /= reps;
    tg_s /= reps;
    double pp_tps = pp > 0 ? pp / pp_s : 0, tg_tps = tg > 0 ? tg / tg_s : 0;
    size_t wbytes = iris_llama_weight_bytes(&lm.net);
    double bw = 0, rbw = 0, gf = 0;
    if (probe && !strcmp(be->name, "cpu")) {
        bw = iris_probe_copy_bandwidth();
        rbw = iris_probe_read_bandwidth();
        gf = iris_probe_sgemm_gflops(pp > 0 ? pp : 128, cfg->ffn_dim, cfg->dim);
    }
    /* the roofline: weight bytes per token / copy bandwidth (bytes copied);
     * read-only streaming is faster, so the read roofline is reported beside it */
    double tg_roof = bw > 0 ? bw / (double)wbytes : 0, tg_read_roof = rbw > 0 ? rbw / (double)wbytes : 0;
    double pp_gflops = pp_tps * 2.0 * layer_matmul_params(cfg) / 1e9;
    if (json) {
        printf("{\"model\": \"%s\", \"arch\": \"%s\", \"backend\": \"%s\", \"threads\": %d, "
               "\"pp_tokens\": %d, \"tg_tokens\": %d, \"repetitions\": %d, "
               "\"pp_tokens_per_s\": %.3f, \"tg_tokens_per_s\": %.3f, \"weight_bytes\": %zu, "
               "\"copy_bandwidth_bytes_per_s\": %.0f, \"read_bandwidth_bytes_per_s\": %.0f, "
               "\"sgemm_gflops\": %.3f, \"pp_gflops\": %.3f, \"tg_roofline_tokens_per_s\": %.3f, "
               "\"tg_fraction_of_roofline\": %.4f, \"tg_read_roofline_tokens_per_s\": %.3f, "
               "\"tg_fraction_of_read_roofline\": %.4f, \"pp_fraction_of_sgemm\": %.4f}\n",
               o.model, cfg->arch_name, be->name, iris_cpu_threads(), pp, tg, reps, pp_tps, tg_tps,
               wbytes, bw, rbw, gf, pp_gflops, tg_roof, tg_roof > 0 ? tg_tps / tg_roof : 0, tg_read_roof,
               tg_read_roof > 0 ? tg_tps / tg_read_roof : 0, gf > 0 ? pp_gflops / gf : 0);
    } else {
        printf("model      %s (%s, %.1f MB of weights read per token)\n", o.model, cfg->arch_name, wbytes / 1e6);
        printf("backend    %s, %d threads\n", be->name, iris_cpu_threads());
        printf("pp%-4d     %8.1f tokens/s  (%.1f GFLOP/s", pp, pp_tps, pp_gflops);
        if (gf > 0) printf(", %.0f%% of sgemm %.1f GFLOP/s", 100 * pp_gflops / gf, gf);
        printf(")\n");
        printf("tg%-4d     %8.1f tokens/s", tg, tg_tps);
        if (tg_roof > 0)
            printf("  (%.0f%% of the copy-bandwidth limit %.1f tokens/s at %.1f GB/s; %.0f%% of the read limit %.1f)",
                   100 * tg_tps / tg_roof, tg_roof, bw / 1e9, 100 * tg_tps / tg_read_roof, tg_read_roof);
        printf("\n");
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "iris bench: %s\n", iris_last_error());
out:
    free(toks);
    free(logits);
    iris_lm_free(&lm);
    return rc;
}

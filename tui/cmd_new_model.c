/* iris new-model — a fresh, randomly initialised LLaVA model from a spec file
 * (the first step of the built-in tiny model's recipe), or, for a spec with an
 * [openflamingo] section, a fresh OpenFlamingo model around a trained LLaVA's
 * tower and language model (the tiny OpenFlamingo's first step). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/error.h"
#include "nets/new_flamingo.h"
#include "nets/new_model.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: iris new-model SPEC.ini -o OUT_DIR [--seed S] [--from LLAVA_DIR]\n"
        "Writes a randomly initialised LLaVA model (CLIP ViT + mlp2x_gelu projector +\n"
        "LLaMA decoder) in llava-hf layout, with a byte-level BPE tokenizer built from\n"
        "the shapes world's words.  The same spec and seed give identical files.\n"
        "The shipped spec is config/tiny/tiny-llava.ini.\n"
        "A spec with an [openflamingo] section (config/tiny/tiny-flamingo.ini) writes an\n"
        "OpenFlamingo model instead: the vision tower and language model of the LLaVA\n"
        "its 'llava' key (or --from) names, joined by a new perceiver and new gated\n"
        "cross-attention blocks (open_flamingo's initialisation, gates 0).\n");
}

static int new_flamingo(const char *spec_path, const char *out, uint64_t seed, const char *from)
{
    iris_flamingo_spec spec;
    if (iris_flamingo_spec_load(&spec, spec_path)) goto fail;
    if (from) {
        if (strlen(from) >= sizeof spec.llava) {
            fprintf(stderr, "iris new-model: --from: path too long\n");
            return 2;
        }
        snprintf(spec.llava, sizeof spec.llava, "%s", from);
    }
    if (!spec.llava[0]) {
        fprintf(stderr, "iris new-model: %s: [openflamingo] llava (or --from DIR) must name the LLaVA\n", spec_path);
        return 2;
    }
    if (iris_new_flamingo(&spec, out, seed)) goto fail;
    printf("wrote %s (OpenFlamingo around %s: perceiver %d x %d latents, a block every %d layer%s; seed %llu)\n",
           out, spec.llava, spec.p_depth, spec.n_latents, spec.every_n, spec.every_n == 1 ? "" : "s",
           (unsigned long long)seed);
    return 0;
fail:
    fprintf(stderr, "iris new-model: %s\n", iris_last_error());
    return 1;
}

int cmd_new_model(int argc, char **argv)
{
    const char *out = NULL, *from = NULL;
    uint64_t seed = 0;
    static const struct option lo[] = {
        {"output", 1, 0, 'o'}, {"seed", 1, 0, 's'}, {"from", 1, 0, 'f'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:s:f:h", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 's': {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (*end || end == optarg || optarg[0] == '-') {
                fprintf(stderr, "iris new-model: --seed expects a non-negative integer\n");
                return 2;
            }
            break;
        }
        case 'f': from = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || !out) {
        usage(stderr);
        return 2;
    }
    int fl = iris_spec_is_flamingo(argv[optind]);
    if (fl < 0) {
        fprintf(stderr, "iris new-model: %s\n", iris_last_error());
        return 1;
    }
    if (fl) return new_flamingo(argv[optind], out, seed, from);
    if (from) {
        fprintf(stderr, "iris new-model: --from is for OpenFlamingo specs (an [openflamingo] section)\n");
        return 2;
    }
    iris_model_spec spec;
    if (iris_model_spec_load(&spec, argv[optind]) || iris_new_model(&spec, out, seed)) {
        fprintf(stderr, "iris new-model: %s\n", iris_last_error());
        return 1;
    }
    printf("wrote %s (LLaVA: ViT %dx%d, patch %d; decoder %d x %d; seed %llu)\n", out, spec.v_hidden,
           spec.v_layers, spec.v_patch, spec.t_hidden, spec.t_layers, (unsigned long long)seed);
    return 0;
}

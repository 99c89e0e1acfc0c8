/* iris new-model — a fresh, randomly initialised LLaVA model from a spec file
 * (the first step of the built-in tiny model's recipe). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/error.h"
#include "nets/new_model.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: iris new-model SPEC.ini -o OUT_DIR [--seed S]\n"
        "Writes a randomly initialised LLaVA model (CLIP ViT + mlp2x_gelu projector +\n"
        "LLaMA decoder) in llava-hf layout, with a byte-level BPE tokenizer built from\n"
        "the shapes world's words.  The same spec and seed give identical files.\n"
        "The shipped spec is config/tiny/tiny-llava.ini.\n");
}

int cmd_new_model(int argc, char **argv)
{
    const char *out = NULL;
    uint64_t seed = 0;
    static const struct option lo[] = {
        {"output", 1, 0, 'o'}, {"seed", 1, 0, 's'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:s:h", lo, NULL)) != -1) {
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
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || !out) {
        usage(stderr);
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

/* iris compose — a new LLaVA-style VLM from a CLIP tower and an LLM. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "core/error.h"
#include "nets/compose.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: iris compose --vision CLIP_DIR --llm LLM_DIR [--projector mlp2x_gelu|linear]\n"
        "                    [--seed S] [--feature-layer L] -o OUT_DIR\n"
        "Writes a LLaVA model in llava-hf layout: the CLIP vision tower, a freshly\n"
        "initialised projector and the language model, with an <image> token added\n"
        "to its tokenizer.  Train the projector next (stage 1).\n");
}

int cmd_compose(int argc, char **argv)
{
    iris_compose_opts o = {.vision_feature_layer = -2};
    enum { O_VIS = 256, O_LLM, O_PROJ, O_SEED, O_LAYER };
    static const struct option lo[] = {
        {"vision", 1, 0, O_VIS}, {"llm", 1, 0, O_LLM}, {"projector", 1, 0, O_PROJ},
        {"seed", 1, 0, O_SEED}, {"feature-layer", 1, 0, O_LAYER}, {"output", 1, 0, 'o'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c, bad = 0, layer;
    while (!bad && (c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
        switch (c) {
        case O_VIS: o.vision_dir = optarg; break;
        case O_LLM: o.llm_dir = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case O_PROJ:
            if (!strcmp(optarg, "linear")) o.linear_projector = 1;
            else if (!strcmp(optarg, "mlp2x_gelu")) o.linear_projector = 0;
            else {
                fprintf(stderr, "iris compose: --projector must be mlp2x_gelu or linear\n");
                bad = 1;
            }
            break;
        case O_SEED: o.seed = strtoull(optarg, NULL, 10); break;
        case O_LAYER:
            bad = cli_parse_int("compose", "--feature-layer", optarg, -64, 64, &layer);
            o.vision_feature_layer = layer;
            break;
        case 'h': usage(stdout); return 0;
        default: bad = 1;
        }
    }
    if (bad) return 2;
    if (!o.vision_dir || !o.llm_dir || !o.out_dir) {
        usage(stderr);
        return 2;
    }
    if (iris_compose(&o)) {
        fprintf(stderr, "iris compose: %s\n", iris_last_error());
        return 1;
    }
    printf("wrote %s (LLaVA: %s + %s projector + %s)\n", o.out_dir, o.vision_dir,
           o.linear_projector ? "linear" : "mlp2x_gelu", o.llm_dir);
    return 0;
}

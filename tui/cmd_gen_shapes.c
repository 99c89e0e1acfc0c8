/* iris gen-shapes — the synthetic visual-QA world the tiny model is trained on. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "commands.h"
#include "core/error.h"
#include "shapes/shapes_dataset.h"
#include "shapes/shapes_qa.h"
#include "shapes/shapes_scene.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: iris gen-shapes --seed S --count N -o DIR [--split train|val|test] [--turns K]\n"
        "                       [--max-objects K] [--captions both|left-to-right|by-kind]\n"
        "                       [--caption-turns P] [--type-weight TYPE=W ...]\n"
        "Writes DIR/images/*.png, DIR/SPLIT_captions.json and DIR/SPLIT_qa.json (LLaVA\n"
        "training format) and DIR/SPLIT_questions.jsonl (for iris eval).  The same seed\n"
        "gives the same data; the split name is mixed into the seed.  Captions name the\n"
        "objects left to right (\"a red circle and a blue star\") or kind by kind (\"the\n"
        "circle is red and the star is blue\"); by default each image gets one of the two.\n"
        "--caption-turns P ends that share (0-1, default 0) of the question conversations\n"
        "with the caption question, so a chat model learns to describe the whole scene.\n"
        "--type-weight TYPE=W (repeatable) draws the conversations' questions of TYPE\n"
        "(color, letter, shape, count, spatial, yesno) W times as often as a type of\n"
        "weight 1 (default 1 each; 0 never asks it); the held-out questions in\n"
        "SPLIT_questions.jsonl stay unweighted.\n");
}

static void progress(int done, int total, void *ud)
{
    (void)ud;
    if (done == total || done % 500 == 0) fprintf(stderr, "\riris gen-shapes: %d/%d images", done, total);
    if (done == total) fputc('\n', stderr);
}

/* "spatial=3" into weights[QA_SPATIAL]; 1 (and a message) if malformed. */
static int parse_type_weight(const char *arg, int *weights)
{
    const char *eq = strchr(arg, '=');
    for (int t = QA_COLOR; eq && t < QA_TYPE_COUNT; t++) {
        const char *name = shape_qa_type_names[t];
        if (strlen(name) == (size_t)(eq - arg) && !strncmp(arg, name, eq - arg))
            return cli_parse_int("gen-shapes", "--type-weight", eq + 1, 0, 1000, &weights[t]);
    }
    fprintf(stderr, "iris gen-shapes: --type-weight expects TYPE=W with TYPE one of color, letter, shape, "
                    "count, spatial, yesno (got \"%s\")\n", arg);
    return 1;
}

int cmd_gen_shapes(int argc, char **argv)
{
    int weights[QA_TYPE_COUNT];
    for (int t = 0; t < QA_TYPE_COUNT; t++) weights[t] = 1;
    shapes_dataset_opts o = {.split = "train", .max_turns = 3, .progress = progress};
    int have_seed = 0, have_count = 0;
    static const struct option lo[] = {
        {"seed", 1, 0, 's'}, {"count", 1, 0, 'n'}, {"output", 1, 0, 'o'}, {"split", 1, 0, 'S'},
        {"turns", 1, 0, 'k'}, {"max-objects", 1, 0, 'm'}, {"captions", 1, 0, 'c'},
        {"caption-turns", 1, 0, 'C'}, {"type-weight", 1, 0, 'w'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "s:n:o:h", lo, NULL)) != -1) {
        switch (c) {
        case 's': {
            char *end;
            o.seed = strtoull(optarg, &end, 10);
            if (*end || end == optarg) {
                fprintf(stderr, "iris gen-shapes: --seed expects a non-negative integer\n");
                bad = 1;
            }
            have_seed = 1;
            break;
        }
        case 'n': bad = cli_parse_int("gen-shapes", "--count", optarg, 1, 10000000, &o.count); have_count = 1; break;
        case 'o': o.out_dir = optarg; break;
        case 'S':
            if (strcmp(optarg, "train") && strcmp(optarg, "val") && strcmp(optarg, "test")) {
                fprintf(stderr, "iris gen-shapes: --split must be train, val or test\n");
                bad = 1;
            }
            o.split = optarg;
            break;
        case 'k': bad = cli_parse_int("gen-shapes", "--turns", optarg, 1, 8, &o.max_turns); break;
        case 'm': bad = cli_parse_int("gen-shapes", "--max-objects", optarg, 1, SHAPE_MAX_OBJECTS, &o.max_objects); break;
        case 'c':
            if (!strcmp(optarg, "both")) o.captions = SHAPES_CAPTIONS_BOTH;
            else if (!strcmp(optarg, "left-to-right")) o.captions = SHAPES_CAPTIONS_LEFT_TO_RIGHT;
            else if (!strcmp(optarg, "by-kind")) o.captions = SHAPES_CAPTIONS_BY_KIND;
            else {
                fprintf(stderr, "iris gen-shapes: --captions must be both, left-to-right or by-kind\n");
                bad = 1;
            }
            break;
        case 'C': {
            float share;
            bad = cli_parse_float("gen-shapes", "--caption-turns", optarg, 0, 1, &share);
            o.caption_turns = share;
            break;
        }
        case 'w': bad = parse_type_weight(optarg, weights); o.type_weights = weights; break;
        case 'h': usage(stdout); return 0;
        default: bad = 1;
        }
    }
    if (bad) return 2;
    int any = 0;
    for (int t = QA_COLOR; t < QA_TYPE_COUNT; t++) any |= weights[t] > 0;
    if (!any) {
        fprintf(stderr, "iris gen-shapes: --type-weight leaves no question type to ask\n");
        return 2;
    }
    if (!have_seed || !have_count || !o.out_dir) {
        usage(stderr);
        return 2;
    }
    if (!isatty(STDERR_FILENO)) o.progress = NULL;
    if (shapes_write_dataset(&o)) {
        fprintf(stderr, "iris gen-shapes: %s\n", iris_last_error());
        return 1;
    }
    printf("wrote %d %s images with captions and questions to %s\n", o.count, o.split, o.out_dir);
    return 0;
}

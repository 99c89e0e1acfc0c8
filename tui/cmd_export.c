/* cmd_export.c — iris export RUN_DIR (--adapter | --merge) -o DIR: writes a
 * fine-tune's result as a PEFT adapter, or merged into the base weights as a
 * checkpoint in the base's layout (loadable by transformers). */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "core/error.h"
#include "train/trainer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: iris export RUN_DIR (--adapter | --merge) -o DIR\n"
            "       iris export --peft ADAPTER_DIR --base MODEL (--adapter | --merge) -o DIR\n"
            "  --adapter   write adapter_config.json + adapter_model.safetensors (PEFT)\n"
            "  --merge     write model.safetensors with the adapter (or the fine-tuned\n"
            "              weights) merged, plus the base's config and tokenizer files\n"
            "  -o DIR      output directory (created)\n"
            "  --peft DIR  take a PEFT LoRA adapter (e.g. trained with peft) instead of a run\n"
            "  --base M    the model the adapter belongs to (with --peft)\n");
}

int cmd_export(int argc, char **argv)
{
    static const struct option lo[] = {{"adapter", 0, 0, 'a'}, {"merge", 0, 0, 'm'}, {"output", 1, 0, 'o'}, {"peft", 1, 0, 'p'}, {"base", 1, 0, 'b'},
                                       {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int kind = -1, c;
    const char *out = NULL, *peft = NULL, *base = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
        switch (c) {
        case 'a': kind = 0; break;
        case 'm': kind = 1; break;
        case 'o': out = optarg; break;
        case 'p': peft = optarg; break;
        case 'b': base = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (kind < 0 || !out || (peft ? (!base || optind != argc) : optind != argc - 1)) {
        usage(stderr);
        return 2;
    }
    if (peft ? iris_peft_export(peft, base, kind, out) : iris_train_export(argv[optind], kind, out)) {
        fprintf(stderr, "iris export: %s\n", iris_last_error());
        return 1;
    }
    return 0;
}

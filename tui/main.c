/* main.c — the iris binary's entry: global flags and subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/backend.h"

typedef struct {
    const char *name;
    iris_command_fn fn;
    const char *summary;
} command;

static int print_version(void)
{
    char why[256] = "";
    const iris_backend *cuda = iris_cuda_backend(why, sizeof why);
    printf("iris %s\n", IRIS_VERSION);
    printf("backends: cpu%s\n", cuda ? ", cuda" : "");
    printf("gpu: %s\n", cuda ? iris_cuda_device_name() : "none");
    if (!cuda && why[0]) printf("cuda: %s\n", why);
    printf("cpu threads: %d\n", iris_cpu_threads());
    return 0;
}

static void print_help(const command *cmds, int n)
{
    printf("usage: iris [--help] [--version] [COMMAND [ARGS]]\n\n"
           "A terminal workbench for vision-language models.  With no command iris\n"
           "opens the full-screen interface (when built in).\n\ncommands:\n");
    for (int i = 0; i < n; i++)
        if (cmds[i].fn) printf("  %-11s %s\n", cmds[i].name, cmds[i].summary);
    printf("\n'iris COMMAND --help' describes a command; man iris(1) has the details.\n");
}

int main(int argc, char **argv)
{
    const command cmds[] = {
        {"run", cmd_run, "generate an answer to a prompt (and image) once"},
        {"chat", cmd_chat, "line-mode chat with a model"},
        {"tokenize", cmd_tokenize, "print the token ids of a text"},
        {"bench", cmd_bench, "prompt-processing and generation speed"},
        {"pull", cmd_pull, "download a model from the Hugging Face Hub"},
        {"ls", cmd_ls, "list local models"},
        {"rm", cmd_rm, "remove a local model"},
        {"train", cmd_train, "fine-tune a model from an INI config"},
        {"export", cmd_export, "export a trained run (merged or adapter)"},
        {"eval", cmd_eval, "evaluate a model on VQA data"},
        {"compose", cmd_compose, "build a new VLM from a vision tower and an LLM"},
        {"gen-shapes", cmd_gen_shapes, "generate the synthetic shapes dataset"},
        {"new-model", cmd_new_model, "create a fresh, randomly initialised LLaVA model from a spec"},
        {"image-preprocess", cmd_image_preprocess, "an image to a vision tower's input tensor"},
        {"vision-encode", cmd_vision_encode, "an image through a vision tower and projector"},
        {"inspect", cmd_inspect, "list the metadata and tensors of a weights file"},
    };
    int n = (int)(sizeof cmds / sizeof cmds[0]);

    if (argc < 2) {
        if (cmd_tui) return cmd_tui(argc, argv);
        print_help(cmds, n);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help(cmds, n);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) return print_version();
    for (int i = 0; i < n; i++)
        if (!strcmp(argv[1], cmds[i].name) && cmds[i].fn) return cmds[i].fn(argc - 1, argv + 1);
    if (argv[1][0] == '-' && cmd_tui) return cmd_tui(argc, argv);
    fprintf(stderr, "iris: unknown command '%s' (see 'iris --help')\n", argv[1]);
    return 2;
}

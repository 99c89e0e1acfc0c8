/* iris run — one prompt (optionally with an image) in, one streamed answer out. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "core/error.h"
#include "nets/generate.h"
#include "nets/lm.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

static void print_text(const char *text, int len, void *ud)
{
    (void)ud;
    fwrite(text, 1, (size_t)len, stdout);
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: iris run [-m MODEL] [-i IMAGE] -p PROMPT [options]\n"
               "  -p, --prompt TEXT       the prompt\n");
    fputs(cli_model_options_help, f);
    fprintf(f,
        "      --template NAME     wrap the prompt in a chat template: llava-hf, vicuna_v1,\n"
        "                          plain, gemma, chatml, raw (default raw = as given)\n"
        "      --chat              use the model's own chat template\n"
        "      --no-bos            do not prepend the BOS token\n"
        "      --dump-logits FILE  write the logits at the last prompt position (raw LE f32)\n"
        "  -i, --image PATH        an image for a vision model (repeatable); the prompt gets\n"
        "                          an <image> placeholder in front unless it has its own\n"
        "      --preprocess MODE   pad (LLaVA-1.5, default), crop (llava-hf processor) or resize\n"
        "      --mmproj FILE       llama.cpp vision projector (mmproj .gguf) for a GGUF language\n"
        "                          model: the LLaVA pair as llama.cpp publishes it; \"<image>\" in the\n"
        "                          prompt marks where the image goes\n"
        "Tokens per second go to standard error.\n");
}

int cmd_run(int argc, char **argv)
{
    cli_model_opts o;
    cli_model_opts_init(&o, "run");
    const char *prompt = NULL, *tpl_name = NULL;
    int use_chat = 0, no_bos = 0, n_img = 0;
    const char *images[16];
    iris_lm_options lo_opts = {0};
    enum { O_DUMP = 256, O_TPL, O_CHAT, O_NOBOS, O_MMPROJ, O_PRE };
    static const struct option lo[] = {
        CLI_MODEL_LONG_OPTIONS, {"prompt", 1, 0, 'p'}, {"dump-logits", 1, 0, O_DUMP},
        {"template", 1, 0, O_TPL}, {"chat", 0, 0, O_CHAT}, {"no-bos", 0, 0, O_NOBOS},
        {"image", 1, 0, 'i'}, {"mmproj", 1, 0, O_MMPROJ}, {"preprocess", 1, 0, O_PRE},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, CLI_MODEL_SHORT_OPTIONS "p:i:h", lo, NULL)) != -1) {
        int r = cli_model_option(&o, c, optarg);
        if (r) {
            bad = r < 0;
            continue;
        }
        switch (c) {
        case 'p': prompt = optarg; break;
        case O_DUMP: o.gen.dump_logits_path = optarg; break;
        case O_TPL: tpl_name = optarg; break;
        case O_CHAT: use_chat = 1; break;
        case O_NOBOS: no_bos = 1; break;
        case 'i':
            if (n_img == (int)(sizeof images / sizeof images[0])) {
                fprintf(stderr, "iris run: at most %d images\n", n_img);
                bad = 1;
            }
            images[n_img++] = optarg;
            break;
        case O_MMPROJ: lo_opts.mmproj = optarg; break;
        case O_PRE: bad = cli_parse_preprocess("run", optarg, &lo_opts) != 0; break;
        case 'h': usage(stdout); return 0;
        default: bad = 1; break;
        }
    }
    if (bad) return 2;
    if (optind < argc) {
        fprintf(stderr, "iris run: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!prompt) {
        fprintf(stderr, "iris run: -p PROMPT is required\n");
        usage(stderr);
        return 2;
    }
    if (!*prompt) {
        fprintf(stderr, "iris run: the prompt is empty\n");
        return 2;
    }
    int tpl = IRIS_TPL_RAW;
    if (tpl_name && (tpl = iris_chat_template_from_name(tpl_name)) < 0) {
        fprintf(stderr, "iris run: unknown template '%s'\n", tpl_name);
        return 2;
    }
    iris_lm lm;
    int load_rc = cli_load_model(&o, &lo_opts, &lm);
    if (load_rc) return load_rc;
    /* a vision model's questions go through its chat template unless told otherwise */
    if ((use_chat || lm.vision || lm.flamingo) && !tpl_name) tpl = lm.default_template;
    char *text = NULL, *user = NULL;
    int rc = 1;
    int32_t *ids = NULL, *seq = NULL;
    for (int i = 0; i < n_img; i++)
        if (iris_lm_add_image(&lm, images[i]) < 0) {
            fprintf(stderr, "iris run: %s\n", iris_last_error());
            goto out;
        }
    if (n_img && !strstr(prompt, "<image>")) {
        /* the images go in front of the question, as LLaVA's data has them */
        size_t len = strlen(prompt) + (size_t)n_img * 8 + 1;
        if ((user = malloc(len))) {
            user[0] = 0;
            /* OpenFlamingo: "<image>" alone, as its prompts have it */
            for (int i = 0; i < n_img; i++) strcat(user, lm.flamingo ? "<image>" : "<image>\n");
            strcat(user, prompt);
        }
    } else {
        user = strdup(prompt);
    }
    if (!user) {
        fprintf(stderr, "iris run: out of memory\n");
        goto out;
    }
    if (tpl != IRIS_TPL_RAW) {
        iris_chat_msg msg = {"user", user};
        text = iris_chat_render(tpl, &msg, 1, 1);
    } else {
        text = strdup(user);
    }
    if (!text) {
        fprintf(stderr, "iris run: out of memory\n");
        goto out;
    }
    int n = iris_lm_tokenize(&lm, text, strlen(text), !no_bos, NULL, 0);
    if (n < 0 || !(ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids))) {
        fprintf(stderr, "iris run: out of memory tokenizing the prompt\n");
        goto out;
    }
    iris_lm_tokenize(&lm, text, strlen(text), !no_bos, ids, n);
    if (n == 0) {
        fprintf(stderr, "iris run: the prompt has no tokens\n");
        goto out;
    }
    int n_seq = 0;
    if (iris_lm_expand_images(&lm, ids, n, 0, n_img, &seq, &n_seq)) {
        fprintf(stderr, "iris run: %s\n", iris_last_error());
        goto out;
    }
    if (n_seq >= lm.net.n_ctx) {
        fprintf(stderr, "iris run: the prompt has %d tokens, more than the context of %d (use --ctx)\n",
                n_seq, lm.net.n_ctx);
        goto out;
    }
    signal(SIGINT, on_sigint);
    iris_gen_stats st;
    if (iris_generate(&lm, seq, n_seq, &o.gen, print_text, NULL, &interrupted, &st)) {
        fprintf(stderr, "\niris run: %s\n", iris_last_error());
        goto out;
    }
    printf("\n");
    fprintf(stderr, "iris run: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens in %.3f s (%.1f tok/s)%s\n",
            st.n_prompt, st.prompt_s, st.prompt_s > 0 ? st.n_prompt / st.prompt_s : 0.0,
            st.n_generated, st.gen_s, st.gen_s > 0 ? st.n_generated / st.gen_s : 0.0,
            st.interrupted ? " (interrupted)" : "");
    rc = 0;
out:
    free(ids);
    free(seq);
    free(text);
    free(user);
    iris_lm_free(&lm);
    return rc;
}

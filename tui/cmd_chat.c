/* iris chat — a line-mode conversation (no full-screen UI): streamed answers,
 * the KV cache kept across turns, slash commands.  Ctrl-C stops an answer,
 * Ctrl-D quits. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "commands.h"
#include "core/error.h"
#include "nets/chat_session.h"

static volatile sig_atomic_t stop_answer;
static void on_sigint(int sig) { (void)sig; stop_answer = 1; }

static void print_text(const char *text, int len, void *ud)
{
    (void)ud;
    fwrite(text, 1, (size_t)len, stdout);
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: iris chat [-m MODEL] [options]\n");
    fputs(cli_model_options_help, f);
    fprintf(f,
        "      --template NAME     chat template (default: the model's own)\n"
        "      --system TEXT       system prompt\n"
        "  -i, --image PATH        an image for the first message\n"
        "      --preprocess MODE   pad (default), crop or resize\n"
        "      --mmproj FILE       llama.cpp vision projector (.gguf) for a GGUF language model;\n"
        "                          \"<image>\" in a message marks where its image goes\n"
        "      --dump-logits FILE  after each turn, the logits at its last prompt position\n"
        "In the chat: /image PATH attaches an image, /clear forgets the conversation, /save FILE writes it as Markdown,\n"
        "/help lists commands, Ctrl-C stops an answer, Ctrl-D (or /quit) leaves.\n");
}

static void chat_help(void)
{
    printf("/image PATH   attach an image to the next message\n"
           "/clear        forget the conversation (and its images)\n"
           "/save FILE    write the transcript as Markdown\n"
           "/quit         leave (or Ctrl-D)\n"
           "Ctrl-C stops the answer being written.\n");
}

/* Reads one line; returns NULL at end of input.  Interrupted reads (Ctrl-C at
 * the prompt) give an empty line. */
static char *read_line(char **buf, size_t *cap)
{
    errno = 0;
    ssize_t n = getline(buf, cap, stdin);
    if (n < 0) {
        if (errno == EINTR) {
            clearerr(stdin);
            (*buf)[0] = 0;
            printf("\n(Ctrl-D quits)\n");
            return *buf;
        }
        return NULL;
    }
    while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r')) (*buf)[--n] = 0;
    return *buf;
}

int cmd_chat(int argc, char **argv)
{
    cli_model_opts o;
    cli_model_opts_init(&o, "chat");
    o.gen.n_predict = 512;
    const char *tpl_name = NULL, *system_prompt = NULL, *first_image = NULL;
    iris_lm_options lo_opts = {0};
    enum { O_TPL = 256, O_SYS, O_PRE, O_DUMP, O_MMPROJ };
    static const struct option lo[] = {
        CLI_MODEL_LONG_OPTIONS, {"template", 1, 0, O_TPL}, {"system", 1, 0, O_SYS},
        {"image", 1, 0, 'i'}, {"preprocess", 1, 0, O_PRE}, {"dump-logits", 1, 0, O_DUMP},
        {"mmproj", 1, 0, O_MMPROJ}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, CLI_MODEL_SHORT_OPTIONS "i:h", lo, NULL)) != -1) {
        int r = cli_model_option(&o, c, optarg);
        if (r) {
            bad = r < 0;
            continue;
        }
        switch (c) {
        case O_TPL: tpl_name = optarg; break;
        case O_SYS: system_prompt = optarg; break;
        case 'i': first_image = optarg; break;
        case O_DUMP: o.gen.dump_logits_path = optarg; break;
        case O_MMPROJ: lo_opts.mmproj = optarg; break;
        case O_PRE: bad = cli_parse_preprocess("chat", optarg, &lo_opts) != 0; break;
        case 'h': usage(stdout); return 0;
        default: bad = 1;
        }
    }
    if (bad) return 2;
    if (optind < argc) {
        fprintf(stderr, "iris chat: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    int tpl = -1;
    if (tpl_name && (tpl = iris_chat_template_from_name(tpl_name)) < 0) {
        fprintf(stderr, "iris chat: unknown template '%s'\n", tpl_name);
        return 2;
    }
    iris_lm lm;
    int load_rc = cli_load_model(&o, &lo_opts, &lm);
    if (load_rc) return load_rc;
    iris_chat chat;
    if (iris_chat_init(&chat, &lm, tpl >= 0 ? tpl : lm.default_template, system_prompt)) {
        fprintf(stderr, "iris chat: %s\n", iris_last_error());
        iris_lm_free(&lm);
        return 1;
    }
    if (first_image && iris_chat_attach_image(&chat, first_image)) {
        fprintf(stderr, "iris chat: %s\n", iris_last_error());
        iris_chat_free(&chat);
        iris_lm_free(&lm);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;  /* no SA_RESTART: Ctrl-C interrupts a read at the prompt */
    sigaction(SIGINT, &sa, NULL);

    int interactive = isatty(STDIN_FILENO);
    if (interactive)
        fprintf(stderr, "iris chat — %s (%s template). /help for commands, Ctrl-D quits.\n", o.model,
                iris_chat_template_name(chat.tpl));
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        stop_answer = 0;
        if (!read_line(&line, &cap)) break;
        if (!line[0]) continue;
        if (line[0] == '/') {
            char *arg = strchr(line, ' ');
            if (arg) *arg++ = 0;
            while (arg && *arg == ' ') arg++;
            if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
            if (!strcmp(line, "/clear")) {
                iris_chat_clear(&chat);
                printf("(conversation cleared)\n");
            } else if (!strcmp(line, "/image")) {
                if (!arg || !*arg) printf("usage: /image PATH\n");
                else if (iris_chat_attach_image(&chat, arg)) printf("error: %s\n", iris_last_error());
                else printf("(image %s attached to your next message)\n", arg);
            } else if (!strcmp(line, "/save")) {
                if (!arg || !*arg) printf("usage: /save FILE\n");
                else if (iris_chat_save_markdown(&chat, arg)) printf("error: %s\n", iris_last_error());
                else printf("(saved to %s)\n", arg);
            } else if (!strcmp(line, "/help")) {
                chat_help();
            } else {
                printf("unknown command %s (/help lists them)\n", line);
            }
            fflush(stdout);
            continue;
        }
        iris_gen_stats st;
        if (iris_chat_turn(&chat, line, &o.gen, print_text, NULL, &stop_answer, &st)) {
            printf("\nerror: %s\n", iris_last_error());
        } else {
            printf("%s\n", st.interrupted ? " [stopped]" : "");
            fprintf(stderr, "[%d new tokens processed, %d generated, %.1f tok/s]\n", chat.last_turn_processed,
                    st.n_generated, st.gen_s > 0 ? st.n_generated / st.gen_s : 0.0);
        }
        fflush(stdout);
    }
    free(line);
    if (interactive) printf("\n");
    iris_chat_free(&chat);
    iris_lm_free(&lm);
    return 0;
}

/* cmd_tokenize.c — `iris tokenize`: prints the token ids (and pieces) a
 * model's tokenizer gives a text.  The model is a model directory with a
 * tokenizer.json, a tokenizer.json file itself, or a .gguf file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "core/error.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

static int usage(FILE *f)
{
    fprintf(f, "usage: iris tokenize -m MODEL_OR_VOCAB [--no-bos] [--ids] [--special] TEXT...\n"
               "       iris tokenize [-m MODEL_OR_VOCAB] --template NAME [--print-prompt] [--no-gen] MESSAGES\n"
               "       iris tokenize -m MODEL_OR_VOCAB --decode [--special] ID...\n"
               "  -m, --model PATH  model directory (tokenizer.json inside), tokenizer.json or .gguf\n"
               "  --no-bos          do not prepend the BOS token\n"
               "  --ids             print only the ids, on one line\n"
               "  --special         parse special tokens (\"<s>\", \"<|im_end|>\") in TEXT\n"
               "  --template NAME   TEXT is a JSON list of {\"role\", \"content\"} messages, rendered\n"
               "                    with NAME (llava-hf, vicuna_v1, plain, gemma, chatml, raw)\n"
               "  --print-prompt    print the rendered prompt instead of tokens\n"
               "  --no-gen          no assistant prefix at the end of the rendered prompt\n"
               "  --decode          TEXT is token ids: print the text they stand for, streamed\n"
               "                    through the detokeniser (special tokens shown with --special)\n"
               "  TEXT              the words are joined with spaces; \"-\" reads standard input\n");
    return 2;
}

/* All of standard input, NUL-terminated (the text may hold NULs itself). */
static char *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    while (p) {
        if (n + 1 >= cap) {
            char *q = realloc(p, cap *= 2);
            if (!q) { free(p); return NULL; }
            p = q;
        }
        size_t got = fread(p + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0) break;
    }
    if (!p) return NULL;
    p[n] = 0;
    *len = n;
    return p;
}

/* The piece as stored, with bytes a terminal would act on escaped. */
static void print_piece(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\t') fputs("\\t", stdout);
        else if (*p == '\\') fputs("\\\\", stdout);
        else if (*p < 0x20 || *p == 0x7f) printf("\\x%02x", *p);
        else putchar(*p);
    }
}

/* Renders a JSON message list with a template; NULL with *err set. */
static char *render_messages(int tpl, const char *json, size_t len, int gen, const char **err)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    char *out = NULL;
    if (!cJSON_IsArray(root)) {
        *err = "MESSAGES is not a JSON list of {\"role\", \"content\"} objects";
        cJSON_Delete(root);
        return NULL;
    }
    int n = cJSON_GetArraySize(root), k = 0;
    iris_chat_msg *msgs = calloc((size_t)(n ? n : 1), sizeof *msgs);
    const cJSON *m;
    if (!msgs) { *err = "out of memory"; cJSON_Delete(root); return NULL; }
    cJSON_ArrayForEach(m, root) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content)) {
            *err = "each message needs string \"role\" and \"content\"";
            goto done;
        }
        msgs[k++] = (iris_chat_msg){role->valuestring, content->valuestring};
    }
    out = iris_chat_render((iris_chat_template)tpl, msgs, k, gen);
    if (!out) *err = "out of memory";
done:
    free(msgs);
    cJSON_Delete(root);
    return out;
}

/* --decode: ids (whitespace-separated words of text) through the streaming
 * detokeniser to standard output. */
static int decode_ids(const iris_tokenizer *t, char *text, int show_special)
{
    iris_detok d;
    char out[256];           /* the smallest buffer the contract allows: exercises the queue */
    iris_detok_init(&d, t, show_special);
    for (char *w = strtok(text, " \t\r\n"); w; w = strtok(NULL, " \t\r\n")) {
        char *end;
        long id = strtol(w, &end, 10);
        if (*end || end == w || id < 0 || id >= iris_tokenizer_n_vocab(t)) {
            fprintf(stderr, "iris tokenize: '%s' is not a token id of this vocabulary (0..%d)\n", w,
                    iris_tokenizer_n_vocab(t) - 1);
            return 1;
        }
        int n = iris_detok_push(&d, (int32_t)id, out, sizeof out);
        fwrite(out, 1, (size_t)n, stdout);
    }
    for (int n; (n = iris_detok_flush(&d, out, sizeof out)) > 0; ) fwrite(out, 1, (size_t)n, stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *tpl_name = NULL;
    int bos = 1, ids_only = 0, special = 0, i = 1, print_prompt = 0, gen = 1, decode = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i >= argc) { fprintf(stderr, "iris tokenize: %s needs a path\n", a); return usage(stderr); }
            model = argv[i];
        } else if (!strcmp(a, "--no-bos")) bos = 0;
        else if (!strcmp(a, "--ids")) ids_only = 1;
        else if (!strcmp(a, "--special")) special = 1;
        else if (!strcmp(a, "--print-prompt")) print_prompt = 1;
        else if (!strcmp(a, "--no-gen")) gen = 0;
        else if (!strcmp(a, "--decode")) decode = 1;
        else if (!strcmp(a, "--template")) {
            if (++i >= argc) { fprintf(stderr, "iris tokenize: --template needs a name\n"); return usage(stderr); }
            tpl_name = argv[i];
        }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--")) { i++; break; }
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "iris tokenize: unknown option '%s'\n", a);
            return usage(stderr);
        } else break;
    }
    int tpl = -1;
    if (tpl_name && (tpl = iris_chat_template_from_name(tpl_name)) < 0) {
        fprintf(stderr, "iris tokenize: unknown template '%s'\n", tpl_name);
        return usage(stderr);
    }
    if (decode && tpl >= 0) { fprintf(stderr, "iris tokenize: --decode and --template exclude each other\n"); return usage(stderr); }
    if (print_prompt && tpl < 0) { fprintf(stderr, "iris tokenize: --print-prompt needs --template\n"); return usage(stderr); }
    if (!model && !print_prompt) { fprintf(stderr, "iris tokenize: -m MODEL_OR_VOCAB is required\n"); return usage(stderr); }
    if (i >= argc) { fprintf(stderr, "iris tokenize: no TEXT given\n"); return usage(stderr); }

    char *text = NULL;
    size_t len = 0;
    if (argc - i == 1 && !strcmp(argv[i], "-")) {
        text = read_stdin(&len);
    } else {
        for (int k = i; k < argc; k++) len += strlen(argv[k]) + 1;
        text = malloc(len + 1);
        if (text) {
            size_t n = 0;
            for (int k = i; k < argc; k++) {
                if (k > i) text[n++] = ' ';
                size_t l = strlen(argv[k]);
                memcpy(text + n, argv[k], l);
                n += l;
            }
            text[n] = 0;   /* --decode reads it with strtok */
            len = n;
        }
    }
    if (!text) { fprintf(stderr, "iris tokenize: out of memory\n"); return 1; }
    if (tpl >= 0) {
        const char *err = NULL;
        char *prompt = render_messages(tpl, text, len, gen, &err);
        free(text);
        if (!prompt) { fprintf(stderr, "iris tokenize: %s\n", err); return 1; }
        if (print_prompt) {
            fputs(prompt, stdout);
            free(prompt);
            return fflush(stdout) == 0 ? 0 : 1;
        }
        text = prompt;
        len = strlen(prompt);
        special = 1;                   /* the template's markers are special tokens */
    }

    iris_tokenizer *t = iris_tokenizer_load(model);
    if (!t) {
        fprintf(stderr, "iris tokenize: %s\n", iris_last_error());
        free(text);
        return 1;
    }
    if (decode) {
        int rc = decode_ids(t, text, special);
        free(text);
        iris_tokenizer_free(t);
        return rc;
    }
    int cap = 256, n;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    while (ids && (n = iris_tokenize(t, text, len, bos, special, ids, cap)) > cap) {
        free(ids);
        cap = n;
        ids = malloc((size_t)cap * sizeof *ids);
    }
    if (!ids || n < 0) {
        fprintf(stderr, "iris tokenize: out of memory\n");
        free(ids); free(text); iris_tokenizer_free(t);
        return 1;
    }
    if (ids_only) {
        for (int k = 0; k < n; k++) printf(k ? " %d" : "%d", ids[k]);
        putchar('\n');
    } else {
        for (int k = 0; k < n; k++) {
            printf("%6d  '", ids[k]);
            print_piece(iris_tokenizer_piece(t, ids[k]));
            puts("'");
        }
    }
    free(ids); free(text);
    iris_tokenizer_free(t);
    return fflush(stdout) == 0 ? 0 : 1;
}

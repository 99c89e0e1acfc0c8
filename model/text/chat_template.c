/* chat_template.c — renders a conversation in the prompt format a model was
 * trained on.  The strings follow the published templates (llava-hf's
 * processor template, LLaVA's conv_vicuna_v1 and conv_plain, Gemma's and
 * ChatML's tokenizer templates); the integration tests render the same
 * conversations with transformers' apply_chat_template to prove it. */
#include "chat_template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[IRIS_TPL_COUNT] = {
    "llava-hf", "vicuna_v1", "plain", "gemma", "chatml", "raw", "openflamingo",
};

static const char VICUNA_SYSTEM[] =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";

int iris_chat_template_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < IRIS_TPL_COUNT; i++)
        if (!strcmp(name, NAMES[i])) return i;
    if (!strcmp(name, "vicuna") || !strcmp(name, "llava_v1")) return IRIS_TPL_VICUNA_V1;
    if (!strcmp(name, "llava")) return IRIS_TPL_LLAVA_HF;
    if (!strcmp(name, "qwen2")) return IRIS_TPL_CHATML;
    return -1;
}

const char *iris_chat_template_name(iris_chat_template t)
{
    return (unsigned)t < IRIS_TPL_COUNT ? NAMES[t] : "unknown";
}

typedef struct { char *p; size_t n, cap; int oom; } sbuf;

static void add_n(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void add(sbuf *b, const char *s) { add_n(b, s ? s : "", strlen(s ? s : "")); }

/* Python's str.isspace() set, which Jinja's |trim strips. */
static int py_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Length of the UTF-8 character at s (1 for a stray byte) and its code point. */
static size_t utf8_at(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t k = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
             : (s[0] & 0xf8) == 0xf0 ? 4 : 1;
    if (k > n) k = 1;
    uint32_t v = k == 1 ? s[0] : (uint32_t)(s[0] & (0x7f >> k));
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) { *cp = 0xfffd; return 1; }
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = k == 1 && s[0] >= 0x80 ? 0xfffd : v;
    return k;
}

/* Jinja's |trim (Python str.strip()): Unicode whitespace off both ends. */
static void add_trimmed(sbuf *b, const char *s)
{
    if (!s) return;
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), a = 0, e = 0, i = 0;
    int seen = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_at(u + i, n - i, &cp);
        if (!py_space(cp)) {
            if (!seen) a = i;
            seen = 1;
            e = i + k;
        }
        i += k;
    }
    if (seen) add_n(b, s + a, e - a);
}

static int is_role(const iris_chat_msg *m, const char *role)
{
    return m->role && !strcmp(m->role, role);
}

static void render_llava_hf(sbuf *b, const iris_chat_msg *m, int n, int gen)
{
    /* "USER: {q} ASSISTANT: {a} USER: ..." ; system text stands alone first */
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "user")) add(b, "USER: ");
        else if (is_role(&m[i], "assistant")) add(b, "ASSISTANT: ");
        add(b, m[i].content); add(b, " ");
    }
    if (gen) add(b, "ASSISTANT:");
}

static void render_vicuna(sbuf *b, const iris_chat_msg *m, int n, int gen)
{
    int i = 0;
    if (n > 0 && is_role(&m[0], "system")) { add(b, m[0].content); i = 1; }
    else add(b, VICUNA_SYSTEM);
    add(b, " ");
    for (; i < n; i++) {
        if (is_role(&m[i], "assistant")) { add(b, "ASSISTANT: "); add(b, m[i].content); add(b, "</s>"); }
        else if (is_role(&m[i], "user")) { add(b, "USER: "); add(b, m[i].content); add(b, " "); }
    }
    if (gen) add(b, "ASSISTANT:");
}

static void render_plain(sbuf *b, const iris_chat_msg *m, int n, int gen)
{
    /* LLaVA stage 1: the human turn is replaced by the image token */
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "user")) { add(b, "<image>"); open = 1; }
        else if (is_role(&m[i], "assistant")) { add(b, m[i].content); add(b, "\n"); open = 0; }
    }
    (void)gen; (void)open;    /* the caption follows the image token directly */
}

static void render_gemma(sbuf *b, const iris_chat_msg *m, int n, int gen)
{
    /* Gemma has no system role: its text opens the first user turn. */
    const char *system = NULL;
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "system")) { system = m[i].content; continue; }
        int user = !is_role(&m[i], "assistant");
        add(b, user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (user && system) { add_trimmed(b, system); add(b, "\n\n"); system = NULL; }
        add_trimmed(b, m[i].content);
        add(b, "<end_of_turn>\n");
    }
    if (gen) add(b, "<start_of_turn>model\n");
}

static void render_chatml(sbuf *b, const iris_chat_msg *m, int n, int gen)
{
    for (int i = 0; i < n; i++) {
        add(b, "<|im_start|>"); add(b, m[i].role ? m[i].role : "user"); add(b, "\n");
        add(b, m[i].content); add(b, "<|im_end|>\n");
    }
    if (gen) add(b, "<|im_start|>assistant\n");
}

static void render_openflamingo(sbuf *b, const iris_chat_msg *m, int n)
{
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "assistant")) {
            add(b, m[i].content);
            add(b, "<|endofchunk|>");
            continue;
        }
        if (!is_role(&m[i], "user") || !m[i].content) continue;
        /* the question without its <image> markers, which go in front */
        sbuf q = {0};
        add(&q, "");
        for (const char *s = m[i].content; *s;) {
            if (!strncmp(s, "<image>", 7)) {
                add(b, "<image>");
                s += 7;
                if (*s == '\n') s++;
            } else {
                add_n(&q, s, 1);
                s++;
            }
        }
        if (q.oom) b->oom = 1;
        sbuf t = {0};
        add(&t, "");
        add_trimmed(&t, q.p);
        if (t.oom) b->oom = 1;
        if (t.p && *t.p) {
            add(b, "Question:");
            add(b, t.p);
            add(b, " Short answer:");
        }
        free(q.p);
        free(t.p);
    }
}

char *iris_chat_render(iris_chat_template t, const iris_chat_msg *msgs, int n,
                       int add_generation_prompt)
{
    sbuf b = {0};
    add(&b, "");
    if (n < 0 || (n > 0 && !msgs)) n = 0;
    switch (t) {
    case IRIS_TPL_LLAVA_HF: render_llava_hf(&b, msgs, n, add_generation_prompt); break;
    case IRIS_TPL_VICUNA_V1: render_vicuna(&b, msgs, n, add_generation_prompt); break;
    case IRIS_TPL_PLAIN: render_plain(&b, msgs, n, add_generation_prompt); break;
    case IRIS_TPL_GEMMA: render_gemma(&b, msgs, n, add_generation_prompt); break;
    case IRIS_TPL_CHATML: render_chatml(&b, msgs, n, add_generation_prompt); break;
    case IRIS_TPL_OPENFLAMINGO: render_openflamingo(&b, msgs, n); break;
    default:
        for (int i = 0; i < n; i++) add(&b, msgs[i].content);
        break;
    }
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

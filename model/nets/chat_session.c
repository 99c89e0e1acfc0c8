#include "chat_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"

static int push_msg(iris_chat *c, const char *role, const char *content, size_t len)
{
    if (c->n_msgs == c->cap_msgs) {
        int cap = c->cap_msgs ? 2 * c->cap_msgs : 8;
        iris_chat_entry *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m) goto oom;
        c->msgs = m;
        c->cap_msgs = cap;
    }
    char *r = strdup(role), *t = strndup(content, len);
    if (!r || !t) {
        free(r);
        free(t);
        goto oom;
    }
    c->msgs[c->n_msgs].role = r;
    c->msgs[c->n_msgs].content = t;
    c->n_msgs++;
    return 0;
oom:
    iris_set_error("out of memory");
    return -1;
}

static void pop_msg(iris_chat *c)
{
    c->n_msgs--;
    free(c->msgs[c->n_msgs].role);
    free(c->msgs[c->n_msgs].content);
}

int iris_chat_init(iris_chat *c, iris_lm *lm, int tpl, const char *system_prompt)
{
    memset(c, 0, sizeof *c);
    c->lm = lm;
    c->tpl = tpl;
    iris_llama_reset(&lm->net);
    if (system_prompt && *system_prompt) return push_msg(c, "system", system_prompt, strlen(system_prompt));
    return 0;
}

void iris_chat_free(iris_chat *c)
{
    while (c->n_msgs) pop_msg(c);
    free(c->msgs);
    free(c->hist);
    memset(c, 0, sizeof *c);
}

void iris_chat_clear(iris_chat *c)
{
    while (c->n_msgs && strcmp(c->msgs[c->n_msgs - 1].role, "system") != 0) pop_msg(c);
    /* only a leading system message survives */
    while (c->n_msgs > 1) pop_msg(c);
    c->n_hist = 0;
    c->pending_images = 0;
    iris_lm_clear_images(c->lm);
    iris_llama_reset(&c->lm->net);
}

int iris_chat_attach_image(iris_chat *c, const char *path)
{
    if (iris_lm_add_image(c->lm, path) < 0) return -1;
    c->pending_images++;
    return 0;
}

static int ensure_hist(iris_chat *c, int n)
{
    if (n <= c->cap_hist) return 0;
    int cap = c->cap_hist ? c->cap_hist : 256;
    while (cap < n) cap *= 2;
    int32_t *h = realloc(c->hist, (size_t)cap * sizeof *h);
    if (!h) {
        iris_set_error("out of memory");
        return -1;
    }
    c->hist = h;
    c->cap_hist = cap;
    return 0;
}

/* Tokens of the whole conversation rendered for generation; *n set. */
static int32_t *render_tokens(iris_chat *c, int *n)
{
    iris_chat_msg *m = malloc((size_t)c->n_msgs * sizeof *m);
    if (!m) {
        iris_set_error("out of memory");
        return NULL;
    }
    for (int i = 0; i < c->n_msgs; i++) {
        m[i].role = c->msgs[i].role;
        m[i].content = c->msgs[i].content;
    }
    char *text = iris_chat_render(c->tpl, m, c->n_msgs, 1);
    free(m);
    if (!text) {
        iris_set_error("out of memory rendering the conversation");
        return NULL;
    }
    size_t len = strlen(text);
    int cnt = iris_lm_tokenize(c->lm, text, len, 1, NULL, 0);
    int32_t *ids = cnt >= 0 ? malloc((size_t)(cnt + 1) * sizeof *ids) : NULL;
    if (!ids) {
        free(text);
        iris_set_error("out of memory tokenizing the conversation");
        return NULL;
    }
    iris_lm_tokenize(c->lm, text, len, 1, ids, cnt);
    free(text);
    int32_t *seq = NULL;
    int n_seq = 0;
    int rc = iris_lm_expand_images(c->lm, ids, cnt, 0, c->lm->n_images, &seq, &n_seq);
    free(ids);
    if (rc) return NULL;
    *n = n_seq;
    return seq;
}

typedef struct {
    char *buf;
    size_t len, cap;
    iris_text_cb user_cb;
    void *user_ud;
} answer_buf;

static void collect(const char *text, int len, void *ud)
{
    answer_buf *a = ud;
    if (a->len + (size_t)len + 1 > a->cap) {
        size_t cap = (a->cap ? a->cap * 2 : 1024) + (size_t)len;
        char *b = realloc(a->buf, cap);
        if (b) {
            a->buf = b;
            a->cap = cap;
        }
    }
    if (a->len + (size_t)len + 1 <= a->cap) {
        memcpy(a->buf + a->len, text, (size_t)len);
        a->len += (size_t)len;
        a->buf[a->len] = 0;
    }
    if (a->user_cb) a->user_cb(text, len, a->user_ud);
}

int iris_chat_turn(iris_chat *c, const char *user_text, const iris_gen_params *gp_in,
                   iris_text_cb on_text, void *ud, volatile sig_atomic_t *stop, iris_gen_stats *st)
{
    iris_llama *net = &c->lm->net;
    int saved_past = net->n_past, saved_hist = c->n_hist;
    int rc_push;
    if (c->pending_images && !strstr(user_text, "<image>")) {
        /* one placeholder per attached image, in front, as LLaVA's data puts it */
        size_t len = strlen(user_text), extra = (size_t)c->pending_images * 8;
        char *t = malloc(len + extra + 1);
        if (!t) {
            iris_set_error("out of memory");
            return -1;
        }
        t[0] = 0;
        for (int i = 0; i < c->pending_images; i++) strcat(t, "<image>\n");
        strcat(t, user_text);
        rc_push = push_msg(c, "user", t, strlen(t));
        free(t);
    } else {
        rc_push = push_msg(c, "user", user_text, strlen(user_text));
    }
    if (rc_push) return -1;
    int n_full = 0;
    int32_t *full = render_tokens(c, &n_full);
    if (!full) goto fail_msg;
    int keep = 0;
    while (keep < c->n_hist && keep < n_full && c->hist[keep] == full[keep]) keep++;
    if (keep == n_full) keep--; /* at least one token must run to get logits */
    int n_new = n_full - keep;
    if (n_full + 1 > net->n_ctx) {
        iris_set_error("the conversation (%d tokens) no longer fits the context of %d tokens; /clear starts over",
                       n_full, net->n_ctx);
        free(full);
        goto fail_msg;
    }
    int n_pred = gp_in->n_predict;
    if (n_pred > net->n_ctx - n_full) n_pred = net->n_ctx - n_full;
    int32_t *out = malloc((size_t)(n_pred > 0 ? n_pred : 1) * sizeof *out);
    if (!out || ensure_hist(c, n_full + n_pred + 1)) {
        free(out);
        free(full);
        iris_set_error("out of memory");
        goto fail_msg;
    }
    iris_llama_truncate(net, keep);
    iris_gen_params gp = *gp_in;
    gp.n_predict = n_pred;
    gp.out_tokens = out;
    answer_buf ans = {.user_cb = on_text, .user_ud = ud};
    int64_t before = net->n_tokens_processed;
    int rc = iris_generate(c->lm, full + keep, n_new, &gp, collect, &ans, stop, st);
    if (rc) {
        free(out);
        free(full);
        free(ans.buf);
        iris_llama_truncate(net, saved_past < keep ? saved_past : keep);
        c->n_hist = saved_hist < keep ? saved_hist : keep;
        goto fail_msg_keep_cache;
    }
    c->last_turn_processed = (int)(net->n_tokens_processed - before);
    memcpy(c->hist, full, (size_t)n_full * sizeof *full);
    memcpy(c->hist + n_full, out, (size_t)st->n_generated * sizeof *out);
    c->n_hist = n_full + st->n_generated;
    if (c->n_hist > net->n_past) c->n_hist = net->n_past; /* last token may be unprocessed at a full context */
    free(out);
    free(full);
    rc = push_msg(c, "assistant", ans.buf ? ans.buf : "", ans.len);
    free(ans.buf);
    c->pending_images = 0;
    return rc;
fail_msg:
    iris_llama_truncate(net, saved_past);
fail_msg_keep_cache:
    pop_msg(c);
    return -1;
}

int iris_chat_save_markdown(const iris_chat *c, const char *path)
{
    iris_atomic_file af;
    if (iris_atomic_open(&af, path, "w")) return -1;
    fprintf(af.f, "# iris chat\n\nModel: `%s`\n\n", c->lm->path ? c->lm->path : "?");
    for (int i = 0; i < c->n_msgs; i++) {
        const char *r = c->msgs[i].role;
        fprintf(af.f, "**%s**:\n\n%s\n\n",
                !strcmp(r, "user") ? "User" : !strcmp(r, "assistant") ? "Assistant" : "System",
                c->msgs[i].content);
    }
    return iris_atomic_commit(&af);
}

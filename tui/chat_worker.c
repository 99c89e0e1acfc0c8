/* chat_worker.c — see chat_worker.h. */
#include "chat_worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/timer.h"

static void post(chat_worker *w, chat_event_kind kind, const char *text, size_t n)
{
    chat_event *e = calloc(1, sizeof *e);
    char *t = malloc(n + 1);
    if (!e || !t) {
        free(e);
        free(t);
        return;   /* out of memory: the event is lost, the UI goes on */
    }
    memcpy(t, text, n);
    t[n] = 0;
    e->kind = kind;
    e->text = t;
    e->len = n;
    if (kind != CW_EV_TEXT) {
        /* a job's outcome becomes visible together with busy = 0, so the UI
         * never sees "loaded" while the worker still refuses a new job */
        if (w->held_tail) w->held_tail->next = e;
        else w->held_head = e;
        w->held_tail = e;
        return;
    }
    pthread_mutex_lock(&w->mu);
    /* consecutive text pieces are merged so a long answer is one event */
    if (kind == CW_EV_TEXT && w->tail && w->tail->kind == CW_EV_TEXT) {
        size_t old = w->tail->len;
        char *m = realloc(w->tail->text, old + n + 1);
        if (m) {
            memcpy(m + old, text, n);
            m[old + n] = 0;
            w->tail->text = m;
            w->tail->len = old + n;
        }
        free(t);
        free(e);
    } else {
        if (w->tail) w->tail->next = e;
        else w->head = e;
        w->tail = e;
    }
    pthread_mutex_unlock(&w->mu);
    if (w->wake) w->wake(w->wake_ud);
}

static void postf(chat_worker *w, chat_event_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void postf(chat_worker *w, chat_event_kind kind, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    post(w, kind, buf, strlen(buf));
}

static void on_text(const char *text, int len, void *ud)
{
    chat_worker *w = ud;
    pthread_mutex_lock(&w->mu);
    w->n_generated++;
    double now = iris_now();
    if (w->n_generated == 1) w->first_token_s = now - w->turn_start;
    double el = now - w->turn_start - w->first_token_s;
    if (w->n_generated > 1 && el > 0) w->live_tok_s = (w->n_generated - 1) / el;
    w->ctx_used++;
    pthread_mutex_unlock(&w->mu);
    if (len > 0) post(w, CW_EV_TEXT, text, (size_t)len);
}

static void unload(chat_worker *w)
{
    if (!w->loaded) return;
    iris_chat_free(&w->chat);
    iris_lm_free(w->lm);
    free(w->lm);
    w->lm = NULL;
    w->loaded = 0;
}

static void do_load(chat_worker *w, const char *path)
{
    iris_lm *lm = malloc(sizeof *lm);
    iris_chat chat;
    if (!lm) {
        postf(w, CW_EV_ERROR, "out of memory");
        return;
    }
    if (iris_lm_load(lm, path, w->be, w->n_ctx)) {
        postf(w, CW_EV_ERROR, "%s", iris_last_error());
        free(lm);
        return;   /* the model in use stays */
    }
    if (iris_chat_init(&chat, lm, lm->default_template, w->system_prompt)) {
        postf(w, CW_EV_ERROR, "%s", iris_last_error());
        iris_lm_free(lm);
        free(lm);
        return;
    }
    unload(w);
    w->lm = lm;
    w->chat = chat;
    pthread_mutex_lock(&w->mu);
    w->loaded = 1;
    w->has_vision = iris_lm_has_vision(lm);
    free(w->model_path);
    w->model_path = strdup(path);
    w->ctx_used = 0;
    w->ctx_size = lm->net.n_ctx;
    pthread_mutex_unlock(&w->mu);
    post(w, CW_EV_LOADED, path, strlen(path));
}

static void run_job(chat_worker *w)
{
    iris_clear_error();
    if (w->job == CW_LOAD) {
        do_load(w, w->arg);
        return;
    }
    if (!w->loaded) {
        postf(w, CW_EV_ERROR, "no model loaded (/model PATH)");
        return;
    }
    switch (w->job) {
    case CW_IMAGE:
        if (iris_chat_attach_image(&w->chat, w->arg)) postf(w, CW_EV_ERROR, "%s", iris_last_error());
        else post(w, CW_EV_IMAGE, w->arg, strlen(w->arg));
        break;
    case CW_CLEAR:
        iris_chat_clear(&w->chat);
        pthread_mutex_lock(&w->mu);
        w->ctx_used = w->chat.n_hist;
        pthread_mutex_unlock(&w->mu);
        break;
    case CW_SYSTEM: {
        free(w->system_prompt);
        w->system_prompt = w->arg[0] ? strdup(w->arg) : NULL;
        iris_chat fresh;
        if (iris_chat_init(&fresh, w->lm, w->chat.tpl, w->system_prompt)) {
            postf(w, CW_EV_ERROR, "%s", iris_last_error());
            break;
        }
        iris_chat_free(&w->chat);
        w->chat = fresh;
        pthread_mutex_lock(&w->mu);
        w->ctx_used = 0;
        pthread_mutex_unlock(&w->mu);
        postf(w, CW_EV_INFO, "system prompt set; the conversation starts over");
        break;
    }
    case CW_SAVE:
        if (iris_chat_save_markdown(&w->chat, w->arg)) postf(w, CW_EV_ERROR, "%s", iris_last_error());
        else postf(w, CW_EV_INFO, "saved to %s", w->arg);
        break;
    case CW_TURN: {
        iris_gen_stats st;
        memset(&st, 0, sizeof st);
        pthread_mutex_lock(&w->mu);
        w->n_generated = 0;
        w->live_tok_s = 0;
        w->first_token_s = 0;
        w->turn_start = iris_now();
        pthread_mutex_unlock(&w->mu);
        int rc = iris_chat_turn(&w->chat, w->arg, &w->gen, on_text, w, &w->stop, &st);
        pthread_mutex_lock(&w->mu);
        w->ctx_used = w->chat.n_hist;
        if (!rc) {
            w->gen_s = st.gen_s;
            w->live_tok_s = st.gen_s > 0 ? st.n_generated / st.gen_s : 0;
            if (st.n_generated == 0) w->first_token_s = st.prompt_s;
        }
        pthread_mutex_unlock(&w->mu);
        if (rc) postf(w, CW_EV_ERROR, "%s", iris_last_error());
        else
            postf(w, CW_EV_DONE, "%s%d tokens, %.1f tok/s, first token %.2fs", st.interrupted ? "[stopped] " : "",
                  st.n_generated, st.gen_s > 0 ? st.n_generated / st.gen_s : 0.0, w->first_token_s);
        break;
    }
    default: break;
    }
}

static void *worker_main(void *arg)
{
    chat_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->quit && !w->busy) pthread_cond_wait(&w->cv, &w->mu);
        if (w->quit) break;
        pthread_mutex_unlock(&w->mu);
        run_job(w);
        pthread_mutex_lock(&w->mu);
        free(w->arg);
        w->arg = NULL;
        if (w->held_head) {
            if (w->tail) w->tail->next = w->held_head;
            else w->head = w->held_head;
            w->tail = w->held_tail;
            w->held_head = w->held_tail = NULL;
        }
        w->busy = 0;
        pthread_mutex_unlock(&w->mu);
        if (w->wake) w->wake(w->wake_ud);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int chat_worker_start(chat_worker *w, const iris_backend *be, void (*wake)(void *), void *ud)
{
    memset(w, 0, sizeof *w);
    w->be = be;
    w->wake = wake;
    w->wake_ud = ud;
    if (pthread_mutex_init(&w->mu, NULL) || pthread_cond_init(&w->cv, NULL)) {
        iris_set_error("cannot create a mutex");
        return -1;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w)) {
        iris_set_error("cannot start a worker thread");
        return -1;
    }
    w->started = 1;
    return 0;
}

void chat_worker_destroy(chat_worker *w)
{
    if (!w->started) return;
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    unload(w);
    chat_events_free(w->head);
    chat_events_free(w->held_head);
    free(w->arg);
    free(w->model_path);
    free(w->system_prompt);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    w->started = 0;
}

int chat_worker_submit(chat_worker *w, chat_job_kind job, const char *arg, const iris_gen_params *gen)
{
    char *copy = strdup(arg ? arg : "");
    if (!copy) return -1;
    pthread_mutex_lock(&w->mu);
    if (w->busy) {
        pthread_mutex_unlock(&w->mu);
        free(copy);
        return -1;
    }
    w->job = job;
    w->arg = copy;
    if (gen) w->gen = *gen;
    w->stop = 0;
    w->busy = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void chat_worker_stop(chat_worker *w) { w->stop = 1; }

int chat_worker_busy(chat_worker *w)
{
    pthread_mutex_lock(&w->mu);
    int b = w->busy;
    pthread_mutex_unlock(&w->mu);
    return b;
}

chat_event *chat_worker_collect(chat_worker *w)
{
    pthread_mutex_lock(&w->mu);
    chat_event *e = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->mu);
    return e;
}

void chat_events_free(chat_event *e)
{
    while (e) {
        chat_event *n = e->next;
        free(e->text);
        free(e);
        e = n;
    }
}

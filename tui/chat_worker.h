/* chat_worker.h — one model and its chat session in a worker thread, so the
 * UI thread never waits for loading, image encoding or generation.
 *
 * The UI thread submits one job at a time (refused while busy) and collects
 * results with chat_worker_collect: streamed text, and messages (errors,
 * "loaded ...") in order.  The worker wakes the UI with the callback given at
 * creation.  chat_worker_stop() sets the volatile flag generation polls
 * between tokens.  No ncurses here. */
#ifndef IRIS_CHAT_WORKER_H
#define IRIS_CHAT_WORKER_H

#include <pthread.h>
#include <signal.h>

#include "nets/chat_session.h"

typedef enum { CW_LOAD, CW_IMAGE, CW_TURN, CW_CLEAR, CW_SYSTEM, CW_SAVE } chat_job_kind;

typedef enum { CW_EV_TEXT, CW_EV_INFO, CW_EV_ERROR, CW_EV_DONE, CW_EV_LOADED, CW_EV_IMAGE } chat_event_kind;

typedef struct chat_event {
    chat_event_kind kind;
    char *text;      /* NUL-terminated for messages; a model's text may hold NUL bytes, */
    size_t len;      /* so answers are read with len */
    struct chat_event *next;
} chat_event;

typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, quit;
    /* the job (owned by the worker while busy) */
    int busy;
    chat_job_kind job;
    char *arg;
    iris_gen_params gen;
    volatile sig_atomic_t stop;
    /* results */
    chat_event *head, *tail;
    chat_event *held_head, *held_tail;   /* worker only: published with busy = 0 */
    /* state for the status line (read under mu) */
    char *model_path;
    int loaded, has_vision;
    int ctx_used, ctx_size;
    int n_generated;
    double gen_s, first_token_s, turn_start;
    double live_tok_s;
    /* engine objects (worker thread only while busy) */
    const iris_backend *be;
    int n_ctx;             /* context of loaded models (--ctx; 0: the model's, at most 4096) */
    iris_lm *lm;           /* heap: the session points at it */
    iris_chat chat;
    char *system_prompt;
    void (*wake)(void *ud);
    void *wake_ud;
} chat_worker;

int chat_worker_start(chat_worker *w, const iris_backend *be, void (*wake)(void *), void *ud);
void chat_worker_destroy(chat_worker *w);
/* 0 when queued, -1 when busy. arg is copied. */
int chat_worker_submit(chat_worker *w, chat_job_kind job, const char *arg, const iris_gen_params *gen);
void chat_worker_stop(chat_worker *w);
int chat_worker_busy(chat_worker *w);
/* Takes the pending events (a list to free with chat_events_free). */
chat_event *chat_worker_collect(chat_worker *w);
void chat_events_free(chat_event *e);

#endif

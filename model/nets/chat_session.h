/* chat_session.h — a multi-turn conversation over one model whose KV cache
 * is kept between turns.
 *
 * The cache always holds a token sequence `hist`.  A new turn renders the
 * whole conversation with the chat template, tokenizes it, keeps the longest
 * prefix already in the cache and processes only the rest — normally just the
 * new turn's own tokens — so the history is never re-prefilled, and the result
 * is by construction what a from-scratch run over the transcript computes.
 *
 * Contract: a failed turn (context full, model error) leaves the session
 * usable: the user message is dropped and the cache rewound to its state
 * before the turn.
 */
#ifndef IRIS_CHAT_SESSION_H
#define IRIS_CHAT_SESSION_H

#include <signal.h>

#include "generate.h"
#include "lm.h"
#include "text/chat_template.h"

typedef struct {
    char *role;
    char *content;
} iris_chat_entry;

typedef struct iris_chat {
    iris_lm *lm;
    int tpl;
    iris_chat_entry *msgs;
    int n_msgs, cap_msgs;
    int32_t *hist;          /* tokens in the cache, in order */
    int n_hist, cap_hist;
    int last_turn_processed; /* tokens the last turn sent through the decoder */
    int pending_images;      /* attached with iris_chat_attach_image, not yet sent */
} iris_chat;

int iris_chat_init(iris_chat *c, iris_lm *lm, int tpl, const char *system_prompt);
void iris_chat_free(iris_chat *c);
/* Forgets the conversation (keeps the system prompt) and rewinds the cache. */
void iris_chat_clear(iris_chat *c);
/* Encodes an image for the next user message (which gets an <image>
 * placeholder in front unless it has its own).  0 on success. */
int iris_chat_attach_image(iris_chat *c, const char *path);
/* Sends a user message and streams the answer through on_text. */
int iris_chat_turn(iris_chat *c, const char *user_text, const iris_gen_params *gp,
                   iris_text_cb on_text, void *ud, volatile sig_atomic_t *stop,
                   iris_gen_stats *st);
/* Writes the transcript as Markdown (atomically). */
int iris_chat_save_markdown(const iris_chat *c, const char *path);

#endif

/* Greedy answers to many prompts at once (generate_batch.h). */
#include "generate_batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "llama_multi.h"

/* Rows per forward pass: enough for several prompts with their image rows
 * to go through as one matrix, small enough that the workspace stays modest
 * for a 7B model (512 x 11008 floats of FFN activations). */
#define MAX_ROWS 512

enum { SLOT_FREE, SLOT_PROMPT, SLOT_ANSWER };

typedef struct {
    int state, tag;
    int32_t *seq;      /* the prompt */
    int n, done;       /* its length, rows already in the cache */
    int src, keep;     /* SLOT_PROMPT: copy keep rows from slot src first (src >= 0) */
    float **images;    /* the prompt's image features (host copies) */
    int n_images;
    int32_t next;      /* SLOT_ANSWER: the token to feed */
    int n_gen;
    iris_detok dt;
    iris_strbuf text;
} slot;

struct iris_gen_batch {
    iris_lm *lm;
    iris_llama_multi multi;
    int n_slots, n_ctx, n_predict, stop_at_newline;
    slot *slots;
    iris_llama_seg *segs;
    int *seg_final;    /* per segment of a prompt pass: 1 when it ends its prompt */
    int32_t *ids;
    float *embeds;     /* host [MAX_ROWS, dim] */
    float *logits;     /* host [n_slots, vocab] */
};

int iris_gen_batch_supported(const iris_lm *lm)
{
    if (lm->flamingo) {
        iris_set_error("batched generation does not cover OpenFlamingo models (cross-attention to their media)");
        return 0;
    }
    return iris_llama_multi_supported(&lm->net);
}

static void slot_clear(slot *s)
{
    free(s->seq);
    for (int i = 0; i < s->n_images; i++) free(s->images[i]);
    free(s->images);
    free(s->text.s);
    memset(s, 0, sizeof *s);
}

void iris_gen_batch_free(iris_gen_batch *g)
{
    if (!g) return;
    for (int i = 0; g->slots && i < g->n_slots; i++) slot_clear(&g->slots[i]);
    if (g->multi.n_slots) iris_llama_multi_free(&g->multi, &g->lm->net);
    free(g->slots);
    free(g->segs);
    free(g->seg_final);
    free(g->ids);
    free(g->embeds);
    free(g->logits);
    free(g);
}

iris_gen_batch *iris_gen_batch_new(iris_lm *lm, int n_slots, int n_ctx, int n_predict, int stop_at_newline)
{
    if (!iris_gen_batch_supported(lm)) return NULL;
    if (n_slots <= 0 || n_ctx <= 0 || n_predict <= 0) {
        iris_set_error("batched generation: bad sizes (%d sequences, %d tokens, %d to predict)", n_slots, n_ctx,
                       n_predict);
        return NULL;
    }
    iris_gen_batch *g = calloc(1, sizeof *g);
    if (!g) {
        iris_set_error("out of memory");
        return NULL;
    }
    g->lm = lm;
    g->n_slots = n_slots;
    g->n_ctx = n_ctx;
    g->n_predict = n_predict;
    g->stop_at_newline = stop_at_newline;
    int rows = n_slots > MAX_ROWS ? n_slots : MAX_ROWS;
    if (iris_llama_multi_init(&g->multi, &lm->net, n_slots, n_ctx, rows)) {
        free(g);
        return NULL;
    }
    g->slots = calloc((size_t)n_slots, sizeof *g->slots);
    g->segs = calloc((size_t)n_slots, sizeof *g->segs);
    g->seg_final = calloc((size_t)n_slots, sizeof *g->seg_final);
    g->ids = calloc((size_t)rows, sizeof *g->ids);
    g->embeds = malloc((size_t)rows * lm->net.cfg.dim * sizeof *g->embeds);
    g->logits = malloc((size_t)n_slots * lm->net.cfg.vocab_size * sizeof *g->logits);
    if (!g->slots || !g->segs || !g->seg_final || !g->ids || !g->embeds || !g->logits) {
        iris_set_error("out of memory");
        iris_gen_batch_free(g);
        return NULL;
    }
    return g;
}

int iris_gen_batch_free_slots(const iris_gen_batch *g)
{
    int n = 0;
    for (int i = 0; i < g->n_slots; i++) n += g->slots[i].state == SLOT_FREE;
    return n;
}

int iris_gen_batch_active(const iris_gen_batch *g) { return g->n_slots - iris_gen_batch_free_slots(g); }

int iris_gen_batch_add(iris_gen_batch *g, const int32_t *seq, int n, const float *const *images, int n_images,
                       int tag)
{
    return iris_gen_batch_add_shared(g, seq, n, images, n_images, tag, 0, 0);
}

int iris_gen_batch_add_shared(iris_gen_batch *g, const int32_t *seq, int n, const float *const *images,
                              int n_images, int tag, int src_tag, int keep)
{
    const iris_lm *lm = g->lm;
    if (n <= 0 || n + g->n_predict > g->n_ctx) {
        iris_set_error("%d prompt tokens + %d to predict do not fit the batch's context of %d", n, g->n_predict,
                       g->n_ctx);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (seq[i] >= 0) continue;
        int img = lm->n_img_rows > 0 ? (-seq[i] - 1) / lm->n_img_rows : n_images;
        if (img >= n_images) {
            iris_set_error("the prompt names image %d but %d image%s given", img, n_images, n_images == 1 ? " was" : "s were");
            return -1;
        }
    }
    slot *s = NULL;
    int idx = 0;
    for (; idx < g->n_slots && !s; idx++)
        if (g->slots[idx].state == SLOT_FREE) s = &g->slots[idx];
    if (!s) {
        iris_set_error("batched generation: no free slot");
        return -1;
    }
    size_t feat = (size_t)lm->n_img_rows * lm->net.cfg.dim;
    s->seq = malloc((size_t)n * sizeof *seq);
    s->images = n_images ? calloc((size_t)n_images, sizeof *s->images) : NULL;
    int ok = s->seq && (!n_images || s->images);
    for (int i = 0; ok && i < n_images; i++) {
        if (!(s->images[i] = malloc(feat * sizeof(float)))) ok = 0;
        else memcpy(s->images[i], images[i], feat * sizeof(float));
        s->n_images = i + 1;
    }
    if (!ok) {
        slot_clear(s);
        iris_set_error("out of memory");
        return -1;
    }
    memcpy(s->seq, seq, (size_t)n * sizeof *seq);
    s->n = n;
    s->tag = tag;
    s->state = SLOT_PROMPT;
    iris_detok_init(&s->dt, lm->tok, 0);
    iris_llama_multi_reset(&g->multi, idx - 1);
    s->src = -1;
    for (int j = 0; keep > 0 && keep < n && j < g->n_slots; j++) {
        const slot *o = &g->slots[j];
        if (j != idx - 1 && o->state != SLOT_FREE && o->tag == src_tag && o->n >= keep) {
            s->src = j;
            s->keep = keep;
        }
    }
    return 0;
}

static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;   /* the first of equal maxima, as the sampler's greedy pick */
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int add_text(slot *s, char *text, int len)
{
    if (len > 0) iris_text_mask_nul(text, (size_t)len);
    if (len > 0 && iris_strbuf_add(&s->text, text, (size_t)len)) {
        iris_set_error("out of memory");
        return -1;
    }
    return 0;
}

/* The answer of slot i is complete: hand its text over and free the slot. */
static int finish(iris_gen_batch *g, int i, iris_gen_batch_done done, void *ud)
{
    slot *s = &g->slots[i];
    char text[512];
    for (int len; (len = iris_detok_flush(&s->dt, text, sizeof text)) > 0;)
        if (add_text(s, text, len)) return -1;
    char *answer = s->text.s ? s->text.s : strdup("");
    if (!answer) {
        iris_set_error("out of memory");
        return -1;
    }
    s->text.s = NULL;
    int tag = s->tag, n_gen = s->n_gen;
    slot_clear(s);
    done(tag, answer, n_gen, ud);
    return 0;
}

/* Slot i's next token from its logits (generate.c's rules, greedy). */
static int take_token(iris_gen_batch *g, int i, const float *logits, iris_gen_batch_done done, void *ud)
{
    slot *s = &g->slots[i];
    int32_t t = argmax(logits, g->lm->net.cfg.vocab_size);
    s->n_gen++;
    int end = iris_lm_is_end(g->lm, t), stop = end || s->n_gen >= g->n_predict;
    if (!end) {
        char text[512];
        int len = iris_detok_push(&s->dt, t, text, sizeof text);
        if (add_text(s, text, len)) return -1;
        if (g->stop_at_newline && len > 0 && memchr(text, '\n', (size_t)len)) stop = 1;
    }
    if (stop) return finish(g, i, done, ud);
    s->next = t;
    s->state = SLOT_ANSWER;
    return 0;
}

/* Input rows [from, from + k) of slot s's prompt into embeds (host). */
static int prompt_rows(iris_gen_batch *g, const slot *s, int from, int k, float *embeds)
{
    iris_lm *lm = g->lm;
    int dim = lm->net.cfg.dim;
    for (int i = 0; i < k;) {
        int32_t v = s->seq[from + i];
        if (v < 0) {
            int idx = -v - 1, img = idx / lm->n_img_rows, r = idx % lm->n_img_rows;
            memcpy(embeds + (size_t)i * dim, s->images[img] + (size_t)r * dim, (size_t)dim * sizeof(float));
            i++;
            continue;
        }
        int run = 1;   /* a run of text tokens: one embedding lookup */
        while (i + run < k && s->seq[from + i + run] >= 0) run++;
        if (iris_llama_embed(&lm->net, s->seq + from + i, run, embeds + (size_t)i * dim)) return -1;
        i += run;
    }
    return 0;
}

/* Copies slot s's shared prefix from its source once the source's prompt
 * rows are in the cache; 1 when s can go on, 0 while it must wait.  A
 * source that has ended meanwhile (in this step: slots are refilled only
 * between steps) still has its rows. */
static int take_prefix(iris_gen_batch *g, int i)
{
    slot *s = &g->slots[i];
    if (s->src < 0) return 1;
    const slot *o = &g->slots[s->src];
    if (o->state == SLOT_PROMPT && o->done < s->keep) return 0;
    if (iris_llama_multi_copy_prefix(&g->multi, &g->lm->net, i, s->src, s->keep) == 0) s->done = s->keep;
    s->src = -1;   /* copied, or (cannot happen) computed in full */
    return 1;
}

/* Prompts not yet in the cache, packed into passes of at most max_rows rows;
 * a prompt longer than that continues in the next pass. */
static int prompt_passes(iris_gen_batch *g, iris_gen_batch_done done, void *ud)
{
    int dim = g->lm->net.cfg.dim, vocab = g->lm->net.cfg.vocab_size;
    for (;;) {
        int n_segs = 0, rows = 0;
        for (int i = 0; i < g->n_slots && rows < g->multi.max_rows; i++) {
            slot *s = &g->slots[i];
            if (s->state != SLOT_PROMPT || !take_prefix(g, i)) continue;
            int k = s->n - s->done, room = g->multi.max_rows - rows;
            if (k > room) k = room;
            if (prompt_rows(g, s, s->done, k, g->embeds + (size_t)rows * dim)) return -1;
            g->segs[n_segs] = (iris_llama_seg){i, k};
            g->seg_final[n_segs++] = s->done + k == s->n;
            rows += k;
        }
        if (!n_segs) return 0;
        if (iris_llama_multi_forward(&g->multi, &g->lm->net, g->segs, n_segs, NULL, g->embeds, g->logits))
            return -1;
        for (int j = 0; j < n_segs; j++) {
            slot *s = &g->slots[g->segs[j].slot];
            s->done += g->segs[j].n;
            if (g->seg_final[j] && take_token(g, g->segs[j].slot, g->logits + (size_t)j * vocab, done, ud))
                return -1;
        }
    }
}

int iris_gen_batch_step(iris_gen_batch *g, iris_gen_batch_done done, void *ud)
{
    if (prompt_passes(g, done, ud)) return -1;
    int n_segs = 0, vocab = g->lm->net.cfg.vocab_size;
    for (int i = 0; i < g->n_slots; i++)
        if (g->slots[i].state == SLOT_ANSWER) {
            g->segs[n_segs] = (iris_llama_seg){i, 1};
            g->ids[n_segs++] = g->slots[i].next;
        }
    if (!n_segs) return 0;
    if (iris_llama_multi_forward(&g->multi, &g->lm->net, g->segs, n_segs, g->ids, NULL, g->logits)) return -1;
    for (int j = 0; j < n_segs; j++)
        if (take_token(g, g->segs[j].slot, g->logits + (size_t)j * vocab, done, ud)) return -1;
    return 0;
}

/* iris_evaluate's batched path: questions answered together through
 * generate_batch.h (see evaluate.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval_internal.h"
#include "nets/generate_batch.h"
#include "nets/llama_multi.h"

typedef struct {
    const iris_eval_set *set;
    const iris_eval_opts *o;
    iris_eval_result *r;
    int total, n_done, failed;
    double sum;
} answers;

/* An answer came back (in any order): keep its first line and score it. */
static void on_answer(int tag, char *text, int n_tokens, void *ud)
{
    (void)n_tokens;
    answers *a = ud;
    char *nl = strchr(text, '\n');
    if (nl) *nl = 0;
    a->r->pred[tag] = text;
    const iris_eval_item *it = &a->set->items[tag];
    double acc = iris_eval_score(it, text, a->o->metric);
    if (acc < 0) {
        if (!a->failed)
            iris_set_error("question %s has no reference answer for the %s metric", it->id,
                           iris_metric_name(a->o->metric));
        a->failed = 1;
        return;
    }
    a->r->acc[tag] = acc;
    a->sum += acc;
    a->n_done++;
    if (a->o->progress) a->o->progress(a->n_done, a->total, 100.0 * a->sum / a->n_done, a->o->ud);
}

/* Question i's user turn (with its image when it has one). */
static char *question_text(iris_lm *lm, const iris_eval_item *it, const iris_eval_opts *o)
{
    if (it->image && !lm->vision) {
        iris_set_error("question %s has an image but %s has no vision tower", it->id, lm->path);
        return NULL;
    }
    char *user = iris_eval_user_text(it, o, it->image != NULL);
    if (!user) iris_set_error("out of memory");
    return user;
}

/* The longest prompt of questions 0..total-1, image rows counted (each
 * slot's cache must hold it plus the answer); fails on a prompt that does not
 * fit the context.  Nothing is encoded yet: the image tokens are counted. */
static int longest_prompt(iris_lm *lm, const iris_eval_set *set, const iris_eval_opts *o, int total, int tpl,
                          int n_predict, int *longest)
{
    *longest = 0;
    for (int i = 0; i < total; i++) {
        const iris_eval_item *it = &set->items[i];
        int n = 0;
        char *user = question_text(lm, it, o);
        int32_t *ids = user ? iris_eval_prompt_ids(lm, user, tpl, &n) : NULL;
        free(user);
        if (!ids) return -1;
        int k = iris_lm_count_image_tokens(lm, ids, n), want = it->image != NULL;
        free(ids);
        if (k != want) {
            iris_set_error("question %s: the prompt has %d image placeholders for %d image%s", it->id, k, want,
                           want == 1 ? "" : "s");
            return -1;
        }
        n += k * (lm->n_img_rows - 1);
        if (n + n_predict > lm->net.n_ctx) {
            iris_set_error("question %s: %d prompt tokens do not fit the context of %d", it->id, n, lm->net.n_ctx);
            return -1;
        }
        if (n > *longest) *longest = n;
    }
    return 0;
}

/* Encodes question i's image unless it is the one already encoded. */
static int question_image(iris_lm *lm, const iris_eval_item *it, const char **current)
{
    if (!it->image) return 0;
    if (*current && !strcmp(*current, it->image) && lm->n_images == 1) return 0;
    *current = NULL;
    iris_lm_clear_images(lm);
    if (iris_lm_add_image(lm, it->image) < 0) return -1;
    *current = it->image;
    return 0;
}

int iris_evaluate_batched(iris_lm *lm, const iris_eval_set *set, const iris_eval_opts *o, int total, int tpl,
                          int n_predict, int batch, iris_eval_result *r)
{
    int longest;
    if (longest_prompt(lm, set, o, total, tpl, n_predict, &longest)) return -1;
    int n_ctx = longest + n_predict, slots = batch < total ? batch : total;
    if (slots < 1) slots = 1;
    if (o->batch <= 0) {   /* automatic: keep the caches within the budget */
        size_t per_slot = iris_llama_multi_cache_bytes(&lm->net, 1, n_ctx);
        size_t budget = (size_t)IRIS_EVAL_BATCH_CACHE_MIB << 20;
        while (slots > 1 && (size_t)slots * per_slot > budget) slots--;
    }
    iris_gen_batch *g = iris_gen_batch_new(lm, slots, n_ctx, n_predict, 1);
    if (!g) return -1;
    answers a = {.set = set, .o = o, .r = r, .total = total};
    const char *current = NULL;
    int32_t *prev = NULL;   /* the previous question's prompt, for a shared prefix */
    int n_prev = 0, next = 0, rc = -1;
    for (;;) {
        while (next < total && iris_gen_batch_free_slots(g) > 0 && !(o->stop && *o->stop)) {
            const iris_eval_item *it = &set->items[next];
            int n = 0;
            char *user = question_text(lm, it, o);
            if (!user) goto done;
            int32_t *seq = question_image(lm, it, &current) ? NULL
                           : iris_eval_prompt_sequence(lm, user, tpl, it->image ? 1 : 0, &n);
            free(user);
            if (!seq) goto done;
            /* the same image as the previous question (or none for both): the
             * prompt prefix they share is copied, as the one-at-a-time path
             * keeps it in its cache (image rows of different images have the
             * same ids, so only the same image may share) */
            int keep = 0;
            const iris_eval_item *pi = next ? &set->items[next - 1] : NULL;
            if (pi && (pi->image ? it->image && !strcmp(pi->image, it->image) : !it->image))
                while (keep < n_prev && keep < n - 1 && prev[keep] == seq[keep]) keep++;
            int added = iris_gen_batch_add_shared(g, seq, n, (const float *const *)lm->image_feats,
                                                  it->image ? 1 : 0, next, next - 1, keep);
            free(prev);
            prev = seq;
            n_prev = n;
            if (added) goto done;
            r->n = ++next;   /* every question up to here gets an answer (or the run fails) */
        }
        if (!iris_gen_batch_active(g)) break;
        if (iris_gen_batch_step(g, on_answer, &a) || a.failed) goto done;
    }
    rc = iris_eval_tally(r, set);
done:
    free(prev);
    iris_gen_batch_free(g);
    return rc;
}

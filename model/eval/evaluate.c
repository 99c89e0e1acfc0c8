#include "evaluate.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/timer.h"
#include "nets/generate.h"
#include "nets/generate_batch.h"
#include "text/chat_template.h"
#include "eval_internal.h"
#include "vqa_metric.h"

static const char *const metric_names[] = {"vqav2", "aokvqa-da", "aokvqa-mc", "exact"};

int iris_metric_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, metric_names[i])) return i;
    return -1;
}

const char *iris_metric_name(iris_metric m) { return metric_names[m]; }

/* The user turn: image placeholder, question, choices (MC), suffix. */
char *iris_eval_user_text(const iris_eval_item *it, const iris_eval_opts *o, int with_image)
{
    size_t n = strlen(it->question) + 64 + (o->prompt_suffix ? strlen(o->prompt_suffix) : 0);
    for (int i = 0; i < it->n_choices; i++) n += strlen(it->choices[i]) + 4;
    char *s = malloc(n);
    if (!s) return NULL;
    snprintf(s, n, "%s%s", with_image ? "<image>\n" : "", it->question);
    if (o->metric == IRIS_METRIC_AOKVQA_MC && it->n_choices) {
        strcat(s, "\nChoices: ");
        for (int i = 0; i < it->n_choices; i++) {
            if (i) strcat(s, ", ");
            strcat(s, it->choices[i]);
        }
    }
    if (o->prompt_suffix && *o->prompt_suffix) {
        strcat(s, "\n");
        strcat(s, o->prompt_suffix);
    }
    return s;
}

int32_t *iris_eval_prompt_ids(iris_lm *lm, const char *user, int tpl, int *n_out)
{
    iris_chat_msg msg = {"user", user};
    char *text = iris_chat_render(tpl, &msg, 1, 1);
    if (!text) {
        iris_set_error("out of memory");
        return NULL;
    }
    size_t len = strlen(text);
    int n = iris_lm_tokenize(lm, text, len, 1, NULL, 0);
    int32_t *ids = n >= 0 ? malloc((size_t)(n + 1) * sizeof *ids) : NULL;
    if (ids) {
        iris_lm_tokenize(lm, text, len, 1, ids, n);
        *n_out = n;
    } else {
        iris_set_error("out of memory");
    }
    free(text);
    return ids;
}

int32_t *iris_eval_prompt_sequence(iris_lm *lm, const char *user, int tpl, int n_images, int *n_out)
{
    int n = 0;
    int32_t *ids = iris_eval_prompt_ids(lm, user, tpl, &n), *seq = NULL;
    if (ids && iris_lm_expand_images(lm, ids, n, 0, n_images, &seq, n_out)) seq = NULL;
    free(ids);
    return seq;
}

/* ---- OpenFlamingo's few-shot VQA prompts ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* k distinct support indices for question q (never q itself when drawing
 * from the evaluated set), reproducible from seed and q. */
static int draw_shots(const iris_eval_set *sup, const iris_eval_item *q, int k, uint64_t seed, int qi, int *pick)
{
    int avail = 0;
    for (int i = 0; i < sup->n; i++) avail += &sup->items[i] != q && sup->items[i].n_answers > 0;
    if (avail < k) {
        iris_set_error("--shots %d: the support set has only %d questions with answers to draw from", k, avail);
        return -1;
    }
    uint64_t st = seed ^ (0x632be59bd9b4e019ULL * (uint64_t)(qi + 1));
    for (int j = 0; j < k; j++) {
        for (;;) {
            int c = (int)(splitmix(&st) % (uint64_t)sup->n), dup = 0;
            if (&sup->items[c] == q || sup->items[c].n_answers == 0) continue;
            for (int t = 0; t < j; t++) dup |= pick[t] == c;
            if (!dup) {
                pick[j] = c;
                break;
            }
        }
    }
    return 0;
}

static int append(char **s, size_t *len, size_t *cap, const char *a, const char *b, const char *c)
{
    size_t need = *len + strlen(a) + strlen(b) + strlen(c) + 1;
    if (need > *cap) {
        size_t nc = need * 2;
        char *t = realloc(*s, nc);
        if (!t) return -1;
        *s = t;
        *cap = nc;
    }
    *len += (size_t)sprintf(*s + *len, "%s%s%s", a, b, c);
    return 0;
}

/* The prompt text and the images it names (shots first, then the question's);
 * *n_img images go into imgs. */
static char *flamingo_prompt(const iris_eval_item *it, const iris_eval_set *sup, const int *pick, int k,
                             const char **imgs, int *n_img)
{
    size_t len = 0, cap = 256;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    *n_img = 0;
    for (int j = 0; j <= k; j++) {
        const iris_eval_item *e = j < k ? &sup->items[pick[j]] : it;
        if (e->image) imgs[(*n_img)++] = e->image;
        if (append(&s, &len, &cap, e->image ? "<image>" : "", "Question:", e->question) ||
            append(&s, &len, &cap, " Short answer:", j < k ? e->answers[0] : "", j < k ? "<|endofchunk|>" : "")) {
            free(s);
            return NULL;
        }
    }
    return s;
}

/* OpenFlamingo's postprocess_vqa_generation. */
static void flamingo_cut(char *pred)
{
    static const char *const stops[] = {"Question", "Answer", "Short", ", "};
    for (size_t i = 0; i < sizeof stops / sizeof *stops; i++) {
        char *p = strstr(pred, stops[i]);
        if (p) *p = 0;
    }
}

/* One few-shot question: encode its images, empty the cache and return its
 * prompt's token ids in *seq_out (*n_out of them). */
static int flamingo_question(iris_lm *lm, const iris_eval_item *it, const iris_eval_opts *o, int qi,
                             int32_t **seq_out, int *n_out, char **shot_ids)
{
    const iris_eval_set *sup = o->support;
    int k = o->shots, n_img = 0, rc = -1;
    int *pick = calloc((size_t)k + 1, sizeof *pick);
    const char **imgs = calloc((size_t)k + 1, sizeof *imgs);
    char *text = NULL;
    int32_t *ids = NULL;
    if (!pick || !imgs) {
        iris_set_error("out of memory");
        goto done;
    }
    if (k && draw_shots(sup, it, k, o->seed, qi, pick)) goto done;
    if (k) {
        size_t len = 0, cap = 64;
        char *ids_text = malloc(cap);
        if (!ids_text) {
            iris_set_error("out of memory");
            goto done;
        }
        ids_text[0] = 0;
        for (int j = 0; j < k; j++)
            if (append(&ids_text, &len, &cap, j ? "\n" : "", sup->items[pick[j]].id, "")) {
                free(ids_text);
                iris_set_error("out of memory");
                goto done;
            }
        *shot_ids = ids_text;
    }
    if (!(text = flamingo_prompt(it, sup, pick, k, imgs, &n_img))) {
        iris_set_error("out of memory");
        goto done;
    }
    iris_lm_clear_images(lm);
    for (int j = 0; j < n_img; j++)
        if (iris_lm_add_image(lm, imgs[j]) < 0) goto done;
    size_t len = strlen(text);
    int n = iris_lm_tokenize(lm, text, len, 1, NULL, 0);
    if (n <= 0 || !(ids = malloc((size_t)n * sizeof *ids))) {
        iris_set_error("question %s: cannot tokenize the prompt", it->id);
        goto done;
    }
    iris_lm_tokenize(lm, text, len, 1, ids, n);
    if (n + o->n_predict > lm->net.n_ctx) {
        iris_set_error("question %s: %d prompt tokens (%d shots) do not fit the context of %d", it->id, n, k,
                       lm->net.n_ctx);
        goto done;
    }
    iris_llama_reset(&lm->net);
    *seq_out = ids;
    *n_out = n;
    ids = NULL;
    rc = 0;
done:
    free(pick);
    free(imgs);
    free(text);
    free(ids);
    return rc;
}

/* The answer so far; generation stops at the first newline (a short answer
 * is one line) or when the caller's stop flag is raised. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
    volatile sig_atomic_t stop;
    volatile sig_atomic_t *outer_stop;
} answer_buf;

static void on_answer_text(const char *text, int len, void *ud)
{
    answer_buf *a = ud;
    if (a->oom) return;
    if (a->len + (size_t)len + 1 > a->cap) {
        size_t cap = 2 * a->cap + (size_t)len + 1;
        char *n = realloc(a->s, cap);
        if (!n) {
            a->oom = 1;
            a->stop = 1;
            return;
        }
        a->s = n;
        a->cap = cap;
    }
    memcpy(a->s + a->len, text, (size_t)len);
    iris_text_mask_nul(a->s + a->len, (size_t)len);
    a->len += (size_t)len;
    a->s[a->len] = 0;
    if (memchr(text, '\n', (size_t)len) || (a->outer_stop && *a->outer_stop)) a->stop = 1;
}

/* Greedy answer to a prompt sequence, continuing the KV cache (generate.c's loop). */
static char *greedy_answer(iris_lm *lm, const int32_t *seq, int n, int n_predict, volatile sig_atomic_t *stop)
{
    answer_buf a = {.cap = 64, .outer_stop = stop};
    if (!(a.s = malloc(a.cap))) {
        iris_set_error("out of memory");
        return NULL;
    }
    a.s[0] = 0;
    iris_gen_params gp = {.n_predict = n_predict, .sampling = {.temperature = 0, .top_p = 1, .repeat_penalty = 1}};
    iris_gen_stats st;
    if (iris_generate(lm, seq, n, &gp, on_answer_text, &a, &a.stop, &st) || a.oom) {
        if (a.oom) iris_set_error("out of memory");
        free(a.s);
        return NULL;
    }
    char *nl = strchr(a.s, '\n');
    if (nl) *nl = 0;
    return a.s;
}

double iris_eval_score(const iris_eval_item *it, const char *pred, iris_metric m)
{
    switch (m) {
    case IRIS_METRIC_VQAV2: return iris_vqa_accuracy(pred, (const char *const *)it->answers, it->n_answers);
    case IRIS_METRIC_AOKVQA_DA: return iris_aokvqa_da_accuracy(pred, (const char *const *)it->answers, it->n_answers);
    case IRIS_METRIC_AOKVQA_MC:
        return it->correct_choice >= 0 ? iris_exact_accuracy(pred, it->choices[it->correct_choice]) : -1;
    default: return it->n_answers ? iris_exact_accuracy(pred, it->answers[0]) : -1;
    }
}

static int type_index(iris_eval_result *r, const char *type)
{
    for (int i = 0; i < r->n_types; i++)
        if (!strcmp(r->types[i], type)) return i;
    char **t = realloc(r->types, (size_t)(r->n_types + 1) * sizeof *t);
    if (!t) return -1;
    r->types = t;
    double *a = realloc(r->type_acc, (size_t)(r->n_types + 1) * sizeof *a);
    if (!a) return -1;
    r->type_acc = a;
    int *c = realloc(r->type_n, (size_t)(r->n_types + 1) * sizeof *c);
    if (!c) return -1;
    r->type_n = c;
    if (!(r->types[r->n_types] = strdup(type))) return -1;
    r->type_acc[r->n_types] = 0;
    r->type_n[r->n_types] = 0;
    return r->n_types++;
}

/* Overall and per-type accuracy of the r->n scored questions, the types in
 * the order they first appear in the set (whatever order answers came in). */
int iris_eval_tally(iris_eval_result *r, const iris_eval_set *set)
{
    double sum = 0;
    for (int i = 0; i < r->n; i++) {
        const iris_eval_item *it = &set->items[i];
        int ti = type_index(r, it->type ? it->type : "all");
        if (ti < 0) {
            iris_set_error("out of memory");
            return -1;
        }
        r->type_acc[ti] += r->acc[i];
        r->type_n[ti]++;
        sum += r->acc[i];
    }
    r->overall = r->n ? 100.0 * sum / r->n : 0;
    for (int t = 0; t < r->n_types; t++) r->type_acc[t] = 100.0 * r->type_acc[t] / r->type_n[t];
    return 0;
}

int iris_evaluate(iris_lm *lm, const iris_eval_set *set, const iris_eval_opts *o, iris_eval_result *r)
{
    memset(r, 0, sizeof *r);
    int total = o->limit > 0 && o->limit < set->n ? o->limit : set->n;
    int tpl = o->tpl >= 0 ? o->tpl : lm->default_template, n_predict = o->n_predict > 0 ? o->n_predict : 24;
    r->pred = calloc((size_t)total, sizeof *r->pred);
    r->acc = calloc((size_t)total, sizeof *r->acc);
    int32_t *prev = NULL;
    int n_prev = 0, rc = -1;
    const char *prev_image = NULL;
    if (!r->pred || !r->acc) {
        iris_set_error("out of memory");
        goto done;
    }
    double t0 = iris_now(), sum = 0;
    int64_t processed0 = lm->net.n_tokens_processed;
    iris_eval_opts fo = *o;
    if (o->shots > 0 && !lm->flamingo) {
        iris_set_error("--shots needs an OpenFlamingo model (interleaved images and answers); %s takes one "
                       "image per prompt", lm->path);
        goto done;
    }
    if (!fo.support) fo.support = set;
    fo.n_predict = n_predict;
    int batch = o->batch > 0 ? o->batch : IRIS_EVAL_DEFAULT_BATCH;
    if (batch > 1 && !lm->flamingo && iris_gen_batch_supported(lm)) {
        if (iris_evaluate_batched(lm, set, o, total, tpl, n_predict, batch, r)) goto done;
        r->seconds = iris_now() - t0;
        r->tokens_processed = (long)(lm->net.n_tokens_processed - processed0);
        rc = 0;
        goto done;
    }
    for (int i = 0; i < total; i++) {
        if (o->stop && *o->stop) break;
        const iris_eval_item *it = &set->items[i];
        if (lm->flamingo) {
            if (!r->shots && !(r->shots = calloc((size_t)total, sizeof *r->shots))) {
                iris_set_error("out of memory");
                goto done;
            }
            int32_t *fseq = NULL;
            int fn = 0;
            if (flamingo_question(lm, it, &fo, i, &fseq, &fn, &r->shots[i])) goto done;
            r->pred[i] = greedy_answer(lm, fseq, fn, n_predict, o->stop);
            free(fseq);
            if (!r->pred[i]) goto done;
            flamingo_cut(r->pred[i]);
            goto scored;
        }
        int with_image = it->image != NULL && lm->vision != NULL;
        if (it->image && !lm->vision) {
            iris_set_error("question %s has an image but %s has no vision tower", it->id, lm->path);
            goto done;
        }
        if (with_image && (!prev_image || strcmp(prev_image, it->image))) {
            iris_lm_clear_images(lm);
            if (iris_lm_add_image(lm, it->image) < 0) goto done;
            prev_image = it->image;
            n_prev = 0; /* a new image: nothing in the cache can be reused */
        }
        char *user = iris_eval_user_text(it, o, with_image);
        int n = 0;
        int32_t *seq = user ? iris_eval_prompt_sequence(lm, user, tpl, with_image ? 1 : 0, &n) : NULL;
        free(user);
        if (!seq) goto done;
        if (n + n_predict > lm->net.n_ctx) {
            iris_set_error("question %s: %d prompt tokens do not fit the context of %d", it->id, n, lm->net.n_ctx);
            free(seq);
            goto done;
        }
        int keep = 0;
        while (keep < n_prev && keep < n - 1 && prev[keep] == seq[keep]) keep++;
        iris_llama_truncate(&lm->net, keep);
        if (keep == 0) iris_llama_reset(&lm->net);
        r->pred[i] = greedy_answer(lm, seq + keep, n - keep, n_predict, o->stop);
        free(prev);
        prev = seq;
        /* the cache now also holds the answer: only the prompt part can be shared */
        n_prev = n;
        if (!r->pred[i]) goto done;
    scored:;
        double a = iris_eval_score(it, r->pred[i], o->metric);
        if (a < 0) {
            iris_set_error("question %s has no reference answer for the %s metric", it->id, metric_names[o->metric]);
            goto done;
        }
        r->acc[i] = a;
        sum += a;
        r->n = i + 1;
        if (o->progress) o->progress(i + 1, total, 100.0 * sum / (i + 1), o->ud);
    }
    if (iris_eval_tally(r, set)) goto done;
    r->seconds = iris_now() - t0;
    r->tokens_processed = (long)(lm->net.n_tokens_processed - processed0);
    rc = 0;
done:
    free(prev);
    return rc;
}

void iris_eval_result_free(iris_eval_result *r)
{
    for (int i = 0; r->pred && i < r->n; i++) free(r->pred[i]);
    for (int i = 0; r->shots && i < r->n; i++) free(r->shots[i]);
    free(r->shots);
    for (int i = 0; i < r->n_types; i++) free(r->types[i]);
    free(r->pred);
    free(r->acc);
    free(r->types);
    free(r->type_acc);
    free(r->type_n);
    memset(r, 0, sizeof *r);
}

int iris_eval_write_json(const iris_eval_result *r, const iris_eval_set *set, const char *model, iris_metric metric,
                         const char *path)
{
    cJSON *root = cJSON_CreateObject(), *types = cJSON_CreateObject(), *preds = cJSON_CreateArray();
    if (!root || !types || !preds) {
        cJSON_Delete(root);
        cJSON_Delete(types);
        cJSON_Delete(preds);
        iris_set_error("out of memory");
        return -1;
    }
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "metric", metric_names[metric]);
    cJSON_AddStringToObject(root, "format", set->format ? set->format : "?");
    cJSON_AddNumberToObject(root, "n", r->n);
    cJSON_AddNumberToObject(root, "overall", r->overall);
    for (int t = 0; t < r->n_types; t++) cJSON_AddNumberToObject(types, r->types[t], r->type_acc[t]);
    cJSON_AddItemToObject(root, "per_type", types);
    cJSON_AddNumberToObject(root, "seconds", r->seconds);
    for (int i = 0; i < r->n; i++) {
        cJSON *p = cJSON_CreateObject();
        if (!p) break;
        cJSON_AddStringToObject(p, "question_id", set->items[i].id);
        cJSON_AddStringToObject(p, "question", set->items[i].question);
        cJSON_AddStringToObject(p, "prediction", r->pred[i]);
        cJSON_AddNumberToObject(p, "accuracy", r->acc[i]);
        cJSON_AddStringToObject(p, "question_type", set->items[i].type ? set->items[i].type : "all");
        if (r->shots && r->shots[i]) {
            cJSON *sh = cJSON_AddArrayToObject(p, "shots");
            for (const char *a = r->shots[i]; sh && a;) {
                const char *e = strchr(a, '\n');
                size_t l = e ? (size_t)(e - a) : strlen(a);
                char buf[256];
                snprintf(buf, sizeof buf, "%.*s", (int)(l < sizeof buf ? l : sizeof buf - 1), a);
                cJSON_AddItemToArray(sh, cJSON_CreateString(buf));
                a = e ? e + 1 : NULL;
            }
        }
        cJSON_AddItemToArray(preds, p);
    }
    cJSON_AddItemToObject(root, "predictions", preds);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        iris_set_error("out of memory");
        return -1;
    }
    iris_atomic_file af;
    int rc = -1;
    if (iris_atomic_open(&af, path, "w") == 0) {
        fputs(text, af.f);
        fputc('\n', af.f);
        rc = iris_atomic_commit(&af);
    }
    free(text);
    return rc;
}

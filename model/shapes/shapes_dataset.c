#include "shapes_dataset.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "eval/vqa_metric.h"
#include "shapes_qa.h"
#include "vision/image_write.h"

static uint64_t split_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static cJSON *turn(const char *from, const char *value)
{
    cJSON *t = cJSON_CreateObject();
    if (t && (!cJSON_AddStringToObject(t, "from", from) || !cJSON_AddStringToObject(t, "value", value))) {
        cJSON_Delete(t);
        return NULL;
    }
    return t;
}

/* A LLaVA record; the first human turn gets the <image> placeholder. */
static cJSON *llava_record(const char *id, const char *image, const shape_qa *qa, int n)
{
    cJSON *r = cJSON_CreateObject(), *conv = cJSON_CreateArray();
    if (!r || !conv) goto fail;
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "image", image);
    cJSON_AddItemToObject(r, "conversations", conv);
    for (int i = 0; i < n; i++) {
        char q[128];
        snprintf(q, sizeof q, "%s%s", i == 0 ? "<image>\n" : "", qa[i].question);
        cJSON *h = turn("human", q), *g = turn("gpt", qa[i].answer);
        if (!h || !g) {
            cJSON_Delete(h);
            cJSON_Delete(g);
            goto fail;
        }
        cJSON_AddItemToArray(conv, h);
        cJSON_AddItemToArray(conv, g);
    }
    return r;
fail:
    cJSON_Delete(r);
    if (!r) cJSON_Delete(conv);
    return NULL;
}

static int emit(FILE *f, cJSON *rec, const char *sep)
{
    if (!rec) {
        iris_set_error("out of memory");
        return -1;
    }
    char *s = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    if (!s) {
        iris_set_error("out of memory");
        return -1;
    }
    fputs(sep, f);
    fputs(s, f);
    free(s);
    return 0;
}

static int open_out(iris_atomic_file *af, const char *dir, const char *split, const char *suffix)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%s", dir, split, suffix);
    return iris_atomic_open(af, path, "w");
}

int shapes_write_dataset(const shapes_dataset_opts *o)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/images", o->out_dir);
    if (iris_mkdir_p(path)) return -1;   /* DIR/images and DIR */
    iris_atomic_file cap = {0}, qa = {0}, qs = {0};
    if (open_out(&cap, o->out_dir, o->split, "captions.json") || open_out(&qa, o->out_dir, o->split, "qa.json") ||
        open_out(&qs, o->out_dir, o->split, "questions.jsonl")) {
        iris_atomic_abort(&cap);
        iris_atomic_abort(&qa);
        return -1;
    }
    shape_rng r;
    shape_rng_seed(&r, o->seed ^ split_hash(o->split));
    int max_turns = o->max_turns > 0 ? o->max_turns : 3, conversations = 0;
    uint8_t *rgb = malloc(128 * 128 * 3);
    int rc = -1;
    if (!rgb) {
        iris_set_error("out of memory");
        goto done;
    }
    fputs("[\n", cap.f);
    fputs("[\n", qa.f);
    for (int i = 0; i < o->count; i++) {
        shape_scene s;
        shape_scene_random(&s, &r, o->max_objects);
        shape_scene_render(&s, rgb, shape_rng_next(&r));
        char rel[64], id[64];
        snprintf(rel, sizeof rel, "images/%s_%06d.png", o->split, i);
        snprintf(id, sizeof id, "shapes-%s-%06d", o->split, i);
        snprintf(path, sizeof path, "%s/%s", o->out_dir, rel);
        if (iris_png_write(path, rgb, s.width, s.height)) goto done;

        /* the questions draw from their own stream: how they are chosen can
         * change without changing any image or caption */
        shape_rng qr, cr;
        uint64_t qseed = (uint64_t)shape_rng_next(&r) << 32 | shape_rng_next(&r);
        shape_rng_seed(&qr, qseed);
        shape_rng_seed(&cr, qseed ^ 0x9e3779b97f4a7c15ULL);   /* the caption style's own stream */
        shape_qa c = {.type = QA_CAPTION};
        snprintf(c.question, sizeof c.question, "What can be seen in the image?");
        int by_kind = o->captions == SHAPES_CAPTIONS_BY_KIND ||
                      (o->captions == SHAPES_CAPTIONS_BOTH && shape_rng_int(&cr, 0, 1));
        (by_kind ? shapes_caption_by_kind : shapes_caption)(&s, c.answer, sizeof c.answer);
        if (emit(cap.f, llava_record(id, rel, &c, 1), i ? ",\n" : "")) goto done;

        shape_qa turns[9];   /* up to 8 questions and the caption */
        char told[8 * 2 * (sizeof turns[0].question + sizeof turns[0].answer)] = "";
        int nt = shape_rng_int(&qr, 1, max_turns), k = 0;
        for (int tries = 0; k < nt && tries < 30; tries++) {
            shape_qa q;
            if (shapes_random_question_weighted(&s, &qr, o->type_weights, &q)) break;
            int dup = shapes_qa_told(&q, told);
            for (int j = 0; j < k; j++) dup |= !strcmp(turns[j].question, q.question);
            if (dup) continue;
            turns[k++] = q;
            shapes_qa_tell(&q, told, sizeof told);
        }
        /* The caption goes last, where it gives no later turn away; its draw
         * comes after the style's on the caption stream, so it moves nothing. */
        if (shape_rng_next(&cr) / 4294967296.0 < o->caption_turns) turns[k++] = c;
        /* an image with no question of a weighted type (and no caption turn)
         * gets no conversation rather than an empty one */
        if (k && emit(qa.f, llava_record(id, rel, turns, k), conversations++ ? ",\n" : "")) goto done;

        shape_rng er;   /* the held-out question's own stream: no turn policy moves it */
        shape_rng_seed(&er, qseed ^ 0xc2b2ae3d27d4eb4fULL);
        shape_qa q;
        if (shapes_random_question(&s, &er, &q) == 0) {
            cJSON *j = cJSON_CreateObject(), *ans = cJSON_CreateArray();
            if (!j || !ans) {
                cJSON_Delete(j);
                cJSON_Delete(ans);
                iris_set_error("out of memory");
                goto done;
            }
            cJSON_AddNumberToObject(j, "question_id", i);
            cJSON_AddStringToObject(j, "image", rel);
            cJSON_AddStringToObject(j, "question", q.question);
            cJSON_AddStringToObject(j, "answer", q.answer);
            /* Ten identical human answers, as a unanimous VQAv2 question has,
             * in the processed form VQAv2's annotations hold: the official
             * metric lower-cases the prediction but leaves unanimous answers
             * as they are, so a raw "K" could never be matched. */
            char *gt = iris_vqa_normalize_prediction(q.answer);
            for (int k = 0; gt && k < 10; k++) cJSON_AddItemToArray(ans, cJSON_CreateString(gt));
            free(gt);
            if (!gt) {
                cJSON_Delete(j);
                cJSON_Delete(ans);
                iris_set_error("out of memory");
                goto done;
            }
            cJSON_AddItemToObject(j, "answers", ans);
            cJSON_AddStringToObject(j, "question_type", shape_qa_type_names[q.type]);
            if (emit(qs.f, j, "") ) goto done;
            fputc('\n', qs.f);
        }
        if (o->progress) o->progress(i + 1, o->count, o->ud);
    }
    fputs("\n]\n", cap.f);
    fputs("\n]\n", qa.f);
    if (iris_atomic_commit(&cap) || iris_atomic_commit(&qa) || iris_atomic_commit(&qs)) goto done;
    rc = 0;
done:
    if (cap.f) iris_atomic_abort(&cap);
    if (qa.f) iris_atomic_abort(&qa);
    if (qs.f) iris_atomic_abort(&qs);
    free(rgb);
    return rc;
}

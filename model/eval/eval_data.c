#include "eval_data.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file_util.h"

#define MAX_EVAL_FILE (4LL << 30)

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static iris_eval_item *new_item(iris_eval_set *s)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        iris_eval_item *it = realloc(s->items, (size_t)cap * sizeof *it);
        if (!it) return NULL;
        s->items = it;
        s->cap = cap;
    }
    iris_eval_item *it = &s->items[s->n++];
    memset(it, 0, sizeof *it);
    it->correct_choice = -1;
    return it;
}

static void free_item(iris_eval_item *it)
{
    free(it->id);
    free(it->image);
    free(it->question);
    free(it->type);
    for (int i = 0; i < it->n_answers; i++) free(it->answers[i]);
    free(it->answers);
    for (int i = 0; i < it->n_choices; i++) free(it->choices[i]);
    free(it->choices);
}

void iris_eval_free(iris_eval_set *s)
{
    for (int i = 0; i < s->n; i++) free_item(&s->items[i]);
    free(s->items);
    free(s->format);
    memset(s, 0, sizeof *s);
}

static char *resolve(const char *dir, const char *name)
{
    if (!name) return NULL;
    if (name[0] == '/' || !dir) return strdup(name);
    return iris_path_join(dir, name);
}

static char *id_string(const cJSON *v)
{
    char buf[64];
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        snprintf(buf, sizeof buf, "%.0f", v->valuedouble);
        return strdup(buf);
    }
    return NULL;
}

/* strings, or objects with "answer" */
static int take_answers(iris_eval_item *it, const cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    it->answers = calloc((size_t)(n ? n : 1), sizeof *it->answers);
    if (!it->answers) return -1;
    const cJSON *a;
    cJSON_ArrayForEach(a, arr) {
        const cJSON *v = cJSON_IsObject(a) ? cJSON_GetObjectItemCaseSensitive(a, "answer") : a;
        if (!cJSON_IsString(v)) continue;
        if (!(it->answers[it->n_answers] = strdup(v->valuestring))) return -1;
        it->n_answers++;
    }
    return 0;
}

static int take_one_answer(iris_eval_item *it, const char *answer)
{
    it->answers = malloc(sizeof *it->answers);
    if (!it->answers || !(it->answers[0] = strdup(answer))) return -1;
    it->n_answers = 1;
    return 0;
}

static const char *str_field(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (!cJSON_IsString(v) && b) v = cJSON_GetObjectItemCaseSensitive(o, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int load_jsonl(iris_eval_set *s, const char *path, const char *text, const char *img_dir)
{
    int line_no = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        line_no++;
        int blank = 1;
        for (size_t i = 0; i < len; i++) blank &= p[i] == ' ' || p[i] == '\r' || p[i] == '\t';
        if (!blank) {
            cJSON *o = cJSON_ParseWithLength(p, len);
            if (!cJSON_IsObject(o)) {
                cJSON_Delete(o);
                iris_set_error("%s:%d: not a JSON object", path, line_no);
                return -1;
            }
            const char *q = str_field(o, "question", "text");
            if (!q) {
                cJSON_Delete(o);
                iris_set_error("%s:%d: no \"question\" (or \"text\")", path, line_no);
                return -1;
            }
            iris_eval_item *it = new_item(s);
            if (!it) {
                cJSON_Delete(o);
                goto oom;
            }
            it->question = strdup(q);
            it->id = id_string(cJSON_GetObjectItemCaseSensitive(o, "question_id"));
            if (!it->id) {
                char buf[32];
                snprintf(buf, sizeof buf, "%d", line_no);
                it->id = strdup(buf);
            }
            it->image = resolve(img_dir, str_field(o, "image", NULL));
            it->type = dup_or_null(str_field(o, "question_type", "category"));
            const cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answers");
            const char *one = str_field(o, "answer", NULL);
            int rc = cJSON_IsArray(ans) ? take_answers(it, ans) : one ? take_one_answer(it, one) : 0;
            cJSON_Delete(o);
            if (rc || !it->question || !it->id) goto oom;
            if (!it->n_answers) {
                iris_set_error("%s:%d: no \"answers\" or \"answer\"", path, line_no);
                return -1;
            }
        }
        if (!e) break;
        p = e + 1;
    }
    return 0;
oom:
    iris_set_error("out of memory reading %s", path);
    return -1;
}

static int load_vqav2(iris_eval_set *s, const char *path, const cJSON *root, const char *ann_path,
                      const char *img_dir)
{
    if (!ann_path) {
        iris_set_error("%s: VQAv2 questions need their annotations file (--annotations FILE)", path);
        return -1;
    }
    size_t len;
    char *text = iris_read_file(ann_path, &len, (size_t)MAX_EVAL_FILE);
    if (!text) return -1;
    cJSON *ann = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *anns = ann ? cJSON_GetObjectItemCaseSensitive(ann, "annotations") : NULL;
    if (!cJSON_IsArray(anns)) {
        cJSON_Delete(ann);
        iris_set_error("%s: no \"annotations\" list", ann_path);
        return -1;
    }
    const char *subtype = str_field(root, "data_subtype", NULL);
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "questions");
    int idx = 0, rc = -1;
    const cJSON *q;
    /* annotations are in the same order as the questions in the official files;
     * fall back to a search when they are not */
    cJSON_ArrayForEach(q, qs) {
        const cJSON *qid = cJSON_GetObjectItemCaseSensitive(q, "question_id");
        const cJSON *a = cJSON_GetArrayItem(anns, idx);
        const cJSON *aid = a ? cJSON_GetObjectItemCaseSensitive(a, "question_id") : NULL;
        if (!cJSON_IsNumber(qid)) {
            iris_set_error("%s: question %d has no question_id", path, idx);
            goto done;
        }
        if (!cJSON_IsNumber(aid) || aid->valuedouble != qid->valuedouble) {
            a = NULL;
            const cJSON *x;
            cJSON_ArrayForEach(x, anns) {
                const cJSON *xid = cJSON_GetObjectItemCaseSensitive(x, "question_id");
                if (cJSON_IsNumber(xid) && xid->valuedouble == qid->valuedouble) {
                    a = x;
                    break;
                }
            }
            if (!a) {
                iris_set_error("%s: no annotation for question %.0f", ann_path, qid->valuedouble);
                goto done;
            }
        }
        iris_eval_item *it = new_item(s);
        const char *qt = str_field(q, "question", NULL);
        const cJSON *img = cJSON_GetObjectItemCaseSensitive(q, "image_id");
        if (!it || !qt || !cJSON_IsNumber(img)) {
            iris_set_error("%s: question %.0f lacks question or image_id", path, qid->valuedouble);
            goto done;
        }
        char name[96];
        snprintf(name, sizeof name, "COCO_%s_%012.0f.jpg", subtype ? subtype : "val2014", img->valuedouble);
        it->id = id_string(qid);
        it->question = strdup(qt);
        it->image = resolve(img_dir, name);
        it->type = dup_or_null(str_field(a, "question_type", "answer_type"));
        if (!it->id || !it->question || !it->image ||
            take_answers(it, cJSON_GetObjectItemCaseSensitive(a, "answers"))) {
            iris_set_error("out of memory reading %s", path);
            goto done;
        }
        idx++;
    }
    rc = 0;
done:
    cJSON_Delete(ann);
    return rc;
}

static int load_aokvqa(iris_eval_set *s, const char *path, const cJSON *root, const char *img_dir)
{
    const cJSON *r;
    int k = 0;
    cJSON_ArrayForEach(r, root) {
        const char *q = str_field(r, "question", NULL);
        const cJSON *img = cJSON_GetObjectItemCaseSensitive(r, "image_id");
        if (!q) {
            iris_set_error("%s: record %d has no question", path, k);
            return -1;
        }
        iris_eval_item *it = new_item(s);
        if (!it) goto oom;
        it->question = strdup(q);
        it->id = id_string(cJSON_GetObjectItemCaseSensitive(r, "question_id"));
        if (cJSON_IsNumber(img)) {
            char name[64];
            snprintf(name, sizeof name, "%012.0f.jpg", img->valuedouble);
            it->image = resolve(img_dir, name);
        }
        const cJSON *diff = cJSON_GetObjectItemCaseSensitive(r, "difficult_direct_answer");
        it->type = strdup(cJSON_IsTrue(diff) ? "difficult" : "regular");
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(r, "choices");
        if (cJSON_IsArray(ch)) {
            it->choices = calloc((size_t)cJSON_GetArraySize(ch) + 1, sizeof *it->choices);
            if (!it->choices) goto oom;
            const cJSON *c;
            cJSON_ArrayForEach(c, ch) if (cJSON_IsString(c)) it->choices[it->n_choices++] = strdup(c->valuestring);
        }
        const cJSON *cc = cJSON_GetObjectItemCaseSensitive(r, "correct_choice_idx");
        if (cJSON_IsNumber(cc) && cc->valuedouble >= 0 && cc->valuedouble < it->n_choices)
            it->correct_choice = (int)cc->valuedouble;
        const cJSON *da = cJSON_GetObjectItemCaseSensitive(r, "direct_answers");
        if (cJSON_IsArray(da) && take_answers(it, da)) goto oom;
        if (!it->question || !it->type || !it->id) goto oom;
        k++;
    }
    return 0;
oom:
    iris_set_error("out of memory reading %s", path);
    return -1;
}

static char *strip_image_tag(const char *v)
{
    const char *tag = strstr(v, "<image>");
    if (!tag) return strdup(v);
    size_t n = strlen(v);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t pre = (size_t)(tag - v);
    memcpy(out, v, pre);
    const char *rest = tag + 7;
    while (*rest == '\n') rest++;
    strcpy(out + pre, rest);
    return out;
}

static int load_llava(iris_eval_set *s, const char *path, const cJSON *root, const char *img_dir)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, root) {
        const cJSON *conv = cJSON_GetObjectItemCaseSensitive(r, "conversations");
        const char *img = str_field(r, "image", NULL);
        const cJSON *t;
        const char *q = NULL;
        int turn = 0;
        cJSON_ArrayForEach(t, conv) {
            const char *from = str_field(t, "from", NULL), *v = str_field(t, "value", NULL);
            if (!from || !v) continue;
            if (!strcmp(from, "human")) {
                q = v;
            } else if (!strcmp(from, "gpt") && q) {
                iris_eval_item *it = new_item(s);
                if (!it) goto oom;
                char id[160];
                const char *rid = str_field(r, "id", NULL);
                snprintf(id, sizeof id, "%s#%d", rid ? rid : "?", turn++);
                it->id = strdup(id);
                it->question = strip_image_tag(q);
                it->image = resolve(img_dir, img);
                it->type = strdup("all");
                if (!it->id || !it->question || !it->type || take_one_answer(it, v)) goto oom;
                q = NULL;
            }
        }
    }
    return 0;
oom:
    iris_set_error("out of memory reading %s", path);
    return -1;
}

/* PubMedQA (ori_pqal.json, or the unlabelled test file with --annotations
 * giving {"PMID": "yes|no|maybe"}): an object keyed by PMID, each holding
 * QUESTION, CONTEXTS (abstract sections) and final_decision.  A text-only
 * question: the abstract, then the question; the type is the gold label, so
 * the breakdown shows yes / no / maybe separately. */
static char *pubmedqa_prompt(const cJSON *rec, const char *question)
{
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(rec, "CONTEXTS"), *c;
    size_t n = strlen(question) + 64;
    cJSON_ArrayForEach(c, ctx) if (cJSON_IsString(c)) n += strlen(c->valuestring) + 1;
    char *out = malloc(n);
    if (!out) return NULL;
    strcpy(out, "Context:");
    cJSON_ArrayForEach(c, ctx) if (cJSON_IsString(c)) {
        strcat(out, " ");
        strcat(out, c->valuestring);
    }
    strcat(out, "\nQuestion: ");
    strcat(out, question);
    return out;
}

static int load_pubmedqa(iris_eval_set *s, const char *path, const cJSON *root, const char *ann_path)
{
    cJSON *ann = NULL;
    if (ann_path) {
        size_t len;
        char *text = iris_read_file(ann_path, &len, (size_t)MAX_EVAL_FILE);
        if (!text) return -1;
        ann = cJSON_ParseWithLength(text, len);
        free(text);
        if (!cJSON_IsObject(ann)) {
            cJSON_Delete(ann);
            iris_set_error("%s: PubMedQA labels must be a JSON object {\"PMID\": \"yes|no|maybe\"}", ann_path);
            return -1;
        }
        const cJSON *a;
        cJSON_ArrayForEach(a, ann) if (!cJSON_GetObjectItemCaseSensitive(root, a->string)) {
            iris_set_error("%s: PMID %s has a label but no record in %s", ann_path, a->string, path);
            cJSON_Delete(ann);
            return -1;
        }
    }
    int rc = -1;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, root) {
        const cJSON *lab = ann ? cJSON_GetObjectItemCaseSensitive(ann, rec->string) : NULL;
        if (ann && !lab) continue;   /* not in the labelled split */
        const char *q = str_field(rec, "QUESTION", NULL);
        const char *label = lab ? (cJSON_IsString(lab) ? lab->valuestring : NULL) : str_field(rec, "final_decision", NULL);
        if (!cJSON_IsObject(rec) || !q) {
            iris_set_error("%s: record %s: a PubMedQA record needs a QUESTION string", path, rec->string);
            goto done;
        }
        if (!label || (strcmp(label, "yes") && strcmp(label, "no") && strcmp(label, "maybe"))) {
            iris_set_error("%s: record %s: the label must be yes, no or maybe (final_decision, or --annotations)",
                           ann ? ann_path : path, rec->string);
            goto done;
        }
        iris_eval_item *it = new_item(s);
        if (!it || !(it->id = strdup(rec->string)) || !(it->question = pubmedqa_prompt(rec, q)) ||
            !(it->type = strdup(label)) || take_one_answer(it, label)) {
            iris_set_error("out of memory reading %s", path);
            goto done;
        }
    }
    rc = 0;
done:
    cJSON_Delete(ann);
    return rc;
}

static int is_pubmedqa(const cJSON *root)
{
    const cJSON *first = cJSON_IsObject(root) ? root->child : NULL;
    return first && cJSON_IsObject(first) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(first, "QUESTION"));
}

int iris_eval_load(iris_eval_set *s, const char *path, const char *ann_path, const char *images_dir)
{
    memset(s, 0, sizeof *s);
    size_t len;
    char *text = iris_read_file(path, &len, (size_t)MAX_EVAL_FILE);
    if (!text) return -1;
    char *dir = NULL;
    if (!images_dir) {
        dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) *slash = 0;
        else if (dir) strcpy(dir, ".");
    }
    const char *img_dir = images_dir ? images_dir : dir;
    int rc = -1;
    cJSON *root = NULL;
    if (iris_has_suffix(path, ".jsonl")) {
        s->format = strdup("jsonl");
        rc = load_jsonl(s, path, text, img_dir);
    } else {
        root = cJSON_ParseWithLength(text, len);
        if (!root) {
            iris_set_error("%s: not valid JSON (near byte %ld)", path,
                           cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - text) : -1L);
        } else if (cJSON_IsObject(root) && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "questions"))) {
            s->format = strdup("vqav2");
            rc = load_vqav2(s, path, root, ann_path, img_dir);
        } else if (is_pubmedqa(root)) {
            s->format = strdup("pubmedqa");
            rc = load_pubmedqa(s, path, root, ann_path);
        } else if (cJSON_IsArray(root) && cJSON_GetArraySize(root) > 0 &&
                   cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(root, 0), "conversations")) {
            s->format = strdup("llava");
            rc = load_llava(s, path, root, img_dir);
        } else if (cJSON_IsArray(root)) {
            s->format = strdup("aokvqa");
            rc = load_aokvqa(s, path, root, img_dir);
        } else {
            iris_set_error("%s: not a question file iris knows (VQAv2, A-OKVQA, PubMedQA, LLaVA JSON or JSONL)", path);
        }
    }
    cJSON_Delete(root);
    free(text);
    free(dir);
    if (rc == 0 && s->n == 0) {
        iris_set_error("%s: no questions", path);
        rc = -1;
    }
    if (rc) iris_eval_free(s);
    return rc;
}

#include "shapes_qa.h"

#include <stdio.h>
#include <string.h>

const char *const shape_qa_type_names[QA_TYPE_COUNT] = {
    "caption", "color", "letter", "shape", "count", "spatial", "yesno",
};

/* "circle" / "letter A": the object's kind as a noun phrase */
static void kind_name(const shape_object *o, char *out, int cap)
{
    if (o->kind == SHAPE_LETTER) snprintf(out, (size_t)cap, "letter %c", o->letter);
    else snprintf(out, (size_t)cap, "%s", shape_kind_names[o->kind]);
}

static int same_kind(const shape_object *a, const shape_object *b)
{
    return a->kind == b->kind && (a->kind != SHAPE_LETTER || a->letter == b->letter);
}

static int count_kind(const shape_scene *s, const shape_object *o)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) n += same_kind(&s->obj[i], o);
    return n;
}

static int count_color_kind(const shape_scene *s, int color, const shape_object *o)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) n += s->obj[i].color == color && same_kind(&s->obj[i], o);
    return n;
}

/* Reading order: columns left to right, top to bottom within a column. */
static int before(const shape_scene *s, const shape_object *a, const shape_object *b)
{
    int ca = shape_object_column(s, a), cb = shape_object_column(s, b);
    return ca != cb ? ca < cb : a->cy < b->cy;
}

static void order_left_to_right(const shape_scene *s, int *idx)
{
    for (int i = 0; i < s->n; i++) idx[i] = i;
    for (int i = 1; i < s->n; i++)
        for (int j = i; j > 0 && before(s, &s->obj[idx[j]], &s->obj[idx[j - 1]]); j--) {
            int t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t;
        }
}

static int col(const shape_scene *s, const shape_object *o)
{
    return shape_object_column(s, o);
}

/* "a" or "an" before an object name ("an orange star") */
static const char *article(const char *name)
{
    return strchr("aeiou", name[0]) ? "an" : "a";
}

void shapes_caption(const shape_scene *s, char *out, int cap)
{
    int idx[SHAPE_MAX_OBJECTS];
    order_left_to_right(s, idx);
    out[0] = 0;
    for (int i = 0; i < s->n; i++) {
        char name[48];
        shape_object_name(&s->obj[idx[i]], name, sizeof name);
        size_t l = strlen(out);
        snprintf(out + l, (size_t)cap - l, "%s%s %s", i == 0 ? "" : i == s->n - 1 ? " and " : ", ", article(name),
                 name);
    }
}

/* Where an object's kind comes in the kind-ordered caption: the shapes in
 * shape_kind order, then the letters in shape_letters order. */
static int kind_rank(const shape_object *o)
{
    if (o->kind != SHAPE_LETTER) return (int)o->kind;
    const char *p = strchr(shape_letters, o->letter);
    return SHAPE_LETTER + (p ? (int)(p - shape_letters) : SHAPE_N_LETTERS);
}

void shapes_caption_by_kind(const shape_scene *s, char *out, int cap)
{
    int idx[SHAPE_MAX_OBJECTS], done[SHAPE_MAX_OBJECTS] = {0};
    order_left_to_right(s, idx);
    out[0] = 0;
    int groups = 0;
    for (;;) {
        int best = -1;
        for (int i = 0; i < s->n; i++)
            if (!done[i] && (best < 0 || kind_rank(&s->obj[i]) < kind_rank(&s->obj[best]))) best = i;
        if (best < 0) break;
        const shape_object *o = &s->obj[best];
        int n = count_kind(s, o), left = 0;
        for (int i = 0; i < s->n; i++) left += !done[i] && !same_kind(&s->obj[i], o);
        char kn[32];
        kind_name(o, kn, sizeof kn);
        size_t l = strlen(out);
        const char *sep = groups == 0 ? "" : left == 0 ? " and " : ", ";
        if (n == 1) snprintf(out + l, (size_t)cap - l, "%sthe %s is", sep, kn);
        else if (o->kind == SHAPE_LETTER) snprintf(out + l, (size_t)cap - l, "%sthe letters %c are", sep, o->letter);
        else snprintf(out + l, (size_t)cap - l, "%sthe %s%s are", sep, kn, kn[strlen(kn) - 1] == 's' ? "es" : "s");
        /* the colours of the kind's objects, left to right */
        int said = 0;
        for (int p = 0; p < s->n; p++) {
            const shape_object *q = &s->obj[idx[p]];
            if (!same_kind(q, o)) continue;
            done[idx[p]] = 1;
            l = strlen(out);
            snprintf(out + l, (size_t)cap - l, "%s%s", said == 0 ? " " : said == n - 1 ? " and " : ", ",
                     shape_color_names[q->color]);
            said++;
        }
        groups++;
    }
}

static int add(shape_qa *out, int n, int cap, shape_qa_type t, const char *q, const char *a)
{
    if (n >= cap) return n;
    out[n].type = t;
    snprintf(out[n].question, sizeof out[n].question, "%s", q);
    snprintf(out[n].answer, sizeof out[n].answer, "%s", a);
    return n + 1;
}

int shapes_questions_of_type(const shape_scene *s, shape_qa_type t, shape_rng *r, shape_qa *out, int cap)
{
    int n = 0;
    char q[96], a[160], kn[32];
    switch (t) {
    case QA_CAPTION:
        shapes_caption(s, a, sizeof a);
        n = add(out, n, cap, t, "What can be seen in the image?", a);
        break;
    case QA_COLOR: /* objects whose kind is unique in the scene */
        for (int i = 0; i < s->n; i++)
            if (count_kind(s, &s->obj[i]) == 1) {
                kind_name(&s->obj[i], kn, sizeof kn);
                snprintf(q, sizeof q, "What color is the %s?", kn);
                n = add(out, n, cap, t, q, shape_color_names[s->obj[i].color]);
            }
        break;
    case QA_LETTER: /* the only letter of its colour */
        for (int i = 0; i < s->n; i++) {
            const shape_object *o = &s->obj[i];
            if (o->kind != SHAPE_LETTER) continue;
            int same = 0;
            for (int j = 0; j < s->n; j++) same += s->obj[j].kind == SHAPE_LETTER && s->obj[j].color == o->color;
            if (same != 1) continue;
            snprintf(q, sizeof q, "Which letter is %s?", shape_color_names[o->color]);
            snprintf(a, sizeof a, "%c", o->letter);
            n = add(out, n, cap, t, q, a);
        }
        break;
    case QA_SHAPE: /* the only object of its colour, and not a letter */
        for (int i = 0; i < s->n; i++) {
            const shape_object *o = &s->obj[i];
            int same = 0;
            for (int j = 0; j < s->n; j++) same += s->obj[j].color == o->color;
            if (same != 1 || o->kind == SHAPE_LETTER) continue;
            snprintf(q, sizeof q, "What shape is %s?", shape_color_names[o->color]);
            n = add(out, n, cap, t, q, shape_kind_names[o->kind]);
        }
        break;
    case QA_COUNT: {
        snprintf(a, sizeof a, "%d", s->n);
        n = add(out, n, cap, t, "How many objects are there?", a);
        for (int k = 0; k < SHAPE_LETTER; k++) {
            int c = 0;
            for (int i = 0; i < s->n; i++) c += s->obj[i].kind == (shape_kind)k;
            const char *kn = shape_kind_names[k];
            snprintf(q, sizeof q, "How many %s%s are there?", kn, kn[strlen(kn) - 1] == 's' ? "es" : "s");
            snprintf(a, sizeof a, "%d", c);
            if (c > 0 || shape_rng_int(r, 0, 3) == 0) n = add(out, n, cap, t, q, a);
        }
        int letters = 0;
        for (int i = 0; i < s->n; i++) letters += s->obj[i].kind == SHAPE_LETTER;
        snprintf(a, sizeof a, "%d", letters);
        n = add(out, n, cap, t, "How many letters are there?", a);
        break;
    }
    case QA_SPATIAL: {
        int idx[SHAPE_MAX_OBJECTS];
        order_left_to_right(s, idx);
        for (int p = 0; p < s->n; p++) {
            const shape_object *o = &s->obj[idx[p]];
            if (count_color_kind(s, o->color, o) != 1) continue;
            char ref[48];
            shape_object_name(o, ref, sizeof ref);
            /* the neighbour must be in another column, alone in its own, to be unambiguous */
            if (p > 0 && col(s, o) != col(s, &s->obj[idx[p - 1]]) &&
                (p < 2 || col(s, &s->obj[idx[p - 1]]) != col(s, &s->obj[idx[p - 2]]))) {
                snprintf(q, sizeof q, "What is left of the %s?", ref);
                shape_object_name(&s->obj[idx[p - 1]], a, sizeof a);
                n = add(out, n, cap, t, q, a);
            }
            if (p + 1 < s->n && col(s, &s->obj[idx[p + 1]]) != col(s, o) &&
                (p + 2 >= s->n || col(s, &s->obj[idx[p + 2]]) != col(s, &s->obj[idx[p + 1]]))) {
                snprintf(q, sizeof q, "What is right of the %s?", ref);
                shape_object_name(&s->obj[idx[p + 1]], a, sizeof a);
                n = add(out, n, cap, t, q, a);
            }
        }
        break;
    }
    case QA_YESNO: {
        /* one present object and one absent combination, so yes and no balance */
        const shape_object *o = &s->obj[shape_rng_int(r, 0, s->n - 1)];
        char name[48];
        shape_object_name(o, name, sizeof name);
        snprintf(q, sizeof q, "Is there %s %s?", article(name), name);
        n = add(out, n, cap, t, q, "yes");
        for (int tries = 0; tries < 20; tries++) {
            shape_object f = *o;
            f.color = shape_rng_int(r, 0, SHAPE_N_COLORS - 1);
            f.kind = (shape_kind)shape_rng_int(r, 0, SHAPE_KIND_COUNT - 1);
            f.letter = f.kind == SHAPE_LETTER ? shape_random_letter(r) : 0;
            if (count_color_kind(s, f.color, &f)) continue;
            shape_object_name(&f, name, sizeof name);
            snprintf(q, sizeof q, "Is there %s %s?", article(name), name);
            n = add(out, n, cap, t, q, "no");
            break;
        }
        break;
    }
    default:
        break;
    }
    return n;
}

int shapes_random_question_weighted(const shape_scene *s, shape_rng *r, const int *weights, shape_qa *out)
{
    shape_qa cand[QA_TYPE_COUNT][24];
    int count[QA_TYPE_COUNT], total = 0;
    for (int t = QA_COLOR; t < QA_TYPE_COUNT; t++) {
        count[t] = shapes_questions_of_type(s, (shape_qa_type)t, r, cand[t], 24);
        if (count[t] > 0) total += weights ? weights[t] : 1;
    }
    if (!total) return -1;
    /* with every weight 1 this is one uniform draw among the types asked,
     * the same draw as the unweighted call, so its data is unchanged */
    int pick = shape_rng_int(r, 0, total - 1), t = QA_COLOR;
    for (;; t++) {
        int w = count[t] > 0 ? (weights ? weights[t] : 1) : 0;
        if (pick < w) break;
        pick -= w;
    }
    *out = cand[t][shape_rng_int(r, 0, count[t] - 1)];
    return 0;
}

int shapes_random_question(const shape_scene *s, shape_rng *r, shape_qa *out)
{
    return shapes_random_question_weighted(s, r, NULL, out);
}

/* The text between prefix and the final "?" of a question, into out. */
static int subject(const char *question, const char *prefix, char *out, size_t cap)
{
    size_t lp = strlen(prefix), lq = strlen(question);
    if (lq < lp + 1 || strncmp(question, prefix, lp) || question[lq - 1] != '?' || lq - lp - 1 >= cap) return -1;
    memcpy(out, question + lp, lq - lp - 1);
    out[lq - lp - 1] = 0;
    return 0;
}

int shapes_qa_told(const shape_qa *q, const char *told)
{
    char sub[96], needle[sizeof sub + sizeof q->answer + 16];
    switch (q->type) {
    case QA_COLOR:   /* "What color is the {kind}?" -> "{color} {kind}" */
        if (subject(q->question, "What color is the ", sub, sizeof sub)) return 0;
        snprintf(needle, sizeof needle, "%s %s", q->answer, sub);
        return strstr(told, needle) != NULL;
    case QA_LETTER:  /* "Which letter is {color}?" -> "{color} letter {L}" */
        if (subject(q->question, "Which letter is ", sub, sizeof sub)) return 0;
        snprintf(needle, sizeof needle, "%s letter %s", sub, q->answer);
        return strstr(told, needle) != NULL;
    case QA_SHAPE:   /* "What shape is {color}?" -> "{color} {shape}" */
        if (subject(q->question, "What shape is ", sub, sizeof sub)) return 0;
        snprintf(needle, sizeof needle, "%s %s", sub, q->answer);
        return strstr(told, needle) != NULL;
    case QA_SPATIAL: /* both the object asked about and its neighbour named */
        if (subject(q->question, "What is left of the ", sub, sizeof sub) &&
            subject(q->question, "What is right of the ", sub, sizeof sub))
            return 0;
        return strstr(told, sub) && strstr(told, q->answer);
    case QA_COUNT: { /* "How many {kind}s are there?": any mention of the kind */
        if (subject(q->question, "How many ", sub, sizeof sub) || !strstr(sub, " are there")) return 0;
        *strstr(sub, " are there") = 0;
        if (!strcmp(sub, "objects")) return 0;
        size_t l = strlen(sub);
        sub[l - (l > 2 && !strcmp(sub + l - 2, "es") && sub[l - 3] == 's' ? 2 : 1)] = 0;
        return strstr(told, sub) != NULL;
    }
    case QA_YESNO: { /* "Is there a {color} {kind}?": its colour or its kind named */
        if (subject(q->question, "Is there a ", sub, sizeof sub) &&
            subject(q->question, "Is there an ", sub, sizeof sub))
            return 0;
        char *kind = strchr(sub, ' ');
        if (!kind) return 0;
        *kind++ = 0;
        char *kind_end = strchr(kind, ' ');   /* "letter K": the word "letter" */
        if (kind_end) *kind_end = 0;
        return strstr(told, sub) || strstr(told, kind);
    }
    default:
        return 0;
    }
}

void shapes_qa_tell(const shape_qa *q, char *told, size_t cap)
{
    char sub[96], fact[sizeof sub + sizeof q->answer + 16] = "";
    if (q->type == QA_COLOR && !subject(q->question, "What color is the ", sub, sizeof sub))
        snprintf(fact, sizeof fact, "%s %s", q->answer, sub);
    else if (q->type == QA_LETTER && !subject(q->question, "Which letter is ", sub, sizeof sub))
        snprintf(fact, sizeof fact, "%s letter %s", sub, q->answer);
    else if (q->type == QA_SHAPE && !subject(q->question, "What shape is ", sub, sizeof sub))
        snprintf(fact, sizeof fact, "%s %s", sub, q->answer);
    size_t l = strlen(told);
    if (l < cap) snprintf(told + l, cap - l, "%s\n%s\n%s\n", q->question, q->answer, fact);
}

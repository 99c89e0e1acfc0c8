#include "shapes_corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "shapes_qa.h"

typedef struct {
    char **s;
    int n, cap;
} texts;

static int push(texts *t, const char *prefix, const char *s)
{
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 1024;
        char **ns = realloc(t->s, (size_t)cap * sizeof *ns);
        if (!ns) return -1;
        t->s = ns;
        t->cap = cap;
    }
    size_t len = strlen(prefix) + strlen(s) + 1;
    if (!(t->s[t->n] = malloc(len))) return -1;
    snprintf(t->s[t->n++], len, "%s%s", prefix, s);
    return 0;
}

char **shapes_corpus(int n_scenes, uint64_t seed, int *n)
{
    texts t = {0};
    shape_rng r;
    shape_rng_seed(&r, seed);
    for (int i = 0; i < n_scenes; i++) {
        shape_scene sc;
        shape_scene_random(&sc, &r, SHAPE_MAX_OBJECTS);
        for (int ty = 0; ty < QA_TYPE_COUNT; ty++) {
            shape_qa qa[32];
            int k = shapes_questions_of_type(&sc, (shape_qa_type)ty, &r, qa, 32);
            for (int j = 0; j < k; j++)
                if (push(&t, "", qa[j].question) || push(&t, "", qa[j].answer) || push(&t, " ", qa[j].answer))
                    goto oom;
        }
        char by_kind[160];
        shapes_caption_by_kind(&sc, by_kind, sizeof by_kind);
        if (push(&t, "", by_kind) || push(&t, " ", by_kind)) goto oom;
    }
    *n = t.n;
    return t.s;
oom:
    shapes_corpus_free(t.s, t.n);
    iris_set_error("out of memory for the shapes corpus");
    return NULL;
}

void shapes_corpus_free(char **texts, int n)
{
    if (!texts) return;
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
}

#include "name_index.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *key;   /* NULL = empty slot */
    uint64_t hash;
    int64_t value;
} slot;

struct iris_name_index {
    slot *slots;
    size_t cap;        /* power of two */
    size_t used;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t capacity_for(size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 && cap < ((size_t)1 << 40)) cap <<= 1; /* load <= 1/2 */
    return cap;
}

iris_name_index *iris_name_index_new(size_t expected)
{
    iris_name_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->cap = capacity_for(expected);
    ix->slots = calloc(ix->cap, sizeof *ix->slots);
    if (!ix->slots) {
        free(ix);
        return NULL;
    }
    return ix;
}

void iris_name_index_free(iris_name_index *ix)
{
    if (!ix) return;
    free(ix->slots);
    free(ix);
}

static slot *probe(slot *slots, size_t cap, const char *key, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i].key && (slots[i].hash != h || strcmp(slots[i].key, key) != 0))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(iris_name_index *ix)
{
    size_t cap = ix->cap * 2;
    slot *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].key) *probe(s, cap, ix->slots[i].key, ix->slots[i].hash) = ix->slots[i];
    free(ix->slots);
    ix->slots = s;
    ix->cap = cap;
    return 0;
}

int iris_name_index_put(iris_name_index *ix, const char *key, int64_t value)
{
    if ((ix->used + 1) * 2 > ix->cap && grow(ix) != 0) return -1;
    uint64_t h = fnv1a(key);
    slot *s = probe(ix->slots, ix->cap, key, h);
    if (s->key) return 1;
    s->key = key;
    s->hash = h;
    s->value = value;
    ix->used++;
    return 0;
}

int64_t iris_name_index_get(const iris_name_index *ix, const char *key)
{
    if (!ix) return -1;
    const slot *s = probe(ix->slots, ix->cap, key, fnv1a(key));
    return s->key ? s->value : -1;
}

/* strbuf.c — see strbuf.h. */
#include "strbuf.h"

#include <stdlib.h>

int iris_strbuf_add(iris_strbuf *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = 0;
    return 0;
}

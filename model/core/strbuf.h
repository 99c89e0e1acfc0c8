/* strbuf.h — a growable, always NUL-terminated string for building texts
 * piece by piece (prompts, rendered conversations).
 *
 * Contract: start from a zeroed iris_strbuf; iris_strbuf_add appends len
 * bytes and returns 0, or -1 when memory runs out (the text so far is kept);
 * the caller frees b->s.
 */
#ifndef IRIS_STRBUF_H
#define IRIS_STRBUF_H

#include <stddef.h>
#include <string.h>

typedef struct {
    char *s;
    size_t n, cap;
} iris_strbuf;

int iris_strbuf_add(iris_strbuf *b, const char *s, size_t len);

static inline int iris_strbuf_str(iris_strbuf *b, const char *s) { return iris_strbuf_add(b, s, strlen(s)); }

#endif

/* tok_hash.c — open-addressing hash tables for the tokenizer: piece -> id and
 * (left id, right id) -> merge.  Vocabularies are up to a few hundred thousand
 * entries, built once at load time and read-only while encoding. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;           /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;      /* murmur3 finaliser */
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static size_t cap_for(size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2 + 1) cap <<= 1;
    return cap;
}

int tok_str_map_init(tok_str_map *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = cap_for(expected);
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->key_len = calloc(m->cap, sizeof *m->key_len);
    m->vals = calloc(m->cap, sizeof *m->vals);
    if (!m->keys || !m->key_len || !m->vals) { tok_str_map_free(m); return -1; }
    return 0;
}

void tok_str_map_free(tok_str_map *m)
{
    free(m->keys); free(m->key_len); free(m->vals);
    memset(m, 0, sizeof *m);
}

static int str_map_grow(tok_str_map *m)
{
    tok_str_map n;
    if (tok_str_map_init(&n, m->cap) != 0) return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) tok_str_map_put(&n, m->keys[i], m->key_len[i], m->vals[i]);
    tok_str_map_free(m);
    *m = n;
    return 0;
}

int tok_str_map_put(tok_str_map *m, const char *key, size_t len, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap && str_map_grow(m) != 0) return -1;
    size_t mask = m->cap - 1, i = hash_bytes(key, len) & mask;
    while (m->keys[i]) {
        if (m->key_len[i] == len && memcmp(m->keys[i], key, len) == 0) return 0;
        i = (i + 1) & mask;
    }
    m->keys[i] = key; m->key_len[i] = (uint32_t)len; m->vals[i] = val;
    m->n++;
    return 0;
}

int32_t tok_str_map_get(const tok_str_map *m, const char *key, size_t len)
{
    if (!m->cap) return -1;
    size_t mask = m->cap - 1, i = hash_bytes(key, len) & mask;
    while (m->keys[i]) {
        if (m->key_len[i] == len && memcmp(m->keys[i], key, len) == 0) return m->vals[i];
        i = (i + 1) & mask;
    }
    return -1;
}

int tok_pair_map_init(tok_pair_map *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = cap_for(expected);
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->result = calloc(m->cap, sizeof *m->result);
    m->prio = calloc(m->cap, sizeof *m->prio);
    if (!m->keys || !m->result || !m->prio) { tok_pair_map_free(m); return -1; }
    return 0;
}

void tok_pair_map_free(tok_pair_map *m)
{
    free(m->keys); free(m->result); free(m->prio);
    memset(m, 0, sizeof *m);
}

static uint64_t pair_key(int32_t a, int32_t b)
{
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static int pair_map_grow(tok_pair_map *m)
{
    tok_pair_map n;
    if (tok_pair_map_init(&n, m->cap) != 0) return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            uint64_t k = m->keys[i] - 1;
            tok_pair_map_put(&n, (int32_t)(k >> 32), (int32_t)(uint32_t)k, m->result[i], m->prio[i]);
        }
    tok_pair_map_free(m);
    *m = n;
    return 0;
}

int tok_pair_map_put(tok_pair_map *m, int32_t a, int32_t b, int32_t result, float prio)
{
    if ((m->n + 1) * 2 > m->cap && pair_map_grow(m) != 0) return -1;
    uint64_t k = pair_key(a, b);
    size_t mask = m->cap - 1, i = hash_u64(k) & mask;
    while (m->keys[i]) {
        if (m->keys[i] == k) {
            if (prio < m->prio[i]) { m->prio[i] = prio; m->result[i] = result; }
            return 0;
        }
        i = (i + 1) & mask;
    }
    m->keys[i] = k; m->result[i] = result; m->prio[i] = prio;
    m->n++;
    return 0;
}

int tok_pair_map_get(const tok_pair_map *m, int32_t a, int32_t b, int32_t *result, float *prio)
{
    if (!m->cap) return 0;
    uint64_t k = pair_key(a, b);
    size_t mask = m->cap - 1, i = hash_u64(k) & mask;
    while (m->keys[i]) {
        if (m->keys[i] == k) { *result = m->result[i]; *prio = m->prio[i]; return 1; }
        i = (i + 1) & mask;
    }
    return 0;
}

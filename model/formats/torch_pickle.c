/* torch_pickle.c — the data-only pickle VM behind torch checkpoints.
 *
 * Values live in one linked arena freed at the end; the memo and the stack
 * hold borrowed pointers into it, so shared references (a storage used by two
 * tensors, a memoised dict) cost nothing and need no reference counts.  Every
 * read is checked against the bytes left, every count against a limit tied to
 * the stream length, so a hostile stream can neither read past its end nor
 * make the VM allocate much more than its own size. */
#include "torch_pickle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "name_index.h"

#define MAX_NESTING 256   /* dict/list depth when naming tensors */
#define MAX_NAME 1024

typedef enum {
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_BYTES, V_TUPLE, V_LIST, V_DICT,
    V_FUNC, V_STYPE, V_STORAGE, V_TENSOR, V_OPAQUE
} vkind;

typedef enum { F_ORDERED_DICT, F_REBUILD_V2, F_REBUILD, F_REBUILD_PARAM, F_CODECS_ENCODE } vfunc;

typedef struct stype {
    const char *torch_name;   /* "FloatStorage" */
    const char *dtype_name;   /* safetensors spelling */
    int dtype;                /* iris_dtype or -1 */
    size_t elsize;
} stype;

static const stype STYPES[] = {
    {"FloatStorage", "F32", IRIS_F32, 4},   {"HalfStorage", "F16", IRIS_F16, 2},
    {"BFloat16Storage", "BF16", IRIS_BF16, 2}, {"IntStorage", "I32", IRIS_I32, 4},
    {"LongStorage", "I64", -1, 8},          {"DoubleStorage", "F64", -1, 8},
    {"ShortStorage", "I16", -1, 2},         {"CharStorage", "I8", -1, 1},
    {"ByteStorage", "U8", -1, 1},           {"BoolStorage", "BOOL", -1, 1},
};

typedef struct val {
    vkind k;
    int visited;              /* naming walk: each container once (cycles) */
    int seen;                 /* holds_tensor: epoch of the last visit */
    struct val *next;         /* arena chain */
    union {
        int64_t i;
        double f;
        struct { char *s; size_t len; } str;                 /* STR (NUL-terminated), BYTES */
        struct { struct val **items; size_t n, cap; } seq;   /* TUPLE, LIST, DICT (k,v pairs) */
        vfunc fn;
        const stype *st;                                     /* STYPE */
        struct { const stype *st; const uint8_t *data; uint64_t nbytes; } storage;
        struct {
            struct val *storage;
            int64_t offset;
            int ndim;
            int64_t shape[IRIS_MAX_DIMS], stride[IRIS_MAX_DIMS];
        } tensor;
    } u;
} val;

typedef struct {
    const uint8_t *p, *end, *start;
    const iris_torch_pickle_opts *o;
    val *arena;
    size_t n_vals, max_vals;
    val **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    val **memo;
    size_t memo_cap, memo_count, memo_max;
    uint64_t copied;
    /* naming */
    iris_st_tensor *out;
    int n_out, out_cap;
    iris_name_index *names;   /* duplicate check over out[] */
    int epoch;
    char name[MAX_NAME];
} vm;

static size_t at(const vm *m) { return (size_t)(m->p - m->start); }

static int bad(vm *m, const char *what)
{
    iris_set_error("%s: data.pkl: %s at offset %zu", m->o->label, what, at(m));
    return -1;
}

/* Copies at most cap-1 bytes, printable ASCII only (the message goes to a
 * terminal; the name comes from a hostile file). */
static const char *printable(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
    dst[i] = 0;
    return dst;
}

static int refuse_global(vm *m, const char *mod, const char *name)
{
    char a[101], b[101];
    iris_set_error("refusing to load %s: pickle calls %s.%s, which is not a "
                   "tensor-rebuild function", m->o->label, printable(a, sizeof a, mod),
                   printable(b, sizeof b, name));
    return -1;
}

static val *new_val(vm *m, vkind k)
{
    if (m->n_vals >= m->max_vals) {
        bad(m, "too many objects for the stream's size");
        return NULL;
    }
    val *v = calloc(1, sizeof *v);
    if (!v) {
        iris_set_error("%s: out of memory", m->o->label);
        return NULL;
    }
    v->k = k;
    v->next = m->arena;
    m->arena = v;
    m->n_vals++;
    return v;
}

static void free_arena(vm *m)
{
    for (val *v = m->arena, *nx; v; v = nx) {
        nx = v->next;
        if (v->k == V_STR || v->k == V_BYTES) free(v->u.str.s);
        if (v->k == V_TUPLE || v->k == V_LIST || v->k == V_DICT) free(v->u.seq.items);
        free(v);
    }
    m->arena = NULL;
}

static int push(vm *m, val *v)
{
    if (!v) return -1;
    if (m->sp == m->stack_cap) {
        size_t cap = m->stack_cap ? m->stack_cap * 2 : 64;
        val **ns = realloc(m->stack, cap * sizeof *ns);
        if (!ns) {
            iris_set_error("%s: out of memory", m->o->label);
            return -1;
        }
        m->stack = ns;
        m->stack_cap = cap;
    }
    m->stack[m->sp++] = v;
    return 0;
}

/* The bottom of the current frame: values above the last MARK. */
static size_t frame_base(const vm *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

static val *pop(vm *m)
{
    if (m->sp <= frame_base(m)) {
        bad(m, "stack underflow");
        return NULL;
    }
    return m->stack[--m->sp];
}

static val *top(vm *m)
{
    if (m->sp <= frame_base(m)) {
        bad(m, "stack underflow");
        return NULL;
    }
    return m->stack[m->sp - 1];
}

static int pop_mark(vm *m, size_t *base)
{
    if (!m->n_marks) return bad(m, "no MARK on the stack");
    *base = m->marks[--m->n_marks];
    return 0;
}

static int seq_add(vm *m, val *s, val *item)
{
    if (s->u.seq.n == s->u.seq.cap) {
        size_t cap = s->u.seq.cap ? s->u.seq.cap * 2 : 4;
        val **ni = realloc(s->u.seq.items, cap * sizeof *ni);
        if (!ni) {
            iris_set_error("%s: out of memory", m->o->label);
            return -1;
        }
        s->u.seq.items = ni;
        s->u.seq.cap = cap;
    }
    s->u.seq.items[s->u.seq.n++] = item;
    return 0;
}

/* A tuple of the stack values from base up (consumed). */
static val *make_tuple(vm *m, size_t base)
{
    val *t = new_val(m, V_TUPLE);
    if (!t) return NULL;
    for (size_t i = base; i < m->sp; i++)
        if (seq_add(m, t, m->stack[i]) != 0) return NULL;
    m->sp = base;
    return t;
}

static int take(vm *m, size_t n, const uint8_t **out)
{
    if ((size_t)(m->end - m->p) < n) return bad(m, "truncated stream");
    *out = m->p;
    m->p += n;
    return 0;
}

static uint64_t le(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static val *make_str(vm *m, vkind k, const uint8_t *s, size_t len)
{
    val *v = new_val(m, k);
    if (!v) return NULL;
    if (!(v->u.str.s = malloc(len + 1))) {
        iris_set_error("%s: out of memory", m->o->label);
        return NULL;
    }
    memcpy(v->u.str.s, s, len);
    v->u.str.s[len] = 0;
    v->u.str.len = len;
    return v;
}

/* Length-prefixed string/bytes: n-byte little-endian length, then the data. */
static int op_sized(vm *m, vkind k, int nlen)
{
    const uint8_t *b, *s;
    if (take(m, (size_t)nlen, &b) != 0) return -1;
    uint64_t len = le(b, nlen);
    if (len > (uint64_t)(m->end - m->p)) return bad(m, "string length exceeds the stream");
    if (take(m, (size_t)len, &s) != 0) return -1;
    return push(m, make_str(m, k, s, (size_t)len));
}

static int memo_put(vm *m, uint64_t idx)
{
    val *v = top(m);
    if (!v) return -1;
    if (idx >= m->memo_max) return bad(m, "memo index out of range");
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        val **nm = realloc(m->memo, cap * sizeof *nm);
        if (!nm) {
            iris_set_error("%s: out of memory", m->o->label);
            return -1;
        }
        memset(nm + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *nm);
        m->memo = nm;
        m->memo_cap = cap;
    }
    if (!m->memo[idx]) m->memo_count++;
    m->memo[idx] = v;
    return 0;
}

static int memo_get(vm *m, uint64_t idx)
{
    if (idx >= m->memo_cap || !m->memo[idx]) return bad(m, "memo index not set");
    return push(m, m->memo[idx]);
}

/* GLOBAL / STACK_GLOBAL: only names this VM interprets itself. */
static int push_global(vm *m, const char *mod, const char *name)
{
    if (strcmp(mod, "collections") == 0 && strcmp(name, "OrderedDict") == 0) {
        val *v = new_val(m, V_FUNC);
        if (v) v->u.fn = F_ORDERED_DICT;
        return push(m, v);
    }
    if (strcmp(mod, "torch._utils") == 0) {
        static const struct { const char *n; vfunc f; } fs[] = {
            {"_rebuild_tensor_v2", F_REBUILD_V2}, {"_rebuild_tensor", F_REBUILD},
            {"_rebuild_parameter", F_REBUILD_PARAM},
            {"_rebuild_parameter_with_state", F_REBUILD_PARAM}};
        for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
            if (strcmp(name, fs[i].n) == 0) {
                val *v = new_val(m, V_FUNC);
                if (v) v->u.fn = fs[i].f;
                return push(m, v);
            }
    }
    if (strcmp(mod, "torch") == 0)
        for (size_t i = 0; i < sizeof STYPES / sizeof STYPES[0]; i++)
            if (strcmp(name, STYPES[i].torch_name) == 0) {
                val *v = new_val(m, V_STYPE);
                if (v) v->u.st = &STYPES[i];
                return push(m, v);
            }
    size_t nl = strlen(name);
    if (strcmp(mod, "torch") == 0 && nl > 7 && strcmp(name + nl - 7, "Storage") == 0) {
        char b[101];
        iris_set_error("%s: tensors stored as torch.%s are not supported", m->o->label,
                       printable(b, sizeof b, name));
        return -1;
    }
    if (strcmp(mod, "_codecs") == 0 && strcmp(name, "encode") == 0) {
        val *v = new_val(m, V_FUNC);
        if (v) v->u.fn = F_CODECS_ENCODE;
        return push(m, v);
    }
    return refuse_global(m, mod, name);
}

/* GLOBAL: "module\nname\n" */
static int op_global(vm *m)
{
    const uint8_t *nl1 = memchr(m->p, '\n', (size_t)(m->end - m->p));
    if (!nl1) return bad(m, "truncated GLOBAL");
    const uint8_t *nl2 = memchr(nl1 + 1, '\n', (size_t)(m->end - nl1 - 1));
    if (!nl2) return bad(m, "truncated GLOBAL");
    char mod[256], name[256];
    size_t ml = (size_t)(nl1 - m->p), nlen = (size_t)(nl2 - nl1 - 1);
    if (ml >= sizeof mod || nlen >= sizeof name) return bad(m, "GLOBAL name too long");
    memcpy(mod, m->p, ml);
    mod[ml] = 0;
    memcpy(name, nl1 + 1, nlen);
    name[nlen] = 0;
    m->p = nl2 + 1;
    return push_global(m, mod, name);
}

static int op_stack_global(vm *m)
{
    val *name = pop(m), *mod = name ? pop(m) : NULL;
    if (!mod) return -1;
    if (mod->k != V_STR || name->k != V_STR) return bad(m, "STACK_GLOBAL needs two strings");
    return push_global(m, mod->u.str.s, name->u.str.s);
}

/* ---- tensor rebuilding ---------------------------------------------------- */

static int int_tuple(vm *m, const val *t, int64_t *out, int *n, const char *what)
{
    if (t->k != V_TUPLE && t->k != V_LIST) return bad(m, what);
    if (t->u.seq.n > IRIS_MAX_DIMS) {
        iris_set_error("%s: a tensor has %zu dimensions; iris supports at most %d",
                       m->o->label, t->u.seq.n, IRIS_MAX_DIMS);
        return -1;
    }
    for (size_t i = 0; i < t->u.seq.n; i++) {
        const val *e = t->u.seq.items[i];
        if (e->k != V_INT || e->u.i < 0) return bad(m, what);
        out[i] = e->u.i;
    }
    *n = (int)t->u.seq.n;
    return 0;
}

/* _rebuild_tensor[_v2](storage, offset, size, stride, ...): checks that every
 * element the view can reach lies inside the storage. */
static val *rebuild_tensor(vm *m, const val *args)
{
    if (args->u.seq.n < 4) {
        bad(m, "_rebuild_tensor with fewer than 4 arguments");
        return NULL;
    }
    val *const *a = args->u.seq.items;
    if (a[0]->k != V_STORAGE || a[1]->k != V_INT || a[1]->u.i < 0) {
        bad(m, "_rebuild_tensor needs a storage and an offset");
        return NULL;
    }
    val *t = new_val(m, V_TENSOR);
    if (!t) return NULL;
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = a[1]->u.i;
    int nd, ns;
    if (int_tuple(m, a[2], t->u.tensor.shape, &nd, "tensor size is not a tuple of ints") != 0 ||
        int_tuple(m, a[3], t->u.tensor.stride, &ns, "tensor stride is not a tuple of ints") != 0)
        return NULL;
    if (nd != ns) {
        bad(m, "tensor size and stride differ in length");
        return NULL;
    }
    t->u.tensor.ndim = nd;
    uint64_t numel = a[0]->u.storage.nbytes / a[0]->u.storage.st->elsize;
    uint64_t last = (uint64_t)t->u.tensor.offset, count = 1;
    int empty = 0;
    for (int d = 0; d < nd; d++) {
        uint64_t s = (uint64_t)t->u.tensor.shape[d], st = (uint64_t)t->u.tensor.stride[d];
        if (s == 0) empty = 1;
        if (s > ((uint64_t)1 << 40) || (s && __builtin_mul_overflow(count, s, &count))) {
            bad(m, "tensor size too large");
            return NULL;
        }
        uint64_t reach;
        if (s && (__builtin_mul_overflow(s - 1, st, &reach) ||
                  __builtin_add_overflow(last, reach, &last))) {
            bad(m, "tensor view overflows");
            return NULL;
        }
    }
    if (count > ((uint64_t)1 << 56) / a[0]->u.storage.st->elsize) {
        bad(m, "tensor size too large");
        return NULL;
    }
    if (!empty && last >= numel) {
        iris_set_error("%s: a tensor view reaches element %" PRIu64 " of a storage of %" PRIu64
                       " elements", m->o->label, last, numel);
        return NULL;
    }
    return t;
}

static val *call(vm *m, const val *f, const val *args)
{
    if (args->k != V_TUPLE) {
        bad(m, "REDUCE arguments are not a tuple");
        return NULL;
    }
    if (f->k != V_FUNC) {
        bad(m, f->k == V_STYPE ? "REDUCE on a storage type is not allowed"
                               : "REDUCE on something that is not an allowed function");
        return NULL;
    }
    switch (f->u.fn) {
    case F_ORDERED_DICT: {
        val *d = new_val(m, V_DICT);
        if (!d) return NULL;
        if (args->u.seq.n == 0) return d;
        /* OrderedDict([(k, v), ...]) */
        const val *l = args->u.seq.items[0];
        if (args->u.seq.n != 1 || (l->k != V_LIST && l->k != V_TUPLE)) {
            bad(m, "OrderedDict with unexpected arguments");
            return NULL;
        }
        for (size_t i = 0; i < l->u.seq.n; i++) {
            const val *kv = l->u.seq.items[i];
            if (kv->k != V_TUPLE || kv->u.seq.n != 2) {
                bad(m, "OrderedDict item is not a pair");
                return NULL;
            }
            if (seq_add(m, d, kv->u.seq.items[0]) || seq_add(m, d, kv->u.seq.items[1]))
                return NULL;
        }
        return d;
    }
    case F_REBUILD_V2:
    case F_REBUILD:
        return rebuild_tensor(m, args);
    case F_REBUILD_PARAM:
        if (args->u.seq.n < 1 || args->u.seq.items[0]->k != V_TENSOR) {
            bad(m, "_rebuild_parameter needs a tensor");
            return NULL;
        }
        return args->u.seq.items[0];
    case F_CODECS_ENCODE:
        /* protocol 2 writes bytes b as _codecs.encode(str, 'latin1'); the
         * value is never a tensor, so it is kept opaque */
        if (args->u.seq.n < 1 || args->u.seq.items[0]->k != V_STR) {
            bad(m, "_codecs.encode needs a string");
            return NULL;
        }
        return new_val(m, V_OPAQUE);
    }
    bad(m, "unknown function");
    return NULL;
}

/* BINPERSID: ('storage', storage_type, key, location, numel) */
static int op_persid(vm *m)
{
    val *pid = pop(m);
    if (!pid) return -1;
    val *const *a = pid->u.seq.items;
    if (pid->k != V_TUPLE || pid->u.seq.n < 5 || a[0]->k != V_STR ||
        strcmp(a[0]->u.str.s, "storage") != 0 || a[1]->k != V_STYPE || a[2]->k != V_STR ||
        a[4]->k != V_INT || a[4]->u.i < 0)
        return bad(m, "persistent id is not ('storage', type, key, location, numel)");
    if (strchr(a[2]->u.str.s, '/') || !a[2]->u.str.s[0]) return bad(m, "bad storage key");
    uint64_t nbytes;
    const uint8_t *data = m->o->storage(m->o->ctx, a[2]->u.str.s, &nbytes);
    if (!data) return -1;
    const stype *st = a[1]->u.st;
    uint64_t want;
    if (__builtin_mul_overflow((uint64_t)a[4]->u.i, st->elsize, &want) || want > nbytes) {
        iris_set_error("%s: storage '%s' holds %" PRIu64 " bytes, fewer than %" PRId64
                       " %s elements", m->o->label, a[2]->u.str.s, nbytes, a[4]->u.i,
                       st->dtype_name);
        return -1;
    }
    val *s = new_val(m, V_STORAGE);
    if (!s) return -1;
    s->u.storage.st = st;
    s->u.storage.data = data;
    s->u.storage.nbytes = want;
    return push(m, s);
}

/* ---- the interpreter loop ------------------------------------------------- */

static int run(vm *m, val **result)
{
    for (;;) {
        const uint8_t *b;
        if (take(m, 1, &b) != 0) return bad(m, "stream ends without STOP");
        uint8_t op = *b;
        size_t base;
        val *v, *w;
        switch (op) {
        case 0x80: /* PROTO */
            if (take(m, 1, &b) != 0) return -1;
            if (*b > 5) return bad(m, "unknown pickle protocol");
            break;
        case 0x95: /* FRAME: a hint only */
            if (take(m, 8, &b) != 0) return -1;
            break;
        case '}': if (push(m, new_val(m, V_DICT))) return -1; break;
        case ']': if (push(m, new_val(m, V_LIST))) return -1; break;
        case ')': if (push(m, new_val(m, V_TUPLE))) return -1; break;
        case '(': /* MARK */
            if (m->n_marks == m->marks_cap) {
                size_t cap = m->marks_cap ? m->marks_cap * 2 : 16;
                size_t *nm = realloc(m->marks, cap * sizeof *nm);
                if (!nm) {
                    iris_set_error("%s: out of memory", m->o->label);
                    return -1;
                }
                m->marks = nm;
                m->marks_cap = cap;
            }
            m->marks[m->n_marks++] = m->sp;
            break;
        case 't': /* TUPLE */
            if (pop_mark(m, &base) || push(m, make_tuple(m, base))) return -1;
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            if (m->sp < frame_base(m) + n) return bad(m, "stack underflow");
            if (push(m, make_tuple(m, m->sp - n))) return -1;
            break;
        }
        case 's': /* SETITEM */
            if (!(w = pop(m)) || !(v = pop(m))) return -1;
            { val *d = top(m);
              if (!d) return -1;
              if (d->k != V_DICT) return bad(m, "SETITEM on a non-dict");
              if (seq_add(m, d, v) || seq_add(m, d, w)) return -1; }
            break;
        case 'u': { /* SETITEMS */
            if (pop_mark(m, &base)) return -1;
            if (base == frame_base(m) || base > m->sp) return bad(m, "stack underflow");
            val *d = m->stack[base - 1];
            if (d->k != V_DICT) return bad(m, "SETITEMS on a non-dict");
            if ((m->sp - base) % 2) return bad(m, "SETITEMS with an odd count");
            for (size_t i = base; i < m->sp; i++)
                if (seq_add(m, d, m->stack[i])) return -1;
            m->sp = base;
            break;
        }
        case 'a': /* APPEND */
            if (!(v = pop(m))) return -1;
            if (!(w = top(m))) return -1;
            if (w->k != V_LIST) return bad(m, "APPEND to a non-list");
            if (seq_add(m, w, v)) return -1;
            break;
        case 'e': { /* APPENDS */
            if (pop_mark(m, &base)) return -1;
            if (base == frame_base(m) || base > m->sp) return bad(m, "stack underflow");
            val *l = m->stack[base - 1];
            if (l->k != V_LIST) return bad(m, "APPENDS to a non-list");
            for (size_t i = base; i < m->sp; i++)
                if (seq_add(m, l, m->stack[i])) return -1;
            m->sp = base;
            break;
        }
        case '0': if (!pop(m)) return -1; break;             /* POP */
        case '1': if (pop_mark(m, &base)) return -1; m->sp = base; break; /* POP_MARK */
        case 'J': case 'K': case 'M': { /* BININT, BININT1, BININT2 */
            int n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            if (take(m, (size_t)n, &b)) return -1;
            if (!(v = new_val(m, V_INT))) return -1;
            v->u.i = op == 'J' ? (int64_t)(int32_t)(uint32_t)le(b, 4) : (int64_t)le(b, n);
            if (push(m, v)) return -1;
            break;
        }
        case 0x8a: { /* LONG1 */
            if (take(m, 1, &b)) return -1;
            int n = *b;
            if (n > 8) return bad(m, "integer wider than 64 bits");
            if (take(m, (size_t)n, &b)) return -1;
            uint64_t u = le(b, n);
            if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
            if (!(v = new_val(m, V_INT))) return -1;
            v->u.i = (int64_t)u;
            if (push(m, v)) return -1;
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            if (take(m, 8, &b)) return -1;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = u << 8 | b[i];
            if (!(v = new_val(m, V_FLOAT))) return -1;
            memcpy(&v->u.f, &u, 8);
            if (push(m, v)) return -1;
            break;
        }
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            if (!(v = new_val(m, V_BOOL))) return -1;
            v->u.i = op == 0x88;
            if (push(m, v)) return -1;
            break;
        case 'N': if (push(m, new_val(m, V_NONE))) return -1; break;
        case 'X': if (op_sized(m, V_STR, 4)) return -1; break;      /* BINUNICODE */
        case 0x8c: if (op_sized(m, V_STR, 1)) return -1; break;     /* SHORT_BINUNICODE */
        case 0x8d: if (op_sized(m, V_STR, 8)) return -1; break;     /* BINUNICODE8 */
        case 'B': if (op_sized(m, V_BYTES, 4)) return -1; break;    /* BINBYTES */
        case 'C': if (op_sized(m, V_BYTES, 1)) return -1; break;    /* SHORT_BINBYTES */
        case 0x8e: if (op_sized(m, V_BYTES, 8)) return -1; break;   /* BINBYTES8 */
        case 'q': if (take(m, 1, &b) || memo_put(m, b[0])) return -1; break;        /* BINPUT */
        case 'r': if (take(m, 4, &b) || memo_put(m, le(b, 4))) return -1; break;    /* LONG_BINPUT */
        case 0x94: if (memo_put(m, m->memo_count)) return -1; break;                /* MEMOIZE */
        case 'h': if (take(m, 1, &b) || memo_get(m, b[0])) return -1; break;        /* BINGET */
        case 'j': if (take(m, 4, &b) || memo_get(m, le(b, 4))) return -1; break;    /* LONG_BINGET */
        case 'c': if (op_global(m)) return -1; break;
        case 0x93: if (op_stack_global(m)) return -1; break;
        case 'R': /* REDUCE */
            if (!(w = pop(m)) || !(v = pop(m))) return -1;
            if (push(m, call(m, v, w))) return -1;
            break;
        case 'b': /* BUILD: the state is discarded; nothing is called */
            if (!(w = pop(m)) || !(v = top(m))) return -1;
            if (v->k != V_DICT && v->k != V_TENSOR && v->k != V_OPAQUE)
                return bad(m, "BUILD on an object that is not a dict or tensor");
            break;
        case 'Q': if (op_persid(m)) return -1; break;   /* BINPERSID */
        case '.': /* STOP */
            if (!(*result = pop(m))) return -1;
            return 0;
        case 'i': case 'o': case 0x81: case 0x92: case 0x82: case 0x83: case 0x84: case 'P': {
            static const struct { uint8_t op; const char *name; } names[] = {
                {'i', "INST"}, {'o', "OBJ"}, {0x81, "NEWOBJ"}, {0x92, "NEWOBJ_EX"},
                {0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"}, {'P', "PERSID"}};
            const char *nm = "?";
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if (names[i].op == op) nm = names[i].name;
            iris_set_error("refusing to load %s: pickle opcode %s at offset %zu builds "
                           "arbitrary objects, which tensor data never needs",
                           m->o->label, nm, at(m) - 1);
            return -1;
        }
        default: {
            char msg[64];
            m->p--;
            snprintf(msg, sizeof msg, "unsupported pickle opcode 0x%02x", op);
            return bad(m, msg);
        }
        }
    }
}

/* ---- naming the tensors --------------------------------------------------- */

/* Gathers a strided view into contiguous memory, last dimension fastest. */
static void gather(const val *t, uint8_t *dst)
{
    const stype *st = t->u.tensor.storage->u.storage.st;
    const uint8_t *src = t->u.tensor.storage->u.storage.data;
    int nd = t->u.tensor.ndim;
    int64_t idx[IRIS_MAX_DIMS] = {0};
    size_t es = st->elsize;
    for (;;) {
        int64_t off = t->u.tensor.offset;
        for (int d = 0; d < nd; d++) off += idx[d] * t->u.tensor.stride[d];
        memcpy(dst, src + (size_t)off * es, es);
        dst += es;
        int d = nd - 1;
        for (; d >= 0; d--) {
            if (++idx[d] < t->u.tensor.shape[d]) break;
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}

static int is_contiguous(const val *t)
{
    int64_t expect = 1;
    for (int d = t->u.tensor.ndim - 1; d >= 0; d--) {
        if (t->u.tensor.shape[d] != 1 && t->u.tensor.stride[d] != expect) return 0;
        expect *= t->u.tensor.shape[d];
    }
    return 1;
}

static int emit(vm *m, const val *t)
{
    if (iris_name_index_get(m->names, m->name) >= 0) {
        iris_set_error("%s: tensor '%s' appears twice", m->o->label, m->name);
        return -1;
    }
    if (m->n_out == m->out_cap) {
        int cap = m->out_cap ? m->out_cap * 2 : 64;
        iris_st_tensor *no = realloc(m->out, (size_t)cap * sizeof *no);
        if (!no) {
            iris_set_error("%s: out of memory", m->o->label);
            return -1;
        }
        m->out = no;
        m->out_cap = cap;
    }
    const val *s = t->u.tensor.storage;
    const stype *st = s->u.storage.st;
    iris_st_tensor *e = &m->out[m->n_out];
    memset(e, 0, sizeof *e);
    e->dtype_name = st->dtype_name;
    e->t.dtype = (iris_dtype)st->dtype;
    e->t.ndim = t->u.tensor.ndim;
    int64_t numel = 1;
    for (int d = 0; d < e->t.ndim; d++) {
        e->t.shape[d] = t->u.tensor.shape[d];
        numel *= t->u.tensor.shape[d];
    }
    e->nbytes = (uint64_t)numel * st->elsize;
    const uint8_t *first = s->u.storage.data + (size_t)t->u.tensor.offset * st->elsize;
    if (numel == 0) {
        e->t.data = (void *)s->u.storage.data;
    } else if (is_contiguous(t) && (uintptr_t)first % st->elsize == 0) {
        e->t.data = (void *)first;
    } else {
        if (e->nbytes > m->o->copy_budget - m->copied) {
            iris_set_error("%s: strided tensor '%s' would need more memory than the "
                           "checkpoint's size allows", m->o->label, m->name);
            return -1;
        }
        uint8_t *copy = malloc(e->nbytes);
        if (!copy) {
            iris_set_error("%s: out of memory copying tensor '%s'", m->o->label, m->name);
            return -1;
        }
        gather(t, copy);
        m->copied += e->nbytes;
        e->t.data = copy;
        e->t.owns_data = 1;
    }
    if (!(e->name = strdup(m->name))) {
        if (e->t.owns_data) free(e->t.data);
        iris_set_error("%s: out of memory", m->o->label);
        return -1;
    }
    if (iris_name_index_put(m->names, e->name, m->n_out) < 0) {
        free(e->name);
        if (e->t.owns_data) free(e->t.data);
        iris_set_error("%s: out of memory", m->o->label);
        return -1;
    }
    m->n_out++;
    return 0;
}

static int walk(vm *m, const val *v, size_t name_len, int depth);

/* Appends ".key" (or "key" at the root) and walks the child. */
static int walk_child(vm *m, const val *key, const val *child, size_t name_len, int depth)
{
    char kbuf[32];
    const char *k;
    if (key->k == V_STR) k = key->u.str.s;
    else if (key->k == V_INT) {
        snprintf(kbuf, sizeof kbuf, "%" PRId64, key->u.i);
        k = kbuf;
    } else return 0;
    if (child->k != V_TENSOR && child->k != V_DICT && child->k != V_LIST && child->k != V_TUPLE)
        return 0;
    size_t kl = strlen(k), n = name_len + (name_len ? 1 : 0) + kl;
    if (n >= MAX_NAME) {
        iris_set_error("%s: a tensor name is longer than %d bytes", m->o->label, MAX_NAME - 1);
        return -1;
    }
    if (name_len) m->name[name_len] = '.';
    memcpy(m->name + n - kl, k, kl + 1);
    return walk(m, child, n, depth + 1);
}

static int walk(vm *m, const val *v, size_t name_len, int depth)
{
    m->name[name_len] = 0;
    if (v->k == V_TENSOR) {
        if (!name_len) {
            iris_set_error("%s: holds a bare tensor, not a dict of named tensors", m->o->label);
            return -1;
        }
        return emit(m, v);
    }
    if (v->k != V_DICT && v->k != V_LIST && v->k != V_TUPLE) return 0;
    if (v->visited) return 0; /* shared or cyclic container: named once */
    if (depth > MAX_NESTING) {
        iris_set_error("%s: dicts nested deeper than %d", m->o->label, MAX_NESTING);
        return -1;
    }
    ((val *)v)->visited = 1;
    if (v->k == V_DICT) {
        for (size_t i = 0; i + 1 < v->u.seq.n; i += 2)
            if (walk_child(m, v->u.seq.items[i], v->u.seq.items[i + 1], name_len, depth))
                return -1;
    } else {
        for (size_t i = 0; i < v->u.seq.n; i++) {
            val key = {.k = V_INT, .u.i = (int64_t)i};
            if (walk_child(m, &key, v->u.seq.items[i], name_len, depth)) return -1;
        }
    }
    return 0;
}

/* Each container is looked at once per epoch, so shared or cyclic
 * containers cannot make this search exponential. */
static int holds_tensor(const val *v, int depth, int epoch)
{
    if (v->k == V_TENSOR) return 1;
    if ((v->k != V_DICT && v->k != V_LIST && v->k != V_TUPLE) || depth > MAX_NESTING ||
        v->seen == epoch)
        return 0;
    ((val *)v)->seen = epoch;
    for (size_t i = 0; i < v->u.seq.n; i++)
        if ((v->k != V_DICT || i % 2) && holds_tensor(v->u.seq.items[i], depth + 1, epoch))
            return 1;
    return 0;
}

/* The state dict inside a training checkpoint, or the whole result. */
static const val *pick_root(vm *m, const val *r)
{
    static const char *keys[] = {"state_dict", "model_state_dict", "model", "module"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        for (size_t i = 0; i + 1 < r->u.seq.n; i += 2) {
            const val *key = r->u.seq.items[i], *v = r->u.seq.items[i + 1];
            if (key->k == V_STR && strcmp(key->u.str.s, keys[k]) == 0 && v->k == V_DICT &&
                holds_tensor(v, 0, ++m->epoch))
                return v;
        }
    return r;
}

void iris_torch_tensors_free(iris_st_tensor *ts, int n)
{
    for (int i = 0; ts && i < n; i++) {
        free(ts[i].name);
        if (ts[i].t.owns_data) free(ts[i].t.data);
    }
    free(ts);
}

int iris_torch_unpickle(const void *pkl, size_t len, const iris_torch_pickle_opts *o,
                        iris_st_tensor **out, int *n)
{
    vm m;
    memset(&m, 0, sizeof m);
    m.start = m.p = pkl;
    m.end = m.start + len;
    m.o = o;
    /* every object costs at least one opcode byte; memo indices beyond the
     * stream length cannot come from a real pickler */
    m.max_vals = len + 16 < ((size_t)1 << 22) ? len + 16 : ((size_t)1 << 22);
    m.memo_max = len + 1;
    *out = NULL;
    *n = 0;
    val *result = NULL;
    if (!(m.names = iris_name_index_new(256))) {
        iris_set_error("%s: out of memory", o->label);
        return -1;
    }
    int rc = run(&m, &result);
    if (rc == 0 && result->k != V_DICT) {
        iris_set_error("%s: data.pkl does not hold a dict of tensors", o->label);
        rc = -1;
    }
    if (rc == 0) rc = walk(&m, pick_root(&m, result), 0, 0);
    free_arena(&m);
    free(m.stack);
    free(m.marks);
    free(m.memo);
    iris_name_index_free(m.names);
    if (rc != 0) {
        iris_torch_tensors_free(m.out, m.n_out);
        return -1;
    }
    *out = m.out;
    *n = m.n_out;
    return 0;
}

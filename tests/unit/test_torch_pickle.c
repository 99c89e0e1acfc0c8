/* test_torch_pickle.c — the data-only pickle VM and the zip reader on
 * hand-written streams: valid state dicts (contiguous, strided, nested,
 * training-checkpoint layout), every truncation of a valid stream, memo and
 * stack abuse, huge lengths, hostile globals and opcodes, cycles, random
 * corruption; and zip archives built byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "formats/torch_checkpoint.h"
#include "formats/torch_pickle.h"
#include "formats/zip_reader.h"
#include "helpers/bytebuf.h"

#define LABEL "ckpt.bin"

/* Storage "0": 24 floats 0..23; "1": 4 halves; any other key is absent. */
static float storage0[24];
static uint16_t storage1[4] = {0x3c00, 0x4000, 0x4200, 0x4400};

static const uint8_t *resolve(void *ctx, const char *key, uint64_t *n)
{
    (void)ctx;
    if (strcmp(key, "0") == 0) {
        *n = sizeof storage0;
        return (const uint8_t *)storage0;
    }
    if (strcmp(key, "1") == 0) {
        *n = sizeof storage1;
        return (const uint8_t *)storage1;
    }
    iris_set_error("%s: no entry 'archive/data/%s'", LABEL, key);
    return NULL;
}

static int unpickle(const bytebuf *b, iris_st_tensor **ts, int *n)
{
    iris_torch_pickle_opts o = {LABEL, resolve, NULL, 1 << 20};
    void *copy = test_exact_copy(b->p, b->len);
    iris_clear_error();
    int rc = iris_torch_unpickle(copy, b->len, &o, ts, n);
    free(copy);
    return rc;
}

/* ---- stream builders --------------------------------------------------- */

static void op(bytebuf *b, uint8_t c) { bb_u8(b, c); }
static void str(bytebuf *b, const char *s)
{
    op(b, 'X');
    bb_u32(b, (uint32_t)strlen(s));
    bb_put(b, s, strlen(s));
}
static void global(bytebuf *b, const char *mod, const char *name)
{
    op(b, 'c');
    bb_put(b, mod, strlen(mod));
    op(b, '\n');
    bb_put(b, name, strlen(name));
    op(b, '\n');
}
static void i1(bytebuf *b, uint8_t v) { op(b, 'K'); op(b, v); }
static void ints(bytebuf *b, int n, const int *v)
{
    op(b, '(');
    for (int i = 0; i < n; i++) i1(b, (uint8_t)v[i]);
    op(b, 't');
}

/* _rebuild_tensor_v2(storage key (type), offset, size, stride, False, OrderedDict()) */
static void tensor(bytebuf *b, const char *stype, const char *key, int offset, int nd,
                   const int *size, const int *stride)
{
    global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '(');
    str(b, "storage");
    global(b, "torch", stype);
    str(b, key);
    str(b, "cpu");
    i1(b, strcmp(key, "1") == 0 ? 4 : 24); /* numel as torch writes it */
    op(b, 't');
    op(b, 'Q');
    i1(b, (uint8_t)offset);
    ints(b, nd, size);
    ints(b, nd, stride);
    op(b, 0x89);
    global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    op(b, 't');
    op(b, 'R');
}

static void begin_dict(bytebuf *b)
{
    op(b, 0x80);
    op(b, 2);
    global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    op(b, 'q');
    op(b, 0);
    op(b, '(');
}
static void end_dict(bytebuf *b)
{
    op(b, 'u');
    op(b, '.');
}

/* {"w": [2,3] contiguous at offset 1, "t": its transpose (strided),
 *  "h": the half storage [4]} */
static void build_good(bytebuf *b)
{
    begin_dict(b);
    str(b, "w");
    tensor(b, "FloatStorage", "0", 1, 2, (int[]){2, 3}, (int[]){3, 1});
    str(b, "t");
    tensor(b, "FloatStorage", "0", 1, 2, (int[]){3, 2}, (int[]){1, 3});
    str(b, "h");
    tensor(b, "HalfStorage", "1", 0, 1, (int[]){4}, (int[]){1});
    end_dict(b);
}

static void expect_bad(const bytebuf *b, const char *want)
{
    iris_st_tensor *ts;
    int n;
    if (unpickle(b, &ts, &n) == 0) {
        iris_torch_tensors_free(ts, n);
        fail_msg("accepted a bad stream (expected '%s')", want ? want : "");
    }
    const char *e = iris_last_error();
    if (!strstr(e, LABEL)) fail_msg("message does not name the file: %s", e);
    if (want && !strstr(e, want)) fail_msg("expected '%s' in: %s", want, e);
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 24; i++) storage0[i] = (float)i;
    return 0;
}

static void test_valid_state_dict(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_good(&b);
    iris_st_tensor *ts;
    int n;
    assert_int_equal(unpickle(&b, &ts, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(ts[0].name, "w");
    assert_int_equal(ts[0].t.dtype, IRIS_F32);
    assert_int_equal(ts[0].t.ndim, 2);
    assert_int_equal(ts[0].t.owns_data, 0);
    assert_ptr_equal(ts[0].t.data, &storage0[1]); /* in place */
    assert_string_equal(ts[1].name, "t");
    assert_int_equal(ts[1].t.owns_data, 1);
    const float *t = ts[1].t.data;
    /* t[i][j] = w[j][i] = storage0[1 + 3j + i] */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) assert_true(t[i * 2 + j] == (float)(1 + 3 * j + i));
    assert_string_equal(ts[2].name, "h");
    assert_int_equal(ts[2].t.dtype, IRIS_F16);
    assert_string_equal(ts[2].dtype_name, "F16");
    iris_torch_tensors_free(ts, n);
    bb_free(&b);
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_good(&b);
    for (size_t cut = 0; cut < b.len; cut++) {
        bytebuf c = {0};
        bb_put(&c, b.p, cut);
        expect_bad(&c, NULL);
        bb_free(&c);
    }
    bb_free(&b);
}

static void test_random_corruption_never_crashes(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_good(&b);
    srand(12345);
    for (int k = 0; k < 5000; k++) {
        bytebuf c = {0};
        bb_put(&c, b.p, b.len);
        for (int f = 0; f < 1 + k % 4; f++) c.p[(size_t)rand() % c.len] = (uint8_t)rand();
        iris_st_tensor *ts;
        int n;
        if (unpickle(&c, &ts, &n) == 0) iris_torch_tensors_free(ts, n);
        bb_free(&c);
    }
    bb_free(&b);
}

static void test_memo_and_stack_abuse(void **state)
{
    (void)state;
    static const struct { const char *bytes; size_t len; const char *want; } cases[] = {
        {"\x80\x02h\x05.", 5, "memo index not set"},
        {"\x80\x02}r\xff\xff\xff\xff.", 9, "memo index out of range"},
        {"\x80\x02j\x00\x00\x00\x10.", 8, "memo index not set"},
        {"\x80\x02s.", 4, "stack underflow"},
        {"\x80\x02R.", 4, "stack underflow"},
        {"\x80\x02t.", 4, "no MARK"},
        {"\x80\x02(K\x01\x87.", 7, "stack underflow"},
        {"\x80\x02}(K\x01u.", 7, "odd count"},
        {"\x80\x02(K\x01K\x02u.", 9, "stack underflow"},
        {"\x80\x02K\x01(0.", 7, "stack underflow"},
        {"\x80\x02.", 3, "stack underflow"},
        {"\x80\x02]K\x01s.", 7, "stack underflow"},
        {"\x80\x02}K\x01K\x02s}b.", 11, NULL},
        {"\x80\x02K\x01K\x02" "a.", 8, "APPEND to a non-list"},
        {"\x80\x02}(]e.", 7, "APPENDS to a non-list"},
        {"\x80\x02K\x01" "b.", 6, "stack underflow"},
        {"\x80\x02]]b.", 6, "BUILD on an object"},
        {"\x80\x09.", 3, "unknown pickle protocol"},
        {"\x80\x02S'x'\n.", 8, "unsupported pickle opcode 0x53"},
        {"\x80\x02K\x01", 4, "without STOP"},
        {"\x80\x02]q\x00h\x00" "a.", 9, "does not hold a dict"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytebuf b = {0};
        bb_put(&b, cases[i].bytes, cases[i].len);
        print_message("case %zu\n", i);
        if (cases[i].want) expect_bad(&b, cases[i].want);
        else {
            iris_st_tensor *ts;
            int n;
            if (unpickle(&b, &ts, &n) != 0) fail_msg("%s", iris_last_error());
            /* BUILD on a dict: state dropped */
            assert_int_equal(n, 0);
            iris_torch_tensors_free(ts, n);
        }
        bb_free(&b);
    }
}

static void test_huge_lengths(void **state)
{
    (void)state;
    static const struct { const char *bytes; size_t len; const char *want; } cases[] = {
        {"\x80\x02X\xff\xff\xff\xff" "ab.", 11, "length exceeds"},
        {"\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\x7f.", 12, "length exceeds"},
        {"\x80\x02\x8c\x05" "ab", 6, "length exceeds"},
        {"\x80\x02" "B\x00\x00\x00\x80.", 8, "length exceeds"},
        {"\x80\x02\x8a\xc8\x01\x02.", 7, "wider than 64"},
        {"\x80\x02\x95\x00\x00\x00", 6, "truncated"},
        {"\x80\x02" "cos", 5, "truncated GLOBAL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytebuf b = {0};
        bb_put(&b, cases[i].bytes, cases[i].len);
        print_message("case %zu\n", i);
        expect_bad(&b, cases[i].want);
        bb_free(&b);
    }
}

static void test_hostile_code_is_refused(void **state)
{
    (void)state;
    bytebuf b = {0};
    op(&b, 0x80), op(&b, 2);
    global(&b, "os", "system");
    str(&b, "touch /tmp/iris-pwned");
    op(&b, 0x85), op(&b, 'R'), op(&b, '.');
    expect_bad(&b, "refusing to load " LABEL ": pickle calls os.system, which is not a");
    bb_free(&b);

    bytebuf s = {0}; /* STACK_GLOBAL */
    op(&s, 0x80), op(&s, 4);
    str(&s, "builtins"), str(&s, "eval"), op(&s, 0x93);
    expect_bad(&s, "pickle calls builtins.eval");
    bb_free(&s);

    bytebuf l = {0};
    op(&l, 0x80), op(&l, 2);
    global(&l, "torch.storage", "_load_from_bytes");
    expect_bad(&l, "calls torch.storage._load_from_bytes");
    bb_free(&l);

    static const struct { const char *bytes; size_t len; const char *want; } ops[] = {
        {"\x80\x02(ios\nsystem\n.", 15, "opcode INST"},
        {"\x80\x02(]o.", 6, "opcode OBJ"},
        {"\x80\x02]]\x81.", 6, "opcode NEWOBJ"},
        {"\x80\x04]]}\x92.", 7, "opcode NEWOBJ_EX"},
        {"\x80\x02\x82\x01.", 5, "opcode EXT1"},
        {"\x80\x02P1\n.", 6, "opcode PERSID"},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        bytebuf c = {0};
        bb_put(&c, ops[i].bytes, ops[i].len);
        expect_bad(&c, ops[i].want);
        assert_non_null(strstr(iris_last_error(), "refusing to load"));
        bb_free(&c);
    }

    bytebuf u = {0}; /* a storage type iris does not know: named as such */
    op(&u, 0x80), op(&u, 2);
    global(&u, "torch", "ComplexFloatStorage");
    expect_bad(&u, "torch.ComplexFloatStorage are not supported");
    bb_free(&u);

    bytebuf r = {0}; /* a storage type must not be called */
    op(&r, 0x80), op(&r, 2);
    global(&r, "torch", "FloatStorage");
    op(&r, ')'), op(&r, 'R'), op(&r, '.');
    expect_bad(&r, "REDUCE on a storage type");
    bb_free(&r);
}

static void test_bad_views(void **state)
{
    (void)state;
    struct { int offset, nd; int size[5], stride[5]; const char *stype, *key, *want; } cases[] = {
        {20, 1, {5}, {1}, "FloatStorage", "0", "reaches element 24"},
        {0, 2, {4, 7}, {7, 1}, "FloatStorage", "0", "reaches element"},
        {0, 1, {5}, {1}, "HalfStorage", "1", "reaches element 4"},
        {0, 1, {1}, {1}, "FloatStorage", "7", "no entry"},
        {0, 1, {1}, {1}, "DoubleStorage", "1", "fewer than 4 F64"},
        {0, 5, {1, 1, 1, 1, 1}, {1, 1, 1, 1, 1}, "FloatStorage", "0", "at most 4"},
        {0, 2, {200, 200}, {0, 0}, "FloatStorage", "0", NULL}, /* expand: 160 KB copy is fine */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytebuf b = {0};
        begin_dict(&b);
        str(&b, "x");
        tensor(&b, cases[i].stype, cases[i].key, cases[i].offset, cases[i].nd, cases[i].size,
               cases[i].stride);
        end_dict(&b);
        print_message("case %zu\n", i);
        if (cases[i].want) expect_bad(&b, cases[i].want);
        else {
            iris_st_tensor *ts;
            int n;
            assert_int_equal(unpickle(&b, &ts, &n), 0);
            assert_int_equal(ts[0].t.owns_data, 1);
            iris_torch_tensors_free(ts, n);
        }
        bb_free(&b);
    }
    /* a broadcast view bigger than the copy budget */
    bytebuf b = {0};
    begin_dict(&b);
    str(&b, "x");
    tensor(&b, "FloatStorage", "0", 0, 3, (int[]){250, 250, 250}, (int[]){0, 0, 0});
    end_dict(&b);
    expect_bad(&b, "more memory");
    bb_free(&b);
}

/* {"epoch": 1, "model_state_dict": {"enc": {"w": T}}, "opt": {"state": {0: {"m": T}}}} */
static void test_naming_rule_and_cycles(void **state)
{
    (void)state;
    bytebuf b = {0};
    op(&b, 0x80), op(&b, 2), op(&b, '}'), op(&b, '(');
    str(&b, "epoch"), i1(&b, 1);
    str(&b, "model_state_dict"), op(&b, '}'), str(&b, "enc"), op(&b, '}'), str(&b, "w");
    tensor(&b, "FloatStorage", "0", 0, 1, (int[]){3}, (int[]){1});
    op(&b, 's'), op(&b, 's');
    str(&b, "opt"), op(&b, '}'), str(&b, "state"), op(&b, '}'), i1(&b, 0), op(&b, '}');
    str(&b, "m");
    tensor(&b, "FloatStorage", "0", 0, 1, (int[]){3}, (int[]){1});
    op(&b, 's'), op(&b, 's'), op(&b, 's');
    op(&b, 'u'), op(&b, '.');
    iris_st_tensor *ts;
    int n;
    assert_int_equal(unpickle(&b, &ts, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ts[0].name, "enc.w");
    iris_torch_tensors_free(ts, n);
    bb_free(&b);

    /* no state-dict key: everything, dotted, int keys and list positions too */
    bytebuf f = {0};
    op(&f, 0x80), op(&f, 2), op(&f, '}'), str(&f, "a"), op(&f, ']');
    tensor(&f, "FloatStorage", "0", 0, 1, (int[]){3}, (int[]){1});
    op(&f, 'a'), op(&f, 's'), i1(&f, 7), op(&f, '}'), str(&f, "b");
    tensor(&f, "HalfStorage", "1", 1, 1, (int[]){3}, (int[]){1});
    op(&f, 's'), op(&f, 's'), op(&f, '.');
    assert_int_equal(unpickle(&f, &ts, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ts[0].name, "a.0");
    assert_string_equal(ts[1].name, "7.b");
    iris_torch_tensors_free(ts, n);
    bb_free(&f);

    /* a list holding itself 200 times, in a dict: finite and named once */
    bytebuf c = {0};
    op(&c, 0x80), op(&c, 2), op(&c, '}'), str(&c, "l"), op(&c, ']'), op(&c, 'q'), op(&c, 1);
    op(&c, '(');
    for (int i = 0; i < 200; i++) op(&c, 'h'), op(&c, 1);
    op(&c, 'e'), op(&c, 's'), op(&c, '.');
    assert_int_equal(unpickle(&c, &ts, &n), 0);
    assert_int_equal(n, 0);
    iris_torch_tensors_free(ts, n);
    bb_free(&c);

    /* the same key twice */
    bytebuf d = {0};
    begin_dict(&d);
    for (int k = 0; k < 2; k++) {
        str(&d, "x");
        tensor(&d, "FloatStorage", "0", 0, 1, (int[]){3}, (int[]){1});
    }
    end_dict(&d);
    expect_bad(&d, "appears twice");
    bb_free(&d);
}

/* ---- zip --------------------------------------------------------------- */

typedef struct { const char *name; const char *data; size_t len; int method; } zentry;

/* A zip with the given entries; zip64 puts sizes and offsets in the extra field. */
static void build_zip(bytebuf *b, int n, const zentry *e, int zip64)
{
    uint32_t offs[8];
    for (int i = 0; i < n; i++) {
        offs[i] = (uint32_t)b->len;
        bb_u32(b, 0x04034b50), bb_u16(b, 20), bb_u16(b, 0), bb_u16(b, (uint16_t)e[i].method);
        bb_u32(b, 0), bb_u32(b, 0), bb_u32(b, (uint32_t)e[i].len), bb_u32(b, (uint32_t)e[i].len);
        bb_u16(b, (uint16_t)strlen(e[i].name)), bb_u16(b, 0);
        bb_put(b, e[i].name, strlen(e[i].name));
        bb_put(b, e[i].data, e[i].len);
    }
    size_t cd = b->len;
    for (int i = 0; i < n; i++) {
        bb_u32(b, 0x02014b50), bb_u16(b, 20), bb_u16(b, 45), bb_u16(b, 0);
        bb_u16(b, (uint16_t)e[i].method), bb_u32(b, 0), bb_u32(b, 0);
        uint32_t sz = zip64 ? 0xffffffffu : (uint32_t)e[i].len;
        bb_u32(b, sz), bb_u32(b, sz);
        bb_u16(b, (uint16_t)strlen(e[i].name)), bb_u16(b, zip64 ? 28 : 0), bb_u16(b, 0);
        bb_u16(b, 0), bb_u16(b, 0), bb_u32(b, 0), bb_u32(b, zip64 ? 0xffffffffu : offs[i]);
        bb_put(b, e[i].name, strlen(e[i].name));
        if (zip64) {
            bb_u16(b, 1), bb_u16(b, 24);
            bb_u64(b, e[i].len), bb_u64(b, e[i].len), bb_u64(b, offs[i]);
        }
    }
    size_t cd_len = b->len - cd, eocd64 = b->len;
    if (zip64) {
        bb_u32(b, 0x06064b50), bb_u64(b, 44), bb_u16(b, 45), bb_u16(b, 45), bb_u32(b, 0);
        bb_u32(b, 0), bb_u64(b, (uint64_t)n), bb_u64(b, (uint64_t)n), bb_u64(b, cd_len);
        bb_u64(b, cd);
        bb_u32(b, 0x07064b50), bb_u32(b, 0), bb_u64(b, eocd64), bb_u32(b, 1);
    }
    bb_u32(b, 0x06054b50), bb_u16(b, 0), bb_u16(b, 0);
    bb_u16(b, zip64 ? 0xffff : (uint16_t)n), bb_u16(b, zip64 ? 0xffff : (uint16_t)n);
    bb_u32(b, zip64 ? 0xffffffffu : (uint32_t)cd_len), bb_u32(b, zip64 ? 0xffffffffu : (uint32_t)cd);
    bb_u16(b, 0);
}

static void test_zip_reader(void **state)
{
    (void)state;
    bytebuf pk = {0};
    build_good(&pk);
    uint8_t halves[8];
    memcpy(halves, storage1, 8);
    const zentry es[] = {{"archive/data.pkl", (const char *)pk.p, pk.len, 0},
                         {"archive/version", "3\n", 2, 0},
                         {"archive/byteorder", "little", 6, 0},
                         {"archive/data/0", (const char *)storage0, sizeof storage0, 0},
                         {"archive/data/1", (const char *)halves, 8, 0}};
    for (int zip64 = 0; zip64 < 2; zip64++) {
        bytebuf z = {0};
        build_zip(&z, 5, es, zip64);
        iris_zip zr;
        void *copy = test_exact_copy(z.p, z.len);
        assert_int_equal(iris_zip_parse(&zr, copy, z.len, LABEL), 0);
        assert_int_equal(zr.n_entries, 5);
        uint64_t n;
        const uint8_t *v = iris_zip_data(&zr, "archive/version", &n);
        assert_non_null(v);
        assert_int_equal(n, 2);
        assert_memory_equal(v, "3\n", 2);
        assert_null(iris_zip_data(&zr, "archive/nothing", &n));
        iris_zip_free(&zr);
        /* the whole checkpoint through the torch opener */
        iris_safetensors st;
        assert_int_equal(iris_torch_parse(&st, copy, z.len, LABEL), 0);
        assert_int_equal(st.n_tensors, 3);
        const iris_tensor *w = iris_st_find(&st, "w");
        assert_non_null(w);
        assert_true(((const float *)w->data)[0] == 1.0f);
        iris_st_close(&st);
        for (size_t cut = 0; cut < z.len; cut++) { /* every truncation */
            void *c = test_exact_copy(z.p, cut);
            iris_safetensors s2;
            assert_int_not_equal(iris_torch_parse(&s2, c, cut, LABEL), 0);
            assert_non_null(strstr(iris_last_error(), LABEL));
            free(c);
        }
        free(copy);
        bb_free(&z);
    }
    /* compressed entries and a big-endian archive are refused */
    zentry comp[] = {{"a/data.pkl", (const char *)pk.p, pk.len, 8}};
    bytebuf z = {0};
    build_zip(&z, 1, comp, 0);
    iris_safetensors st;
    assert_int_not_equal(iris_torch_parse(&st, z.p, z.len, LABEL), 0);
    assert_non_null(strstr(iris_last_error(), "compressed"));
    bb_free(&z);
    zentry big[] = {{"a/data.pkl", (const char *)pk.p, pk.len, 0}, {"a/byteorder", "big", 3, 0}};
    build_zip(&z, 2, big, 0);
    assert_int_not_equal(iris_torch_parse(&st, z.p, z.len, LABEL), 0);
    assert_non_null(strstr(iris_last_error(), "big-endian"));
    bb_free(&z);
    zentry dup[] = {{"a/data.pkl", "", 0, 0}, {"a/data.pkl", "", 0, 0}};
    build_zip(&z, 2, dup, 0);
    assert_int_not_equal(iris_torch_parse(&st, z.p, z.len, LABEL), 0);
    assert_non_null(strstr(iris_last_error(), "appears twice"));
    bb_free(&z);
    bb_free(&pk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_state_dict),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_random_corruption_never_crashes),
        cmocka_unit_test(test_memo_and_stack_abuse),
        cmocka_unit_test(test_huge_lengths),
        cmocka_unit_test(test_hostile_code_is_refused),
        cmocka_unit_test(test_bad_views),
        cmocka_unit_test(test_naming_rule_and_cycles),
        cmocka_unit_test(test_zip_reader),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

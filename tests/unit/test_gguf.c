/* test_gguf.c — GGUF reader: valid v2/v3 files built byte by byte, every
 * truncation of one, lying headers and malformed structures; each bad file
 * must fail with a message naming it, and nothing may read out of bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "helpers/bytebuf.h"

#define NAME "test.gguf"

/* Byte offsets of fields in the standard file, for patching. */
typedef struct {
    size_t version, n_tensors, n_kv, key0_len, str_val_len, value_type, arr_strs_n,
        arr_strs_elem_len, arr_ints_n, arr_ints_type, align_val, align_type, t0_name_len,
        t0_ndims, t0_dim0, t0_type, t0_offset, tlast_offset, data;
} positions;

typedef struct {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t type;
    uint64_t nbytes;
} tdesc;

static const tdesc std_tensors[] = {
    {"w.f32", 2, {3, 2}, 0, 24},
    {"w.f16", 1, {4}, 1, 8},
    {"w.q8", 2, {32, 2}, 8, 68},
    {"w.bf16", 3, {2, 2, 2}, 30, 16},
    {"w.q4k", 1, {256}, 12, 144},
};
#define N_STD (sizeof std_tensors / sizeof std_tensors[0])

static void kv_head(bytebuf *b, const char *key, uint32_t type)
{
    bb_gguf_str(b, key);
    bb_u32(b, type);
}

/* alignment 0: no general.alignment key (default 32). */
static void build_std(bytebuf *b, uint32_t version, uint64_t alignment, positions *pos)
{
    positions p = {0};
    uint64_t align = alignment ? alignment : 32;
    bb_put(b, "GGUF", 4);
    p.version = b->len;
    bb_u32(b, version);
    p.n_tensors = b->len;
    bb_u64(b, N_STD);
    p.n_kv = b->len;
    bb_u64(b, 15 + (alignment ? 1 : 0));
    p.key0_len = b->len;
    kv_head(b, "general.architecture", GGUF_STRING);
    p.str_val_len = b->len;
    bb_gguf_str(b, "llama");
    if (alignment) {
        kv_head(b, "general.alignment", GGUF_UINT32);
        p.align_type = b->len - 4;
        p.align_val = b->len;
        bb_u32(b, (uint32_t)alignment);
    }
    kv_head(b, "t.u8", GGUF_UINT8); bb_u8(b, 200);
    kv_head(b, "t.i8", GGUF_INT8); bb_u8(b, (uint8_t)-5);
    kv_head(b, "t.u16", GGUF_UINT16); bb_u16(b, 60000);
    kv_head(b, "t.i16", GGUF_INT16); bb_u16(b, (uint16_t)-300);
    p.value_type = b->len + 8 + 5;
    kv_head(b, "t.u32", GGUF_UINT32); bb_u32(b, 4000000000u);
    kv_head(b, "t.i32", GGUF_INT32); bb_u32(b, (uint32_t)-70000);
    kv_head(b, "t.f32", GGUF_FLOAT32); bb_f32(b, 0.25f);
    kv_head(b, "t.bool", GGUF_BOOL); bb_u8(b, 1);
    kv_head(b, "t.u64", GGUF_UINT64); bb_u64(b, 1ull << 40);
    kv_head(b, "t.i64", GGUF_INT64); bb_u64(b, (uint64_t)-(1ll << 40));
    kv_head(b, "t.f64", GGUF_FLOAT64); bb_f64(b, 3.5);
    kv_head(b, "t.strs", GGUF_ARRAY);
    bb_u32(b, GGUF_STRING);
    p.arr_strs_n = b->len;
    bb_u64(b, 3);
    p.arr_strs_elem_len = b->len;
    bb_gguf_str(b, "a"); bb_gguf_str(b, "bc"); bb_gguf_str(b, "");
    kv_head(b, "t.ints", GGUF_ARRAY);
    p.arr_ints_type = b->len;
    bb_u32(b, GGUF_INT32);
    p.arr_ints_n = b->len;
    bb_u64(b, 3);
    bb_u32(b, 1); bb_u32(b, (uint32_t)-2); bb_u32(b, 3);
    kv_head(b, "t.empty", GGUF_ARRAY); bb_u32(b, GGUF_FLOAT32); bb_u64(b, 0);

    uint64_t offsets[N_STD], off = 0;
    for (size_t i = 0; i < N_STD; i++) {
        offsets[i] = off;
        off = (off + std_tensors[i].nbytes + align - 1) / align * align;
    }
    for (size_t i = 0; i < N_STD; i++) {
        const tdesc *t = &std_tensors[i];
        if (i == 0) p.t0_name_len = b->len;
        bb_gguf_str(b, t->name);
        if (i == 0) p.t0_ndims = b->len;
        bb_u32(b, t->n_dims);
        if (i == 0) p.t0_dim0 = b->len;
        for (uint32_t d = 0; d < t->n_dims; d++) bb_u64(b, t->ne[d]);
        if (i == 0) p.t0_type = b->len;
        bb_u32(b, t->type);
        if (i == 0) p.t0_offset = b->len;
        if (i == N_STD - 1) p.tlast_offset = b->len;
        bb_u64(b, offsets[i]);
    }
    bb_pad(b, align);
    p.data = b->len;
    for (size_t i = 0; i < N_STD; i++) {
        for (uint64_t k = 0; k < std_tensors[i].nbytes; k++) bb_u8(b, (uint8_t)(i * 16 + k));
        if (i + 1 < N_STD) bb_pad(b, align);
    }
    if (pos) *pos = p;
}

/* f32 tensor values are overwritten with 0..5 so shapes can be checked. */
static void set_f32_values(bytebuf *b, const positions *p)
{
    for (int i = 0; i < 6; i++) {
        float v = (float)i;
        memcpy(b->p + p->data + 4 * i, &v, 4);
    }
}

/* Expects the buffer to be rejected with a message naming the file and
 * containing want (when given). */
static void expect_bad(const bytebuf *b, const char *want)
{
    iris_gguf g;
    iris_clear_error();
    void *copy = test_exact_copy(b->p, b->len);
    int rc = iris_gguf_parse(&g, copy, b->len, NAME);
    if (rc == 0) {
        iris_gguf_close(&g);
        free(copy);
        fail_msg("accepted a bad file (expected '%s')", want ? want : "");
    }
    free(copy);
    const char *e = iris_last_error();
    if (!strstr(e, NAME)) fail_msg("message does not name the file: %s", e);
    if (want && !strstr(e, want)) fail_msg("expected '%s' in: %s", want, e);
    if (strchr(e, '\n')) fail_msg("message is not one line: %s", e);
}

static void check_std(const iris_gguf *g, uint32_t version, uint64_t alignment)
{
    assert_int_equal(g->version, version);
    assert_int_equal(g->alignment, alignment);
    assert_int_equal(g->data_offset % alignment, 0);
    char *arch = iris_gguf_get_str(g, "general.architecture");
    assert_non_null(arch);
    assert_string_equal(arch, "llama");
    free(arch);
    assert_int_equal(iris_gguf_get_int(g, "t.u8", 0), 200);
    assert_int_equal(iris_gguf_get_int(g, "t.i8", 0), -5);
    assert_int_equal(iris_gguf_get_int(g, "t.u16", 0), 60000);
    assert_int_equal(iris_gguf_get_int(g, "t.i16", 0), -300);
    assert_int_equal(iris_gguf_get_int(g, "t.u32", 0), 4000000000ll);
    assert_int_equal(iris_gguf_get_int(g, "t.i32", 0), -70000);
    assert_int_equal(iris_gguf_get_int(g, "t.bool", 0), 1);
    assert_int_equal(iris_gguf_get_int(g, "t.u64", 0), 1ll << 40);
    assert_int_equal(iris_gguf_get_int(g, "t.i64", 0), -(1ll << 40));
    assert_true(iris_gguf_get_float(g, "t.f32", 0) == 0.25);
    assert_true(iris_gguf_get_float(g, "t.f64", 0) == 3.5);
    assert_true(iris_gguf_get_float(g, "t.i32", 0) == -70000.0);
    assert_int_equal(iris_gguf_get_int(g, "missing", 42), 42);
    assert_int_equal(iris_gguf_get_int(g, "general.architecture", 7), 7);
    assert_null(iris_gguf_get_str(g, "t.u8"));

    const iris_gguf_kv *strs = iris_gguf_find(g, "t.strs");
    assert_non_null(strs);
    assert_int_equal(strs->type, GGUF_ARRAY);
    assert_int_equal(strs->v.arr.type, GGUF_STRING);
    assert_int_equal(strs->v.arr.n, 3);
    assert_int_equal(strs->v.arr.strs[1].len, 2);
    assert_memory_equal(strs->v.arr.strs[1].ptr, "bc", 2);
    assert_int_equal(strs->v.arr.strs[2].len, 0);
    const iris_gguf_kv *ints = iris_gguf_find(g, "t.ints");
    iris_gguf_kv e;
    assert_int_equal(iris_gguf_arr_elem(ints, 1, &e), 0);
    assert_int_equal(e.type, GGUF_INT32);
    assert_int_equal(e.v.i, -2);
    assert_int_equal(iris_gguf_arr_elem(ints, 3, &e), -1);
    assert_int_equal(iris_gguf_find(g, "t.empty")->v.arr.n, 0);

    assert_int_equal(g->n_tensors, N_STD);
    const iris_gguf_tensor *t = iris_gguf_find_tensor(g, "w.f32");
    assert_non_null(t);
    assert_int_equal(t->t.dtype, IRIS_F32);
    assert_int_equal(t->t.ndim, 2);
    assert_int_equal(t->t.shape[0], 2); /* row-major: reversed from ne */
    assert_int_equal(t->t.shape[1], 3);
    assert_true(((const float *)t->t.data)[4] == 4.0f);
    assert_int_equal(iris_gguf_find_tensor(g, "w.f16")->t.dtype, IRIS_F16);
    assert_int_equal(iris_gguf_find_tensor(g, "w.q8")->t.dtype, IRIS_Q8_0);
    assert_int_equal(iris_gguf_find_tensor(g, "w.bf16")->t.dtype, IRIS_BF16);
    t = iris_gguf_find_tensor(g, "w.bf16");
    assert_int_equal(t->t.ndim, 3);
    t = iris_gguf_find_tensor(g, "w.q4k");
    assert_int_equal((int)t->t.dtype, -1);
    assert_string_equal(t->ggml_type_name, "Q4_K");
    assert_int_equal(t->nbytes, 144);
    assert_null(iris_gguf_find_tensor(g, "w.nope"));
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const uint8_t *d = g->tensors[i].t.data;
        assert_int_equal(g->tensors[i].offset % alignment, 0);
        assert_true(d + g->tensors[i].nbytes <= (const uint8_t *)g->map + g->map_len);
    }
}

static void test_valid_v3_file(void **state)
{
    (void)state;
    bytebuf b = {0};
    positions p;
    build_std(&b, 3, 0, &p);
    set_f32_values(&b, &p);
    char *dir = test_mkdtemp(), *path = test_path(dir, "m.gguf");
    test_write_file(path, b.p, b.len);
    iris_gguf g;
    if (iris_gguf_open(&g, path) != 0) fail_msg("%s", iris_last_error());
    check_std(&g, 3, 32);
    iris_gguf_close(&g);
    test_rmdir(dir);
    free(path);
    free(dir);
    bb_free(&b);
}

static void test_valid_v2_aligned_64(void **state)
{
    (void)state;
    bytebuf b = {0};
    positions p;
    build_std(&b, 2, 64, &p);
    set_f32_values(&b, &p);
    iris_gguf g;
    void *copy = test_exact_copy(b.p, b.len);
    if (iris_gguf_parse(&g, copy, b.len, NAME) != 0) fail_msg("%s", iris_last_error());
    check_std(&g, 2, 64);
    iris_gguf_close(&g);
    free(copy);
    bb_free(&b);
}

static void test_every_truncation(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_std(&b, 3, 0, NULL);
    char *dir = test_mkdtemp(), *path = test_path(dir, "cut.gguf");
    for (size_t len = 0; len < b.len; len++) {
        bytebuf cut = {b.p, len, len};
        expect_bad(&cut, NULL);
        /* and through the file path, where the mapping is page-padded */
        test_write_file(path, b.p, len);
        iris_gguf g;
        if (iris_gguf_open(&g, path) == 0) fail_msg("accepted a %zu-byte prefix", len);
        assert_non_null(strstr(iris_last_error(), path));
    }
    test_rmdir(dir);
    free(path);
    free(dir);
    bb_free(&b);
}

typedef struct {
    const char *what;
    int field;     /* index into positions, as a byte offset table */
    int width;     /* 4 or 8 */
    uint64_t value;
    const char *want;
} patch;

enum { F_VERSION, F_NT, F_NKV, F_KEY0, F_STRLEN, F_VTYPE, F_ASN, F_ASE, F_AIN, F_AIT,
       F_ALIGN, F_ALIGNT, F_T0NAME, F_T0ND, F_T0D0, F_T0TYPE, F_T0OFF, F_TLOFF };

static size_t field_pos(const positions *p, int f)
{
    const size_t table[] = {p->version, p->n_tensors, p->n_kv, p->key0_len, p->str_val_len,
                            p->value_type, p->arr_strs_n, p->arr_strs_elem_len, p->arr_ints_n,
                            p->arr_ints_type, p->align_val, p->align_type, p->t0_name_len,
                            p->t0_ndims, p->t0_dim0, p->t0_type, p->t0_offset, p->tlast_offset};
    return table[f];
}

static void test_lying_fields(void **state)
{
    (void)state;
    const patch patches[] = {
        {"version 1", F_VERSION, 4, 1, "version 1"},
        {"version 4", F_VERSION, 4, 4, "version 4"},
        {"big-endian", F_VERSION, 4, 0x03000000u, "big-endian"},
        {"absurd tensor count", F_NT, 8, UINT64_MAX / 2, "tensor count"},
        {"absurd kv count", F_NKV, 8, 1ull << 40, "metadata count"},
        {"more kv than present", F_NKV, 8, 40, NULL},
        {"more tensors than present", F_NT, 8, 9, NULL},
        {"key length huge", F_KEY0, 8, UINT64_MAX, "beyond the end"},
        {"key length zero", F_KEY0, 8, 0, NULL},
        {"string length huge", F_STRLEN, 8, 1ull << 62, "beyond the end"},
        {"value type 13", F_VTYPE, 4, 13, "unknown value type"},
        {"value type huge", F_VTYPE, 4, 0xffffffffu, "unknown value type"},
        {"string array count huge", F_ASN, 8, 1ull << 60, "does not fit"},
        {"string array count off by a lot", F_ASN, 8, 1000, NULL},
        {"array element length huge", F_ASE, 8, UINT64_MAX - 3, "beyond the end"},
        {"int array count huge", F_AIN, 8, UINT64_MAX, "does not fit"},
        {"nested array", F_AIT, 4, GGUF_ARRAY, "nested"},
        {"unknown element type", F_AIT, 4, 77, "unknown array element type"},
        {"alignment 0", F_ALIGN, 4, 0, "general.alignment"},
        {"alignment 48", F_ALIGN, 4, 48, "general.alignment"},
        {"alignment as float", F_ALIGNT, 4, GGUF_FLOAT32, NULL},
        {"alignment 2^31", F_ALIGN, 4, 1u << 31, "general.alignment"},
        {"tensor name length huge", F_T0NAME, 8, 1ull << 63, "beyond the end"},
        {"n_dims 0", F_T0ND, 4, 0, "dimensions"},
        {"n_dims 5", F_T0ND, 4, 5, "dimensions"},
        {"n_dims huge", F_T0ND, 4, 0xffffffffu, "dimensions"},
        {"dim 0", F_T0D0, 8, 0, "invalid dimension"},
        {"dim huge", F_T0D0, 8, 1ull << 63, "invalid dimension"},
        {"dim large", F_T0D0, 8, 1ull << 40, "beyond the end"},
        {"unknown ggml type", F_T0TYPE, 4, 99, "unknown ggml type"},
        {"retired ggml type 4", F_T0TYPE, 4, 4, "unknown ggml type"},
        {"Q8_0 row not a block multiple", F_T0TYPE, 4, 8, "block size"},
        {"offset misaligned", F_T0OFF, 8, 4, "not aligned"},
        {"offset beyond file", F_TLOFF, 8, 1ull << 20, "beyond the end"},
        {"offset overflowing", F_TLOFF, 8, UINT64_MAX - 31, "beyond the end"},
        {"last tensor overlaps the end", F_TLOFF, 8, 224, "beyond the end"},
    };
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        bytebuf b = {0};
        positions p;
        build_std(&b, 3, patches[i].field == F_ALIGN || patches[i].field == F_ALIGNT ? 64 : 0, &p);
        size_t at = field_pos(&p, patches[i].field);
        if (patches[i].width == 4) bb_patch_u32(&b, at, (uint32_t)patches[i].value);
        else bb_patch_u64(&b, at, patches[i].value);
        print_message("case: %s\n", patches[i].what);
        expect_bad(&b, patches[i].want);
        bb_free(&b);
    }
}

static void header(bytebuf *b, uint64_t n_tensors, uint64_t n_kv)
{
    bb_put(b, "GGUF", 4);
    bb_u32(b, 3);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}

static void tensor_info(bytebuf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                        uint32_t type, uint64_t offset)
{
    bb_gguf_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) bb_u64(b, ne[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
}

static void test_structural_errors(void **state)
{
    (void)state;
    bytebuf b = {0};
    /* duplicate key */
    header(&b, 0, 2);
    kv_head(&b, "k", GGUF_UINT8); bb_u8(&b, 1);
    kv_head(&b, "k", GGUF_UINT8); bb_u8(&b, 2);
    expect_bad(&b, "duplicate metadata key 'k'");
    bb_free(&b);

    /* duplicate tensor name */
    uint64_t ne1[1] = {8};
    header(&b, 2, 0);
    tensor_info(&b, "x", 1, ne1, 0, 0);
    tensor_info(&b, "x", 1, ne1, 0, 32);
    bb_pad(&b, 32);
    for (int i = 0; i < 64; i++) bb_u8(&b, 0);
    expect_bad(&b, "duplicate tensor name 'x'");
    bb_free(&b);

    /* key with an embedded NUL */
    header(&b, 0, 1);
    bb_u64(&b, 3); bb_put(&b, "a\0b", 3); bb_u32(&b, GGUF_UINT8); bb_u8(&b, 0);
    expect_bad(&b, "NUL");
    bb_free(&b);

    /* element count overflowing the dimension product */
    uint64_t big[3] = {1ull << 32, 1ull << 32, 1ull << 32};
    header(&b, 1, 0);
    tensor_info(&b, "huge", 3, big, 0, 0);
    bb_pad(&b, 32);
    expect_bad(&b, "huge");
    bb_free(&b);

    /* size overflowing after the type size (F64: 8 bytes x 2^61 elements) */
    uint64_t big2[2] = {1ull << 31, 1ull << 30};
    header(&b, 1, 0);
    tensor_info(&b, "wide", 2, big2, 28, 0);
    bb_pad(&b, 32);
    expect_bad(&b, "wide");
    bb_free(&b);

    /* not GGUF at all */
    bb_put(&b, "GGML\3\0\0\0", 8);
    expect_bad(&b, "bad magic");
    bb_free(&b);

    /* zero tensors and no data section: valid */
    header(&b, 0, 1);
    kv_head(&b, "general.name", GGUF_STRING); bb_gguf_str(&b, "x");
    iris_gguf g;
    void *copy = test_exact_copy(b.p, b.len);
    if (iris_gguf_parse(&g, copy, b.len, NAME) != 0) fail_msg("%s", iris_last_error());
    assert_int_equal(g.n_tensors, 0);
    iris_gguf_close(&g);
    free(copy);
    bb_free(&b);
}

static void test_missing_and_empty_files(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), *path = test_path(dir, "empty.gguf");
    iris_gguf g;
    assert_int_equal(iris_gguf_open(&g, path), -1);
    assert_non_null(strstr(iris_last_error(), path));
    test_write_file(path, "", 0);
    assert_int_equal(iris_gguf_open(&g, path), -1);
    assert_non_null(strstr(iris_last_error(), path));
    assert_int_equal(iris_gguf_open(&g, dir), -1);
    assert_non_null(strstr(iris_last_error(), "not a regular file"));
    test_rmdir(dir);
    free(path);
    free(dir);
}

/* Random byte flips of a valid file must never crash (ASan checks reads). */
static void test_random_corruption(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_std(&b, 3, 0, NULL);
    srand(1234);
    for (int round = 0; round < 3000; round++) {
        uint8_t *copy = test_exact_copy(b.p, b.len);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++) copy[rand() % b.len] = (uint8_t)rand();
        iris_gguf g;
        if (iris_gguf_parse(&g, copy, b.len, NAME) == 0) {
            for (uint64_t i = 0; i < g.n_tensors; i++) {
                const uint8_t *d = g.tensors[i].t.data;
                assert_true(d >= copy && d + g.tensors[i].nbytes <= copy + b.len);
            }
            iris_gguf_close(&g);
        } else {
            assert_non_null(strstr(iris_last_error(), NAME));
        }
        free(copy);
    }
    bb_free(&b);
}

int main(void)
{
    
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_v3_file),
        cmocka_unit_test(test_valid_v2_aligned_64),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_lying_fields),
        cmocka_unit_test(test_structural_errors),
        cmocka_unit_test(test_missing_and_empty_files),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

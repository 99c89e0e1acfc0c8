/* test_safetensors.c — safetensors reader and atomic writer: valid files
 * built by hand, every truncation of one, lying headers, bad JSON, unknown
 * dtypes, duplicates; each bad file must fail with a message naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include <cmocka.h>

#include "core/error.h"
#include "formats/safetensors.h"
#include "helpers/bytebuf.h"

#define NAME "test.safetensors"

/* header JSON padded with spaces to pad bytes (0: no padding), then data. */
static void build(bytebuf *b, const char *json, size_t pad, const void *data, size_t len)
{
    size_t h = strlen(json), hp = pad ? (h + pad - 1) / pad * pad : h;
    bb_u64(b, hp);
    bb_put(b, json, h);
    for (size_t i = h; i < hp; i++) bb_u8(b, ' ');
    bb_put(b, data, len);
}

static void expect_bad_buf(const void *p, size_t len, const char *want)
{
    iris_safetensors st;
    iris_clear_error();
    void *copy = test_exact_copy(p, len);
    int rc = iris_st_parse(&st, copy, len, NAME);
    if (rc == 0) {
        iris_st_close(&st);
        free(copy);
        fail_msg("accepted a bad file (expected '%s')", want ? want : "");
    }
    free(copy);
    const char *e = iris_last_error();
    if (!strstr(e, NAME)) fail_msg("message does not name the file: %s", e);
    if (want && !strstr(e, want)) fail_msg("expected '%s' in: %s", want, e);
    if (strchr(e, '\n')) fail_msg("message is not one line: %s", e);
}

static void expect_bad_json(const char *json, size_t data_len, const char *want)
{
    bytebuf b = {0};
    uint8_t data[256] = {0};
    assert_true(data_len <= sizeof data);
    build(&b, json, 8, data, data_len);
    print_message("case: %s\n", json);
    expect_bad_buf(b.p, b.len, want);
    bb_free(&b);
}

static const char *good_json =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},"
    "\"c\":{\"dtype\":\"F16\",\"shape\":[2,1,2],\"data_offsets\":[32,40]},"
    "\"d\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[40,42]},"
    "\"e\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[48,56]},"
    "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[56,56]}}";

static void build_good(bytebuf *b)
{
    uint8_t data[56];
    for (int i = 0; i < 56; i++) data[i] = (uint8_t)i;
    for (int i = 0; i < 6; i++) {
        float v = (float)i + 0.5f;
        memcpy(data + 4 * i, &v, 4);
    }
    build(b, good_json, 8, data, sizeof data);
}

static void test_valid_file(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_good(&b);
    char *dir = test_mkdtemp(), *path = test_path(dir, "m.safetensors");
    test_write_file(path, b.p, b.len);
    iris_safetensors st;
    if (iris_st_open(&st, path) != 0) fail_msg("%s", iris_last_error());
    assert_int_equal(st.n_tensors, 6);
    assert_string_equal(st.metadata_json, "{\"format\":\"pt\"}");
    const iris_tensor *a = iris_st_find(&st, "a");
    assert_non_null(a);
    assert_int_equal(a->dtype, IRIS_F32);
    assert_int_equal(a->ndim, 2);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->shape[1], 3);
    assert_true(((const float *)a->data)[5] == 5.5f);
    assert_int_equal(iris_st_find(&st, "b")->dtype, IRIS_I32);
    assert_int_equal(iris_st_find(&st, "c")->ndim, 3);
    assert_int_equal(iris_st_find(&st, "d")->ndim, 0);
    assert_int_equal(iris_st_find(&st, "d")->dtype, IRIS_BF16);
    const iris_tensor *e = iris_st_find(&st, "e");
    assert_int_equal((int)e->dtype, -1);
    assert_string_equal(st.tensors[4].dtype_name, "I64");
    assert_int_equal(st.tensors[4].nbytes, 8);
    assert_int_equal(iris_st_find(&st, "z")->shape[0], 0);
    assert_null(iris_st_find(&st, "nope"));
    assert_null(iris_st_find(&st, "__metadata__"));
    iris_st_close(&st);
    test_rmdir(dir);
    free(path);
    free(dir);
    bb_free(&b);
}

static void test_every_truncation(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_good(&b);
    char *dir = test_mkdtemp(), *path = test_path(dir, "cut.safetensors");
    for (size_t len = 0; len < b.len; len++) {
        expect_bad_buf(b.p, len, NULL);
        test_write_file(path, b.p, len);
        iris_safetensors st;
        if (iris_st_open(&st, path) == 0) fail_msg("accepted a %zu-byte prefix", len);
        assert_non_null(strstr(iris_last_error(), path));
    }
    test_rmdir(dir);
    free(path);
    free(dir);
    bb_free(&b);
}

static void test_bad_header_length(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_good(&b);
    const uint64_t lies[] = {0, 1, b.len - 8 + 1, UINT64_MAX, 1ull << 40, 200000000};
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        bytebuf c = {0};
        bb_put(&c, b.p, b.len);
        bb_patch_u64(&c, 0, lies[i]);
        expect_bad_buf(c.p, c.len, "header length");
        bb_free(&c);
    }
    /* shorter than the JSON: cuts it */
    bytebuf c = {0};
    bb_put(&c, b.p, b.len);
    bb_patch_u64(&c, 0, 40);
    expect_bad_buf(c.p, c.len, "JSON");
    bb_free(&c);
    bb_free(&b);
}

static void test_bad_headers(void **state)
{
    (void)state;
#define T(dt, shape, off) "{\"t\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}}"
    expect_bad_json("{", 8, "not valid JSON");
    expect_bad_json("{\"t\":}", 8, "not valid JSON");
    expect_bad_json("[1,2]", 8, "not a JSON object");
    expect_bad_json("\"str\"", 8, "not a JSON object");
    expect_bad_json("{} x", 8, "trailing");
    expect_bad_json(T("F99", "[2]", "[0,8]"), 8, "unknown dtype 'F99'");
    expect_bad_json(T("f32", "[2]", "[0,8]"), 8, "unknown dtype");
    expect_bad_json(T("F32", "[3]", "[0,8]"), 8, "need 12 bytes");
    expect_bad_json(T("F32", "[2]", "[8,0]"), 8, "begin <= end");
    expect_bad_json(T("F32", "[2]", "[0,16]"), 8, "exceed");
    expect_bad_json(T("F32", "[2]", "[-8,0]"), 8, "data_offsets");
    expect_bad_json(T("F32", "[2]", "[0]"), 8, "data_offsets");
    expect_bad_json(T("F32", "[2]", "[0,8,9]"), 8, "data_offsets");
    expect_bad_json(T("F32", "[2]", "[0.5,8]"), 8, "data_offsets");
    expect_bad_json(T("F32", "[2]", "[0,1e300]"), 8, "data_offsets");
    expect_bad_json(T("F32", "[2]", "[\"0\",8]"), 8, "data_offsets");
    expect_bad_json(T("F32", "[2.5]", "[0,8]"), 8, "invalid shape");
    expect_bad_json(T("F32", "[-2]", "[0,8]"), 8, "invalid shape");
    expect_bad_json(T("F32", "[\"2\"]", "[0,8]"), 8, "invalid shape");
    expect_bad_json(T("F32", "[1,1,1,1,2]", "[0,8]"), 8, "5 dimensions");
    expect_bad_json(T("F32", "[4294967296,4294967296,4294967296]", "[0,8]"), 8, "shape");
    expect_bad_json(T("F64", "[4503599627370496]", "[0,8]"), 8, "need");
    expect_bad_json(T("F64", "[4503599627370496,2048]", "[0,8]"), 8, "need");
    expect_bad_json(T("F32", "2", "[0,8]"), 8, "needs");
    expect_bad_json("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "needs");
    expect_bad_json("{\"t\":[1]}", 8, "not an object");
    expect_bad_json("{\"t\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "needs");
    expect_bad_json("{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                    "empty tensor name");
    expect_bad_json("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    8, "duplicate tensor name 't'");
    expect_bad_json("{\"__metadata__\":[1]}", 0, "__metadata__");
    expect_bad_json("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__");
    /* misaligned: an F32 at data offset 2 */
    expect_bad_json("{\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                    "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
                    8, "not aligned");
    /* deep nesting must not overflow the stack */
    char deep[4200] = "{\"__metadata__\":";
    for (int i = 0; i < 2000; i++) strcat(deep, "[");
    expect_bad_json(deep, 0, "JSON");
#undef T
}

static void test_unpadded_header_alignment(void **state)
{
    (void)state;
    /* A header of 13 bytes puts the data at file offset 21: F16/F32 data there
     * is misaligned and refused, U8 data is fine. */
    bytebuf b = {0};
    uint8_t d[4] = {1, 2, 3, 4};
    build(&b, "{\"u\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 0, d, 4);
    iris_safetensors st;
    void *copy = test_exact_copy(b.p, b.len);
    if (iris_st_parse(&st, copy, b.len, NAME) != 0) fail_msg("%s", iris_last_error());
    assert_string_equal(st.tensors[0].dtype_name, "U8");
    iris_st_close(&st);
    free(copy);
    bb_free(&b);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void test_write_roundtrip(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), *path = test_path(dir, "out.safetensors");
    iris_tensor ts[4];
    int64_t s0[2] = {3, 5}, s1[1] = {7}, s2[3] = {2, 1, 3}, s3[1] = {3};
    assert_int_equal(iris_tensor_alloc(&ts[0], IRIS_F16, 1, s1), 0);
    assert_int_equal(iris_tensor_alloc(&ts[1], IRIS_F32, 2, s0), 0);
    assert_int_equal(iris_tensor_alloc(&ts[2], IRIS_BF16, 3, s2), 0);
    assert_int_equal(iris_tensor_alloc(&ts[3], IRIS_I32, 1, s3), 0);
    for (int i = 0; i < 15; i++) ((float *)ts[1].data)[i] = (float)i * 0.25f;
    for (int i = 0; i < 7; i++) ((uint16_t *)ts[0].data)[i] = iris_f32_to_f16((float)i);
    ((int32_t *)ts[3].data)[2] = -9;
    const char *names[4] = {"half \"quoted\"", "w", "b/16", "ids"};
    test_write_file(path, "old", 3); /* replaced atomically */
    if (iris_st_write(path, 4, names, ts, "{\"format\":\"pt\",\"note\":\"x\"}") != 0)
        fail_msg("%s", iris_last_error());
    assert_int_equal(count_files(dir), 1); /* no temporary left behind */

    iris_safetensors st;
    if (iris_st_open(&st, path) != 0) fail_msg("%s", iris_last_error());
    uint64_t hlen;
    memcpy(&hlen, st.map, 8);
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(st.n_tensors, 4);
    const iris_tensor *w = iris_st_find(&st, "w");
    assert_non_null(w);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[1], 5);
    assert_memory_equal(w->data, ts[1].data, 60);
    const iris_tensor *h = iris_st_find(&st, "half \"quoted\"");
    assert_non_null(h);
    assert_memory_equal(h->data, ts[0].data, 14);
    assert_int_equal(iris_st_find(&st, "b/16")->dtype, IRIS_BF16);
    assert_int_equal(((const int32_t *)iris_st_find(&st, "ids")->data)[2], -9);
    assert_non_null(strstr(st.metadata_json, "\"note\":\"x\""));
    iris_st_close(&st);

    /* refusals: Q8_0, duplicate names, bad metadata; the old file survives */
    iris_tensor q;
    int64_t qs[1] = {32};
    assert_int_equal(iris_tensor_alloc(&q, IRIS_Q8_0, 1, qs), 0);
    const char *qn[1] = {"q"};
    assert_int_equal(iris_st_write(path, 1, qn, &q, NULL), -1);
    assert_non_null(strstr(iris_last_error(), "Q8_0"));
    const char *dup[2] = {"w", "w"};
    assert_int_equal(iris_st_write(path, 2, dup, ts, NULL), -1);
    assert_non_null(strstr(iris_last_error(), "duplicate"));
    assert_int_equal(iris_st_write(path, 1, names, ts, "{\"a\":1}"), -1);
    assert_non_null(strstr(iris_last_error(), "metadata"));
    assert_int_equal(iris_st_write(path, 1, names, ts, "nope"), -1);
    char *missing = test_path(dir, "no/such/dir.safetensors");
    assert_int_equal(iris_st_write(missing, 1, names, ts, NULL), -1);
    assert_non_null(strstr(iris_last_error(), missing));
    free(missing);
    assert_int_equal(count_files(dir), 1);
    if (iris_st_open(&st, path) != 0) fail_msg("%s", iris_last_error());
    assert_int_equal(st.n_tensors, 4);
    iris_st_close(&st);

    /* zero tensors */
    assert_int_equal(iris_st_write(path, 0, NULL, NULL, NULL), 0);
    if (iris_st_open(&st, path) != 0) fail_msg("%s", iris_last_error());
    assert_int_equal(st.n_tensors, 0);
    iris_st_close(&st);

    iris_tensor_free(&q);
    for (int i = 0; i < 4; i++) iris_tensor_free(&ts[i]);
    test_rmdir(dir);
    free(path);
    free(dir);
}

static void test_random_corruption(void **state)
{
    (void)state;
    bytebuf b = {0};
    build_good(&b);
    srand(99);
    for (int round = 0; round < 3000; round++) {
        uint8_t *copy = test_exact_copy(b.p, b.len);
        int flips = 1 + rand() % 3;
        for (int k = 0; k < flips; k++) copy[rand() % b.len] = (uint8_t)(rand() % 128);
        iris_safetensors st;
        if (iris_st_parse(&st, copy, b.len, NAME) == 0) {
            for (int i = 0; i < st.n_tensors; i++) {
                const uint8_t *d = st.tensors[i].t.data;
                assert_true(d >= copy && d + st.tensors[i].nbytes <= copy + b.len);
            }
            iris_st_close(&st);
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
        cmocka_unit_test(test_valid_file),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_bad_header_length),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_unpadded_header_alignment),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

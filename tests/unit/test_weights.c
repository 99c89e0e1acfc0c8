/* test_weights.c — iris_weights over a model directory, a sharded checkpoint
 * with model.safetensors.index.json, a bare .safetensors and a .gguf: lookups,
 * shape checks and the messages for everything that can be missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "formats/weights.h"
#include "helpers/bytebuf.h"

#define N_PER_SHARD 350 /* two shards: about LLaVA-7B's tensor count */

static char *names_buf[2][N_PER_SHARD];

static void write_shard(const char *path, int shard)
{
    iris_tensor ts[N_PER_SHARD];
    const char *names[N_PER_SHARD];
    for (int i = 0; i < N_PER_SHARD; i++) {
        int64_t shape[2] = {2, 1 + i % 5};
        assert_int_equal(iris_tensor_alloc(&ts[i], IRIS_F32, 2, shape), 0);
        ((float *)ts[i].data)[0] = (float)(shard * 1000 + i);
        char buf[64];
        snprintf(buf, sizeof buf, "model.layers.%d.w%d.weight", shard, i);
        if (!names_buf[shard][i]) names_buf[shard][i] = strdup(buf);
        names[i] = names_buf[shard][i];
    }
    if (iris_st_write(path, N_PER_SHARD, names, ts, NULL) != 0) fail_msg("%s", iris_last_error());
    for (int i = 0; i < N_PER_SHARD; i++) iris_tensor_free(&ts[i]);
}

/* index.json listing both shards; extra appends one more raw entry. */
static void write_index(const char *dir, const char *extra)
{
    char *path = test_path(dir, "model.safetensors.index.json");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"metadata\":{\"total_size\":1},\"weight_map\":{");
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < N_PER_SHARD; i++)
            fprintf(f, "%s\"%s\":\"model-%05d-of-00002.safetensors\"", s + i ? "," : "",
                    names_buf[s][i], s + 1);
    fprintf(f, "%s}}", extra ? extra : "");
    fclose(f);
    free(path);
}

static void make_sharded(const char *dir)
{
    for (int s = 0; s < 2; s++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-00002.safetensors", s + 1);
        char *p = test_path(dir, name);
        write_shard(p, s);
        free(p);
    }
    write_index(dir, NULL);
}

static void test_sharded_lookup(void **state)
{
    (void)state;
    char *dir = test_mkdtemp();
    make_sharded(dir);
    iris_weights w;
    if (iris_weights_open(&w, dir) != 0) fail_msg("%s", iris_last_error());
    assert_int_equal(w.n_files, 2);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < N_PER_SHARD; i++) {
            const iris_tensor *t = iris_weights_get(&w, names_buf[s][i]);
            assert_non_null(t);
            assert_true(((const float *)t->data)[0] == (float)(s * 1000 + i));
            assert_non_null(strstr(iris_weights_file_of(&w, names_buf[s][i]),
                                   s ? "00002-of" : "00001-of"));
        }
    int64_t want[2] = {2, 4};
    assert_non_null(iris_weights_get_shaped(&w, names_buf[1][3], 2, want));
    iris_set_error("untouched");
    assert_null(iris_weights_find(&w, "lm_head.weight"));
    assert_string_equal(iris_last_error(), "untouched"); /* find is silent */
    assert_null(iris_weights_get(&w, "lm_head.weight"));
    assert_non_null(strstr(iris_last_error(), "'lm_head.weight'"));
    assert_non_null(strstr(iris_last_error(), dir));
    assert_string_equal(iris_weights_dtype_name(&w, names_buf[0][0]), "F32");
    iris_weights_close(&w);

    /* a shard missing */
    char *shard2 = test_path(dir, "model-00002-of-00002.safetensors");
    char *moved = test_path(dir, "elsewhere");
    assert_int_equal(rename(shard2, moved), 0);
    assert_int_equal(iris_weights_open(&w, dir), -1);
    assert_non_null(strstr(iris_last_error(), "model-00002-of-00002.safetensors"));
    assert_non_null(strstr(iris_last_error(), "missing"));
    assert_int_equal(rename(moved, shard2), 0);

    /* a tensor the map assigns to a shard that lacks it */
    write_index(dir, ",\"ghost.weight\":\"model-00001-of-00002.safetensors\"");
    assert_int_equal(iris_weights_open(&w, dir), -1);
    assert_non_null(strstr(iris_last_error(), "'ghost.weight'"));
    assert_non_null(strstr(iris_last_error(), "model-00001-of-00002.safetensors"));

    /* a shard name that escapes the directory */
    write_index(dir, ",\"x\":\"../x.safetensors\"");
    assert_int_equal(iris_weights_open(&w, dir), -1);
    assert_non_null(strstr(iris_last_error(), "index.json"));

    /* the same tensor in two shards */
    char *p1 = test_path(dir, "model-00001-of-00002.safetensors");
    write_shard(shard2, 0);
    assert_int_equal(iris_weights_open(&w, dir), -1);
    assert_non_null(strstr(iris_last_error(), "also in"));

    /* malformed index */
    char *ix = test_path(dir, "model.safetensors.index.json");
    test_write_file(ix, "{\"weight_map\": [", 16);
    assert_int_equal(iris_weights_open(&w, dir), -1);
    assert_non_null(strstr(iris_last_error(), ix));
    test_write_file(ix, "{\"weight_map\": 3}", 17);
    assert_int_equal(iris_weights_open(&w, dir), -1);
    assert_non_null(strstr(iris_last_error(), "weight_map"));

    free(ix);
    free(p1);
    free(shard2);
    free(moved);
    test_rmdir(dir);
    free(dir);
}

static void test_single_file_dir(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), *p = test_path(dir, "model.safetensors");
    iris_tensor t;
    int64_t shape[2] = {3, 4};
    assert_int_equal(iris_tensor_alloc(&t, IRIS_F32, 2, shape), 0);
    const char *name = "x";
    assert_int_equal(iris_st_write(p, 1, &name, &t, NULL), 0);
    iris_weights w;
    if (iris_weights_open(&w, dir) != 0) fail_msg("%s", iris_last_error());
    int64_t want[2] = {4, 4};
    assert_null(iris_weights_get_shaped(&w, "x", 2, want));
    char expect[4200];
    snprintf(expect, sizeof expect, "%s: tensor 'x' has shape [3,4], expected [4,4]", p);
    assert_string_equal(iris_last_error(), expect);
    int64_t want1[1] = {12};
    assert_null(iris_weights_get_shaped(&w, "x", 1, want1));
    assert_non_null(strstr(iris_last_error(), "expected [12]"));
    iris_weights_close(&w);

    /* the file itself */
    if (iris_weights_open(&w, p) != 0) fail_msg("%s", iris_last_error());
    assert_non_null(iris_weights_get(&w, "x"));
    iris_weights_close(&w);

    /* directory without weights, missing path, unknown extension */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(iris_weights_open(&w, dir), -1);
    assert_non_null(strstr(iris_last_error(), dir));
    char *none = test_path(dir, "none.gguf");
    assert_int_equal(iris_weights_open(&w, none), -1);
    assert_non_null(strstr(iris_last_error(), none));
    char *txt = test_path(dir, "notes.txt");
    test_write_file(txt, "hi", 2);
    assert_int_equal(iris_weights_open(&w, txt), -1);
    assert_non_null(strstr(iris_last_error(), txt));
    /* a corrupt model.safetensors is reported with its path */
    test_write_file(p, "\x10\0\0\0\0\0\0\0{not json}      ", 24);
    assert_int_equal(iris_weights_open(&w, dir), -1);
    assert_non_null(strstr(iris_last_error(), p));

    free(txt);
    free(none);
    iris_tensor_free(&t);
    test_rmdir(dir);
    free(p);
    free(dir);
}

static void test_gguf_weights(void **state)
{
    (void)state;
    bytebuf b = {0};
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 2);
    bb_u64(&b, 0);
    bb_gguf_str(&b, "tok.weight"); bb_u32(&b, 2); bb_u64(&b, 4); bb_u64(&b, 3);
    bb_u32(&b, 0); bb_u64(&b, 0);
    bb_gguf_str(&b, "blk.0.q4k"); bb_u32(&b, 1); bb_u64(&b, 256);
    bb_u32(&b, 12); bb_u64(&b, 64);
    bb_pad(&b, 32);
    for (int i = 0; i < 64 + 144; i++) bb_u8(&b, 0);
    char *dir = test_mkdtemp(), *p = test_path(dir, "m.gguf");
    test_write_file(p, b.p, b.len);
    iris_weights w;
    if (iris_weights_open(&w, p) != 0) fail_msg("%s", iris_last_error());
    int64_t want[2] = {3, 4};
    assert_non_null(iris_weights_get_shaped(&w, "tok.weight", 2, want));
    assert_non_null(iris_weights_find(&w, "blk.0.q4k"));
    assert_null(iris_weights_get(&w, "blk.0.q4k"));
    assert_non_null(strstr(iris_last_error(), "Q4_K"));
    assert_non_null(strstr(iris_last_error(), p));
    assert_string_equal(iris_weights_dtype_name(&w, "blk.0.q4k"), "Q4_K");
    iris_weights_close(&w);
    /* recognised by magic without the extension (Hub cache blobs) */
    char *blob = test_path(dir, "0123abcd");
    test_write_file(blob, b.p, b.len);
    if (iris_weights_open(&w, blob) != 0) fail_msg("%s", iris_last_error());
    assert_non_null(iris_weights_get(&w, "tok.weight"));
    iris_weights_close(&w);
    free(blob);
    test_rmdir(dir);
    free(p);
    free(dir);
    bb_free(&b);
}

static int teardown(void **state)
{
    (void)state;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < N_PER_SHARD; i++) free(names_buf[s][i]);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharded_lookup),
        cmocka_unit_test(test_single_file_dir),
        cmocka_unit_test(test_gguf_weights),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}

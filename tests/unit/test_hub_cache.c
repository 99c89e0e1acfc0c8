/* Unit tests: the huggingface_hub cache layout — paths, relative links, refs,
 * listing (size, architecture) and removal of unshared blobs. */
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

#include "hub/hub.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define E_CFG "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define E_W1 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define E_W2 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/iris-cache-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

static void test_paths(void **state)
{
    (void)state;
    char *d = hub_repo_dir("/c", "llava-hf/llava-1.5-7b-hf");
    assert_string_equal(d, "/c/models--llava-hf--llava-1.5-7b-hf");
    char *b = hub_blob_path(d, E_W1);
    assert_string_equal(b, "/c/models--llava-hf--llava-1.5-7b-hf/blobs/" E_W1);
    char *s = hub_snapshot_dir(d, C1);
    assert_string_equal(s, "/c/models--llava-hf--llava-1.5-7b-hf/snapshots/" C1);
    free(d);
    free(b);
    free(s);
    assert_null(hub_repo_dir("/c", "../etc"));
    char *t = hub_symlink_target("model.safetensors", E_W1);
    assert_string_equal(t, "../../blobs/" E_W1);
    free(t);
    t = hub_symlink_target("a/b/c.json", E_CFG);
    assert_string_equal(t, "../../../../blobs/" E_CFG);
    free(t);
}

static void test_refs_links_list_rm(void **state)
{
    (void)state;
    char *repo = hub_repo_dir(root, "org/model");
    char blobs[512], p[600];
    snprintf(blobs, sizeof blobs, "%s/blobs", repo);
    assert_int_equal(hub_mkdirs(blobs), 0);
    const char *cfg = "{\"architectures\":[\"LlavaForConditionalGeneration\"],\"model_type\":\"llava\"}";
    snprintf(p, sizeof p, "%s/%s", blobs, E_CFG);
    write_file(p, cfg, strlen(cfg));
    snprintf(p, sizeof p, "%s/%s", blobs, E_W1);
    write_file(p, "0123456789", 10);
    snprintf(p, sizeof p, "%s/%s", blobs, E_W2);
    write_file(p, "01234567890123456789", 20);
    snprintf(p, sizeof p, "%s/%s.incomplete", blobs, E_W2);
    write_file(p, "0123", 4);

    /* Two snapshots share config.json. */
    assert_int_equal(hub_link_snapshot(repo, C1, "config.json", E_CFG), 0);
    assert_int_equal(hub_link_snapshot(repo, C1, "w/model.safetensors", E_W1), 0);
    assert_int_equal(hub_link_snapshot(repo, C2, "config.json", E_CFG), 0);
    assert_int_equal(hub_link_snapshot(repo, C2, "model.safetensors", E_W2), 0);
    assert_int_equal(hub_link_snapshot(repo, C2, "model.safetensors", E_W2), 0);   /* idempotent */
    assert_int_equal(hub_link_snapshot(repo, C2, "../escape", E_W2), -1);
    assert_true(hub_snapshot_file_ok(repo, C1, "w/model.safetensors", E_W1, 10));
    assert_false(hub_snapshot_file_ok(repo, C1, "w/model.safetensors", E_W1, 11));
    assert_false(hub_snapshot_file_ok(repo, C1, "w/model.safetensors", E_W2, 10));
    assert_false(hub_snapshot_file_ok(repo, C1, "missing", E_W1, 10));

    /* The relative link resolves to the blob. */
    snprintf(p, sizeof p, "%s/snapshots/" C1 "/w/model.safetensors", repo);
    char target[256];
    ssize_t n = readlink(p, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = 0;
    assert_string_equal(target, "../../../blobs/" E_W1);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((int)st.st_size, 10);

    char commit[41];
    assert_int_equal(hub_read_ref(repo, "main", commit), 0);
    assert_int_equal(hub_write_ref(repo, "main", C1), 0);
    assert_int_equal(hub_write_ref(repo, "refs/pr/1", C2), 0);
    assert_int_equal(hub_write_ref(repo, "../x", C2), -1);
    assert_int_equal(hub_read_ref(repo, "main", commit), 1);
    assert_string_equal(commit, C1);
    snprintf(p, sizeof p, "%s/refs/main", repo);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((int)st.st_size, 40);   /* no newline, as huggingface_hub writes it */

    hub_local_model *m;
    size_t count;
    assert_int_equal(hub_list_models(root, &m, &count), 0);
    assert_int_equal((int)count, 2);
    assert_string_equal(m[0].repo, "org/model");
    assert_string_equal(m[0].revision, "main");
    assert_string_equal(m[0].commit, C1);
    assert_int_equal((int)m[0].size, (int)strlen(cfg) + 10);
    assert_int_equal((int)m[0].nfiles, 2);
    assert_string_equal(m[0].architecture, "LlavaForConditionalGeneration");
    assert_string_equal(m[1].revision, "refs/pr/1");
    assert_int_equal((int)m[1].size, (int)strlen(cfg) + 20);
    hub_local_models_free(m, count);

    /* Removing C1 keeps the shared config blob and the other snapshot. */
    hub_rm_stats rs;
    assert_int_equal(hub_remove_model(root, "org/model", "main", &rs), 0);
    assert_int_equal((int)rs.snapshots, 1);
    assert_int_equal((int)rs.blobs, 1);
    assert_int_equal((int)rs.bytes, 10);
    snprintf(p, sizeof p, "%s/%s", blobs, E_CFG);
    assert_int_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/%s", blobs, E_W1);
    assert_int_not_equal(stat(p, &st), 0);
    assert_int_equal(hub_read_ref(repo, "main", commit), 0);
    assert_int_equal(hub_remove_model(root, "org/model", "main", &rs), -1);   /* gone now */
    assert_int_equal(hub_list_models(root, &m, &count), 0);
    assert_int_equal((int)count, 1);
    hub_local_models_free(m, count);

    /* Removing everything takes the folder, partial files included. */
    assert_int_equal(hub_remove_model(root, "org/model", NULL, &rs), 0);
    assert_int_equal((int)rs.snapshots, 1);
    assert_int_not_equal(stat(repo, &st), 0);
    assert_int_equal(hub_remove_model(root, "org/model", NULL, &rs), -1);
    assert_int_equal(hub_list_models(root, &m, &count), 0);
    assert_int_equal((int)count, 0);
    free(repo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test_setup_teardown(test_refs_links_list_rm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: Hub names, URLs, same-origin rule, file filters, path-escape refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "hub/hub.h"

static void test_repo_ids(void **state)
{
    (void)state;
    assert_true(hub_valid_repo_id("llava-hf/llava-1.5-7b-hf"));
    assert_true(hub_valid_repo_id("openai/clip-vit-large-patch14-336"));
    assert_true(hub_valid_repo_id("TinyLlama/TinyLlama-1.1B-Chat-v1.0"));
    assert_false(hub_valid_repo_id("noslash"));
    assert_false(hub_valid_repo_id("a/b/c"));
    assert_false(hub_valid_repo_id("../b"));
    assert_false(hub_valid_repo_id("a/.."));
    assert_false(hub_valid_repo_id("a/b..c"));
    assert_false(hub_valid_repo_id("/b"));
    assert_false(hub_valid_repo_id("a/"));
    assert_false(hub_valid_repo_id("a b/c"));
    assert_false(hub_valid_repo_id(NULL));
}

static void test_revisions_and_hashes(void **state)
{
    (void)state;
    assert_true(hub_valid_revision("main"));
    assert_true(hub_valid_revision("refs/pr/1"));
    assert_true(hub_valid_revision("v1.0"));
    assert_false(hub_valid_revision("../main"));
    assert_false(hub_valid_revision("/main"));
    assert_false(hub_valid_revision("a//b"));
    assert_false(hub_valid_revision(""));
    assert_true(hub_valid_commit("0123456789abcdef0123456789abcdef01234567"));
    assert_false(hub_valid_commit("0123456789ABCDEF0123456789abcdef01234567"));
    assert_false(hub_valid_commit("0123"));
    assert_true(hub_valid_etag("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"));
    assert_true(hub_valid_etag("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(hub_valid_etag("../../etc/passwd"));
}

static void test_path_escape_refused(void **state)
{
    (void)state;
    assert_true(hub_safe_relpath("model.safetensors"));
    assert_true(hub_safe_relpath("sub/dir/tokenizer.json"));
    assert_true(hub_safe_relpath("..hidden"));
    assert_true(hub_safe_relpath("a..b/c"));
    assert_false(hub_safe_relpath("../evil"));
    assert_false(hub_safe_relpath("a/../../evil"));
    assert_false(hub_safe_relpath("a/.."));
    assert_false(hub_safe_relpath("/etc/passwd"));
    assert_false(hub_safe_relpath("a//b"));
    assert_false(hub_safe_relpath("a/./b"));
    assert_false(hub_safe_relpath("a/"));
    assert_false(hub_safe_relpath("..\\evil"));
    assert_false(hub_safe_relpath("a\nb"));
    assert_false(hub_safe_relpath(""));
    assert_false(hub_safe_relpath(NULL));
}

static void test_urls(void **state)
{
    (void)state;
    char *u = hub_api_url("http://127.0.0.1:8080", "org/name", "main");
    assert_string_equal(u, "http://127.0.0.1:8080/api/models/org/name/revision/main?blobs=true");
    free(u);
    u = hub_api_url("https://huggingface.co", "org/name", "refs/pr/1");
    assert_string_equal(u, "https://huggingface.co/api/models/org/name/revision/refs%2Fpr%2F1?blobs=true");
    free(u);
    u = hub_resolve_url("https://huggingface.co", "org/name", "main", "sub dir/model.safetensors");
    assert_string_equal(u, "https://huggingface.co/org/name/resolve/main/sub%20dir/model.safetensors");
    free(u);
    u = hub_resolve_url("https://h", "o/n", "refs/pr/2", "a+b#c?.json");
    assert_string_equal(u, "https://h/o/n/resolve/refs%2Fpr%2F2/a%2Bb%23c%3F.json");
    free(u);
    u = hub_url_escape("a/b~c_d-e.f", 0);
    assert_string_equal(u, "a%2Fb~c_d-e.f");
    free(u);
}

static void test_same_origin(void **state)
{
    (void)state;
    assert_true(hub_same_origin("http://127.0.0.1:8080/a", "http://127.0.0.1:8080"));
    assert_true(hub_same_origin("https://huggingface.co/x", "https://HuggingFace.co:443/y"));
    assert_false(hub_same_origin("http://127.0.0.1:8081/blobs/x", "http://127.0.0.1:8080"));
    assert_false(hub_same_origin("https://cdn-lfs.huggingface.co/x", "https://huggingface.co"));
    assert_false(hub_same_origin("http://huggingface.co/x", "https://huggingface.co"));
    assert_false(hub_same_origin("not a url", "https://huggingface.co"));
}

static void test_filters(void **state)
{
    (void)state;
    assert_true(hub_filter_accepts(NULL, "x"));
    hub_filter none = {0};
    assert_true(hub_filter_accepts(&none, "anything/at/all"));
    const char *inc[] = {"*.json", "onnx/"};
    const char *exc[] = {"*.bin", "tokenizer*"};
    hub_filter f = {inc, 2, exc, 2};
    assert_true(hub_filter_accepts(&f, "config.json"));
    assert_true(hub_filter_accepts(&f, "sub/dir/config.json"));   /* '*' crosses '/' */
    assert_true(hub_filter_accepts(&f, "onnx/model.onnx"));
    assert_false(hub_filter_accepts(&f, "tokenizer.json"));
    assert_false(hub_filter_accepts(&f, "model.safetensors"));
    assert_false(hub_filter_accepts(&f, "onnx/weights.bin"));
    hub_filter only_exc = {NULL, 0, exc, 1};
    assert_true(hub_filter_accepts(&only_exc, "model.safetensors"));
    assert_false(hub_filter_accepts(&only_exc, "pytorch_model.bin"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repo_ids),
        cmocka_unit_test(test_revisions_and_hashes),
        cmocka_unit_test(test_path_escape_refused),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_same_origin),
        cmocka_unit_test(test_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

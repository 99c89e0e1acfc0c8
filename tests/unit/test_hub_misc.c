/* Unit tests: Retry-After parsing and back-off, progress formatting, hashing,
 * the API file-list parser (including refusal of unsafe names), and the
 * download tuning read from the environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hub/hub.h"

static void test_retry_after(void **state)
{
    (void)state;
    time_t now = 1700000000;   /* Tue, 14 Nov 2023 22:13:20 GMT */
    assert_true(hub_parse_retry_after("7", now) == 7);
    assert_true(hub_parse_retry_after("  0 ", now) == 0);
    assert_true(hub_parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now) == 30);
    assert_true(hub_parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0);   /* in the past */
    assert_true(hub_parse_retry_after("soon", now) < 0);
    assert_true(hub_parse_retry_after("-5", now) < 0);
    assert_true(hub_parse_retry_after("", now) < 0);
    assert_true(hub_parse_retry_after(NULL, now) < 0);
    assert_true(hub_parse_retry_after("99999999999", now) < 0);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_true(hub_status_retryable(429));
    assert_true(hub_status_retryable(503));
    assert_true(hub_status_retryable(408));
    assert_false(hub_status_retryable(404));
    assert_false(hub_status_retryable(401));
    assert_true(hub_backoff_delay(0.5, 1, -1) == 0.5);
    assert_true(hub_backoff_delay(0.5, 3, -1) == 2.0);
    assert_true(hub_backoff_delay(0.5, 30, -1) == 30.0);     /* capped */
    assert_true(hub_backoff_delay(0.5, 1, 12) == 12.0);      /* Retry-After wins */
    assert_true(hub_backoff_delay(0.5, 1, 9999) == 300.0);   /* within reason */
}

static void test_format(void **state)
{
    (void)state;
    char b[64];
    hub_format_bytes(0, b, sizeof b);
    assert_string_equal(b, "0 B");
    hub_format_bytes(1023, b, sizeof b);
    assert_string_equal(b, "1023 B");
    hub_format_bytes(1536, b, sizeof b);
    assert_string_equal(b, "1.50 KiB");
    hub_format_bytes(13LL * 1024 * 1024 * 1024 + 512LL * 1024 * 1024, b, sizeof b);
    assert_string_equal(b, "13.5 GiB");
    hub_format_bytes(1023LL * 1024 * 1024, b, sizeof b);
    assert_string_equal(b, "1.00 GiB");   /* not "1023 MiB": numbers stay narrow */
    hub_format_rate(2.5 * 1024 * 1024, b, sizeof b);
    assert_string_equal(b, "2.50 MiB/s");
    hub_format_eta(42, b, sizeof b);
    assert_string_equal(b, "42s");
    hub_format_eta(187, b, sizeof b);
    assert_string_equal(b, "3m07s");
    hub_format_eta(3720, b, sizeof b);
    assert_string_equal(b, "1h02m");
    hub_format_eta(-1, b, sizeof b);
    assert_string_equal(b, "--");
    char line[256];
    hub_format_progress_line("model.safetensors", 512LL << 20, 1LL << 30, 100.0 * (1 << 20), line, sizeof line, 100);
    assert_non_null(strstr(line, "model.safetensors"));
    assert_non_null(strstr(line, "512 MiB"));
    assert_non_null(strstr(line, "1.00 GiB"));
    assert_non_null(strstr(line, " 50%"));
    assert_non_null(strstr(line, "100 MiB/s"));
    assert_non_null(strstr(line, "ETA 5s"));
    assert_int_equal((int)strlen(line), 100);
    /* A long name keeps its end and the line its width. */
    hub_format_progress_line("a/very/long/folder/name/that/does/not/fit/in/the/room/left/model-00001-of-00004.safetensors",
                             0, 10, 0, line, sizeof line, 100);
    assert_non_null(strstr(line, "model-00001-of-00004.safetensors"));
    assert_int_equal((int)strlen(line), 100);
    assert_null(strstr(line, "a/very/long"));
    assert_non_null(strstr(line, "ETA --"));
}

static void test_rate(void **state)
{
    (void)state;
    hub_rate r = {0};
    hub_rate_update(&r, 0, 10.0);
    for (int i = 1; i <= 40; i++) hub_rate_update(&r, (int64_t)i * 1000000, 10.0 + 0.5 * i);
    assert_true(r.rate > 1.9e6 && r.rate < 2.1e6);   /* 1 MB every 0.5 s */
}

static void test_hashes(void **state)
{
    (void)state;
    char hex[65];
    /* FIPS 180-2 test vector and git's well-known empty blob. */
    hub_hasher *h = hub_hasher_new(HUB_HASH_SHA256, 3);
    assert_non_null(h);
    assert_int_equal(hub_hasher_update(h, "a", 1), 0);
    assert_int_equal(hub_hasher_update(h, "bc", 2), 0);
    assert_int_equal(hub_hasher_final(h, hex, sizeof hex), 0);
    hub_hasher_free(h);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    h = hub_hasher_new(HUB_HASH_GIT_SHA1, 0);
    assert_int_equal(hub_hasher_final(h, hex, sizeof hex), 0);
    hub_hasher_free(h);
    assert_string_equal(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    /* Streaming equals hashing a file of the same bytes. */
    char path[] = "/tmp/iris-hash-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    unsigned char buf[5000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(rand() & 255);
    fwrite(buf, 1, sizeof buf, f);
    fclose(f);
    char a[65], b[65];
    assert_int_equal(hub_hash_file(path, HUB_HASH_GIT_SHA1, a, sizeof a), 0);
    h = hub_hasher_new(HUB_HASH_GIT_SHA1, sizeof buf);
    hub_hasher_update(h, buf, 1234);
    hub_hasher_update(h, buf + 1234, sizeof buf - 1234);
    hub_hasher_final(h, b, sizeof b);
    hub_hasher_free(h);
    assert_string_equal(a, b);
    unlink(path);
    assert_int_equal(hub_hash_file("/nonexistent/file", HUB_HASH_SHA256, a, sizeof a), -1);
}

#define SHA "0123456789abcdef0123456789abcdef01234567"
#define B40 "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
#define S64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int parse(const char *json, hub_file_list *l) { return hub_parse_file_list(json, strlen(json), l); }

static void test_api_parse(void **state)
{
    (void)state;
    hub_file_list l;
    const char *ok = "{\"sha\":\"" SHA "\",\"siblings\":["
                     "{\"rfilename\":\"config.json\",\"size\":10,\"blobId\":\"" B40 "\"},"
                     "{\"rfilename\":\"w/model.safetensors\",\"size\":134,\"blobId\":\"" B40 "\","
                     "\"lfs\":{\"sha256\":\"" S64 "\",\"size\":5000000000,\"pointerSize\":134}}]}";
    assert_int_equal(parse(ok, &l), 0);
    assert_string_equal(l.commit, SHA);
    assert_int_equal((int)l.n, 2);
    assert_string_equal(l.files[0].etag, B40);
    assert_false(l.files[0].lfs);
    assert_true(l.files[1].lfs);
    assert_string_equal(l.files[1].etag, S64);
    assert_true(l.files[1].size == 5000000000LL);
    hub_file_list_free(&l);

    const char *bad[] = {
        "not json",
        "{\"siblings\":[]}",
        "{\"sha\":\"" SHA "\"}",
        "{\"sha\":\"" SHA "\",\"siblings\":[{\"rfilename\":\"../../evil\",\"size\":1,\"blobId\":\"" B40 "\"}]}",
        "{\"sha\":\"" SHA "\",\"siblings\":[{\"rfilename\":\"/etc/passwd\",\"size\":1,\"blobId\":\"" B40 "\"}]}",
        "{\"sha\":\"" SHA "\",\"siblings\":[{\"rfilename\":\"a\",\"size\":1}]}",
        "{\"sha\":\"" SHA "\",\"siblings\":[{\"rfilename\":\"a\",\"size\":-1,\"blobId\":\"" B40 "\"}]}",
        "{\"sha\":\"" SHA "\",\"siblings\":[{\"rfilename\":\"a\",\"size\":1,\"blobId\":\"../x\"}]}",
        "{\"sha\":\"" SHA "\",\"siblings\":[{\"rfilename\":\"a\",\"size\":1,\"blobId\":\"" S64 "\"}]}",
        "{\"sha\":\"" SHA "\",\"siblings\":[{\"rfilename\":\"a\",\"size\":1,\"blobId\":\"" B40 "\"},"
        "{\"rfilename\":\"a\",\"size\":1,\"blobId\":\"" B40 "\"}]}",
        "{\"sha\":\"../" SHA "\",\"siblings\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &l), -1);
        assert_null(l.files);
    }
}

/* The hash buffer and the split probe: defaults, values, and the bounds. */
static void test_env_tuning(void **state)
{
    (void)state;
    hub_config cfg;
    unsetenv("IRIS_HUB_HASH_BUFFER");
    unsetenv("IRIS_HUB_SPLIT_PROBE");
    assert_int_equal(hub_config_from_env(&cfg), 0);
    assert_int_equal(cfg.hash_buffer, 16u << 20);
    assert_true(cfg.split_probe == 0.5);
    hub_config_free(&cfg);
    const struct { const char *buf, *probe; size_t want_buf; double want_probe; } cases[] = {
        {"65536", "0", 65536, 0},
        {"1000", "2.5", 16u << 20, 2.5},                /* below 64 KiB: the default */
        {"99999999999", "0.25", (size_t)1 << 30, 0.25}, /* at most 1 GiB */
        {"junk", "-3", 16u << 20, 0.5},                 /* unusable: the defaults */
        {"inf", "nan", 16u << 20, 0.5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("IRIS_HUB_HASH_BUFFER", cases[i].buf, 1);
        setenv("IRIS_HUB_SPLIT_PROBE", cases[i].probe, 1);
        assert_int_equal(hub_config_from_env(&cfg), 0);
        assert_int_equal(cfg.hash_buffer, cases[i].want_buf);
        assert_true(cfg.split_probe == cases[i].want_probe);
        hub_config_free(&cfg);
    }
    unsetenv("IRIS_HUB_HASH_BUFFER");
    unsetenv("IRIS_HUB_SPLIT_PROBE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_api_parse),
        cmocka_unit_test(test_env_tuning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

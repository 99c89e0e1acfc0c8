/* test_tokenizer.c — the tokenizer on small hand-made tokenizer.json files:
 * SPM-style encoding with byte fallback and BOS, added tokens, the streaming
 * detokeniser (characters split over byte tokens, emoji, invalid bytes,
 * leading space, hidden specials), byte-level pieces, broken files (message,
 * no crash) and random bytes (never fails, always valid UTF-8 out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "text/tokenizer.h"

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *text)
{
    static char path[160];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* ---- a tiny LLaMA-like tokenizer.json */
enum { UNK, BOS, EOS, BYTE0 = 3, SP = 259, H, E, L, O, W, R, D, HE, LL, HELL, HELLO, SP_HELLO,
       SP_W, SP_WO, SP_WOR, SP_WORL, SP_WORLD, IMAGE };

static const char *spm_json(void)
{
    static char buf[32768];
    static const char *const words[] = {
        "\xe2\x96\x81", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "hell", "hello",
        "\xe2\x96\x81hello", "\xe2\x96\x81w", "\xe2\x96\x81wo", "\xe2\x96\x81wor",
        "\xe2\x96\x81worl", "\xe2\x96\x81world"};
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n,
        "{\"version\":\"1.0\",\"added_tokens\":["
        "{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
        "{\"id\":1,\"content\":\"<s>\",\"special\":true},"
        "{\"id\":2,\"content\":\"</s>\",\"special\":true},"
        "{\"id\":%d,\"content\":\"<image>\",\"special\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":["
        "{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}]},"
        "\"pre_tokenizer\":null,"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
        "{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":["
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},"
        "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
        "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
        "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\",\"vocab\":{"
        "\"<unk>\":0,\"<s>\":1,\"</s>\":2", IMAGE);
    for (int b = 0; b < 256; b++) n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"<0x%02X>\":%d", b, BYTE0 + b);
    for (int i = 0; i < (int)(sizeof words / sizeof words[0]); i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"%s\":%d", words[i], SP + i);
    n += (size_t)snprintf(buf + n, sizeof buf - n,
        "},\"merges\":[\"h e\",\"l l\",\"he ll\",\"hell o\",\"\xe2\x96\x81 hello\",\"\xe2\x96\x81 w\","
        "\"\xe2\x96\x81w o\",\"\xe2\x96\x81wo r\",\"\xe2\x96\x81wor l\",\"\xe2\x96\x81worl d\"]}}");
    assert_true(n < sizeof buf);
    return buf;
}

static iris_tokenizer *spm;

static int setup(void **s)
{
    (void)s;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/iris-tok-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    spm = iris_tokenizer_from_json(write_tmp("spm.json", spm_json()));
    if (!spm) { fprintf(stderr, "%s\n", iris_last_error()); return -1; }
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    iris_tokenizer_free(spm);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int enc(const iris_tokenizer *t, const char *s, int bos, int special, int32_t *ids)
{
    return iris_tokenize(t, s, strlen(s), bos, special, ids, 64);
}

static void test_spm_encode(void **s)
{
    (void)s;
    int32_t ids[64];
    assert_int_equal(enc(spm, "hello world", 0, 0, ids), 2);
    assert_int_equal(ids[0], SP_HELLO);
    assert_int_equal(ids[1], SP_WORLD);
    assert_int_equal(enc(spm, "hello world", 1, 0, ids), 3);
    assert_int_equal(ids[0], BOS);
    assert_int_equal(iris_tokenizer_bos(spm), BOS);
    assert_int_equal(iris_tokenizer_eos(spm), EOS);
    /* é is not in the vocab: its two UTF-8 bytes come out as <0xC3> <0xA9> */
    assert_int_equal(enc(spm, "h\xc3\xa9", 0, 0, ids), 4);
    assert_int_equal(ids[0], SP);
    assert_int_equal(ids[1], H);
    assert_int_equal(ids[2], BYTE0 + 0xc3);
    assert_int_equal(ids[3], BYTE0 + 0xa9);
    assert_int_equal(enc(spm, "", 1, 0, ids), 1);     /* BOS only */
    assert_int_equal(enc(spm, "", 0, 0, ids), 0);
}

static void test_spm_special(void **s)
{
    (void)s;
    int32_t ids[64];
    /* parsed: the special token, then "hello" with its own prefix space */
    assert_int_equal(enc(spm, "<image>hello", 0, 1, ids), 2);
    assert_int_equal(ids[0], IMAGE);
    assert_int_equal(ids[1], SP_HELLO);
    /* not parsed: plain text, spelled with byte tokens */
    int n = enc(spm, "<image>hello", 0, 0, ids);
    assert_true(n > 2);
    for (int i = 0; i < n; i++) assert_int_not_equal(ids[i], IMAGE);
    assert_int_equal(iris_tokenizer_find(spm, "<image>"), IMAGE);
    assert_true(iris_tokenizer_is_special(spm, IMAGE));
    assert_false(iris_tokenizer_is_special(spm, SP_HELLO));
    assert_string_equal(iris_tokenizer_piece(spm, SP_WORLD), "\xe2\x96\x81world");
    assert_null(iris_tokenizer_piece(spm, 100000));
}

/* OpenFlamingo's added tokens: new ids at the end, matched as specials,
 * decoded as their text; an existing entry keeps its id. */
static void test_add_special(void **s)
{
    (void)s;
    iris_tokenizer *t = iris_tokenizer_from_json(write_tmp("add.json", spm_json()));
    if (!t) fail_msg("%s", iris_last_error());
    int v = iris_tokenizer_n_vocab(t);
    assert_int_equal(iris_tokenizer_add_special(t, "<|endofchunk|>"), v);
    assert_int_equal(iris_tokenizer_add_special(t, "<image>"), IMAGE);   /* already there */
    assert_int_equal(iris_tokenizer_add_special(t, "<|endofchunk|>"), v); /* idempotent */
    assert_int_equal(iris_tokenizer_n_vocab(t), v + 1);
    assert_true(iris_tokenizer_is_special(t, v));
    assert_int_equal(iris_tokenizer_add_special(t, ""), -1);
    int32_t ids[64];
    assert_int_equal(enc(t, "hello<|endofchunk|><image>hello", 0, 1, ids), 4);
    assert_int_equal(ids[0], SP_HELLO);
    assert_int_equal(ids[1], v);
    assert_int_equal(ids[2], IMAGE);
    assert_int_equal(ids[3], SP_HELLO);
    iris_detok d;
    char buf[64];
    iris_detok_init(&d, t, 1);
    int n = iris_detok_push(&d, v, buf, sizeof buf);
    assert_int_equal(n, 14);
    assert_memory_equal(buf, "<|endofchunk|>", 14);
    iris_tokenizer_free(t);
}

static void test_small_buffer(void **s)
{
    (void)s;
    int32_t ids[1] = {-7};
    assert_int_equal(iris_tokenize(spm, "hello world hello", 17, 0, 0, ids, 1), 3);
    assert_int_equal(ids[0], SP_HELLO);
    assert_int_equal(iris_tokenize(spm, "hello", 5, 0, 0, NULL, 0), 1);
}

/* pushes ids, returns the concatenated text (static) and each push's size */
static size_t detok_len;
static const char *detok_run(const iris_tokenizer *t, const int32_t *ids, int n, int show, int *sizes)
{
    static char all[8192];
    char out[256];
    iris_detok d;
    size_t len = 0;
    iris_detok_init(&d, t, show);
    for (int i = 0; i < n; i++) {
        int k = iris_detok_push(&d, ids[i], out, sizeof out);
        assert_true(k >= 0 && k < (int)sizeof out && out[k] == 0);
        if (sizes) sizes[i] = k;
        memcpy(all + len, out, (size_t)k); len += (size_t)k;
    }
    int k = iris_detok_flush(&d, out, sizeof out);
    if (sizes) sizes[n] = k;
    memcpy(all + len, out, (size_t)k); len += (size_t)k;
    all[len] = 0;
    detok_len = len;
    return all;
}

#define B(x) (BYTE0 + (x))

static void test_detok_words(void **s)
{
    (void)s;
    int32_t ids[] = {BOS, SP_HELLO, SP_WORLD, EOS};
    int sizes[5];
    assert_string_equal(detok_run(spm, ids, 4, 0, sizes), "hello world");
    assert_int_equal(sizes[0], 0);
    assert_int_equal(sizes[1], 5);     /* leading space of the first word dropped */
    assert_int_equal(sizes[2], 6);
    assert_string_equal(detok_run(spm, ids, 4, 1, NULL), "<s> hello world</s>");
}

static void test_detok_utf8(void **s)
{
    (void)s;
    int sizes[8];
    int32_t e_acute[] = {B(0xc3), B(0xa9)};
    assert_string_equal(detok_run(spm, e_acute, 2, 0, sizes), "\xc3\xa9");
    assert_int_equal(sizes[0], 0);     /* half a character is held back */
    assert_int_equal(sizes[1], 2);

    int32_t llama[] = {SP, B(0xf0), B(0x9f), B(0xa6), B(0x99), H};   /* " 🦙h" */
    assert_string_equal(detok_run(spm, llama, 6, 0, sizes), "\xf0\x9f\xa6\x99h");
    assert_int_equal(sizes[1], 0);
    assert_int_equal(sizes[2], 0);
    assert_int_equal(sizes[3], 0);
    assert_int_equal(sizes[4], 4);

    int32_t invalid[] = {B(0xff), H};
    assert_string_equal(detok_run(spm, invalid, 2, 0, NULL), "\xef\xbf\xbdh");
    int32_t cut[] = {B(0xc3), H};                     /* lead byte, then ASCII */
    assert_string_equal(detok_run(spm, cut, 2, 0, NULL), "\xef\xbf\xbdh");
    int32_t surrogate[] = {B(0xed), B(0xa0), B(0x80)};
    assert_string_equal(detok_run(spm, surrogate, 3, 0, NULL),
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    int32_t dangling[] = {H, B(0xe2), B(0x96)};        /* flushed at the end */
    assert_string_equal(detok_run(spm, dangling, 3, 0, sizes), "h\xef\xbf\xbd");
    assert_int_equal(sizes[3], 3);
    int32_t bad_ids[] = {-1, 1 << 20, H};
    assert_string_equal(detok_run(spm, bad_ids, 3, 0, NULL), "h");
}

/* ---- byte-level: vocab = the 256 byte code points, one merge */
static int byte_cp(int b)
{
    int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
    if (printable) return b;
    int n = 0;
    for (int i = 0; i < b; i++)
        n += !((i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || (i >= 0xae));
    return 256 + n;
}

static void test_byte_level(void **s)
{
    (void)s;
    static char buf[16384];
    size_t n = (size_t)snprintf(buf, sizeof buf,
        "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
        "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (int b = 0; b < 256; b++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"\\u%04x\":%d", b ? "," : "", byte_cp(b), b);
    n += (size_t)snprintf(buf + n, sizeof buf - n,
        ",\"\\u00c3\\u00a9\":256,\"\\u0120h\":257,\"");
    for (int i = 0; i < 600; i++) buf[n++] = 'a';   /* a 600-byte piece, id 258 */
    n += (size_t)snprintf(buf + n, sizeof buf - n,
        "\":258},\"merges\":[\"\\u00c3 \\u00a9\",\"\\u0120 h\"]}}");
    iris_tokenizer *t = iris_tokenizer_from_json(write_tmp("bl.json", buf));
    if (!t) fail_msg("%s", iris_last_error());
    int32_t ids[64];
    assert_int_equal(enc(t, "h\xc3\xa9 h", 0, 0, ids), 3);
    assert_int_equal(ids[0], 'h');
    assert_int_equal(ids[1], 256);
    assert_int_equal(ids[2], 257);
    assert_int_equal(iris_tokenizer_bos(t), -1);
    int32_t split[] = {0xc3, 0xa9, 257, '\n'};
    int sizes[5];
    assert_string_equal(detok_run(t, split, 4, 0, sizes), "\xc3\xa9 h\n");
    assert_int_equal(sizes[0], 0);
    assert_int_equal(sizes[2], 2);    /* no SentencePiece space stripping here */

    /* pieces longer than the caller's buffer are written over several calls */
    iris_detok d;
    char out[256], all[2048];
    size_t len = 0;
    iris_detok_init(&d, t, 0);
    int32_t seq[] = {258, 0xc3, 0xa9, 258, 'z'};
    for (int i = 0; i < 5; i++) {
        int k = iris_detok_push(&d, seq[i], out, sizeof out);
        assert_true(k >= 0 && k < (int)sizeof out);
        memcpy(all + len, out, (size_t)k); len += (size_t)k;
    }
    for (int k; (k = iris_detok_flush(&d, out, sizeof out)) > 0; ) {
        memcpy(all + len, out, (size_t)k); len += (size_t)k;
    }
    assert_int_equal(len, 600 + 2 + 600 + 1);
    for (int i = 0; i < 600; i++) assert_int_equal(all[i], 'a');
    assert_memory_equal(all + 600, "\xc3\xa9", 2);
    assert_int_equal(all[len - 1], 'z');
    iris_tokenizer_free(t);
}

/* ---- broken files: a message naming the file, never a crash */
static void expect_error(const char *name, const char *json, const char *phrase)
{
    const char *path = json ? write_tmp(name, json) : name;
    iris_clear_error();
    iris_tokenizer *t = iris_tokenizer_from_json(path);
    assert_null(t);
    const char *msg = iris_last_error();
    if (!strstr(msg, phrase) || !strstr(msg, json ? name : path))
        fail_msg("message \"%s\" lacks \"%s\"", msg, phrase);
    assert_null(strchr(msg, '\n'));
}

static void test_bad_files(void **s)
{
    (void)s;
    expect_error("/nonexistent/tokenizer.json", NULL, "cannot open");
    expect_error("bad1.json", "{\"model\": {\"vocab\": ", "not valid JSON");
    expect_error("bad2.json", "[1, 2]", "not a JSON object");
    expect_error("bad3.json", "{\"added_tokens\": []}", "no \"model\"");
    expect_error("bad4.json", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", "Unigram");
    expect_error("bad5.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
                 "\"merges\":[\"a c\"]}}", "unknown token");
    expect_error("bad6.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},"
                 "\"merges\":[\"a b\"]}}", "not in the vocab");
    expect_error("bad7.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-4}}}", "bad id");
    expect_error("bad8.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},"
                 "\"normalizer\":{\"type\":\"Precompiled\"}}", "Precompiled");
    expect_error("bad9.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},"
                 "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}",
                 "regex");
    expect_error("bad10.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}}",
                 "left right");
    iris_clear_error();
    assert_null(iris_tokenizer_load("/nonexistent/model"));
    assert_non_null(strstr(iris_last_error(), "/nonexistent/model"));
    assert_null(iris_tokenizer_load(tmpdir));          /* a directory without tokenizer.json */
    assert_non_null(strstr(iris_last_error(), "no tokenizer.json"));
}

/* ---- random bytes: encode never fails, detok always yields valid UTF-8 */
static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; ) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3
                 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++) if ((s[i + j] & 0xc0) != 0x80) return 0;
        i += k;
    }
    return 1;
}

static void test_random_bytes(void **s)
{
    (void)s;
    unsigned seed = 12345;
    for (int round = 0; round < 300; round++) {
        unsigned char text[200];
        int len = (int)(rand_r(&seed) % sizeof text);
        for (int i = 0; i < len; i++) {
            int r = rand_r(&seed) % 4;
            text[i] = r == 0 ? (unsigned char)(rand_r(&seed) & 0xff)
                    : r == 1 ? (unsigned char)"hello world <s>\n"[rand_r(&seed) % 16]
                    : (unsigned char)(0x80 + rand_r(&seed) % 0x40);
        }
        int32_t ids[1024];
        int n = iris_tokenize(spm, (const char *)text, (size_t)len, 1, round & 1, ids, 1024);
        assert_true(n >= 1 && n <= 1024);
        const char *out = detok_run(spm, ids, n, round & 2, NULL);
        assert_true(valid_utf8((const unsigned char *)out, detok_len));
    }
}

static void test_mask_nul(void **s)
{
    (void)s;
    char text[] = {'\0', 'a', '\0', '\0', 'b', '\0'};
    iris_text_mask_nul(text, sizeof text);
    assert_memory_equal(text, "?a??b?", sizeof text);
    char none[] = "ab";
    iris_text_mask_nul(none, 2);   /* the terminator past n stays */
    assert_string_equal(none, "ab");
    iris_text_mask_nul(none, 0);
    assert_string_equal(none, "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_encode),
        cmocka_unit_test(test_spm_special),
        cmocka_unit_test(test_add_special),
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_detok_words),
        cmocka_unit_test(test_detok_utf8),
        cmocka_unit_test(test_byte_level),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_mask_nul),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

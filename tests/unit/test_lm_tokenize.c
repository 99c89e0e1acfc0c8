/* iris_lm_tokenize with an mmproj: the text "<image>" becomes the virtual
 * image id and every piece around it is tokenized on its own, BOS only before
 * the first (llama.cpp's llava-cli); the count/cap contract of iris_tokenize
 * holds; without an mmproj it is plain iris_tokenize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "nets/lm.h"
#include "text/tokenizer.h"

#define IMG 5000

/* A byte-level BPE vocabulary: the printable ASCII bytes as GPT-2 maps them
 * (plus space and newline), a few merges, <s> as BOS. */
static iris_tokenizer *make_tokenizer(void)
{
    char path[] = "/tmp/iris-lmtok-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "{\"added_tokens\":[{\"id\":0,\"content\":\"<s>\",\"special\":true}],"
               "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
               "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},"
               "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[0]}}},"
               "\"model\":{\"type\":\"BPE\",\"vocab\":{\"<s>\":0,\"\\u0120\":1,\"\\u010a\":2");
    int id = 3;
    for (int c = 33; c < 127; c++) {
        if (c == '"' || c == '\\') fprintf(f, ",\"\\%c\":%d", c, id++);
        else fprintf(f, ",\"%c\":%d", c, id++);
    }
    fprintf(f, ",\"ab\":%d,\"\\u0120a\":%d,\"<i\":%d},\"merges\":[\"a b\",\"\\u0120 a\",\"< i\"]}}", id, id + 1, id + 2);
    fclose(f);
    iris_tokenizer *t = iris_tokenizer_from_json(path);
    unlink(path);
    assert_non_null(t);
    return t;
}

/* The expected ids: the pieces tokenized one by one, IMG between them. */
static int expect(const iris_tokenizer *t, const char *const *pieces, int n_pieces, int bos, int32_t *out)
{
    int n = 0;
    for (int i = 0; i < n_pieces; i++) {
        if (i) out[n++] = IMG;
        int b = bos && i == 0;
        if (*pieces[i] || b) n += iris_tokenize(t, pieces[i], strlen(pieces[i]), b, 1, out + n, 256 - n);
    }
    return n;
}

static void check(const iris_lm *lm, const char *text, const char *const *pieces, int n_pieces, int bos)
{
    int32_t want[256], got[256];
    int nw = expect(lm->tok, pieces, n_pieces, bos, want);
    int ng = iris_lm_tokenize(lm, text, strlen(text), bos, got, 256);
    assert_int_equal(ng, nw);
    assert_memory_equal(got, want, (size_t)nw * sizeof *got);
    /* counting with no buffer, and a short buffer: the full count, a prefix written */
    assert_int_equal(iris_lm_tokenize(lm, text, strlen(text), bos, NULL, 0), nw);
    if (nw > 1) {
        int32_t part[256];
        memset(part, 0x7f, sizeof part);
        assert_int_equal(iris_lm_tokenize(lm, text, strlen(text), bos, part, nw - 1), nw);
        assert_memory_equal(part, want, (size_t)(nw - 1) * sizeof *part);
        assert_int_equal(part[nw - 1], 0x7f7f7f7f);   /* nothing past cap */
    }
}

static void test_marker_splits(void **state)
{
    (void)state;
    iris_lm lm;
    memset(&lm, 0, sizeof lm);
    lm.tok = make_tokenizer();
    lm.image_marker_text = 1;
    lm.image_token_id = IMG;
    {
        const char *p[] = {"USER: ", "\nWhat is ab? ASSISTANT:"};
        check(&lm, "USER: <image>\nWhat is ab? ASSISTANT:", p, 2, 1);
        check(&lm, "USER: <image>\nWhat is ab? ASSISTANT:", p, 2, 0);
    }
    {
        const char *p[] = {"", "", " ab"};
        check(&lm, "<image><image> ab", p, 3, 1);
        check(&lm, "<image><image> ab", p, 3, 0);
    }
    {
        const char *p[] = {"ab ", ""};
        check(&lm, "ab <image>", p, 2, 1);
    }
    {
        const char *p[] = {"no marker <imag> here <i"};
        check(&lm, "no marker <imag> here <i", p, 1, 1);
    }
    /* len cuts the marker: it is plain text then */
    int32_t a[64], b[64];
    const char *text = "ab<image>";
    int na = iris_lm_tokenize(&lm, text, 5, 1, a, 64);
    int nb = iris_tokenize(lm.tok, text, 5, 1, 1, b, 64);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na * sizeof *a);
    /* an empty prompt is just BOS, or nothing */
    assert_int_equal(iris_lm_tokenize(&lm, "", 0, 1, a, 64), 1);
    assert_int_equal(a[0], 0);
    assert_int_equal(iris_lm_tokenize(&lm, "", 0, 0, a, 64), 0);
    iris_tokenizer_free(lm.tok);
}

static void test_without_mmproj_is_plain(void **state)
{
    (void)state;
    iris_lm lm;
    memset(&lm, 0, sizeof lm);
    lm.tok = make_tokenizer();
    lm.image_token_id = -1;
    const char *text = "USER: <image>\nab";
    int32_t a[64], b[64];
    int na = iris_lm_tokenize(&lm, text, strlen(text), 1, a, 64);
    int nb = iris_tokenize(lm.tok, text, strlen(text), 1, 1, b, 64);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na * sizeof *a);
    for (int i = 0; i < na; i++) assert_int_not_equal(a[i], IMG);
    iris_tokenizer_free(lm.tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marker_splits),
        cmocka_unit_test(test_without_mmproj_is_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

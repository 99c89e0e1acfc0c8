/* test_tokenizer_build.c — the byte-level BPE builder behind iris new-model:
 * the file it writes loads in iris's tokenizer, the corpus's words become
 * single tokens, other text still encodes (and decodes back), the id layout
 * (specials, 256 bytes, merges) holds, the same corpus gives the same file,
 * and bad options fail with a message (no crash).  The comparison with the
 * tokenizers library is in tests/integration/test_tiny_model.py. */
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
#include "text/tokenizer_build.h"

static const char *const SPECIALS[] = {"<s>", "</s>", "<pad>", "<image>"};
static const char *const CORPUS[] = {"What color is the circle?", " red", " purple", "a blue letter Q",
                                     "What color is the star?", " red"};

static iris_tokenizer *load(const char *json)
{
    char path[] = "/tmp/iris-tokbuild-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    iris_tokenizer *t = iris_tokenizer_from_json(path);
    unlink(path);
    return t;
}

static int encode(iris_tokenizer *t, const char *s, int32_t *ids, int cap)
{
    return iris_tokenize(t, s, strlen(s), 0, 1, ids, cap);
}

static void test_words_are_single_tokens(void **state)
{
    (void)state;
    iris_bpe_build_opts o = {.texts = CORPUS, .n_texts = 6, .specials = SPECIALS, .n_specials = 4};
    int n_vocab = 0;
    char *json = iris_bpe_build_json(&o, &n_vocab);
    assert_non_null(json);
    iris_tokenizer *t = load(json);
    assert_non_null(t);
    assert_int_equal(iris_tokenizer_n_vocab(t), n_vocab);
    assert_int_equal(iris_tokenizer_bos(t), 0);
    assert_int_equal(iris_tokenizer_eos(t), 1);
    assert_int_equal(iris_tokenizer_find(t, "<image>"), 3);
    assert_int_equal(iris_tokenizer_find(t, "a"), 4 + 'a');   /* bytes follow the specials */
    int32_t ids[64];
    /* What | Ġcolor | Ġis | Ġthe | Ġstar | ? | Ġpurple */
    assert_int_equal(encode(t, "What color is the star? purple", ids, 64), 7);
    assert_true(ids[0] >= 260 && ids[6] >= 260);
    assert_int_equal(iris_tokenizer_find(t, "\xc4\xa0purple"), ids[6]);
    /* <image> is one special token; unseen text falls back to bytes and decodes back */
    assert_int_equal(encode(t, "<image>", ids, 64), 1);
    assert_int_equal(ids[0], 3);
    const char *odd = "zebra \xe4\xb8\xad!";
    int n = encode(t, odd, ids, 64);
    assert_true(n > 5);
    iris_detok d;
    iris_detok_init(&d, t, 0);
    char out[256], all[256] = "";
    for (int i = 0; i < n; i++) {
        iris_detok_push(&d, ids[i], out, sizeof out);
        strcat(all, out);
    }
    iris_detok_flush(&d, out, sizeof out);
    strcat(all, out);
    assert_string_equal(all, odd);
    /* same corpus, same file */
    char *again = iris_bpe_build_json(&o, NULL);
    assert_non_null(again);
    assert_string_equal(json, again);
    free(again);
    iris_tokenizer_free(t);
    free(json);
}

static void test_max_vocab(void **state)
{
    (void)state;
    iris_bpe_build_opts o = {.texts = CORPUS, .n_texts = 6, .specials = SPECIALS, .n_specials = 4,
                             .max_vocab = 270};
    int n_vocab = 0;
    char *json = iris_bpe_build_json(&o, &n_vocab);
    assert_non_null(json);
    assert_true(n_vocab <= 270 && n_vocab >= 260);
    free(json);
}

static void test_bad_options(void **state)
{
    (void)state;
    static const char *const one[] = {"<s>"}, *const dup[] = {"<s>", "<s>"}, *const empty[] = {"<s>", ""};
    iris_bpe_build_opts o = {.texts = CORPUS, .n_texts = 6, .specials = one, .n_specials = 1};
    assert_null(iris_bpe_build_json(&o, NULL));
    assert_non_null(strstr(iris_last_error(), "BOS"));
    o.specials = dup;
    o.n_specials = 2;
    assert_null(iris_bpe_build_json(&o, NULL));
    assert_non_null(strstr(iris_last_error(), "twice"));
    o.specials = empty;
    assert_null(iris_bpe_build_json(&o, NULL));
    assert_non_null(strstr(iris_last_error(), "empty"));
    assert_null(iris_bpe_build_json(NULL, NULL));
    /* an empty corpus still gives a working byte-level tokenizer */
    iris_bpe_build_opts e = {.specials = SPECIALS, .n_specials = 4};
    int n_vocab = 0;
    char *json = iris_bpe_build_json(&e, &n_vocab);
    assert_non_null(json);
    assert_int_equal(n_vocab, 260);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_are_single_tokens),
        cmocka_unit_test(test_max_vocab),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

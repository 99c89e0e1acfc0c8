/* test_tokenizer_vectors.c — llama.cpp's tokenizer test vectors: every case
 * of every ggml-vocab-*.gguf in ../shared/testdata/tokenizers must give
 * exactly the expected ids (no BOS, special tokens not parsed).  Skips with
 * a message when the shared data is absent (IRIS_SHARED overrides ../shared). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "text/tokenizer.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    if (p) { p[n] = 0; *len = (size_t)n; }
    return p;
}

static const char *data_dir(void)
{
    static char dir[4096];
    const char *shared = getenv("IRIS_SHARED");
    snprintf(dir, sizeof dir, "%s/testdata/tokenizers", shared && *shared ? shared : "../shared");
    return dir;
}

static void run_vocab(const char *name)
{
    char path[4200], inp_path[4300], out_path[4300];
    struct stat st;
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", data_dir(), name);
    if (stat(path, &st) != 0) {
        printf("SKIP: %s absent (tokenizer vectors live in ../shared/testdata/tokenizers)\n", path);
        skip();
    }
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);

    iris_tokenizer *t = iris_tokenizer_load(path);
    if (!t) fail_msg("%s", iris_last_error());
    size_t ilen, olen;
    char *inp = slurp(inp_path, &ilen), *out = slurp(out_path, &olen);
    assert_non_null(inp);
    assert_non_null(out);

    static const char SEP[] = "\n__ggml_vocab_test__\n";
    char *s = inp, *line = out;
    int cases = 0, bad = 0;
    int32_t ids[4096];
    for (;;) {
        char *end = strstr(s, SEP);
        if (!end) break;
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = 0;
        int32_t want[4096];
        int nw = 0;
        for (char *tok = strtok(line, " "); tok; tok = strtok(NULL, " ")) want[nw++] = atoi(tok);

        int n = iris_tokenize(t, s, (size_t)(end - s), 0, 0, ids, 4096);
        assert_true(n >= 0 && n <= 4096);
        if (n != nw || memcmp(ids, want, (size_t)n * sizeof *ids) != 0) {
            bad++;
            printf("%s case %d (\"%.*s\"): expected %d ids, got %d:", name, cases,
                   (int)(end - s > 40 ? 40 : end - s), s, nw, n);
            for (int i = 0; i < n && i < 16; i++) printf(" %d", ids[i]);
            printf("\n");
        }
        cases++;
        s = end + strlen(SEP);
        line = nl + 1;
    }
    printf("%s: %d cases, %d mismatches\n", name, cases, bad);
    assert_true(cases >= 40);
    assert_int_equal(bad, 0);
    free(inp); free(out);
    iris_tokenizer_free(t);
}

static void test_llama_spm(void **s) { (void)s; run_vocab("llama-spm"); }
static void test_phi3(void **s) { (void)s; run_vocab("phi-3"); }
static void test_gpt2(void **s) { (void)s; run_vocab("gpt-2"); }
static void test_mpt(void **s) { (void)s; run_vocab("mpt"); }
static void test_falcon(void **s) { (void)s; run_vocab("falcon"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm),
        cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_mpt),
        cmocka_unit_test(test_falcon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

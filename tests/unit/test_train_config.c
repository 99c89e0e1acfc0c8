/* test_train_config.c — the training run's plumbing: INI keys (errors,
 * ranges, every key documented in man/iris.1), learning-rate schedules
 * against transformers', the LLaVA JSON indexer (malformed input, JSON
 * Lines), seeded shuffling, LoRA target parsing and dropout masks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/file_util.h"
#include "helpers/pyref.h"
#include "train/dataset.h"
#include "train/lora.h"
#include "train/optim.h"
#include "train/train_config.h"

static char tmpdir[64];

static int setup(void **s)
{
    (void)s;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/iris-tcfg-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_config_parses_and_rejects(void **s)
{
    (void)s;
    iris_train_config c;
    iris_train_config_defaults(&c);
    const char *p = write_tmp("ok.ini", "[model]\nbase = /m\n[data]\ndata = /d.json\ntemplate = plain\n"
                                        "[train]\nmode = full\nlr = 1e-3\nschedule = linear\n"
                                        "gradient_checkpointing = no\n[lora]\nlayers = 2-5\ntargets = q,v\n");
    assert_int_equal(iris_train_config_load(&c, p), 0);
    assert_string_equal(c.base, "/m");
    assert_int_equal(c.mode, IRIS_TRAIN_FULL);
    assert_int_equal(c.schedule, IRIS_SCHED_LINEAR);
    assert_int_equal(c.gradient_checkpointing, 0);
    assert_true(fabsf(c.lr - 1e-3f) < 1e-9f);
    iris_lora_config lc;
    assert_int_equal(iris_train_config_lora(&c, &lc), 0);
    assert_int_equal(lc.layer_first, 2);
    assert_int_equal(lc.layer_last, 5);
    assert_int_equal(lc.targets, (1u << IRIS_LM_Q) | (1u << IRIS_LM_V));

    struct { const char *text, *needle; } bad[] = {
        {"[model]\nbase = /m\n[data]\ndata = d\n[train]\nlearning_rate = 1\n", "learning_rate"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[train]\nlr = -1\n", "out of range"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[train]\nbatch_size = 0\n", "train.batch_size"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[train]\nepochs = two\n", "not an integer"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[lora]\ndropout = 1\n", "lora.dropout"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[lora]\ntargets = qq_proj\n", "qq_proj"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[lora]\nlayers = 5-2\n", "lora.layers"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[data]\nshuffle = maybe\n", "boolean"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[train]\nmode = everything\n", "everything"},
        {"[data]\ndata = d\n", "base"},
        {"[model]\nbase = /m\n[data]\ndata = d\nthis is not ini\n", "bad.ini:5"},
        {"[model]\nbase = /m\n[data]\ndata = d\n[colour]\nred = 1\n", "colour.red"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        iris_train_config_defaults(&c);
        const char *bp = write_tmp("bad.ini", bad[i].text);
        assert_int_equal(iris_train_config_load(&c, bp), -1);
        if (!strstr(iris_last_error(), bad[i].needle)) fail_msg("'%s' lacks '%s'", iris_last_error(), bad[i].needle);
        assert_non_null(strstr(iris_last_error(), "bad.ini"));
    }
}

static void test_config_round_trips(void **s)
{
    (void)s;
    iris_train_config a, b;
    iris_train_config_defaults(&a);
    snprintf(a.base, sizeof a.base, "/x");
    snprintf(a.data, sizeof a.data, "/y");
    a.lr = 3.25e-4f;
    a.seed = 123456789012ull;
    char path[256];
    snprintf(path, sizeof path, "%s/rt.ini", tmpdir);
    FILE *f = fopen(path, "w");
    assert_int_equal(iris_train_config_write(&a, f), 0);
    fclose(f);
    iris_train_config_defaults(&b);
    assert_int_equal(iris_train_config_load(&b, path), 0);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_every_key_is_in_the_man_page(void **s)
{
    (void)s;
    size_t len;
    char *man = iris_read_file("man/iris.1", &len, 1 << 22);
    assert_non_null(man);
    assert_non_null(strstr(man, ".Sh TRAINING CONFIGURATION"));
    for (const char *const *k = iris_train_config_keys(); *k; k++) {
        const char *key = strchr(*k, '.') + 1, *sec = *k;
        char want[96], head[64];
        snprintf(head, sizeof head, ".Ss [%.*s]", (int)(key - 1 - sec), sec);
        const char *at = strstr(man, head);
        if (!at) {
            fail_msg("man page lacks section %s", head);
            return;
        }
        const char *end = strstr(at + 1, ".Ss ");
        if (!end) end = strstr(at, ".Sh ");
        snprintf(want, sizeof want, "Li %s\n", key);
        const char *hit = strstr(at, want);
        snprintf(want, sizeof want, "Li %s ", key);
        const char *hit2 = strstr(at, want);
        if ((!hit || (end && hit > end)) && (!hit2 || (end && hit2 > end)))
            fail_msg("man page does not document %s", *k);
    }
    free(man);
}

static void test_schedules_match_transformers(void **s)
{
    (void)s;
    PYREF_REQUIRE();
    enum { TOTAL = 37, WARM = 5 };
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_param(r, "total", TOTAL);
    pyref_param(r, "warmup", WARM);
    assert_int_equal(pyref_run(r, "train_ref", "schedules"), 0);
    float *ref = pyref_get_f32(r, "lr", 3 * TOTAL);
    assert_non_null(ref);
    int kinds[3] = {IRIS_SCHED_CONSTANT, IRIS_SCHED_LINEAR, IRIS_SCHED_COSINE};
    for (int k = 0; k < 3; k++) {
        iris_schedule sc = {.kind = kinds[k], .warmup_steps = WARM, .total_steps = TOTAL};
        for (int i = 0; i < TOTAL; i++)
            assert_true(fabs(iris_schedule_factor(&sc, i) - ref[k * TOTAL + i]) < 1e-6);
    }
    iris_schedule ex = {.kind = IRIS_SCHED_EXPONENTIAL, .warmup_steps = 2, .total_steps = 12, .min_ratio = 0.01f};
    assert_true(fabs(iris_schedule_factor(&ex, 1) - 0.5) < 1e-12);
    assert_true(fabs(iris_schedule_factor(&ex, 2) - 1.0) < 1e-6);
    assert_true(fabs(iris_schedule_factor(&ex, 7) - 0.1) < 1e-6);
    free(ref);
    pyref_free(r);
}

static void test_dataset_index(void **s)
{
    (void)s;
    iris_dataset d;
    const char *p = write_tmp("l.json", " [ {\"id\": 1, \"t\": \"a ] } \\\" {\"}, {\"id\": [2, {\"x\": 3}]} ,\n{\"id\":3}]\n");
    assert_int_equal(iris_dataset_open(&d, p), 0);
    assert_int_equal(d.n, 3);
    cJSON *j = iris_dataset_record(&d, 1);
    assert_non_null(j);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "id")));
    cJSON_Delete(j);
    j = iris_dataset_record(&d, 0);
    assert_string_equal(cJSON_GetObjectItem(j, "t")->valuestring, "a ] } \" {");
    cJSON_Delete(j);
    iris_dataset_close(&d);
    p = write_tmp("l.jsonl", "{\"id\": 1}\n{\"id\": 2}\n\n{\"id\": 3}\n");
    assert_int_equal(iris_dataset_open(&d, p), 0);
    assert_int_equal(d.n, 3);
    iris_dataset_close(&d);
    /* a record that is structurally closed but not valid JSON fails when read */
    p = write_tmp("v.json", "[{\"id\": 1}, {\"id\": 2,,}]");
    assert_int_equal(iris_dataset_open(&d, p), 0);
    assert_null(iris_dataset_record(&d, 1));
    assert_non_null(strstr(iris_last_error(), "record 1"));
    iris_dataset_close(&d);
    const char *bad[] = {"[{\"id\": 1}, {\"id\": 2}", "[{\"id\": 1} {\"id\": 2}]", "[{\"id\": 1}],", "",
                         "[1, 2]", "{\"id\": \"unterminated}", "[{\"id\": 1}]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_tmp("b.json", bad[i]);
        assert_int_equal(iris_dataset_open(&d, p), -1);
        assert_non_null(strstr(iris_last_error(), "b.json"));
        assert_non_null(strstr(iris_last_error(), "malformed") ? iris_last_error() : strstr(iris_last_error(), "no records"));
    }
    assert_int_equal(iris_dataset_open(&d, "/nonexistent/x.json"), -1);
}

static void test_shuffle_is_a_seeded_permutation(void **s)
{
    (void)s;
    enum { N = 1000 };
    int32_t a[N], b[N], c[N];
    iris_dataset_order(N, 7, 0, 1, a);
    iris_dataset_order(N, 7, 0, 1, b);
    iris_dataset_order(N, 7, 1, 1, c);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    char seen[N] = {0};
    for (int i = 0; i < N; i++) seen[a[i]]++;
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    iris_dataset_order(N, 7, 0, 0, a);
    for (int i = 0; i < N; i++) assert_int_equal(a[i], i);
}

static void test_dropout_masks(void **s)
{
    (void)s;
    enum { N = 20000 };
    float *x = malloc(N * 4), *y = malloc(N * 4), *dx = calloc(N, 4);
    assert_true(x && y && dx);
    for (int i = 0; i < N; i++) x[i] = 1.0f;
    iris_dropout(y, x, N, 0.25f, 99);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        assert_true(y[i] == 0.0f || fabsf(y[i] - 1.0f / 0.75f) < 1e-6f);
        kept += y[i] != 0.0f;
    }
    assert_true(kept > N * 0.72 && kept < N * 0.78);
    iris_dropout_backward_add(dx, x, N, 0.25f, 99);
    assert_memory_equal(dx, y, N * 4);   /* the same masks */
    free(x), free(y), free(dx);
    iris_lora_config lc = {0};
    assert_int_equal(iris_lora_parse_targets(&lc, "all-linear"), 0);
    assert_int_equal(lc.targets, (1u << IRIS_LM_COUNT) - 1);
    assert_int_equal(iris_lora_parse_targets(&lc, ""), -1);
    lc.r = 16, lc.alpha = 32;
    assert_true(fabsf(iris_lora_scale(&lc) - 2.0f) < 1e-6f);
    lc.rslora = 1;
    assert_true(fabsf(iris_lora_scale(&lc) - 8.0f) < 1e-6f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_parses_and_rejects),
        cmocka_unit_test(test_config_round_trips),
        cmocka_unit_test(test_every_key_is_in_the_man_page),
        cmocka_unit_test(test_schedules_match_transformers),
        cmocka_unit_test(test_dataset_index),
        cmocka_unit_test(test_shuffle_is_a_seeded_permutation),
        cmocka_unit_test(test_dropout_masks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

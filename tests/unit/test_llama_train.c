/* test_llama_train.c — gradients of the training decoder against PyTorch:
 * attention backward against autograd, and a whole tiny model (every
 * parameter, LoRA included) against transformers + peft on the same weights
 * and batch; gradient checkpointing gives the same gradients. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/backend.h"
#include "core/backend_train.h"
#include "core/cpu_train_attention.h"
#include "formats/weights.h"
#include "helpers/pyref.h"
#include "helpers/random_llama.h"
#include "train/llama_train.h"

static unsigned rng = 12345u;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static double rel_err(const float *a, const float *b, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void test_attention_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    const int cases[][4] = {{9, 4, 2, 8}, {17, 2, 2, 16}, {5, 6, 1, 4}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n = cases[c][0], nh = cases[c][1], nkv = cases[c][2], hd = cases[c][3];
        size_t nq = (size_t)n * nh * hd, nk = (size_t)n * nkv * hd;
        float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *dout = malloc(nq * 4);
        float *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
        assert_true(q && k && v && dout && dq && dk && dv);
        for (size_t i = 0; i < nq; i++) q[i] = frand(), dout[i] = frand();
        for (size_t i = 0; i < nk; i++) k[i] = frand(), v[i] = frand();
        cpu_attention_backward(dq, dk, dv, dout, q, k, v, n, nh, nkv, hd, 1.0f / sqrtf((float)hd), 1);
        pyref *r = pyref_new();
        assert_non_null(r);
        pyref_put_f32(r, "q", q, nq);
        pyref_put_f32(r, "k", k, nk);
        pyref_put_f32(r, "v", v, nk);
        pyref_put_f32(r, "dout", dout, nq);
        pyref_param(r, "n", n);
        pyref_param(r, "nh", nh);
        pyref_param(r, "nkv", nkv);
        pyref_param(r, "hd", hd);
        assert_int_equal(pyref_run(r, "train_ref", "attn_bwd"), 0);
        float *rq = pyref_get_f32(r, "dq", nq), *rk = pyref_get_f32(r, "dk", nk), *rv = pyref_get_f32(r, "dv", nk);
        assert_true(rq && rk && rv);
        double eq = rel_err(dq, rq, (long)nq), ek = rel_err(dk, rk, (long)nk), ev = rel_err(dv, rv, (long)nk);
        print_message("attention backward n=%d heads=%d/%d: rel err dq %.2e dk %.2e dv %.2e\n", n, nh, nkv, eq, ek, ev);
        assert_true(eq <= 1e-4 && ek <= 1e-4 && ev <= 1e-4);
        free(rq), free(rk), free(rv);
        pyref_free(r);
        free(q), free(k), free(v), free(dout), free(dq), free(dk), free(dv);
    }
}

typedef struct {
    char dir[64];
    iris_weights w;
    iris_llama_config cfg;
    iris_llama_train m;
} fixture;

static void make_model(fixture *f, iris_arch arch, int lora_r, int rslora, int checkpointing)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/iris-train-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->cfg = random_llama_config(arch);
    assert_int_equal(random_llama_write(f->dir, &f->cfg, IRIS_F32, 77u + arch), 0);
    assert_int_equal(iris_weights_open(&f->w, f->dir), 0);
    assert_int_equal(iris_llama_train_init(&f->m, &f->w, &f->cfg, iris_cpu_backend(), iris_cpu_train_ops(),
                                           32, checkpointing), 0);
    assert_int_equal(iris_llama_train_unfreeze_all(&f->m), 0);
    if (lora_r > 0) {
        iris_lora_config lc = {.r = lora_r, .alpha = 2.0f * lora_r + 1, .rslora = rslora,
                               .layer_first = -1, .layer_last = -1};
        assert_int_equal(iris_lora_parse_targets(&lc, "all-linear"), 0);
        assert_int_equal(iris_llama_train_add_lora(&f->m, &lc, 99), 0);
        /* Non-zero B so that A gets a gradient too. */
        for (int i = 0; i < f->m.params.n; i++)
            if (strstr(f->m.params.p[i].name, "lora_B"))
                for (long j = 0; j < f->m.params.p[i].n; j++) f->m.params.p[i].w[j] = 0.3f * frand();
    }
    assert_int_equal(iris_llama_train_prepare(&f->m), 0);
}

static void drop_model(fixture *f)
{
    iris_llama_train_free(&f->m);
    iris_weights_close(&f->w);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
}

static void batch(int n, int vocab, int32_t *ids, int32_t *labels)
{
    for (int i = 0; i < n; i++) {
        ids[i] = (int32_t)((frand() * 0.5f + 0.5f) * (vocab - 1));
        labels[i] = i < 4 || i == 8 ? -100 : ids[i];
    }
    /* id 0 is Gemma's pad token (nn.Embedding padding_idx: no gradient from
     * the lookup); every batch holds it */
    ids[3] = 0;
}

static void check_model(iris_arch arch, int lora_r, int rslora)
{
    fixture f;
    make_model(&f, arch, lora_r, rslora, 0);
    enum { N = 13 };
    int32_t ids[N], labels[N];
    batch(N, f.cfg.vocab_size, ids, labels);
    int counted = 0;
    for (int i = 1; i < N; i++) counted += labels[i] >= 0;
    double loss;
    int cnt;
    iris_params_zero_grad(&f.m.params);
    assert_int_equal(iris_llama_train_step(&f.m, ids, NULL, labels, N, 1.0f / counted, 1, NULL, &loss, &cnt), 0);
    assert_int_equal(cnt, counted);

    long total = 0;
    size_t names_cap = 200 * (size_t)f.m.params.n, nl = 0;
    char *names = malloc(names_cap);
    assert_non_null(names);
    for (int i = 0; i < f.m.params.n; i++) total += f.m.params.p[i].n;
    float *w_all = malloc((size_t)total * 4), *g_all = malloc((size_t)total * 4);
    assert_true(w_all && g_all);
    long off = 0;
    for (int i = 0; i < f.m.params.n; i++) {
        const iris_param *p = &f.m.params.p[i];
        assert_non_null(p->g);
        memcpy(w_all + off, p->w, (size_t)p->n * 4);
        memcpy(g_all + off, p->g, (size_t)p->n * 4);
        off += p->n;
        nl += (size_t)snprintf(names + nl, names_cap - nl, "%s %lld %lld\n", p->name, (long long)p->t.shape[0],
                               p->t.ndim == 2 ? (long long)p->t.shape[1] : 0LL);
    }
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_put_raw(r, "names", names, nl);
    pyref_put_f32(r, "w_all", w_all, (size_t)total);
    pyref_put_i32(r, "ids", ids, N);
    pyref_put_i32(r, "labels", labels, N);
    const iris_llama_config *c = &f.m.cfg;
    pyref_param(r, "arch", arch);
    pyref_param(r, "dim", c->dim);
    pyref_param(r, "ffn", c->ffn_dim);
    pyref_param(r, "layers", c->n_layers);
    pyref_param(r, "heads", c->n_heads);
    pyref_param(r, "kv_heads", c->n_kv_heads);
    pyref_param(r, "head_dim", c->head_dim);
    pyref_param(r, "vocab", c->vocab_size);
    pyref_param(r, "eps", c->norm_eps);
    pyref_param(r, "theta", c->rope_theta);
    pyref_param(r, "tied", c->tied_embeddings);
    pyref_param(r, "lora_r", lora_r);
    pyref_param(r, "lora_alpha", f.m.lora.alpha);
    pyref_param(r, "lora_targets", f.m.lora.targets);
    pyref_param(r, "rslora", rslora);
    pyref_param(r, "grad_scale", 1.0 / counted);
    assert_int_equal(pyref_run(r, "train_ref", "model_grads"), 0);
    float *rloss = pyref_get_f32(r, "loss", 1), *rg = pyref_get_f32(r, "g_all", (size_t)total);
    assert_true(rloss && rg);
    print_message("arch %d lora r=%d%s: loss %.6f (torch %.6f)\n", arch, lora_r, rslora ? " rslora" : "", loss,
                  rloss[0]);
    assert_true(fabs(loss - rloss[0]) <= 1e-4 * fabs(rloss[0]));
    off = 0;
    double worst = 0;
    for (int i = 0; i < f.m.params.n; i++) {
        const iris_param *p = &f.m.params.p[i];
        double e = rel_err(g_all + off, rg + off, p->n);
        if (e > worst) worst = e;
        if (e > 1e-4) print_message("  %s: relative error %.3e\n", p->name, e);
        assert_true(e <= 1e-4);
        off += p->n;
    }
    print_message("  %d parameter tensors, worst relative gradient error %.2e\n", f.m.params.n, worst);
    free(rloss), free(rg), free(w_all), free(g_all), free(names);
    pyref_free(r);
    drop_model(&f);
}

static void test_llama_lora_grads(void **s) { (void)s; PYREF_REQUIRE(); check_model(IRIS_ARCH_LLAMA, 4, 0); }
static void test_llama_rslora_grads(void **s) { (void)s; PYREF_REQUIRE(); check_model(IRIS_ARCH_LLAMA, 3, 1); }
static void test_llama_full_grads(void **s) { (void)s; PYREF_REQUIRE(); check_model(IRIS_ARCH_LLAMA, 0, 0); }
static void test_qwen2_grads(void **s) { (void)s; PYREF_REQUIRE(); check_model(IRIS_ARCH_QWEN2, 2, 0); }
static void test_gemma_grads(void **s) { (void)s; PYREF_REQUIRE(); check_model(IRIS_ARCH_GEMMA, 2, 0); }

/* Checkpointing recomputes layers; the gradients must not change. */
static void test_checkpointing_same_grads(void **s)
{
    (void)s;
    fixture a, b;
    rng = 4242u;
    make_model(&a, IRIS_ARCH_LLAMA, 4, 0, 0);
    rng = 4242u;
    make_model(&b, IRIS_ARCH_LLAMA, 4, 0, 1);
    a.m.lora.dropout = b.m.lora.dropout = 0.0f;
    enum { N = 20 };
    int32_t ids[N], labels[N];
    batch(N, a.cfg.vocab_size, ids, labels);
    double la, lb;
    assert_int_equal(iris_llama_train_step(&a.m, ids, NULL, labels, N, 0.1f, 1, NULL, &la, NULL), 0);
    assert_int_equal(iris_llama_train_step(&b.m, ids, NULL, labels, N, 0.1f, 1, NULL, &lb, NULL), 0);
    assert_true(la == lb);
    for (int i = 0; i < a.m.params.n; i++)
        assert_memory_equal(a.m.params.p[i].g, b.m.params.p[i].g, (size_t)a.m.params.p[i].n * 4);
    drop_model(&a);
    drop_model(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_backward),
        cmocka_unit_test(test_llama_lora_grads),
        cmocka_unit_test(test_llama_rslora_grads),
        cmocka_unit_test(test_llama_full_grads),
        cmocka_unit_test(test_qwen2_grads),
        cmocka_unit_test(test_gemma_grads),
        cmocka_unit_test(test_checkpointing_same_grads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

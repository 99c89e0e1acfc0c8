/* test_decoder_grads.c — gradients of the generic decoders against PyTorch
 * autograd (float64): attention with MPT's ALiBi (transformers'
 * build_mpt_alibi_tensor, power-of-two and other head counts, grouped-query),
 * the plain GELU activations (erf and tanh), and whole random MPT, GPT-NeoX
 * and BioGPT models from transformers' classes (every parameter's gradient,
 * with and without gradient checkpointing), MPT's clip_qkv and mosaic_gpt's
 * QK LayerNorm (OpenFlamingo-3B's MPT-1B; against transformers' MPT with
 * torch LayerNorms hooked on, since transformers has none), and LoRA on them
 * against peft (a fused QKV with one adapter).  Fresh random inputs each
 * run. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/backend.h"
#include "core/backend_train.h"
#include "core/error.h"
#include "formats/weights.h"
#include "helpers/pyref.h"
#include "nets/llama_config.h"
#include "train/llama_train.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
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

/* ||a - b|| / max(||b||, floor) */
static double rel_err_floor(const float *a, const float *b, long n, double floor)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num) / fmax(sqrt(den), floor);
}

static int setup(void **state)
{
    (void)state;
    rng ^= (uint64_t)time(NULL) * 0x2545f4914f6cdd1dull;
    if (!rng) rng = 1;
    printf("# seed state %llu\n", (unsigned long long)rng);
    return 0;
}

static void test_alibi_attention_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    const iris_train_ops *ops = iris_cpu_train_ops();
    assert_non_null(ops->attention_alibi_backward);
    /* n, heads, kv heads, head_dim, max bias */
    const int cases[][5] = {{9, 4, 4, 8, 8}, {17, 6, 6, 16, 8}, {12, 6, 2, 8, 8}, {5, 3, 1, 4, 4}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n = cases[c][0], nh = cases[c][1], nkv = cases[c][2], hd = cases[c][3];
        float max_bias = (float)cases[c][4], scale = 1.0f / sqrtf((float)hd);
        size_t nq = (size_t)n * nh * hd, nk = (size_t)n * nkv * hd;
        float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *dout = malloc(nq * 4);
        float *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
        assert_true(q && k && v && dout && dq && dk && dv);
        for (size_t i = 0; i < nq; i++) q[i] = 2 * frand(), dout[i] = frand();
        for (size_t i = 0; i < nk; i++) k[i] = 2 * frand(), v[i] = frand();
        ops->attention_alibi_backward(dq, dk, dv, dout, q, k, v, n, nh, nkv, hd, scale, 1, max_bias);
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
        pyref_param(r, "scale", scale);
        pyref_param(r, "max_bias", max_bias);
        assert_int_equal(pyref_run(r, "decoder_ref", "attn_alibi_bwd"), 0);
        float *rq = pyref_get_f32(r, "dq", nq), *rk = pyref_get_f32(r, "dk", nk), *rv = pyref_get_f32(r, "dv", nk);
        assert_true(rq && rk && rv);
        double eq = rel_err(dq, rq, (long)nq), ek = rel_err(dk, rk, (long)nk), ev = rel_err(dv, rv, (long)nk);
        print_message("alibi attention backward n=%d heads=%d/%d: rel err dq %.2e dk %.2e dv %.2e\n", n, nh,
                      nkv, eq, ek, ev);
        assert_true(eq <= 1e-4 && ek <= 1e-4 && ev <= 1e-4);
        free(rq), free(rk), free(rv);
        pyref_free(r);
        free(q), free(k), free(v), free(dout), free(dq), free(dk), free(dv);
    }
}

static void test_gelu_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    const iris_train_ops *ops = iris_cpu_train_ops();
    assert_true(ops->gelu_backward && ops->gelu_tanh_backward);
    enum { N = 4099 };
    static float x[N], dy[N], dx[N], dx_alias[N];
    for (int i = 0; i < N; i++) x[i] = 6.0f * frand(), dy[i] = frand();
    x[0] = 0.0f, x[1] = -12.0f, x[2] = 12.0f;
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_put_f32(r, "x", x, N);
    pyref_put_f32(r, "dy", dy, N);
    assert_int_equal(pyref_run(r, "decoder_ref", "gelu_bwd"), 0);
    float *ref_erf = pyref_get_f32(r, "dx_erf", N), *ref_tanh = pyref_get_f32(r, "dx_tanh", N);
    assert_true(ref_erf && ref_tanh);
    ops->gelu_backward(dx, dy, x, N);
    double e1 = rel_err(dx, ref_erf, N);
    for (int i = 0; i < N; i++) dx_alias[i] = dy[i];
    ops->gelu_tanh_backward(dx_alias, dx_alias, x, N); /* dx aliasing dy */
    double e2 = rel_err(dx_alias, ref_tanh, N);
    print_message("gelu backward rel err: erf %.2e tanh %.2e\n", e1, e2);
    assert_true(e1 <= 1e-5 && e2 <= 1e-5);
    free(ref_erf), free(ref_tanh);
    pyref_free(r);
}

/* Share of the count values that sit on a bound of [-c, c], i.e. that the
 * clamp changed (a clip test must clamp some, and not all). */
static double clamped_share(const float *x, long count, float c)
{
    long k = 0;
    for (long i = 0; i < count; i++) k += fabsf(x[i]) >= c;
    return (double)k / (double)count;
}

/* arch 0 MPT, 1 GPT-NeoX, 2 BioGPT; variant 1: the other switches; MPT
 * variants 2, 3: mosaic_gpt with QK LayerNorm (3: with biases, after
 * clip_qkv), 4: clip_qkv (see decoder_ref.py). */
static void check_model(int arch, int variant, int checkpointing)
{
    enum { N = 13, VOCAB = 97 };
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_param(r, "arch", arch);
    pyref_param(r, "variant", variant);
    pyref_param(r, "vocab", VOCAB);
    pyref_param(r, "seed", (double)(rng % 100000));
    assert_int_equal(pyref_run(r, "decoder_ref", "make_model"), 0);
    char dir[512], cfg_path[600];
    snprintf(dir, sizeof dir, "%s/model", pyref_dir(r));
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    iris_llama_config cfg;
    iris_weights w;
    iris_llama_train m;
    assert_int_equal(iris_llama_config_load_json(&cfg, cfg_path), 0);
    assert_int_equal(iris_weights_open(&w, dir), 0);
    assert_int_equal(iris_llama_train_init(&m, &w, &cfg, iris_cpu_backend(), iris_cpu_train_ops(), 32,
                                           checkpointing), 0);
    assert_int_equal(iris_llama_train_unfreeze_all(&m), 0);
    assert_int_equal(iris_llama_train_prepare(&m), 0);

    int32_t ids[N], labels[N];
    int counted = 0;
    for (int i = 0; i < N; i++) {
        ids[i] = (int32_t)((frand() * 0.5f + 0.5f) * (VOCAB - 1));
        labels[i] = i < 3 || i == 7 ? -100 : ids[i];
        counted += i > 0 && labels[i] >= 0;
    }
    /* id 1 is BioGPT's pad token (nn.Embedding padding_idx: its row gets no
     * gradient from the lookup); every run must see it */
    ids[5] = 1;
    double loss;
    int cnt;
    iris_params_zero_grad(&m.params);
    assert_int_equal(iris_llama_train_step(&m, ids, NULL, labels, N, 1.0f / counted, 1, NULL, &loss, &cnt), 0);
    assert_int_equal(cnt, counted);
    if (cfg.clip_qkv > 0) {  /* a layer's clamped q, kept for the backward pass */
        double share = clamped_share(m.acts[checkpointing ? 0 : cfg.n_layers - 1].qr, (long)N * cfg.dim,
                                     cfg.clip_qkv);
        print_message("%s clip_qkv %.2f: %.0f%% of one layer's q clamped\n", cfg.arch_name, cfg.clip_qkv,
                      100 * share);
        assert_true(share > 0.05 && share < 0.95);
    }

    long total = 0;
    size_t cap = 200 * (size_t)m.params.n, nl = 0;
    char *names = malloc(cap);
    assert_non_null(names);
    for (int i = 0; i < m.params.n; i++) total += m.params.p[i].n;
    float *w_all = malloc((size_t)total * 4), *g_all = malloc((size_t)total * 4);
    assert_true(w_all && g_all);
    long off = 0;
    for (int i = 0; i < m.params.n; i++) {
        const iris_param *p = &m.params.p[i];
        assert_non_null(p->g);
        memcpy(w_all + off, p->w, (size_t)p->n * 4);
        memcpy(g_all + off, p->g, (size_t)p->n * 4);
        off += p->n;
        nl += (size_t)snprintf(names + nl, cap - nl, "%s\n", p->name);
    }
    pyref_put_raw(r, "names", names, nl);
    pyref_put_f32(r, "w_all", w_all, (size_t)total);
    pyref_put_i32(r, "ids", ids, N);
    pyref_put_i32(r, "labels", labels, N);
    pyref_param(r, "grad_scale", 1.0 / counted);
    assert_int_equal(pyref_run(r, "decoder_ref", "model_grads"), 0);
    float *rloss = pyref_get_f32(r, "loss", 1), *rg = pyref_get_f32(r, "g_all", (size_t)total);
    assert_true(rloss && rg);
    print_message("%s variant %d%s: loss %.6f (torch %.6f)\n", cfg.arch_name, variant,
                  checkpointing ? " checkpointing" : "", loss, rloss[0]);
    assert_true(fabs(loss - rloss[0]) <= 1e-4 * fabs(rloss[0]));
    off = 0;
    double worst = 0, g_norm = 0;
    const char *worst_name = "";
    for (long i = 0; i < total; i++) g_norm += (double)rg[i] * rg[i];
    g_norm = sqrt(g_norm);
    for (int i = 0; i < m.params.n; i++) {
        const iris_param *p = &m.params.p[i];
        /* a floor on the scale (1e-3 of the whole gradient's norm): the k
         * bias's gradient is zero in exact arithmetic (softmax ignores a
         * per-row constant), so only rounding noise is left on both sides */
        double e = rel_err_floor(g_all + off, rg + off, p->n, 1e-3 * g_norm);
        if (e > worst) worst = e, worst_name = p->name;
        if (e > 1e-4) print_message("  %s: relative error %.3e\n", p->name, e);
        assert_true(e <= 1e-4);
        off += p->n;
    }
    print_message("  %d parameter tensors, worst relative gradient error %.2e (%s)\n", m.params.n, worst,
                  worst_name);
    free(rloss), free(rg), free(w_all), free(g_all), free(names);
    iris_llama_train_free(&m);
    iris_weights_close(&w);
    pyref_free(r);
}

static void test_mpt_grads(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    check_model(0, 0, 0);
    check_model(0, 1, 1); /* 6 heads, untied head; checkpointing */
}

/* mosaic_gpt's QK LayerNorm (its q_ln / k_ln weights train like the other
 * norms) and MPT's clip_qkv, alone and together. */
static void test_mpt_qk_ln_clip_grads(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    check_model(0, 2, 0); /* QK LayerNorm without biases (MPT-1B's) */
    check_model(0, 3, 1); /* with biases, after clip_qkv; 6 heads, checkpointing */
    check_model(0, 4, 0); /* clip_qkv alone (transformers' own clamp) */
}

static void test_gptneox_grads(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    check_model(1, 0, 0); /* parallel residual, 1/4 rotary, biases */
    check_model(1, 1, 1); /* sequential, full rotary, no attention bias, tanh GELU */
}

static void test_biogpt_grads(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    check_model(2, 0, 0);
    check_model(2, 1, 1); /* unscaled embeddings */
}

/* LoRA on every linear PEFT's names reach (a fused QKV: one adapter over the
 * fused output) against transformers + peft autograd; random nonzero A and B.
 * layer >= 0: only that layer (layers_to_transform). */
static void check_lora(int arch, int variant, int checkpointing, int rslora, int layer)
{
    enum { N = 13, VOCAB = 97, R = 4 };
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_param(r, "arch", arch);
    pyref_param(r, "variant", variant);
    pyref_param(r, "vocab", VOCAB);
    pyref_param(r, "seed", (double)(rng % 100000));
    assert_int_equal(pyref_run(r, "decoder_ref", "make_model"), 0);
    char dir[512], cfg_path[600];
    snprintf(dir, sizeof dir, "%s/model", pyref_dir(r));
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    iris_llama_config cfg;
    iris_weights w;
    iris_llama_train m;
    assert_int_equal(iris_llama_config_load_json(&cfg, cfg_path), 0);
    assert_int_equal(iris_weights_open(&w, dir), 0);
    assert_int_equal(iris_llama_train_init(&m, &w, &cfg, iris_cpu_backend(), iris_cpu_train_ops(), 32,
                                           checkpointing), 0);
    iris_lora_config lc = {.r = R, .alpha = 6, .rslora = rslora, .layer_first = layer, .layer_last = layer};
    assert_int_equal(iris_lora_parse_targets(&lc, "all-linear"), 0);
    assert_int_equal(iris_llama_train_add_lora(&m, &lc, 5), 0);
    assert_int_equal(iris_llama_train_prepare(&m), 0);
    long total = 0, n_lora = 0;
    for (int i = 0; i < m.params.n; i++) {
        iris_param *p = &m.params.p[i];
        total += p->n;
        if (p->group != IRIS_PG_LORA) {
            assert_null(p->g);  /* the base stays frozen */
            continue;
        }
        n_lora += p->n;
        for (long e = 0; e < p->n; e++) p->w[e] = 0.3f * frand(); /* B nonzero: A gets a gradient */
    }
    assert_true(n_lora > 0);

    int32_t ids[N], labels[N];
    int counted = 0;
    for (int i = 0; i < N; i++) {
        ids[i] = (int32_t)((frand() * 0.5f + 0.5f) * (VOCAB - 1));
        labels[i] = i < 2 ? -100 : ids[i];
        counted += i > 0 && labels[i] >= 0;
    }
    double loss;
    int cnt;
    iris_params_zero_grad(&m.params);
    assert_int_equal(iris_llama_train_step(&m, ids, NULL, labels, N, 1.0f / counted, 1, NULL, &loss, &cnt), 0);

    size_t cap = 200 * (size_t)m.params.n, nl = 0;
    char *names = malloc(cap);
    float *w_all = malloc((size_t)total * 4), *g_lora = malloc((size_t)n_lora * 4);
    assert_true(names && w_all && g_lora);
    long off = 0, goff = 0;
    for (int i = 0; i < m.params.n; i++) {
        const iris_param *p = &m.params.p[i];
        memcpy(w_all + off, p->w, (size_t)p->n * 4);
        off += p->n;
        nl += (size_t)snprintf(names + nl, cap - nl, "%s\n", p->name);
        if (p->group != IRIS_PG_LORA) continue;
        memcpy(g_lora + goff, p->g, (size_t)p->n * 4);
        goff += p->n;
    }
    pyref_put_raw(r, "names", names, nl);
    pyref_put_f32(r, "w_all", w_all, (size_t)total);
    pyref_put_i32(r, "ids", ids, N);
    pyref_put_i32(r, "labels", labels, N);
    pyref_param(r, "grad_scale", 1.0 / counted);
    pyref_param(r, "r", R);
    pyref_param(r, "alpha", 6);
    pyref_param(r, "rslora", rslora);
    pyref_param(r, "layer", layer);
    assert_int_equal(pyref_run(r, "decoder_ref", "lora_grads"), 0);
    float *rloss = pyref_get_f32(r, "loss", 1), *rg = pyref_get_f32(r, "g_lora", (size_t)n_lora);
    assert_true(rloss && rg);
    print_message("%s LoRA variant %d%s%s layer %d: loss %.6f (peft %.6f)\n", cfg.arch_name, variant,
                  checkpointing ? " checkpointing" : "", rslora ? " rsLoRA" : "", layer, loss, rloss[0]);
    assert_true(fabs(loss - rloss[0]) <= 1e-4 * fabs(rloss[0]));
    double worst = 0;
    const char *worst_name = "";
    goff = 0;
    int n_fused = 0;
    for (int i = 0; i < m.params.n; i++) {
        const iris_param *p = &m.params.p[i];
        if (p->group != IRIS_PG_LORA) continue;
        n_fused += strstr(p->name, "Wqkv.lora_B") || strstr(p->name, "query_key_value.lora_B");
        double e = rel_err(g_lora + goff, rg + goff, p->n);
        if (e > worst) worst = e, worst_name = p->name;
        if (e > 1e-4) print_message("  %s: relative error %.3e\n", p->name, e);
        assert_true(e <= 1e-4);
        goff += p->n;
    }
    if (arch != 2) assert_true(n_fused > 0);
    print_message("  %ld LoRA values, worst relative gradient error %.2e (%s)\n", n_lora, worst, worst_name);
    free(rloss), free(rg), free(w_all), free(g_lora), free(names);
    iris_llama_train_free(&m);
    iris_weights_close(&w);
    pyref_free(r);
}

static void test_lora_grads(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    check_lora(0, 0, 0, 0, -1);  /* MPT: Wqkv stacked [q; k; v] */
    check_lora(0, 1, 1, 1, 1);   /* 6 heads, checkpointing, rsLoRA, layer 1 only */
    check_lora(1, 0, 0, 0, -1);  /* GPT-NeoX: query_key_value per head, parallel residual */
    check_lora(1, 1, 1, 1, 0);   /* sequential; layer 0 only */
    check_lora(2, 0, 0, 0, -1);  /* BioGPT: separate q, k, v */
    /* mosaic_gpt: the fused adapter's output goes through the frozen QK
     * LayerNorm (and the clamp), which must pass its gradient back */
    check_lora(0, 2, 0, 0, -1);
    check_lora(0, 3, 1, 0, -1);
}

static void test_refusals(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    pyref *r = pyref_new();
    assert_non_null(r);
    pyref_param(r, "arch", 0);
    pyref_param(r, "variant", 0);
    pyref_param(r, "vocab", 50);
    pyref_param(r, "seed", 1);
    assert_int_equal(pyref_run(r, "decoder_ref", "make_model"), 0);
    char dir[512], cfg_path[600];
    snprintf(dir, sizeof dir, "%s/model", pyref_dir(r));
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    iris_llama_config cfg;
    iris_weights w;
    iris_llama_train m;
    assert_int_equal(iris_llama_config_load_json(&cfg, cfg_path), 0);
    assert_int_equal(iris_weights_open(&w, dir), 0);
    assert_int_equal(iris_llama_train_init(&m, &w, &cfg, iris_cpu_backend(), iris_cpu_train_ops(), 16, 0), 0);
    /* a LLaMA module MPT lacks: the message lists MPT's names */
    iris_lora_config lc = {.r = 4, .alpha = 8, .layer_first = -1, .layer_last = -1};
    assert_int_equal(iris_lora_parse_targets(&lc, "gate_proj"), 0);
    assert_int_not_equal(iris_llama_train_add_lora(&m, &lc, 1), 0);
    assert_non_null(strstr(iris_last_error(), "gate_proj"));
    assert_non_null(strstr(iris_last_error(), "Wqkv"));
    assert_int_not_equal(iris_lora_parse_targets(&lc, "fc3"), 0);
    assert_non_null(strstr(iris_last_error(), "fc3"));
    iris_llama_train_free(&m);
    iris_weights_close(&w);
    pyref_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alibi_attention_backward),
        cmocka_unit_test(test_gelu_backward),
        cmocka_unit_test(test_mpt_grads),
        cmocka_unit_test(test_mpt_qk_ln_clip_grads),
        cmocka_unit_test(test_gptneox_grads),
        cmocka_unit_test(test_biogpt_grads),
        cmocka_unit_test(test_lora_grads),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

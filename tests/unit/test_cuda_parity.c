/* test_cuda_parity.c — every op of the CUDA backend (backend.h and
 * backend_train.h) against the CPU backend, the reference, on fresh random
 * inputs at several shapes including odd sizes.
 *
 * Device outputs are poisoned with NaN before each op, so an element a
 * kernel forgets to write fails the comparison.  Error: normwise
 * (helpers/testvec.h).  f32 paths must agree to TOL_F32; paths that round to
 * bf16 on the device (linear, and embedding of a non-bf16 table) to TOL_BF16.
 * Without a CUDA device every test prints why and is reported as skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/backend_train.h"
#include "core/tensor.h"
#include "helpers/testvec.h"

#define TOL_F32 1e-5
#define TOL_BF16 1e-2

static const iris_backend *cpu, *gpu;
static const iris_train_ops *cpu_t, *gpu_t;
static char why[256];
static char where[160];

/* why[] already reads "no CUDA device (...)" when the plugin found none. */
#define REQUIRE_GPU()                                                              \
    do {                                                                           \
        if (!gpu) {                                                                \
            if (strncmp(why, "no CUDA device", 14) == 0)                           \
                print_message("skipped: %s\n", why);                               \
            else                                                                   \
                print_message("skipped: no CUDA device (%s)\n", why);              \
            skip();                                                                \
        }                                                                          \
    } while (0)

/* ---------------------------------------------------------------- device helpers */

static void gpu_ok(void)
{
    int rc = gpu->sync();
    const char *e = gpu->error();
    if (rc || e) fail_msg("cuda failed (%s): %s", where, e ? e : "?");
    if (cpu->error()) fail_msg("cpu failed (%s): %s", where, cpu->error());
}

static float *dev(const float *host, size_t n)
{
    float *d = gpu->alloc((n ? n : 1) * sizeof *d);
    if (!d) fail_msg("cuda alloc of %zu floats: %s", n, gpu->error());
    if (n) assert_int_equal(gpu->upload(d, host, n * sizeof *d), 0);
    return d;
}

static float *dev_nan(size_t n)
{
    float *h = tv_nan(n), *d = dev(h, n);
    free(h);
    return d;
}

static int32_t *dev_ints(const int32_t *host, size_t n)
{
    int32_t *d = gpu->alloc((n ? n : 1) * sizeof *d);
    assert_non_null(d);
    assert_int_equal(gpu->upload(d, host, n * sizeof *d), 0);
    return d;
}

static float *host(const float *d, size_t n)
{
    gpu_ok();
    float *h = tv_nan(n);
    assert_int_equal(gpu->download(h, d, n * sizeof *h), 0);
    return h;
}

/* Downloads d and compares it with the CPU's result. */
static void expect(const char *what, const float *d, const float *ref, size_t n, double tol)
{
    float *h = host(d, n);
    double e = tv_rel_err(h, ref, n);
    if (!(e <= tol)) fail_msg("%s (%s): cuda vs cpu error %.3g > %.1g", what, where, e, tol);
    free(h);
}

/* A host weight [rows, cols] (ndim 1 when rows == 0) of dtype dt with random
 * values of the given scale. */
static iris_tensor host_weight(iris_dtype dt, int rows, int cols, float scale)
{
    iris_tensor t;
    int64_t shape2[2] = {rows, cols}, shape1[1] = {cols};
    int r = rows ? rows : 1;
    assert_int_equal(iris_tensor_alloc(&t, dt, rows ? 2 : 1, rows ? shape2 : shape1), 0);
    float *v = tv_rand((size_t)r * cols, scale);
    for (long i = 0; i < (long)r * cols; i++) {
        if (dt == IRIS_F32) ((float *)t.data)[i] = v[i];
        else if (dt == IRIS_F16) ((uint16_t *)t.data)[i] = iris_f32_to_f16(v[i]);
        else if (dt == IRIS_BF16) ((uint16_t *)t.data)[i] = iris_f32_to_bf16(v[i]);
    }
    if (dt == IRIS_Q8_0) { /* blocks of 32: f16 scale, 32 int8 */
        uint8_t *b = t.data;
        for (long blk = 0; blk < (long)r * cols / 32; blk++, b += 34) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(v[blk * 32 + j]));
            uint16_t dh = iris_f32_to_f16(amax / 127.0f);
            float d = iris_f16_to_f32(dh);
            memcpy(b, &dh, 2);
            for (int j = 0; j < 32; j++)
                b[2 + j] = (uint8_t)(int8_t)(d > 0 ? lrintf(v[blk * 32 + j] / d) : 0);
        }
    }
    free(v);
    return t;
}

typedef struct {
    iris_tensor h, c, g; /* host file tensor, CPU view, CUDA copy */
} weight3;

static weight3 weight_both(iris_dtype dt, int rows, int cols, float scale)
{
    weight3 w;
    w.h = host_weight(dt, rows, cols, scale);
    assert_int_equal(cpu->weight_upload(&w.c, &w.h), 0);
    if (gpu->weight_upload(&w.g, &w.h)) fail_msg("cuda weight_upload: %s", gpu->error());
    return w;
}

static void weight_drop(weight3 *w)
{
    gpu->weight_free(&w->g);
    cpu->weight_free(&w->c);
    iris_tensor_free(&w->h);
}

/* ---------------------------------------------------------------- linear algebra */

static void test_linear(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][3] = {{1, 32, 5}, {3, 64, 33}, {17, 96, 100}, {64, 256, 513}, {2, 4096, 11}};
    const iris_dtype dts[] = {IRIS_F32, IRIS_F16, IRIS_BF16, IRIS_Q8_0};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t t = 0; t < 4; t++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                int n = shapes[s][0], k = shapes[s][1], m = shapes[s][2];
                snprintf(where, sizeof where, "n %d k %d m %d dtype %s bias %d", n, k, m,
                         iris_dtype_name(dts[t]), with_bias);
                weight3 w = weight_both(dts[t], m, k, 0.5f), b = weight_both(IRIS_F32, 0, m, 1.0f);
                float *x = tv_rand((size_t)n * k, 1.0f), *y = tv_nan((size_t)n * m);
                float *dx = dev(x, (size_t)n * k), *dy = dev_nan((size_t)n * m);
                cpu->linear(y, x, &w.c, with_bias ? &b.c : NULL, n, k, m);
                gpu->linear(dy, dx, &w.g, with_bias ? &b.g : NULL, n, k, m);
                expect("linear", dy, y, (size_t)n * m, TOL_BF16);
                weight_drop(&w); weight_drop(&b);
                gpu->free(dx); gpu->free(dy); free(x); free(y);
            }
}

/* An f32 matrix already on the device (a trained LoRA factor) takes the
 * exact sgemm path. */
static void test_linear_f32_device_weight(void **state)
{
    (void)state;
    REQUIRE_GPU();
    int n = 5, k = 37, m = 19;
    snprintf(where, sizeof where, "n %d k %d m %d f32 device weight", n, k, m);
    float *wv = tv_rand((size_t)m * k, 1.0f), *x = tv_rand((size_t)n * k, 1.0f), *y = tv_nan((size_t)n * m);
    iris_tensor wc = {.dtype = IRIS_F32, .ndim = 2, .shape = {m, k}, .data = wv};
    iris_tensor wg = wc;
    wg.data = dev(wv, (size_t)m * k);
    float *dx = dev(x, (size_t)n * k), *dy = dev_nan((size_t)n * m);
    cpu->linear(y, x, &wc, NULL, n, k, m);
    gpu->linear(dy, dx, &wg, NULL, n, k, m);
    expect("linear f32", dy, y, (size_t)n * m, TOL_F32);
    gpu->free(wg.data); gpu->free(dx); gpu->free(dy); free(wv); free(x); free(y);
}

static void test_gemm(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][4] = {{1, 1, 1, 1}, {7, 5, 3, 2}, {33, 17, 65, 3}, {128, 64, 96, 4}}; /* m n k batch */
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], batch = shapes[s][3];
                int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2; /* padded rows */
                long sa = (long)lda * (ta ? k : m) + 5, sb = (long)ldb * (tb ? n : k), sc = (long)ldc * m + 1;
                float alpha = 0.75f, beta = s % 2 ? 0.5f : 0.0f;
                snprintf(where, sizeof where, "m %d n %d k %d batch %d ta %d tb %d", m, n, k, batch, ta, tb);
                size_t na = (size_t)sa * batch, nb = (size_t)sb * batch, nc = (size_t)sc * batch;
                float *a = tv_rand(na, 1.0f), *b = tv_rand(nb, 1.0f), *c = tv_rand(nc, 1.0f);
                float *da = dev(a, na), *db = dev(b, nb), *dc = dev(c, nc);
                cpu->gemm(ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch);
                gpu->gemm(ta, tb, m, n, k, alpha, da, lda, sa, db, ldb, sb, beta, dc, ldc, sc, batch);
                expect("gemm", dc, c, nc, TOL_F32);
                gpu->free(da); gpu->free(db); gpu->free(dc); free(a); free(b); free(c);
            }
}

/* ---------------------------------------------------------------- norms, rope, softmax */

static void test_norms(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][2] = {{1, 1}, {3, 7}, {5, 64}, {4, 1000}, {2, 4097}};
    const iris_dtype dts[] = {IRIS_F32, IRIS_F16, IRIS_BF16};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t t = 0; t < 3; t++) {
            int n = shapes[s][0], d = shapes[s][1];
            size_t nd = (size_t)n * d;
            weight3 w = weight_both(dts[t], 0, d, 1.0f), b = weight_both(dts[t], 0, d, 1.0f);
            float *x = tv_rand(nd, 3.0f), *y = tv_nan(nd);
            for (size_t i = 0; i < nd; i++) x[i] += 2.0f;
            float *dx = dev(x, nd), *dy = dev_nan(nd);
            for (int add_one = 0; add_one < 2; add_one++) {
                snprintf(where, sizeof where, "rmsnorm n %d d %d %s add_one %d", n, d,
                         iris_dtype_name(dts[t]), add_one);
                cpu->rmsnorm(y, x, &w.c, n, d, 1e-6f, add_one);
                gpu->rmsnorm(dy, dx, &w.g, n, d, 1e-6f, add_one);
                expect("rmsnorm", dy, y, nd, TOL_F32);
            }
            for (int variant = 0; variant < 3; variant++) {
                const iris_tensor *wc = variant < 2 ? &w.c : NULL, *wg = variant < 2 ? &w.g : NULL;
                const iris_tensor *bc = variant == 0 ? &b.c : NULL, *bg = variant == 0 ? &b.g : NULL;
                snprintf(where, sizeof where, "layernorm n %d d %d %s variant %d", n, d,
                         iris_dtype_name(dts[t]), variant);
                cpu->layernorm(y, x, wc, bc, n, d, 1e-5f);
                gpu->layernorm(dy, dx, wg, bg, n, d, 1e-5f);
                expect("layernorm", dy, y, nd, TOL_F32);
            }
            weight_drop(&w); weight_drop(&b);
            gpu->free(dx); gpu->free(dy); free(x); free(y);
        }
}

static void test_rope(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][4] = {{1, 1, 2, 2}, {3, 4, 64, 64}, {7, 3, 80, 40}, {33, 2, 128, 128}}; /* n heads hd rot */
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int inter = 0; inter < 2; inter++)
            for (int host_pos = 0; host_pos < 2; host_pos++) {
                int n = shapes[s][0], heads = shapes[s][1], hd = shapes[s][2], rot = shapes[s][3];
                size_t len = (size_t)n * heads * hd;
                snprintf(where, sizeof where, "rope n %d heads %d hd %d rot %d interleaved %d host pos %d",
                         n, heads, hd, rot, inter, host_pos);
                float *x = tv_rand(len, 1.0f), *dx = dev(x, len);
                int32_t *pos = tv_ints(n, 0, 8000), *dpos = dev_ints(pos, n);
                float theta = s % 2 ? 10000.0f : 1e6f, ps = s == 2 ? 0.5f : 1.0f;
                cpu->rope(x, n, heads, hd, rot, pos, theta, ps, inter);
                gpu->rope(dx, n, heads, hd, rot, host_pos ? pos : dpos, theta, ps, inter);
                expect("rope", dx, x, len, TOL_F32);
                /* backward: rotating back */
                gpu_t->rope_backward(dx, n, heads, hd, rot, host_pos ? pos : dpos, theta, ps, inter);
                cpu_t->rope_backward(x, n, heads, hd, rot, pos, theta, ps, inter);
                expect("rope backward", dx, x, len, TOL_F32);
                gpu->free(dx); gpu->free(dpos); free(x); free(pos);
            }
}

static void test_softmax(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][2] = {{1, 1}, {4, 3}, {7, 1000}, {2, 32001}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int n = shapes[s][0], d = shapes[s][1];
        size_t nd = (size_t)n * d;
        snprintf(where, sizeof where, "softmax n %d d %d", n, d);
        float *x = tv_rand(nd, 10.0f), *y = tv_nan(nd), *dx = dev(x, nd), *dy = dev_nan(nd);
        cpu->softmax(y, x, n, d);
        gpu->softmax(dy, dx, n, d);
        expect("softmax", dy, y, nd, TOL_F32);
        gpu->free(dx); gpu->free(dy); free(x); free(y);
    }
}

/* ---------------------------------------------------------------- attention */

static void run_attention_tol(int n_q, int q_pos0, int n_kv, int heads, int kv_heads, int hd,
                              int causal, float alibi, int pad, double tol)
{
    int kv_stride = kv_heads * hd + pad;
    size_t nq = (size_t)n_q * heads * hd, nkv = (size_t)(n_kv ? n_kv : 1) * kv_stride;
    snprintf(where, sizeof where, "attention n_q %d pos0 %d n_kv %d heads %d/%d hd %d causal %d alibi %g",
             n_q, q_pos0, n_kv, heads, kv_heads, hd, causal, alibi);
    float *q = tv_rand(nq, 2.0f), *k = tv_rand(nkv, 2.0f), *v = tv_rand(nkv, 1.0f), *o = tv_nan(nq);
    float *dq = dev(q, nq), *dk = dev(k, nkv), *dv = dev(v, nkv), *dout = dev_nan(nq);
    float scale = 1.0f / sqrtf((float)hd);
    cpu->attention(o, q, k, v, n_q, q_pos0, n_kv, kv_stride, heads, kv_heads, hd, scale, causal, alibi);
    gpu->attention(dout, dq, dk, dv, n_q, q_pos0, n_kv, kv_stride, heads, kv_heads, hd, scale, causal, alibi);
    expect("attention", dout, o, nq, tol);
    gpu->free(dq); gpu->free(dk); gpu->free(dv); gpu->free(dout);
    free(q); free(k); free(v); free(o);
}

static void run_attention(int n_q, int q_pos0, int n_kv, int heads, int kv_heads, int hd,
                          int causal, float alibi, int pad)
{
    run_attention_tol(n_q, q_pos0, n_kv, heads, kv_heads, hd, causal, alibi, pad, TOL_F32);
}

static void test_attention_prefill(void **state)
{
    (void)state;
    REQUIRE_GPU();
    run_attention(9, 0, 9, 2, 2, 64, 1, 0, 0);
    run_attention(37, 0, 37, 4, 2, 128, 1, 0, 0);     /* GQA */
    run_attention(40, 100, 140, 8, 1, 256, 1, 0, 8);  /* MQA, Gemma head_dim, padded rows */
    run_attention(577, 0, 577, 2, 2, 64, 0, 0, 0);    /* CLIP: not causal */
    run_attention(50, 3, 53, 5, 5, 80, 1, 0, 0);      /* odd head count, head_dim 80 */
    run_attention(20, 0, 20, 6, 6, 7, 1, 8.0f, 0);    /* ALiBi (MPT), tiny head_dim */
    run_attention(16, 30, 46, 3, 3, 96, 0, 8.0f, 0);
}

/* The opt-in bf16 tensor-core prefill kernel (IRIS_CUDA_ATTN=tc). */
static void test_attention_prefill_tensor_cores(void **state)
{
    (void)state;
    REQUIRE_GPU();
    setenv("IRIS_CUDA_ATTN", "tc", 1);
    run_attention_tol(9, 0, 9, 2, 2, 64, 1, 0, 0, TOL_BF16);
    run_attention_tol(130, 0, 130, 4, 2, 128, 1, 0, 0, TOL_BF16);   /* GQA, 3 query blocks */
    run_attention_tol(70, 100, 170, 8, 1, 96, 1, 0, 8, TOL_BF16);   /* MQA, padded rows */
    run_attention_tol(577, 0, 577, 2, 2, 64, 0, 0, 0, TOL_BF16);    /* CLIP */
    run_attention_tol(40, 5, 45, 6, 6, 32, 1, 8.0f, 0, TOL_BF16);   /* ALiBi */
    run_attention_tol(33, 0, 33, 2, 2, 80, 1, 0, 0, TOL_BF16);      /* head_dim 80 */
    unsetenv("IRIS_CUDA_ATTN");
}

static void test_attention_decode(void **state)
{
    (void)state;
    REQUIRE_GPU();
    run_attention(1, 0, 1, 2, 2, 64, 1, 0, 0);
    run_attention(1, 999, 1000, 32, 8, 128, 1, 0, 0);   /* several split-K chunks */
    run_attention(1, 4096, 4097, 8, 1, 256, 1, 0, 16);
    run_attention(3, 257, 260, 4, 4, 72, 1, 0, 0);      /* chunk border */
    run_attention(8, 700, 708, 12, 12, 64, 1, 8.0f, 0); /* ALiBi */
    run_attention(2, 0, 300, 3, 1, 33, 0, 0, 0);        /* not causal */
}

/* ---------------------------------------------------------------- element-wise, lookup */

static void test_elementwise(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const long sizes[] = {1, 31, 1000, 100003};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        long n = sizes[s];
        float *a = tv_rand(n, 8.0f), *b = tv_rand(n, 2.0f), *y = tv_nan(n);
        float *da = dev(a, n), *db = dev(b, n), *dy = dev_nan(n);
#define CHECK2(op)                                     \
        snprintf(where, sizeof where, #op " n %ld", n); \
        cpu->op(y, a, b, n);                            \
        gpu->op(dy, da, db, n);                         \
        expect(#op, dy, y, n, TOL_F32);
#define CHECK1(op)                                     \
        snprintf(where, sizeof where, #op " n %ld", n); \
        cpu->op(y, a, n);                               \
        gpu->op(dy, da, n);                             \
        expect(#op, dy, y, n, TOL_F32);
        CHECK2(add) CHECK2(swiglu) CHECK2(geglu)
        CHECK1(gelu) CHECK1(gelu_tanh) CHECK1(quick_gelu) CHECK1(silu) CHECK1(copy)
        snprintf(where, sizeof where, "scale n %ld", n);
        cpu->scale(y, a, -0.37f, n);
        gpu->scale(dy, da, -0.37f, n);
        expect("scale", dy, y, n, TOL_F32);
        /* in place, as the networks use them */
        snprintf(where, sizeof where, "add in place n %ld", n);
        cpu->add(a, a, b, n);
        gpu->add(da, da, db, n);
        expect("add in place", da, a, n, TOL_F32);
        gpu->free(da); gpu->free(db); gpu->free(dy); free(a); free(b); free(y);
    }
}

static void test_embedding(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][3] = {{1, 1, 1}, {7, 33, 50}, {100, 256, 1000}}; /* n d vocab */
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int bf16 = 0; bf16 < 2; bf16++) {
            int n = shapes[s][0], d = shapes[s][1], vocab = shapes[s][2];
            snprintf(where, sizeof where, "embedding n %d d %d vocab %d bf16 %d", n, d, vocab, bf16);
            weight3 t = weight_both(bf16 ? IRIS_BF16 : IRIS_F32, vocab, d, 1.0f);
            int32_t *ids = tv_ints(n, 0, vocab);
            float *y = tv_nan((size_t)n * d), *dy = dev_nan((size_t)n * d);
            cpu->embedding(y, &t.c, ids, n, 8.0f);
            gpu->embedding(dy, &t.g, ids, n, 8.0f);
            /* a bf16 file table is exact on the device; an f32 one is rounded */
            expect("embedding", dy, y, (size_t)n * d, bf16 ? TOL_F32 : TOL_BF16);
            weight_drop(&t); gpu->free(dy); free(y); free(ids);
        }
}

/* ---------------------------------------------------------------- training ops */

static void test_norm_backward(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][2] = {{1, 3}, {3, 7}, {16, 64}, {5, 1001}, {2, 4096}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int n = shapes[s][0], d = shapes[s][1];
        size_t nd = (size_t)n * d;
        float *x = tv_rand(nd, 2.0f), *w = tv_rand(d, 1.0f), *g = tv_rand(nd, 1.0f);
        float *dw = tv_rand(d, 0.5f), *db = tv_rand(d, 0.5f), *dx = tv_nan(nd);
        float *gx = dev(x, nd), *gw = dev(w, d), *gg = dev(g, nd), *gdw = dev(dw, d), *gdb = dev(db, d);
        float *gdx = dev_nan(nd);
        for (int add_one = 0; add_one < 2; add_one++) {
            snprintf(where, sizeof where, "rmsnorm backward n %d d %d add_one %d", n, d, add_one);
            cpu_t->rmsnorm_backward(dx, dw, g, x, w, n, d, 1e-5f, add_one);
            gpu_t->rmsnorm_backward(gdx, gdw, gg, gx, gw, n, d, 1e-5f, add_one);
            expect("rmsnorm backward dx", gdx, dx, nd, TOL_F32);
            expect("rmsnorm backward dw", gdw, dw, d, TOL_F32);
        }
        snprintf(where, sizeof where, "layernorm backward n %d d %d", n, d);
        cpu_t->layernorm_backward(dx, dw, db, g, x, w, n, d, 1e-5f);
        gpu_t->layernorm_backward(gdx, gdw, gdb, gg, gx, gw, n, d, 1e-5f);
        expect("layernorm backward dx", gdx, dx, nd, TOL_F32);
        expect("layernorm backward dw", gdw, dw, d, TOL_F32);
        expect("layernorm backward db", gdb, db, d, TOL_F32);
        cpu_t->layernorm_backward(dx, NULL, NULL, g, x, NULL, n, d, 1e-5f);
        gpu_t->layernorm_backward(gdx, NULL, NULL, gg, gx, NULL, n, d, 1e-5f);
        expect("layernorm backward dx (no affine)", gdx, dx, nd, TOL_F32);
        gpu->free(gx); gpu->free(gw); gpu->free(gg); gpu->free(gdw); gpu->free(gdb); gpu->free(gdx);
        free(x); free(w); free(g); free(dw); free(db); free(dx);
    }
}

static void test_glu_backward(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const long sizes[] = {1, 77, 65537};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int geglu = 0; geglu < 2; geglu++) {
            long n = sizes[s];
            snprintf(where, sizeof where, "%s backward n %ld", geglu ? "geglu" : "swiglu", n);
            float *g = tv_rand(n, 6.0f), *u = tv_rand(n, 2.0f), *dy = tv_rand(n, 1.0f);
            float *dg = tv_nan(n), *du = tv_nan(n);
            float *gg = dev(g, n), *gu = dev(u, n), *gdy = dev(dy, n), *gdg = dev_nan(n), *gdu = dev_nan(n);
            (geglu ? cpu_t->geglu_backward : cpu_t->swiglu_backward)(dg, du, dy, g, u, n);
            (geglu ? gpu_t->geglu_backward : gpu_t->swiglu_backward)(gdg, gdu, gdy, gg, gu, n);
            expect("dgate", gdg, dg, n, TOL_F32);
            expect("dup", gdu, du, n, TOL_F32);
            gpu->free(gg); gpu->free(gu); gpu->free(gdy); gpu->free(gdg); gpu->free(gdu);
            free(g); free(u); free(dy); free(dg); free(du);
        }
}

static void test_embedding_backward(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][3] = {{1, 1, 1}, {50, 33, 10}, {300, 128, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int n = shapes[s][0], d = shapes[s][1], vocab = shapes[s][2];
        snprintf(where, sizeof where, "embedding backward n %d d %d vocab %d", n, d, vocab);
        size_t nd = (size_t)n * d, vd = (size_t)vocab * d;
        float *dy = tv_rand(nd, 1.0f), *dt = tv_rand(vd, 0.5f);
        int32_t *ids = tv_ints(n, 0, vocab);
        float *gdy = dev(dy, nd), *gdt = dev(dt, vd);
        cpu_t->embedding_backward(dt, dy, ids, n, d, vocab, 2.0f);
        gpu_t->embedding_backward(gdt, gdy, ids, n, d, vocab, 2.0f);
        expect("embedding backward", gdt, dt, vd, TOL_F32);
        gpu->free(gdy); gpu->free(gdt); free(dy); free(dt); free(ids);
    }
}

static void test_cross_entropy(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int shapes[][2] = {{1, 2}, {6, 17}, {9, 32000}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int n = shapes[s][0], v = shapes[s][1];
        size_t nv = (size_t)n * v;
        snprintf(where, sizeof where, "cross_entropy n %d v %d", n, v);
        float *l = tv_rand(nv, 2.0f), *loss = tv_nan(n), *dl = tv_nan(nv);
        int32_t *t = tv_ints(n, 0, v);
        if (n > 2) t[2] = -100;
        float *gl = dev(l, nv), *gloss = dev_nan(n), *gdl = dev_nan(nv);
        cpu_t->cross_entropy(loss, dl, l, t, n, v, 0.25f);
        gpu_t->cross_entropy(gloss, gdl, gl, t, n, v, 0.25f);
        expect("cross_entropy loss", gloss, loss, n, TOL_F32);
        expect("cross_entropy dlogits", gdl, dl, nv, TOL_F32);
        gpu_t->cross_entropy(gloss, gl, gl, t, n, v, 0.25f); /* in place */
        expect("cross_entropy dlogits in place", gl, dl, nv, TOL_F32);
        gpu->free(gl); gpu->free(gloss); gpu->free(gdl); free(l); free(loss); free(dl); free(t);
    }
}

static void test_adamw(void **state)
{
    (void)state;
    REQUIRE_GPU();
    long n = 100003;
    snprintf(where, sizeof where, "adamw n %ld", n);
    float *p = tv_rand(n, 1.0f), *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
    assert_non_null(m);
    assert_non_null(v);
    float *gp = dev(p, n), *gm = dev(m, n), *gv = dev(v, n);
    iris_adamw_params ap = {.lr = 2e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.05f};
    for (int step = 1; step <= 3; step++) {
        float *g = tv_rand(n, 0.01f), *gg = dev(g, n);
        ap.step = step;
        cpu_t->adamw_step(p, g, m, v, n, &ap);
        gpu_t->adamw_step(gp, gg, gm, gv, n, &ap);
        gpu->free(gg);
        free(g);
    }
    expect("adamw param", gp, p, n, TOL_F32);
    expect("adamw m", gm, m, n, TOL_F32);
    expect("adamw v", gv, v, n, TOL_F32);
    gpu->free(gp); gpu->free(gm); gpu->free(gv); free(p); free(m); free(v);
}

static void test_sampling(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const int vocab[] = {1, 5, 1000, 32000, 256000};
    for (size_t s = 0; s < sizeof vocab / sizeof *vocab; s++) {
        int v = vocab[s];
        float *l = tv_rand(v, 4.0f), *gl = dev(l, v);
        snprintf(where, sizeof where, "argmax v %d", v);
        int want = cpu_t->argmax(l, v), got = gpu_t->argmax(gl, v);
        gpu_ok();
        assert_int_equal(got, want);
        const struct { float t; int k; float p; } cfg[] = {
            {1.0f, 0, 1.0f}, {0.7f, 40, 1.0f}, {1.0f, 0, 0.9f}, {0.8f, 50, 0.95f}, {0.0f, 5, 0.5f}};
        for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++)
            for (int draw = 0; draw < 16; draw++) {
                iris_sample_params p = {.temperature = cfg[c].t, .top_k = cfg[c].k, .top_p = cfg[c].p,
                                        .seed = 1000u * (uint64_t)c + (uint64_t)draw + (tv_u64() >> 20)};
                snprintf(where, sizeof where, "sample v %d T %g k %d p %g", v, cfg[c].t, cfg[c].k, cfg[c].p);
                want = cpu_t->sample(l, v, &p);
                got = gpu_t->sample(gl, v, &p);
                gpu_ok();
                if (got != want) fail_msg("%s: cuda picked %d, cpu %d", where, got, want);
            }
        gpu->free(gl);
        free(l);
    }
}

/* ---------------------------------------------------------------- failures */

static void test_out_of_memory_is_an_error(void **state)
{
    (void)state;
    REQUIRE_GPU();
    void *p = gpu->alloc((size_t)1 << 52); /* 4 PiB */
    assert_null(p);
    const char *e = gpu->error();
    assert_non_null(e);
    print_message("OOM message: %s\n", e);
    assert_non_null(strstr(e, "4503599627370496 bytes"));
    assert_non_null(strstr(e, "free"));
    iris_cuda_clear_error();
    assert_null(gpu->error());
    /* a bad shape is recorded, later ops are no-ops, clearing recovers */
    iris_tensor w = {.dtype = IRIS_F32, .ndim = 1, .shape = {3}};
    float *d = dev_nan(8);
    gpu->rmsnorm(d, d, &w, 1, 8, 1e-5f, 0);
    assert_non_null(gpu->error());
    assert_int_not_equal(gpu->sync(), 0);
    iris_cuda_clear_error();
    gpu->free(d);
    gpu_ok();
}

int main(void)
{
    tv_seed("test_cuda_parity");
    /* make unit runs from the repository root; the plugin is built to bin/.
     * Not under AddressSanitizer (make asan builds no plugin): the CUDA
     * driver and ASan's shadow memory do not mix. */
#ifndef __SANITIZE_ADDRESS__
    if (!getenv("IRIS_CUDA_PLUGIN")) setenv("IRIS_CUDA_PLUGIN", "bin/libiris-cuda.so", 0);
#endif
    cpu = iris_cpu_backend();
    cpu_t = iris_cpu_train_ops();
    gpu = iris_cuda_backend(why, sizeof why);
    gpu_t = gpu ? iris_cuda_train_ops(why, sizeof why) : NULL;
    if (!gpu || !gpu_t) {
        gpu = NULL;
        printf(strncmp(why, "no CUDA device", 14) ? "skipped: no CUDA device (%s)\n" : "skipped: %s\n", why);
    } else {
        printf("cuda device: %s\n", iris_cuda_device_name());
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_f32_device_weight),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_attention_prefill),
        cmocka_unit_test(test_attention_prefill_tensor_cores),
        cmocka_unit_test(test_attention_decode),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_norm_backward),
        cmocka_unit_test(test_glu_backward),
        cmocka_unit_test(test_embedding_backward),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_out_of_memory_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

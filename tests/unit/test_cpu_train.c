/* test_cpu_train.c — the CPU training ops (backend_train.h) against PyTorch
 * (tests/ref/cpu_train_ref.py: autograd gradients in float64,
 * torch.optim.AdamW, and the sampling rule implemented by sorting), on fresh
 * random inputs at awkward shapes.  Outputs are poisoned with NaN first so a
 * forgotten element fails.  Error: normwise (helpers/testvec.h) <= TOL.
 * Without the Python venv every case skips, saying so.
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
#include "helpers/pyref.h"
#include "helpers/testvec.h"

#if defined(__GNUC__)
#define IRIS_TEST_PRINTF __attribute__((format(printf, 1, 2)))
#else
#define IRIS_TEST_PRINTF
#endif

/* f32 against float64: the backward formulas subtract nearly equal terms
 * (softmax - onehot at a confident target), which costs a few bits. */
#define TOL 1e-4

static const iris_train_ops *ops;

/* One reference run serves all cases of a test (starting torch costs
 * seconds): each case writes its inputs and our outputs ("got_<name>") as
 * c<i>_<name>; after the run, compare() reads both back. */
#define MAX_CASES 64
static pyref *ref;
static int ncase;
static char desc[MAX_CASES][128];

static void batch_begin(void)
{
    ref = pyref_new();
    assert_non_null(ref);
    ncase = 0;
}

static const char *cname(int c, const char *name)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "c%d_%s", c, name);
    return buf;
}

static void put(const char *name, const float *a, size_t n)
{
    assert_int_equal(pyref_put_f32(ref, cname(ncase, name), a, n), 0);
}

static void put_i32(const char *name, const int32_t *a, size_t n)
{
    assert_int_equal(pyref_put_i32(ref, cname(ncase, name), a, n), 0);
}

static void param(const char *name, double v)
{
    assert_int_equal(pyref_param(ref, cname(ncase, name), v), 0);
}

static void case_end(const char *fmt, ...) IRIS_TEST_PRINTF;
static void case_end(const char *fmt, ...)
{
    assert_true(ncase < MAX_CASES);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc[ncase], sizeof desc[ncase], fmt, ap);
    va_end(ap);
    ncase++;
}

static void batch_run(const char *op)
{
    assert_int_equal(pyref_param(ref, "cases", ncase), 0);
    assert_int_equal(pyref_run(ref, "cpu_train_ref", op), 0);
}

/* Compares our c<c>_got_<name> with the reference's c<c>_<name>. */
static void compare(int c, const char *name, size_t n)
{
    char got_name[64];
    snprintf(got_name, sizeof got_name, "got_%s", name);
    float *got = pyref_get_f32(ref, cname(c, got_name), n);
    float *want = pyref_get_f32(ref, cname(c, name), n);
    assert_non_null(got);
    assert_non_null(want);
    double e = tv_rel_err(got, want, n);
    if (!(e <= TOL)) fail_msg("%s (%s): error %.3g > %.1g", name, desc[c], e, TOL);
    free(got);
    free(want);
}

static void batch_end(void)
{
    pyref_free(ref);
    ref = NULL;
}

static void check_cpu_ok(void)
{
    const char *err = iris_cpu_backend()->error();
    if (err) fail_msg("cpu backend failed: %s", err);
}

/* ---------------------------------------------------------------- norms */

static void test_rmsnorm_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    /* not d = 1: there the true dx is eps-sized and f32 cancellation dominates */
    const int shapes[][2] = {{1, 3}, {3, 7}, {5, 64}, {2, 257}, {17, 33}};
    batch_begin();
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int add_one = 0; add_one < 2; add_one++) {
            int n = shapes[s][0], d = shapes[s][1];
            size_t nd = (size_t)n * d;
            float *x = tv_rand(nd, 2.0f), *w = tv_rand(d, 1.0f), *dy = tv_rand(nd, 1.0f);
            float *dw = tv_rand(d, 0.5f), *dx = tv_nan(nd);
            put("x", x, nd); put("w", w, d); put("dy", dy, nd); put("dw0", dw, d);
            param("n", n); param("d", d); param("eps", 1e-5f); param("add_one", add_one);
            ops->rmsnorm_backward(dx, dw, dy, x, w, n, d, 1e-5f, add_one);
            check_cpu_ok();
            put("got_dx", dx, nd); put("got_dw", dw, d);
            case_end("n %d d %d add_one %d", n, d, add_one);
            free(x); free(w); free(dy); free(dw); free(dx);
        }
    batch_run("rmsnorm_backward");
    for (int c = 0; c < ncase; c++) {
        int n = shapes[c / 2][0], d = shapes[c / 2][1];
        compare(c, "dx", (size_t)n * d);
        compare(c, "dw", d);
    }
    batch_end();
}

static void test_layernorm_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    /* not d <= 2: there the exact dx is 0 and only rounding is left */
    const int shapes[][2] = {{1, 3}, {4, 9}, {3, 128}, {6, 301}};
    batch_begin();
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int variant = 0; variant < 3; variant++) {
            int n = shapes[s][0], d = shapes[s][1], has_w = variant != 2, has_b = variant == 0;
            size_t nd = (size_t)n * d;
            float *x = tv_rand(nd, 3.0f), *w = tv_rand(d, 1.0f), *dy = tv_rand(nd, 1.0f);
            for (size_t i = 0; i < nd; i++) x[i] += 5.0f; /* a mean to subtract */
            float *dw = tv_rand(d, 0.5f), *db = tv_rand(d, 0.5f), *dx = tv_nan(nd), *dw0 = tv_copy(dw, d);
            put("x", x, nd); put("w", w, d); put("b", w, d); put("dy", dy, nd);
            put("dw0", dw, d); put("db0", db, d);
            param("n", n); param("d", d); param("eps", 1e-5f); param("has_w", has_w); param("has_b", has_b);
            ops->layernorm_backward(dx, has_w ? dw : NULL, has_b ? db : NULL, dy, x,
                                    has_w ? w : NULL, n, d, 1e-5f);
            check_cpu_ok();
            if (!has_w) assert_memory_equal(dw, dw0, d * sizeof *dw); /* untouched */
            put("got_dx", dx, nd); put("got_dw", dw, d); put("got_db", db, d);
            case_end("n %d d %d w %d b %d", n, d, has_w, has_b);
            free(x); free(w); free(dy); free(dw); free(db); free(dx); free(dw0);
        }
    batch_run("layernorm_backward");
    for (int c = 0; c < ncase; c++) {
        int n = shapes[c / 3][0], d = shapes[c / 3][1], variant = c % 3;
        compare(c, "dx", (size_t)n * d);
        if (variant != 2) compare(c, "dw", d);
        if (variant == 0) compare(c, "db", d);
    }
    batch_end();
}

/* ---------------------------------------------------------------- rope */

static void test_rope_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    /* n, heads, head_dim, rot_dim */
    const int shapes[][4] = {{1, 1, 2, 2}, {3, 2, 8, 8}, {5, 3, 64, 32}, {4, 2, 10, 6}};
    batch_begin();
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int inter = 0; inter < 2; inter++) {
            int n = shapes[s][0], heads = shapes[s][1], hd = shapes[s][2], rot = shapes[s][3];
            size_t len = (size_t)n * heads * hd;
            float *x = tv_rand(len, 1.0f), *dy = tv_rand(len, 1.0f), *dx = tv_copy(dy, len);
            int32_t *pos = tv_ints(n, 0, 4000);
            float theta = s % 2 ? 10000.0f : 500000.0f, pos_scale = s == 2 ? 0.25f : 1.0f;
            put("x", x, len); put("dy", dy, len); put_i32("pos", pos, n);
            param("n", n); param("heads", heads); param("hd", hd); param("rot", rot);
            param("theta", theta); param("pos_scale", pos_scale); param("interleaved", inter);
            ops->rope_backward(dx, n, heads, hd, rot, pos, theta, pos_scale, inter);
            check_cpu_ok();
            put("got_dx", dx, len);
            case_end("n %d heads %d hd %d rot %d interleaved %d", n, heads, hd, rot, inter);
            free(x); free(dy); free(dx); free(pos);
        }
    batch_run("rope_backward");
    for (int c = 0; c < ncase; c++)
        compare(c, "dx", (size_t)shapes[c / 2][0] * shapes[c / 2][1] * shapes[c / 2][2]);
    batch_end();
}

/* ---------------------------------------------------------------- GLUs */

static void glu_backward(int geglu)
{
    const long sizes[] = {1, 7, 1000, 40001};
    batch_begin();
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        long n = sizes[s];
        float *g = tv_rand(n, 6.0f), *u = tv_rand(n, 2.0f), *dy = tv_rand(n, 1.0f);
        float *dg = tv_nan(n), *du = tv_nan(n);
        /* in the tail, where f32 1 + tanh would cancel (float64 holds up here;
         * much further out torch's own float64 formula cancels too) */
        if (s == 0) g[0] = -4.0f;
        put("g", g, n); put("u", u, n); put("dy", dy, n);
        (geglu ? ops->geglu_backward : ops->swiglu_backward)(dg, du, dy, g, u, n);
        check_cpu_ok();
        put("got_dg", dg, n); put("got_du", du, n);
        case_end("%s n %ld", geglu ? "geglu" : "swiglu", n);
        free(g); free(u); free(dy); free(dg); free(du);
    }
    batch_run(geglu ? "geglu_backward" : "swiglu_backward");
    for (int c = 0; c < ncase; c++) {
        compare(c, "dg", sizes[c]);
        compare(c, "du", sizes[c]);
    }
    batch_end();
}

static void test_swiglu_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    glu_backward(0);
}

static void test_geglu_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    glu_backward(1);
}

/* ---------------------------------------------------------------- cross-attention */

static void test_cross_attention_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    /* n_q, n_kv, heads, kv_heads, head_dim, kv layout (0: separate k, v with
     * padding columns; 1: k and v the two halves of one to_kv row) */
    const int shapes[][6] = {{1, 1, 1, 1, 4, 0}, {4, 7, 2, 2, 8, 1}, {9, 3, 4, 2, 16, 0},
                             {64, 80, 2, 2, 32, 1}, {5, 33, 3, 1, 6, 0}};
    const size_t ns = sizeof shapes / sizeof *shapes;
    batch_begin();
    for (size_t s = 0; s < ns; s++) {
        int nq = shapes[s][0], nkv = shapes[s][1], h = shapes[s][2], hkv = shapes[s][3];
        int hd = shapes[s][4], fused = shapes[s][5], kvd = hkv * hd;
        int stride = fused ? 2 * kvd : kvd + 3;
        size_t qn = (size_t)nq * h * hd, kn = (size_t)nkv * stride;
        float *q = tv_rand(qn, 1.5f), *dout = tv_rand(qn, 1.0f), *dq = tv_nan(qn);
        float *kbuf = tv_rand(kn, 1.5f), *vbuf = fused ? kbuf : tv_rand(kn, 1.0f);
        float *dkbuf = tv_nan(kn), *dvbuf = fused ? dkbuf : tv_nan(kn);
        const float *k = kbuf, *v = fused ? kbuf + kvd : vbuf;
        float *dk = dkbuf, *dv = fused ? dkbuf + kvd : dvbuf;
        float scale = 1.0f / sqrtf((float)hd);
        ops->cross_attention_backward(dq, dk, dv, dout, q, k, v, nq, nkv, stride, h, hkv, hd, scale);
        check_cpu_ok();
        /* dense copies of the kv columns for the reference */
        float *kd = malloc((size_t)nkv * kvd * 4), *vd = malloc((size_t)nkv * kvd * 4);
        float *dkd = malloc((size_t)nkv * kvd * 4), *dvd = malloc((size_t)nkv * kvd * 4);
        assert_true(kd && vd && dkd && dvd);
        for (int j = 0; j < nkv; j++)
            for (int c = 0; c < kvd; c++) {
                size_t o = (size_t)j * stride + c, d = (size_t)j * kvd + c;
                kd[d] = k[o], vd[d] = v[o], dkd[d] = dk[o], dvd[d] = dv[o];
            }
        if (!fused) /* the padding columns are not ours: still NaN */
            for (int j = 0; j < nkv; j++) assert_true(isnan(dk[(size_t)j * stride + kvd]));
        put("q", q, qn); put("k", kd, (size_t)nkv * kvd); put("v", vd, (size_t)nkv * kvd);
        put("dout", dout, qn);
        param("nq", nq); param("nkv", nkv); param("h", h); param("hkv", hkv); param("hd", hd);
        param("scale", scale);
        put("got_dq", dq, qn); put("got_dk", dkd, (size_t)nkv * kvd); put("got_dv", dvd, (size_t)nkv * kvd);
        case_end("nq %d nkv %d heads %d/%d hd %d fused %d", nq, nkv, h, hkv, hd, fused);
        free(q); free(dout); free(dq); free(kbuf); free(dkbuf);
        if (!fused) free(vbuf), free(dvbuf);
        free(kd); free(vd); free(dkd); free(dvd);
    }
    batch_run("cross_attention_backward");
    for (int c = 0; c < ncase; c++) {
        size_t qn = (size_t)shapes[c][0] * shapes[c][2] * shapes[c][4];
        size_t kn = (size_t)shapes[c][1] * shapes[c][3] * shapes[c][4];
        compare(c, "dq", qn);
        compare(c, "dk", kn);
        compare(c, "dv", kn);
    }
    batch_end();
}

/* ---------------------------------------------------------------- embedding */

static void test_embedding_backward(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    const int shapes[][3] = {{1, 1, 1}, {9, 5, 4}, {64, 33, 100}, {7, 256, 3}}; /* n, d, vocab */
    batch_begin();
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int n = shapes[s][0], d = shapes[s][1], vocab = shapes[s][2];
        size_t nd = (size_t)n * d, vd = (size_t)vocab * d;
        float *dy = tv_rand(nd, 1.0f), *dt = tv_rand(vd, 0.5f);
        int32_t *ids = tv_ints(n, 0, vocab); /* small vocabularies repeat ids */
        float scale = s == 2 ? 45.25f : 1.0f;
        put("dy", dy, nd); put("dtable0", dt, vd); put_i32("ids", ids, n);
        param("n", n); param("d", d); param("vocab", vocab); param("scale", scale);
        ops->embedding_backward(dt, dy, ids, n, d, vocab, scale);
        check_cpu_ok();
        put("got_dtable", dt, vd);
        case_end("n %d d %d vocab %d", n, d, vocab);
        free(dy); free(dt); free(ids);
    }
    batch_run("embedding_backward");
    for (int c = 0; c < ncase; c++) compare(c, "dtable", (size_t)shapes[c][2] * shapes[c][1]);
    batch_end();
}

static void test_embedding_backward_bad_id(void **state)
{
    (void)state;
    float dy[4] = {1, 2, 3, 4}, dt[4] = {0};
    int32_t ids[2] = {0, 2};
    ops->embedding_backward(dt, dy, ids, 2, 2, 2, 1.0f);
    const char *err = iris_cpu_backend()->error();
    assert_non_null(err);
    assert_non_null(strstr(err, "outside"));
    for (int i = 0; i < 4; i++) assert_true(dt[i] == 0.0f);
    iris_cpu_clear_error();
}

/* ---------------------------------------------------------------- loss */

static void test_cross_entropy(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    const int shapes[][2] = {{1, 2}, {5, 11}, {8, 1000}, {3, 32001}};
    batch_begin();
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int in_place = 0; in_place < 2; in_place++) {
            int n = shapes[s][0], v = shapes[s][1];
            size_t nv = (size_t)n * v;
            float *logits = tv_rand(nv, 8.0f);
            int32_t *t = tv_ints(n, 0, v);
            if (n > 1) t[1] = -100; /* a masked prompt token */
            float *loss = tv_nan(n), *dl = in_place ? logits : tv_nan(nv);
            float gs = 1.0f / n;
            put("logits", logits, nv); put_i32("targets", t, n);
            param("n", n); param("v", v); param("grad_scale", gs);
            ops->cross_entropy(loss, dl, logits, t, n, v, gs);
            check_cpu_ok();
            put("got_loss", loss, n); put("got_dlogits", dl, nv);
            case_end("n %d v %d in place %d", n, v, in_place);
            if (!in_place) free(dl);
            free(logits); free(t); free(loss);
        }
    batch_run("cross_entropy");
    for (int c = 0; c < ncase; c++) {
        int n = shapes[c / 2][0], v = shapes[c / 2][1];
        compare(c, "loss", n);
        compare(c, "dlogits", (size_t)n * v);
    }
    batch_end();
}

/* ---------------------------------------------------------------- AdamW */

static void test_adamw(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    const long sizes[] = {1, 13, 20000};
    const int steps = 4;
    batch_begin();
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        long n = sizes[s];
        iris_adamw_params p = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                               .weight_decay = s == 1 ? 0.0f : 0.1f};
        float *param_v = tv_rand(n, 1.0f), *p0 = tv_copy(param_v, n), *grads = tv_rand((size_t)steps * n, 0.1f);
        float *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
        assert_non_null(m);
        assert_non_null(v);
        put("p0", p0, n); put("grads", grads, (size_t)steps * n);
        param("n", n); param("steps", steps); param("lr", p.lr); param("beta1", p.beta1);
        param("beta2", p.beta2); param("eps", p.eps); param("wd", p.weight_decay);
        for (int k = 0; k < steps; k++) {
            p.step = k + 1;
            ops->adamw_step(param_v, grads + (size_t)k * n, m, v, n, &p);
        }
        check_cpu_ok();
        /* the update must have moved the parameters at all */
        assert_true(tv_rel_err(param_v, p0, n) > 1e-4);
        put("got_p", param_v, n); put("got_m", m, n); put("got_v", v, n);
        case_end("n %ld weight decay %g", n, p.weight_decay);
        free(param_v); free(p0); free(grads); free(m); free(v);
    }
    batch_run("adamw");
    for (int c = 0; c < ncase; c++) {
        compare(c, "p", sizes[c]);
        compare(c, "m", sizes[c]);
        compare(c, "v", sizes[c]);
    }
    batch_end();
}

/* ---------------------------------------------------------------- sampling */

static void test_argmax(void **state)
{
    (void)state;
    const int sizes[] = {1, 2, 999, 32000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int v = sizes[s];
        float *l = tv_rand(v, 10.0f);
        int want = (int)(tv_u64() % (uint64_t)v);
        l[want] = 11.0f;
        if (v > 2 && want != v - 1) l[v - 1] = NAN; /* NaN never wins */
        assert_int_equal(ops->argmax(l, v), want);
        free(l);
    }
    float ties[4] = {1, 3, 3, 2};
    assert_int_equal(ops->argmax(ties, 4), 1); /* lowest id on ties */
    check_cpu_ok();
}

#define DRAWS 64

static int by_value_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The largest probability among the tokens top_k / top_p keep, renormalised. */
static double kept_top_probability(const float *l, int v, float t, int k, float top_p)
{
    float *p = malloc((size_t)v * sizeof *p);
    assert_non_null(p);
    float mx = l[0];
    for (int i = 1; i < v; i++) mx = l[i] > mx ? l[i] : mx;
    for (int i = 0; i < v; i++) p[i] = expf((l[i] - mx) / t);
    qsort(p, (size_t)v, sizeof *p, by_value_desc);
    int n = k > 0 && k < v ? k : v;
    double kept_sum = 0;
    for (int i = 0; i < n; i++) kept_sum += p[i];
    double mass = 0;
    int m = 0;
    while (m < n && (m == 0 || mass < top_p * kept_sum)) mass += p[m++];
    double top = p[0] / mass;
    free(p);
    return top;
}

static void test_sample(void **state)
{
    (void)state;
    PYREF_REQUIRE();
    /* v, temperature, top_k, top_p */
    const struct { int v; float t; int k; float p; } cases[] = {
        {5, 1.0f, 0, 1.0f}, {100, 0.7f, 10, 1.0f}, {1000, 1.3f, 0, 0.9f},
        {1000, 0.8f, 40, 0.95f}, {32000, 1.0f, 50, 0.8f}, {7, 2.0f, 1, 1.0f},
    };
    const int nc = sizeof cases / sizeof *cases;
    int32_t got[sizeof cases / sizeof *cases][DRAWS];
    float *logits_of[sizeof cases / sizeof *cases];
    batch_begin();
    for (int c = 0; c < nc; c++) {
        int v = cases[c].v;
        float *l = tv_rand(v, 3.0f);
        iris_sample_params p = {.temperature = cases[c].t, .top_k = cases[c].k, .top_p = cases[c].p,
                                .seed = tv_u64() >> 16};
        put("logits", l, v);
        param("v", v); param("draws", DRAWS); param("temperature", p.temperature);
        param("top_k", p.top_k); param("top_p", p.top_p); param("seed", (double)p.seed);
        for (int s = 0; s < DRAWS; s++) {
            iris_sample_params ps = p;
            ps.seed = p.seed + s;
            got[c][s] = ops->sample(l, v, &ps);
        }
        check_cpu_ok();
        case_end("v %d T %g top_k %d top_p %g", v, p.temperature, p.top_k, p.top_p);
        logits_of[c] = l;
    }
    batch_run("sample");
    for (int c = 0; c < nc; c++) {
        int32_t *want = pyref_get_i32(ref, cname(c, "ids"), DRAWS);
        assert_non_null(want);
        int distinct = 0;
        for (int s = 0; s < DRAWS; s++) {
            if (got[c][s] != want[s])
                fail_msg("sample (%s) draw %d: got %d, reference %d", desc[c], s, got[c][s], want[s]);
            if (got[c][s] != got[c][0]) distinct = 1;
        }
        /* 64 draws are not all the same unless one kept token is that likely
         * (random logits can make it so: P(all equal) <= p_max^63) */
        float *l = logits_of[c];
        if (kept_top_probability(l, cases[c].v, cases[c].t, cases[c].k, cases[c].p) < 0.7)
            assert_true(distinct);
        free(want);
    }
    for (int c = 0; c < nc; c++) free(logits_of[c]);
    batch_end();
}

static void test_sample_zero_temperature_is_argmax(void **state)
{
    (void)state;
    float *l = tv_rand(500, 1.0f);
    iris_sample_params p = {.temperature = 0.0f, .top_k = 5, .top_p = 0.5f, .seed = 42};
    assert_int_equal(ops->sample(l, 500, &p), ops->argmax(l, 500));
    free(l);
}

int main(void)
{
    tv_seed("test_cpu_train");
    ops = iris_cpu_train_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm_backward),
        cmocka_unit_test(test_layernorm_backward),
        cmocka_unit_test(test_rope_backward),
        cmocka_unit_test(test_swiglu_backward),
        cmocka_unit_test(test_geglu_backward),
        cmocka_unit_test(test_cross_attention_backward),
        cmocka_unit_test(test_embedding_backward),
        cmocka_unit_test(test_embedding_backward_bad_id),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_sample_zero_temperature_is_argmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

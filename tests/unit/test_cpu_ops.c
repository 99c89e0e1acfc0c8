/* test_cpu_ops.c — every CPU backend op against (a) a naive C twin written
 * here in double precision, always, and (b) PyTorch (tests/ref/cpu_ops_ref.py)
 * when the venv is present, on fresh random inputs at awkward shapes.
 *
 * Error measure: max_i |got_i - ref_i| / max_i |ref_i| (the worst element's
 * error relative to the output's scale), which must be <= 1e-4; any NaN
 * fails.  Outputs are poisoned with NaN before each call so that an element
 * an op forgets to write is caught.  Quantised weights are compared against
 * their exact dequantised values, so the same tolerance holds for every dtype.
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
#include <time.h>

#include "core/backend.h"
#include "core/cpu_internal.h"
#include "core/tensor.h"
#include "helpers/pyref.h"

#define TOL 1e-4

/* ---------------------------------------------------------------- helpers */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static float frand(void) /* uniform in [-1, 1) */
{
    return (float)((next_u64() >> 40) * (2.0 / 16777216.0) - 1.0);
}

static float *rand_vec(size_t n, float scale)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = scale * frand();
    return v;
}

static float *nan_vec(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = NAN;
    return v;
}

static double *dvec(size_t n)
{
    double *v = calloc(n ? n : 1, sizeof *v);
    assert_non_null(v);
    return v;
}

/* Normwise error (see the top comment); INFINITY when any value is NaN/inf. */
static double rel_err(const float *got, const double *ref, size_t n)
{
    double emax = 0, rmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(ref[i])) return INFINITY;
        double e = fabs(got[i] - ref[i]);
        emax = e > emax ? e : emax;
        rmax = fabs(ref[i]) > rmax ? fabs(ref[i]) : rmax;
    }
    return rmax > 0 ? emax / rmax : emax;
}

static void check_close(const char *what, const float *got, const double *ref, size_t n)
{
    double e = rel_err(got, ref, n);
    if (!(e <= TOL)) {
        print_error("%s: relative error %.3g > %.0e\n", what, e, TOL);
        fail();
    }
}

static void check_close_f(const char *what, const float *got, const float *ref, size_t n)
{
    double *d = dvec(n);
    for (size_t i = 0; i < n; i++) d[i] = ref[i];
    check_close(what, got, d, n);
    free(d);
}

/* A weight of dtype dt with random contents (Q8_0: random scales and quants). */
static void make_weight(iris_tensor *t, iris_dtype dt, int rows, int cols, float scale)
{
    int64_t shape[2] = {rows, cols};
    assert_int_equal(iris_tensor_alloc(t, dt, 2, shape), 0);
    size_t n = (size_t)rows * cols;
    if (dt == IRIS_F32) {
        for (size_t i = 0; i < n; i++) ((float *)t->data)[i] = scale * frand();
    } else if (dt == IRIS_F16) {
        for (size_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = iris_f32_to_f16(scale * frand());
    } else if (dt == IRIS_BF16) {
        for (size_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = iris_f32_to_bf16(scale * frand());
    } else if (dt == IRIS_Q8_0) {
        uint8_t *p = t->data;
        for (size_t b = 0; b < n / IRIS_Q8_0_BLOCK; b++, p += IRIS_Q8_0_BLOCK_BYTES) {
            uint16_t d = iris_f32_to_f16(scale / 127.0f * (0.5f + 0.5f * fabsf(frand())));
            memcpy(p, &d, 2);
            for (int i = 0; i < IRIS_Q8_0_BLOCK; i++) p[2 + i] = (uint8_t)(int8_t)(next_u64() % 255 - 127);
        }
    }
}

static void make_vector(iris_tensor *t, iris_dtype dt, int n, float scale, float offset)
{
    make_weight(t, dt, 1, n, scale);
    t->ndim = 1;
    t->shape[0] = n;
    if (dt == IRIS_F32)
        for (int i = 0; i < n; i++) ((float *)t->data)[i] += offset;
}

/* The weight's exact values in double (the twins' and the checks' view). */
static double *weight_dense(const iris_tensor *t)
{
    int64_t rows = iris_tensor_rows(t), cols = iris_tensor_cols(t);
    double *d = dvec((size_t)(rows * cols));
    float *row = malloc((size_t)cols * sizeof *row);
    assert_non_null(row);
    for (int64_t r = 0; r < rows; r++) {
        iris_tensor_row_to_f32(t, r, row);
        for (int64_t c = 0; c < cols; c++) d[r * cols + c] = row[c];
    }
    free(row);
    return d;
}

static void put_weight(pyref *r, const char *name, const iris_tensor *t)
{
    char pname[64];
    snprintf(pname, sizeof pname, "%s_dtype", name);
    assert_int_equal(pyref_param(r, pname, t->dtype), 0);
    assert_int_equal(pyref_put_raw(r, name, t->data, iris_tensor_bytes(t)), 0);
}

#define NAME(buf, i, s) (snprintf(buf, sizeof buf, "c%d_%s", i, s), buf)

static const iris_backend *be;

static int setup(void **state)
{
    (void)state;
    be = iris_cpu_backend();
    rng ^= (uint64_t)time(NULL) * 0x2545f4914f6cdd1dull; /* fresh inputs each run */
    if (!rng) rng = 1;
    printf("# seed state %llu\n", (unsigned long long)rng);
    return be ? 0 : -1;
}

/* A pyref for one op's cases, or NULL when only the twin runs. */
static pyref *maybe_pyref(int torch)
{
    if (!torch) return NULL;
    pyref *r = pyref_new();
    assert_non_null(r);
    return r;
}

/* Runs the reference and compares case i's output name against got. */
static void check_torch(pyref *r, int i, const char *name, const float *got, size_t n)
{
    char buf[64];
    float *ref = pyref_get_f32(r, NAME(buf, i, name), n);
    assert_non_null(ref);
    char what[96];
    snprintf(what, sizeof what, "torch case %d %s", i, name);
    check_close_f(what, got, ref, n);
    free(ref);
}

/* ---------------------------------------------------------------- linear */

typedef struct { int n, k, m; } lin_shape;

static void run_linear(int torch)
{
    static const iris_dtype dts[] = {IRIS_F32, IRIS_F16, IRIS_BF16, IRIS_Q8_0};
    /* n <= 4 takes the GEMV kernels (threaded once W passes 64 KiB: the m=333
     * cases split unevenly), larger n the sgemm paths (several panels for the
     * m=1300 cases). */
    static const lin_shape any_k[] = {{1, 17, 5},   {3, 33, 19},   {4, 100, 37}, {2, 768, 64},
                                      {1, 257, 333}, {5, 64, 300}, {17, 17, 513}, {64, 200, 260},
                                      {6, 1000, 1300}};
    static const lin_shape q8_k[] = {{1, 32, 5},    {3, 96, 19},  {4, 64, 37}, {2, 768, 64},
                                     {1, 512, 333}, {17, 128, 300}, {40, 64, 513}, {6, 1024, 1300}};
    enum { MAXC = 64 };
    float *outs[MAXC];
    size_t sizes[MAXC];
    int cases = 0;
    pyref *r = maybe_pyref(torch);
    char buf[64];
    for (size_t di = 0; di < sizeof dts / sizeof *dts; di++) {
        const lin_shape *sh = dts[di] == IRIS_Q8_0 ? q8_k : any_k;
        size_t ns = dts[di] == IRIS_Q8_0 ? sizeof q8_k / sizeof *q8_k : sizeof any_k / sizeof *any_k;
        for (size_t s = 0; s < ns; s++, cases++) {
            int n = sh[s].n, k = sh[s].k, m = sh[s].m, has_bias = (int)(s % 2);
            iris_tensor w, b = {0};
            make_weight(&w, dts[di], m, k, 0.5f);
            if (has_bias) make_vector(&b, IRIS_F32, m, 1.0f, 0.0f);
            float *x = rand_vec((size_t)n * k, 1.0f), *y = nan_vec((size_t)n * m);
            be->linear(y, x, &w, has_bias ? &b : NULL, n, k, m);
            assert_null(be->error());

            double *wd = weight_dense(&w), *ref = dvec((size_t)n * m);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < m; j++) {
                    double acc = has_bias ? ((float *)b.data)[j] : 0.0;
                    for (int t = 0; t < k; t++) acc += (double)x[(size_t)i * k + t] * wd[(size_t)j * k + t];
                    ref[(size_t)i * m + j] = acc;
                }
            char what[96];
            snprintf(what, sizeof what, "linear %s n=%d k=%d m=%d", iris_dtype_name(dts[di]), n, k, m);
            check_close(what, y, ref, (size_t)n * m);
            free(wd);
            free(ref);
            if (r) {
                assert_true(cases < MAXC);
                pyref_param(r, NAME(buf, cases, "n"), n);
                pyref_param(r, NAME(buf, cases, "k"), k);
                pyref_param(r, NAME(buf, cases, "m"), m);
                pyref_param(r, NAME(buf, cases, "has_bias"), has_bias);
                pyref_put_f32(r, NAME(buf, cases, "x"), x, (size_t)n * k);
                put_weight(r, NAME(buf, cases, "w"), &w);
                if (has_bias) pyref_put_f32(r, NAME(buf, cases, "b"), b.data, (size_t)m);
                outs[cases] = y;
                sizes[cases] = (size_t)n * m;
            } else {
                free(y);
            }
            free(x);
            iris_tensor_free(&w);
            iris_tensor_free(&b);
        }
    }
    if (r) {
        pyref_param(r, "cases", cases);
        assert_int_equal(pyref_run(r, "cpu_ops_ref", "linear"), 0);
        for (int i = 0; i < cases; i++) {
            check_torch(r, i, "y", outs[i], sizes[i]);
            free(outs[i]);
        }
        pyref_free(r);
    }
}

static void test_linear(void **state) { (void)state; run_linear(0); }
static void test_linear_torch(void **state) { (void)state; PYREF_REQUIRE(); run_linear(1); }

/* ------------------------------------------------------------------ gemm */

static void run_gemm(int torch)
{
    /* ta, tb, m, n, k, batch, pad (extra ld), alpha, beta */
    static const struct { int ta, tb, m, n, k, batch, pad; float alpha, beta; } cs[] = {
        {0, 0, 5, 7, 3, 1, 0, 1.0f, 0.0f},  {0, 1, 17, 9, 33, 3, 2, 0.5f, 0.0f},
        {1, 0, 4, 19, 8, 2, 1, 1.0f, 1.0f}, {1, 1, 33, 65, 70, 2, 3, -1.5f, 0.25f},
        {0, 1, 1, 64, 64, 8, 0, 0.125f, 0.0f}, {0, 0, 100, 120, 90, 1, 5, 1.0f, 0.0f},
        /* big enough to be threaded: rows of one product split (with op(A) = A^T),
         * and whole products spread over threads */
        {1, 1, 90, 70, 100, 1, 2, 0.75f, 0.5f}, {0, 1, 64, 64, 64, 4, 1, 1.0f, 0.0f},
    };
    int ncase = (int)(sizeof cs / sizeof *cs);
    pyref *r = maybe_pyref(torch);
    float *outs[16];
    size_t sizes[16];
    char buf[64];
    for (int ci = 0; ci < ncase; ci++) {
        int ta = cs[ci].ta, tb = cs[ci].tb, m = cs[ci].m, n = cs[ci].n, k = cs[ci].k;
        int batch = cs[ci].batch, pad = cs[ci].pad;
        int arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
        int lda = acols + pad, ldb = bcols + pad, ldc = n + pad;
        long sa = (long)arows * lda + pad, sb = (long)brows * ldb + 1, sc = (long)m * ldc + 2;
        float *a = rand_vec((size_t)sa * batch, 1.0f), *b = rand_vec((size_t)sb * batch, 1.0f);
        float *c = rand_vec((size_t)sc * batch, 1.0f);
        if (cs[ci].beta == 0.0f) /* C must not be read when beta is 0 */
            for (long i = 0; i < sc * batch; i++) c[i] = NAN;
        float *c0 = malloc((size_t)sc * batch * sizeof *c0);
        assert_non_null(c0);
        memcpy(c0, c, (size_t)sc * batch * sizeof *c0);
        be->gemm(ta, tb, m, n, k, cs[ci].alpha, a, lda, sa, b, ldb, sb, cs[ci].beta, c, ldc, sc,
                 batch);
        assert_null(be->error());
        for (int bi = 0; bi < batch; bi++) {
            double *ref = dvec((size_t)m * n);
            float *got = malloc((size_t)m * n * sizeof *got);
            assert_non_null(got);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int t = 0; t < k; t++) {
                        double av = ta ? a[bi * sa + (long)t * lda + i] : a[bi * sa + (long)i * lda + t];
                        double bv = tb ? b[bi * sb + (long)j * ldb + t] : b[bi * sb + (long)t * ldb + j];
                        acc += av * bv;
                    }
                    acc *= cs[ci].alpha;
                    if (cs[ci].beta != 0.0f) acc += cs[ci].beta * c0[bi * sc + (long)i * ldc + j];
                    ref[(size_t)i * n + j] = acc;
                    got[(size_t)i * n + j] = c[bi * sc + (long)i * ldc + j];
                }
            check_close("gemm", got, ref, (size_t)m * n);
            free(ref);
            free(got);
        }
        if (r) {
            static const char *pn[] = {"ta", "tb", "m", "n", "k", "lda", "ldb", "ldc", "sa", "sb", "sc", "batch"};
            double pv[] = {ta, tb, m, n, k, lda, ldb, ldc, sa, sb, sc, batch};
            for (int p = 0; p < 12; p++) pyref_param(r, NAME(buf, ci, pn[p]), pv[p]);
            pyref_param(r, NAME(buf, ci, "alpha"), cs[ci].alpha);
            pyref_param(r, NAME(buf, ci, "beta"), cs[ci].beta);
            pyref_put_f32(r, NAME(buf, ci, "a"), a, (size_t)sa * batch);
            pyref_put_f32(r, NAME(buf, ci, "b"), b, (size_t)sb * batch);
            if (cs[ci].beta == 0.0f) /* the reference must not see NaN * 0 either */
                for (long i = 0; i < sc * batch; i++) c0[i] = 0.0f;
            pyref_put_f32(r, NAME(buf, ci, "c"), c0, (size_t)sc * batch);
            /* compare only the written m x n blocks: copy them out */
            float *blk = malloc((size_t)sc * batch * sizeof *blk);
            assert_non_null(blk);
            for (long i = 0; i < sc * batch; i++) blk[i] = c[i];
            outs[ci] = blk;
            sizes[ci] = (size_t)sc * batch;
        }
        free(a);
        free(b);
        free(c);
        free(c0);
    }
    if (r) {
        pyref_param(r, "cases", ncase);
        assert_int_equal(pyref_run(r, "cpu_ops_ref", "gemm"), 0);
        for (int ci = 0; ci < ncase; ci++) {
            float *ref = pyref_get_f32(r, NAME(buf, ci, "c"), sizes[ci]);
            assert_non_null(ref);
            /* Elements outside the blocks: untouched by us (NaN or c0), reference keeps c0;
             * compare inside the blocks only. */
            int m = cs[ci].m, n = cs[ci].n, pad = cs[ci].pad, ldc = n + pad;
            long sc = (long)m * ldc + 2;
            for (int bi = 0; bi < cs[ci].batch; bi++) {
                float *g = malloc((size_t)m * n * sizeof *g);
                double *d = dvec((size_t)m * n);
                assert_non_null(g);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        g[i * n + j] = outs[ci][bi * sc + (long)i * ldc + j];
                        d[i * n + j] = ref[bi * sc + (long)i * ldc + j];
                    }
                check_close("torch gemm", g, d, (size_t)m * n);
                free(g);
                free(d);
            }
            free(ref);
            free(outs[ci]);
        }
        pyref_free(r);
    }
}

static void test_gemm(void **state) { (void)state; run_gemm(0); }
static void test_gemm_torch(void **state) { (void)state; PYREF_REQUIRE(); run_gemm(1); }

/* ------------------------------------------------------------ norms */

static void run_norms(int torch)
{
    static const int shapes[][2] = {{1, 7}, {3, 64}, {17, 300}, {40, 768}};
    pyref *rr = maybe_pyref(torch), *rl = maybe_pyref(torch);
    float *outs_r[8], *outs_l[8];
    size_t sizes[8];
    int nc = 0;
    char buf[64];
    for (int s = 0; s < 4; s++) {
        for (int variant = 0; variant < 2; variant++, nc++) {
            int n = shapes[s][0], d = shapes[s][1];
            float eps = variant ? 1e-6f : 1e-5f;
            float *x = rand_vec((size_t)n * d, 3.0f);
            for (int i = 0; i < d; i++) x[i] += 2.0f; /* a row with a large mean */
            /* rmsnorm: f32 weight (LLaMA) or bf16 with add_one (Gemma) */
            iris_tensor w, lw, lb;
            make_vector(&w, variant ? IRIS_BF16 : IRIS_F32, d, 0.5f, variant ? 0.0f : 1.0f);
            make_vector(&lw, variant ? IRIS_F16 : IRIS_F32, d, 0.5f, 1.0f);
            make_vector(&lb, IRIS_F32, d, 0.5f, 0.0f);
            float *y = nan_vec((size_t)n * d), *yl = nan_vec((size_t)n * d);
            be->rmsnorm(y, x, &w, n, d, eps, variant);
            /* layernorm: variant 0 with weight and bias, 1 with weight only */
            be->layernorm(yl, x, &lw, variant ? NULL : &lb, n, d, eps);
            assert_null(be->error());
            double *wd = weight_dense(&w), *lwd = weight_dense(&lw), *lbd = weight_dense(&lb);
            double *ref = dvec((size_t)n * d), *refl = dvec((size_t)n * d);
            for (int i = 0; i < n; i++) {
                const float *xr = x + (size_t)i * d;
                double ss = 0, mean = 0, var = 0;
                for (int j = 0; j < d; j++) ss += (double)xr[j] * xr[j], mean += xr[j];
                mean /= d;
                for (int j = 0; j < d; j++) var += (xr[j] - mean) * (xr[j] - mean);
                double rr_ = 1.0 / sqrt(ss / d + eps), rl_ = 1.0 / sqrt(var / d + eps);
                for (int j = 0; j < d; j++) {
                    ref[(size_t)i * d + j] = xr[j] * rr_ * (variant ? 1.0 + wd[j] : wd[j]);
                    refl[(size_t)i * d + j] = (xr[j] - mean) * rl_ * lwd[j] + (variant ? 0 : lbd[j]);
                }
            }
            check_close("rmsnorm", y, ref, (size_t)n * d);
            check_close("layernorm", yl, refl, (size_t)n * d);
            free(wd); free(lwd); free(lbd); free(ref); free(refl);
            if (rr) {
                pyref_param(rr, NAME(buf, nc, "n"), n);
                pyref_param(rr, NAME(buf, nc, "d"), d);
                pyref_param(rr, NAME(buf, nc, "eps"), eps);
                pyref_param(rr, NAME(buf, nc, "add_one"), variant);
                pyref_put_f32(rr, NAME(buf, nc, "x"), x, (size_t)n * d);
                put_weight(rr, NAME(buf, nc, "w"), &w);
                pyref_param(rl, NAME(buf, nc, "n"), n);
                pyref_param(rl, NAME(buf, nc, "d"), d);
                pyref_param(rl, NAME(buf, nc, "eps"), eps);
                pyref_param(rl, NAME(buf, nc, "has_w"), 1);
                pyref_param(rl, NAME(buf, nc, "has_b"), !variant);
                pyref_put_f32(rl, NAME(buf, nc, "x"), x, (size_t)n * d);
                put_weight(rl, NAME(buf, nc, "w"), &lw);
                put_weight(rl, NAME(buf, nc, "b"), &lb);
                outs_r[nc] = y;
                outs_l[nc] = yl;
                sizes[nc] = (size_t)n * d;
            } else {
                free(y);
                free(yl);
            }
            free(x);
            iris_tensor_free(&w);
            iris_tensor_free(&lw);
            iris_tensor_free(&lb);
        }
    }
    if (rr) {
        pyref_param(rr, "cases", nc);
        pyref_param(rl, "cases", nc);
        assert_int_equal(pyref_run(rr, "cpu_ops_ref", "rmsnorm"), 0);
        assert_int_equal(pyref_run(rl, "cpu_ops_ref", "layernorm"), 0);
        for (int i = 0; i < nc; i++) {
            check_torch(rr, i, "y", outs_r[i], sizes[i]);
            check_torch(rl, i, "y", outs_l[i], sizes[i]);
            free(outs_r[i]);
            free(outs_l[i]);
        }
        pyref_free(rr);
        pyref_free(rl);
    }
}

static void test_norms(void **state) { (void)state; run_norms(0); }
static void test_norms_torch(void **state) { (void)state; PYREF_REQUIRE(); run_norms(1); }

/* ------------------------------------------------------------------ rope */

static void run_rope(int torch)
{
    /* n, heads, head_dim, rot_dim, interleaved, theta, pos_scale */
    static const struct { int n, nh, hd, rot, il; float theta, ps; } cs[] = {
        {1, 2, 8, 8, 0, 10000.0f, 1.0f},    {3, 4, 64, 64, 1, 10000.0f, 1.0f},
        {17, 3, 64, 32, 0, 500000.0f, 0.25f}, {5, 2, 128, 128, 0, 1e6f, 1.0f},
        {9, 5, 96, 64, 1, 10000.0f, 0.5f},
    };
    int nc = (int)(sizeof cs / sizeof *cs);
    pyref *r = maybe_pyref(torch);
    float *outs[8];
    size_t sizes[8];
    char buf[64];
    for (int ci = 0; ci < nc; ci++) {
        int n = cs[ci].n, nh = cs[ci].nh, hd = cs[ci].hd, rot = cs[ci].rot, half = rot / 2;
        size_t total = (size_t)n * nh * hd;
        float *x = rand_vec(total, 1.0f), *y = malloc(total * sizeof *y);
        int32_t *pos = malloc((size_t)n * sizeof *pos);
        assert_non_null(y);
        assert_non_null(pos);
        for (int i = 0; i < n; i++) pos[i] = (int32_t)(next_u64() % 5000);
        memcpy(y, x, total * sizeof *y);
        be->rope(y, n, nh, hd, rot, pos, cs[ci].theta, cs[ci].ps, cs[ci].il);
        assert_null(be->error());
        double *ref = dvec(total);
        for (size_t i = 0; i < total; i++) ref[i] = x[i];
        for (int i = 0; i < n; i++)
            for (int h = 0; h < nh; h++) {
                double *v = ref + ((size_t)i * nh + h) * hd;
                const float *xv = x + ((size_t)i * nh + h) * hd;
                for (int j = 0; j < half; j++) {
                    double ang = (double)pos[i] * cs[ci].ps / pow(cs[ci].theta, 2.0 * j / rot);
                    int a = cs[ci].il ? 2 * j : j, b = cs[ci].il ? 2 * j + 1 : j + half;
                    v[a] = xv[a] * cos(ang) - xv[b] * sin(ang);
                    v[b] = xv[a] * sin(ang) + xv[b] * cos(ang);
                }
            }
        check_close("rope", y, ref, total);
        free(ref);
        if (r) {
            pyref_param(r, NAME(buf, ci, "n"), n);
            pyref_param(r, NAME(buf, ci, "n_heads"), nh);
            pyref_param(r, NAME(buf, ci, "head_dim"), hd);
            pyref_param(r, NAME(buf, ci, "rot_dim"), rot);
            pyref_param(r, NAME(buf, ci, "interleaved"), cs[ci].il);
            pyref_param(r, NAME(buf, ci, "theta"), cs[ci].theta);
            pyref_param(r, NAME(buf, ci, "pos_scale"), cs[ci].ps);
            pyref_put_f32(r, NAME(buf, ci, "x"), x, total);
            pyref_put_i32(r, NAME(buf, ci, "pos"), pos, (size_t)n);
            outs[ci] = y;
            sizes[ci] = total;
        } else {
            free(y);
        }
        free(x);
        free(pos);
    }
    if (r) {
        pyref_param(r, "cases", nc);
        assert_int_equal(pyref_run(r, "cpu_ops_ref", "rope"), 0);
        for (int i = 0; i < nc; i++) {
            check_torch(r, i, "x", outs[i], sizes[i]);
            free(outs[i]);
        }
        pyref_free(r);
    }
}

static void test_rope(void **state) { (void)state; run_rope(0); }
static void test_rope_torch(void **state) { (void)state; PYREF_REQUIRE(); run_rope(1); }

/* ------------------------------------------------------------- attention */

typedef struct { int n_q, q_pos0, n_kv, extra, nh, nkvh, hd, causal; float alibi; } att_case;

static const att_case att_cases[] = {
    {1, 0, 1, 0, 2, 2, 8, 1, 0},        /* first token */
    {7, 0, 7, 0, 4, 4, 16, 1, 0},       /* prefill, MHA */
    {1, 20, 21, 3, 8, 2, 32, 1, 0},     /* decode, GQA 4:1, padded kv rows */
    {5, 7, 12, 0, 4, 1, 17, 1, 0},      /* chunk after a cached prefix, MQA, odd head_dim */
    {17, 0, 17, 0, 6, 3, 64, 1, 8.0f},  /* ALiBi (MPT), 6 heads: non-power-of-two slopes */
    {9, 0, 13, 5, 3, 3, 24, 0, 0},      /* non-causal (vision encoder) */
    {3, 30, 33, 0, 32, 8, 64, 1, 0},    /* LLaMA-like head counts */
    {64, 0, 64, 0, 4, 2, 64, 1, 0},     /* a longer prefill */
};

static void naive_attention(double *ref, const float *q, const float *k, const float *v,
                            const att_case *c, int kv_stride, float scale)
{
    int group = c->nh / c->nkvh, qd = c->nh * c->hd;
    double *s = dvec((size_t)c->n_kv);
    for (int i = 0; i < c->n_q; i++)
        for (int h = 0; h < c->nh; h++) {
            int kh = h / group, pos = c->q_pos0 + i;
            double mx = -INFINITY, sum = 0;
            int len = c->causal ? (pos + 1 < c->n_kv ? pos + 1 : c->n_kv) : c->n_kv;
            for (int j = 0; j < len; j++) {
                double acc = 0;
                for (int t = 0; t < c->hd; t++)
                    acc += (double)q[(size_t)i * qd + h * c->hd + t] *
                           k[(size_t)j * kv_stride + kh * c->hd + t];
                s[j] = acc * scale;
                if (c->alibi > 0) s[j] += cpu_alibi_slope(h, c->nh, c->alibi) * (double)(j - pos);
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j < len; j++) sum += (s[j] = exp(s[j] - mx));
            for (int t = 0; t < c->hd; t++) {
                double acc = 0;
                for (int j = 0; j < len; j++) acc += s[j] * v[(size_t)j * kv_stride + kh * c->hd + t];
                ref[(size_t)i * qd + h * c->hd + t] = len ? acc / sum : 0.0;
            }
        }
    free(s);
}

static void run_attention(int torch)
{
    int nc = (int)(sizeof att_cases / sizeof *att_cases);
    pyref *r = maybe_pyref(torch);
    float *outs[16];
    size_t sizes[16];
    char buf[64];
    for (int ci = 0; ci < nc; ci++) {
        const att_case *c = &att_cases[ci];
        int kv_stride = c->nkvh * c->hd + c->extra, qd = c->nh * c->hd;
        float scale = 1.0f / sqrtf((float)c->hd);
        float *q = rand_vec((size_t)c->n_q * qd, 2.0f);
        float *k = rand_vec((size_t)c->n_kv * kv_stride, 2.0f);
        float *v = rand_vec((size_t)c->n_kv * kv_stride, 1.0f);
        float *out = nan_vec((size_t)c->n_q * qd);
        be->attention(out, q, k, v, c->n_q, c->q_pos0, c->n_kv, kv_stride, c->nh, c->nkvh, c->hd,
                      scale, c->causal, c->alibi);
        assert_null(be->error());
        double *ref = dvec((size_t)c->n_q * qd);
        naive_attention(ref, q, k, v, c, kv_stride, scale);
        char what[64];
        snprintf(what, sizeof what, "attention case %d", ci);
        check_close(what, out, ref, (size_t)c->n_q * qd);
        free(ref);
        if (r) {
            const char *pn[] = {"n_q", "q_pos0", "n_kv", "kv_stride", "n_heads", "n_kv_heads",
                                "head_dim", "causal", "alibi", "scale"};
            double pv[] = {c->n_q, c->q_pos0, c->n_kv, kv_stride, c->nh, c->nkvh, c->hd,
                           c->causal, c->alibi, scale};
            for (int p = 0; p < 10; p++) pyref_param(r, NAME(buf, ci, pn[p]), pv[p]);
            pyref_put_f32(r, NAME(buf, ci, "q"), q, (size_t)c->n_q * qd);
            pyref_put_f32(r, NAME(buf, ci, "k"), k, (size_t)c->n_kv * kv_stride);
            pyref_put_f32(r, NAME(buf, ci, "v"), v, (size_t)c->n_kv * kv_stride);
            outs[ci] = out;
            sizes[ci] = (size_t)c->n_q * qd;
        } else {
            free(out);
        }
        free(q);
        free(k);
        free(v);
    }
    if (r) {
        pyref_param(r, "cases", nc);
        assert_int_equal(pyref_run(r, "cpu_ops_ref", "attention"), 0);
        for (int i = 0; i < nc; i++) {
            check_torch(r, i, "out", outs[i], sizes[i]);
            free(outs[i]);
        }
        pyref_free(r);
    }
}

static void test_attention(void **state) { (void)state; run_attention(0); }
static void test_attention_torch(void **state) { (void)state; PYREF_REQUIRE(); run_attention(1); }

/* ------------------------------------------------------------ element-wise */

enum { E_ADD, E_SCALE, E_SWIGLU, E_GEGLU, E_GELU, E_GELU_TANH, E_QGELU, E_SILU, E_SOFTMAX, E_COUNT };
static const char *const e_names[E_COUNT] = {"add",  "scale",      "swiglu",     "geglu",  "gelu",
                                             "gelu_tanh", "quick_gelu", "silu", "softmax"};

static double gelu_tanh_d(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

static void run_eltwise(int torch)
{
    static const long lens[] = {1, 3, 17, 1000, 40000};
    static const int sm_rows[] = {1, 3, 1, 10, 4};
    int nc = 5;
    pyref *r = maybe_pyref(torch);
    float *outs[5][E_COUNT];
    char buf[64];
    for (int ci = 0; ci < nc; ci++) {
        long n = lens[ci];
        float s = 0.37f;
        float *a = rand_vec((size_t)n, 6.0f), *b = rand_vec((size_t)n, 2.0f);
        float *sm = rand_vec((size_t)n, 30.0f); /* large logits: needs the max shift */
        float *y[E_COUNT];
        for (int e = 0; e < E_COUNT; e++) y[e] = nan_vec((size_t)n);
        be->add(y[E_ADD], a, b, n);
        be->scale(y[E_SCALE], a, s, n);
        be->swiglu(y[E_SWIGLU], a, b, n);
        be->geglu(y[E_GEGLU], a, b, n);
        be->gelu(y[E_GELU], a, n);
        be->gelu_tanh(y[E_GELU_TANH], a, n);
        be->quick_gelu(y[E_QGELU], a, n);
        be->silu(y[E_SILU], a, n);
        be->softmax(y[E_SOFTMAX], sm, sm_rows[ci], (int)(n / sm_rows[ci]));
        assert_null(be->error());
        double *ref = dvec((size_t)n);
        for (int e = 0; e < E_COUNT; e++) {
            int rows = sm_rows[ci], d = (int)(n / rows);
            for (long i = 0; i < n; i++) {
                double x = a[i], g = b[i];
                switch (e) {
                case E_ADD: ref[i] = x + g; break;
                case E_SCALE: ref[i] = (double)s * x; break;
                case E_SWIGLU: ref[i] = x / (1 + exp(-x)) * g; break;
                case E_GEGLU: ref[i] = gelu_tanh_d(x) * g; break;
                case E_GELU: ref[i] = 0.5 * x * (1 + erf(x / sqrt(2.0))); break;
                case E_GELU_TANH: ref[i] = gelu_tanh_d(x); break;
                case E_QGELU: ref[i] = x / (1 + exp(-1.702 * x)); break;
                case E_SILU: ref[i] = x / (1 + exp(-x)); break;
                case E_SOFTMAX:
                    if (i % d == 0) {
                        double mx = -INFINITY, sum = 0;
                        for (int j = 0; j < d; j++) mx = fmax(mx, sm[i + j]);
                        for (int j = 0; j < d; j++) sum += exp(sm[i + j] - mx);
                        for (int j = 0; j < d; j++) ref[i + j] = exp(sm[i + j] - mx) / sum;
                    }
                    break;
                }
            }
            char what[64];
            snprintf(what, sizeof what, "%s n=%ld", e_names[e], n);
            if (e == E_SOFTMAX) /* each row on its own scale */
                for (int i = 0; i < rows; i++)
                    check_close(what, y[e] + (size_t)i * d, ref + (size_t)i * d, (size_t)d);
            else
                check_close(what, y[e], ref, (size_t)n);
        }
        free(ref);
        /* in place: y == input must work */
        float *t = malloc((size_t)n * sizeof *t);
        assert_non_null(t);
        memcpy(t, a, (size_t)n * sizeof *t);
        be->silu(t, t, n);
        check_close_f("silu in place", t, y[E_SILU], (size_t)n);
        free(t);
        if (r) {
            pyref_param(r, NAME(buf, ci, "s"), s);
            pyref_param(r, NAME(buf, ci, "rows"), sm_rows[ci]);
            pyref_put_f32(r, NAME(buf, ci, "a"), a, (size_t)n);
            pyref_put_f32(r, NAME(buf, ci, "b"), b, (size_t)n);
            pyref_put_f32(r, NAME(buf, ci, "sm"), sm, (size_t)n);
            for (int e = 0; e < E_COUNT; e++) outs[ci][e] = y[e];
        } else {
            for (int e = 0; e < E_COUNT; e++) free(y[e]);
        }
        free(a);
        free(b);
        free(sm);
    }
    if (r) {
        pyref_param(r, "cases", nc);
        assert_int_equal(pyref_run(r, "cpu_ops_ref", "eltwise"), 0);
        for (int ci = 0; ci < nc; ci++)
            for (int e = 0; e < E_COUNT; e++) {
                int rows = e == E_SOFTMAX ? sm_rows[ci] : 1;
                size_t d = (size_t)(lens[ci] / rows);
                float *ref = pyref_get_f32(r, NAME(buf, ci, e_names[e]), (size_t)lens[ci]);
                assert_non_null(ref);
                for (int i = 0; i < rows; i++)
                    check_close_f(e_names[e], outs[ci][e] + i * d, ref + i * d, d);
                free(ref);
                free(outs[ci][e]);
            }
        pyref_free(r);
    }
}

static void test_eltwise(void **state) { (void)state; run_eltwise(0); }
static void test_eltwise_torch(void **state) { (void)state; PYREF_REQUIRE(); run_eltwise(1); }

/* ------------------------------------------------------------- embedding */

static void run_embedding(int torch)
{
    static const iris_dtype dts[] = {IRIS_F32, IRIS_F16, IRIS_BF16, IRIS_Q8_0};
    static const int dims[] = {17, 64, 6, 96};
    pyref *r = maybe_pyref(torch);
    float *outs[4];
    size_t sizes[4];
    char buf[64];
    for (int ci = 0; ci < 4; ci++) {
        int rows = 50, d = dims[ci], n = ci * 5 + 1;
        float scale = ci % 2 ? sqrtf((float)d) : 1.0f;
        iris_tensor t;
        make_weight(&t, dts[ci], rows, d, 1.0f);
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        assert_non_null(ids);
        for (int i = 0; i < n; i++) ids[i] = (int32_t)(next_u64() % rows);
        float *y = nan_vec((size_t)n * d);
        be->embedding(y, &t, ids, n, scale);
        assert_null(be->error());
        double *td = weight_dense(&t), *ref = dvec((size_t)n * d);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) ref[(size_t)i * d + j] = td[(size_t)ids[i] * d + j] * scale;
        check_close("embedding", y, ref, (size_t)n * d);
        free(td);
        free(ref);
        if (r) {
            pyref_param(r, NAME(buf, ci, "rows"), rows);
            pyref_param(r, NAME(buf, ci, "d"), d);
            pyref_param(r, NAME(buf, ci, "scale"), scale);
            put_weight(r, NAME(buf, ci, "table"), &t);
            pyref_put_i32(r, NAME(buf, ci, "ids"), ids, (size_t)n);
            outs[ci] = y;
            sizes[ci] = (size_t)n * d;
        } else {
            free(y);
        }
        free(ids);
        iris_tensor_free(&t);
    }
    if (r) {
        pyref_param(r, "cases", 4);
        assert_int_equal(pyref_run(r, "cpu_ops_ref", "embedding"), 0);
        for (int i = 0; i < 4; i++) {
            check_torch(r, i, "y", outs[i], sizes[i]);
            free(outs[i]);
        }
        pyref_free(r);
    }
}

static void test_embedding(void **state) { (void)state; run_embedding(0); }
static void test_embedding_torch(void **state) { (void)state; PYREF_REQUIRE(); run_embedding(1); }

/* ---------------------------------------------------------------- clamp */

/* MPT's clip_qkv: every element against min(max(x, lo), hi), in place too. */
static void test_clamp(void **state)
{
    (void)state;
    enum { N = 3001 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = 4.0f * frand();
    x[0] = -INFINITY;
    x[1] = INFINITY;
    x[2] = 0.5f;  /* on the bound */
    be->clamp(y, x, -0.5f, 0.5f, N);
    for (int i = 0; i < N; i++) {
        float want = x[i] < -0.5f ? -0.5f : x[i] > 0.5f ? 0.5f : x[i];
        assert_true(y[i] == want);
    }
    be->clamp(x, x, -0.5f, 0.5f, N);
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(be->sync(), 0);
}

/* ---------------------------------------------------- memory and errors */

static void test_memory_and_copy(void **state)
{
    (void)state;
    float *buf = be->alloc(1000 * sizeof(float));
    assert_non_null(buf);
    for (int i = 0; i < 1000; i++) assert_true(buf[i] == 0.0f); /* zeroed */
    float src[1000], back[1000];
    for (int i = 0; i < 1000; i++) src[i] = frand();
    assert_int_equal(be->upload(buf, src, sizeof src), 0);
    float *buf2 = be->alloc(sizeof src);
    assert_non_null(buf2);
    be->copy(buf2, buf, 1000);
    assert_int_equal(be->download(back, buf2, sizeof back), 0);
    assert_memory_equal(src, back, sizeof src);
    be->free(buf);
    be->free(buf2);

    iris_tensor w, wd;
    make_weight(&w, IRIS_F16, 4, 8, 1.0f);
    assert_int_equal(be->weight_upload(&wd, &w), 0);
    assert_ptr_equal(wd.data, w.data);
    assert_int_equal(wd.owns_data, 0);
    be->weight_free(&wd);
    iris_tensor_free(&w);
    assert_int_equal(be->sync(), 0);
}

static void test_bad_input_is_recorded(void **state)
{
    (void)state;
    iris_tensor w;
    make_weight(&w, IRIS_F32, 4, 8, 1.0f);
    float x[16] = {0}, y[8];
    for (int i = 0; i < 8; i++) y[i] = 42.0f;
    be->linear(y, x, &w, NULL, 2, 7, 4); /* k does not match the weight */
    assert_non_null(be->error());
    assert_int_equal(be->sync(), -1);
    for (int i = 0; i < 8; i++) assert_true(y[i] == 42.0f); /* untouched */
    be->linear(y, x, &w, NULL, 2, 8, 4); /* later ops are no-ops */
    for (int i = 0; i < 8; i++) assert_true(y[i] == 42.0f);
    iris_cpu_clear_error();
    assert_null(be->error());
    be->linear(y, x, &w, NULL, 2, 8, 4);
    for (int i = 0; i < 8; i++) assert_true(y[i] == 0.0f);
    iris_tensor_free(&w);

    iris_tensor q;
    make_weight(&q, IRIS_F32, 4, 8, 1.0f);
    q.dtype = IRIS_Q8_0; /* k = 8 is not a whole Q8_0 block */
    be->linear(y, x, &q, NULL, 2, 8, 4);
    assert_non_null(be->error());
    iris_cpu_clear_error();
    q.dtype = IRIS_F32;
    iris_tensor_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),          cmocka_unit_test(test_linear_torch),
        cmocka_unit_test(test_gemm),            cmocka_unit_test(test_gemm_torch),
        cmocka_unit_test(test_norms),           cmocka_unit_test(test_norms_torch),
        cmocka_unit_test(test_rope),            cmocka_unit_test(test_rope_torch),
        cmocka_unit_test(test_attention),       cmocka_unit_test(test_attention_torch),
        cmocka_unit_test(test_eltwise),         cmocka_unit_test(test_eltwise_torch),
        cmocka_unit_test(test_embedding),       cmocka_unit_test(test_embedding_torch),
        cmocka_unit_test(test_memory_and_copy), cmocka_unit_test(test_bad_input_is_recorded),
        cmocka_unit_test(test_clamp),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

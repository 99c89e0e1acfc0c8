/* testvec.h — random test inputs and the error measure the backend tests
 * share (test_cpu_train.c, test_cuda_parity.c).
 *
 * tv_rand draws from a xorshift generator seeded once per binary from the
 * clock (printed, and fixed with IRIS_TEST_SEED=<n> to replay a failure), so
 * each run sees fresh inputs.  tv_rel_err is normwise: the worst element's
 * error over the reference's largest magnitude; NaN/inf anywhere is INFINITY.
 */
#ifndef IRIS_TESTS_TESTVEC_H
#define IRIS_TESTS_TESTVEC_H

#include <stddef.h>
#include <stdint.h>

/* Seeds the generator (from IRIS_TEST_SEED or the clock) and prints the seed. */
void tv_seed(const char *test_name);
uint64_t tv_u64(void);
/* Uniform in [-1, 1). */
float tv_uniform(void);
/* malloc'd vectors (never NULL: aborts the test binary on OOM). */
float *tv_rand(size_t n, float scale);
float *tv_nan(size_t n);
float *tv_copy(const float *a, size_t n);
int32_t *tv_ints(size_t n, int32_t lo, int32_t hi);   /* uniform in [lo, hi) */
double tv_rel_err(const float *got, const float *ref, size_t n);

#endif

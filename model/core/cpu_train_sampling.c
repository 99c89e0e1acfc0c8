/* cpu_train_sampling.c — argmax and temperature / top-k / top-p sampling
 * (backend_train.h gives the rule), step for step what the CUDA kernel does
 * (kernels/cuda_sampling.cu) so that the two pick the same token:
 * e_i = exp((l_i - max) / T), the kept set's threshold by bisection on the
 * bits of a positive float (count and mass at or above it), then a walk over
 * the kept ids in order until the running sum passes u * kept mass.
 */
#include "cpu_train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cpu_argmax(const float *logits, int v)
{
    if (cpu_failed()) return -1;
    if (v <= 0) {
        cpu_fail("cpu: argmax over %d logits", v);
        return -1;
    }
    int best = -1;
    for (int j = 0; j < v; j++)
        if (!isnan(logits[j]) && (best < 0 || logits[j] > logits[best])) best = j;
    if (best < 0) cpu_fail("cpu: argmax: every logit is NaN");
    return best;
}

static float bits_to_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

int cpu_sample(const float *logits, int v, const iris_sample_params *p)
{
    if (cpu_failed()) return -1;
    if (!p || v <= 0) {
        cpu_fail("cpu: sample over %d logits without parameters", v);
        return -1;
    }
    if (!(p->temperature > 0.0f)) return cpu_argmax(logits, v);
    float *e = malloc((size_t)v * sizeof *e);
    if (!e) {
        cpu_fail("cpu: out of memory sampling %d logits", v);
        return -1;
    }
    const float inv_t = 1.0f / p->temperature;
    float mx = -INFINITY;
    for (int j = 0; j < v; j++)
        if (!isnan(logits[j])) mx = logits[j] > mx ? logits[j] : mx;
    double total = 0.0;
    for (int j = 0; j < v; j++) {
        e[j] = isnan(logits[j]) || mx == -INFINITY ? 0.0f : expf((logits[j] - mx) * inv_t);
        total += e[j];
    }
    if (total <= 0.0) {
        free(e);
        return 0;
    }
    int use_k = p->top_k > 0 && p->top_k < v, use_p = p->top_p < 1.0f;
    uint32_t lo = 0, hi = use_k || use_p ? 0x3F800000u : 0; /* e <= 1.0f */
    double want = (double)p->top_p * total;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        float t = bits_to_float(mid);
        double cnt = 0.0, mass = 0.0;
        for (int j = 0; j < v; j++)
            if (e[j] >= t) {
                cnt += 1.0;
                mass += e[j];
            }
        int ok = (use_k && cnt >= p->top_k) || (use_p && mass >= want);
        if (ok) lo = mid; else hi = mid - 1;
    }
    const float th = bits_to_float(lo);
    double kept = 0.0;
    int last = -1;
    for (int j = 0; j < v; j++)
        if (e[j] > 0.0f && e[j] >= th) {
            kept += e[j];
            last = j;
        }
    double target = iris_sample_uniform(p->seed) * kept, run = 0.0;
    int chosen = last >= 0 ? last : 0;
    for (int j = 0; j < v; j++)
        if (e[j] > 0.0f && e[j] >= th) {
            run += e[j];
            if (run > target) {
                chosen = j;
                break;
            }
        }
    free(e);
    return chosen;
}

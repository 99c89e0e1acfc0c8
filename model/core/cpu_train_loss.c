/* cpu_train_loss.c — fused softmax cross-entropy and its gradient
 * (backend_train.h): per row, loss = log(sum exp(l - max)) + max - l[t] and
 * dlogits = (softmax - onehot) * grad_scale, without storing probabilities.
 * Rows whose target is outside [0, v) (the -100 of masked prompt tokens)
 * contribute nothing.  The target's logit is read first: dlogits may be logits.
 */
#include "cpu_train_internal.h"

#include <math.h>

void cpu_cross_entropy(float *loss, float *dlogits, const float *logits,
                       const int32_t *targets, int n, int v, float grad_scale)
{
    if (cpu_failed() || n <= 0) return;
    if (v <= 0 || !loss) {
        cpu_fail("cpu: cross_entropy needs a vocabulary (%d) and a loss buffer", v);
        return;
    }
#pragma omp parallel for if ((long)n * v >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int i = 0; i < n; i++) {
        const float *xr = logits + (long)i * v;
        float *gr = dlogits ? dlogits + (long)i * v : NULL;
        int t = targets[i];
        if (t < 0 || t >= v) {
            loss[i] = 0.0f;
            if (gr)
                for (int j = 0; j < v; j++) gr[j] = 0.0f;
            continue;
        }
        float xt = xr[t], mx = -INFINITY;
        for (int j = 0; j < v; j++) mx = xr[j] > mx ? xr[j] : mx;
        double s = 0.0;
        for (int j = 0; j < v; j++) s += expf(xr[j] - mx);
        loss[i] = (float)(log(s) + mx - xt);
        if (!gr) continue;
        float inv = (float)(1.0 / s);
        /* the target's p - 1 as -(s - e_t) / s: no cancellation when p ~ 1 */
        float gt = (float)(-(s - (double)expf(xt - mx)) / s) * grad_scale;
        for (int j = 0; j < v; j++) gr[j] = expf(xr[j] - mx) * inv * grad_scale;
        gr[t] = gt;
    }
}

/* ema.c — see ema.h. */
#include "ema.h"

#include <math.h>

void ema_smooth(const double *in, int n, double smoothing, double *out)
{
    double s = smoothing < 0 ? 0 : smoothing > 0.999 ? 0.999 : smoothing;
    double v = 0, decay = 1, last = NAN;
    for (int i = 0; i < n; i++) {
        double x = in[i];
        if (isfinite(x)) {
            v = s * v + (1 - s) * x;
            decay *= s;
            last = v / (1 - decay);
        }
        out[i] = last;
    }
}

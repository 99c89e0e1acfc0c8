/* ema.h — exponential moving average with start-up bias correction, as loss
 * plots smooth noisy curves: v_t = s*v_{t-1} + (1-s)*x_t, shown as
 * v_t / (1 - s^t), so the first points are not pulled towards zero.
 * Non-finite inputs are skipped (the output repeats the last value, NaN
 * before the first finite one).  Pure; unit-tested. */
#ifndef IRIS_EMA_H
#define IRIS_EMA_H

/* smoothing in [0, 1): 0 returns the input unchanged. out may equal in. */
void ema_smooth(const double *in, int n, double smoothing, double *out);

#endif

/* timer.h — monotonic wall-clock seconds for throughput figures. */
#ifndef IRIS_TIMER_H
#define IRIS_TIMER_H

#include <time.h>

static inline double iris_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#endif

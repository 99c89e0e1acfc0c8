/* The CPU backend's thread count: OpenMP for our loops, OpenBLAS for GEMMs. */
#include "backend.h"

#include <omp.h>

void openblas_set_num_threads(int);

static int cpu_threads;

void iris_cpu_set_threads(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    cpu_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int iris_cpu_threads(void)
{
    if (!cpu_threads) iris_cpu_set_threads(0);
    return cpu_threads;
}

/* The CPU backend's thread count.
 *
 * All parallelism is OpenMP: our loops, and the sgemm calls, which the
 * backend splits across OpenMP threads itself with OpenBLAS kept at one
 * thread.  Two thread pools (libgomp's and OpenBLAS's pthreads) would each
 * spin-wait on the cores while the other works: measured, a layer of
 * linear + norm + activation ran 4x slower than its parts.
 */
#include "backend.h"

#include <omp.h>

void openblas_set_num_threads(int);

static int cpu_threads;

void iris_cpu_set_threads(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    cpu_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
}

int iris_cpu_threads(void)
{
    if (!cpu_threads) iris_cpu_set_threads(0);
    return cpu_threads;
}

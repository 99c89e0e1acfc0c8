/* cpu_train_embedding.c — embedding backward: scatter-add of the output
 * gradient rows into the table's gradient.  Ids are checked first (a bad id
 * is an error and nothing is written).  Parallel over columns, so repeated
 * ids never race and the summation order is fixed.
 */
#include "cpu_train_internal.h"

void cpu_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int n, int d,
                            int vocab, float scale)
{
    if (cpu_failed() || n <= 0 || d <= 0) return;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) {
            cpu_fail("cpu: embedding backward: id %d outside [0, %d)", (int)ids[i], vocab);
            return;
        }
#pragma omp parallel for if ((long)n * d >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int j = 0; j < d; j++)
        for (int i = 0; i < n; i++) dtable[(long)ids[i] * d + j] += scale * dy[(long)i * d + j];
}

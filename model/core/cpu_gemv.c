/* cpu_gemv.c — weight-streaming GEMV for small n (see cpu_gemv.h). */
#include "cpu_internal.h"
#include "cpu_gemv.h"

#include <omp.h>
#include <stdlib.h>

void cpu_gemv(float *y, const float *x, const iris_tensor *w, const float *b, int n, int k,
              int m)
{
    size_t row_bytes = iris_dtype_row_bytes(w->dtype, k);
    int nt = cpu_nthreads();
    float *rowbuf = malloc((size_t)nt * k * sizeof *rowbuf);
    if (!rowbuf) {
        cpu_fail("cpu: out of memory in linear");
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        float *wr = rowbuf + (size_t)omp_get_thread_num() * k;
#pragma omp for schedule(static)
        for (int j = 0; j < m; j++) {
            iris_to_f32(w->dtype, (const char *)w->data + (size_t)j * row_bytes, wr, k);
            for (int i = 0; i < n; i++) {
                const float *xr = x + (long)i * k;
                float s = 0.0f;
                for (int t = 0; t < k; t++) s += wr[t] * xr[t];
                y[(long)i * m + j] = s + (b ? b[j] : 0.0f);
            }
        }
    }
    free(rowbuf);
}

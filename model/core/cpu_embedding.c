/* cpu_embedding.c — token embedding lookup: rows of a weight table of any
 * dtype, converted to f32 and scaled (Gemma multiplies by sqrt(d)). */
#include "cpu_internal.h"

void cpu_embedding(float *y, const iris_tensor *table, const int32_t *ids, int n, float scale)
{
    if (cpu_failed() || n <= 0) return;
    if (!table->data || table->ndim != 2 || table->dtype == IRIS_I32 ||
        !iris_dtype_row_bytes(table->dtype, table->shape[1])) {
        cpu_fail("cpu: embedding table is not a 2-D weight");
        return;
    }
    int64_t rows = table->shape[0], d = table->shape[1];
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= rows) { /* the caller validates; stay safe anyway */
            cpu_fail("cpu: embedding id %d outside [0, %lld)", ids[i], (long long)rows);
            return;
        }
    size_t row_bytes = iris_dtype_row_bytes(table->dtype, d);
#pragma omp parallel for if ((long)n * d >= CPU_PAR_MIN) num_threads(cpu_nthreads())
    for (int i = 0; i < n; i++) {
        float *yr = y + (long)i * d;
        cpu_to_f32(table->dtype, (const char *)table->data + (size_t)ids[i] * row_bytes, yr, d);
        if (scale != 1.0f)
            for (int64_t j = 0; j < d; j++) yr[j] *= scale;
    }
}

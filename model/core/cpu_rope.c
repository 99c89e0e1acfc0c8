/* cpu_rope.c — rotary position embedding, in place, HF half-rotation or GGUF
 * interleaved pairs; dimensions past rot_dim pass through (partial rotary).
 *
 * Angles are computed in double: pos * inv_freq at positions in the thousands
 * loses ~1e-4 radians in f32, which would show up as a real difference from
 * the exact rotation.  One sin/cos table per token, shared by its heads.
 */
#include "cpu_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

void cpu_rope(float *x, int n, int n_heads, int head_dim, int rot_dim, const int32_t *pos,
              float theta, float pos_scale, int interleaved)
{
    if (cpu_failed() || n <= 0 || n_heads <= 0) return;
    if (rot_dim <= 0 || rot_dim > head_dim || rot_dim % 2) {
        cpu_fail("cpu: rope rot_dim %d invalid for head_dim %d", rot_dim, head_dim);
        return;
    }
    int half = rot_dim / 2;
    int nt = cpu_nthreads();
    float *tables = malloc((size_t)nt * 2 * half * sizeof *tables);
    if (!tables) {
        cpu_fail("cpu: out of memory in rope");
        return;
    }
#pragma omp parallel num_threads(nt) if ((long)n * n_heads * head_dim >= CPU_PAR_MIN)
    {
        float *cs = tables + (size_t)omp_get_thread_num() * 2 * half, *sn = cs + half;
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++) {
            double p = (double)pos[i] * pos_scale;
            for (int j = 0; j < half; j++) {
                double a = p * pow((double)theta, -2.0 * j / rot_dim);
                cs[j] = (float)cos(a);
                sn[j] = (float)sin(a);
            }
            for (int h = 0; h < n_heads; h++) {
                float *v = x + ((long)i * n_heads + h) * head_dim;
                if (interleaved) {
                    for (int j = 0; j < half; j++) {
                        float a = v[2 * j], b = v[2 * j + 1];
                        v[2 * j] = a * cs[j] - b * sn[j];
                        v[2 * j + 1] = a * sn[j] + b * cs[j];
                    }
                } else {
                    for (int j = 0; j < half; j++) {
                        float a = v[j], b = v[j + half];
                        v[j] = a * cs[j] - b * sn[j];
                        v[j + half] = a * sn[j] + b * cs[j];
                    }
                }
            }
        }
    }
    free(tables);
}

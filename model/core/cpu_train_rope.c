/* cpu_train_rope.c — RoPE backward: a rotation's inverse is the rotation by
 * the opposite angle, and the angle is linear in the position, so the
 * gradient is the forward op run at negated positions (exactly: cos is even,
 * sin odd, and the angle is computed in double from the integer position).
 */
#include "cpu_train_internal.h"

#include <stdlib.h>

void cpu_rope_backward(float *dx, int n, int n_heads, int head_dim, int rot_dim,
                       const int32_t *pos, float theta, float pos_scale, int interleaved)
{
    if (cpu_failed() || n <= 0) return;
    int32_t *neg = malloc((size_t)n * sizeof *neg);
    if (!neg) {
        cpu_fail("cpu: out of memory in rope backward");
        return;
    }
    for (int i = 0; i < n; i++) {
        if (pos[i] == INT32_MIN) {
            cpu_fail("cpu: rope backward position %d out of range", (int)pos[i]);
            free(neg);
            return;
        }
        neg[i] = -pos[i];
    }
    cpu_rope(dx, n, n_heads, head_dim, rot_dim, neg, theta, pos_scale, interleaved);
    free(neg);
}

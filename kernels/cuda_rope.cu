/* cuda_rope.cu — rotary position embedding in place, forward and backward.
 *
 * One thread per rotated pair (token, head, j).  Angles are computed in double,
 * like the CPU reference: pos * theta^(-2j/rot_dim) at positions in the
 * thousands loses ~1e-4 rad in f32.  The backward pass is the rotation by the
 * opposite angle (a rotation's transpose is its inverse).
 */
#include "cuda_internal.h"

__global__ static void rope_kernel(float *x, int n, int n_heads, int head_dim, int half,
                                   int rot_dim, const int32_t *pos, double theta,
                                   double pos_scale, int interleaved, double sign)
{
    long total = (long)n * n_heads * half;
    for (long t = blockIdx.x * (long)blockDim.x + threadIdx.x; t < total; t += (long)gridDim.x * blockDim.x) {
        int j = (int)(t % half);
        long row = t / half; /* token * n_heads + head */
        int i = (int)(row / n_heads);
        double a = (double)pos[i] * pos_scale * pow(theta, -2.0 * j / rot_dim);
        double s, c;
        sincos(a, &s, &c);
        float cs = (float)c, sn = (float)(sign * s);
        float *v = x + row * head_dim;
        int i0 = interleaved ? 2 * j : j, i1 = interleaved ? 2 * j + 1 : j + half;
        float p = v[i0], q = v[i1];
        v[i0] = p * cs - q * sn;
        v[i1] = p * sn + q * cs;
    }
}

static void rope_launch(float *x, int n, int n_heads, int head_dim, int rot_dim,
                        const int32_t *pos, float theta, float pos_scale, int interleaved,
                        double sign, const char *what)
{
    if (cuda_failed() || n <= 0 || n_heads <= 0) return;
    if (rot_dim <= 0 || rot_dim > head_dim || rot_dim % 2) {
        cuda_fail("cuda: %s rot_dim %d invalid for head_dim %d", what, rot_dim, head_dim);
        return;
    }
    const int32_t *dpos = cuda_ints(pos, n, CUDA_SCRATCH_INTS_A);
    if (!dpos) return;
    int half = rot_dim / 2;
    long total = (long)n * n_heads * half;
    rope_kernel<<<cuda_blocks(total, 256), 256, 0, cuda_stream()>>>(
        x, n, n_heads, head_dim, half, rot_dim, dpos, theta, pos_scale, interleaved, sign);
    cuda_check_launch(what);
}

extern "C" void cuda_rope(float *x, int n, int n_heads, int head_dim, int rot_dim,
                          const int32_t *pos, float theta, float pos_scale, int interleaved)
{
    rope_launch(x, n, n_heads, head_dim, rot_dim, pos, theta, pos_scale, interleaved, 1.0, "rope");
}

extern "C" void cuda_rope_backward(float *dx, int n, int n_heads, int head_dim, int rot_dim,
                                   const int32_t *pos, float theta, float pos_scale,
                                   int interleaved)
{
    rope_launch(dx, n, n_heads, head_dim, rot_dim, pos, theta, pos_scale, interleaved, -1.0,
                "rope backward");
}

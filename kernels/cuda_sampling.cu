/* cuda_sampling.cu — choosing the next token on the device, so that only its
 * id crosses to the host (4 bytes instead of the vocabulary's logits).
 *
 * One block of 1024 threads per call (a decode step samples one row):
 *  - argmax: strided scan, then a (value, lowest id) reduction; NaN never wins.
 *  - sample (backend_train.h gives the exact rule): e_i = exp((l_i - max)/T)
 *    is written once to scratch; the kept set's threshold — the probability of
 *    the r-th most likely token — is found by bisecting on the bit pattern of
 *    a positive float (ordered like the float), each step one pass counting
 *    the tokens and summing the mass at or above the candidate, instead of
 *    sorting the vocabulary; then each thread sums its contiguous range of
 *    kept ids, a block scan of those sums finds the range holding u * mass,
 *    and its thread walks it.
 * The CPU twin (cpu_train_sampling.c) follows the same steps sequentially.
 */
#include "cuda_internal.h"
#include "cuda_reduce.cuh"

#define THREADS 1024

__device__ static void better(float &bv, int &bi, float v, int i)
{
    /* bi < 0: nothing yet.  Ties go to the lower id. */
    if (isnan(v)) return;
    if (bi < 0 || v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}

/* Block-wide argmax; every thread gets the id (-1 when all are NaN). */
__device__ static int block_argmax(float bv, int bi)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (oi >= 0) better(bv, bi, ov, oi);
    }
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) {
        sv[wid] = bv;
        si[wid] = bi;
    }
    __syncthreads();
    if (wid == 0) {
        bv = sv[lane];
        bi = si[lane];
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (oi >= 0) better(bv, bi, ov, oi);
        }
        if (lane == 0) si[0] = bi;
    }
    __syncthreads();
    return si[0];
}

__global__ static void argmax_kernel(const float *logits, int v, int *out)
{
    float bv = 0.0f;
    int bi = -1;
    for (int j = threadIdx.x; j < v; j += blockDim.x) better(bv, bi, logits[j], j);
    int id = block_argmax(bv, bi);
    if (threadIdx.x == 0) *out = id;
}

__global__ static void sample_kernel(const float *logits, int v, float inv_t, int top_k, float top_p,
                                     double u, float *e, int *out)
{
    __shared__ double prefix[THREADS];
    __shared__ int chosen, last_kept;
    /* max over the non-NaN logits */
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < v; j += blockDim.x)
        if (!isnan(logits[j])) mx = fmaxf(mx, logits[j]);
    mx = block_max(mx);
    double total = 0.0;
    for (int j = threadIdx.x; j < v; j += blockDim.x) {
        float x = logits[j];
        float ej = isnan(x) || mx == -INFINITY ? 0.0f : expf((x - mx) * inv_t);
        e[j] = ej;
        total += ej;
    }
    total = block_sum(total);
    if (total <= 0.0) { /* nothing to sample from: fall back to the first id */
        if (threadIdx.x == 0) *out = 0;
        return;
    }
    /* threshold: the largest t (as float bits) with count(e >= t) >= top_k or
     * mass(e >= t) >= top_p * total; 0 keeps everything. */
    unsigned lo = 0, hi = 0x3F800000u; /* e <= 1.0f */
    int use_k = top_k > 0 && top_k < v, use_p = top_p < 1.0f;
    if (!use_k && !use_p) hi = 0;
    double want = (double)top_p * total;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo + 1) / 2;
        float t = __uint_as_float(mid);
        double cnt = 0.0, mass = 0.0;
        for (int j = threadIdx.x; j < v; j += blockDim.x)
            if (e[j] >= t) {
                cnt += 1.0;
                mass += e[j];
            }
        cnt = block_sum(cnt);
        mass = block_sum(mass);
        bool ok = (use_k && cnt >= top_k) || (use_p && mass >= want);
        if (ok) lo = mid; else hi = mid - 1;
    }
    const float th = __uint_as_float(lo);
    /* contiguous ranges of ids per thread, so the walk is in id order */
    int per = (v + blockDim.x - 1) / blockDim.x;
    int j0 = threadIdx.x * per, j1 = min(v, j0 + per);
    double local = 0.0;
    int my_last = -1;
    for (int j = j0; j < j1; j++)
        if (e[j] > 0.0f && e[j] >= th) {
            local += e[j];
            my_last = j;
        }
    prefix[threadIdx.x] = local;
    if (threadIdx.x == 0) {
        chosen = v;
        last_kept = -1;
    }
    __syncthreads();
    if (my_last >= 0) atomicMax(&last_kept, my_last);
    __shared__ double kept_mass;
    if (threadIdx.x == 0) { /* exclusive scan: 1024 adds, once per token */
        double run = 0.0;
        for (int i = 0; i < (int)blockDim.x; i++) {
            double x = prefix[i];
            prefix[i] = run;
            run += x;
        }
        kept_mass = run;
    }
    __syncthreads();
    double target = u * kept_mass, run = prefix[threadIdx.x];
    if (local > 0.0 && target < run + local) {
        for (int j = j0; j < j1; j++)
            if (e[j] > 0.0f && e[j] >= th) {
                run += e[j];
                if (run > target) {
                    atomicMin(&chosen, j);
                    break;
                }
            }
    }
    __syncthreads();
    if (threadIdx.x == 0) *out = chosen < v ? chosen : (last_kept >= 0 ? last_kept : 0);
}

static int fetch_id(int *dev_id, const char *what)
{
    int id = -1;
    if (cuda_check_launch(what) ||
        cuda_check(cudaMemcpyAsync(&id, dev_id, sizeof id, cudaMemcpyDeviceToHost, cuda_stream()), what) ||
        cuda_sync())
        return -1;
    return id;
}

extern "C" int cuda_argmax(const float *logits, int v)
{
    if (cuda_failed()) return -1;
    if (v <= 0) {
        cuda_fail("cuda: argmax over %d logits", v);
        return -1;
    }
    int *d = (int *)cuda_scratch(CUDA_SCRATCH_SAMPLE, sizeof(int));
    if (!d) return -1;
    argmax_kernel<<<1, THREADS, 0, cuda_stream()>>>(logits, v, d);
    int id = fetch_id(d, "argmax");
    if (id < 0 && !cuda_failed()) cuda_fail("cuda: argmax: every logit is NaN");
    return id;
}

extern "C" int cuda_sample(const float *logits, int v, const iris_sample_params *p)
{
    if (cuda_failed()) return -1;
    if (!p || v <= 0) {
        cuda_fail("cuda: sample over %d logits without parameters", v);
        return -1;
    }
    if (!(p->temperature > 0.0f)) return cuda_argmax(logits, v);
    int *d = (int *)cuda_scratch(CUDA_SCRATCH_SAMPLE, sizeof(int));
    float *e = (float *)cuda_scratch(CUDA_SCRATCH_PROBS, (size_t)v * sizeof(float));
    if (!d || !e) return -1;
    sample_kernel<<<1, THREADS, 0, cuda_stream()>>>(logits, v, 1.0f / p->temperature, p->top_k, p->top_p,
                                                    iris_sample_uniform(p->seed), e, d);
    return fetch_id(d, "sample");
}

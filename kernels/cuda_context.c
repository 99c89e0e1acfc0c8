/* cuda_context.c — the CUDA backend's device, stream, first-error record and
 * scratch buffers.
 *
 * One device (the current one, normally 0, chosen by CUDA_VISIBLE_DEVICES) and
 * one non-blocking stream carry every op, so ops are ordered among themselves
 * and asynchronous to the host; sync() drains the stream.  The first failure
 * is kept, as backend.h asks, and later ops become no-ops.
 */
#include "cuda_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static int ctx_state;            /* 0 untried, 1 ready, -1 unavailable */
static char ctx_why[256];
static char ctx_name[256] = "none";
static cudaStream_t ctx_stream;

static char err_msg[512];
static volatile int err_set;

void cuda_fail(const char *fmt, ...)
{
    pthread_mutex_lock(&ctx_lock);
    if (!err_set) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err_msg, sizeof err_msg, fmt, ap);
        va_end(ap);
        err_set = 1;
    }
    pthread_mutex_unlock(&ctx_lock);
}

int cuda_failed(void)
{
    return err_set;
}

const char *cuda_error(void)
{
    return err_set ? err_msg : NULL;
}

void cuda_clear_error(void)
{
    pthread_mutex_lock(&ctx_lock);
    err_set = 0;
    err_msg[0] = 0;
    pthread_mutex_unlock(&ctx_lock);
    (void)cudaGetLastError(); /* a non-sticky error must not resurface later */
}

int cuda_check(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return 0;
    cuda_fail("cuda: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return -1;
}

int cuda_check_launch(const char *what)
{
    return cuda_check(cudaGetLastError(), what);
}

int cuda_sync(void)
{
    if (ctx_state == 1 && !err_set) cuda_check(cudaStreamSynchronize(ctx_stream), "stream sync");
    return err_set ? -1 : 0;
}

cudaStream_t cuda_stream(void)
{
    return ctx_stream;
}

const char *cuda_device_name(void)
{
    return ctx_name;
}

static int init_locked(char *why, size_t why_len)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        snprintf(ctx_why, sizeof ctx_why, "no CUDA device (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "none visible");
        return -1;
    }
    int dev = 0;
    struct cudaDeviceProp prop;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess ||
        (e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess) {
        snprintf(ctx_why, sizeof ctx_why, "cannot query the CUDA device (%s)", cudaGetErrorString(e));
        return -1;
    }
    if (prop.major < 8) {
        /* bf16 tensor-core GEMMs and the bf16 conversions need sm_80+. */
        snprintf(ctx_why, sizeof ctx_why, "%.160s is compute capability %d.%d; iris needs 8.0+",
                 prop.name, prop.major, prop.minor);
        return -1;
    }
    if ((e = cudaStreamCreateWithFlags(&ctx_stream, cudaStreamNonBlocking)) != cudaSuccess) {
        snprintf(ctx_why, sizeof ctx_why, "cannot create a CUDA stream (%s)", cudaGetErrorString(e));
        return -1;
    }
    if (cuda_blas_init(ctx_why, sizeof ctx_why) != 0) return -1;
    snprintf(ctx_name, sizeof ctx_name, "%.200s, %.1f GiB", prop.name,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    (void)why; (void)why_len;
    return 0;
}

int cuda_init(char *why, size_t why_len)
{
    pthread_mutex_lock(&ctx_lock);
    if (ctx_state == 0) ctx_state = init_locked(why, why_len) == 0 ? 1 : -1;
    int ok = ctx_state == 1;
    pthread_mutex_unlock(&ctx_lock);
    if (!ok && why && why_len) snprintf(why, why_len, "%s", ctx_why);
    return ok ? 0 : -1;
}

/* ---- scratch ---- */

static void *scratch_ptr[CUDA_SCRATCH_COUNT];
static size_t scratch_size[CUDA_SCRATCH_COUNT];

void *cuda_scratch(int slot, size_t bytes)
{
    if (slot < 0 || slot >= CUDA_SCRATCH_COUNT) return NULL;
    if (bytes <= scratch_size[slot] && scratch_ptr[slot]) return scratch_ptr[slot];
    /* Ops already queued may still read the old buffer. */
    if (cuda_check(cudaStreamSynchronize(ctx_stream), "stream sync before scratch growth")) return NULL;
    if (scratch_ptr[slot]) cudaFree(scratch_ptr[slot]);
    scratch_ptr[slot] = NULL;
    scratch_size[slot] = 0;
    size_t want = bytes + bytes / 2 + 256; /* grow geometrically */
    void *p = cuda_alloc(want);
    if (!p) return NULL;
    scratch_ptr[slot] = p;
    scratch_size[slot] = want;
    return p;
}

const int32_t *cuda_ints(const int32_t *p, long n, int slot)
{
    if (n <= 0) return p;
    if (!p) {
        cuda_fail("cuda: NULL integer array of %ld elements", n);
        return NULL;
    }
    struct cudaPointerAttributes attr;
    cudaError_t e = cudaPointerGetAttributes(&attr, p);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        attr.type = cudaMemoryTypeUnregistered;
    }
    if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged) return p;
    int32_t *d = cuda_scratch(slot, (size_t)n * sizeof *d);
    if (!d) return NULL;
    /* From pageable memory the copy is staged before it returns, so the
     * caller may reuse its array at once. */
    if (cuda_check(cudaMemcpyAsync(d, p, (size_t)n * sizeof *d, cudaMemcpyHostToDevice, ctx_stream),
                   "copying integer array to the device"))
        return NULL;
    return d;
}

/* cpu_probe.h — what this machine's CPU can do, measured: the yardsticks that
 * `iris bench` prints beside tokens/s and that bench/bench-cpu-ops.sh holds
 * the CPU kernels against.
 *
 * Both take a fraction of a second, use all iris_cpu_threads() threads, and
 * return the best of several runs (the machine's capability, not its noise);
 * 0 when the buffers cannot be allocated.
 */
#ifndef IRIS_CPU_PROBE_H
#define IRIS_CPU_PROBE_H

/* Memory copy bandwidth in bytes/s: bytes copied per second (each byte
 * counted once, as memcpy benchmarks do; STREAM's "Copy", which counts the
 * read and the write, is twice this), over buffers far larger than the
 * caches. */
double iris_probe_copy_bandwidth(void);

/* Streaming read bandwidth in bytes/s (summing a large array): the ceiling
 * for kernels that only read, like the decode GEMV. */
double iris_probe_read_bandwidth(void);

/* OpenBLAS sgemm speed in GFLOP/s (2*m*n*k flops) for C[m,n] = A[m,k] B[k,n],
 * row-major. */
double iris_probe_sgemm_gflops(int m, int n, int k);

#endif

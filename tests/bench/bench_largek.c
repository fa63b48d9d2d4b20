/*
 * bench_largek.c - the metrics at language-model scale: synthetic float32
 * features written to an (N, d) .npy file, streamed from it in two passes
 * (nc_stream_add_float on chunks read with fread, no double copy of a chunk),
 * then nc_metrics_compute_stream (every pairwise metric in tiles, on two
 * threads of the metrics handle, OpenBLAS single-threaded during it).
 *
 * Each case runs in a child process so that its peak RSS (getrusage of the
 * child) is its own. Reported: the time of the two passes and of the
 * compute, the peak RSS, and the ratio of the total time to the bound
 *   2 x (one read of the file) + (K^2 d / 2 multiply-adds at the DGEMM rate)
 * with the read time and the DGEMM rate measured on this machine.
 *
 * Cases: K = 32768, d = 768, N = 10^6 (a 3 GB file), and K = 10^5, d = 256,
 * N = 2 x 10^5 (the memory stays O(K d): a K x K matrix would be 80 GB).
 * NC_BENCH_QUICK=1 runs small cases instead (K = 4096, d = 128, N = 50000;
 * K = 10000, d = 64, N = 20000) for a smoke run.
 * Usage: bench_largek [K d N]   one case of your own.
 * The files go to $TMPDIR (or /tmp) and are removed.
 */
#define _DEFAULT_SOURCE
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ncollapse.h"

extern void openblas_set_num_threads(int) __attribute__((weak));

#define CHUNK_ROWS 4096

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static unsigned long long rng = 88172645463325252ULL;
static double unif(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static int32_t label_of(size_t i, size_t K) { return (int32_t)((i * 7919u) % K); }

/* An (N, d) float32 .npy file (format 1.0, C order): class centres
 * uniform in [-1, 1)^d, features = centre + 0.5 uniform noise. */
static int write_features(const char *path, size_t K, size_t d, size_t N, long *offset)
{
    char header[256];
    int len;
    size_t i, t;
    FILE *f = fopen(path, "wb");
    float *centre = malloc(K * d * sizeof(float)), *row = malloc(CHUNK_ROWS * d * sizeof(float));
    if (f == NULL || centre == NULL || row == NULL) return -1;
    len = snprintf(header, sizeof header,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", N, d);
    while ((10 + len + 1) % 64 != 0) header[len++] = ' ';
    header[len++] = '\n';
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(len & 0xff, f);
    fputc((len >> 8) & 0xff, f);
    fwrite(header, 1, (size_t)len, f);
    *offset = 10 + len;
    for (i = 0; i < K * d; i++) centre[i] = (float)unif();
    for (i = 0; i < N; i += CHUNK_ROWS) {
        const size_t nb = N - i < CHUNK_ROWS ? N - i : CHUNK_ROWS;
        size_t j;
        for (j = 0; j < nb; j++) {
            const float *c = centre + (size_t)label_of(i + j, K) * d;
            for (t = 0; t < d; t++) row[j * d + t] = c[t] + (float)(0.5 * unif());
        }
        if (fwrite(row, sizeof(float), nb * d, f) != nb * d) return -1;
    }
    free(centre);
    free(row);
    return fclose(f) == 0 ? 0 : -1;
}

/* Multiply-adds per second of a DGEMM of the tiled pass's shape. */
static double dgemm_rate(size_t d)
{
    const size_t n = 1024;
    double *A = malloc(n * d * sizeof(double)), *C = malloc(n * n * sizeof(double));
    double t0, best = 1e30;
    size_t i;
    int r;
    for (i = 0; i < n * d; i++) A[i] = unif();
    for (r = 0; r < 4; r++) {
        t0 = now();
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)d, 1.0, A,
                    (int)d, A, (int)d, 0.0, C, (int)n);
        t0 = now() - t0;
        if (t0 < best) best = t0;
    }
    free(A);
    free(C);
    return (double)n * (double)n * (double)d / best;
}

/* The child: read the file once (timed), stream it twice, compute. Writes
 * its times to the pipe fd. */
static int run_case(const char *path, long offset, size_t K, size_t d, size_t N, int fd)
{
    float *buf = malloc(CHUNK_ROWS * d * sizeof(float));
    int32_t *y = malloc(CHUNK_ROWS * sizeof(int32_t));
    nc_stream *s = NULL;
    nc_metrics *m = NULL;
    double times[4], v;
    int pass;
    FILE *f;
    size_t i, j;
    if (buf == NULL || y == NULL) return 1;
    /* one plain read of the file */
    times[0] = now();
    f = fopen(path, "rb");
    if (f == NULL) return 1;
    fseek(f, offset, SEEK_SET);
    for (i = 0; i < N; i += CHUNK_ROWS) {
        const size_t nb = N - i < CHUNK_ROWS ? N - i : CHUNK_ROWS;
        if (fread(buf, sizeof(float), nb * d, f) != nb * d) return 1;
    }
    fclose(f);
    times[0] = now() - times[0];
    /* two passes */
    times[1] = now();
    if (nc_stream_create(&s, d, K) != NC_SUCCESS || nc_metrics_create(&m) != NC_SUCCESS) return 1;
    for (pass = 0; pass < 2; pass++) {
        f = fopen(path, "rb");
        if (f == NULL) return 1;
        fseek(f, offset, SEEK_SET);
        for (i = 0; i < N; i += CHUNK_ROWS) {
            const size_t nb = N - i < CHUNK_ROWS ? N - i : CHUNK_ROWS;
            if (fread(buf, sizeof(float), nb * d, f) != nb * d) return 1;
            for (j = 0; j < nb; j++) y[j] = label_of(i + j, K);
            if (nc_stream_add_float(s, nb, buf, d, y) != NC_SUCCESS) {
                fprintf(stderr, "%s\n", nc_stream_last_error(s));
                return 1;
            }
        }
        fclose(f);
        if (pass == 0 && nc_stream_next_pass(s) != NC_SUCCESS) return 1;
    }
    times[1] = now() - times[1];
    /* The tiled pass on two threads, each with a single-threaded BLAS (the
     * streamed passes above use the BLAS's own threads for their DSYRK). */
    if (openblas_set_num_threads != NULL) openblas_set_num_threads(1);
    if (nc_metrics_set_threads(m, 2) != NC_SUCCESS) return 1;
    times[2] = now();
    if (nc_metrics_compute_stream(m, s) != NC_SUCCESS) {
        fprintf(stderr, "%s\n", nc_metrics_last_error(m));
        return 1;
    }
    times[2] = now() - times[2];
    times[3] = 0.0;
    printf("    values:");
    for (i = 0; i < NC_METRIC_COUNT; i++)
        if (nc_metrics_get(m, (nc_metric)i, &v) == NC_SUCCESS)
            printf("%s %s %.6g", i % 4 == 0 ? "\n     " : ",", nc_metric_name((nc_metric)i), v);
    printf("\n");
    fflush(stdout);
    if (write(fd, times, sizeof times) != (ssize_t)sizeof times) return 1;
    nc_metrics_destroy(m);
    nc_stream_destroy(s);
    free(buf);
    free(y);
    return 0;
}

static int bench(size_t K, size_t d, size_t N, double rate)
{
    char path[512];
    const char *tmp = getenv("TMPDIR");
    long offset = 0;
    double t0, times[4], total, bound;
    int fds[2], status;
    struct rusage ru;
    pid_t pid;
    snprintf(path, sizeof path, "%s/bench_largek_%ld.npy", tmp && tmp[0] ? tmp : "/tmp",
             (long)getpid());
    printf("K = %zu, d = %zu, N = %zu: %.2f GB of float32 features\n", K, d, N,
           (double)N * (double)d * 4.0 / 1e9);
    fflush(stdout);
    t0 = now();
    if (write_features(path, K, d, N, &offset) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        remove(path);
        return 1;
    }
    printf("    file written in %.1f s\n", now() - t0);
    fflush(stdout);
    if (pipe(fds) != 0) return 1;
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(run_case(path, offset, K, d, N, fds[1]));
    }
    close(fds[1]);
    if (read(fds[0], times, sizeof times) != (ssize_t)sizeof times) times[0] = -1.0;
    close(fds[0]);
    wait4(pid, &status, 0, &ru);
    remove(path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || times[0] < 0.0) {
        fprintf(stderr, "the case failed\n");
        return 1;
    }
    total = times[1] + times[2];
    bound = 2.0 * times[0] + 0.5 * (double)K * (double)K * (double)d / rate;
    printf("    one read of the file %.2f s; two streamed passes %.2f s; compute (tiled) %.2f s\n",
           times[0], times[1], times[2]);
    printf("    total %.2f s; bound 2 reads + K^2 d/2 at the DGEMM rate = %.2f s; ratio %.2f "
           "(target <= 2)\n", total, bound, total / bound);
    printf("    CPU time of the case %.2f s (user + system; the machine's load inflates wall "
           "times)\n", (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec);
    printf("    peak RSS %.2f GB (a K x K matrix of doubles alone: %.2f GB)\n",
           (double)ru.ru_maxrss * 1024.0 / 1e9, (double)K * (double)K * 8.0 / 1e9);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *q = getenv("NC_BENCH_QUICK");
    const int quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
    double rate;
    int fail = 0;
    printf("bench_largek: streamed float32 features, metrics in tiles%s\n",
           quick ? " (quick mode)" : "");
    if (argc == 4) {
        const size_t K = strtoul(argv[1], NULL, 10), d = strtoul(argv[2], NULL, 10),
                     N = strtoul(argv[3], NULL, 10);
        rate = dgemm_rate(d);
        printf("DGEMM rate (d = %zu): %.1f G multiply-adds/s\n", d, rate / 1e9);
        return bench(K, d, N, rate);
    }
    rate = dgemm_rate(quick ? 128 : 768);
    printf("DGEMM rate (d = %d): %.1f G multiply-adds/s\n", quick ? 128 : 768, rate / 1e9);
    fail |= quick ? bench(4096, 128, 50000, rate) : bench(32768, 768, 1000000, rate);
    rate = dgemm_rate(quick ? 64 : 256);
    printf("DGEMM rate (d = %d): %.1f G multiply-adds/s\n", quick ? 64 : 256, rate / 1e9);
    fail |= quick ? bench(10000, 64, 20000, rate) : bench(100000, 256, 200000, rate);
    return fail;
}

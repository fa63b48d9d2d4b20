/*
 * bench_largek.c - the metrics at language-model scale: synthetic float32
 * features written to an (N, d) .npy file, streamed from it in two passes
 * (chunks read as floats by nc_npy_reader_read_rows_float and passed to
 * nc_stream_add_float: no chunk ever exists as doubles), then
 * nc_metrics_compute_stream (every pairwise metric in tiles). The stream
 * runs on T threads (nc_stream_set_threads; the metrics handle has none of
 * its own, so the tiled K x K pass runs on the stream's), OpenBLAS
 * single-threaded inside them.
 *
 * Each (case, T) runs in a child process so that its peak RSS and CPU time
 * (getrusage of the child) are its own. Measured in the child, in the same
 * run: the time of one plain read of the file through the same reader, the
 * DGEMM rate of OpenBLAS on T threads (the best of a 2048 x 2048 x d
 * product in one call and in the tiled pass's 384 x 384 tiles), the two
 * streamed passes, the compute. Reported:
 * wall and CPU time, peak RSS, and the ratio of the wall time to the bound
 *   2 x (one read of the file) + (K^2 d / 2 multiply-adds at the DGEMM rate),
 * and to that bound plus the within-class scatter NC1 needs (N d^2 / 2
 * multiply-adds when the stream keeps the d x d scatter), which the first
 * bound leaves out. Each case runs twice per T: with NC1 (the default
 * stream) and without its scatter (nc_stream_set_nc1_path(NC_NC1_PATH_NONE):
 * every other metric, whose work the first bound counts); the parent checks
 * that the two runs' other metrics have the same bits.
 *
 * Cases: K = 32768, d = 768, N = 10^6 (a 3 GB file), and K = 10^5, d = 256,
 * N = 2 x 10^5 (memory: a K x K matrix of doubles alone would be 80 GB).
 * NC_BENCH_QUICK=1 runs small cases instead (K = 4096, d = 128, N = 50000;
 * K = 10000, d = 64, N = 20000) for a smoke run.
 * Usage: bench_largek [--threads LIST] [--nc1 LIST] [K d N]
 *   --threads 1,2   the thread counts to run (default 1,2)
 *   --nc1 auto,none the NC1 paths to run (default both)
 *   K d N           one case of your own
 * The files go to $TMPDIR (or /tmp) and are removed.
 */
#define _DEFAULT_SOURCE
#include <cblas.h>
#include <math.h>
#include <pthread.h>
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
#define MAX_THREADS 16

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of the process (every thread). */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
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
static int write_features(const char *path, size_t K, size_t d, size_t N)
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

/* The 2048 x 2048 x d product A^T A in tiles of 384 x 384, one call each
 * into one contiguous tile (C), as the library's tiled pass does. */
typedef struct tiled_arg {
    const double *A;
    double *C;
    size_t n, d;
} tiled_arg;

static void *tiled_product(void *p)
{
    const tiled_arg *a = (const tiled_arg *)p;
    const size_t n = a->n, d = a->d, T = 384;
    size_t i0, j0;
    for (j0 = 0; j0 < n; j0 += T)
        for (i0 = 0; i0 < n; i0 += T) {
            const size_t ni = n - i0 < T ? n - i0 : T, nj = n - j0 < T ? n - j0 : T;
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)ni, (int)nj, (int)d, 1.0,
                        a->A + i0 * d, (int)d, a->A + j0 * d, (int)d, 0.0, a->C, (int)ni);
        }
    return NULL;
}

/* Multiply-adds per second of DGEMM on `threads` threads, the best of two
 * ways (best of three runs each): a 2048 x 2048 x d product (A^T A) in one
 * call with OpenBLAS on `threads` threads, and the same product in 384 x 384
 * tiles by each of `threads` threads side by side with OpenBLAS on one
 * thread each, as the library's tiled pass runs (its tiles run 7-11% faster
 * than the single call on one Zen 2 core). */
static double dgemm_rate(size_t d, int threads, double *one_call, double *tiled)
{
    const size_t n = 2048;
    double *A = malloc(n * d * sizeof(double)), *C = malloc(n * n * sizeof(double));
    double *tiles = malloc((size_t)threads * 384 * 384 * sizeof(double));
    double t0, best[2] = {1e30, 1e30};
    tiled_arg *arg = malloc((size_t)threads * sizeof *arg);
    pthread_t *tid = malloc((size_t)threads * sizeof *tid);
    size_t i;
    int r, shape, k, started;
    if (A == NULL || C == NULL || tiles == NULL || arg == NULL || tid == NULL) {
        free(A);
        free(C);
        free(tiles);
        free(arg);
        free(tid);
        return 0.0;
    }
    for (i = 0; i < n * d; i++) A[i] = unif();
    for (k = 0; k < threads; k++) {
        arg[k].A = A;
        arg[k].C = tiles + (size_t)k * 384 * 384;
        arg[k].n = n;
        arg[k].d = d;
    }
    for (shape = 0; shape < 2; shape++) {
        if (openblas_set_num_threads != NULL) openblas_set_num_threads(shape == 0 ? threads : 1);
        for (r = 0; r < 3; r++) {
            t0 = now();
            if (shape == 0) {
                cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)d, 1.0,
                            A, (int)d, A, (int)d, 0.0, C, (int)n);
            } else {
                for (started = 1; started < threads; started++)
                    if (pthread_create(&tid[started], NULL, tiled_product, &arg[started]) != 0)
                        break;
                tiled_product(&arg[0]);
                for (k = 1; k < started; k++) pthread_join(tid[k], NULL);
                if (started < threads) continue; /* a thread missing: no rate */
            }
            t0 = now() - t0;
            if (t0 < best[shape]) best[shape] = t0;
        }
    }
    if (openblas_set_num_threads != NULL) openblas_set_num_threads(1);
    free(A);
    free(C);
    free(tiles);
    free(arg);
    free(tid);
    *one_call = (double)n * (double)n * (double)d / best[0];
    *tiled = (double)threads * (double)n * (double)n * (double)d / best[1];
    return *one_call > *tiled ? *one_call : *tiled;
}

/* T_RATE the bound's DGEMM rate, the best of T_RATE1 (one call) and T_RATET
 * (384-tiles). */
enum {
    T_READ, T_RATE, T_RATE1, T_RATET, T_PASS1, T_PASS2, T_COMPUTE, C_PASS1, C_PASS2, C_COMPUTE,
    T_COUNT
};

/* The child: measure the DGEMM rate and one read, stream the file twice,
 * compute. Writes its times to the pipe fd. */
static int run_case(const char *path, size_t K, size_t d, size_t N, int threads, int none, int fd)
{
    float *buf = malloc(CHUNK_ROWS * d * sizeof(float));
    int32_t *y = malloc(CHUNK_ROWS * sizeof(int32_t));
    nc_npy_reader *r = NULL;
    nc_stream *s = NULL;
    nc_metrics *m = NULL;
    double times[T_COUNT], v, vals[NC_METRIC_COUNT], t0, c0;
    int pass;
    size_t i, j;
    if (buf == NULL || y == NULL) return 1;
    times[T_RATE] = dgemm_rate(d, threads, &times[T_RATE1], &times[T_RATET]);
    if (!(times[T_RATE] > 0.0)) return 1; /* no memory for the rate's matrices */
    if (nc_npy_reader_create(&r) != NC_SUCCESS || nc_npy_reader_open(r, path) != NC_SUCCESS)
        return 1;
    /* one plain read of the file, through the same reader */
    t0 = now();
    for (i = 0; i < N; i += CHUNK_ROWS) {
        const size_t nb = N - i < CHUNK_ROWS ? N - i : CHUNK_ROWS;
        if (nc_npy_reader_read_rows_float(r, i, nb, buf, d) != NC_SUCCESS) return 1;
    }
    times[T_READ] = now() - t0;
    if (nc_stream_create(&s, d, K) != NC_SUCCESS || nc_metrics_create(&m) != NC_SUCCESS) return 1;
    if (nc_stream_set_threads(s, (size_t)threads) != NC_SUCCESS) return 1;
    if (none && nc_stream_set_nc1_path(s, NC_NC1_PATH_NONE) != NC_SUCCESS) return 1;
    for (pass = 0; pass < 2; pass++) {
        t0 = now();
        c0 = cpu_now();
        for (i = 0; i < N; i += CHUNK_ROWS) {
            const size_t nb = N - i < CHUNK_ROWS ? N - i : CHUNK_ROWS;
            if (nc_npy_reader_read_rows_float(r, i, nb, buf, d) != NC_SUCCESS) {
                fprintf(stderr, "%s\n", nc_npy_reader_last_error(r));
                return 1;
            }
            for (j = 0; j < nb; j++) y[j] = label_of(i + j, K);
            if (nc_stream_add_float(s, nb, buf, d, y) != NC_SUCCESS) {
                fprintf(stderr, "%s\n", nc_stream_last_error(s));
                return 1;
            }
        }
        if (pass == 0 && nc_stream_next_pass(s) != NC_SUCCESS) return 1;
        times[pass == 0 ? T_PASS1 : T_PASS2] = now() - t0;
        times[pass == 0 ? C_PASS1 : C_PASS2] = cpu_now() - c0;
    }
    t0 = now();
    c0 = cpu_now();
    if (nc_metrics_compute_stream(m, s) != NC_SUCCESS) {
        fprintf(stderr, "%s\n", nc_metrics_last_error(m));
        return 1;
    }
    times[T_COMPUTE] = now() - t0;
    times[C_COMPUTE] = cpu_now() - c0;
    printf("    values:");
    for (i = j = 0; i < NC_METRIC_COUNT; i++) {
        vals[i] = NAN;
        if (nc_metrics_get(m, (nc_metric)i, &v) == NC_SUCCESS) {
            vals[i] = v;
            printf("%s %s %.6g", j++ % 4 == 0 ? "\n     " : ",", nc_metric_name((nc_metric)i), v);
        }
    }
    printf("\n");
    fflush(stdout);
    if (write(fd, times, sizeof times) != (ssize_t)sizeof times ||
        write(fd, vals, sizeof vals) != (ssize_t)sizeof vals)
        return 1;
    nc_metrics_destroy(m);
    nc_stream_destroy(s);
    nc_npy_reader_destroy(r);
    free(buf);
    free(y);
    return 0;
}

static int bench(size_t K, size_t d, size_t N, const int *threads, int nthreads,
                 const int *paths, int npaths)
{
    char path[512];
    const char *tmp = getenv("TMPDIR");
    double t0, auto_vals[NC_METRIC_COUNT];
    int k, fail = 0, have_auto = 0;
    snprintf(path, sizeof path, "%s/bench_largek_%ld.npy", tmp && tmp[0] ? tmp : "/tmp",
             (long)getpid());
    printf("K = %zu, d = %zu, N = %zu: %.2f GB of float32 features\n", K, d, N,
           (double)N * (double)d * 4.0 / 1e9);
    fflush(stdout);
    t0 = now();
    if (write_features(path, K, d, N) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        remove(path);
        return 1;
    }
    printf("    file written in %.1f s\n", now() - t0);
    fflush(stdout);
    for (k = 0; k < nthreads * npaths && !fail; k++) {
        const int T = threads[k / npaths], none = paths[k % npaths];
        double times[T_COUNT], vals[NC_METRIC_COUNT], total, bound, bound_nc1, nc1_ma, cpu;
        int fds[2], status, i;
        struct rusage ru;
        pid_t pid;
        printf("  %d thread%s, %s:\n", T, T > 1 ? "s" : "",
               none ? "without NC1's scatter (NC_NC1_PATH_NONE)" : "every metric (NC1 included)");
        fflush(stdout);
        if (pipe(fds) != 0) return 1;
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            _exit(run_case(path, K, d, N, T, none, fds[1]));
        }
        close(fds[1]);
        if (read(fds[0], times, sizeof times) != (ssize_t)sizeof times ||
            read(fds[0], vals, sizeof vals) != (ssize_t)sizeof vals)
            times[T_READ] = -1.0;
        close(fds[0]);
        wait4(pid, &status, 0, &ru);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || times[T_READ] < 0.0) {
            fprintf(stderr, "the case failed\n");
            fail = 1;
            break;
        }
        total = times[T_PASS1] + times[T_PASS2] + times[T_COMPUTE];
        bound = 2.0 * times[T_READ] + 0.5 * (double)K * (double)K * (double)d / times[T_RATE];
        /* NC1 = tr(Sigma_W Sigma_B^+) needs the within-class scatter in the
         * span of Sigma_B: with the d x d scatter (the stream's choice when
         * d^2 <= 2 d K + K^2) N d^2/2 multiply-adds, else the projections
         * N (d K + K^2/2); no exact two-pass method does with less */
        nc1_ma = none                                         ? 0.0
                 : (double)d * d <= 2.0 * d * K + (double)K * K ? 0.5 * (double)N * d * d
                                                               : (double)N * ((double)d * K + 0.5 * (double)K * K);
        bound_nc1 = bound + nc1_ma / times[T_RATE];
        cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
              (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
        printf("    one read of the file %.2f s (%.2f GB/s); DGEMM rate on %d thread%s %.1f G "
               "multiply-adds/s (2048 x 2048 x d in one call %.1f, in 384-tiles %.1f)\n",
               times[T_READ], (double)N * (double)d * 4.0 / 1e9 / times[T_READ], T,
               T > 1 ? "s" : "", times[T_RATE] / 1e9, times[T_RATE1] / 1e9,
               times[T_RATET] / 1e9);
        printf("    pass 1 %.2f s (CPU %.2f s); pass 2 %.2f s (CPU %.2f s); compute (tiled) "
               "%.2f s (CPU %.2f s)\n", times[T_PASS1], times[C_PASS1], times[T_PASS2],
               times[C_PASS2], times[T_COMPUTE], times[C_COMPUTE]);
        printf("    wall %.2f s; bound (2 reads + K^2 d/2 at the DGEMM rate) %.2f s; ratio %.2f "
               "(target <= 2)\n", total, bound, total / bound);
        if (!none)
            printf("    with NC1's within-class scatter (%.3g multiply-adds at the DGEMM rate): "
                   "bound %.2f s; ratio %.2f\n", nc1_ma, bound_nc1, total / bound_nc1);
        printf("    CPU time: the passes and compute %.2f s (ratio to the bound x threads "
               "%.2f); the whole child %.2f s (user + system, with the DGEMM rate and the plain "
               "read). A loaded machine inflates wall times, not CPU times\n",
               times[C_PASS1] + times[C_PASS2] + times[C_COMPUTE],
               (times[C_PASS1] + times[C_PASS2] + times[C_COMPUTE]) / (bound * T), cpu);
        printf("    peak RSS %.2f GB (a K x K matrix of doubles alone: %.2f GB)\n",
               (double)ru.ru_maxrss * 1024.0 / 1e9, (double)K * (double)K * 8.0 / 1e9);
        /* the paths agree: every metric but NC1 with the same bits (NaN:
         * unavailable in both), for any thread count */
        if (!none) {
            memcpy(auto_vals, vals, sizeof vals);
            have_auto = 1;
        } else if (have_auto) {
            int same = 1;
            for (i = 0; i < NC_METRIC_COUNT; i++)
                if (i != NC_METRIC_NC1 && memcmp(&vals[i], &auto_vals[i], sizeof vals[i]) != 0 &&
                    !(isnan(vals[i]) && isnan(auto_vals[i])))
                    same = 0;
            printf("    every metric but NC1 %s the run with NC1%s\n",
                   same ? "has the same bits as" : "DIFFERS from", isnan(vals[NC_METRIC_NC1]) ?
                   "; NC1 unavailable, as asked" : "; NC1 AVAILABLE");
            if (!same || !isnan(vals[NC_METRIC_NC1])) fail = 1;
        }
        fflush(stdout);
    }
    remove(path);
    return fail;
}

/* "1,2,4" into threads (at most MAX_THREADS values in [1, 1024]). */
static int parse_threads(const char *s, int *threads)
{
    int n = 0;
    while (*s && n < MAX_THREADS) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1024) return 0;
        threads[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') return 0;
    }
    return n;
}

int main(int argc, char **argv)
{
    const char *q = getenv("NC_BENCH_QUICK");
    const int quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
    int threads[MAX_THREADS] = {1, 2}, nthreads = 2, fail = 0, a = 1;
    int paths[2] = {0, 1}, npaths = 2; /* 0: NC_NC1_PATH_AUTO, 1: NONE */
    while (argc - a >= 2 && argv[a][0] == '-') {
        if (strcmp(argv[a], "--threads") == 0) {
            nthreads = parse_threads(argv[a + 1], threads);
            if (nthreads == 0) {
                fprintf(stderr, "--threads: a comma-separated list of counts in [1, 1024]\n");
                return 2;
            }
        } else if (strcmp(argv[a], "--nc1") == 0) {
            const char *v = argv[a + 1];
            npaths = 0;
            if (strcmp(v, "auto") == 0 || strcmp(v, "auto,none") == 0) paths[npaths++] = 0;
            if (strcmp(v, "none") == 0 || strcmp(v, "auto,none") == 0) paths[npaths++] = 1;
            if (npaths == 0) {
                fprintf(stderr, "--nc1: auto, none or auto,none\n");
                return 2;
            }
        } else {
            break;
        }
        a += 2;
    }
    if (argc - a != 0 && argc - a != 3) {
        fprintf(stderr, "usage: bench_largek [--threads LIST] [--nc1 auto,none] [K d N]\n");
        return 2;
    }
    printf("bench_largek: streamed float32 features, metrics in tiles%s\n",
           quick ? " (quick mode)" : "");
    if (argc - a == 3)
        return bench(strtoul(argv[a], NULL, 10), strtoul(argv[a + 1], NULL, 10),
                     strtoul(argv[a + 2], NULL, 10), threads, nthreads, paths, npaths);
    fail |= quick ? bench(4096, 128, 50000, threads, nthreads, paths, npaths)
                  : bench(32768, 768, 1000000, threads, nthreads, paths, npaths);
    fail |= quick ? bench(10000, 64, 20000, threads, nthreads, paths, npaths)
                  : bench(100000, 256, 200000, threads, nthreads, paths, npaths);
    return fail;
}

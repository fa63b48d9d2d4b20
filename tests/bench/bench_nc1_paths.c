/*
 * bench_nc1_paths.c - where the two NC1 paths cross.
 *
 * In memory: nc_metrics_compute_data with NC_NC1_PATH_PROJECTED (d r
 * multiply-adds and r compensated additions per sample, r = min(d, K - 1))
 * against NC_NC1_PATH_SCATTER (the d x d scatter, d^2 / 2 per sample), for K
 * from d/4 to 5d/4. Streams: the time of pass 2 (the stream's rule picks
 * the projected K x K scatter below K = 0.414 d, the d x d one above) for K
 * around that crossover. CPU time of the process, best of 3, one thread,
 * OpenBLAS single-threaded; synthetic features (Gaussian classes).
 * Usage: bench_nc1_paths [N]  (default 20000; NC_BENCH_QUICK=1: 4000)
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ncollapse.h"

extern void openblas_set_num_threads(int) __attribute__((weak));

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;
static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static void make(size_t d, size_t K, size_t N, double *H, int32_t *y)
{
    double *c = malloc(d * K * sizeof(double));
    size_t i, t;
    for (i = 0; i < d * K; i++) c[i] = unif();
    for (i = 0; i < N; i++) {
        y[i] = (int32_t)(i % K);
        for (t = 0; t < d; t++) H[i * d + t] = c[(size_t)y[i] * d + t] + 0.5 * unif();
    }
    free(c);
}

static double memory_time(nc_metrics *m, nc_nc1_path path, size_t d, size_t K, size_t N,
                          const double *H, const int32_t *y, double *nc1)
{
    double best = 1e30;
    int r;
    nc_metrics_set_nc1_path(m, path);
    for (r = 0; r < 3; r++) {
        double t0 = cpu_now();
        if (nc_metrics_compute_data(m, d, K, N, H, d, y, NULL, d, NULL) != NC_SUCCESS) return -1.0;
        t0 = cpu_now() - t0;
        if (t0 < best) best = t0;
    }
    nc_metrics_get(m, NC_METRIC_NC1, nc1);
    return best;
}

static double stream_pass2(size_t d, size_t K, size_t N, const double *H, const int32_t *y)
{
    double best = 1e30;
    int r;
    for (r = 0; r < 3; r++) {
        nc_stream *s;
        double t0;
        size_t i;
        if (nc_stream_create(&s, d, K) != NC_SUCCESS) return -1.0;
        for (i = 0; i < N; i += 4096)
            nc_stream_add(s, N - i < 4096 ? N - i : 4096, H + i * d, d, y + i);
        nc_stream_next_pass(s);
        t0 = cpu_now();
        for (i = 0; i < N; i += 4096)
            nc_stream_add(s, N - i < 4096 ? N - i : 4096, H + i * d, d, y + i);
        t0 = cpu_now() - t0;
        if (t0 < best) best = t0;
        nc_stream_destroy(s);
    }
    return best;
}

int main(int argc, char **argv)
{
    const char *q = getenv("NC_BENCH_QUICK");
    const int quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
    const size_t N = argc > 1 ? strtoul(argv[1], NULL, 10) : quick ? 4000 : 20000;
    static const double memfr[] = {0.25, 0.5, 0.625, 0.75, 0.8125, 0.875, 1.0, 1.25};
    static const double strfr[] = {0.25, 0.33, 0.39, 0.4, 0.43, 0.45, 0.5, 0.75};
    static const size_t ds[] = {128, 512};
    nc_metrics *m;
    size_t a, b;
    if (openblas_set_num_threads != NULL) openblas_set_num_threads(1);
    nc_metrics_create(&m);
    printf("bench_nc1_paths: N = %zu, CPU seconds, best of 3, one thread\n", N);
    printf("in memory: NC1 by projections (P) and by the d x d scatter (S); AUTO takes S when "
           "8 r >= 5 d\n");
    printf("%6s %6s %6s %6s %10s %10s %8s %s\n", "d", "K", "r/d", "auto", "P (s)", "S (s)", "P/S",
           "rel. diff of NC1");
    for (a = 0; a < sizeof ds / sizeof ds[0]; a++)
        for (b = 0; b < sizeof memfr / sizeof memfr[0]; b++) {
            const size_t d = ds[a], K = (size_t)(memfr[b] * (double)d + 0.5);
            const size_t r = K - 1 < d ? K - 1 : d;
            double *H = malloc(N * d * sizeof(double)), v1, v2, tp, ts;
            int32_t *y = malloc(N * sizeof(int32_t));
            make(d, K, N, H, y);
            tp = memory_time(m, NC_NC1_PATH_PROJECTED, d, K, N, H, y, &v1);
            ts = memory_time(m, NC_NC1_PATH_SCATTER, d, K, N, H, y, &v2);
            printf("%6zu %6zu %6.3f %6s %10.4f %10.4f %8.2f %.2g\n", d, K, (double)r / (double)d,
                   8 * r >= 5 * d ? "S" : "P", tp, ts, tp / ts, fabs(v1 - v2) / v1);
            fflush(stdout);
            free(H);
            free(y);
        }
    printf("streams: pass 2 (the K x K projected scatter below d^2 = 2 d K + K^2, K = 0.414 d; "
           "the d x d one above)\n");
    printf("%6s %6s %6s %6s %10s %14s\n", "d", "K", "K/d", "path", "pass 2 (s)",
           "model (Gmadd)");
    for (a = 0; a < sizeof ds / sizeof ds[0]; a++)
        for (b = 0; b < sizeof strfr / sizeof strfr[0]; b++) {
            const size_t d = ds[a], K = (size_t)(strfr[b] * (double)d + 0.5);
            const int dxd = d * d <= 2 * d * K + K * K;
            const double model = (double)N * (dxd ? 0.5 * (double)d * (double)d
                                                  : (double)d * (double)K +
                                                        0.5 * (double)K * (double)K) / 1e9;
            double *H = malloc(N * d * sizeof(double));
            int32_t *y = malloc(N * sizeof(int32_t));
            make(d, K, N, H, y);
            printf("%6zu %6zu %6.3f %6s %10.4f %14.3f\n", d, K, (double)K / (double)d,
                   dxd ? "d x d" : "K x K", stream_pass2(d, K, N, H, y), model);
            fflush(stdout);
            free(H);
            free(y);
        }
    nc_metrics_destroy(m);
    return 0;
}

/*
 * bench_iteration.c - seconds per gradient-descent iteration of the UFM,
 * beside two limits measured in the same run:
 *   bandwidth bound = bytes the fused step must move / triad bandwidth
 *   GEMM bound      = flops of the three products / DGEMM rate on a square
 * Usage: bench_iteration [K d N [iterations]]   default 10 512 50000 10
 */
#define _POSIX_C_SOURCE 199309L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ncollapse.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best of 5 triad passes a[i] = b[i] + s c[i] over 3 arrays of n doubles. */
static double triad_bandwidth(size_t n)
{
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    double best = 1e30;
    size_t i;
    int r;
    for (i = 0; i < n; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
    for (r = 0; r < 5; r++) {
        double t = now();
        for (i = 0; i < n; i++) a[i] = b[i] + 0.5 * c[i];
        t = now() - t;
        if (t < best) best = t;
    }
    if (a[n / 2] != 2.0) fprintf(stderr, "triad check failed\n");
    free(a); free(b); free(c);
    return 3.0 * (double)n * sizeof(double) / best;
}

/* Best DGEMM rate on an n x n product. */
static double dgemm_rate(int n)
{
    double *A = malloc((size_t)n * n * sizeof *A), *B = malloc((size_t)n * n * sizeof *B),
           *C = malloc((size_t)n * n * sizeof *C), best = 1e30;
    size_t i;
    int r;
    for (i = 0; i < (size_t)n * n; i++) { A[i] = 1e-3 * (double)(i % 7); B[i] = 1e-3 * (double)(i % 5); C[i] = 0; }
    for (r = 0; r < 3; r++) {
        double t = now();
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A, n, B, n, 0.0, C, n);
        t = now() - t;
        if (t < best) best = t;
    }
    free(A); free(B); free(C);
    return 2.0 * (double)n * n * n / best;
}

int main(int argc, char **argv)
{
    size_t K = 10, d = 512, N = 50000, iters = 10, k, *counts;
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    double bw, rate, t, per, bytes, flops;
    int loss;
    if (argc >= 4) { K = strtoul(argv[1], 0, 10); d = strtoul(argv[2], 0, 10); N = strtoul(argv[3], 0, 10); }
    if (argc >= 5) iters = strtoul(argv[4], 0, 10);
    counts = malloc(K * sizeof *counts);
    for (k = 0; k < K; k++) counts[k] = N / K + (k < N % K);
    bw = triad_bandwidth((size_t)1 << 25);
    rate = dgemm_rate(2000);
    printf("bench_iteration: K = %zu, d = %zu, N = %zu, double precision, %zu iterations\n", K, d, N, iters);
    printf("  measured now: triad bandwidth %.1f GB/s, DGEMM (2000^3) %.1f GFLOP/s\n", bw * 1e-9, rate * 1e-9);
    for (loss = 0; loss < 2; loss++) {
        int mom;
        for (mom = 0; mom < 2; mom++) {
            if (nc_model_create_counts(&m, d, K, counts) != NC_SUCCESS) return 1;
            nc_model_set_loss(m, loss ? NC_LOSS_MSE : NC_LOSS_CE);
            nc_model_set_weight_decay(m, 5e-4, 5e-4, 0);
            nc_model_init_gaussian(m, 0.1, 1);
            nc_optimizer_create(&o, m, NC_OPT_GD);
            if (mom) nc_optimizer_set_momentum(o, 0.9);
            nc_optimizer_step(o); /* warm-up: first touch of the buffers */
            t = now();
            for (k = 0; k < iters; k++) nc_optimizer_step(o);
            per = (now() - t) / (double)iters;
            /* fused step: H read + written, velocity read + written with momentum */
            bytes = (double)d * N * sizeof(double) * (mom ? 4.0 : 2.0);
            flops = 3.0 * 2.0 * (double)K * d * N;
            printf("  %-3s momentum %.1f: %.4f s/iter | bandwidth bound %.4f s (ratio %.2f) | "
                   "GEMM bound %.4f s (ratio %.2f)\n",
                   loss ? "MSE" : "CE", mom ? 0.9 : 0.0, per, bytes / bw, per / (bytes / bw),
                   flops / rate, per / (flops / rate));
            nc_optimizer_destroy(o);
            nc_model_destroy(m);
        }
    }
    free(counts);
    return 0;
}

/*
 * bench_history.c - what a metrics history costs a run: 1000 steps of GD with
 * momentum without a recorder, and recording all thirteen metrics every 100
 * and every 10 steps (every layer of deep models), on a small, a medium and
 * a deep model. Best of 5 runs each, one thread (OpenBLAS single-threaded).
 *
 * Usage: bench_history
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ncollapse.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double run(size_t K, size_t d, size_t N, size_t depth, size_t every)
{
    size_t *counts = malloc(K * sizeof *counts), k, r;
    double best = 1e300;
    for (k = 0; k < K; k++) counts[k] = N / K;
    for (r = 0; r < 5; r++) {
        nc_model *m = NULL;
        nc_optimizer *o = NULL;
        nc_history *h = NULL;
        double t;
        nc_model_create_counts(&m, d, K, counts);
        nc_model_set_depth(m, depth);
        nc_model_set_weight_decay(m, 5e-4, 5e-4, 0);
        nc_model_init_gaussian(m, 0.1, 1);
        nc_optimizer_create(&o, m, NC_OPT_GD);
        nc_optimizer_set_momentum(o, 0.9);
        nc_optimizer_set_max_iterations(o, 1000);
        if (every) {
            nc_history_create(&h);
            nc_optimizer_set_recorder(o, h, every);
        }
        t = now();
        nc_optimizer_run(o);
        t = now() - t;
        if (t < best) best = t;
        nc_optimizer_destroy(o);
        nc_history_destroy(h);
        nc_model_destroy(m);
    }
    free(counts);
    return best;
}

int main(void)
{
    static const size_t cases[][4] = {{4, 8, 400, 1}, {10, 64, 5000, 1}, {4, 64, 400, 3}};
    size_t c;
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    printf("metrics history: 1000 GD + momentum steps, best of 5, one thread\n");
    printf("%-22s %12s %18s %18s\n", "(K, d, N, depth)", "no recorder", "every 100 steps",
           "every 10 steps");
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const double t0 = run(cases[c][0], cases[c][1], cases[c][2], cases[c][3], 0);
        const double t1 = run(cases[c][0], cases[c][1], cases[c][2], cases[c][3], 100);
        const double t2 = run(cases[c][0], cases[c][1], cases[c][2], cases[c][3], 10);
        char name[64];
        snprintf(name, sizeof name, "(%zu, %zu, %zu, %zu)", cases[c][0], cases[c][1], cases[c][2],
                 cases[c][3]);
        printf("%-22s %10.3f ms %10.3f ms %5.2fx %10.3f ms %5.2fx\n", name, 1e3 * t0, 1e3 * t1,
               t1 / t0, 1e3 * t2, t2 / t0);
    }
    return 0;
}

/*
 * bench_optimizers.c - iterations, objective evaluations and seconds to reach
 * gradient (KKT) norm 1e-8: GD + momentum (the papers' lr 0.1, momentum 0.9,
 * and a variant whose feature step is scaled by N/K) against L-BFGS, on
 *   ReLU CE       K = 4, n = (200, 100, 50, 50), d = 16, lambda = 5e-3
 *   deep linear   MSE, same n, d = 8, depth 3, lambda = 5e-4
 * Usage: bench_optimizers [max_iterations]   (default 200000)
 */
#define _POSIX_C_SOURCE 199309L
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

static nc_model *make(int relu)
{
    const size_t counts[4] = {200, 100, 50, 50};
    nc_model *m = NULL;
    nc_model_create_counts(&m, relu ? 16 : 8, 4, counts);
    if (relu) {
        nc_model_set_features(m, NC_FEATURES_RELU);
        nc_model_set_weight_decay(m, 5e-3, 5e-3, 0);
        nc_model_init_gaussian(m, 0.3, 4);
    } else {
        nc_model_set_loss(m, NC_LOSS_MSE);
        nc_model_set_depth(m, 3);
        nc_model_set_weight_decay(m, 5e-4, 5e-4, 0);
        nc_model_init_gaussian(m, 0.4, 9);
    }
    return m;
}

static void run(int relu, int variant, size_t maxit)
{
    static const char *names[3] = {"GD lr 0.1 mom 0.9", "GD lr 0.1 mom 0.9 lr_H*N/K", "L-BFGS (m = 10)"};
    nc_model *m = make(relu);
    nc_optimizer *o = NULL;
    nc_status st;
    double t, f;
    nc_optimizer_create(&o, m, variant == 2 ? NC_OPT_LBFGS : NC_OPT_GD);
    if (variant < 2) {
        nc_optimizer_set_learning_rate(o, 0.1);
        nc_optimizer_set_momentum(o, 0.9);
        if (variant == 1) nc_optimizer_set_feature_learning_rate(o, 0.1 * 400 / 4);
    }
    nc_optimizer_set_max_iterations(o, maxit);
    nc_optimizer_set_gradient_tolerance(o, 1e-8);
    t = now();
    st = nc_optimizer_run(o);
    t = now() - t;
    nc_model_objective(m, &f);
    printf("  %-12s %-28s %-28s iterations %7zu  evaluations %7zu  %8.3f s  objective %.10f  |g| %.1e\n",
           relu ? "ReLU CE" : "deep linear", names[variant], nc_status_name(st),
           nc_optimizer_iterations(o), nc_optimizer_evaluations(o), t, f,
           nc_optimizer_gradient_norm(o));
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

int main(int argc, char **argv)
{
    size_t maxit = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    int relu, v;
    printf("bench_optimizers: steps to gradient (KKT) norm 1e-8, at most %zu iterations\n", maxit);
    for (relu = 1; relu >= 0; relu--)
        for (v = 0; v < 3; v++) run(relu, v, maxit);
    return 0;
}

/*
 * test_model_threads.c - the model's thread pool: a model whose pass runs
 * on 2 to 4 threads (small blocks, every size parallel) takes GD, Adam and
 * L-BFGS steps and a gradient twice from the same start with the same
 * result bit for bit, agrees with the single-threaded pass to 1e-10 (L-BFGS amplifies the
 * different summation order), and
 * survives its thread count changing between steps. Also run under
 * ThreadSanitizer by make check.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/model.h"

static nc_model *make(size_t threads)
{
    const size_t counts[3] = {30, 20, 17};
    nc_model *m = NULL;
    nc_model_create_counts(&m, 9, 3, counts);
    nc_model_set_bias(m, 1);
    nc_model_set_weight_decay(m, 1e-3, 1e-3, 1e-3);
    nc_model_init_gaussian(m, 0.3, 4);
    nc_model_set_threads(m, threads);
    nc__model_set_blocks(m, 5, 8, 0); /* several blocks per thread, parallel at any size */
    return m;
}

/* Steps of algorithm alg, then the variables into x (n of them). */
static double *run(size_t threads, nc_algorithm alg, size_t *n, int switch_threads)
{
    nc_model *m = make(threads);
    nc_optimizer *o = NULL;
    double *x, f;
    int t;
    nc_optimizer_create(&o, m, alg);
    nc_optimizer_set_learning_rate(o, alg == NC_OPT_ADAM ? 1e-2 : 0.1);
    for (t = 0; t < 12; t++) {
        if (switch_threads && t == 4) nc_model_set_threads(m, 4);
        if (switch_threads && t == 8) nc_model_set_threads(m, 2);
        nc_optimizer_step(o);
    }
    nc_model_objective(m, &f);
    *n = nc_model_num_variables(m);
    x = (double *)malloc((*n + 1) * sizeof(double));
    nc_model_get_variables(m, x);
    x[*n] = f;
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return x;
}

int main(void)
{
    const nc_algorithm algs[3] = {NC_OPT_GD, NC_OPT_ADAM, NC_OPT_LBFGS};
    const char *names[3] = {"GD", "Adam", "L-BFGS"};
    int a;
    size_t threads;
    for (a = 0; a < 3; a++) {
        size_t n, n1, i;
        double *one = run(1, algs[a], &n1, 0), worst = 0;
        for (threads = 2; threads <= 4; threads++) {
            double *x = run(threads, algs[a], &n, 0), *y = run(threads, algs[a], &n, 0);
            char desc[120];
            snprintf(desc, sizeof desc, "%s, %zu threads: bit-identical twice", names[a], threads);
            nc_test_true(n == n1 && memcmp(x, y, (n + 1) * sizeof(double)) == 0, desc);
            for (i = 0; i <= n; i++) {
                const double e = fabs(x[i] - one[i]) / (fabs(one[i]) + 1e-3);
                if (e > worst) worst = e;
            }
            free(x);
            free(y);
        }
        nc_test_abs(worst, 0.0, 1e-10, names[a]);
        {
            double *z = run(2, algs[a], &n, 1);
            for (worst = 0, i = 0; i <= n; i++) {
                const double e = fabs(z[i] - one[i]) / (fabs(one[i]) + 1e-3);
                if (e > worst) worst = e;
            }
            nc_test_abs(worst, 0.0, 1e-10, "thread count changed between steps");
            free(z);
        }
        free(one);
    }
    return nc_test_summary("test_model_threads");
}

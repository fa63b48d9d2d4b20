/*
 * test_optim_papers.c - Dang et al. 2023's own configuration, run as the
 * paper runs it: K = 4, n = (200, 100, 50, 50), d = 64, MSE without bias,
 * lambda_W = lambda_H = 5e-4, gradient descent with learning rate 0.1 and
 * momentum 0.9 from N(0, 0.1^2), 30000 steps, depths 1, 3, 6 and 9. No step
 * is refused (the divergence guard stages the steps its a-priori bound
 * cannot clear), every depth reaches the closed-form optimum built from the
 * model, and the metrics history holds step 0 and the final state. Deep
 * models past the guard's a-priori bound (100 and 400 identity layers) run
 * with every step staged. Truly
 * diverging runs (learning rate 50, depths 1 and 3, GD, Nesterov, Adam)
 * still stop with NC_ERR_DIVERGED at a finite state, and a refused step
 * changes nothing, bit for bit.
 * NC_TEST_QUICK (the sanitizer and valgrind stages): 60 steps at depths 6
 * and 9 and 20 staged steps, checking that no step is refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncollapse.h"
#include "harness.h"

static void dang2023(size_t depth, size_t steps, int full)
{
    const size_t counts[4] = {200, 100, 50, 50};
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_prediction *p = NULL;
    nc_history *h = NULL;
    nc_verdict v;
    double values[NC_COMPARE_COUNT];
    char what[300];
    nc_status st;
    nc_model_create_counts(&m, 64, 4, counts);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_set_depth(m, depth);
    nc_model_set_weight_decay(m, 5e-4, 5e-4, 0);
    nc_model_init_gaussian(m, 0.1, 1);
    nc_prediction_create_from_model(&p, m);
    nc_history_create(&h);
    nc_optimizer_create(&o, m, NC_OPT_GD);
    nc_optimizer_set_learning_rate(o, 0.1);
    nc_optimizer_set_momentum(o, 0.9);
    nc_optimizer_set_max_iterations(o, steps);
    nc_optimizer_set_prediction(o, p);
    nc_optimizer_set_recorder(o, h, 1000);
    st = nc_optimizer_run(o);
    snprintf(what, sizeof what, "depth %zu: %zu steps, none refused (%s)", depth, steps,
             nc_optimizer_stop_info(o));
    nc_test_int(st, NC_STOP_MAX_ITERATIONS, what);
    nc_test_int(nc_optimizer_iterations(o), steps, "every step taken");
    nc_test_int(nc_optimizer_stop_verdict(o, &v, values), NC_SUCCESS, "compared");
    if (full) {
        snprintf(what, sizeof what, "depth %zu: the closed-form optimum to 1e-6 (gap %.2e)", depth,
                 values[NC_COMPARE_OBJECTIVE_GAP]);
        nc_test_abs(values[NC_COMPARE_OBJECTIVE_GAP], 0.0, 1e-6, what);
        snprintf(what, sizeof what, "depth %zu: verdict optimum (Grams %.1e, %.1e)", depth,
                 values[NC_COMPARE_CLASSIFIER_GRAM], values[NC_COMPARE_FEATURE_GRAM]);
        nc_test_int(v, NC_VERDICT_OPTIMUM, what);
        printf("test_optim_papers: depth %zu: F = %.12f, F* = %.12f, gap %.1e, %zu staged steps\n",
               depth, values[NC_COMPARE_OBJECTIVE], values[NC_COMPARE_PREDICTED_OBJECTIVE],
               values[NC_COMPARE_OBJECTIVE_GAP], nc_optimizer_staged_steps(o));
    }
    {
        size_t step0, last, rows = nc_history_rows(h);
        double f;
        nc_history_get_row(h, 0, &step0, NULL, NULL);
        nc_history_get_row(h, rows - 1, &last, &f, NULL);
        nc_test_int(step0, 0, "the history starts at step 0");
        nc_test_int(last, steps, "and ends at the final state");
        nc_test_int(rows, steps / 1000 + 1 + (steps % 1000 != 0), "a row every 1000 steps");
        nc_test_int(nc_history_layers(h), depth, "every layer in each row");
        nc_test_true(f == values[NC_COMPARE_OBJECTIVE], "the last row's objective is the final F");
    }
    nc_optimizer_destroy(o);
    nc_history_destroy(h);
    nc_prediction_destroy(p);
    nc_model_destroy(m);
}

/* Healthy runs beyond tier 1: 100 to 400 identity layers, where the product
 * of the layers' Frobenius norms (4^M) exceeds every bound while P = W_M. */
static void staged(size_t depth, size_t steps)
{
    const size_t counts[4] = {20, 10, 5, 5}, d = 16;
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    double I[256] = {0}, f0, f1;
    size_t l;
    char what[300];
    nc_model_create_counts(&m, d, 4, counts);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_set_depth(m, depth);
    nc_model_set_weight_decay(m, 5e-4, 5e-4, 0);
    nc_model_init_gaussian(m, 0.1, 1);
    for (l = 0; l < d; l++) I[l * d + l] = 1.0;
    for (l = 0; l + 1 < depth; l++) nc_model_set_layer(m, l, I, d);
    nc_model_objective(m, &f0);
    nc_optimizer_create(&o, m, NC_OPT_GD);
    nc_optimizer_set_learning_rate(o, 1e-3);
    nc_optimizer_set_max_iterations(o, steps);
    snprintf(what, sizeof what, "%zu identity layers: %zu steps, none refused", depth, steps);
    nc_test_int(nc_optimizer_run(o), NC_STOP_MAX_ITERATIONS, what);
    snprintf(what, sizeof what, "%zu identity layers: every step staged (%zu)", depth,
             nc_optimizer_staged_steps(o));
    nc_test_int(nc_optimizer_staged_steps(o), steps, what);
    nc_model_objective(m, &f1);
    nc_test_true(f1 < f0, "and the objective decreased");
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

static void diverging(size_t depth, nc_algorithm alg, double lr)
{
    const size_t counts[3] = {10, 6, 4};
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    const size_t d = 4;
    double *x1, *x2, f;
    size_t n, i;
    int finite = 1;
    char what[200];
    nc_status st;
    nc_model_create_counts(&m, d, 3, counts);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_set_depth(m, depth);
    nc_model_init_gaussian(m, 1.0, 5);
    nc_optimizer_create(&o, m, alg);
    nc_optimizer_set_learning_rate(o, lr);
    nc_optimizer_set_max_iterations(o, 100000);
    st = nc_optimizer_run(o);
    snprintf(what, sizeof what, "depth %zu algorithm %d lr %g diverges (%s)", depth, (int)alg, lr,
             nc_optimizer_last_error(o));
    nc_test_int(st, NC_ERR_DIVERGED, what);
    n = nc_model_num_variables(m);
    x1 = malloc(n * sizeof *x1);
    x2 = malloc(n * sizeof *x2);
    nc_model_get_variables(m, x1);
    for (i = 0; i < n; i++) finite &= isfinite(x1[i]);
    nc_test_true(finite, "a finite state after divergence");
    nc_test_int(nc_model_objective(m, &f), NC_SUCCESS, "its objective evaluates");
    nc_test_true(isfinite(f), "and is finite");
    nc_test_int(nc_optimizer_step(o), NC_ERR_DIVERGED, "a further step is refused");
    nc_model_get_variables(m, x2);
    nc_test_true(memcmp(x1, x2, n * sizeof *x1) == 0, "a refused step changes nothing, bit for bit");
    free(x1);
    free(x2);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

int main(void)
{
    const int quick = getenv("NC_TEST_QUICK") != NULL;
    if (quick) {
        dang2023(6, 60, 0);
        dang2023(9, 60, 0);
    } else {
        dang2023(1, 30000, 1);
        dang2023(3, 30000, 1);
        dang2023(6, 30000, 1);
        dang2023(9, 30000, 1);
    }
    diverging(1, NC_OPT_GD, 50.0);
    diverging(3, NC_OPT_GD, 50.0);
    diverging(3, NC_OPT_NESTEROV, 50.0);
    diverging(3, NC_OPT_ADAM, 1e40);
    staged(100, quick ? 20 : 200);
    if (!quick) staged(400, 200);
    return nc_test_summary("test_optim_papers");
}

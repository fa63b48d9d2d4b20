/*
 * test_optim_escape.c - stationary points that are not the optimum, found and
 * left: the ReLU model's spurious KKT points (projected L-BFGS from small
 * starts), deep linear models stopped at W = H = 0, the single-layer MSE
 * model's strict saddle at zero; with the escape every run ends at the
 * prediction's F*, without it every run is reported above it (never as the
 * optimum). Also the stop information and the metrics history of a run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncollapse.h"
#include "harness.h"

typedef struct config {
    const char *name;
    size_t K, d, depth, counts[5];
    double lambda, std;
    nc_features features;
    nc_loss loss;
    nc_algorithm algorithm;
} config;

/* One run; returns the verdict, *fstar and *f the predicted and final objectives. */
static nc_verdict run(const config *c, uint64_t seed, size_t escapes, double *f, double *fstar,
                      char *info, size_t cap)
{
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_prediction *p = NULL;
    nc_verdict v = NC_VERDICT_GEOMETRY_DIFFERS;
    double values[NC_COMPARE_COUNT];
    nc_model_create_counts(&m, c->d, c->K, c->counts);
    nc_model_set_loss(m, c->loss);
    nc_model_set_features(m, c->features);
    nc_model_set_depth(m, c->depth);
    nc_model_set_weight_decay(m, c->lambda, c->lambda, 0.0);
    if (c->std > 0) nc_model_init_gaussian(m, c->std, seed);
    nc_prediction_create_from_model(&p, m);
    nc_optimizer_create(&o, m, c->algorithm);
    if (c->algorithm == NC_OPT_GD) nc_optimizer_set_momentum(o, 0.9);
    nc_optimizer_set_max_iterations(o, c->algorithm == NC_OPT_LBFGS ? 20000 : 40000);
    nc_optimizer_set_gradient_tolerance(o, 1e-10);
    nc_optimizer_set_escape(o, escapes);
    nc_optimizer_set_check(o, 1);
    nc_optimizer_set_prediction(o, p);
    nc_optimizer_run(o);
    nc_optimizer_stop_verdict(o, &v, values);
    *f = values[NC_COMPARE_OBJECTIVE];
    *fstar = values[NC_COMPARE_PREDICTED_OBJECTIVE];
    snprintf(info, cap, "%s", nc_optimizer_stop_info(o));
    nc_prediction_destroy(p);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return v;
}

int main(void)
{
    static const config configs[] = {
        /* the case: Dang et al. 2024's ReLU model from small starts */
        {"ReLU K=4 d=16 lambda 5e-3", 4, 16, 1, {200, 100, 50, 50}, 5e-3, 1e-3,
         NC_FEATURES_RELU, NC_LOSS_CE, NC_OPT_LBFGS},
        /* two classes die at the optimum itself */
        {"ReLU K=4 d=16 lambda 2e-2", 4, 16, 1, {200, 100, 50, 50}, 2e-2, 1e-3,
         NC_FEATURES_RELU, NC_LOSS_CE, NC_OPT_LBFGS},
        {"ReLU K=5 d=8 lambda 3e-3", 5, 8, 1, {120, 60, 30, 30, 10}, 3e-3, 1e-3,
         NC_FEATURES_RELU, NC_LOSS_CE, NC_OPT_LBFGS},
        {"ReLU K=3 d=6 lambda 1e-2", 3, 6, 1, {50, 30, 20}, 1e-2, 1e-2, NC_FEATURES_RELU,
         NC_LOSS_CE, NC_OPT_LBFGS},
        /* deep linear from small starts and from W = H = 0 */
        {"deep linear M=2 d=8 lambda 2e-2", 4, 8, 2, {200, 100, 50, 50}, 2e-2, 0.1,
         NC_FEATURES_FREE, NC_LOSS_MSE, NC_OPT_LBFGS},
        {"deep linear M=3 d=64 from zero", 4, 64, 3, {200, 100, 50, 50}, 5e-4, 0.0,
         NC_FEATURES_FREE, NC_LOSS_MSE, NC_OPT_LBFGS},
        {"MSE M=1 d=16 from zero (strict saddle)", 4, 16, 1, {200, 100, 50, 50}, 5e-3, 0.0,
         NC_FEATURES_FREE, NC_LOSS_MSE, NC_OPT_LBFGS},
        {"deep linear M=3 d=16 from zero, GD", 4, 16, 3, {200, 100, 50, 50}, 5e-4, 0.0,
         NC_FEATURES_FREE, NC_LOSS_MSE, NC_OPT_GD},
    };
    /* NC_TEST_QUICK (the sanitizer and valgrind stages): one seed of three
     * configurations */
    const int quick = getenv("NC_TEST_QUICK") != NULL;
    const size_t nconf = sizeof configs / sizeof configs[0];
    size_t i, seeds, stuck_without = 0, runs = 0, reached = 0;
    char what[800], info[2 * 256];
    for (i = 0; i < nconf; i++) {
        const config *c = &configs[i];
        const size_t nseeds = quick ? 1 : c->std > 0 ? (c->algorithm == NC_OPT_LBFGS ? 6 : 1) : 1;
        if (quick && i != 0 && i != 5 && i != 6) continue;
        for (seeds = 1; seeds <= nseeds; seeds++) {
            double f0, fs0, f1, fs1;
            const nc_verdict without = run(c, seeds, 0, &f0, &fs0, info, sizeof info);
            const nc_verdict with = run(c, seeds, 10, &f1, &fs1, info, sizeof info);
            runs++;
            if (without != NC_VERDICT_OPTIMUM) {
                stuck_without++;
                snprintf(what, sizeof what, "%s seed %zu: without escape, never called the "
                         "optimum (F %.10f, F* %.10f)", c->name, seeds, f0, fs0);
                nc_test_true(without == NC_VERDICT_ABOVE_PREDICTION, what);
            }
            snprintf(what, sizeof what, "%s seed %zu: with escape, the optimum (%s)", c->name,
                     seeds, info);
            nc_test_int(with, NC_VERDICT_OPTIMUM, what);
            snprintf(what, sizeof what, "%s seed %zu: with escape, F = F* to 1e-9", c->name, seeds);
            nc_test_abs(f1, fs1, 1e-9 * fabs(fs1), what);
            reached += with == NC_VERDICT_OPTIMUM;
        }
    }
    printf("test_optim_escape: %zu runs; without escape %zu stopped above F*; with it %zu reached "
           "F*\n", runs, stuck_without, reached);
    nc_test_true(stuck_without * 10 >= runs * 9,
                 "the cases are hard: 90% of the runs or more stop above F* without escape");
    {
        /* the warning at W = H = 0 without any check */
        const size_t counts[4] = {200, 100, 50, 50};
        nc_model *m = NULL;
        nc_optimizer *o = NULL;
        nc_model_create_counts(&m, 8, 4, counts);
        nc_model_set_loss(m, NC_LOSS_MSE);
        nc_model_set_depth(m, 2);
        nc_model_set_weight_decay(m, 0.02, 0.02, 0);
        nc_model_init_gaussian(m, 0.1, 1);
        nc_optimizer_create(&o, m, NC_OPT_LBFGS);
        nc_optimizer_set_gradient_tolerance(o, 1e-10);
        nc_test_int(nc_optimizer_run(o), NC_STOP_GRADIENT_TOLERANCE, "zero: converges");
        nc_test_true(strstr(nc_optimizer_stop_info(o), "W = H = 0") != NULL,
                     "zero: the stop information warns of W = H = 0");
        nc_test_int(nc_optimizer_stop_point(o), NC_POINT_INCONCLUSIVE, "no check: inconclusive");
        {
            nc_verdict v;
            nc_test_int(nc_optimizer_stop_verdict(o, &v, NULL), NC_ERR_UNAVAILABLE,
                        "no prediction: no verdict");
        }
        nc_test_int(nc_optimizer_escapes(o), 0, "no escape taken");
        nc_optimizer_destroy(o);
        nc_model_destroy(m);
    }
    return nc_test_summary("test_optim_escape");
}

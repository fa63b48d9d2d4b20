/*
 * balanced_ufm.c - a balanced cross-entropy UFM with bias, trained to its
 * global minimiser and compared with the closed form (THEORY.md section 1,
 * Hong & Ling 2023, converted to the library's "halves" convention where
 * their lambda = 2 sqrt(lW' lH') becomes sqrt(lambda_W lambda_H)):
 *   Z = W Hbar = m (I - J/K),  m = log(1/(lambda sqrt(n)) - (K - 1)),
 *   ||w_k||^2 = sqrt(lH/lW) sqrt(n) m (K-1)/K,  ||h_i||^2 = sqrt(lW/lH) m (K-1)/(K sqrt(n)).
 *
 * Usage: balanced_ufm [--short]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncollapse.h"

int main(int argc, char **argv)
{
    enum { K = 10, n = 50, d = 32 };
    const size_t N = (size_t)K * n;
    const double lW = 5e-3, lH = 5e-3, lb = 1e-2;
    const double lam = sqrt(lW * lH);
    const double m = log(1.0 / (lam * sqrt((double)n)) - (K - 1));
    const double w2_pred = sqrt(lH / lW) * sqrt((double)n) * m * (K - 1) / K;
    const double h2_pred = sqrt(lW / lH) * m * (K - 1) / (K * sqrt((double)n));
    size_t counts[K], k, i, j, iterations = 20000;
    double *W, *H, w2_err = 0, h2_err = 0, value;
    nc_model *model = NULL;
    nc_optimizer *opt = NULL;
    nc_metrics *mt = NULL;
    nc_status st;
    int metric;

    if (argc > 1 && strcmp(argv[1], "--short") == 0) iterations = 200;
    for (k = 0; k < K; k++) counts[k] = n;
    if ((st = nc_model_create_counts(&model, d, K, counts)) != NC_SUCCESS ||
        (st = nc_model_set_bias(model, 1)) != NC_SUCCESS ||
        (st = nc_model_set_weight_decay(model, lW, lH, lb)) != NC_SUCCESS ||
        (st = nc_model_init_gaussian(model, 0.1, 42)) != NC_SUCCESS ||
        (st = nc_optimizer_create(&opt, model, NC_OPT_GD)) != NC_SUCCESS ||
        (st = nc_optimizer_set_learning_rate(opt, 0.5)) != NC_SUCCESS ||
        /* each feature's gradient carries 1/N: give the features a step N/K times larger */
        (st = nc_optimizer_set_feature_learning_rate(opt, 0.5 * (double)N / K)) != NC_SUCCESS ||
        (st = nc_optimizer_set_momentum(opt, 0.9)) != NC_SUCCESS ||
        (st = nc_optimizer_set_max_iterations(opt, iterations)) != NC_SUCCESS ||
        (st = nc_optimizer_set_gradient_tolerance(opt, 1e-12)) != NC_SUCCESS ||
        (st = nc_metrics_create(&mt)) != NC_SUCCESS) {
        fprintf(stderr, "setup failed: %s\n", nc_strerror(st));
        return 1;
    }
    st = nc_optimizer_run(opt);
    printf("Balanced CE UFM with bias: K = %d, n = %d, d = %d, lambda_W = lambda_H = %g, "
           "lambda_b = %g\n", K, n, d, lW, lb);
    printf("stopped: %s after %zu iterations, objective %.12f, |grad| %.3e\n", nc_status_name(st),
           nc_optimizer_iterations(opt), nc_optimizer_objective(opt),
           nc_optimizer_gradient_norm(opt));
    if (st < 0) return 1;

    W = (double *)malloc((size_t)K * d * sizeof(double));
    H = (double *)malloc(d * N * sizeof(double));
    nc_model_get_W(model, W, d);
    nc_model_get_H(model, H, d);
    for (k = 0; k < K; k++) {
        double s = 0;
        for (j = 0; j < d; j++) s += W[k * d + j] * W[k * d + j];
        if (fabs(s - w2_pred) / w2_pred > w2_err) w2_err = fabs(s - w2_pred) / w2_pred;
    }
    for (i = 0; i < N; i++) {
        double s = 0;
        for (j = 0; j < d; j++) s += H[i * d + j] * H[i * d + j];
        if (fabs(s - h2_pred) / h2_pred > h2_err) h2_err = fabs(s - h2_pred) / h2_pred;
    }
    printf("closed form: m = %.10f, ||w_k||^2 = %.10f, ||h_i||^2 = %.10f\n", m, w2_pred, h2_pred);
    printf("largest relative deviation: ||w_k||^2 %.2e, ||h_i||^2 %.2e\n", w2_err, h2_err);

    nc_metrics_compute(mt, model);
    printf("\nNC metrics (global mean sample-weighted = class average here; Sigma_B uniform):\n");
    for (metric = 0; metric < NC_METRIC_COUNT; metric++)
        if (nc_metrics_get(mt, (nc_metric)metric, &value) == NC_SUCCESS)
            printf("  %-22s %.3e\n", nc_metric_name((nc_metric)metric), value);
    free(W);
    free(H);
    nc_metrics_destroy(mt);
    nc_optimizer_destroy(opt);
    nc_model_destroy(model);
    return 0;
}

/*
 * imbalanced_ufm.c - the main demonstration (`make demo`).
 *
 * An imbalanced unconstrained feature model as in Dang et al. 2023's
 * synthetic experiment: K = 4 classes with n = (200, 100, 50, 50) samples,
 * d = 64, weight decay lambda_W = lambda_H = 5e-4 ("halves" convention),
 * cross-entropy without bias, full-batch gradient descent with learning rate
 * 0.1 and momentum 0.9 from N(0, 0.1^2). Prints the NC metrics as training
 * goes on, and the per-class norms at the end: under imbalance the features
 * collapse (NC1 -> 0) but the class means are not an equinorm simplex ETF.
 *
 * Usage: imbalanced_ufm [--short] [--loss ce|mse] [--iterations N]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncollapse.h"

typedef struct report {
    nc_metrics *metrics;
    size_t every_print;
} report;

static void print_header(void)
{
    printf("%8s %12s %10s %10s %10s %10s %10s %10s %10s %8s\n", "iter", "objective", "|grad|",
           "NC1", "NC2norm_M", "NC2norm_W", "NC2etf_M", "NC2etf_W", "NC3", "NC4");
}

static double get(const nc_metrics *mt, nc_metric id)
{
    double v = 0;
    return nc_metrics_get(mt, id, &v) == NC_SUCCESS ? v : -1.0;
}

static int print_row(const nc_model *model, size_t it, double f, double g, void *user)
{
    report *r = (report *)user;
    nc_status st = nc_metrics_compute(r->metrics, model);
    if (st != NC_SUCCESS) {
        fprintf(stderr, "metrics: %s (%s)\n", nc_strerror(st), nc_metrics_last_error(r->metrics));
        return 1;
    }
    printf("%8zu %12.6e %10.3e %10.3e %10.3e %10.3e %10.3e %10.3e %10.3e %8.4f\n", it, f, g,
           get(r->metrics, NC_METRIC_NC1), get(r->metrics, NC_METRIC_NC2_EQUINORM_MEANS),
           get(r->metrics, NC_METRIC_NC2_EQUINORM_W), get(r->metrics, NC_METRIC_NC2_ETF_MEANS),
           get(r->metrics, NC_METRIC_NC2_ETF_W), get(r->metrics, NC_METRIC_NC3),
           get(r->metrics, NC_METRIC_NC4));
    return 0;
}

int main(int argc, char **argv)
{
    const size_t K = 4, d = 64, counts[4] = {200, 100, 50, 50};
    size_t iterations = 30000, N = 0, k, i, j;
    nc_loss loss = NC_LOSS_CE;
    nc_model *model = NULL;
    nc_optimizer *opt = NULL;
    report rep = {NULL, 0};
    nc_status st;
    int a;
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--short") == 0) iterations = 300;
        else if (strcmp(argv[a], "--loss") == 0 && a + 1 < argc)
            loss = strcmp(argv[++a], "mse") == 0 ? NC_LOSS_MSE : NC_LOSS_CE;
        else if (strcmp(argv[a], "--iterations") == 0 && a + 1 < argc)
            iterations = (size_t)strtoul(argv[++a], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--short] [--loss ce|mse] [--iterations N]\n", argv[0]);
            return 2;
        }
    }
    for (k = 0; k < K; k++) N += counts[k];

    if ((st = nc_model_create_counts(&model, d, K, counts)) != NC_SUCCESS ||
        (st = nc_model_set_loss(model, loss)) != NC_SUCCESS ||
        (st = nc_model_set_weight_decay(model, 5e-4, 5e-4, 0.0)) != NC_SUCCESS ||
        (st = nc_model_init_gaussian(model, 0.1, 1)) != NC_SUCCESS ||
        (st = nc_optimizer_create(&opt, model, NC_OPT_GD)) != NC_SUCCESS ||
        (st = nc_optimizer_set_learning_rate(opt, 0.1)) != NC_SUCCESS ||
        (st = nc_optimizer_set_momentum(opt, 0.9)) != NC_SUCCESS ||
        (st = nc_optimizer_set_max_iterations(opt, iterations)) != NC_SUCCESS ||
        (st = nc_metrics_create(&rep.metrics)) != NC_SUCCESS) {
        fprintf(stderr, "setup failed: %s\n", nc_strerror(st));
        return 1;
    }
    nc_optimizer_set_callback(opt, print_row, &rep, iterations >= 10 ? iterations / 10 : 1);

    printf("Imbalanced UFM: K = %zu, n = (200, 100, 50, 50), d = %zu, %s loss, no bias,\n", K, d,
           loss == NC_LOSS_CE ? "cross-entropy" : "MSE");
    printf("lambda_W = lambda_H = 5e-4 (halves), GD lr 0.1 momentum 0.9, %zu iterations.\n",
           iterations);
    printf("Metrics: global mean sample-weighted, Sigma_B class-uniform (library defaults).\n\n");
    print_header();
    {   /* the initial state: objective and gradient norm evaluated directly */
        double f0 = 0, g2 = 0, *gW = (double *)malloc(K * d * sizeof(double));
        double *gH = (double *)malloc(d * N * sizeof(double));
        if (!gW || !gH || nc_model_gradient(model, &f0, gW, d, gH, d, NULL) != NC_SUCCESS) {
            fprintf(stderr, "initial evaluation failed\n");
            return 1;
        }
        for (i = 0; i < K * d; i++) g2 += gW[i] * gW[i];
        for (i = 0; i < d * N; i++) g2 += gH[i] * gH[i];
        print_row(model, 0, f0, sqrt(g2), &rep);
        free(gW);
        free(gH);
    }
    st = nc_optimizer_run(opt);
    printf("\nstopped: %s (%s)\n", nc_status_name(st), nc_strerror(st));
    if (st < 0) {
        fprintf(stderr, "%s\n", nc_optimizer_last_error(opt));
        return 1;
    }

    /* Per-class geometry: norms of class means and classifier rows. */
    {
        double *W = (double *)malloc(K * d * sizeof(double));
        double *H = (double *)malloc(d * N * sizeof(double));
        size_t start = 0;
        printf("\n%6s %6s %12s %12s\n", "class", "n_k", "||mean_k||", "||w_k||");
        nc_model_get_W(model, W, d);
        nc_model_get_H(model, H, d);
        for (k = 0; k < K; k++) {
            double mean[64] = {0}, mn = 0, wn = 0;
            for (i = start; i < start + counts[k]; i++)
                for (j = 0; j < d; j++) mean[j] += H[i * d + j] / (double)counts[k];
            for (j = 0; j < d; j++) {
                mn += mean[j] * mean[j];
                wn += W[k * d + j] * W[k * d + j];
            }
            printf("%6zu %6zu %12.6f %12.6f\n", k, counts[k], sqrt(mn), sqrt(wn));
            start += counts[k];
        }
        free(W);
        free(H);
    }
    nc_metrics_destroy(rep.metrics);
    nc_optimizer_destroy(opt);
    nc_model_destroy(model);
    return 0;
}

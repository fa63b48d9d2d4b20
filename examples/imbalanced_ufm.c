/*
 * imbalanced_ufm.c - the main demonstration (`make demo`).
 *
 * Dang et al. 2023's synthetic experiment, as the paper runs it: K = 4
 * classes with n = (200, 100, 50, 50) samples, d = 64, MSE without bias,
 * weight decay lambda_W = lambda_H = 5e-4 ("halves" convention), full-batch
 * gradient descent with learning rate 0.1 and momentum 0.9 from
 * N(0, 0.1^2), 30000 steps, here at depth 3 (the paper's depths are 1, 3, 6,
 * 9: --depth). The run records a metrics history (every 3000 steps, step 0
 * and the final state, every layer) that the program prints and may write as
 * CSV; then it compares the final state with the prediction built from the
 * model (the closed-form global minimiser), and prints why the run stopped
 * and the per-class geometry: under imbalance the features collapse
 * (NC1 -> 0) at every layer, but the class means are not an equinorm simplex
 * ETF: their norms follow n_k, as predicted.
 *
 * Usage: imbalanced_ufm [--short] [--depth M] [--loss mse|ce] [--iterations N]
 *                       [--csv PATH] [--json PATH]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncollapse.h"

static int fail(const char *what, nc_status st, const char *msg)
{
    fprintf(stderr, "%s: %s (%s)\n", what, nc_strerror(st), msg);
    return 1;
}

int main(int argc, char **argv)
{
    static const nc_metric shown[5] = {NC_METRIC_NC1, NC_METRIC_NC2_EQUINORM_MEANS,
                                       NC_METRIC_NC2_ETF_MEANS, NC_METRIC_NC3, NC_METRIC_NC4};
    const size_t K = 4, d = 64, counts[4] = {200, 100, 50, 50};
    size_t iterations = 30000, depth = 3, r, l, k;
    const char *csv = NULL, *json = NULL;
    nc_loss loss = NC_LOSS_MSE;
    nc_model *model = NULL;
    nc_optimizer *opt = NULL;
    nc_history *history = NULL;
    nc_prediction *prediction = NULL;
    nc_status st;
    int a;
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--short") == 0) iterations = 300;
        else if (strcmp(argv[a], "--depth") == 0 && a + 1 < argc)
            depth = (size_t)strtoul(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--loss") == 0 && a + 1 < argc)
            loss = strcmp(argv[++a], "ce") == 0 ? NC_LOSS_CE : NC_LOSS_MSE;
        else if (strcmp(argv[a], "--iterations") == 0 && a + 1 < argc)
            iterations = (size_t)strtoul(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--csv") == 0 && a + 1 < argc)
            csv = argv[++a];
        else if (strcmp(argv[a], "--json") == 0 && a + 1 < argc)
            json = argv[++a];
        else {
            fprintf(stderr, "usage: %s [--short] [--depth M] [--loss mse|ce] [--iterations N] "
                    "[--csv PATH] [--json PATH]\n", argv[0]);
            return 2;
        }
    }

    if ((st = nc_model_create_counts(&model, d, K, counts)) != NC_SUCCESS ||
        (st = nc_model_set_loss(model, loss)) != NC_SUCCESS ||
        (st = nc_model_set_depth(model, depth)) != NC_SUCCESS ||
        (st = nc_model_set_weight_decay(model, 5e-4, 5e-4, 0.0)) != NC_SUCCESS ||
        (st = nc_model_init_gaussian(model, 0.1, 1)) != NC_SUCCESS)
        return fail("model", st, model ? nc_model_last_error(model) : "");
    /* the prediction takes every option from the model (kind, counts, decays, depth) */
    if ((st = nc_prediction_create_from_model(&prediction, model)) != NC_SUCCESS)
        return fail("prediction", st, nc_model_last_error(model));
    if ((st = nc_history_create(&history)) != NC_SUCCESS ||
        (st = nc_history_set_metrics(history, shown, 5)) != NC_SUCCESS ||
        (st = nc_optimizer_create(&opt, model, NC_OPT_GD)) != NC_SUCCESS ||
        (st = nc_optimizer_set_learning_rate(opt, 0.1)) != NC_SUCCESS ||
        (st = nc_optimizer_set_momentum(opt, 0.9)) != NC_SUCCESS ||
        (st = nc_optimizer_set_max_iterations(opt, iterations)) != NC_SUCCESS ||
        (st = nc_optimizer_set_recorder(opt, history, iterations >= 10 ? iterations / 10 : 1)) !=
            NC_SUCCESS ||
        (st = nc_optimizer_set_prediction(opt, prediction)) != NC_SUCCESS)
        return fail("setup", st, opt ? nc_optimizer_last_error(opt) : "");

    printf("Dang et al. 2023: K = %zu, n = (200, 100, 50, 50), d = %zu, depth %zu, %s, no bias,\n",
           K, d, depth, loss == NC_LOSS_CE ? "cross-entropy" : "MSE");
    printf("lambda_W = lambda_H = 5e-4 (halves), GD lr 0.1 momentum 0.9, %zu iterations.\n",
           iterations);
    printf("Metrics of every layer l (features W_l...W_1 H, classifier W_M...W_{l+1}); global mean\n"
           "sample-weighted, Sigma_B class-uniform (the library's defaults).\n\n");
    st = nc_optimizer_run(opt);
    if (st < 0) return fail("run", st, nc_optimizer_last_error(opt));

    printf("%8s %5s %12s %10s %10s %10s %10s %10s %8s\n", "step", "layer", "objective", "|grad|",
           "NC1", "NC2norm_M", "NC2etf_M", "NC3", "NC4");
    for (r = 0; r < nc_history_rows(history); r++) {
        size_t step;
        double f, g;
        nc_history_get_row(history, r, &step, &f, &g);
        for (l = 0; l < nc_history_layers(history); l++) {
            double v[5];
            for (k = 0; k < 5; k++)
                if (nc_history_get(history, r, l, shown[k], &v[k]) != NC_SUCCESS) v[k] = NAN;
            if (l == 0)
                printf("%8zu %5zu %12.6e %10.3e", step, l, f, g);
            else
                printf("%8s %5zu %12s %10s", "", l, "", "");
            printf(" %10.3e %10.3e %10.3e %10.3e %8.4f\n", v[0], v[1], v[2], v[3], v[4]);
        }
    }
    if (csv && (st = nc_history_save_csv(history, csv)) != NC_SUCCESS)
        return fail("csv", st, nc_history_last_error(history));
    if (json && (st = nc_history_save_json(history, json)) != NC_SUCCESS)
        return fail("json", st, nc_history_last_error(history));

    printf("\n%s\n", nc_optimizer_stop_info(opt));
    {
        double v[NC_COMPARE_COUNT], hn[4], wn[4], Hl[64 * 400], mean_norm[4] = {0};
        nc_verdict verdict;
        int32_t labels[400];
        size_t i, j, cnt[4] = {0};
        if ((st = nc_optimizer_stop_verdict(opt, &verdict, v)) != NC_SUCCESS ||
            (st = nc_prediction_get_norms(prediction, wn, hn)) != NC_SUCCESS)
            return fail("comparison", st, nc_prediction_last_error(prediction));
        printf("against the closed form: F* = %.10f, gap %.2e; distances of P P^T %.2e, "
               "Hbar^T Hbar %.2e, P Hbar %.2e: %s\n",
               v[NC_COMPARE_PREDICTED_OBJECTIVE], v[NC_COMPARE_OBJECTIVE_GAP],
               v[NC_COMPARE_CLASSIFIER_GRAM], v[NC_COMPARE_FEATURE_GRAM], v[NC_COMPARE_LOGITS],
               nc_verdict_name(verdict));
        /* per-class geometry of the input features against the prediction */
        nc_model_get_layer_features(model, 0, Hl, d);
        nc_model_get_labels(model, labels);
        {
            double mean[4 * 64] = {0};
            for (i = 0; i < 400; i++) {
                cnt[labels[i]]++;
                for (j = 0; j < d; j++) mean[labels[i] * d + j] += Hl[i * d + j];
            }
            for (k = 0; k < K; k++)
                for (j = 0; j < d; j++)
                    mean_norm[k] += (mean[k * d + j] / (double)cnt[k]) *
                                    (mean[k * d + j] / (double)cnt[k]);
        }
        printf("\n%6s %6s %14s %14s\n", "class", "n_k", "||mean_k||", "predicted");
        for (k = 0; k < K; k++)
            printf("%6zu %6zu %14.8f %14.8f\n", k, counts[k], sqrt(mean_norm[k]), hn[k]);
    }
    nc_optimizer_destroy(opt);
    nc_history_destroy(history);
    nc_prediction_destroy(prediction);
    nc_model_destroy(model);
    return 0;
}

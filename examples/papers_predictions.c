/*
 * papers_predictions.c - each paper's model, trained by the library to its
 * optimum (L-BFGS, gradient or KKT norm <= 1e-10), beside the closed-form or
 * certified prediction: optimal objective, and the distances of the trained
 * Gram matrices Hbar^T Hbar (class means) and P P^T (classifier) to the
 * predicted ones, || A/||A||_F - T/||T||_F ||_F.
 *
 * Usage: papers_predictions [--short]   (the same run: it takes about a second)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncollapse.h"

#define KMAX 8

typedef struct setting {
    const char *name;
    nc_prediction_kind kind;
    size_t K, d, depth;
    size_t counts[KMAX];
    double lW, lH, lb;
    int bias, relu, fixed_etf;
    nc_loss loss;
    double init_std;
} setting;

static int fail(const char *what, nc_status st)
{
    fprintf(stderr, "%s: %s\n", what, nc_strerror(st));
    return 1;
}

static int run(const setting *s)
{
    const size_t K = s->K, d = s->d;
    size_t N = 0, k;
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_prediction *p = NULL;
    double f, fstar, gnorm, dist_h, dist_w, Gm[KMAX * KMAX], Gp[KMAX * KMAX], Tm[KMAX * KMAX],
        Tp[KMAX * KMAX];
    double *H, *M, *P;
    int32_t *labels;
    size_t cnt[KMAX];
    nc_status st;

    for (k = 0; k < K; k++) N += s->counts[k];
    if ((st = nc_model_create_counts(&m, d, K, s->counts)) != NC_SUCCESS) return fail("model", st);
    nc_model_set_loss(m, s->loss);
    nc_model_set_bias(m, s->bias);
    nc_model_set_weight_decay(m, s->lW, s->lH, s->lb);
    if (s->relu) nc_model_set_features(m, NC_FEATURES_RELU);
    nc_model_set_depth(m, s->depth);
    if (s->fixed_etf) nc_model_fix_classifier_etf(m, 2.0, 3, NULL, 0);
    nc_model_init_gaussian(m, s->init_std, 11);
    nc_optimizer_create(&o, m, NC_OPT_LBFGS);
    nc_optimizer_set_max_iterations(o, 50000);
    nc_optimizer_set_gradient_tolerance(o, 1e-10);
    st = nc_optimizer_run(o);
    if (st < 0) return fail(s->name, st);
    gnorm = nc_optimizer_gradient_norm(o);
    nc_model_objective(m, &f);

    if ((st = nc_prediction_create(&p, s->kind, K, s->counts)) != NC_SUCCESS)
        return fail("prediction", st);
    nc_prediction_set_weight_decay(p, s->lW, s->lH, s->lb);
    nc_prediction_set_bias(p, s->bias);
    nc_prediction_set_depth(p, s->depth);
    nc_prediction_set_dim(p, d);
    if (s->fixed_etf) nc_prediction_set_classifier_norm(p, 2.0);
    if ((st = nc_prediction_compute(p)) != NC_SUCCESS) return fail("prediction compute", st);
    nc_prediction_get_objective(p, &fstar);
    nc_prediction_get_feature_gram(p, Tm, K);
    nc_prediction_get_classifier_gram(p, Tp, K);

    /* Trained Grams: class means and the end-to-end classifier. */
    H = (double *)malloc(d * N * sizeof(double));
    M = (double *)malloc(d * K * sizeof(double));
    P = (double *)malloc(d * K * sizeof(double));
    labels = (int32_t *)malloc(N * sizeof(int32_t));
    nc_model_get_H(m, H, d);
    nc_model_get_labels(m, labels);
    nc_model_get_product(m, P, d); /* K x d row-major == d x K frame */
    nc_structure_class_means(d, K, N, H, d, labels, M, d, cnt);
    nc_structure_gram(d, K, M, d, M, d, Gm, K);
    nc_structure_gram(d, K, P, d, P, d, Gp, K);
    nc_structure_distance(K, Gm, K, Tm, K, &dist_h);
    nc_structure_distance(K, Gp, K, Tp, K, &dist_w);
    printf("%-34s %14.10f %14.10f %9.1e %9.1e %9.1e %8.1e %6zu\n", s->name, fstar, f,
           fabs(f - fstar) / fabs(fstar), dist_h, dist_w, gnorm, nc_optimizer_iterations(o));
    free(H);
    free(M);
    free(P);
    free(labels);
    nc_prediction_destroy(p);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return 0;
}

int main(int argc, char **argv)
{
    static const setting settings[] = {
        {"Hong & Ling 2023: CE + bias", NC_PREDICT_HONG_LING_CE, 4, 8, 1, {200, 200, 50, 50},
         5e-3, 5e-3, 1e-2, 1, 0, 0, NC_LOSS_CE, 0.5},
        {"Dang et al. 2024: ReLU CE", NC_PREDICT_DANG_RELU_CE, 4, 16, 1, {200, 100, 50, 50},
         5e-3, 5e-3, 0, 0, 1, 0, NC_LOSS_CE, 1.0},
        {"Dang et al. 2023: deep linear M=3", NC_PREDICT_DEEP_LINEAR_MSE, 4, 8, 3,
         {200, 100, 50, 50}, 5e-4, 5e-4, 0, 0, 0, 0, NC_LOSS_MSE, 0.5},
        {"Yang et al. 2022: fixed ETF", NC_PREDICT_FIXED_ETF, 4, 6, 1, {300, 60, 30, 10}, 0,
         1e-3, 0, 0, 0, 1, NC_LOSS_CE, 0.5},
        {"balanced MSE, no bias", NC_PREDICT_BALANCED_MSE, 4, 8, 1, {50, 50, 50, 50}, 5e-3,
         5e-3, 0, 0, 0, 0, NC_LOSS_MSE, 0.5},
    };
    size_t i;
    (void)argc;
    (void)argv;
    printf("Each paper's UFM trained by libncollapse (L-BFGS, |grad| <= 1e-10) against its\n"
           "prediction. dist = || A/||A|| - T/||T|| ||_F for the Gram of the class means (H)\n"
           "and of the end-to-end classifier (W). Weight decays in the 'halves' convention.\n\n");
    printf("%-34s %14s %14s %9s %9s %9s %8s %6s\n", "model", "F* predicted", "F trained",
           "rel.diff", "dist H", "dist W", "|grad|", "iters");
    for (i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (run(&settings[i])) return 1;
    return 0;
}

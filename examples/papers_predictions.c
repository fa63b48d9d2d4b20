/*
 * papers_predictions.c - each paper's model, trained by the library to its
 * optimum (L-BFGS, gradient or KKT norm <= 1e-10), against the prediction
 * built from the model itself (nc_prediction_create_from_model), compared in
 * one call (nc_prediction_compare): the optimal objective, the relative
 * distances of the trained P P^T (classifier), Hbar^T Hbar (class means)
 * and Z = P Hbar (logits) to the predicted ones, and the verdict.
 *
 * Usage: papers_predictions [--short]   (the same run: it takes about a second)
 */
#include <stdio.h>

#include "ncollapse.h"

typedef struct setting {
    const char *name;
    size_t K, d, depth;
    size_t counts[4];
    double lW, lH, lb;
    int bias, relu, fixed_etf;
    nc_loss loss;
    double init_std;
} setting;

static int fail(const char *what, nc_status st, const char *msg)
{
    fprintf(stderr, "%s: %s (%s)\n", what, nc_strerror(st), msg);
    return 1;
}

static int run(const setting *s)
{
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_prediction *p = NULL;
    double v[NC_COMPARE_COUNT];
    nc_verdict verdict;
    nc_status st;

    if ((st = nc_model_create_counts(&m, s->d, s->K, s->counts)) != NC_SUCCESS)
        return fail("model", st, "");
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
    if (st < 0) return fail(s->name, st, nc_optimizer_last_error(o));

    /* the prediction takes the model's options: kind, counts, decays, bias, depth, d */
    if ((st = nc_prediction_create_from_model(&p, m)) != NC_SUCCESS)
        return fail("prediction", st, nc_model_last_error(m));
    if ((st = nc_prediction_compare(p, m, 1e-8, v, &verdict)) != NC_SUCCESS)
        return fail("compare", st, nc_prediction_last_error(p));
    printf("%-34s %14.10f %14.10f %9.1e %9.1e %9.1e %9.1e %8.1e  %s\n", s->name,
           v[NC_COMPARE_PREDICTED_OBJECTIVE], v[NC_COMPARE_OBJECTIVE],
           v[NC_COMPARE_OBJECTIVE_GAP], v[NC_COMPARE_CLASSIFIER_GRAM], v[NC_COMPARE_FEATURE_GRAM],
           v[NC_COMPARE_LOGITS], nc_optimizer_gradient_norm(o), nc_verdict_name(verdict));
    nc_prediction_destroy(p);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return verdict == NC_VERDICT_OPTIMUM ? 0 : 1;
}

int main(int argc, char **argv)
{
    static const setting settings[] = {
        {"Hong & Ling 2023: CE + bias", 4, 8, 1, {200, 200, 50, 50}, 5e-3, 5e-3, 1e-2, 1, 0, 0,
         NC_LOSS_CE, 0.5},
        {"Dang et al. 2024: ReLU CE", 4, 16, 1, {200, 100, 50, 50}, 5e-3, 5e-3, 0, 0, 1, 0,
         NC_LOSS_CE, 1.0},
        {"Dang et al. 2023: deep linear M=3", 4, 8, 3, {200, 100, 50, 50}, 5e-4, 5e-4, 0, 0, 0,
         0, NC_LOSS_MSE, 0.5},
        {"Yang et al. 2022: fixed ETF", 4, 6, 1, {300, 60, 30, 10}, 0, 1e-3, 0, 0, 0, 1,
         NC_LOSS_CE, 0.5},
        {"balanced MSE, no bias", 4, 8, 1, {50, 50, 50, 50}, 5e-3, 5e-3, 0, 0, 0, 0, NC_LOSS_MSE,
         0.5},
    };
    size_t i;
    (void)argc;
    (void)argv;
    printf("Each paper's UFM trained by libncollapse (L-BFGS, |grad| <= 1e-10) against the\n"
           "prediction built from the same model. gap = (F - F*)/|F*|; dist = relative\n"
           "Frobenius distance of P P^T (W), Hbar^T Hbar (H) and P Hbar (Z) to the predicted\n"
           "ones. Weight decays in the 'halves' convention.\n\n");
    printf("%-34s %14s %14s %9s %9s %9s %9s %8s  %s\n", "model", "F* predicted", "F trained",
           "gap", "dist W", "dist H", "dist Z", "|grad|", "verdict");
    for (i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (run(&settings[i])) return 1;
    return 0;
}

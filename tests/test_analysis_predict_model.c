/*
 * test_analysis_predict_model.c - predictions built from models and the
 * one-call comparison: every paper's model, trained by L-BFGS to a gradient
 * norm of 1e-10, is judged the optimum of the prediction built from it; an
 * untrained model and the ReLU model's spurious KKT point are judged above
 * it; options no prediction covers are refused with a message that names
 * them; every error.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ncollapse.h"
#include "harness.h"

typedef struct setting {
    const char *name;
    nc_prediction_kind kind;
    size_t K, d, depth, counts[4];
    double lW, lH, lb;
    int bias, relu, fixed_etf;
    nc_loss loss;
    double init_std;
} setting;

static nc_model *build(const setting *s, double std, uint64_t seed)
{
    nc_model *m = NULL;
    nc_model_create_counts(&m, s->d, s->K, s->counts);
    nc_model_set_loss(m, s->loss);
    nc_model_set_bias(m, s->bias);
    nc_model_set_weight_decay(m, s->lW, s->lH, s->lb);
    if (s->relu) nc_model_set_features(m, NC_FEATURES_RELU);
    nc_model_set_depth(m, s->depth);
    if (s->fixed_etf) nc_model_fix_classifier_etf(m, 2.0, 3, NULL, 0);
    nc_model_init_gaussian(m, std, seed);
    return m;
}

static void lbfgs(nc_model *m, double tol)
{
    nc_optimizer *o = NULL;
    nc_optimizer_create(&o, m, NC_OPT_LBFGS);
    nc_optimizer_set_max_iterations(o, 50000);
    nc_optimizer_set_gradient_tolerance(o, tol);
    nc_optimizer_run(o);
    nc_optimizer_destroy(o);
}

static void check_setting(const setting *s)
{
    nc_model *m = build(s, s->init_std, 11);
    nc_prediction *p = NULL;
    double v[NC_COMPARE_COUNT];
    nc_verdict verdict;
    char what[200];
    snprintf(what, sizeof what, "%s: a prediction from the model", s->name);
    nc_test_int(nc_prediction_create_from_model(&p, m), NC_SUCCESS, what);
    snprintf(what, sizeof what, "%s: the kind", s->name);
    nc_test_int(nc_prediction_get_kind(p), s->kind, what);
    /* untrained: above */
    snprintf(what, sizeof what, "%s: untrained model compared", s->name);
    nc_test_int(nc_prediction_compare(p, m, 1e-8, v, &verdict), NC_SUCCESS, what);
    snprintf(what, sizeof what, "%s: untrained model is above the prediction", s->name);
    nc_test_int(verdict, NC_VERDICT_ABOVE_PREDICTION, what);
    lbfgs(m, 1e-10);
    nc_test_int(nc_prediction_compare(p, m, 1e-8, v, &verdict), NC_SUCCESS, "compare trained");
    snprintf(what, sizeof what, "%s: trained model is the optimum (gap %.1e, W %.1e, H %.1e, Z %.1e)",
             s->name, v[NC_COMPARE_OBJECTIVE_GAP], v[NC_COMPARE_CLASSIFIER_GRAM],
             v[NC_COMPARE_FEATURE_GRAM], v[NC_COMPARE_LOGITS]);
    nc_test_int(verdict, NC_VERDICT_OPTIMUM, what);
    nc_test_abs(v[NC_COMPARE_OBJECTIVE_GAP], 0.0, 1e-9, "trained: objective gap");
    nc_test_abs(v[NC_COMPARE_COLLAPSE_AGREEMENT], 1.0, 0.0, "trained: collapse agrees");
    {
        double f, fstar;
        nc_model_objective(m, &f);
        nc_prediction_get_objective(p, &fstar);
        nc_test_true(v[NC_COMPARE_OBJECTIVE] == f && v[NC_COMPARE_PREDICTED_OBJECTIVE] == fstar,
                     "compare reports F and F*");
    }
    nc_prediction_destroy(p);
    nc_model_destroy(m);
}

/* The mismatch that a separate configuration allowed: a model without bias
 * against Hong & Ling's default (bias on). From the model they agree. */
static void bias_follows_model(void)
{
    const size_t counts[4] = {200, 100, 50, 50};
    nc_model *m = NULL;
    nc_prediction *p = NULL, *q = NULL;
    double f1, f2;
    nc_model_create_counts(&m, 8, 4, counts);
    nc_model_set_weight_decay(m, 5e-3, 5e-3, 1e-2);
    nc_prediction_create_from_model(&p, m);
    nc_test_int(nc_prediction_get_kind(p), NC_PREDICT_HONG_LING_CE, "imbalanced CE: Hong & Ling");
    nc_prediction_compute(p);
    nc_prediction_get_objective(p, &f1);
    nc_prediction_create(&q, NC_PREDICT_HONG_LING_CE, 4, counts);
    nc_prediction_set_weight_decay(q, 5e-3, 5e-3, 1e-2);
    nc_prediction_set_bias(q, 0);
    nc_prediction_compute(q);
    nc_prediction_get_objective(q, &f2);
    nc_test_true(f1 == f2, "the prediction from a bias-free model has no bias");
    nc_prediction_destroy(p);
    nc_prediction_destroy(q);
    nc_model_destroy(m);
}

/* Projected L-BFGS from a small start stops at a KKT point with two classes
 * at h = 0: judged above the prediction, never the optimum. */
static void spurious_relu(void)
{
    const setting s = {"ReLU", NC_PREDICT_DANG_RELU_CE, 4, 16, 1, {200, 100, 50, 50},
                       5e-3, 5e-3, 0, 0, 1, 0, NC_LOSS_CE, 1e-3};
    nc_model *m = build(&s, 1e-3, 1);
    nc_prediction *p = NULL;
    double v[NC_COMPARE_COUNT];
    nc_verdict verdict;
    lbfgs(m, 1e-10);
    nc_prediction_create_from_model(&p, m);
    nc_test_int(nc_prediction_compare(p, m, 1e-8, v, &verdict), NC_SUCCESS, "spurious: compare");
    nc_test_int(verdict, NC_VERDICT_ABOVE_PREDICTION, "spurious KKT point: above the prediction");
    nc_test_abs(v[NC_COMPARE_OBJECTIVE], 0.7625671061, 1e-9, "spurious: F = 0.7625671061");
    nc_test_abs(v[NC_COMPARE_PREDICTED_OBJECTIVE], 0.6224489247, 1e-9, "spurious: F* = 0.6224489247");
    nc_prediction_destroy(p);
    nc_model_destroy(m);
}

static void refused(const char *what, nc_model *m, const char *needle)
{
    nc_prediction *p = (nc_prediction *)&p;
    char msg[200];
    nc_test_int(nc_prediction_create_from_model(&p, m), NC_ERR_UNSUPPORTED, what);
    nc_test_true(p == NULL, "refused: *prediction is NULL");
    snprintf(msg, sizeof msg, "%s: the message names it (%s)", what, nc_model_last_error(m));
    nc_test_true(strstr(nc_model_last_error(m), needle) != NULL, msg);
}

static void unsupported(void)
{
    const size_t counts[4] = {200, 100, 50, 50}, balanced[4] = {50, 50, 50, 50};
    nc_model *m = NULL;
    double W[4 * 6] = {0};
    nc_model_create_counts(&m, 6, 4, counts);
    nc_model_set_loss(m, NC_LOSS_FOCAL);
    refused("focal loss", m, "focal");
    nc_model_set_loss(m, NC_LOSS_CE);
    nc_model_set_allnc(m, 0.5, 0.0);
    refused("AllNC terms", m, "AllNC");
    nc_model_set_allnc(m, 0.0, 0.0);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_set_bias(m, 1);
    refused("MSE with bias, imbalanced", m, "imbalance");
    nc_model_set_bias(m, 0);
    nc_model_set_loss_parameter(m, NC_LOSS_PARAM_TARGET_SCALE, 2.0);
    refused("MSE target scale 2", m, "target scale");
    nc_model_set_loss_parameter(m, NC_LOSS_PARAM_TARGET_SCALE, 1.0);
    nc_model_set_loss(m, NC_LOSS_CE);
    nc_model_set_depth(m, 2);
    refused("CE at depth 2", m, "depth 2");
    nc_model_set_depth(m, 1);
    nc_model_set_features(m, NC_FEATURES_RELU);
    nc_model_set_bias(m, 1);
    refused("ReLU with bias", m, "bias");
    nc_model_set_bias(m, 0);
    nc_model_set_features(m, NC_FEATURES_FREE);
    W[0] = 1.0; W[7] = 2.0; W[14] = 1.0; W[21] = 1.0; /* fixed, not an ETF */
    nc_model_fix_classifier(m, W, 6);
    refused("a fixed classifier that is not an ETF", m, "simplex ETF");
    nc_model_destroy(m);
    /* balanced MSE with bias is covered */
    {
        nc_prediction *p = NULL;
        nc_model_create_counts(&m, 6, 4, balanced);
        nc_model_set_loss(m, NC_LOSS_MSE);
        nc_model_set_bias(m, 1);
        nc_model_set_weight_decay(m, 5e-3, 5e-3, 5e-3);
        nc_test_int(nc_prediction_create_from_model(&p, m), NC_SUCCESS, "balanced MSE with bias");
        nc_test_int(nc_prediction_get_kind(p), NC_PREDICT_BALANCED_MSE, "... its kind");
        nc_prediction_destroy(p);
        nc_model_destroy(m);
    }
}

static void errors(void)
{
    const size_t counts[3] = {3, 2, 2}, other[3] = {2, 3, 2}, four[4] = {2, 2, 2, 2};
    nc_model *m = NULL, *m2 = NULL, *m4 = NULL;
    nc_prediction *p = NULL;
    double v[NC_COMPARE_COUNT];
    nc_verdict verdict;
    nc_model_create_counts(&m, 4, 3, counts);
    nc_model_set_weight_decay(m, 1e-2, 1e-2, 0);
    nc_model_create_counts(&m2, 4, 3, other);
    nc_model_create_counts(&m4, 4, 4, four);
    nc_test_int(nc_prediction_create_from_model(NULL, m), NC_ERR_NULL_ARGUMENT, "NULL out");
    nc_test_int(nc_prediction_create_from_model(&p, NULL), NC_ERR_NULL_ARGUMENT, "NULL model");
    nc_prediction_create_from_model(&p, m);
    nc_test_int(nc_prediction_compare(p, m, 0.0, v, &verdict), NC_ERR_INVALID_VALUE, "rtol 0");
    nc_test_int(nc_prediction_compare(p, m, NAN, v, &verdict), NC_ERR_INVALID_VALUE, "rtol NaN");
    nc_test_int(nc_prediction_compare(p, m, 1e-8, NULL, &verdict), NC_ERR_NULL_ARGUMENT, "NULL values");
    nc_test_int(nc_prediction_compare(p, m2, 1e-8, v, &verdict), NC_ERR_MISMATCH, "other counts");
    nc_test_int(nc_prediction_compare(p, m4, 1e-8, v, &verdict), NC_ERR_SIZE_MISMATCH, "other K");
    nc_test_true(strlen(nc_prediction_last_error(p)) > 0, "a message says what");
    nc_test_int(nc_prediction_compare(NULL, m, 1e-8, v, &verdict), NC_ERR_NULL_ARGUMENT, "NULL p");
    nc_test_true(strcmp(nc_verdict_name(NC_VERDICT_OPTIMUM), "optimum") == 0, "verdict name");
    nc_test_true(strcmp(nc_verdict_name((nc_verdict)9), "unknown") == 0, "unknown verdict name");
    nc_prediction_destroy(p);
    nc_model_destroy(m);
    nc_model_destroy(m2);
    nc_model_destroy(m4);
}

int main(void)
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
        {"balanced CE, no bias", NC_PREDICT_BALANCED_CE, 4, 8, 1, {50, 50, 50, 50}, 5e-3,
         5e-3, 0, 0, 0, 0, NC_LOSS_CE, 0.5},
        {"imbalanced MSE, no bias", NC_PREDICT_DEEP_LINEAR_MSE, 4, 8, 1, {200, 100, 50, 50},
         5e-3, 5e-3, 0, 0, 0, 0, NC_LOSS_MSE, 0.5},
        /* every class collapsed: Z = 0 (balanced CE past 1/(K sqrt(n))) and every ReLU class at 0 */
        {"balanced CE, all collapsed", NC_PREDICT_BALANCED_CE, 4, 8, 1, {50, 50, 50, 50}, 5e-2,
         5e-2, 0, 0, 0, 0, NC_LOSS_CE, 0.5},
        {"ReLU CE, every class at 0", NC_PREDICT_DANG_RELU_CE, 4, 8, 1, {200, 100, 50, 50}, 1e-1,
         1e-1, 0, 0, 1, 0, NC_LOSS_CE, 0.5},
    };
    size_t i;
    for (i = 0; i < sizeof settings / sizeof settings[0]; i++) check_setting(&settings[i]);
    bias_follows_model();
    spurious_relu();
    unsupported();
    errors();
    return nc_test_summary("test_analysis_predict_model");
}

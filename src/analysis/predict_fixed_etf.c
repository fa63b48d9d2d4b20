/*
 * predict_fixed_etf.c - Yang et al. 2022: CE with the classifier fixed to a
 * simplex ETF of row norm ||w_k|| = classifier norm, no bias, no W decay,
 * any class counts (docs/theory.md 2.6). Every feature is h_i = t w_{y_i}
 * / ||w||, with the scale t the root of a scalar equation (bisection).
 */
#include "analysis/predict.h"

#include <math.h>

static nc_status compute_fixed_etf(nc_prediction *p, size_t *rank, int *converged)
{
    const size_t K = p->K;
    const double Kd = (double)K, N = (double)p->N, lH = p->lambda_H;
    const double nrm = p->classifier_norm;
    const double s = nrm * Kd / (Kd - 1.0);
    /* phi(t) = s / (N (1 + e^{s t}/(K-1))) - lH t: decreasing, phi(0) > 0,
     * phi(s / (N lH)) < 0. Written with e^{-s t} so that it never overflows. */
    double lo = 0.0, hi = s / (N * lH), t;
    size_t i, j, k;
    (void)converged;
    for (i = 0; i < 2000; i++) {
        const double mid = 0.5 * (lo + hi);
        double e, phi;
        if (!(mid > lo && mid < hi)) break;
        e = exp(-s * mid);
        phi = s * (Kd - 1.0) * e / (N * ((Kd - 1.0) * e + 1.0)) - lH * mid;
        if (phi > 0.0)
            lo = mid;
        else
            hi = mid;
    }
    t = 0.5 * (lo + hi);
    p->feature_scale = t;
    p->objective = nc__pred_ce_margin(Kd, s * t) + 0.5 * lH * N * t * t;
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++) {
            const double cosv = j == k ? 1.0 : -1.0 / (Kd - 1.0);
            p->Z[k * K + j] = nrm * t * cosv;
            p->WW[k * K + j] = nrm * nrm * cosv;
            p->HH[k * K + j] = t * t * cosv;
        }
    nc__pred_fill_zero(p->b, K);
    for (k = 0; k < K; k++) {
        p->sv[k] = 0.0;
        p->collapsed[k] = 0;
    }
    *rank = K - 1;
    return NC_SUCCESS;
}

/* No class ever collapses: the classifier is fixed. */
static double fixed_etf_critical_count(const nc_prediction *p)
{
    (void)p;
    return 0.0;
}

const nc__prediction_def nc__prediction_fixed_etf = {
    .kind = NC_PREDICT_FIXED_ETF,
    .name = "Yang et al. 2022 fixed ETF",
    .equal_counts = 0,
    .default_bias = 0,
    .has_bias = 0,
    .has_depth = 0,
    .lambda_H_only = 1, /* W is fixed: no W decay */
    .compute = compute_fixed_etf,
    .critical_count = fixed_etf_critical_count,
    .thresholds = NULL, /* collapse has no threshold */
    .has_singular_values = 0,
    .has_feature_scale = 1,
};

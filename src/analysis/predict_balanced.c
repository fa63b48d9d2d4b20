/*
 * predict_balanced.c - the balanced one-layer models (every n_k = n), with
 * cross-entropy and with squared error: closed forms in the symmetric
 * solution Z = alpha (I - J/K) + u J/K (docs/theory.md 2.1, 2.2). With
 * Y = sqrt(n) Z symmetric PSD, the common reduction (analysis/predict.h)
 * gives the Grams directly.
 */
#include "analysis/predict.h"

#include <math.h>

/* From a symmetric PSD Y = sqrt(n) Z (balanced models): W W^T = sqrt(lH/lW) Y,
 * Hbar^T Hbar = sqrt(lW/lH) Y / n. */
static void balanced_grams(nc_prediction *p, double n)
{
    const size_t K = p->K;
    size_t i;
    const double r = sqrt(p->lambda_H / p->lambda_W);
    for (i = 0; i < K * K; i++) {
        const double y = sqrt(n) * p->Z[i];
        p->WW[i] = r * y;
        p->HH[i] = y / (r * n);
    }
}

/* Class k collapses iff lambda >= 1/(K sqrt(n_k)) (all at once: every n_k = n). */
static nc_status balanced_thresholds(const nc_prediction *p, double *lambda)
{
    size_t k;
    for (k = 0; k < p->K; k++) lambda[k] = 1.0 / ((double)p->K * sqrt((double)p->counts[k]));
    return NC_SUCCESS;
}

/* ---- balanced CE ------------------------------------------------------------------------- */

static nc_status compute_balanced_ce(nc_prediction *p, size_t *rank, int *converged)
{
    const size_t K = p->K;
    const double Kd = (double)K, n = (double)p->counts[0];
    const double lam = sqrt(p->lambda_W * p->lambda_H);
    const double c = lam * sqrt(n);
    double m = 0.0;
    size_t j, k;
    (void)converged;
    /* F(m) = log(1 + (K-1) e^{-m}) + c (K-1) m for Z = m (I - J/K);
     * F'(m) = 0 at e^m = 1/c - (K-1), positive iff c < 1/K. */
    if (c < 1.0 / Kd) m = log(1.0 / c - (Kd - 1.0));
    if (!(m >= 0.0)) m = 0.0;
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++) p->Z[k * K + j] = m * ((j == k ? 1.0 : 0.0) - 1.0 / Kd);
    p->objective = nc__pred_ce_margin(Kd, m) + c * (Kd - 1.0) * m;
    balanced_grams(p, n);
    nc__pred_fill_zero(p->b, K);
    for (k = 0; k < K; k++) p->sv[k] = k + 1 < K ? sqrt(n) * m : 0.0;
    *rank = m > 0.0 ? K - 1 : 0;
    nc__pred_collapse_by_columns(p, 1e-6);
    return NC_SUCCESS;
}

const nc__prediction_def nc__prediction_balanced_ce = {
    .kind = NC_PREDICT_BALANCED_CE,
    .name = "balanced CE",
    .equal_counts = 1,
    .default_bias = 0,
    .has_bias = 1, /* b = 0 is optimal when the bias exists */
    .has_depth = 0,
    .lambda_H_only = 0,
    .compute = compute_balanced_ce,
    .critical_count = nc__pred_critical_count_nuclear, /* lambda sqrt(n) >= 1/K, N = K n */
    .thresholds = balanced_thresholds,
    .has_singular_values = 1,
    .has_feature_scale = 0,
};

/* ---- balanced MSE ------------------------------------------------------------------------ */

static nc_status compute_balanced_mse(nc_prediction *p, size_t *rank, int *converged)
{
    const size_t K = p->K;
    const double Kd = (double)K, n = (double)p->counts[0];
    const double c = sqrt(p->lambda_W * p->lambda_H) * sqrt(n);
    const double lb = p->lambda_b;
    /* Z = alpha (I - J/K) + u J/K and b = gamma 1 (permutation symmetry);
     * F = ((K-1)(alpha-1)^2 + (u + K gamma - 1)^2)/(2K)
     *     + c ((K-1)|alpha| + |u|) + (lb/2) K gamma^2. */
    const double alpha = fmax(0.0, 1.0 - Kd * c);
    double u, gamma;
    size_t j, k;
    (void)converged;
    if (!p->bias) {
        gamma = 0.0;
        u = alpha;
    } else if (lb == 0.0) {
        gamma = 1.0 / Kd;
        u = 0.0;
    } else if (lb / ((1.0 + lb) * Kd) <= c) {
        gamma = 1.0 / (Kd * (1.0 + lb));
        u = 0.0;
    } else {
        gamma = c / lb;
        u = 1.0 - c * Kd - Kd * c / lb;
    }
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++)
            p->Z[k * K + j] = alpha * ((j == k ? 1.0 : 0.0) - 1.0 / Kd) + u / Kd;
    for (k = 0; k < K; k++) p->b[k] = gamma;
    {
        const double e1 = alpha - 1.0, e2 = u + Kd * gamma - 1.0;
        p->objective = ((Kd - 1.0) * e1 * e1 + e2 * e2) / (2.0 * Kd) +
                       c * ((Kd - 1.0) * alpha + u) + 0.5 * (p->bias ? lb : 0.0) * Kd * gamma * gamma;
    }
    balanced_grams(p, n);
    /* Singular values of Y = sqrt(n) Z: alpha sqrt(n) (K-1 times), u sqrt(n). */
    {
        double a = sqrt(n) * alpha, bu = sqrt(n) * u;
        for (k = 0; k + 1 < K; k++) p->sv[k] = a;
        p->sv[K - 1] = bu;
        if (bu > a) {
            p->sv[0] = bu;
            p->sv[K - 1] = a;
        }
    }
    *rank = nc__pred_count_positive(p->sv, K);
    nc__pred_collapse_by_columns(p, 1e-6);
    return NC_SUCCESS;
}

const nc__prediction_def nc__prediction_balanced_mse = {
    .kind = NC_PREDICT_BALANCED_MSE,
    .name = "balanced MSE",
    .equal_counts = 1,
    .default_bias = 0,
    .has_bias = 1,
    .has_depth = 0,
    .lambda_H_only = 0,
    .compute = compute_balanced_mse,
    .critical_count = nc__pred_critical_count_nuclear, /* lambda sqrt(n) >= 1/K, N = K n */
    .thresholds = balanced_thresholds,
    .has_singular_values = 1,
    .has_feature_scale = 0,
};

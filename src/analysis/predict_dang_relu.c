/*
 * predict_dang_relu.c - Dang, Tran, Nguyen, Ho 2024: CE, ReLU features
 * H >= 0, no bias, any class counts (docs/theory.md 2.4). The class means
 * are orthogonal; class k has the margin M_k of its own one-dimensional
 * problem, zero (the class collapses to the origin) past its threshold.
 */
#include "analysis/predict.h"
#include "common/sum.h"

#include <math.h>

static nc_status compute_dang_relu(nc_prediction *p, size_t *rank, int *converged)
{
    const size_t K = p->K;
    const double Kd = (double)K, N = (double)p->N;
    const double lW = p->lambda_W, lH = p->lambda_H;
    double *M = p->sv; /* margins M_k, scratch (sv is reported as 0 for this kind) */
    nc__sum F = {0.0, 0.0};
    size_t j, k;
    (void)converged;
    *rank = 0;
    for (k = 0; k < K; k++) {
        const double nk = (double)p->counts[k];
        /* t_k = N sqrt((K-1) lW lH / (K n_k)); M_k = log((K-1)(1/t_k - 1)) if > 0. */
        const double tk = N * sqrt((Kd - 1.0) * lW * lH / (Kd * nk));
        double m = 0.0;
        if (tk < (Kd - 1.0) / Kd) m = log((Kd - 1.0) * (1.0 / tk - 1.0));
        if (!(m > 0.0)) m = 0.0;
        M[k] = m;
        nc__sum_add(&F, (nk / N) * nc__pred_ce_margin(Kd, m));
        nc__sum_add(&F, m * sqrt(lW * lH * (Kd - 1.0) * nk / Kd));
        p->collapsed[k] = m == 0.0;
        *rank += m > 0.0;
    }
    p->objective = nc__sum_value(&F);
    for (k = 0; k < K; k++) {
        const double nk = (double)p->counts[k];
        for (j = 0; j < K; j++) {
            p->Z[k * K + j] = M[k] * ((j == k ? 1.0 : 0.0) - 1.0 / Kd);
            p->HH[k * K + j] = 0.0;
        }
        /* ||h_k||^2 = M_k sqrt((K-1) lW / (K lH n_k)) */
        p->HH[k * K + k] = M[k] * sqrt((Kd - 1.0) * lW / (Kd * lH * nk));
    }
    /* W W^T = sum_k (M_k^2 / ||h_k||^2) (e_k - 1/K)(e_k - 1/K)^T with
     * M_k^2 / ||h_k||^2 = M_k sqrt(K lH n_k / ((K-1) lW)). */
    {
        double csum = 0.0;
        double *ck = p->b; /* scratch */
        for (k = 0; k < K; k++) {
            ck[k] = M[k] * sqrt(Kd * lH * (double)p->counts[k] / ((Kd - 1.0) * lW));
            csum += ck[k];
        }
        for (k = 0; k < K; k++)
            for (j = 0; j < K; j++)
                p->WW[k * K + j] =
                    (j == k ? ck[k] : 0.0) - (ck[j] + ck[k]) / Kd + csum / (Kd * Kd);
    }
    nc__pred_fill_zero(p->b, K);
    nc__pred_fill_zero(p->sv, K);
    return NC_SUCCESS;
}

/* Class k collapses iff lambda_W lambda_H N^2 K/(K-1) >= n_k (the margin's
 * condition t_k >= (K-1)/K). */
static double dang_relu_critical_count(const nc_prediction *p)
{
    const double N = (double)p->N, Kd = (double)p->K;
    const double lW = p->lambda_W, lH = p->lambda_H;
    return N * N * lW * lH * Kd / (Kd - 1.0);
}

/* The same condition on lambda: sqrt(n_k (K-1)/K)/N. */
static nc_status dang_relu_thresholds(const nc_prediction *p, double *lambda)
{
    size_t k;
    const double N = (double)p->N;
    for (k = 0; k < p->K; k++)
        lambda[k] = sqrt((double)p->counts[k] * ((double)p->K - 1.0) / (double)p->K) / N;
    return NC_SUCCESS;
}

const nc__prediction_def nc__prediction_dang_relu_ce = {
    .kind = NC_PREDICT_DANG_RELU_CE,
    .name = "Dang et al. 2024 ReLU CE",
    .collapse_to_zero = 1,
    .equal_counts = 0,
    .default_bias = 0,
    .has_bias = 0,
    .has_depth = 0,
    .lambda_H_only = 0,
    .compute = compute_dang_relu,
    .critical_count = dang_relu_critical_count,
    .thresholds = dang_relu_thresholds,
    .has_singular_values = 0,
    .has_feature_scale = 0,
};

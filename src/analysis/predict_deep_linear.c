/*
 * predict_deep_linear.c - Dang et al. 2023: the deep linear UFM of depth M,
 * MSE, no bias, any class counts (docs/theory.md 2.5). The problem splits
 * into one scalar problem per class in x = (sigma_k^2 / (N lH))^{1/M},
 * solved by bisection and compared with x = 0 (the collapsed class).
 */
#include "analysis/predict.h"
#include "common/sum.h"

#include <math.h>

/* f_k(x) = n_k / (2N (x^M + 1)) + (M/2) c x, c = (N lH lW^M)^{1/M}. */
static double dl_f(double x, double M, double q, double c)
{
    return q / (2.0 * (pow(x, M) + 1.0)) + 0.5 * M * c * x;
}

/* q g(x) - c with g(x) = x^{M-1} / (x^M + 1)^2: zero at the stationary points. */
static double dl_h(double x, double M, double q, double c)
{
    const double xm = pow(x, M);
    return q * pow(x, M - 1.0) / ((xm + 1.0) * (xm + 1.0)) - c;
}

/* Minimiser over x >= 0 of f_k, by bisection on the decreasing branch of g
 * (x >= x_peak = ((M-1)/(M+1))^{1/M}) and comparison with x = 0. */
static double dl_solve(double M, double q, double c)
{
    const double xp = M > 1.0 ? pow((M - 1.0) / (M + 1.0), 1.0 / M) : 0.0;
    double lo = xp, hi, x;
    int i;
    if (!(dl_h(xp, M, q, c) > 0.0)) return 0.0; /* no interior stationary point */
    /* g(x) <= x^{-(M+1)}: h(hi) <= 0 at hi = (q/c)^{1/(M+1)}. */
    hi = pow(q / c, 1.0 / (M + 1.0));
    if (hi < xp) hi = xp;
    while (dl_h(hi, M, q, c) > 0.0) hi *= 2.0;
    for (i = 0; i < 2000; i++) {
        const double mid = 0.5 * (lo + hi);
        if (!(mid > lo && mid < hi)) break;
        if (dl_h(mid, M, q, c) > 0.0)
            lo = mid;
        else
            hi = mid;
    }
    x = 0.5 * (lo + hi);
    if (M > 1.0 && !(dl_f(x, M, q, c) < dl_f(0.0, M, q, c))) return 0.0;
    return x;
}

static nc_status compute_deep_linear(nc_prediction *p, size_t *rank, int *converged)
{
    const size_t K = p->K;
    const double N = (double)p->N, M = (double)p->depth;
    const double lW = p->lambda_W, lH = p->lambda_H;
    /* c = (N lH lW^M)^{1/M} = lW (N lH)^{1/M} */
    const double c = lW * pow(N * lH, 1.0 / M);
    nc__sum F = {0.0, 0.0};
    size_t j, k;
    (void)converged;
    *rank = 0;
    for (k = 0; k < K; k++) {
        const double q = (double)p->counts[k] / N;
        const double x = dl_solve(M, q, c);
        const double s2 = N * lH * pow(x, M); /* sigma_k^2 */
        nc__sum_add(&F, dl_f(x, M, q, c));
        for (j = 0; j < K; j++) p->Z[k * K + j] = p->WW[k * K + j] = p->HH[k * K + j] = 0.0;
        p->Z[k * K + k] = s2 / (s2 + N * lH);
        p->WW[k * K + k] = s2;
        p->HH[k * K + k] = s2 / ((s2 + N * lH) * (s2 + N * lH));
        p->sv[k] = pow(s2, 1.0 / (2.0 * M));
        p->collapsed[k] = x == 0.0;
        *rank += x > 0.0;
    }
    p->objective = nc__sum_value(&F);
    nc__pred_fill_zero(p->b, K);
    return NC_SUCCESS;
}

/* Classes with n_k <= n_crit collapse to zero. */
static double deep_linear_critical_count(const nc_prediction *p)
{
    const double N = (double)p->N, M = (double)p->depth;
    const double lW = p->lambda_W, lH = p->lambda_H;
    /* f_k(root) = f_k(0) and f_k'(root) = 0 give x^M = M - 1 and
     * c / q = (M-1)^{(M-1)/M} / M^2 (M = 1: c = q). */
    return N * lW * pow(N * lH, 1.0 / M) * M * M / pow(M - 1.0, (M - 1.0) / M);
}

/* Depth 1 only: class k collapses iff lambda >= sqrt(n_k)/N. */
static nc_status deep_linear_thresholds(const nc_prediction *p, double *lambda)
{
    size_t k;
    const double N = (double)p->N;
    if (p->depth != 1) return NC_ERR_UNAVAILABLE;
    for (k = 0; k < p->K; k++) lambda[k] = sqrt((double)p->counts[k]) / N;
    return NC_SUCCESS;
}

const nc__prediction_def nc__prediction_deep_linear_mse = {
    .kind = NC_PREDICT_DEEP_LINEAR_MSE,
    .name = "Dang et al. 2023 deep linear MSE",
    .collapse_to_zero = 1,
    .equal_counts = 0,
    .default_bias = 0,
    .has_bias = 0,
    .has_depth = 1,
    .lambda_H_only = 0,
    .compute = compute_deep_linear,
    .critical_count = deep_linear_critical_count,
    .thresholds = deep_linear_thresholds,
    .has_singular_values = 1,
    .has_feature_scale = 0,
};

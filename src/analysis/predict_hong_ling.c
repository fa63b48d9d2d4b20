/*
 * predict_hong_ling.c - Hong & Ling 2023: CE with (or without) bias, any
 * class counts, by the common reduction (analysis/predict.h) a convex
 * problem in Y = Z D^{1/2} (docs/theory.md 2.3).
 *
 * Hong & Ling (CE, imbalanced). The variable is X = Y / sqrt(N), i.e.
 * x_k = sqrt(pi_k) z_k with pi_k = n_k / N, so that the problem reads
 *     min  sum_k pi_k CE(x_k / sqrt(pi_k) + b, k) + (lb/2)||b||^2 + mu ||X||_*,
 *     mu = sqrt(N lW lH),
 * whose smooth part has a Lipschitz gradient with constant L <= 1 + lb (with
 * bias; 1/2 without): the Hessian of CE is at most 1/2, and
 * sum_k pi_k ||x_k/sqrt(pi_k) + b||^2 <= 2 ||X||^2 + 2 ||b||^2. Solved by
 * FISTA with step 1/L, singular-value soft-thresholding of X (dgesvd) and
 * O'Donoghue & Candes's gradient restart, from X = 0, b = 0. Stopping test:
 * with y the extrapolated point and x+ the prox-gradient step from it,
 * G = L (y - x+) is the gradient mapping and dist(0, dF(x+)) <= 2 ||G||
 * (Lipschitz gradient). The residual reported is 2 ||G|| / ||grad f(0)||,
 * a certified bound on the subgradient norm at the returned point relative
 * to the gradient at the origin.
 */
#include "analysis/predict.h"
#include "common/sum.h"

#include <math.h>
#include <string.h>

#include <lapacke.h>

/* f and its gradient at v = [X (K x K), b (K)]. */
static double hl_smooth(const nc_prediction *p, const double *v, double *g)
{
    const size_t K = p->K;
    const double *X = v, *b = v + K * K;
    double *gX = g, *gb = g + K * K;
    const double N = (double)p->N;
    nc__sum f = {0.0, 0.0};
    size_t j, k;
    for (j = 0; j < K; j++) gb[j] = 0.0;
    for (k = 0; k < K; k++) {
        const double pik = (double)p->counts[k] / N, sp = sqrt(pik);
        const double *x = X + k * K;
        double *gx = gX + k * K;
        double zmax = -INFINITY, se = 0.0, lse;
        for (j = 0; j < K; j++) {
            const double z = x[j] / sp + (p->bias ? b[j] : 0.0);
            gx[j] = z;
            if (z > zmax) zmax = z;
        }
        for (j = 0; j < K; j++) se += exp(gx[j] - zmax);
        lse = zmax + log(se);
        nc__sum_add(&f, pik * (lse - gx[k]));
        for (j = 0; j < K; j++) {
            const double pr = exp(gx[j] - lse) - (j == k ? 1.0 : 0.0);
            gx[j] = sp * pr;
            gb[j] += pik * pr;
        }
    }
    if (p->bias) {
        for (j = 0; j < K; j++) {
            nc__sum_add(&f, 0.5 * p->lambda_b * b[j] * b[j]);
            gb[j] += p->lambda_b * b[j];
        }
    } else {
        for (j = 0; j < K; j++) gb[j] = 0.0;
    }
    return nc__sum_value(&f);
}

/* out = prox(v): singular-value soft-thresholding of the X block by thr
 * (U, S, VT of the result left in the handle), b copied. Returns the
 * nuclear norm of the result, or -1 on LAPACK failure. */
static double hl_prox(nc_prediction *p, const double *v, double thr, double *out)
{
    const size_t K = p->K, kk = K * K;
    double *A = out; /* dgesvd destroys its input: work in out */
    size_t i, j, k;
    double nuc = 0.0;
    lapack_int info;
    memcpy(A, v, kk * sizeof(double));
    info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'A', 'A', (lapack_int)K, (lapack_int)K, A,
                               (lapack_int)K, p->S, p->U, (lapack_int)K, p->VT, (lapack_int)K,
                               p->svdwork, (lapack_int)p->lwork);
    if (info != 0) return -1.0;
    for (i = 0; i < K; i++) {
        p->S[i] = p->S[i] > thr ? p->S[i] - thr : 0.0;
        nuc += p->S[i];
    }
    /* out = U diag(S) VT */
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++) {
            double s = 0.0;
            for (i = 0; i < K; i++)
                if (p->S[i] > 0.0) s += p->U[i * K + j] * p->S[i] * p->VT[k * K + i];
            out[k * K + j] = s;
        }
    for (i = 0; i < K; i++) out[kk + i] = v[kk + i];
    return nuc;
}

static nc_status compute_hong_ling(nc_prediction *p, size_t *rank, int *converged)
{
    const size_t K = p->K, kk = K * K, vn = kk + K;
    const double N = (double)p->N;
    const double mu = sqrt(N * p->lambda_W * p->lambda_H);
    const double L = p->bias ? 1.0 + p->lambda_b : 0.5;
    const double t = 1.0 / L;
    double theta = 1.0, g0, nuc = 0.0, res = INFINITY;
    size_t it, i, j, k;

    nc__pred_fill_zero(p->x, vn);
    nc__pred_fill_zero(p->xprev, vn);
    (void)hl_smooth(p, p->x, p->g);
    g0 = sqrt(nc__norm2(p->g, vn));
    if (!(g0 > 0.0)) g0 = 1.0;
    *converged = 0;
    for (it = 0; it < p->max_iterations; it++) {
        const double theta_next = 0.5 * (1.0 + sqrt(1.0 + 4.0 * theta * theta));
        const double beta = (theta - 1.0) / theta_next;
        double gm2 = 0.0, dot = 0.0;
        for (i = 0; i < vn; i++) p->y[i] = p->x[i] + beta * (p->x[i] - p->xprev[i]);
        (void)hl_smooth(p, p->y, p->g);
        for (i = 0; i < vn; i++) p->v[i] = p->y[i] - t * p->g[i];
        /* xprev <- prox(v); then swap so that x is the new iterate. */
        nuc = hl_prox(p, p->v, t * mu, p->xprev);
        if (nuc < 0.0) return nc__fail(p->msg, NC_ERR_LAPACK, "dgesvd failed in the proximal step");
        for (i = 0; i < vn; i++) {
            const double gi = L * (p->y[i] - p->xprev[i]);
            gm2 += gi * gi;
            dot += (p->y[i] - p->xprev[i]) * (p->xprev[i] - p->x[i]);
        }
        {
            double *tmp = p->x;
            p->x = p->xprev;
            p->xprev = tmp;
        }
        theta = theta_next;
        if (dot > 0.0) theta = 1.0; /* restart: next extrapolation is zero */
        res = 2.0 * sqrt(gm2) / g0;
        if (!nc__is_finite(res))
            return nc__fail(p->msg, NC_ERR_DIVERGED, "the proximal gradient method diverged");
        if (res <= p->tol) {
            *converged = 1;
            it++;
            break;
        }
    }
    p->iterations = it;
    p->residual = res;

    /* Results at x (U, S, VT of its SVD are in the handle: x = U S VT). */
    {
        double f = hl_smooth(p, p->x, p->g);
        const double r = sqrt(p->lambda_H / p->lambda_W), sN = sqrt(N);
        p->objective = f + mu * nuc;
        for (k = 0; k < K; k++) {
            const double sp = sqrt((double)p->counts[k] / N);
            for (j = 0; j < K; j++) p->Z[k * K + j] = p->x[k * K + j] / sp;
        }
        /* W W^T = r U S_Y U^T, Hbar^T Hbar = D^{-1/2} V S_Y V^T D^{-1/2} / r,
         * S_Y = sqrt(N) S. */
        for (k = 0; k < K; k++)
            for (j = 0; j < K; j++) {
                double sw = 0.0, sh = 0.0;
                for (i = 0; i < K; i++) {
                    sw += p->U[i * K + j] * p->S[i] * p->U[i * K + k];
                    sh += p->VT[j * K + i] * p->S[i] * p->VT[k * K + i];
                }
                p->WW[k * K + j] = r * sN * sw;
                p->HH[k * K + j] =
                    sN * sh / (r * sqrt((double)p->counts[j]) * sqrt((double)p->counts[k]));
            }
        for (k = 0; k < K; k++) {
            p->b[k] = p->bias ? p->x[kk + k] : 0.0;
            p->sv[k] = sN * p->S[k];
        }
        *rank = nc__pred_count_positive(p->S, K);
    }
    nc__pred_collapse_by_columns(p, 1e-6);
    return NC_SUCCESS;
}

/* A group of >= 2 classes of equal size n_k collapses iff lambda >= sqrt(n_k)/N. */
static nc_status hong_ling_thresholds(const nc_prediction *p, double *lambda)
{
    size_t k;
    const double N = (double)p->N;
    for (k = 0; k < p->K; k++) lambda[k] = sqrt((double)p->counts[k]) / N;
    return NC_SUCCESS;
}

const nc__prediction_def nc__prediction_hong_ling_ce = {
    .kind = NC_PREDICT_HONG_LING_CE,
    .name = "Hong & Ling 2023 CE",
    .equal_counts = 0,
    .default_bias = 1,
    .has_bias = 1,
    .has_depth = 0,
    .lambda_H_only = 0,
    .compute = compute_hong_ling,
    .critical_count = nc__pred_critical_count_nuclear, /* for a group of >= 2 equal-size classes */
    .thresholds = hong_ling_thresholds,
    .has_singular_values = 1,
    .has_feature_scale = 0,
};

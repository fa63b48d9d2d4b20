/*
 * predict.c - closed-form (or certified numerical) global minimisers of the
 * unconstrained feature models studied in the papers ("Predictions" in
 * ncollapse.h). docs/theory.md derives every formula used here in the
 * library's "halves" convention and says how each was validated.
 *
 * Common reduction. Every model here collapses (h_i = hbar_{y_i} at the
 * optimum: the loss is convex in h and ||H||^2 >= sum_k n_k ||hbar_k||^2),
 * and with H' = Hbar D^{1/2} (D = diag(n_k)),
 *     min_{W H' = Y} (lW/2)||W||^2 + (lH/2)||H'||^2 = sqrt(lW lH) ||Y||_*,
 * attained at W W^T = sqrt(lH/lW) U S U^T and H'^T H' = sqrt(lW/lH) V S V^T
 * for Y = U S V^T. So lambda = sqrt(lW lH) is the only regularisation
 * constant of the one-layer models; Hong & Ling's 2 sqrt(lW' lH') (no
 * halves) is the same number.
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
#include "common/common.h"
#include "common/sum.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#define NC_PRED_KIND_COUNT 6

struct nc_prediction {
    nc_prediction_kind kind;
    size_t K, N;
    size_t *counts; /* K */

    /* Options. */
    double lambda_W, lambda_H, lambda_b;
    int bias;
    size_t depth;
    size_t d; /* 0: not checked */
    double classifier_norm;
    double tol;
    size_t max_iterations;

    /* Results. */
    int computed;
    double objective;
    double feature_scale;
    double critical_count;
    size_t iterations;
    double residual;
    double *Z;       /* K x K: column k = logits (bias excluded) of class k's mean */
    double *WW;      /* K x K: classifier Gram (P P^T for the deep model) */
    double *HH;      /* K x K: Hbar^T Hbar */
    double *b;       /* K */
    double *wnorm;   /* K: ||w_k|| */
    double *hnorm;   /* K: ||hbar_k|| */
    double *sv;      /* K: singular values of each layer */
    int *collapsed;  /* K */

    /* Solver workspace (Hong & Ling), allocated at creation. */
    double *x, *xprev, *y, *g, *v; /* K*K + K each */
    double *U, *VT, *S, *svdwork;
    size_t lwork;

    char msg[NC_MSG_SIZE];
};

/* ---- helpers --------------------------------------------------------------------- */


static nc_status fail(nc_prediction *p, nc_status st, const char *what)
{
    return nc__fail(p->msg, st, "%s", what);
}

/* log(1 + (K-1) e^{-m}) for m >= 0, accurate for large m. */
static double ce_margin(double K, double m) { return log1p((K - 1.0) * exp(-m)); }

static void fill_zero(double *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) x[i] = 0.0;
}

/* ---- creation and options ------------------------------------------------------------ */

NC_API nc_status nc_prediction_create(nc_prediction **prediction, nc_prediction_kind kind,
                                      size_t K, const size_t *counts)
{
    nc_prediction *p;
    size_t k, N = 0, kk, vecn, total;
    double wq = 0.0, dummy = 0.0;
    lapack_int info;
    if (prediction == NULL) return NC_ERR_NULL_ARGUMENT;
    *prediction = NULL;
    if (counts == NULL) return NC_ERR_NULL_ARGUMENT;
    if ((int)kind < 0 || (int)kind >= NC_PRED_KIND_COUNT) return NC_ERR_INVALID_VALUE;
    if (K < 2 || K > 46340) return NC_ERR_INVALID_SIZE; /* K*K must fit an int */
    for (k = 0; k < K; k++) {
        if (counts[k] == 0) return NC_ERR_EMPTY_CLASS;
        if (counts[k] > SIZE_MAX - N) return NC_ERR_INVALID_SIZE;
        N += counts[k];
    }
    if ((double)N > 9007199254740992.0) return NC_ERR_INVALID_SIZE; /* exact as a double */
    if (kind == NC_PREDICT_BALANCED_CE || kind == NC_PREDICT_BALANCED_MSE)
        for (k = 1; k < K; k++)
            if (counts[k] != counts[0]) return NC_ERR_INVALID_VALUE;

    info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'A', 'A', (lapack_int)K, (lapack_int)K, &dummy,
                               (lapack_int)K, &dummy, &dummy, (lapack_int)K, &dummy,
                               (lapack_int)K, &wq, -1);
    if (info != 0) return NC_ERR_LAPACK;
    if (!(wq >= 1.0)) wq = 1.0;
    kk = K * K;
    vecn = kk + K;
    total = 5 * vecn + 5 * kk + 6 * K + (size_t)wq;

    p = (nc_prediction *)calloc(1, sizeof *p);
    if (p == NULL) return NC_ERR_OUT_OF_MEMORY;
    p->counts = (size_t *)malloc(K * sizeof(size_t));
    p->collapsed = (int *)calloc(K, sizeof(int));
    p->Z = (double *)calloc(total, sizeof(double));
    if (p->counts == NULL || p->collapsed == NULL || p->Z == NULL) {
        free(p->counts);
        free(p->collapsed);
        free(p->Z);
        free(p);
        return NC_ERR_OUT_OF_MEMORY;
    }
    memcpy(p->counts, counts, K * sizeof(size_t));
    p->kind = kind;
    p->K = K;
    p->N = N;
    p->WW = p->Z + kk;
    p->HH = p->WW + kk;
    p->U = p->HH + kk;
    p->VT = p->U + kk;
    p->b = p->VT + kk;
    p->wnorm = p->b + K;
    p->hnorm = p->wnorm + K;
    p->sv = p->hnorm + K;
    p->S = p->sv + K;
    p->x = p->S + 2 * K; /* S has K entries, then K of slack for dgesvd's superb */
    p->xprev = p->x + vecn;
    p->y = p->xprev + vecn;
    p->g = p->y + vecn;
    p->v = p->g + vecn;
    p->svdwork = p->v + vecn;
    p->lwork = (size_t)wq;

    p->lambda_W = p->lambda_H = p->lambda_b = 0.0;
    p->bias = kind == NC_PREDICT_HONG_LING_CE;
    p->depth = 1;
    p->d = 0;
    p->classifier_norm = 1.0;
    p->tol = 1e-12;
    p->max_iterations = 1000000;
    p->computed = 0;
    p->msg[0] = '\0';
    *prediction = p;
    return NC_SUCCESS;
}

NC_API void nc_prediction_destroy(nc_prediction *prediction)
{
    if (prediction == NULL) return;
    free(prediction->counts);
    free(prediction->collapsed);
    free(prediction->Z);
    free(prediction);
}

NC_API nc_status nc_prediction_set_weight_decay(nc_prediction *p, double lambda_W,
                                                double lambda_H, double lambda_b)
{
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    if (!nc__is_finite(lambda_W) || !nc__is_finite(lambda_H) || !nc__is_finite(lambda_b))
        return fail(p, NC_ERR_NON_FINITE, "weight decays must be finite");
    if (lambda_W < 0.0 || lambda_H < 0.0 || lambda_b < 0.0)
        return fail(p, NC_ERR_INVALID_VALUE, "weight decays must be >= 0");
    p->lambda_W = lambda_W;
    p->lambda_H = lambda_H;
    p->lambda_b = lambda_b;
    p->computed = 0;
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_set_bias(nc_prediction *p, int enabled)
{
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    p->bias = enabled != 0;
    p->computed = 0;
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_set_depth(nc_prediction *p, size_t depth)
{
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    if (depth < 1 || depth > 1000)
        return fail(p, NC_ERR_INVALID_VALUE, "depth must be in [1, 1000]");
    p->depth = depth;
    p->computed = 0;
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_set_dim(nc_prediction *p, size_t d)
{
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    p->d = d;
    p->computed = 0;
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_set_classifier_norm(nc_prediction *p, double norm)
{
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    if (!nc__is_finite(norm)) return fail(p, NC_ERR_NON_FINITE, "classifier norm must be finite");
    if (!(norm > 0.0)) return fail(p, NC_ERR_INVALID_VALUE, "classifier norm must be > 0");
    p->classifier_norm = norm;
    p->computed = 0;
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_set_tolerance(nc_prediction *p, double tol, size_t max_iterations)
{
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    if (!nc__is_finite(tol)) return fail(p, NC_ERR_NON_FINITE, "tolerance must be finite");
    if (!(tol > 0.0) || max_iterations < 1)
        return fail(p, NC_ERR_INVALID_VALUE, "need tolerance > 0 and max_iterations >= 1");
    p->tol = tol;
    p->max_iterations = max_iterations;
    p->computed = 0;
    return NC_SUCCESS;
}

/* ---- results shared by the one-layer models ------------------------------------------- */

/* Norms from the diagonals of the Grams; collapse of classes whose logit
 * columns coincide (or are all zero). */
static void finish_norms(nc_prediction *p)
{
    size_t k;
    const size_t K = p->K;
    for (k = 0; k < K; k++) {
        p->wnorm[k] = sqrt(fmax(p->WW[k * K + k], 0.0));
        p->hnorm[k] = sqrt(fmax(p->HH[k * K + k], 0.0));
    }
}

static void collapse_by_columns(nc_prediction *p, double rtol)
{
    const size_t K = p->K;
    size_t j, k, i;
    double zmax = 0.0;
    for (k = 0; k < K; k++) {
        double s = 0.0;
        for (i = 0; i < K; i++) s += p->Z[k * K + i] * p->Z[k * K + i];
        if (sqrt(s) > zmax) zmax = sqrt(s);
    }
    for (k = 0; k < K; k++) {
        p->collapsed[k] = zmax == 0.0;
        for (j = 0; j < K && !p->collapsed[k]; j++) {
            double s = 0.0;
            if (j == k) continue;
            for (i = 0; i < K; i++) {
                const double e = p->Z[k * K + i] - p->Z[j * K + i];
                s += e * e;
            }
            if (sqrt(s) <= rtol * zmax) p->collapsed[k] = 1;
        }
    }
}

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

static size_t count_positive(const double *x, size_t n)
{
    size_t i, c = 0;
    for (i = 0; i < n; i++) c += x[i] > 0.0;
    return c;
}

/* ---- balanced CE ------------------------------------------------------------------------- */

static nc_status compute_balanced_ce(nc_prediction *p, size_t *rank)
{
    const size_t K = p->K;
    const double Kd = (double)K, n = (double)p->counts[0];
    const double lam = sqrt(p->lambda_W * p->lambda_H);
    const double c = lam * sqrt(n);
    double m = 0.0;
    size_t j, k;
    /* F(m) = log(1 + (K-1) e^{-m}) + c (K-1) m for Z = m (I - J/K);
     * F'(m) = 0 at e^m = 1/c - (K-1), positive iff c < 1/K. */
    if (c < 1.0 / Kd) m = log(1.0 / c - (Kd - 1.0));
    if (!(m >= 0.0)) m = 0.0;
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++) p->Z[k * K + j] = m * ((j == k ? 1.0 : 0.0) - 1.0 / Kd);
    p->objective = ce_margin(Kd, m) + c * (Kd - 1.0) * m;
    balanced_grams(p, n);
    fill_zero(p->b, K);
    for (k = 0; k < K; k++) p->sv[k] = k + 1 < K ? sqrt(n) * m : 0.0;
    *rank = m > 0.0 ? K - 1 : 0;
    return NC_SUCCESS;
}

/* ---- balanced MSE ------------------------------------------------------------------------ */

static nc_status compute_balanced_mse(nc_prediction *p, size_t *rank)
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
    *rank = count_positive(p->sv, K);
    return NC_SUCCESS;
}

/* ---- Hong & Ling: proximal gradient -------------------------------------------------------- */

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

    fill_zero(p->x, vn);
    fill_zero(p->xprev, vn);
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
        if (nuc < 0.0) return fail(p, NC_ERR_LAPACK, "dgesvd failed in the proximal step");
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
        if (!nc__is_finite(res)) return fail(p, NC_ERR_DIVERGED, "the proximal gradient method diverged");
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
        *rank = count_positive(p->S, K);
    }
    return NC_SUCCESS;
}

/* ---- Dang et al. 2024: ReLU features, CE, no bias -------------------------------------------- */

static nc_status compute_dang_relu(nc_prediction *p, size_t *rank)
{
    const size_t K = p->K;
    const double Kd = (double)K, N = (double)p->N;
    const double lW = p->lambda_W, lH = p->lambda_H;
    double *M = p->sv; /* margins M_k, scratch (sv is reported as 0 for this kind) */
    nc__sum F = {0.0, 0.0};
    size_t j, k;
    *rank = 0;
    for (k = 0; k < K; k++) {
        const double nk = (double)p->counts[k];
        /* t_k = N sqrt((K-1) lW lH / (K n_k)); M_k = log((K-1)(1/t_k - 1)) if > 0. */
        const double tk = N * sqrt((Kd - 1.0) * lW * lH / (Kd * nk));
        double m = 0.0;
        if (tk < (Kd - 1.0) / Kd) m = log((Kd - 1.0) * (1.0 / tk - 1.0));
        if (!(m > 0.0)) m = 0.0;
        M[k] = m;
        nc__sum_add(&F, (nk / N) * ce_margin(Kd, m));
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
    fill_zero(p->b, K);
    fill_zero(p->sv, K);
    return NC_SUCCESS;
}

/* ---- Dang et al. 2023: deep linear, MSE, no bias -------------------------------------------- */

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

static nc_status compute_deep_linear(nc_prediction *p, size_t *rank)
{
    const size_t K = p->K;
    const double N = (double)p->N, M = (double)p->depth;
    const double lW = p->lambda_W, lH = p->lambda_H;
    /* c = (N lH lW^M)^{1/M} = lW (N lH)^{1/M} */
    const double c = lW * pow(N * lH, 1.0 / M);
    nc__sum F = {0.0, 0.0};
    size_t j, k;
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
    fill_zero(p->b, K);
    return NC_SUCCESS;
}

/* ---- Yang et al. 2022: fixed simplex-ETF classifier -------------------------------------------- */

static nc_status compute_fixed_etf(nc_prediction *p, size_t *rank)
{
    const size_t K = p->K;
    const double Kd = (double)K, N = (double)p->N, lH = p->lambda_H;
    const double nrm = p->classifier_norm;
    const double s = nrm * Kd / (Kd - 1.0);
    /* phi(t) = s / (N (1 + e^{s t}/(K-1))) - lH t: decreasing, phi(0) > 0,
     * phi(s / (N lH)) < 0. Written with e^{-s t} so that it never overflows. */
    double lo = 0.0, hi = s / (N * lH), t;
    size_t i, j, k;
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
    p->objective = ce_margin(Kd, s * t) + 0.5 * lH * N * t * t;
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++) {
            const double cosv = j == k ? 1.0 : -1.0 / (Kd - 1.0);
            p->Z[k * K + j] = nrm * t * cosv;
            p->WW[k * K + j] = nrm * nrm * cosv;
            p->HH[k * K + j] = t * t * cosv;
        }
    fill_zero(p->b, K);
    for (k = 0; k < K; k++) {
        p->sv[k] = 0.0;
        p->collapsed[k] = 0;
    }
    *rank = K - 1;
    return NC_SUCCESS;
}

/* Classes with n_k <= n_crit collapse (see nc_prediction_get_critical_count). */
static double critical_count(const nc_prediction *p)
{
    const double N = (double)p->N, Kd = (double)p->K, M = (double)p->depth;
    const double lW = p->lambda_W, lH = p->lambda_H, lam = sqrt(lW * lH);
    switch (p->kind) {
    case NC_PREDICT_BALANCED_CE:
    case NC_PREDICT_BALANCED_MSE: /* lambda sqrt(n) >= 1/K with N = K n */
    case NC_PREDICT_HONG_LING_CE:
        return (N * lam) * (N * lam);
    case NC_PREDICT_DANG_RELU_CE:
        return N * N * lW * lH * Kd / (Kd - 1.0);
    case NC_PREDICT_DEEP_LINEAR_MSE:
        /* f_k(root) = f_k(0) and f_k'(root) = 0 give x^M = M - 1 and
         * c / q = (M-1)^{(M-1)/M} / M^2 (M = 1: c = q). */
        return N * lW * pow(N * lH, 1.0 / M) * M * M / pow(M - 1.0, (M - 1.0) / M);
    default:
        return 0.0;
    }
}

/* ---- compute and getters ------------------------------------------------------------------- */

static const char *const kind_names[NC_PRED_KIND_COUNT] = {
    "balanced CE", "balanced MSE", "Hong & Ling 2023 CE", "Dang et al. 2024 ReLU CE",
    "Dang et al. 2023 deep linear MSE", "Yang et al. 2022 fixed ETF"};

NC_API nc_status nc_prediction_compute(nc_prediction *p)
{
    nc_status st;
    size_t rank = 0;
    int converged = 1;
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    p->computed = 0;
    p->msg[0] = '\0';
    p->iterations = 0;
    p->residual = 0.0;
    p->feature_scale = NAN;
    if (p->kind == NC_PREDICT_FIXED_ETF) {
        if (!(p->lambda_H > 0.0))
            return nc__fail(p->msg, NC_ERR_INVALID_VALUE,
                            "%s needs lambda_H > 0 (got %g)", kind_names[p->kind], p->lambda_H);
    } else if (!(p->lambda_W > 0.0 && p->lambda_H > 0.0)) {
        return nc__fail(p->msg, NC_ERR_INVALID_VALUE,
                        "%s needs lambda_W > 0 and lambda_H > 0 (got %g, %g)",
                        kind_names[p->kind], p->lambda_W, p->lambda_H);
    }
    if (p->depth != 1 && p->kind != NC_PREDICT_DEEP_LINEAR_MSE)
        return nc__fail(p->msg, NC_ERR_UNSUPPORTED, "%s has depth 1 only", kind_names[p->kind]);
    if (p->bias && (p->kind == NC_PREDICT_DANG_RELU_CE || p->kind == NC_PREDICT_DEEP_LINEAR_MSE ||
                    p->kind == NC_PREDICT_FIXED_ETF))
        return nc__fail(p->msg, NC_ERR_UNSUPPORTED, "%s has no bias", kind_names[p->kind]);
    fill_zero(p->b, p->K);
    switch (p->kind) {
    case NC_PREDICT_BALANCED_CE:
        st = compute_balanced_ce(p, &rank);
        break;
    case NC_PREDICT_BALANCED_MSE:
        st = compute_balanced_mse(p, &rank);
        break;
    case NC_PREDICT_HONG_LING_CE:
        st = compute_hong_ling(p, &rank, &converged);
        break;
    case NC_PREDICT_DANG_RELU_CE:
        st = compute_dang_relu(p, &rank);
        break;
    case NC_PREDICT_DEEP_LINEAR_MSE:
        st = compute_deep_linear(p, &rank);
        break;
    default:
        st = compute_fixed_etf(p, &rank);
        break;
    }
    if (st != NC_SUCCESS) return st;
    p->critical_count = critical_count(p);
    if (p->kind != NC_PREDICT_DANG_RELU_CE && p->kind != NC_PREDICT_DEEP_LINEAR_MSE &&
        p->kind != NC_PREDICT_FIXED_ETF)
        collapse_by_columns(p, 1e-6);
    finish_norms(p);
    if (!nc__is_finite(p->objective))
        return nc__fail(p->msg, NC_ERR_OVERFLOW, "the optimal objective is not finite");
    if (p->d != 0 && rank > p->d)
        return nc__fail(p->msg, NC_ERR_UNSUPPORTED,
                        "the predicted solution has rank %lu > d = %lu: with so few "
                        "dimensions the closed form does not apply",
                        (unsigned long)rank, (unsigned long)p->d);
    p->computed = 1;
    if (!converged) {
        nc__fail(p->msg, NC_STOP_MAX_ITERATIONS,
                 "proximal gradient stopped after %lu iterations with residual %.3g > %.3g",
                 (unsigned long)p->iterations, p->residual, p->tol);
        return NC_STOP_MAX_ITERATIONS;
    }
    return NC_SUCCESS;
}

static nc_status need_result(const nc_prediction *p, const void *out)
{
    if (p == NULL || out == NULL) return NC_ERR_NULL_ARGUMENT;
    if (!p->computed) return NC_ERR_UNAVAILABLE;
    return NC_SUCCESS;
}

static nc_status copy_square(const nc_prediction *p, const double *src, double *out, size_t ld)
{
    nc_status st = need_result(p, out);
    size_t j, k;
    if (st != NC_SUCCESS) return st;
    if (ld < p->K) return NC_ERR_SIZE_MISMATCH;
    for (k = 0; k < p->K; k++)
        for (j = 0; j < p->K; j++) out[k * ld + j] = src[k * p->K + j];
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_get_objective(const nc_prediction *p, double *objective)
{
    nc_status st = need_result(p, objective);
    if (st != NC_SUCCESS) return st;
    *objective = p->objective;
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_get_logits(const nc_prediction *p, double *Z, size_t ldz)
{
    return copy_square(p, p != NULL ? p->Z : NULL, Z, ldz);
}

NC_API nc_status nc_prediction_get_classifier_gram(const nc_prediction *p, double *G, size_t ldg)
{
    return copy_square(p, p != NULL ? p->WW : NULL, G, ldg);
}

NC_API nc_status nc_prediction_get_feature_gram(const nc_prediction *p, double *G, size_t ldg)
{
    return copy_square(p, p != NULL ? p->HH : NULL, G, ldg);
}

NC_API nc_status nc_prediction_get_bias(const nc_prediction *p, double *b)
{
    nc_status st = need_result(p, b);
    if (st != NC_SUCCESS) return st;
    memcpy(b, p->b, p->K * sizeof(double));
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_get_norms(const nc_prediction *p, double *w_norms,
                                         double *h_norms)
{
    if (p == NULL || (w_norms == NULL && h_norms == NULL)) return NC_ERR_NULL_ARGUMENT;
    if (!p->computed) return NC_ERR_UNAVAILABLE;
    if (w_norms != NULL) memcpy(w_norms, p->wnorm, p->K * sizeof(double));
    if (h_norms != NULL) memcpy(h_norms, p->hnorm, p->K * sizeof(double));
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_get_singular_values(const nc_prediction *p, double *s)
{
    nc_status st = need_result(p, s);
    if (st != NC_SUCCESS) return st;
    if (p->kind == NC_PREDICT_DANG_RELU_CE || p->kind == NC_PREDICT_FIXED_ETF)
        return NC_ERR_UNAVAILABLE;
    memcpy(s, p->sv, p->K * sizeof(double));
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_get_feature_scale(const nc_prediction *p, double *t)
{
    nc_status st = need_result(p, t);
    if (st != NC_SUCCESS) return st;
    if (p->kind != NC_PREDICT_FIXED_ETF) return NC_ERR_UNAVAILABLE;
    *t = p->feature_scale;
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_get_collapsed(const nc_prediction *p, int *collapsed)
{
    nc_status st = need_result(p, collapsed);
    if (st != NC_SUCCESS) return st;
    memcpy(collapsed, p->collapsed, p->K * sizeof(int));
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_get_thresholds(const nc_prediction *p, double *lambda)
{
    size_t k;
    double N;
    if (p == NULL || lambda == NULL) return NC_ERR_NULL_ARGUMENT;
    N = (double)p->N;
    switch (p->kind) {
    case NC_PREDICT_BALANCED_CE:
    case NC_PREDICT_BALANCED_MSE:
        for (k = 0; k < p->K; k++)
            lambda[k] = 1.0 / ((double)p->K * sqrt((double)p->counts[k]));
        return NC_SUCCESS;
    case NC_PREDICT_HONG_LING_CE:
        for (k = 0; k < p->K; k++) lambda[k] = sqrt((double)p->counts[k]) / N;
        return NC_SUCCESS;
    case NC_PREDICT_DANG_RELU_CE:
        for (k = 0; k < p->K; k++)
            lambda[k] = sqrt((double)p->counts[k] * ((double)p->K - 1.0) / (double)p->K) / N;
        return NC_SUCCESS;
    case NC_PREDICT_DEEP_LINEAR_MSE:
        if (p->depth != 1) return NC_ERR_UNAVAILABLE;
        for (k = 0; k < p->K; k++) lambda[k] = sqrt((double)p->counts[k]) / N;
        return NC_SUCCESS;
    default:
        return NC_ERR_UNAVAILABLE;
    }
}

NC_API nc_status nc_prediction_get_critical_count(const nc_prediction *p, double *n_crit)
{
    nc_status st = need_result(p, n_crit);
    if (st != NC_SUCCESS) return st;
    *n_crit = p->critical_count;
    return NC_SUCCESS;
}

NC_API size_t nc_prediction_iterations(const nc_prediction *p)
{
    return p != NULL ? p->iterations : 0;
}

NC_API double nc_prediction_residual(const nc_prediction *p)
{
    return p != NULL ? p->residual : NAN;
}

NC_API const char *nc_prediction_last_error(const nc_prediction *p)
{
    return p != NULL ? p->msg : "";
}

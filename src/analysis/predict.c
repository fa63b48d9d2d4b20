/*
 * predict.c - the predictions' handle ("Predictions" in ncollapse.h): the
 * table of kinds, creation, options, compute and the result getters. Each
 * kind's mathematics is in its own file (predict_<paper>.c), behind its
 * descriptor (analysis/predict.h); this file knows no kind by name.
 */
#include "analysis/predict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

/* ---- the table of kinds ---------------------------------------------------------------- */

/* Indexed by kind: the values of NC_PREDICTION_KINDS must be 0, 1, 2, ... in
 * list order (a negative array size otherwise). */
#define NC__PREDICTION_INDEX(name, value, id) nc__prediction_index_##id,
enum { NC_PREDICTION_KINDS(NC__PREDICTION_INDEX) NC__PREDICTION_COUNT };
#undef NC__PREDICTION_INDEX
#define NC__PREDICTION_IN_ORDER(name, value, id) \
    typedef char nc__prediction_in_order_##id[(value) == nc__prediction_index_##id ? 1 : -1];
NC_PREDICTION_KINDS(NC__PREDICTION_IN_ORDER)
#undef NC__PREDICTION_IN_ORDER

#define NC__PREDICTION_ENTRY(name, value, id) &nc__prediction_##id,
static const nc__prediction_def *const prediction_table[NC__PREDICTION_COUNT] = {
    NC_PREDICTION_KINDS(NC__PREDICTION_ENTRY)};
#undef NC__PREDICTION_ENTRY

const nc__prediction_def *nc__prediction_lookup(nc_prediction_kind kind)
{
    /* Through long long: the enum's type may be signed or unsigned. */
    const long long k = (long long)kind;
    if (k < 0 || k >= (long long)NC__PREDICTION_COUNT) return NULL;
    return prediction_table[k];
}

/* ---- helpers --------------------------------------------------------------------------- */

static nc_status fail(nc_prediction *p, nc_status st, const char *what)
{
    return nc__fail(p->msg, st, "%s", what);
}

/* ---- creation and options ------------------------------------------------------------ */

NC_API nc_status nc_prediction_create(nc_prediction **prediction, nc_prediction_kind kind,
                                      size_t K, const size_t *counts)
{
    const nc__prediction_def *def;
    nc_prediction *p;
    size_t k, N = 0, kk, vecn, total;
    double wq = 0.0, dummy = 0.0;
    lapack_int info;
    nc__create_clear();
    if (prediction == NULL)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_prediction_create: prediction is NULL");
    *prediction = NULL;
    if (counts == NULL)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_prediction_create: counts is NULL");
    def = nc__prediction_lookup(kind);
    if (def == NULL)
        return nc__create_fail(NC_ERR_INVALID_VALUE, "nc_prediction_create: unknown kind %d",
                               (int)kind);
    if (K < 2 || K > 46340) /* K*K must fit an int */
        return nc__create_fail(NC_ERR_INVALID_SIZE, "nc_prediction_create: K = %zu is not in "
                               "[2, 46340]", K);
    for (k = 0; k < K; k++) {
        if (counts[k] == 0)
            return nc__create_fail(NC_ERR_EMPTY_CLASS, "nc_prediction_create: class %zu has no "
                                   "sample (counts[%zu] = 0)", k, k);
        if (counts[k] > SIZE_MAX - N)
            return nc__create_fail(NC_ERR_INVALID_SIZE, "nc_prediction_create: the counts' sum "
                                   "overflows");
        N += counts[k];
    }
    if ((double)N > 9007199254740992.0) /* exact as a double */
        return nc__create_fail(NC_ERR_INVALID_SIZE, "nc_prediction_create: N = %zu exceeds 2^53",
                               N);
    if (def->equal_counts)
        for (k = 1; k < K; k++)
            if (counts[k] != counts[0])
                return nc__create_fail(NC_ERR_INVALID_VALUE, "nc_prediction_create: this kind needs "
                                       "equal counts (class %zu has %zu, class 0 %zu)", k,
                                       counts[k], counts[0]);

    info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'A', 'A', (lapack_int)K, (lapack_int)K, &dummy,
                               (lapack_int)K, &dummy, &dummy, (lapack_int)K, &dummy,
                               (lapack_int)K, &wq, -1);
    if (info != 0)
        return nc__create_fail(NC_ERR_LAPACK, "nc_prediction_create: SVD workspace query (info %d)",
                               (int)info);
    if (!(wq >= 1.0)) wq = 1.0;
    kk = K * K;
    vecn = kk + K;
    total = 5 * vecn + 5 * kk + 6 * K + (size_t)wq;

    p = (nc_prediction *)calloc(1, sizeof *p);
    if (p == NULL) return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_prediction_create: no memory");
    p->counts = (size_t *)malloc(K * sizeof(size_t));
    p->collapsed = (int *)calloc(K, sizeof(int));
    p->Z = (double *)calloc(total, sizeof(double));
    if (p->counts == NULL || p->collapsed == NULL || p->Z == NULL) {
        free(p->counts);
        free(p->collapsed);
        free(p->Z);
        free(p);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_prediction_create: no memory for K = %zu",
                               K);
    }
    memcpy(p->counts, counts, K * sizeof(size_t));
    p->def = def;
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
    p->bias = def->default_bias;
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

/* ---- results shared by the kinds ------------------------------------------------------- */

/* Norms from the diagonals of the Grams. */
static void finish_norms(nc_prediction *p)
{
    size_t k;
    const size_t K = p->K;
    for (k = 0; k < K; k++) {
        p->wnorm[k] = sqrt(fmax(p->WW[k * K + k], 0.0));
        p->hnorm[k] = sqrt(fmax(p->HH[k * K + k], 0.0));
    }
}

/* Collapse of classes whose logit columns coincide (or are all zero). */
void nc__pred_collapse_by_columns(nc_prediction *p, double rtol)
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

double nc__pred_critical_count_nuclear(const nc_prediction *p)
{
    const double N = (double)p->N;
    const double lW = p->lambda_W, lH = p->lambda_H, lam = sqrt(lW * lH);
    return (N * lam) * (N * lam);
}

/* ---- compute and getters ------------------------------------------------------------------- */

NC_API nc_status nc_prediction_compute(nc_prediction *p)
{
    const nc__prediction_def *def;
    nc_status st;
    size_t rank = 0;
    int converged = 1;
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    def = p->def;
    p->computed = 0;
    p->msg[0] = '\0';
    p->iterations = 0;
    p->residual = 0.0;
    p->feature_scale = NAN;
    if (def->lambda_H_only) {
        if (!(p->lambda_H > 0.0))
            return nc__fail(p->msg, NC_ERR_INVALID_VALUE,
                            "%s needs lambda_H > 0 (got %g)", def->name, p->lambda_H);
    } else if (!(p->lambda_W > 0.0 && p->lambda_H > 0.0)) {
        return nc__fail(p->msg, NC_ERR_INVALID_VALUE,
                        "%s needs lambda_W > 0 and lambda_H > 0 (got %g, %g)",
                        def->name, p->lambda_W, p->lambda_H);
    }
    if (p->depth != 1 && !def->has_depth)
        return nc__fail(p->msg, NC_ERR_UNSUPPORTED, "%s has depth 1 only", def->name);
    if (p->bias && !def->has_bias)
        return nc__fail(p->msg, NC_ERR_UNSUPPORTED, "%s has no bias", def->name);
    nc__pred_fill_zero(p->b, p->K);
    st = def->compute(p, &rank, &converged);
    if (st != NC_SUCCESS) return st;
    p->critical_count = def->critical_count(p);
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
    if (!p->def->has_singular_values) return NC_ERR_UNAVAILABLE;
    memcpy(s, p->sv, p->K * sizeof(double));
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_get_feature_scale(const nc_prediction *p, double *t)
{
    nc_status st = need_result(p, t);
    if (st != NC_SUCCESS) return st;
    if (!p->def->has_feature_scale) return NC_ERR_UNAVAILABLE;
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
    if (p == NULL || lambda == NULL) return NC_ERR_NULL_ARGUMENT;
    if (p->def->thresholds == NULL) return NC_ERR_UNAVAILABLE;
    return p->def->thresholds(p, lambda);
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

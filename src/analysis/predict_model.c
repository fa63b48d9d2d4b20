/*
 * analysis/predict_model.c - a prediction built from a model, and a model
 * compared with its prediction in one call.
 *
 * nc_prediction_create_from_model picks the kind that covers the model's
 * options and copies its counts, decays, bias, depth, d and (for a fixed
 * simplex-ETF classifier) the classifier norm, so that model and prediction
 * cannot disagree on an option; a model no kind covers is refused with
 * NC_ERR_UNSUPPORTED and a message, in the model's last error, that names
 * the option.
 *
 * nc_prediction_compare measures the model's state against the prediction
 * by rotation-invariant quantities: the objective gap, and the relative
 * Frobenius distances of P P^T, Hbar^T Hbar and Z = P Hbar (uncentred class
 * means) to the predicted ones, and whether each class's collapse agrees.
 */
#include "analysis/predict.h"
#include "model/model.h"
#include "metrics/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows of W (K x d, row stride d) form a simplex ETF of common norm *norm:
 * equal norms and cosines -1/(K-1), to 1e-10 relative. */
static int is_simplex_etf(const double *W, size_t K, size_t d, double *norm)
{
    double n0 = 0.0;
    size_t i, j, t;
    for (t = 0; t < d; t++) n0 += W[t] * W[t];
    n0 = sqrt(n0);
    if (!(n0 > 0.0)) return 0;
    for (i = 0; i < K; i++)
        for (j = i; j < K; j++) {
            double g = 0.0;
            const double want = i == j ? n0 * n0 : -n0 * n0 / (double)(K - 1);
            for (t = 0; t < d; t++) g += W[i * d + t] * W[j * d + t];
            if (fabs(g - want) > 1e-10 * n0 * n0) return 0;
        }
    *norm = n0;
    return 1;
}

static int equal_counts(const nc_model *m)
{
    size_t k;
    for (k = 1; k < m->K; k++)
        if (m->counts[k] != m->counts[0]) return 0;
    return 1;
}

NC_API nc_status nc_prediction_create_from_model(nc_prediction **prediction, nc_model *model)
{
    nc_prediction_kind kind;
    const nc_model *m = model;
    const char *loss_name;
    double etf_norm = 0.0;
    int bias;
    nc_status st;
    if (prediction == NULL) return NC_ERR_NULL_ARGUMENT;
    *prediction = NULL;
    if (model == NULL) return NC_ERR_NULL_ARGUMENT;
    model->msg[0] = '\0';
    loss_name = nc__loss_lookup(m->loss) ? nc__loss_lookup(m->loss)->name : "unknown";
    bias = m->bias;
#define REFUSE(...) return nc__fail(model->msg, NC_ERR_UNSUPPORTED, "no prediction covers " __VA_ARGS__)
    if (m->alpha != 0.0 || m->beta != 0.0)
        REFUSE("the AllNC terms (alpha %g, beta %g): they have no closed form", m->alpha, m->beta);
    if (m->loss != NC_LOSS_CE && m->loss != NC_LOSS_MSE)
        REFUSE("the loss %s (only CE and MSE have closed forms)", loss_name);
    if (m->loss == NC_LOSS_MSE && m->loss_ctx.param[NC_LOSS_PARAM_TARGET_SCALE] != 1.0)
        REFUSE("MSE with target scale %g (the closed forms target e_y)",
               m->loss_ctx.param[NC_LOSS_PARAM_TARGET_SCALE]);
    if (m->features == NC_FEATURES_RELU) {
        if (m->loss != NC_LOSS_CE) REFUSE("ReLU features with the loss %s (only CE)", loss_name);
        if (m->depth != 1) REFUSE("ReLU features at depth %zu (only depth 1)", m->depth);
        if (bias) REFUSE("ReLU features with a bias");
        if (m->fixed) REFUSE("ReLU features with a fixed classifier");
        kind = NC_PREDICT_DANG_RELU_CE;
    } else if (m->fixed) {
        if (m->loss != NC_LOSS_CE) REFUSE("a fixed classifier with the loss %s (only CE)", loss_name);
        if (m->depth != 1) REFUSE("a fixed classifier at depth %zu (only depth 1)", m->depth);
        if (bias) REFUSE("a fixed classifier with a bias");
        if (!is_simplex_etf(m->Wc, m->K, m->d, &etf_norm))
            REFUSE("a fixed classifier that is not a simplex ETF (equal norms, cosines -1/(K-1))");
        kind = NC_PREDICT_FIXED_ETF;
    } else if (m->depth > 1) {
        if (m->loss != NC_LOSS_MSE) REFUSE("depth %zu with the loss %s (only MSE)", m->depth, loss_name);
        if (bias) REFUSE("depth %zu with a bias", m->depth);
        kind = NC_PREDICT_DEEP_LINEAR_MSE;
    } else if (m->loss == NC_LOSS_CE) {
        kind = (!bias && equal_counts(m)) ? NC_PREDICT_BALANCED_CE : NC_PREDICT_HONG_LING_CE;
    } else if (equal_counts(m)) {
        kind = NC_PREDICT_BALANCED_MSE; /* with or without bias */
    } else {
        if (bias) REFUSE("MSE with a bias under class imbalance");
        kind = NC_PREDICT_DEEP_LINEAR_MSE; /* depth 1, any counts */
    }
#undef REFUSE
    st = nc_prediction_create(prediction, kind, m->K, m->counts);
    if (st != NC_SUCCESS)
        return nc__fail(model->msg, st, "the prediction (%s) could not be created",
                        nc__prediction_lookup(kind)->name);
    if ((st = nc_prediction_set_weight_decay(*prediction, m->fixed ? 0.0 : m->lambda_W,
                                             m->lambda_H, bias ? m->lambda_b : 0.0)) != NC_SUCCESS ||
        (st = nc_prediction_set_bias(*prediction, bias)) != NC_SUCCESS ||
        (st = nc_prediction_set_depth(*prediction, m->depth)) != NC_SUCCESS ||
        (st = nc_prediction_set_dim(*prediction, m->d)) != NC_SUCCESS ||
        (kind == NC_PREDICT_FIXED_ETF &&
         (st = nc_prediction_set_classifier_norm(*prediction, etf_norm)) != NC_SUCCESS)) {
        nc__fail(model->msg, st, "the model's options do not fit the prediction: %s",
                 nc_prediction_last_error(*prediction));
        nc_prediction_destroy(*prediction);
        *prediction = NULL;
        return st;
    }
    return NC_SUCCESS;
}

static const char *const verdict_names[] = {"optimum", "above the prediction",
                                            "below the prediction", "geometry differs"};
typedef char nc__verdict_names_complete[sizeof verdict_names / sizeof verdict_names[0] ==
                                                NC_VERDICT_GEOMETRY_DIFFERS + 1 ? 1 : -1];

NC_API nc_prediction_kind nc_prediction_get_kind(const nc_prediction *p)
{
    return p ? p->def->kind : NC_PREDICT_BALANCED_CE;
}

NC_API const char *nc_verdict_name(nc_verdict verdict)
{
    if ((int)verdict < 0 || (int)verdict > (int)NC_VERDICT_GEOMETRY_DIFFERS) return "unknown";
    return verdict_names[verdict];
}

/* ||A - T||_F / ||T||_F (||A||_F when T = 0), K x K. */
static double rel_distance(const double *A, const double *T, size_t n)
{
    double e = 0.0, t = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        e += (A[i] - T[i]) * (A[i] - T[i]);
        t += T[i] * T[i];
    }
    return t > 0.0 ? sqrt(e / t) : sqrt(e);
}

/* The class means of the model's H (cnt, mu; res is scratch): those of
 * nc__class_means, two passes with the mean residual. On a shard each
 * pass's class sums are added over the shards (collective) and divided by
 * the global counts: the same values on every shard, the serial means to
 * rounding (the same bits for one shard). */
static nc_status model_class_means(const nc_model *m, size_t *cnt, double *mu, double *res)
{
    const size_t d = m->d, K = m->K;
    size_t i, k, t;
    nc_status st;
    if (!m->shard) {
        nc__class_means(d, K, m->N, m->H, d, m->labels, 1.0, cnt, mu, res);
        return NC_SUCCESS;
    }
    memset(mu, 0, d * K * sizeof(double));
    for (i = 0; i < m->N; i++)
        for (t = 0; t < d; t++) mu[(size_t)m->labels[i] * d + t] += m->H[i * d + t];
    if ((st = m->shard->sum(m->shard, mu, d * K)) != NC_SUCCESS) return st;
    for (k = 0; k < K; k++) {
        cnt[k] = m->counts[k];
        for (t = 0; t < d; t++) mu[k * d + t] /= (double)cnt[k];
    }
    memset(res, 0, d * K * sizeof(double));
    for (i = 0; i < m->N; i++) {
        const size_t y = (size_t)m->labels[i];
        for (t = 0; t < d; t++) res[y * d + t] += m->H[i * d + t] - mu[y * d + t];
    }
    if ((st = m->shard->sum(m->shard, res, d * K)) != NC_SUCCESS) return st;
    for (k = 0; k < K; k++)
        for (t = 0; t < d; t++) mu[k * d + t] += res[k * d + t] / (double)cnt[k];
    return NC_SUCCESS;
}

NC_API nc_status nc_prediction_compare(nc_prediction *p, nc_model *model, double rtol,
                                       double *values, nc_verdict *verdict)
{
    size_t K, d, i, j, t, agree = 0, *cnt = NULL;
    double *mu = NULL, *res = NULL, *WW = NULL, *HH = NULL, *Z = NULL, f, fstar;
    int *flags = NULL;
    nc_status st;
    if (p == NULL) return NC_ERR_NULL_ARGUMENT;
    if (model == NULL || values == NULL || verdict == NULL)
        return nc__fail(p->msg, NC_ERR_NULL_ARGUMENT, "compare: model, values or verdict is NULL");
    if (!(rtol > 0.0 && rtol < 1.0))
        return nc__fail(p->msg, NC_ERR_INVALID_VALUE, "compare: rtol %g is outside (0, 1)", rtol);
    if (model->K != p->K)
        return nc__fail(p->msg, NC_ERR_SIZE_MISMATCH, "compare: the model has K = %zu, the "
                        "prediction %zu", model->K, p->K);
    for (i = 0; i < p->K; i++)
        if (model->counts[i] != p->counts[i])
            return nc__fail(p->msg, NC_ERR_MISMATCH, "compare: class %zu has %zu samples in the "
                            "model and %zu in the prediction", i, model->counts[i], p->counts[i]);
    if (!p->computed) {
        st = nc_prediction_compute(p);
        if (st < 0) return st;
    }
    K = p->K;
    d = model->d;
    st = nc_model_objective(model, &f);
    if (st != NC_SUCCESS)
        return nc__fail(p->msg, st, "compare: the model's objective: %s", nc_model_last_error(model));
    fstar = p->objective;
    cnt = (size_t *)malloc(K * sizeof *cnt);
    flags = (int *)malloc(K * sizeof *flags);
    mu = nc__alloc_doubles(d, K);
    res = nc__alloc_doubles(d, K);
    WW = nc__alloc_doubles(K, K);
    HH = nc__alloc_doubles(K, K);
    Z = nc__alloc_doubles(K, K);
    st = (!cnt || !flags || !mu || !res || !WW || !HH || !Z) ? NC_ERR_OUT_OF_MEMORY : NC_SUCCESS;
    if (model->shard) st = model->shard->agree(model->shard, st); /* before the sums */
    if (st != NC_SUCCESS) {
        st = nc__fail(p->msg, st, "compare: no memory");
        goto done;
    }
    if ((st = model_class_means(model, cnt, mu, res)) != NC_SUCCESS) {
        st = nc__fail(p->msg, st, "compare: the class means of the shards: %s", nc_strerror(st));
        goto done;
    }
    for (i = 0; i < K; i++)
        for (j = 0; j < K; j++) {
            double ww = 0.0, hh = 0.0, z = 0.0;
            for (t = 0; t < d; t++) {
                ww += model->W[i * d + t] * model->W[j * d + t];
                hh += mu[i * d + t] * mu[j * d + t];
                z += model->W[i * d + t] * mu[j * d + t]; /* p_i . hbar_j */
            }
            WW[j * K + i] = ww;
            HH[j * K + i] = hh;
            Z[j * K + i] = z;
        }
    /* the model's collapse, by the kind's rule, on the prediction's scale (the
     * model's own largest column would never count as collapsed, so a fully
     * collapsed model could not agree); when the prediction is all collapsed
     * (a zero scale) the model's values must be below 1e-6 themselves */
    {
        double zref = 0.0, href = 0.0;
        size_t k2;
        int all_zero;
        for (j = 0; j < K; j++) {
            double s = 0.0;
            if (p->hnorm[j] > href) href = p->hnorm[j];
            for (i = 0; i < K; i++) s += p->Z[j * K + i] * p->Z[j * K + i];
            if (sqrt(s) > zref) zref = sqrt(s);
        }
        all_zero = !(zref > 0.0); /* the prediction: Z = 0, every class collapsed */
        if (!(href > 0.0)) href = 1.0;
        if (all_zero) zref = 1.0;
        for (j = 0; j < K; j++) {
            if (p->def->collapse_to_zero) {
                flags[j] = !(sqrt(HH[j * K + j]) > 1e-6 * href);
            } else {
                double zj = 0.0;
                for (i = 0; i < K; i++) zj += Z[j * K + i] * Z[j * K + i];
                flags[j] = all_zero && sqrt(zj) <= 1e-6; /* Z = 0: every class collapsed */
                for (k2 = 0; k2 < K && !flags[j]; k2++) {
                    double s = 0.0;
                    if (k2 == j) continue;
                    for (i = 0; i < K; i++)
                        s += (Z[j * K + i] - Z[k2 * K + i]) * (Z[j * K + i] - Z[k2 * K + i]);
                    if (sqrt(s) <= 1e-6 * zref) flags[j] = 1;
                }
            }
            agree += flags[j] == p->collapsed[j];
        }
    }
    values[NC_COMPARE_OBJECTIVE] = f;
    values[NC_COMPARE_PREDICTED_OBJECTIVE] = fstar;
    values[NC_COMPARE_OBJECTIVE_GAP] = (f - fstar) / (fstar != 0.0 ? fabs(fstar) : 1.0);
    values[NC_COMPARE_CLASSIFIER_GRAM] = rel_distance(WW, p->WW, K * K);
    values[NC_COMPARE_FEATURE_GRAM] = rel_distance(HH, p->HH, K * K);
    values[NC_COMPARE_LOGITS] = rel_distance(Z, p->Z, K * K);
    values[NC_COMPARE_COLLAPSE_AGREEMENT] = (double)agree / (double)K;
    {
        const double gap = values[NC_COMPARE_OBJECTIVE_GAP], gtol = sqrt(rtol);
        if (gap > rtol)
            *verdict = NC_VERDICT_ABOVE_PREDICTION;
        else if (gap < -rtol)
            *verdict = NC_VERDICT_BELOW_PREDICTION;
        else if (agree < K || values[NC_COMPARE_CLASSIFIER_GRAM] > gtol ||
                 values[NC_COMPARE_FEATURE_GRAM] > gtol || values[NC_COMPARE_LOGITS] > gtol)
            *verdict = NC_VERDICT_GEOMETRY_DIFFERS;
        else
            *verdict = NC_VERDICT_OPTIMUM;
    }
    st = NC_SUCCESS;
done:
    free(cnt);
    free(flags);
    free(mu);
    free(res);
    free(WW);
    free(HH);
    free(Z);
    return st;
}

/*
 * analysis/predict.h - the predictions' handle and the descriptor of a kind.
 * One file per paper or model (predict_<paper>.c) defines the descriptor of
 * each of its kinds, nc__prediction_<id> for the entry X(name, value, id) of
 * NC_PREDICTION_KINDS in ncollapse.h; predict.c keeps the handle, the
 * options, the result getters and the table of descriptors indexed by kind,
 * built from that list. docs/theory.md derives every formula in the
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
 */
#ifndef NC_ANALYSIS_PREDICT_H
#define NC_ANALYSIS_PREDICT_H

#include "common/common.h"

typedef struct nc__prediction_def nc__prediction_def;

struct nc_prediction {
    const nc__prediction_def *def; /* the kind */
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

/* What a kind is: its name, the inputs and options it accepts, how it
 * computes and which results it has. */
struct nc__prediction_def {
    nc_prediction_kind kind;
    /* In messages ("balanced CE needs lambda_W > 0 ..."). */
    const char *name;

    /* Inputs and options, checked by nc_prediction_create and
     * nc_prediction_compute. */
    int equal_counts;   /* every n_k equal (else create: NC_ERR_INVALID_VALUE) */
    int default_bias;   /* the bias at creation */
    int has_bias;       /* the bias may be on (else compute: NC_ERR_UNSUPPORTED) */
    int has_depth;      /* depth may be > 1 (else compute: NC_ERR_UNSUPPORTED) */
    int lambda_H_only;  /* compute needs lambda_H > 0 only (else lambda_W > 0 too) */

    /* Results. nc_prediction_compute has checked the options, zeroed b and
     * set feature_scale to NaN, iterations and residual to 0. compute fills
     * objective, Z, WW, HH, b, sv, collapsed (and feature_scale, iterations,
     * residual where the kind has them), and sets *rank to the rank of the
     * solution (checked against d); a solver that stops at its iteration
     * limit clears *converged (set to 1 before the call). The norms come
     * from the diagonals of WW and HH afterwards. */
    nc_status (*compute)(nc_prediction *p, size_t *rank, int *converged);
    /* Classes with n_k <= this collapse (nc_prediction_get_critical_count). */
    double (*critical_count)(const nc_prediction *p);
    /* The K collapse thresholds on sqrt(lambda_W lambda_H), or
     * NC_ERR_UNAVAILABLE (nc_prediction_get_thresholds; no compute needed);
     * NULL: none for this kind. */
    nc_status (*thresholds)(const nc_prediction *p, double *lambda);
    /* How a class collapses: its mean feature becomes 0 (1), or its logits
     * coincide with another class's (0). nc_prediction_compare judges a
     * model's classes by the same rule. */
    int collapse_to_zero;
    int has_singular_values; /* else nc_prediction_get_singular_values: NC_ERR_UNAVAILABLE */
    int has_feature_scale;   /* else nc_prediction_get_feature_scale: NC_ERR_UNAVAILABLE */
};

/* The descriptors, one per entry of NC_PREDICTION_KINDS. */
#define NC__PREDICTION_DECLARE(name, value, id) extern const nc__prediction_def nc__prediction_##id;
NC_PREDICTION_KINDS(NC__PREDICTION_DECLARE)
#undef NC__PREDICTION_DECLARE

/* The descriptor of a kind; NULL for a value outside the list. */
const nc__prediction_def *nc__prediction_lookup(nc_prediction_kind kind);

/* ---- helpers the kinds share ---------------------------------------------------------- */

/* log(1 + (K-1) e^{-m}) for m >= 0, accurate for large m. */
static inline double nc__pred_ce_margin(double K, double m) { return log1p((K - 1.0) * exp(-m)); }

static inline void nc__pred_fill_zero(double *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) x[i] = 0.0;
}

static inline size_t nc__pred_count_positive(const double *x, size_t n)
{
    size_t i, c = 0;
    for (i = 0; i < n; i++) c += x[i] > 0.0;
    return c;
}

/* One-layer models (balanced, Hong & Ling): collapsed[k] = 1 if column k of
 * Z coincides with another column to rtol relative to the largest column
 * norm (or all of Z is zero). */
void nc__pred_collapse_by_columns(nc_prediction *p, double rtol);

/* One-layer models: the critical count (N lambda)^2, lambda = sqrt(lW lH)
 * (balanced: lambda sqrt(n) >= 1/K with N = K n; Hong & Ling: for a group of
 * >= 2 equal-size classes). */
double nc__pred_critical_count_nuclear(const nc_prediction *p);

#endif /* NC_ANALYSIS_PREDICT_H */

/* loss/loss.h - the loss registry: each loss gives its value and its gradient with
 * respect to the logits, for a block of samples. One file per loss; adding a
 * loss is one file and one row of the table in loss.c. The parameters of the
 * losses are a second table (params.c): name, losses, range and default of
 * each, and the one check of a value. */
#ifndef NC_LOSS_H
#define NC_LOSS_H

#include "common/common.h"
#include "common/sum.h"
#include "kernels/kernels.h"

/* The last value of the public enums nc_loss and nc_loss_parameter, and so
 * the number of rows of the two tables (loss.c and params.c assert that
 * their tables have exactly these many rows). */
#define NC__LOSS_LAST NC_LOSS_DOT_REGRESSION
#define NC__LOSS_COUNT ((int)NC__LOSS_LAST + 1)
#define NC__LOSS_PARAM_LAST NC_LOSS_PARAM_DOT_TARGET
#define NC__LOSS_PARAM_COUNT ((int)NC__LOSS_PARAM_LAST + 1)

/* What a loss reads besides the logits: its parameters, the class weights
 * and priors, and the kernels it may call. */
typedef struct nc__loss_ctx {
    /* every parameter of every loss, indexed by nc_loss_parameter: a loss
     * reads ctx->param[NC_LOSS_PARAM_...] */
    double param[NC__LOSS_PARAM_COUNT];
    const double *class_weights; /* K */
    const double *log_prior;     /* K: log(n_k / N) */
    /* exp and log1p on arrays (the kernels' instruction set; NULL: portable) */
    void (*vexp)(double *x, size_t n);
    void (*vlog1p)(double *x, size_t n);
    /* the kernels' transposed CE family (nc__kernels.t_ce; the pass sets it) */
    void (*t_ce)(size_t K, size_t n, size_t nl, double *Zt, size_t ldt, const int32_t *labels,
                 double tau, const double *log_prior, const double *cw, double *out);
    /* and its transposed squared error (nc__kernels.t_mse) */
    void (*t_mse)(size_t K, size_t n, size_t nl, double *Zt, size_t ldt, const int32_t *labels,
                  double ts, double *out);
} nc__loss_ctx;

/* Z: K x n logits (column i = sample i), labels: n classes. Returns the sum
 * of the n losses and overwrites Z with d(loss_i)/d(z_i). */
typedef double (*nc__loss_fn)(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                              const int32_t *labels);

typedef struct nc__loss_def {
    nc_loss id;
    const char *name;
    nc__loss_fn value_grad;
    /* Bound on ||dL/dz|| of one sample given a bound zb on |z| (entries):
     * used by the optimizer's divergence guard. */
    double (*grad_bound)(const nc__loss_ctx *ctx, size_t K, double zb);
    /* Optional: value_grad on the block transposed (small-d path): Zt is
     * K x n with ld ldt (row k = logit k of every sample), scratch holds
     * 4 ldt doubles, columns n..ldt of Zt may be overwritten. The same
     * operations per sample as value_grad, so the same result. */
    double (*value_grad_t)(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K, size_t n,
                           const int32_t *labels, double *scratch);
} nc__loss_def;

/* NULL for an unknown id. */
const nc__loss_def *nc__loss_lookup(nc_loss id);

/* One loss parameter (params.c): the table row of nc_loss_parameter id. The
 * valid values are the finite v with lo < v (lo <= v when lo_closed) and
 * v < hi (v <= hi when hi_closed); lo = -INFINITY or hi = INFINITY is no
 * bound on that side. */
typedef struct nc__loss_param_def {
    nc_loss_parameter id;
    const char *name;   /* for messages and documentation */
    unsigned losses;    /* bit NC__LOSS_BIT(l) set: loss l reads the parameter */
    double lo, hi;
    int lo_closed, hi_closed;
    double default_value; /* the value of a new model */
} nc__loss_param_def;
#define NC__LOSS_BIT(l) (1u << (unsigned)(l))

/* NULL for an unknown id. */
const nc__loss_param_def *nc__loss_param_lookup(nc_loss_parameter id);
/* The one validation of a parameter value (nc_model_set_loss_parameter and
 * the checkpoint loader): NC_SUCCESS, or NC_ERR_NON_FINITE (NaN, Inf) or
 * NC_ERR_INVALID_VALUE (unknown parameter, value outside the range) with
 * what failed in msg (NC_MSG_SIZE), e.g. "loss parameter smoothing
 * (label_smoothing) = 1 outside [0, 1)". */
nc_status nc__loss_param_check(nc_loss_parameter id, double value, char *msg);
/* param[p] = the default of p, for every parameter. */
void nc__loss_param_defaults(double param[NC__LOSS_PARAM_COUNT]);

/* Stable softmax of the columns of a block, in place: column i becomes
 * softmax(z_i). With a = argmax (first), m = z_a and r = sum_{k != a}
 * exp(z_k - m) in [0, K-1]: p_a = 1/(1+r) exactly, and log sum exp(z) =
 * m + log1p(r); lr = log1p(r). The exponentials and logarithms of a block
 * are computed by the vectorised ctx->vexp and ctx->vlog1p (< 1 ulp; the
 * portable copies when they are NULL). n <= NC__SOFTMAX_CHUNK. */
typedef struct nc__softmax {
    size_t a;
    double m, r, lr;
} nc__softmax;
#define NC__SOFTMAX_CHUNK 64
void nc__softmax_block(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n, nc__softmax *sm);

/* The cross-entropy family on a block: CE(z + shift, y) times weight_y, with
 * shift_k = tau log_prior_k when log_prior is given (logit adjustment) and
 * weight_y = class_weights[y] when class_weights is given. */
double nc__ce_family(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                     const int32_t *labels, double tau, const double *log_prior,
                     const double *class_weights);

/* The same on a transposed block (nc__loss_def.value_grad_t), by the kernels' t_ce
 * (ctx->t_ce; the portable one when NULL). */
double nc__ce_family_t(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K, size_t n,
                       const int32_t *labels, double tau, const double *log_prior,
                       const double *class_weights, double *scratch);

double nc__loss_ce(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_mse(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_label_smoothing(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_focal(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_weighted_ce(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_logit_adjusted(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_dot_regression(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
typedef double nc__loss_t_fn(const nc__loss_ctx *, double *, size_t, size_t, size_t, const int32_t *,
                             double *);
nc__loss_t_fn nc__loss_ce_t, nc__loss_mse_t, nc__loss_weighted_ce_t, nc__loss_logit_adjusted_t;


#endif

/* loss/loss.h - the loss registry: each loss gives its value and its gradient with
 * respect to the logits, for a block of samples. One file per loss; adding a
 * loss is one file and one row of the table in loss.c. */
#ifndef NC_LOSS_H
#define NC_LOSS_H

#include "common/common.h"
#include "common/sum.h"
#include "kernels/kernels.h"

/* What a loss reads besides the logits: its parameters, the class weights
 * and priors, and the kernels it may call. */
typedef struct nc__loss_ctx {
    double target_scale, smoothing, focal_gamma, logit_tau, dot_target;
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

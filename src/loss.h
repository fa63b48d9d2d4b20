/* loss.h - the loss registry: each loss gives its value and its gradient with
 * respect to the logits, for a block of samples. One file per loss; adding a
 * loss is one file and one row of the table in loss.c. */
#ifndef NC_LOSS_H
#define NC_LOSS_H

#include "nc_internal.h"

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
} nc__loss_def;

/* NULL for an unknown id. */
const nc__loss_def *nc__loss_lookup(nc_loss id);

/* Stable softmax in place: z <- softmax(z). With a = argmax (first), m = z_a
 * and r = sum_{k != a} exp(z_k - m) in [0, K-1]: p_a = 1/(1+r) exactly, and
 * log sum exp(z) = m + log1p(r). */
typedef struct nc__softmax {
    size_t a;
    double m, r;
} nc__softmax;
nc__softmax nc__softmax_inplace(double *z, size_t K);

double nc__loss_ce(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_mse(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_label_smoothing(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_focal(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_weighted_ce(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_logit_adjusted(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);
double nc__loss_dot_regression(const nc__loss_ctx *, double *, size_t, size_t, const int32_t *);

/* Cross-entropy of one column with softmax already applied: value from the
 * saved logit z_y, gradient p - e_y written in place (scaled by weight). */
double nc__ce_finish(double *p, size_t K, size_t y, double zy, const nc__softmax *sm,
                     double weight);

#endif

/* loss.h - the loss registry: each loss gives its value and its gradient with
 * respect to the logits, for a block of samples. One file per loss. */
#ifndef NC_LOSS_H
#define NC_LOSS_H

#include "nc_internal.h"

typedef struct nc__loss_def {
    nc_loss id;
    const char *name;
    /* Z: K x n logits (column i = sample i), labels: n classes. Returns the
     * sum of the n losses and overwrites Z with d(loss_i)/d(z_i). */
    double (*value_grad)(double *Z, size_t K, size_t n, const int32_t *labels);
} nc__loss_def;

/* NULL for an unknown id. */
const nc__loss_def *nc__loss_lookup(nc_loss id);

double nc__loss_ce_value_grad(double *Z, size_t K, size_t n, const int32_t *labels);
double nc__loss_mse_value_grad(double *Z, size_t K, size_t n, const int32_t *labels);

#endif

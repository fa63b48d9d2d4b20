/* loss_dot_regression.c - dot-regression of Yang et al. 2022, theory form:
 * L = (z_y - c)^2 / (2c), c = sqrt(E_W E_H), z_y = w_y . h (+ b_y).
 * Only the logit of the true class enters, so there is no "push" on the
 * other classes: dL/dz = e_y (z_y - c)/c. */
#include "loss/loss.h"

double nc__loss_dot_regression(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                               const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    const double c = ctx->param[NC_LOSS_PARAM_DOT_TARGET];
    size_t i, k;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K;
        const double e = z[labels[i]] - c;
        nc__sum_add(&total, 0.5 * e * e / c);
        for (k = 0; k < K; k++) z[k] = 0.0;
        z[labels[i]] = e / c;
    }
    return nc__sum_value(&total);
}

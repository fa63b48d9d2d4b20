/* loss_focal.c - focal loss (Lin et al. 2017): L = -(1 - p_y)^gamma log p_y.
 *
 * With q = 1 - p_y and ce = -log p_y (computed as in CE):
 *   dL/dz_k = A (delta_yk - p_k),  A = -q^gamma (gamma p_y (ce / q) + 1),
 * where ce/q -> 1 as q -> 0 is evaluated without 0/0, and q = r/(1+r) when y
 * is the largest logit (no cancellation). gamma = 0 gives CE exactly. */
#include <math.h>

#include "loss.h"

double nc__loss_focal(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                      const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    const double gamma = ctx->focal_gamma;
    size_t i, k;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K;
        const size_t y = (size_t)labels[i];
        const double zy = z[y];
        const nc__softmax sm = nc__softmax_inplace(z, K);
        const double ce = (sm.m - zy) + log1p(sm.r);
        const double py = z[y];
        const double q = (y == sm.a) ? sm.r / (1.0 + sm.r) : 1.0 - py;
        const double ratio = q > 0.0 ? ce / q : 1.0;
        const double qg = pow(q, gamma);
        const double A = -qg * (gamma * py * ratio + 1.0);
        nc__sum_add(&total, qg * ce);
        for (k = 0; k < K; k++) z[k] = -A * z[k];
        z[y] = A * q;
    }
    return nc__sum_value(&total);
}

/* loss_focal.c - focal loss (Lin et al. 2017): L = -(1 - p_y)^gamma log p_y.
 *
 * With q = 1 - p_y and ce = -log p_y (computed as in CE):
 *   dL/dz_k = A (delta_yk - p_k),  A = -q^gamma (gamma p_y (ce / q) + 1),
 * where ce/q -> 1 as q -> 0 is evaluated without 0/0, and q = r/(1+r) when y
 * is the largest logit (no cancellation). gamma = 0 gives CE exactly. */
#include <math.h>

#include "loss/loss.h"

double nc__loss_focal(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                      const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    const double gamma = ctx->param[NC_LOSS_PARAM_FOCAL_GAMMA];
    nc__softmax sm[NC__SOFTMAX_CHUNK];
    double zys[NC__SOFTMAX_CHUNK];
    size_t i0, i, k;
    for (i0 = 0; i0 < n; i0 += NC__SOFTMAX_CHUNK) {
        const size_t nb = n - i0 < NC__SOFTMAX_CHUNK ? n - i0 : NC__SOFTMAX_CHUNK;
        double *Zb = Z + i0 * K;
        for (i = 0; i < nb; i++) zys[i] = Zb[i * K + (size_t)labels[i0 + i]];
        nc__softmax_block(ctx, Zb, K, nb, sm);
        for (i = 0; i < nb; i++) {
            double *z = Zb + i * K;
            const size_t y = (size_t)labels[i0 + i];
            const double ce = (sm[i].m - zys[i]) + sm[i].lr;
            const double py = z[y];
            const double q = (y == sm[i].a) ? sm[i].r / (1.0 + sm[i].r) : 1.0 - py;
            const double ratio = q > 0.0 ? ce / q : 1.0;
            const double qg = pow(q, gamma);
            const double A = -qg * (gamma * py * ratio + 1.0);
            nc__sum_add(&total, qg * ce);
            for (k = 0; k < K; k++) z[k] = -A * z[k];
            z[y] = A * q;
        }
    }
    return nc__sum_value(&total);
}

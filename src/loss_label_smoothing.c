/* loss_label_smoothing.c - cross-entropy against t = (1 - eps) e_y + eps/K:
 *   L = sum_k t_k (LSE - z_k),  LSE - z_k = (m - z_k) + log1p(r) >= 0,
 * a sum of non-negative terms (no cancellation); dL/dz = p - t. */
#include <math.h>

#include "loss.h"

double nc__loss_label_smoothing(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                                const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    const double eps = ctx->smoothing, off = eps / (double)K, on = 1.0 - eps + off;
    size_t i, k;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K;
        const size_t y = (size_t)labels[i];
        double others = 0.0, zy = z[y], m, lr;
        nc__softmax sm;
        size_t a = 0;
        for (k = 1; k < K; k++)
            if (z[k] > z[a]) a = k;
        m = z[a];
        for (k = 0; k < K; k++)
            if (k != y) others += m - z[k];
        sm = nc__softmax_inplace(z, K);
        lr = log1p(sm.r);
        nc__sum_add(&total, on * ((m - zy) + lr) + off * (others + (double)(K - 1) * lr));
        for (k = 0; k < K; k++) z[k] -= off;
        /* p_y - t_y; for y == a form 1 - p_y as r/(1+r). */
        z[y] = (y == sm.a) ? (eps - off) - sm.r / (1.0 + sm.r) : z[y] + off - on;
    }
    return nc__sum_value(&total);
}

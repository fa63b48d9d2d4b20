/* loss_label_smoothing.c - cross-entropy against t = (1 - eps) e_y + eps/K:
 *   L = sum_k t_k (LSE - z_k),  LSE - z_k = (m - z_k) + log1p(r) >= 0,
 * a sum of non-negative terms (no cancellation); dL/dz = p - t. */
#include <math.h>

#include "loss/loss.h"

double nc__loss_label_smoothing(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                                const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    const double eps = ctx->param[NC_LOSS_PARAM_SMOOTHING], off = eps / (double)K,
                 on = 1.0 - eps + off;
    nc__softmax sm[NC__SOFTMAX_CHUNK];
    double zys[NC__SOFTMAX_CHUNK], others[NC__SOFTMAX_CHUNK];
    size_t i0, i, k;
    for (i0 = 0; i0 < n; i0 += NC__SOFTMAX_CHUNK) {
        const size_t nb = n - i0 < NC__SOFTMAX_CHUNK ? n - i0 : NC__SOFTMAX_CHUNK;
        double *Zb = Z + i0 * K;
        for (i = 0; i < nb; i++) {
            const double *z = Zb + i * K;
            const size_t y = (size_t)labels[i0 + i];
            size_t a = 0;
            double m, o = 0.0;
            for (k = 1; k < K; k++)
                if (z[k] > z[a]) a = k;
            m = z[a];
            for (k = 0; k < K; k++)
                if (k != y) o += m - z[k];
            others[i] = o;
            zys[i] = z[y];
        }
        nc__softmax_block(ctx, Zb, K, nb, sm);
        for (i = 0; i < nb; i++) {
            double *z = Zb + i * K;
            const size_t y = (size_t)labels[i0 + i];
            const double m = sm[i].m, lr = sm[i].lr;
            nc__sum_add(&total, on * ((m - zys[i]) + lr) + off * (others[i] + (double)(K - 1) * lr));
            for (k = 0; k < K; k++) z[k] -= off;
            /* p_y - t_y; for y == a form 1 - p_y as r/(1+r). */
            z[y] = (y == sm[i].a) ? (eps - off) - sm[i].r / (1.0 + sm[i].r) : z[y] + off - on;
        }
    }
    return nc__sum_value(&total);
}

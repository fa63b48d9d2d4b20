/* loss_mse.c - squared error to the scaled one-hot target: (1/2)||z - s e_y||^2. */
#include "loss/loss.h"

double nc__loss_mse(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n, const int32_t *labels)
{
    nc__sum total[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    double s[64];
    size_t i0, i, k;
    for (i0 = 0; i0 < n; i0 += 64) {
        const size_t nb = n - i0 < 64 ? n - i0 : 64;
        for (i = 0; i < nb; i++) {
            double *z = Z + (i0 + i) * K;
            z[labels[i0 + i]] -= ctx->param[NC_LOSS_PARAM_TARGET_SCALE];
            s[i] = 0.0;
            for (k = 0; k < K; k++) s[i] += z[k] * z[k];
            s[i] *= 0.5;
        }
        nc__sum4_add_n(total, s, nb);
    }
    return nc__sum4_value(total);
}

/* The same on a transposed block, by the kernels' t_mse (vectorised across
 * samples; per sample the same sum in k order). */
double nc__loss_mse_t(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K, size_t n,
                      const int32_t *labels, double *scratch)
{
    const nc__kernels *portable = nc__kernels_get(NC__ISA_SCALAR);
    nc__sum total[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    (ctx->t_mse ? ctx->t_mse : portable->t_mse)(K, NC__SMALL_ROUND(n), n, Zt, ldt, labels,
                                                ctx->param[NC_LOSS_PARAM_TARGET_SCALE], scratch);
    nc__sum4_add_n(total, scratch, n);
    return nc__sum4_value(total);
}

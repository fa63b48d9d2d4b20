/* loss_mse.c - squared error to the scaled one-hot target: (1/2)||z - s e_y||^2. */
#include "loss.h"

double nc__loss_mse(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n, const int32_t *labels)
{
    nc__sum total[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    double s[64];
    size_t i0, i, k;
    for (i0 = 0; i0 < n; i0 += 64) {
        const size_t nb = n - i0 < 64 ? n - i0 : 64;
        for (i = 0; i < nb; i++) {
            double *z = Z + (i0 + i) * K;
            z[labels[i0 + i]] -= ctx->target_scale;
            s[i] = 0.0;
            for (k = 0; k < K; k++) s[i] += z[k] * z[k];
            s[i] *= 0.5;
        }
        nc__sum4_add_n(total, s, nb);
    }
    return nc__sum4_value(total);
}

/* The same on a transposed block: per sample the same sum in k order. */
double nc__loss_mse_t(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K, size_t n,
                      const int32_t *labels, double *scratch)
{
    nc__sum total[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    double *s = scratch;
    size_t i, k;
    for (i = 0; i < n; i++) {
        Zt[(size_t)labels[i] * ldt + i] -= ctx->target_scale;
        s[i] = 0.0;
    }
    for (k = 0; k < K; k++)
        for (i = 0; i < n; i++) s[i] += Zt[k * ldt + i] * Zt[k * ldt + i];
    for (i = 0; i < n; i++) s[i] *= 0.5;
    nc__sum4_add_n(total, s, n);
    return nc__sum4_value(total);
}

/* loss_mse.c - squared error to the scaled one-hot target: (1/2)||z - s e_y||^2. */
#include "loss.h"

double nc__loss_mse(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n, const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    size_t i, k;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K, s = 0.0;
        z[labels[i]] -= ctx->target_scale;
        for (k = 0; k < K; k++) s += z[k] * z[k];
        nc__sum_add(&total, 0.5 * s);
    }
    return nc__sum_value(&total);
}

/* The same on a transposed block: per sample the same sum in k order. */
double nc__loss_mse_t(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K, size_t n,
                      const int32_t *labels, double *scratch)
{
    nc__sum total = {0.0, 0.0};
    double *s = scratch;
    size_t i, k;
    for (i = 0; i < n; i++) {
        Zt[(size_t)labels[i] * ldt + i] -= ctx->target_scale;
        s[i] = 0.0;
    }
    for (k = 0; k < K; k++)
        for (i = 0; i < n; i++) s[i] += Zt[k * ldt + i] * Zt[k * ldt + i];
    for (i = 0; i < n; i++) nc__sum_add(&total, 0.5 * s[i]);
    return nc__sum_value(&total);
}

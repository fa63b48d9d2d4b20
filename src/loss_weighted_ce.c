/* loss_weighted_ce.c - class-weighted cross-entropy c_y CE(z, y). */
#include "loss.h"

double nc__loss_weighted_ce(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                            const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    size_t i;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K;
        const size_t y = (size_t)labels[i];
        const double zy = z[y];
        const nc__softmax sm = nc__softmax_inplace(z, K);
        nc__sum_add(&total, nc__ce_finish(z, K, y, zy, &sm, ctx->class_weights[y]));
    }
    return nc__sum_value(&total);
}

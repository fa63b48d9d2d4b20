/* loss_weighted_ce.c - class-weighted cross-entropy c_y CE(z, y). */
#include "loss/loss.h"

double nc__loss_weighted_ce(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                            const int32_t *labels)
{
    return nc__ce_family(ctx, Z, K, n, labels, 0.0, NULL, ctx->class_weights);
}

double nc__loss_weighted_ce_t(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K, size_t n,
                              const int32_t *labels, double *scratch)
{
    return nc__ce_family_t(ctx, Zt, ldt, K, n, labels, 0.0, NULL, ctx->class_weights, scratch);
}

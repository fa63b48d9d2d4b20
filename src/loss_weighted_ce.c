/* loss_weighted_ce.c - class-weighted cross-entropy c_y CE(z, y). */
#include "loss.h"

double nc__loss_weighted_ce(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                            const int32_t *labels)
{
    return nc__ce_family(ctx, Z, K, n, labels, 0.0, NULL, ctx->class_weights);
}

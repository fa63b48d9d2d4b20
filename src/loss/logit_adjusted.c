/* loss_logit_adjusted.c - logit-adjusted cross-entropy (Menon et al. 2021):
 * CE(z + tau log pi, y), pi_k = n_k / N. The shift is added before the
 * stable softmax, so the precision of CE carries over. */
#include "loss/loss.h"

double nc__loss_logit_adjusted(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                               const int32_t *labels)
{
    return nc__ce_family(ctx, Z, K, n, labels, ctx->param[NC_LOSS_PARAM_LOGIT_TAU],
                         ctx->log_prior, NULL);
}

double nc__loss_logit_adjusted_t(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K,
                                 size_t n, const int32_t *labels, double *scratch)
{
    return nc__ce_family_t(ctx, Zt, ldt, K, n, labels, ctx->param[NC_LOSS_PARAM_LOGIT_TAU],
                           ctx->log_prior, NULL, scratch);
}

/* loss_logit_adjusted.c - logit-adjusted cross-entropy (Menon et al. 2021):
 * CE(z + tau log pi, y), pi_k = n_k / N. The shift is added before the
 * stable softmax, so the precision of CE carries over. */
#include "loss.h"

double nc__loss_logit_adjusted(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                               const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    size_t i, k;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K;
        const size_t y = (size_t)labels[i];
        double zy;
        nc__softmax sm;
        for (k = 0; k < K; k++) z[k] += ctx->logit_tau * ctx->log_prior[k];
        zy = z[y];
        sm = nc__softmax_inplace(z, K);
        nc__sum_add(&total, nc__ce_finish(z, K, y, zy, &sm, 1.0));
    }
    return nc__sum_value(&total);
}

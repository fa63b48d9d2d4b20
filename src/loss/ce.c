/* loss_ce.c - softmax cross-entropy, stable to the last bit near zero loss.
 *
 * With m the largest logit (index a) and r = sum_{k != a} exp(z_k - m):
 *   loss = (m - z_y) + log1p(r)        (no cancellation when y == a)
 *   dL/dz = p - e_y, and for y == a the entry p_y - 1 is formed as -r p_a =
 *   -r/(1+r), which keeps full relative precision when the loss is tiny.
 * (nc__ce_family in loss.c, shared with the weighted and logit-adjusted CE.)
 */
#include "loss/loss.h"

double nc__loss_ce(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n, const int32_t *labels)
{
    return nc__ce_family(ctx, Z, K, n, labels, 0.0, NULL, NULL);
}

double nc__loss_ce_t(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K, size_t n,
                     const int32_t *labels, double *scratch)
{
    return nc__ce_family_t(ctx, Zt, ldt, K, n, labels, 0.0, NULL, NULL, scratch);
}

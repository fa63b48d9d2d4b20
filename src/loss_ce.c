/* loss_ce.c - softmax cross-entropy, stable to the last bit near zero loss.
 *
 * With m the largest logit (index a) and r = sum_{k != a} exp(z_k - m):
 *   loss = (m - z_y) + log1p(r)        (no cancellation when y == a)
 *   dL/dz = p - e_y, and for y == a the entry p_y - 1 is formed as -r/(1+r),
 *   which keeps full relative precision when the loss is tiny.
 */
#include "loss.h"

double nc__loss_ce(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n, const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    size_t i;
    (void)ctx;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K;
        const size_t y = (size_t)labels[i];
        const double zy = z[y];
        const nc__softmax sm = nc__softmax_inplace(z, K);
        nc__sum_add(&total, nc__ce_finish(z, K, y, zy, &sm, 1.0));
    }
    return nc__sum_value(&total);
}

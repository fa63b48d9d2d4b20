/* loss_ce.c - softmax cross-entropy, stable to the last bit near zero loss.
 *
 * With m the largest logit (index a) and r = sum_{k != a} exp(z_k - m):
 *   loss = (m - z_y) + log1p(r)        (no cancellation when y == a)
 *   p_k  = exp(z_k - m) / (1 + r),  p_a = 1 / (1 + r)
 *   dL/dz = p - e_y, and for y == a the entry p_y - 1 is formed as -r/(1+r),
 *   which keeps full relative precision when the loss is tiny.
 */
#include <math.h>

#include "loss.h"

double nc__loss_ce_value_grad(double *Z, size_t K, size_t n, const int32_t *labels)
{
    nc__sum total = {0.0, 0.0};
    size_t i, k;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K;
        const size_t y = (size_t)labels[i];
        size_t a = 0;
        double m, zy = z[y], r = 0.0, inv;
        for (k = 1; k < K; k++)
            if (z[k] > z[a]) a = k;
        m = z[a];
        for (k = 0; k < K; k++) {
            if (k == a) continue;
            z[k] = exp(z[k] - m);
            r += z[k];
        }
        nc__sum_add(&total, (m - zy) + log1p(r));
        inv = 1.0 / (1.0 + r);
        for (k = 0; k < K; k++) z[k] = (k == a) ? inv : z[k] * inv;
        z[y] = (y == a) ? -r * inv : z[y] - 1.0;
    }
    return nc__sum_value(&total);
}

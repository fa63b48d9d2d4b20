/* loss.c - the table of losses and the stable softmax they share. */
#include "loss/loss.h"

#include <math.h>

void nc__softmax_block(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n, nc__softmax *sm)
{
    const nc__kernels *portable = nc__kernels_get(NC__ISA_SCALAR);
    void (*vexp)(double *, size_t) = ctx->vexp ? ctx->vexp : portable->vexp;
    void (*vlog1p)(double *, size_t) = ctx->vlog1p ? ctx->vlog1p : portable->vlog1p;
    double r[NC__SOFTMAX_CHUNK];
    size_t i, k;
    for (i = 0; i < n; i++) {
        double *z = Z + i * K;
        size_t a = 0;
        double m;
        for (k = 1; k < K; k++)
            if (z[k] > z[a]) a = k;
        m = z[a];
        for (k = 0; k < K; k++) z[k] -= m;
        sm[i].a = a;
        sm[i].m = m;
    }
    vexp(Z, K * n);
    for (i = 0; i < n; i++) {
        double *z = Z + i * K, sum = 0.0, inv;
        for (k = 0; k < K; k++)
            if (k != sm[i].a) sum += z[k];
        inv = 1.0 / (1.0 + sum);
        for (k = 0; k < K; k++) z[k] *= inv;
        z[sm[i].a] = inv;
        sm[i].r = r[i] = sum;
    }
    vlog1p(r, n);
    for (i = 0; i < n; i++) sm[i].lr = r[i];
}

double nc__ce_family(const nc__loss_ctx *ctx, double *Z, size_t K, size_t n,
                     const int32_t *labels, double tau, const double *log_prior,
                     const double *class_weights)
{
    nc__sum total[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    nc__softmax sm[NC__SOFTMAX_CHUNK];
    double zy[NC__SOFTMAX_CHUNK]; /* z_y, then the loss of the sample */
    size_t i0, i, k;
    for (i0 = 0; i0 < n; i0 += NC__SOFTMAX_CHUNK) {
        const size_t nb = n - i0 < NC__SOFTMAX_CHUNK ? n - i0 : NC__SOFTMAX_CHUNK;
        double *Zb = Z + i0 * K;
        for (i = 0; i < nb; i++) {
            double *z = Zb + i * K;
            if (log_prior)
                for (k = 0; k < K; k++) z[k] += tau * log_prior[k];
            zy[i] = z[labels[i0 + i]];
        }
        nc__softmax_block(ctx, Zb, K, nb, sm);
        for (i = 0; i < nb; i++) {
            double *p = Zb + i * K;
            const size_t y = (size_t)labels[i0 + i];
            const double weight = class_weights ? class_weights[y] : 1.0;
            /* For y == a, p_y - 1 = -r/(1+r) keeps full precision at tiny
             * loss; p_a already holds 1/(1+r). */
            p[y] = (y == sm[i].a) ? -sm[i].r * p[y] : p[y] - 1.0;
            if (weight != 1.0)
                for (k = 0; k < K; k++) p[k] *= weight;
            zy[i] = weight * ((sm[i].m - zy[i]) + sm[i].lr);
        }
        nc__sum4_add_n(total, zy, nb); /* nb is a multiple of 4 but at the end */
    }
    return nc__sum4_value(total);
}

double nc__ce_family_t(const nc__loss_ctx *ctx, double *Zt, size_t ldt, size_t K, size_t n,
                       const int32_t *labels, double tau, const double *log_prior,
                       const double *class_weights, double *scratch)
{
    const nc__kernels *portable = nc__kernels_get(NC__ISA_SCALAR);
    nc__sum total[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    (ctx->t_ce ? ctx->t_ce : portable->t_ce)(K, NC__SMALL_ROUND(n), n, Zt, ldt, labels, tau,
                                             log_prior, class_weights, scratch);
    nc__sum4_add_n(total, scratch, n); /* the samples to the four sums as in nc__ce_family */
    return nc__sum4_value(total);
}

/* |p - t| <= sqrt(2) for probability vectors p and t. */
static double bound_prob(const nc__loss_ctx *c, size_t K, double zb)
{
    (void)c; (void)K; (void)zb;
    return sqrt(2.0);
}
static double bound_weighted(const nc__loss_ctx *c, size_t K, double zb)
{
    double w = 0.0;
    size_t k;
    (void)zb;
    for (k = 0; k < K; k++)
        if (c->class_weights[k] > w) w = c->class_weights[k];
    return sqrt(2.0) * w;
}
/* Focal: |dL/dz| <= (gamma * ratio + 1) sqrt(2) with ratio <= 1 + 2 zb + log K (= CE bound). */
static double bound_focal(const nc__loss_ctx *c, size_t K, double zb)
{
    const double gamma = c->param[NC_LOSS_PARAM_FOCAL_GAMMA];
    return sqrt(2.0) * (gamma * (1.0 + 2.0 * zb + log((double)K)) + 1.0);
}
static double bound_mse(const nc__loss_ctx *c, size_t K, double zb)
{
    return sqrt((double)K) * zb + c->param[NC_LOSS_PARAM_TARGET_SCALE];
}
static double bound_dot(const nc__loss_ctx *c, size_t K, double zb)
{
    const double t = c->param[NC_LOSS_PARAM_DOT_TARGET];
    (void)K;
    return (zb + t) / t;
}

/* Row l is loss l (designated initializers). */
static const nc__loss_def loss_table[] = {
    [NC_LOSS_CE] = {NC_LOSS_CE, "ce", nc__loss_ce, bound_prob, nc__loss_ce_t},
    [NC_LOSS_MSE] = {NC_LOSS_MSE, "mse", nc__loss_mse, bound_mse, nc__loss_mse_t},
    [NC_LOSS_LABEL_SMOOTHING] = {NC_LOSS_LABEL_SMOOTHING, "label_smoothing",
                                 nc__loss_label_smoothing, bound_prob, NULL},
    [NC_LOSS_FOCAL] = {NC_LOSS_FOCAL, "focal", nc__loss_focal, bound_focal, NULL},
    [NC_LOSS_WEIGHTED_CE] = {NC_LOSS_WEIGHTED_CE, "weighted_ce", nc__loss_weighted_ce,
                             bound_weighted, nc__loss_weighted_ce_t},
    [NC_LOSS_LOGIT_ADJUSTED] = {NC_LOSS_LOGIT_ADJUSTED, "logit_adjusted", nc__loss_logit_adjusted,
                                bound_prob, nc__loss_logit_adjusted_t},
    [NC_LOSS_DOT_REGRESSION] = {NC_LOSS_DOT_REGRESSION, "dot_regression", nc__loss_dot_regression,
                                bound_dot, NULL},
};

NC__STATIC_ASSERT(sizeof loss_table / sizeof loss_table[0] == NC__LOSS_COUNT, one_row_per_loss);

const nc__loss_def *nc__loss_lookup(nc_loss id)
{
    const int i = (int)id;
    return i >= 0 && i < NC__LOSS_COUNT && loss_table[i].value_grad ? &loss_table[i] : NULL;
}

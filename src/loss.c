/* loss.c - the table of losses and the stable softmax they share. */
#include "loss.h"

#include <math.h>

nc__softmax nc__softmax_inplace(double *z, size_t K)
{
    nc__softmax sm;
    size_t k;
    double inv;
    sm.a = 0;
    for (k = 1; k < K; k++)
        if (z[k] > z[sm.a]) sm.a = k;
    sm.m = z[sm.a];
    sm.r = 0.0;
    for (k = 0; k < K; k++) {
        if (k == sm.a) continue;
        z[k] = exp(z[k] - sm.m);
        sm.r += z[k];
    }
    inv = 1.0 / (1.0 + sm.r);
    for (k = 0; k < K; k++) z[k] = (k == sm.a) ? inv : z[k] * inv;
    return sm;
}

double nc__ce_finish(double *p, size_t K, size_t y, double zy, const nc__softmax *sm,
                     double weight)
{
    size_t k;
    /* For y == a, p_y - 1 = -r/(1+r) keeps full precision at tiny loss. */
    const double gy = (y == sm->a) ? -sm->r / (1.0 + sm->r) : p[y] - 1.0;
    p[y] = gy;
    if (weight != 1.0)
        for (k = 0; k < K; k++) p[k] *= weight;
    return weight * ((sm->m - zy) + log1p(sm->r));
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
    return sqrt(2.0) * (c->focal_gamma * (1.0 + 2.0 * zb + log((double)K)) + 1.0);
}
static double bound_mse(const nc__loss_ctx *c, size_t K, double zb)
{
    return sqrt((double)K) * zb + c->target_scale;
}
static double bound_dot(const nc__loss_ctx *c, size_t K, double zb)
{
    (void)K;
    return (zb + c->dot_target) / c->dot_target;
}

static const nc__loss_def loss_table[] = {
    {NC_LOSS_CE, "ce", nc__loss_ce, bound_prob},
    {NC_LOSS_MSE, "mse", nc__loss_mse, bound_mse},
    {NC_LOSS_LABEL_SMOOTHING, "label_smoothing", nc__loss_label_smoothing, bound_prob},
    {NC_LOSS_FOCAL, "focal", nc__loss_focal, bound_focal},
    {NC_LOSS_WEIGHTED_CE, "weighted_ce", nc__loss_weighted_ce, bound_weighted},
    {NC_LOSS_LOGIT_ADJUSTED, "logit_adjusted", nc__loss_logit_adjusted, bound_prob},
    {NC_LOSS_DOT_REGRESSION, "dot_regression", nc__loss_dot_regression, bound_dot},
};

const nc__loss_def *nc__loss_lookup(nc_loss id)
{
    size_t i;
    for (i = 0; i < sizeof loss_table / sizeof loss_table[0]; i++)
        if (loss_table[i].id == id) return &loss_table[i];
    return NULL;
}

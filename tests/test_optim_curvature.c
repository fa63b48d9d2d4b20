/*
 * test_optim_curvature.c - the second-order check (nc_curvature):
 *  - its extreme eigenvalues against a dense Hessian built independently, by
 *    second differences of the objective alone (no gradient code), on small
 *    models of every feature model, loss, depth 1-3, with and without bias
 *    (ReLU: on the face of a point with some h held at 0);
 *  - closed forms: at W = H = 0 the single-layer MSE model has
 *    lambda_min = lambda - sqrt(n_max)/N (a strict saddle when that is
 *    negative), deep models (M >= 2) have the Hessian of the weight decay
 *    there (a local minimum, lambda_min = min(lambda_W, lambda_H));
 *  - the model's state is unchanged, bit for bit; every error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "ncollapse.h"
#include "harness.h"

static double objective_at(nc_model *m, const double *x)
{
    double f = NAN;
    nc_model_set_variables(m, x);
    nc_model_objective(m, &f);
    return f;
}

/* Dense Hessian of the free variables by second differences of F:
 * H_ij = (F(x+hi+hj) - F(x+hi-hj) - F(x-hi+hj) + F(x-hi-hj)) / (4 h^2). */
static void dense_extremes(nc_model *m, const unsigned char *fixed, double *lmin, double *lmax)
{
    const size_t n = nc_model_num_variables(m);
    double *x0 = malloc(n * sizeof *x0), *x = malloc(n * sizeof *x), *Hs, *ev;
    size_t *idx = malloc(n * sizeof *idx), nf = 0, a, b;
    const double h = 1e-4;
    nc_model_get_variables(m, x0);
    for (a = 0; a < n; a++)
        if (!fixed || !fixed[a]) idx[nf++] = a;
    Hs = calloc(nf * nf, sizeof *Hs);
    ev = malloc(nf * sizeof *ev);
    for (a = 0; a < nf; a++)
        for (b = a; b < nf; b++) {
            double f[4];
            int s;
            for (s = 0; s < 4; s++) {
                memcpy(x, x0, n * sizeof *x);
                x[idx[a]] += (s < 2 ? h : -h);
                x[idx[b]] += (s % 2 == 0 ? h : -h);
                f[s] = objective_at(m, x);
            }
            Hs[a * nf + b] = Hs[b * nf + a] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h);
        }
    LAPACKE_dsyev(LAPACK_COL_MAJOR, 'N', 'U', (int)nf, Hs, (int)nf, ev);
    *lmin = ev[0];
    *lmax = ev[nf - 1];
    nc_model_set_variables(m, x0);
    free(x0); free(x); free(Hs); free(ev); free(idx);
}

static void against_dense(nc_features feat, nc_loss loss, size_t depth, int bias, uint64_t seed)
{
    const size_t counts[3] = {3, 2, 2}, d = 3, K = 3, N = 7;
    nc_model *m = NULL;
    nc_curvature *c = NULL;
    double lmin, lmax, *x0, *x1, H[21];
    unsigned char *fixed;
    size_t n, i, hoff;
    char what[200];
    nc_model_create_counts(&m, d, K, counts);
    nc_model_set_loss(m, loss);
    nc_model_set_features(m, feat);
    nc_model_set_depth(m, depth);
    nc_model_set_bias(m, bias);
    nc_model_set_weight_decay(m, 0.05, 0.03, 0.02);
    nc_model_init_gaussian(m, 0.8, seed);
    if (feat == NC_FEATURES_RELU) { /* hold a few h at the bound */
        nc_model_get_H(m, H, d);
        H[0] = H[4] = H[11] = 0.0;
        nc_model_set_H(m, H, d);
    }
    n = nc_model_num_variables(m);
    hoff = (depth - 1) * d * d + d * K;
    x0 = malloc(n * sizeof *x0);
    x1 = malloc(n * sizeof *x1);
    fixed = calloc(n, 1);
    nc_model_get_variables(m, x0);
    for (i = hoff; i < hoff + d * N; i++) fixed[i] = feat == NC_FEATURES_RELU && x0[i] == 0.0;
    dense_extremes(m, fixed, &lmin, &lmax);
    nc_curvature_create(&c, m);
    nc_curvature_set_lanczos(c, n, 1e-10, 7);
    nc_test_int(nc_curvature_compute(c), NC_SUCCESS, "compute");
    snprintf(what, sizeof what, "features %d loss %d depth %zu bias %d: lambda_min vs dense",
             (int)feat, (int)loss, depth, bias);
    nc_test_abs(nc_curvature_min_eigenvalue(c), lmin, 1e-5 * fabs(lmax), what);
    snprintf(what, sizeof what, "features %d loss %d depth %zu bias %d: lambda_max vs dense",
             (int)feat, (int)loss, depth, bias);
    nc_test_abs(nc_curvature_max_eigenvalue(c), lmax, 1e-5 * fabs(lmax), what);
    nc_test_int(nc_curvature_point(c), NC_POINT_NOT_STATIONARY, "a random point is not stationary");
    nc_test_int(nc_curvature_active_bounds(c), feat == NC_FEATURES_RELU ? 3 : 0, "active bounds");
    nc_model_get_variables(m, x1);
    nc_test_true(memcmp(x0, x1, n * sizeof *x0) == 0, "the model's state is unchanged, bit for bit");
    nc_test_int(nc_model_get_features(m), feat, "the model's features are unchanged");
    nc_curvature_destroy(c);
    nc_model_destroy(m);
    free(x0); free(x1); free(fixed);
}

/* MSE at W = H = 0: F(tW, tH) = const - (t^2/N)<W H, Y> + t^2 (lW|W|^2 + lH|H|^2)/2
 * + O(t^4), so for lW = lH = lambda the Hessian's lowest eigenvalue is
 * lambda - sigma_max(Y)/N = lambda - sqrt(n_max)/N (Y one-hot). */
static void zero_single_layer(void)
{
    const size_t counts[4] = {8, 5, 4, 3}, N = 20;
    const double lam = 0.02, want = lam - sqrt(8.0) / (double)N;
    nc_model *m = NULL;
    nc_curvature *c = NULL;
    double *v;
    size_t n, i;
    nc_model_create_counts(&m, 6, 4, counts);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_set_weight_decay(m, lam, lam, 0.0);
    nc_curvature_create(&c, m);
    nc_test_int(nc_curvature_compute(c), NC_SUCCESS, "zero, M = 1: compute");
    nc_test_int(nc_curvature_point(c), NC_POINT_STRICT_SADDLE, "zero, M = 1: a strict saddle");
    nc_test_rel(nc_curvature_min_eigenvalue(c), want, 1e-7, "zero, M = 1: lambda - sqrt(n_max)/N");
    nc_test_abs(nc_curvature_gradient_norm(c), 0.0, 1e-15, "zero, M = 1: stationary");
    n = nc_model_num_variables(m);
    v = malloc(n * sizeof *v);
    nc_test_int(nc_curvature_get_direction(c, v), NC_SUCCESS, "zero, M = 1: direction");
    {
        double nrm = 0.0, f0, f1;
        for (i = 0; i < n; i++) nrm += v[i] * v[i];
        nc_test_rel(sqrt(nrm), 1.0, 1e-12, "zero, M = 1: a unit direction");
        nc_model_objective(m, &f0);
        for (i = 0; i < n; i++) v[i] *= 1e-3;
        nc_model_set_variables(m, v);
        nc_model_objective(m, &f1);
        nc_test_rel(f1 - f0, 0.5 * want * 1e-6, 1e-3, "zero, M = 1: F decreases by lambda_min t^2/2");
    }
    free(v);
    nc_curvature_destroy(c);
    nc_model_destroy(m);
}

static void zero_deep(size_t depth)
{
    const size_t counts[4] = {8, 5, 4, 3};
    nc_model *m = NULL;
    nc_curvature *c = NULL;
    char what[120];
    nc_model_create_counts(&m, 5, 4, counts);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_set_depth(m, depth);
    nc_model_set_weight_decay(m, 0.03, 0.02, 0.0);
    nc_curvature_create(&c, m);
    nc_test_int(nc_curvature_compute(c), NC_SUCCESS, "zero, deep: compute");
    snprintf(what, sizeof what, "zero, M = %zu: a local minimum", depth);
    nc_test_int(nc_curvature_point(c), NC_POINT_LOCAL_MINIMUM, what);
    snprintf(what, sizeof what, "zero, M = %zu: lambda_min = min(lambda_W, lambda_H)", depth);
    nc_test_rel(nc_curvature_min_eigenvalue(c), 0.02, 1e-7, what);
    snprintf(what, sizeof what, "zero, M = %zu: lambda_max = max(lambda_W, lambda_H)", depth);
    nc_test_rel(nc_curvature_max_eigenvalue(c), 0.03, 1e-7, what);
    nc_curvature_destroy(c);
    nc_model_destroy(m);
}

static void errors(void)
{
    const size_t counts[2] = {2, 2};
    nc_model *m = NULL;
    nc_curvature *c = NULL;
    double v[4];
    nc_test_int(nc_curvature_create(NULL, NULL), NC_ERR_NULL_ARGUMENT, "create: NULL");
    nc_test_int(nc_curvature_create(&c, NULL), NC_ERR_NULL_ARGUMENT, "create: NULL model");
    nc_test_true(c == NULL, "create: NULL on failure");
    nc_model_create_counts(&m, 2, 2, counts);
    nc_curvature_create(&c, m);
    nc_test_int(nc_curvature_set_lanczos(c, 0, 1e-6, 1), NC_ERR_INVALID_VALUE, "0 steps");
    nc_test_int(nc_curvature_set_lanczos(c, 10, 0.0, 1), NC_ERR_INVALID_VALUE, "rtol 0");
    nc_test_int(nc_curvature_set_lanczos(c, 10, NAN, 1), NC_ERR_INVALID_VALUE, "rtol NaN");
    nc_test_int(nc_curvature_set_tolerances(c, -1.0, 1e-6), NC_ERR_INVALID_VALUE, "gtol < 0");
    nc_test_int(nc_curvature_set_tolerances(c, 1e-8, INFINITY), NC_ERR_INVALID_VALUE, "ctol Inf");
    nc_test_true(strlen(nc_curvature_last_error(c)) > 0, "a message says what");
    nc_test_int(nc_curvature_get_direction(c, v), NC_ERR_UNAVAILABLE, "no direction before compute");
    nc_test_true(isnan(nc_curvature_min_eigenvalue(c)), "NaN before compute");
    nc_test_int(nc_curvature_compute(NULL), NC_ERR_NULL_ARGUMENT, "compute: NULL");
    nc_test_true(strcmp(nc_point_name(NC_POINT_STRICT_SADDLE), "strict saddle") == 0, "point name");
    nc_test_true(strcmp(nc_point_name((nc_point)17), "unknown") == 0, "unknown point name");
    nc_curvature_destroy(c);
    nc_curvature_destroy(NULL);
    nc_model_destroy(m);
}

int main(void)
{
    const nc_loss losses[7] = {NC_LOSS_CE, NC_LOSS_MSE, NC_LOSS_LABEL_SMOOTHING, NC_LOSS_FOCAL,
                               NC_LOSS_WEIGHTED_CE, NC_LOSS_LOGIT_ADJUSTED,
                               NC_LOSS_DOT_REGRESSION};
    size_t f, l, depth;
    int bias;
    uint64_t seed = 1;
    for (f = 0; f < 2; f++)
        for (l = 0; l < 7; l++)
            for (depth = 1; depth <= 3; depth++)
                for (bias = 0; bias <= 1; bias++)
                    against_dense((nc_features)f, losses[l], depth, bias, seed++);
    zero_single_layer();
    zero_deep(2);
    zero_deep(3);
    errors();
    return nc_test_summary("test_optim_curvature");
}

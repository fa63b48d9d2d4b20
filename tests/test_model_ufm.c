/*
 * test_model_ufm.c - the UFM model and the gradient-descent optimizer:
 * finite-difference gradients, loss precision, the balanced CE closed form,
 * reproducibility, the fused step against an unfused reference, every
 * status code of the model and optimizer API, and the range of every loss
 * parameter (values at and beside each bound, NaN, Inf).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ncollapse.h"
/* Deterministic test data: the LCG of testutil.h, independent of the library's RNG. */
#define NC_TEST_LCG_SEED 12345
#include "testutil.h"

static nc_model *make_model(size_t d, size_t K, const size_t *counts, nc_loss loss, int bias,
                            double lW, double lH, double lb)
{
    nc_model *m = NULL;
    size_t N = 0, k;
    double *W, *H, b[16];
    for (k = 0; k < K; k++) N += counts[k];
    nc_test_int(nc_model_create_counts(&m, d, K, counts), NC_SUCCESS, "create_counts");
    W = (double *)malloc(d * K * sizeof(double));
    H = (double *)malloc(d * N * sizeof(double));
    fill(W, d * K, 1.0);
    fill(H, d * N, 1.0);
    fill(b, K, 0.5);
    nc_model_set_W(m, W, d);
    nc_model_set_H(m, H, d);
    nc_model_set_b(m, b);
    nc_model_set_loss(m, loss);
    nc_model_set_bias(m, bias);
    nc_model_set_weight_decay(m, lW, lH, lb);
    free(W);
    free(H);
    return m;
}

/* Objective with one coordinate of W, H or b moved by delta. */
static double f_at(nc_model *m, int which, size_t idx, double delta, double *W, double *H,
                   double *b)
{
    size_t d = nc_model_dim(m), K = nc_model_num_classes(m);
    double f, *x = which == 0 ? W : which == 1 ? H : b, save = x[idx];
    x[idx] = save + delta;
    if (which == 0) nc_model_set_W(m, W, d);
    if (which == 1) nc_model_set_H(m, H, d);
    if (which == 2) nc_model_set_b(m, b);
    nc_model_objective(m, &f);
    x[idx] = save;
    if (which == 0) nc_model_set_W(m, W, d);
    if (which == 1) nc_model_set_H(m, H, d);
    if (which == 2) nc_model_set_b(m, b);
    (void)K;
    return f;
}

/* Fourth-order central differences of every coordinate against the
 * analytic gradient; error relative to the gradient's norm. */
static void check_gradient(nc_loss loss, int bias, const char *name)
{
    const size_t d = 5, K = 4, counts[4] = {7, 4, 2, 3};
    const size_t N = 16;
    nc_model *m = make_model(d, K, counts, loss, bias, 0.03, 0.02, 0.05);
    double W[20], H[80], b[4], gW[20], gH[80], gb[4], f, err2 = 0, g2 = 0;
    const double h = 1e-3;
    size_t i;
    int which;
    char desc[128];
    nc_model_get_W(m, W, d);
    nc_model_get_H(m, H, d);
    nc_model_get_b(m, b);
    nc_test_int(nc_model_gradient(m, &f, gW, d, gH, d, gb), NC_SUCCESS, "gradient status");
    for (which = 0; which < 3; which++) {
        size_t n = which == 0 ? d * K : which == 1 ? d * N : K;
        const double *g = which == 0 ? gW : which == 1 ? gH : gb;
        for (i = 0; i < n; i++) {
            double fd = (f_at(m, which, i, -2 * h, W, H, b) - 8 * f_at(m, which, i, -h, W, H, b) +
                         8 * f_at(m, which, i, h, W, H, b) - f_at(m, which, i, 2 * h, W, H, b)) /
                        (12 * h);
            err2 += (fd - g[i]) * (fd - g[i]);
            g2 += g[i] * g[i];
        }
    }
    if (!bias)
        for (i = 0; i < K; i++) nc_test_abs(gb[i], 0.0, 0.0, "gb is zero without bias");
    snprintf(desc, sizeof desc, "finite-difference gradient, %s", name);
    nc_test_abs(sqrt(err2 / g2), 0.0, 1e-6, desc);
    nc_model_destroy(m);
}

/* CE near zero loss keeps full relative precision (log1p, -r/(1+r)):
 * three samples, h_i = e_i, W = 100 I, so every logit vector is 100 e_y. */
static void check_ce_precision(void)
{
    nc_model *m = NULL;
    const int32_t y[3] = {0, 1, 2};
    const double W[9] = {100, 0, 0, 0, 100, 0, 0, 0, 100}, H[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    double f, gW[9], gH[9];
    const double r = 2.0 * exp(-100.0), want = log1p(r);
    nc_test_int(nc_model_create(&m, 3, 3, 3, y), NC_SUCCESS, "create 3 x 3");
    nc_model_set_W(m, W, 3);
    nc_model_set_H(m, H, 3);
    nc_test_int(nc_model_gradient(m, &f, gW, 3, gH, 3, NULL), NC_SUCCESS, "gradient");
    nc_test_rel(f, want, 1e-14, "CE loss 7.4e-44 to full precision");
    /* gW[k][j] = (1/N) dL_j/dz_k: -r/(1+r) on the diagonal, e^-100/(1+r) off it. */
    nc_test_rel(gW[0], -r / (1 + r) / 3, 1e-14, "CE gradient of the correct logit to full precision");
    nc_test_rel(gW[1], exp(-100.0) / (1 + r) / 3, 1e-14, "CE gradient of a wrong logit");
    nc_model_destroy(m);
}

/*
 * Balanced CE UFM with bias against the closed form of THEORY.md section 1,
 * converted to the library's "halves" convention: lambda = sqrt(lW lH).
 * For lambda sqrt(n) < 1/K: Z = W Hbar = m (I - J/K) with
 * m = log(1/(lambda sqrt(n)) - (K-1)), ||w_k||^2 = sqrt(lH/lW) sqrt(n) m (K-1)/K,
 * ||h_k||^2 = sqrt(lW/lH) m (K-1)/(K sqrt(n)), b = 0, and the singular values
 * of Z D^{1/2} are sqrt(n) m (K-1 of them).
 */
static void check_balanced_closed_form(void)
{
    const size_t d = 6, K = 4, n = 50, N = 200;
    const size_t counts[4] = {50, 50, 50, 50};
    const double lW = 0.004, lH = 0.025; /* lambda = 0.01, lambda sqrt(n) = 0.0707 < 1/4 */
    const double lam = sqrt(lW * lH);
    const double mm = log(1.0 / (lam * sqrt((double)n)) - (double)(K - 1));
    const double w2 = sqrt(lH / lW) * sqrt((double)n) * mm * (double)(K - 1) / (double)K;
    const double h2 = sqrt(lW / lH) * mm * (double)(K - 1) / ((double)K * sqrt((double)n));
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    double W[24], H[6 * 200], b[4], zmax = 0;
    size_t i, k, j;
    nc_status st;
    nc_model_create_counts(&m, d, K, counts);
    nc_model_set_bias(m, 1);
    nc_model_set_weight_decay(m, lW, lH, 0.01);
    nc_model_init_gaussian(m, 0.5, 7);
    nc_optimizer_create(&o, m, NC_OPT_GD);
    nc_optimizer_set_learning_rate(o, 0.5);
    /* The features' gradient carries 1/N: their step is scaled by N. */
    nc_optimizer_set_feature_learning_rate(o, 0.5 * (double)N / (double)K);
    nc_optimizer_set_momentum(o, 0.9);
    nc_optimizer_set_max_iterations(o, 200000);
    nc_optimizer_set_gradient_tolerance(o, 1e-13);
    st = nc_optimizer_run(o);
    nc_test_int(st, NC_STOP_GRADIENT_TOLERANCE, "balanced CE run reaches the tolerance");
    nc_test_true(nc_optimizer_gradient_norm(o) <= 1e-13, "certified gradient norm <= 1e-13");
    nc_model_get_W(m, W, d);
    nc_model_get_H(m, H, d);
    nc_model_get_b(m, b);
    for (k = 0; k < K; k++) {
        double s = 0;
        for (j = 0; j < d; j++) s += W[k * d + j] * W[k * d + j];
        nc_test_rel(s, w2, 1e-6, "||w_k||^2 matches the closed form");
        nc_test_abs(b[k], 0.0, 1e-9, "bias is zero");
    }
    for (i = 0; i < N; i++) {
        double s = 0;
        for (j = 0; j < d; j++) s += H[i * d + j] * H[i * d + j];
        nc_test_rel(s, h2, 1e-6, "||h_i||^2 matches the closed form");
    }
    /* Logits of each sample: m (e_y - 1/K). */
    for (i = 0; i < N; i += 37) {
        const size_t y = i / n;
        for (k = 0; k < K; k++) {
            double z = 0, want = mm * ((k == y ? 1.0 : 0.0) - 1.0 / (double)K);
            for (j = 0; j < d; j++) z += W[k * d + j] * H[i * d + j];
            if (fabs(z - want) > zmax) zmax = fabs(z - want);
        }
    }
    nc_test_abs(zmax / mm, 0.0, 1e-6, "logits W h_i = m (e_y - 1/K)");
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

/* Same seed and build: bit-identical state after training. */
static void check_reproducible(void)
{
    const size_t counts[3] = {30, 20, 10};
    nc_model *a = NULL, *c = NULL;
    nc_optimizer *oa = NULL, *oc = NULL;
    double Wa[24], Wc[24], Ha[8 * 60], Hc[8 * 60];
    nc_model_create_counts(&a, 8, 3, counts);
    nc_model_create_counts(&c, 8, 3, counts);
    nc_model_init_gaussian(a, 0.1, 2024);
    nc_model_init_gaussian(c, 0.1, 2024);
    nc_model_get_H(a, Ha, 8);
    nc_model_get_H(c, Hc, 8);
    nc_test_true(memcmp(Ha, Hc, sizeof Ha) == 0, "same seed, identical initial H");
    nc_model_init_gaussian(c, 0.1, 2025);
    nc_model_get_H(c, Hc, 8);
    nc_test_true(memcmp(Ha, Hc, sizeof Ha) != 0, "different seed, different H");
    nc_model_init_gaussian(c, 0.1, 2024);
    nc_optimizer_create(&oa, a, NC_OPT_GD);
    nc_optimizer_create(&oc, c, NC_OPT_GD);
    nc_optimizer_set_momentum(oa, 0.9);
    nc_optimizer_set_momentum(oc, 0.9);
    nc_optimizer_set_max_iterations(oa, 300);
    nc_optimizer_set_max_iterations(oc, 300);
    nc_optimizer_run(oa);
    nc_optimizer_run(oc);
    nc_model_get_W(a, Wa, 8);
    nc_model_get_W(c, Wc, 8);
    nc_model_get_H(a, Ha, 8);
    nc_model_get_H(c, Hc, 8);
    nc_test_true(memcmp(Wa, Wc, sizeof Wa) == 0, "same seed, bit-identical W after 300 steps");
    nc_test_true(memcmp(Ha, Hc, sizeof Ha) == 0, "same seed, bit-identical H after 300 steps");
    nc_optimizer_destroy(oa);
    nc_optimizer_destroy(oc);
    nc_model_destroy(a);
    nc_model_destroy(c);
}

/*
 * The fused step (one pass over H) against an unfused reference built from
 * the public gradient: v <- mu v + g, x <- x - lr v, 100 steps, for CE and
 * MSE with bias and a separate feature learning rate. The block size of the
 * pass is smaller than N here (N = 3000), so several blocks are exercised.
 */
static void check_fused_vs_unfused(nc_loss loss)
{
    const size_t d = 12, K = 5, counts[5] = {1200, 800, 500, 300, 200}, N = 3000;
    const double lr = 0.05, lrH = 40.0, mu = 0.9;
    nc_model *a = NULL, *r = NULL;
    nc_optimizer *o = NULL;
    double *W = (double *)malloc(d * K * sizeof(double)), *H = (double *)malloc(d * N * sizeof(double));
    double *gW = (double *)malloc(d * K * sizeof(double)), *gH = (double *)malloc(d * N * sizeof(double));
    double *vW = (double *)calloc(d * K, sizeof(double)), *vH = (double *)calloc(d * N, sizeof(double));
    double b[5], gb[5], vb[5] = {0}, *Wa = (double *)malloc(d * K * sizeof(double));
    double *Ha = (double *)malloc(d * N * sizeof(double)), ba[5];
    double errW = 0, errH = 0, errb = 0, nW = 0, nH = 0, nb = 0;
    size_t t, i;
    nc_model_create_counts(&a, d, K, counts);
    nc_model_set_loss(a, loss);
    nc_model_set_bias(a, 1);
    nc_model_set_weight_decay(a, 5e-3, 1e-3, 1e-2);
    nc_model_init_gaussian(a, 0.3, 99);
    fill(b, K, 0.2);
    nc_model_set_b(a, b);
    nc_model_copy(&r, a);
    nc_optimizer_create(&o, a, NC_OPT_GD);
    nc_optimizer_set_learning_rate(o, lr);
    nc_optimizer_set_feature_learning_rate(o, lrH);
    nc_optimizer_set_momentum(o, mu);
    for (t = 0; t < 100; t++) nc_optimizer_step(o);
    nc_model_get_W(r, W, d);
    nc_model_get_H(r, H, d);
    nc_model_get_b(r, b);
    for (t = 0; t < 100; t++) {
        nc_model_gradient(r, NULL, gW, d, gH, d, gb);
        for (i = 0; i < d * K; i++) { vW[i] = mu * vW[i] + gW[i]; W[i] -= lr * vW[i]; }
        for (i = 0; i < d * N; i++) { vH[i] = mu * vH[i] + gH[i]; H[i] -= lrH * vH[i]; }
        for (i = 0; i < K; i++) { vb[i] = mu * vb[i] + gb[i]; b[i] -= lr * vb[i]; }
        nc_model_set_W(r, W, d);
        nc_model_set_H(r, H, d);
        nc_model_set_b(r, b);
    }
    nc_model_get_W(a, Wa, d);
    nc_model_get_H(a, Ha, d);
    nc_model_get_b(a, ba);
    for (i = 0; i < d * K; i++) { errW += (Wa[i] - W[i]) * (Wa[i] - W[i]); nW += W[i] * W[i]; }
    for (i = 0; i < d * N; i++) { errH += (Ha[i] - H[i]) * (Ha[i] - H[i]); nH += H[i] * H[i]; }
    for (i = 0; i < K; i++) { errb += (ba[i] - b[i]) * (ba[i] - b[i]); nb += b[i] * b[i]; }
    nc_test_abs(sqrt(errW / nW), 0.0, 1e-12, "fused == unfused after 100 steps: W");
    nc_test_abs(sqrt(errH / nH), 0.0, 1e-12, "fused == unfused after 100 steps: H");
    nc_test_abs(sqrt(errb / nb), 0.0, 1e-12, "fused == unfused after 100 steps: b");
    nc_optimizer_destroy(o);
    nc_model_destroy(a);
    nc_model_destroy(r);
    free(W); free(H); free(gW); free(gH); free(vW); free(vH); free(Wa); free(Ha);
}

/* Divergence keeps the last finite iterate, and nothing moves on retry. */
static void check_divergence(void)
{
    const size_t counts[3] = {10, 6, 4};
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    double W[12], H[80], W2[12], H2[80], f;
    size_t i;
    int finite = 1;
    nc_status st;
    nc_model_create_counts(&m, 4, 3, counts);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_init_gaussian(m, 1.0, 5);
    nc_optimizer_create(&o, m, NC_OPT_GD);
    nc_optimizer_set_learning_rate(o, 50.0);
    nc_optimizer_set_max_iterations(o, 100000);
    st = nc_optimizer_run(o);
    nc_test_int(st, NC_ERR_DIVERGED, "a learning rate of 50 diverges");
    nc_test_true(strlen(nc_optimizer_last_error(o)) > 0, "divergence has a message");
    nc_test_true(nc_optimizer_iterations(o) > 0 && nc_optimizer_iterations(o) < 100000,
                 "divergence stops early");
    nc_model_get_W(m, W, 4);
    nc_model_get_H(m, H, 4);
    for (i = 0; i < 12; i++) finite &= isfinite(W[i]);
    for (i = 0; i < 80; i++) finite &= isfinite(H[i]);
    nc_test_true(finite, "the model holds a finite iterate after divergence");
    nc_test_int(nc_model_objective(m, &f), NC_SUCCESS, "its objective evaluates");
    nc_test_true(isfinite(f), "its objective is finite");
    nc_test_true(isfinite(nc_optimizer_objective(o)), "the optimizer's last objective is finite");
    nc_test_int(nc_optimizer_step(o), NC_ERR_DIVERGED, "a further step is refused");
    nc_model_get_W(m, W2, 4);
    nc_model_get_H(m, H2, 4);
    nc_test_true(memcmp(W, W2, sizeof W) == 0 && memcmp(H, H2, sizeof H) == 0,
                 "a refused step changes nothing");
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

static int stop_at_five(const nc_model *m, size_t it, double f, double g, void *u)
{
    (void)m; (void)f; (void)g;
    ++*(int *)u;
    return it >= 5;
}

/* Every status code the model and optimizer API can return. */
static void check_errors(void)
{
    const int32_t labels[5] = {0, 1, 2, 1, 0}, bad_hi[5] = {0, 1, 3, 1, 0},
                  bad_lo[5] = {0, -1, 2, 1, 0}, missing[5] = {0, 1, 1, 1, 0};
    const size_t zero_counts[3] = {2, 0, 1};
    nc_model *m = NULL, *big = NULL, *c = NULL;
    nc_optimizer *o = NULL;
    double W[6] = {0}, H[10] = {0}, b[3] = {0}, f;
    int calls = 0;
    nc_status s;

    nc_test_int(nc_model_create(NULL, 2, 3, 5, labels), NC_ERR_NULL_ARGUMENT, "NULL out");
    nc_test_int(nc_model_create(&m, 2, 3, 5, NULL), NC_ERR_NULL_ARGUMENT, "NULL labels");
    nc_test_true(m == NULL, "failed create leaves NULL");
    nc_test_int(nc_model_create(&m, 0, 3, 5, labels), NC_ERR_INVALID_SIZE, "d = 0");
    nc_test_int(nc_model_create(&m, 2, 1, 5, labels), NC_ERR_INVALID_SIZE, "K = 1");
    nc_test_int(nc_model_create(&m, 2, 3, 0, labels), NC_ERR_INVALID_SIZE, "N = 0");
    nc_test_int(nc_model_create(&m, (size_t)1 << 62, 3, 5, labels), NC_ERR_INVALID_SIZE,
                "d * N overflows");
    nc_test_int(nc_model_create(&m, 2, 3, 5, bad_hi), NC_ERR_LABEL_OUT_OF_RANGE, "label = K");
    nc_test_int(nc_model_create(&m, 2, 3, 5, bad_lo), NC_ERR_LABEL_OUT_OF_RANGE, "label < 0");
    nc_test_int(nc_model_create(&m, 2, 3, 5, missing), NC_ERR_EMPTY_CLASS, "empty class");
    nc_test_int(nc_model_create_counts(&m, 2, 3, zero_counts), NC_ERR_EMPTY_CLASS,
                "empty class by counts");
    /* d = 2^20, N = 3 x 2^20: H needs 24 TB, which passes the size checks
     * (BLAS int limits, size_t) but cannot be allocated. */
    {
        const size_t huge[3] = {(size_t)1 << 20, (size_t)1 << 20, (size_t)1 << 20};
        nc_test_int(nc_model_create_counts(&big, (size_t)1 << 20, 3, huge), NC_ERR_OUT_OF_MEMORY,
                    "out of memory");
        nc_test_true(big == NULL, "failed allocation leaves NULL");
    }
    nc_model_destroy(big);
    nc_test_int(nc_model_create(&m, 2, 3, 5, labels), NC_SUCCESS, "valid create");

    nc_test_int(nc_model_set_W(m, W, 1), NC_ERR_SIZE_MISMATCH, "ldw < d");
    nc_test_true(strlen(nc_model_last_error(m)) > 0, "mismatch has a message");
    nc_test_int(nc_model_set_H(m, H, 1), NC_ERR_SIZE_MISMATCH, "ldh < d");
    nc_test_int(nc_model_get_W(m, W, 1), NC_ERR_SIZE_MISMATCH, "get ldw < d");
    nc_test_int(nc_model_set_W(m, NULL, 2), NC_ERR_NULL_ARGUMENT, "NULL W");
    H[3] = NAN;
    nc_test_int(nc_model_set_H(m, H, 2), NC_ERR_NON_FINITE, "NaN in H");
    H[3] = 0;
    W[5] = INFINITY;
    nc_test_int(nc_model_set_W(m, W, 2), NC_ERR_NON_FINITE, "Inf in W");
    W[5] = 0;
    b[1] = NAN;
    nc_test_int(nc_model_set_b(m, b), NC_ERR_NON_FINITE, "NaN in b");
    nc_test_int(nc_model_set_weight_decay(m, -1, 0, 0), NC_ERR_INVALID_VALUE, "negative decay");
    nc_test_int(nc_model_set_weight_decay(m, NAN, 0, 0), NC_ERR_NON_FINITE, "NaN decay");
    nc_test_int(nc_model_set_loss(m, (nc_loss)7), NC_ERR_INVALID_VALUE, "unknown loss");
    nc_test_int(nc_model_init_gaussian(m, -1, 1), NC_ERR_INVALID_VALUE, "negative std");
    nc_test_int(nc_model_gradient(m, &f, W, 1, NULL, 0, NULL), NC_ERR_SIZE_MISMATCH,
                "gradient ldgw < d");
    nc_test_int(nc_model_copy(&c, NULL), NC_ERR_NULL_ARGUMENT, "copy of NULL");

    /* Finite but huge state: the objective overflows and says so. */
    {
        double Wh[6] = {1e200, 1e200, 0, 0, 0, 0}, Hh[10] = {1e200, 1e200, 0, 0, 0, 0, 0, 0, 0, 0};
        nc_model_set_W(m, Wh, 2);
        nc_model_set_H(m, Hh, 2);
        nc_test_int(nc_model_objective(m, &f), NC_ERR_OVERFLOW, "overflowing objective");
        nc_model_init_gaussian(m, 0.1, 1);
    }

    nc_test_int(nc_optimizer_create(&o, NULL, NC_OPT_GD), NC_ERR_NULL_ARGUMENT, "opt NULL model");
    nc_test_int(nc_optimizer_create(&o, m, (nc_algorithm)9), NC_ERR_INVALID_VALUE, "bad algorithm");
    nc_test_int(nc_optimizer_create(&o, m, NC_OPT_GD), NC_SUCCESS, "opt create");
    nc_test_int(nc_optimizer_set_learning_rate(o, 0), NC_ERR_INVALID_VALUE, "lr = 0");
    nc_test_int(nc_optimizer_set_learning_rate(o, INFINITY), NC_ERR_NON_FINITE, "lr = inf");
    nc_test_int(nc_optimizer_set_feature_learning_rate(o, -1), NC_ERR_INVALID_VALUE, "lr_H < 0");
    nc_test_int(nc_optimizer_set_momentum(o, 1.0), NC_ERR_INVALID_VALUE, "momentum = 1");
    nc_test_int(nc_optimizer_set_max_iterations(o, 0), NC_ERR_INVALID_VALUE, "0 iterations");
    nc_test_int(nc_optimizer_set_gradient_tolerance(o, -1), NC_ERR_INVALID_VALUE, "tol < 0");
    nc_test_int(nc_optimizer_set_callback(o, stop_at_five, &calls, 0), NC_ERR_INVALID_VALUE,
                "callback every 0");
    nc_test_true(strlen(nc_optimizer_last_error(o)) > 0, "optimizer failure has a message");
    nc_test_true(isnan(nc_optimizer_objective(o)), "no objective before the first step");
    nc_test_int(nc_optimizer_step(NULL), NC_ERR_NULL_ARGUMENT, "step NULL");

    nc_optimizer_set_max_iterations(o, 3);
    s = nc_optimizer_run(o);
    nc_test_int(s, NC_STOP_MAX_ITERATIONS, "max iterations");
    nc_test_int(nc_optimizer_iterations(o), 3, "3 steps taken");
    nc_optimizer_set_max_iterations(o, 100);
    nc_optimizer_set_callback(o, stop_at_five, &calls, 1);
    nc_optimizer_reset(o);
    s = nc_optimizer_run(o);
    nc_test_int(s, NC_STOP_CALLBACK, "callback stop");
    nc_test_int(nc_optimizer_iterations(o), 5, "stopped after 5 steps");
    nc_test_int(calls, 5, "callback called every step");
    nc_optimizer_set_callback(o, NULL, NULL, 0);
    nc_optimizer_set_gradient_tolerance(o, 1e3);
    s = nc_optimizer_run(o);
    nc_test_int(s, NC_STOP_GRADIENT_TOLERANCE, "tolerance stop");
    nc_test_true(nc_optimizer_gradient_norm(o) <= 1e3, "tolerance certified");

    nc_model_destroy(NULL);
    nc_optimizer_destroy(NULL);
    nc_metrics_destroy(NULL);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);

    /* Every code has a distinct name and a message; unknown codes too. */
    {
        const nc_status all[] = {NC_SUCCESS, NC_STOP_MAX_ITERATIONS, NC_STOP_GRADIENT_TOLERANCE,
                                 NC_STOP_CALLBACK, NC_ERR_NULL_ARGUMENT, NC_ERR_INVALID_SIZE,
                                 NC_ERR_SIZE_MISMATCH, NC_ERR_LABEL_OUT_OF_RANGE,
                                 NC_ERR_EMPTY_CLASS, NC_ERR_NON_FINITE, NC_ERR_INVALID_VALUE,
                                 NC_ERR_DIVERGED, NC_ERR_OUT_OF_MEMORY, NC_ERR_LAPACK,
                                 NC_ERR_UNAVAILABLE, NC_ERR_UNSUPPORTED, NC_ERR_OVERFLOW};
        const size_t n = sizeof all / sizeof all[0];
        size_t i, j;
        int distinct = 1;
        for (i = 0; i < n; i++)
            for (j = i + 1; j < n; j++)
                distinct &= strcmp(nc_status_name(all[i]), nc_status_name(all[j])) != 0 &&
                            strcmp(nc_strerror(all[i]), nc_strerror(all[j])) != 0;
        nc_test_true(distinct, "status names and messages are distinct");
        nc_test_true(strcmp(nc_status_name((nc_status)-999), "NC_UNKNOWN_STATUS") == 0,
                     "unknown status name");
        nc_test_true(nc_strerror((nc_status)12345) != NULL, "strerror never NULL");
        nc_test_true(strcmp(nc_version_string(), NC_VERSION_STRING) == 0, "runtime version");
        nc_test_int(nc_version_number(), NC_VERSION_NUMBER, "runtime version number");
    }
}

/* The documented range and default of every loss parameter (the header's
 * nc_loss and nc_loss_parameter): lo < v (lo <= v if lo_in), v < hi (v <= hi
 * if hi_in); -INFINITY/INFINITY: no bound on that side. */
static const struct {
    nc_loss_parameter p;
    const char *name;
    double lo, hi;
    int lo_in, hi_in;
    double def;
} param_ranges[] = {
    {NC_LOSS_PARAM_TARGET_SCALE, "target scale", 0.0, INFINITY, 0, 0, 1.0},
    {NC_LOSS_PARAM_SMOOTHING, "smoothing", 0.0, 1.0, 1, 0, 0.1},
    {NC_LOSS_PARAM_FOCAL_GAMMA, "focal gamma", 0.0, INFINITY, 1, 0, 2.0},
    {NC_LOSS_PARAM_LOGIT_TAU, "logit tau", -INFINITY, INFINITY, 0, 0, 1.0},
    {NC_LOSS_PARAM_DOT_TARGET, "dot target", 0.0, INFINITY, 0, 0, 1.0},
};

/* set(p, v) must give want; on success get returns v bit for bit, on failure
 * the previous value (and the model's message says why). */
static void check_param_set(nc_model *m, size_t r, double v, nc_status want, const char *what)
{
    char desc[200];
    double before = NAN, after = NAN;
    const nc_loss_parameter p = param_ranges[r].p;
    nc_model_get_loss_parameter(m, p, &before);
    snprintf(desc, sizeof desc, "%s = %.17g (%s)", param_ranges[r].name, v, what);
    nc_test_int(nc_model_set_loss_parameter(m, p, v), want, desc);
    nc_model_get_loss_parameter(m, p, &after);
    if (want == NC_SUCCESS) {
        snprintf(desc, sizeof desc, "%s = %.17g (%s): stored exactly", param_ranges[r].name, v,
                 what);
        nc_test_true(memcmp(&after, &v, sizeof v) == 0, desc);
    } else {
        snprintf(desc, sizeof desc, "%s = %.17g (%s): refused, value unchanged and a message",
                 param_ranges[r].name, v, what);
        nc_test_true(memcmp(&after, &before, sizeof v) == 0 &&
                         strstr(nc_model_last_error(m), "loss parameter") != NULL,
                     desc);
    }
}

static void check_loss_parameters(void)
{
    const size_t counts[3] = {4, 3, 2};
    const size_t nr = sizeof param_ranges / sizeof param_ranges[0];
    nc_model *m = NULL, *c = NULL;
    size_t r, np = 0;
    double v;
    nc_test_int(nc_model_create_counts(&m, 3, 3, counts), NC_SUCCESS, "create");
    /* The table above covers every parameter the API knows. */
    while (nc_model_get_loss_parameter(m, (nc_loss_parameter)np, &v) == NC_SUCCESS) np++;
    nc_test_int(np, nr, "one documented range per loss parameter");
    nc_test_int(nc_model_get_loss_parameter(m, (nc_loss_parameter)-1, &v), NC_ERR_INVALID_VALUE,
                "get of parameter -1");
    nc_test_int(nc_model_set_loss_parameter(m, (nc_loss_parameter)-1, 1.0), NC_ERR_INVALID_VALUE,
                "set of parameter -1");
    nc_test_int(nc_model_set_loss_parameter(m, (nc_loss_parameter)nr, 1.0), NC_ERR_INVALID_VALUE,
                "set of the parameter after the last");
    nc_test_int(nc_model_set_loss_parameter(NULL, NC_LOSS_PARAM_SMOOTHING, 0.5),
                NC_ERR_NULL_ARGUMENT, "set on NULL");
    nc_test_int(nc_model_get_loss_parameter(m, NC_LOSS_PARAM_SMOOTHING, NULL),
                NC_ERR_NULL_ARGUMENT, "get into NULL");
    for (r = 0; r < nr; r++) {
        const double lo = param_ranges[r].lo, hi = param_ranges[r].hi;
        char desc[200];
        snprintf(desc, sizeof desc, "%s: default", param_ranges[r].name);
        v = NAN;
        nc_test_int(nc_model_get_loss_parameter(m, param_ranges[r].p, &v), NC_SUCCESS, desc);
        nc_test_true(v == param_ranges[r].def, desc);
        if (isinf(lo)) {
            check_param_set(m, r, -DBL_MAX, NC_SUCCESS, "no lower bound: -DBL_MAX");
            check_param_set(m, r, -INFINITY, NC_ERR_NON_FINITE, "-Inf");
        } else {
            const double in = param_ranges[r].lo_in ? lo : nextafter(lo, INFINITY);
            const double out = param_ranges[r].lo_in ? nextafter(lo, -INFINITY) : lo;
            check_param_set(m, r, in, NC_SUCCESS, "just inside the lower bound");
            check_param_set(m, r, out, NC_ERR_INVALID_VALUE, "just outside the lower bound");
            if (lo == 0.0)
                check_param_set(m, r, -0.0,
                                param_ranges[r].lo_in ? NC_SUCCESS : NC_ERR_INVALID_VALUE,
                                "-0 against the bound 0");
            check_param_set(m, r, lo - 1.0, NC_ERR_INVALID_VALUE, "below the lower bound");
        }
        if (isinf(hi)) {
            check_param_set(m, r, DBL_MAX, NC_SUCCESS, "no upper bound: DBL_MAX");
            check_param_set(m, r, INFINITY, NC_ERR_NON_FINITE, "Inf");
        } else {
            const double in = param_ranges[r].hi_in ? hi : nextafter(hi, -INFINITY);
            const double out = param_ranges[r].hi_in ? nextafter(hi, INFINITY) : hi;
            check_param_set(m, r, in, NC_SUCCESS, "just inside the upper bound");
            check_param_set(m, r, out, NC_ERR_INVALID_VALUE, "just outside the upper bound");
            check_param_set(m, r, hi + 1.0, NC_ERR_INVALID_VALUE, "above the upper bound");
            check_param_set(m, r, INFINITY, NC_ERR_NON_FINITE, "Inf");
        }
        if (!isinf(lo)) check_param_set(m, r, -INFINITY, NC_ERR_NON_FINITE, "-Inf");
        check_param_set(m, r, NAN, NC_ERR_NON_FINITE, "NaN");
        check_param_set(m, r, -NAN, NC_ERR_NON_FINITE, "-NaN");
    }
    /* Every parameter persists across losses and is copied. */
    for (r = 0; r < nr; r++)
        nc_model_set_loss_parameter(m, param_ranges[r].p, param_ranges[r].def * 0.5);
    nc_test_int(nc_model_set_loss(m, NC_LOSS_MSE), NC_SUCCESS, "set loss");
    nc_test_int(nc_model_copy(&c, m), NC_SUCCESS, "copy");
    for (r = 0; r < nr; r++) {
        double vm = NAN, vc = NAN;
        char desc[200];
        nc_model_get_loss_parameter(m, param_ranges[r].p, &vm);
        nc_model_get_loss_parameter(c, param_ranges[r].p, &vc);
        snprintf(desc, sizeof desc, "%s persists across set_loss and is copied",
                 param_ranges[r].name);
        nc_test_true(vm == param_ranges[r].def * 0.5 && vc == vm, desc);
    }
    nc_model_destroy(c);
    nc_model_destroy(m);
}

int main(void)
{
    check_gradient(NC_LOSS_CE, 0, "CE, no bias");
    check_gradient(NC_LOSS_CE, 1, "CE, bias");
    check_gradient(NC_LOSS_MSE, 0, "MSE, no bias");
    check_gradient(NC_LOSS_MSE, 1, "MSE, bias");
    check_ce_precision();
    check_balanced_closed_form();
    check_reproducible();
    check_fused_vs_unfused(NC_LOSS_CE);
    check_fused_vs_unfused(NC_LOSS_MSE);
    check_divergence();
    check_errors();
    check_loss_parameters();
    return nc_test_summary("test_model_ufm");
}

/*
 * test_model_variants.c - the papers' models: finite-difference gradients
 * for every combination of feature model x depth x classifier x loss x bias
 * (and the AllNC terms), the known optima reached by the optimizers, and the
 * errors of invalid combinations.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ncollapse.h"
#define NC_TEST_LCG_SEED 987654321
#include "testutil.h"

/* ---- finite differences over the variable vector --------------------------- */

static double fd_error(nc_model *m)
{
    const size_t n = nc_model_num_variables(m);
    double *x = (double *)malloc(n * sizeof(double)), *g = (double *)malloc(n * sizeof(double));
    double f, e2 = 0, g2 = 0;
    /* Central differences: the truncation error (h^2/6 times the third
     * derivative) and the rounding error (eps f / h) are both about 1e-11
     * here, far below the 1e-6 requirement. */
    const double h = 1e-5;
    size_t i;
    nc_model_get_variables(m, x);
    nc_model_gradient_vector(m, &f, g);
    for (i = 0; i < n; i++) {
        double xi = x[i], fp, fm, fd;
        x[i] = xi + h;
        nc_model_set_variables(m, x);
        nc_model_objective(m, &fp);
        x[i] = xi - h;
        nc_model_set_variables(m, x);
        nc_model_objective(m, &fm);
        x[i] = xi;
        fd = (fp - fm) / (2 * h);
        e2 += (fd - g[i]) * (fd - g[i]);
        g2 += g[i] * g[i];
    }
    nc_model_set_variables(m, x);
    free(x);
    free(g);
    return sqrt(e2 / g2);
}

enum { CLS_LEARNED, CLS_ETF, CLS_ORTHO, CLS_SUPPLIED, CLS_COUNT };

static void check_all_gradients(void)
{
    const size_t d = 4, K = 4, counts[4] = {5, 3, 2, 2}, N = 12;
    const nc_loss losses[] = {NC_LOSS_CE, NC_LOSS_MSE, NC_LOSS_LABEL_SMOOTHING, NC_LOSS_FOCAL,
                              NC_LOSS_WEIGHTED_CE, NC_LOSS_LOGIT_ADJUSTED,
                              NC_LOSS_DOT_REGRESSION};
    const double weights[4] = {0.5, 1.0, 2.0, 3.5};
    size_t li, depth, i;
    int relu, cls, bias, allnc, combos = 0, worst_ok = 1;
    double worst = 0;
    char desc[200];
    for (li = 0; li < sizeof losses / sizeof losses[0]; li++)
        for (relu = 0; relu < 2; relu++)
            for (depth = 1; depth <= 3; depth++)
                for (cls = 0; cls < CLS_COUNT; cls++)
                    for (bias = 0; bias < 2; bias++)
                        for (allnc = 0; allnc < 2; allnc++) {
                            nc_model *m = NULL;
                            double H[4 * 12], W[16], b[4], L[16], err;
                            size_t l;
                            if (allnc && (bias || cls != CLS_LEARNED) && li > 0) continue;
                            nc_model_create_counts(&m, d, K, counts);
                            nc_model_set_loss(m, losses[li]);
                            nc_model_set_loss_parameter(m, NC_LOSS_PARAM_TARGET_SCALE, 1.7);
                            nc_model_set_loss_parameter(m, NC_LOSS_PARAM_SMOOTHING, 0.15);
                            nc_model_set_loss_parameter(m, NC_LOSS_PARAM_FOCAL_GAMMA, 1.5);
                            nc_model_set_loss_parameter(m, NC_LOSS_PARAM_LOGIT_TAU, 0.8);
                            nc_model_set_loss_parameter(m, NC_LOSS_PARAM_DOT_TARGET, 1.3);
                            nc_model_set_class_weights(m, weights);
                            nc_model_set_weight_decay(m, 0.03, 0.02, 0.05);
                            nc_model_set_bias(m, bias);
                            if (relu) nc_model_set_features(m, NC_FEATURES_RELU);
                            nc_model_set_depth(m, depth);
                            if (allnc) nc_model_set_allnc(m, 0.7, 0.4);
                            for (i = 0; i < d * N; i++)
                                H[i] = relu ? 0.1 + fabs(urand()) : urand();
                            for (i = 0; i < d * K; i++) W[i] = urand();
                            for (i = 0; i < K; i++) b[i] = 0.5 * urand();
                            nc_model_set_H(m, H, d);
                            nc_model_set_b(m, b);
                            for (l = 0; l + 1 < depth; l++) {
                                for (i = 0; i < d * d; i++) L[i] = (i % 5 == 0 ? 1.0 : 0.0) + 0.4 * urand();
                                nc_model_set_layer(m, l, L, d);
                            }
                            if (cls == CLS_LEARNED) nc_model_set_W(m, W, d);
                            if (cls == CLS_ETF) nc_model_fix_classifier_etf(m, 1.3, 11, NULL, 0);
                            if (cls == CLS_ORTHO) nc_model_fix_classifier_orthogonal(m, 0.9, 12, NULL, 0);
                            if (cls == CLS_SUPPLIED) nc_model_fix_classifier(m, W, d);
                            err = fd_error(m);
                            combos++;
                            if (!(err <= 1e-6)) {
                                snprintf(desc, sizeof desc,
                                         "FD gradient: loss %zu relu %d depth %zu classifier %d "
                                         "bias %d allnc %d",
                                         li, relu, depth, cls, bias, allnc);
                                nc_test_abs(err, 0.0, 1e-6, desc);
                                worst_ok = 0;
                            }
                            if (err > worst || err != err) worst = err;
                            nc_model_destroy(m);
                        }
    nc_test_true(worst_ok, "all finite-difference gradient checks within 1e-6");
    /* 7 losses x 2 feature models x 3 depths x 4 classifiers x 2 biases, with
     * AllNC on top of every CE combination and of the learned, bias-free
     * combinations of the 6 other losses. */
    nc_test_int(combos, 7 * 2 * 3 * 4 * 2 + 2 * 3 * 4 * 2 + 6 * 2 * 3, "number of combinations checked");
    printf("test_model_variants: %d gradient combinations, worst relative error %.2e\n", combos, worst);
}

/* Loss special cases that pin the definitions. */
static void check_loss_identities(void)
{
    const size_t counts[3] = {3, 2, 4};
    nc_model *m = NULL;
    double fce, ff, fw, fls, fla;
    const double w[3] = {2.0, 2.0, 2.0};
    nc_model_create_counts(&m, 4, 3, counts);
    nc_model_init_gaussian(m, 1.0, 3);
    nc_model_objective(m, &fce);
    nc_model_set_loss(m, NC_LOSS_FOCAL);
    nc_model_set_loss_parameter(m, NC_LOSS_PARAM_FOCAL_GAMMA, 0.0);
    nc_model_objective(m, &ff);
    nc_test_rel(ff, fce, 1e-15, "focal with gamma 0 is CE");
    nc_model_set_loss(m, NC_LOSS_WEIGHTED_CE);
    nc_model_set_class_weights(m, w);
    nc_model_objective(m, &fw);
    nc_test_rel(fw, 2.0 * fce, 1e-15, "weighted CE with weights 2 is twice CE");
    nc_model_set_loss(m, NC_LOSS_LABEL_SMOOTHING);
    nc_model_set_loss_parameter(m, NC_LOSS_PARAM_SMOOTHING, 0.0);
    nc_model_objective(m, &fls);
    nc_test_rel(fls, fce, 1e-15, "label smoothing 0 is CE");
    nc_model_set_loss(m, NC_LOSS_LOGIT_ADJUSTED);
    nc_model_set_loss_parameter(m, NC_LOSS_PARAM_LOGIT_TAU, 0.0);
    nc_model_objective(m, &fla);
    nc_test_rel(fla, fce, 1e-15, "logit adjustment with tau 0 is CE");
    nc_model_destroy(m);
}

/* ---- optima ------------------------------------------------------------------ */

static nc_status train_lbfgs(nc_model *m, double tol, size_t maxit, double *gnorm, size_t *iters)
{
    nc_optimizer *o = NULL;
    nc_status st;
    nc_optimizer_create(&o, m, NC_OPT_LBFGS);
    nc_optimizer_set_max_iterations(o, maxit);
    nc_optimizer_set_gradient_tolerance(o, tol);
    st = nc_optimizer_run(o);
    *gnorm = nc_optimizer_gradient_norm(o);
    if (iters) *iters = nc_optimizer_iterations(o);
    nc_optimizer_destroy(o);
    return st;
}

/* Class mean norms^2 from the model's H. */
static void class_mean_norms2(const nc_model *m, double *out)
{
    const size_t d = nc_model_dim(m), K = nc_model_num_classes(m), N = nc_model_num_samples(m);
    double *H = (double *)malloc(d * N * sizeof(double)), *mu = (double *)calloc(d * K, sizeof(double));
    int32_t *y = (int32_t *)malloc(N * sizeof(int32_t));
    size_t *cnt = (size_t *)malloc(K * sizeof(size_t)), i, k, j;
    nc_model_get_H(m, H, d);
    nc_model_get_labels(m, y);
    nc_model_get_class_counts(m, cnt);
    for (i = 0; i < N; i++)
        for (j = 0; j < d; j++) mu[y[i] * d + j] += H[i * d + j] / (double)cnt[y[i]];
    for (k = 0; k < K; k++) {
        out[k] = 0;
        for (j = 0; j < d; j++) out[k] += mu[k * d + j] * mu[k * d + j];
    }
    free(H); free(mu); free(y); free(cnt);
}

/*
 * Dang et al. 2024, ReLU features, CE, no bias (THEORY.md section 2):
 * K = 4, n = (200, 100, 50, 50), d = 16, lambda_W = lambda_H = 5e-3:
 * F* = 0.6224489, ||h_k||^2 = 0.187865, 0.230509, 0.272426, 0.272426.
 */
static void check_relu_optimum(void)
{
    const size_t counts[4] = {200, 100, 50, 50};
    const double want_h2[4] = {0.187865, 0.230509, 0.272426, 0.272426};
    nc_model *m = NULL;
    double f, g, h2[4];
    size_t it, k;
    nc_status st;
    nc_model_create_counts(&m, 16, 4, counts);
    nc_model_set_features(m, NC_FEATURES_RELU);
    nc_model_set_weight_decay(m, 5e-3, 5e-3, 0);
    nc_model_init_gaussian(m, 0.3, 4);
    st = train_lbfgs(m, 1e-9, 5000, &g, &it);
    nc_test_int(st, NC_STOP_GRADIENT_TOLERANCE, "ReLU CE: projected L-BFGS reaches KKT 1e-9");
    nc_test_true(g <= 1e-9, "ReLU CE: KKT residual <= 1e-9");
    nc_model_objective(m, &f);
    nc_test_abs(f, 0.6224489, 1e-7, "ReLU CE: F* = 0.6224489");
    class_mean_norms2(m, h2);
    for (k = 0; k < 4; k++) nc_test_abs(h2[k], want_h2[k], 1e-6, "ReLU CE: ||h_k||^2");
    printf("test_model_variants: ReLU CE F* = %.10f after %zu L-BFGS iterations (KKT %.1e)\n", f, it, g);

    /* lambda = 0.02: the two n = 50 classes collapse (h = 0). */
    nc_model_set_weight_decay(m, 0.02, 0.02, 0);
    nc_model_init_gaussian(m, 0.3, 5);
    st = train_lbfgs(m, 1e-9, 5000, &g, &it);
    nc_test_int(st, NC_STOP_GRADIENT_TOLERANCE, "ReLU CE lambda 0.02: converged");
    class_mean_norms2(m, h2);
    nc_test_true(h2[0] > 1e-3 && h2[1] > 1e-3, "ReLU CE lambda 0.02: majority classes survive");
    nc_test_abs(h2[2], 0.0, 1e-18, "ReLU CE lambda 0.02: class 2 collapses to 0");
    nc_test_abs(h2[3], 0.0, 1e-18, "ReLU CE lambda 0.02: class 3 collapses to 0");
    nc_model_destroy(m);
}

/* Deep linear MSE (THEORY.md section 3): x_k minimises
 * f_k(x) = n_k/(2N(x^M+1)) + (M/2)(N lH lW^M)^{1/M} x over x >= 0, found here
 * by a dense scan and golden-section refinement (independent of the library);
 * sigma_k^2 = N lH x_k^M, and (P Hbar)_kk = sigma_k^2/(sigma_k^2 + N lH),
 * ||h_k||^2 = sigma_k^2/(sigma_k^2 + N lH)^2. */
static double fk(double x, double n, double N, double M, double c)
{
    return n / (2.0 * N * (pow(x, M) + 1.0)) + 0.5 * M * c * x;
}
static double argmin_fk(double n, double N, double M, double c)
{
    /* Log-spaced scan of [1e-8, 1e6], then golden section between the scan
     * neighbours of the best point; x = 0 wins ties (it is always a
     * candidate: a local minimum for M >= 2). */
    double best = 0.0, fb = fk(0.0, n, N, M, c), a, b, x1, x2;
    const double phi = 0.6180339887498949, r = pow(1e14, 1.0 / 20000.0);
    int i;
    for (i = 0; i <= 20000; i++) {
        const double x = 1e-8 * pow(r, i), f = fk(x, n, N, M, c);
        if (f < fb) { fb = f; best = x; }
    }
    if (best == 0.0) return 0.0;
    a = best / r; b = best * r;
    for (i = 0; i < 200; i++) {
        x1 = b - phi * (b - a); x2 = a + phi * (b - a);
        if (fk(x1, n, N, M, c) < fk(x2, n, N, M, c)) b = x2; else a = x1;
    }
    return fk(0.5 * (a + b), n, N, M, c) < fk(0.0, n, N, M, c) ? 0.5 * (a + b) : 0.0;
}

static void check_deep_linear(size_t M, double lam, int expect_collapse, double init_std)
{
    const size_t counts[4] = {200, 100, 50, 50}, d = 8, K = 4, N = 400;
    const double Nd = (double)N, Md = (double)M;
    const double c = pow(Nd * lam * pow(lam, Md), 1.0 / Md);
    nc_model *m = NULL;
    double g, P[32], H[8 * 400], mu[32] = {0}, worst_z = 0, worst_h = 0;
    size_t it, k, i, j, kk, collapsed = 0;
    nc_status st;
    char desc[160];
    nc_model_create_counts(&m, d, K, counts);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_set_depth(m, M);
    nc_model_set_weight_decay(m, lam, lam, 0);
    nc_model_init_gaussian(m, init_std, 6 + M);
    st = train_lbfgs(m, 1e-10, 20000, &g, &it);
    snprintf(desc, sizeof desc, "deep linear M = %zu, lambda %g: L-BFGS gradient <= 1e-10", M, lam);
    nc_test_int(st, NC_STOP_GRADIENT_TOLERANCE, desc);
    nc_model_get_product(m, P, d);
    nc_model_get_H(m, H, d);
    for (i = 0; i < N; i++) {
        const size_t y = i < 200 ? 0 : i < 300 ? 1 : i < 350 ? 2 : 3;
        for (j = 0; j < d; j++) mu[y * d + j] += H[i * d + j] / (double)counts[y];
    }
    for (k = 0; k < K; k++) {
        const double x = argmin_fk((double)counts[k], Nd, Md, c);
        const double s2 = Nd * lam * pow(x, Md);
        const double zk = s2 / (s2 + Nd * lam), hk = s2 / ((s2 + Nd * lam) * (s2 + Nd * lam));
        double h2 = 0;
        if (x == 0.0) collapsed++;
        for (j = 0; j < d; j++) h2 += mu[k * d + j] * mu[k * d + j];
        for (kk = 0; kk < K; kk++) {
            double z = 0;
            for (j = 0; j < d; j++) z += P[kk * d + j] * mu[k * d + j];
            z -= kk == k ? zk : 0.0;
            if (fabs(z) > worst_z) worst_z = fabs(z);
        }
        if (fabs(h2 - hk) > worst_h) worst_h = fabs(h2 - hk);
    }
    {   /* The prediction is the global minimum: F* = sum_k f_k(x_k). */
        double f, fstar = 0;
        for (k = 0; k < K; k++)
            fstar += fk(argmin_fk((double)counts[k], Nd, Md, c), (double)counts[k], Nd, Md, c);
        nc_model_objective(m, &f);
        snprintf(desc, sizeof desc, "deep linear M = %zu lambda %g: objective = F*", M, lam);
        nc_test_rel(f, fstar, 1e-9, desc);
        printf("test_model_variants: deep linear M = %zu lambda %g init %g: objective %.12f, F* %.12f\n",
               M, lam, init_std, f, fstar);
    }
    snprintf(desc, sizeof desc, "deep linear M = %zu: P Hbar = diag(s^2/(s^2 + N lH))", M);
    nc_test_abs(worst_z, 0.0, 1e-6, desc);
    snprintf(desc, sizeof desc, "deep linear M = %zu: ||h_k||^2 = s^2/(s^2 + N lH)^2", M);
    nc_test_abs(worst_h, 0.0, 1e-6, desc);
    snprintf(desc, sizeof desc, "deep linear M = %zu lambda %g: collapsed classes", M, lam);
    nc_test_int(collapsed, expect_collapse, desc);
    printf("test_model_variants: deep linear M = %zu lambda %g: %zu L-BFGS iterations, gradient %.1e, "
           "max |P Hbar - pred| %.1e, max |h^2 - pred| %.1e\n", M, lam, it, g, worst_z, worst_h);
    nc_model_destroy(m);
}

/* For M >= 2, W = H = 0 is a local minimum (THEORY.md section 3): from a
 * small initialisation L-BFGS stops there, at objective sum_k n_k/(2N) = 1/2,
 * above the global F* = 0.404218584322 that larger initialisations reach
 * (measured: all of 8 runs with std 0.5 and 0.8; std 0.2 once stopped at the
 * non-collapsed local minimum 0.410432670655). */
static void check_deep_linear_small_init(void)
{
    const size_t counts[4] = {200, 100, 50, 50};
    nc_model *m = NULL;
    double g, f, W[32];
    size_t i;
    int zero = 1;
    nc_model_create_counts(&m, 8, 4, counts);
    nc_model_set_loss(m, NC_LOSS_MSE);
    nc_model_set_depth(m, 2);
    nc_model_set_weight_decay(m, 0.02, 0.02, 0);
    nc_model_init_gaussian(m, 0.1, 1);
    nc_test_int(train_lbfgs(m, 1e-10, 20000, &g, NULL), NC_STOP_GRADIENT_TOLERANCE,
                "deep linear small init: converges");
    nc_model_objective(m, &f);
    nc_test_rel(f, 0.5, 1e-9, "deep linear small init: stops at W = H = 0 (objective 1/2)");
    nc_model_get_W(m, W, 8);
    for (i = 0; i < 32; i++) zero &= fabs(W[i]) < 1e-6;
    nc_test_true(zero, "deep linear small init: W = 0");
    nc_model_destroy(m);
}

/* Fixed ETF classifier under imbalance (Yang et al. 2022, THEORY.md section 4):
 * h_i = t w_{y_i}/||w||, with t solving s/(N(1 + e^{s t}/(K-1))) = lH t,
 * s = ||w|| K/(K-1), whatever n_k. */
static void check_fixed_etf(void)
{
    const size_t counts[4] = {300, 60, 30, 10}, d = 6, K = 4, N = 400;
    const double lH = 1e-3, norm = 2.0, s = norm * 4.0 / 3.0;
    nc_model *m = NULL;
    double W[24], H[6 * 400], g, lo = 0, hi = 100, t, worst = 0;
    size_t i, j, it;
    nc_status st;
    for (i = 0; i < 200; i++) { /* bisection on the monotone equation */
        const double mid = 0.5 * (lo + hi);
        if (s / ((double)N * (1.0 + exp(s * mid) / 3.0)) > lH * mid) lo = mid; else hi = mid;
    }
    t = 0.5 * (lo + hi);
    nc_model_create_counts(&m, d, K, counts);
    nc_model_set_weight_decay(m, 0, lH, 0);
    nc_model_fix_classifier_etf(m, norm, 21, NULL, 0);
    nc_model_init_gaussian(m, 0.5, 22);
    st = train_lbfgs(m, 1e-12, 20000, &g, &it);
    nc_test_int(st, NC_STOP_GRADIENT_TOLERANCE, "fixed ETF: L-BFGS gradient <= 1e-12");
    nc_model_get_W(m, W, d);
    nc_model_get_H(m, H, d);
    for (i = 0; i < N; i++) {
        const size_t y = i < 300 ? 0 : i < 360 ? 1 : i < 390 ? 2 : 3;
        for (j = 0; j < d; j++) {
            const double e = fabs(H[i * d + j] - t * W[y * d + j] / norm);
            if (e > worst) worst = e;
        }
    }
    nc_test_abs(worst / t, 0.0, 1e-8, "fixed ETF: every h_i = t w_y/||w|| under imbalance");
    printf("test_model_variants: fixed ETF t = %.12f, max |h_i - t w_y/||w||| / t = %.1e (%zu iterations)\n",
           t, worst / t, it);
    /* Every fixed classifier row has the ETF geometry. */
    {
        double c01 = 0, n0 = 0;
        for (j = 0; j < d; j++) { c01 += W[j] * W[d + j]; n0 += W[j] * W[j]; }
        nc_test_rel(n0, norm * norm, 1e-12, "fixed ETF row norm");
        nc_test_rel(c01 / n0, -1.0 / 3.0, 1e-12, "fixed ETF cosine -1/(K-1)");
    }
    nc_model_destroy(m);
}

/* First-order methods reach the same optimum (ReLU CE, projected Adam and GD). */
static void check_first_order_relu(void)
{
    const size_t counts[4] = {200, 100, 50, 50};
    const nc_algorithm algs[2] = {NC_OPT_NESTEROV, NC_OPT_ADAM};
    int a;
    for (a = 0; a < 2; a++) {
        nc_model *m = NULL;
        nc_optimizer *o = NULL;
        double f, H0 = 1;
        double *H = (double *)malloc(16 * 400 * sizeof(double));
        size_t i;
        nc_model_create_counts(&m, 16, 4, counts);
        nc_model_set_features(m, NC_FEATURES_RELU);
        nc_model_set_weight_decay(m, 5e-3, 5e-3, 0);
        nc_model_init_gaussian(m, 0.3, 4);
        nc_optimizer_create(&o, m, algs[a]);
        if (algs[a] == NC_OPT_ADAM) nc_optimizer_set_learning_rate(o, 1e-2);
        else {
            nc_optimizer_set_learning_rate(o, 0.5);
            nc_optimizer_set_feature_learning_rate(o, 40.0);
        }
        nc_optimizer_set_schedule(o, NC_SCHEDULE_COSINE, 2500, 0.0);
        nc_optimizer_set_max_iterations(o, 2500);
        nc_optimizer_run(o);
        nc_model_objective(m, &f);
        nc_model_get_H(m, H, 16);
        for (i = 0; i < 16 * 400; i++) H0 = H[i] < H0 ? H[i] : H0;
        nc_test_true(H0 >= 0.0, "projected first-order method keeps H >= 0");
        printf("test_model_variants: %s + cosine, 2500 steps: objective %.9f (F* 0.6224489)\n",
               algs[a] == NC_OPT_ADAM ? "Adam" : "Nesterov", f);
        nc_test_abs(f, 0.6224489, 2e-4, algs[a] == NC_OPT_ADAM ? "Adam + cosine approaches F*"
                                                              : "Nesterov + cosine approaches F*");
        nc_optimizer_destroy(o);
        nc_model_destroy(m);
        free(H);
    }
}

/* Deep model: the product and the layers agree; the variable vector round-trips. */
static void check_layers_api(void)
{
    const size_t counts[3] = {4, 3, 2};
    nc_model *m = NULL;
    double A[9], B[9], W[9], P[9], Pw[9] = {0}, x[200], y[200];
    size_t i, j, k;
    nc_model_create_counts(&m, 3, 3, counts);
    nc_model_set_depth(m, 3);
    nc_model_init_gaussian(m, 1.0, 8);
    nc_model_get_layer(m, 0, A, 3);
    nc_model_get_layer(m, 1, B, 3);
    nc_model_get_layer(m, 2, W, 3);
    nc_model_get_product(m, P, 3);
    /* P = W B A (row-major 3 x 3). */
    for (i = 0; i < 3; i++)
        for (j = 0; j < 3; j++) {
            double s = 0;
            for (k = 0; k < 9; k++) s += W[i * 3 + k / 3] * B[(k / 3) * 3 + k % 3] * A[(k % 3) * 3 + j];
            Pw[i * 3 + j] = s;
        }
    for (i = 0; i < 9; i++) nc_test_rel(P[i], Pw[i], 1e-13, "product of the layers");
    nc_test_int(nc_model_num_variables(m), 9 + 9 + 9 + 27, "variables of a depth-3 model");
    nc_model_get_variables(m, x);
    for (i = 0; i < 54; i++) y[i] = x[i] * 2;
    nc_model_set_variables(m, y);
    nc_model_get_variables(m, x);
    nc_test_true(memcmp(x, y, 54 * sizeof(double)) == 0, "variables round trip");
    nc_model_destroy(m);
}

static void check_errors(void)
{
    const size_t counts[3] = {2, 2, 2};
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    double H[12], W[12] = {0}, P[12] = {0};
    size_t i;
    nc_model_create_counts(&m, 2, 3, counts);
    for (i = 0; i < 12; i++) H[i] = -1.0;
    nc_model_set_H(m, H, 2);
    nc_test_int(nc_model_set_features(m, NC_FEATURES_RELU), NC_ERR_INVALID_VALUE,
                "ReLU with negative H present");
    nc_model_init_gaussian(m, 0, 1);
    nc_test_int(nc_model_set_features(m, NC_FEATURES_RELU), NC_SUCCESS, "ReLU after zeroing");
    nc_test_int(nc_model_set_H(m, H, 2), NC_ERR_INVALID_VALUE, "ReLU with a supplied negative H");
    nc_test_int(nc_model_set_features(m, (nc_features)5), NC_ERR_INVALID_VALUE, "bad features");
    nc_test_int(nc_model_set_depth(m, 0), NC_ERR_INVALID_VALUE, "depth 0");
    nc_test_int(nc_model_set_layer(m, 3, W, 2), NC_ERR_INVALID_VALUE, "layer out of range");
    nc_test_int(nc_model_fix_classifier_etf(m, 1.0, 1, NULL, 0), NC_ERR_INVALID_SIZE,
                "fixed ETF needs d >= K");
    nc_test_int(nc_model_fix_classifier(m, W, 1), NC_ERR_SIZE_MISMATCH,
                "fixed classifier of the wrong shape (stride < d)");
    nc_test_int(nc_model_fix_classifier(m, W, 2), NC_SUCCESS, "fixed classifier");
    nc_test_int(nc_model_set_W(m, W, 2), NC_ERR_UNSUPPORTED, "setting a fixed classifier");
    W[1] = NAN;
    nc_test_int(nc_model_fix_classifier(m, W, 2), NC_ERR_NON_FINITE, "fixing a NaN classifier");
    nc_test_true(nc_model_classifier_is_fixed(m), "a refused fix leaves the classifier fixed");
    W[1] = 0;
    nc_test_int(nc_model_unfix_classifier(m), NC_SUCCESS, "unfix");
    nc_test_int(nc_model_set_loss_parameter(m, NC_LOSS_PARAM_SMOOTHING, 1.0), NC_ERR_INVALID_VALUE,
                "smoothing 1");
    nc_test_int(nc_model_set_loss_parameter(m, NC_LOSS_PARAM_TARGET_SCALE, 0), NC_ERR_INVALID_VALUE,
                "target scale 0");
    nc_test_int(nc_model_set_loss_parameter(m, (nc_loss_parameter)9, 1), NC_ERR_INVALID_VALUE,
                "unknown parameter");
    W[0] = -1;
    nc_test_int(nc_model_set_class_weights(m, W), NC_ERR_INVALID_VALUE, "negative class weight");
    nc_test_int(nc_model_set_allnc(m, -1, 0), NC_ERR_INVALID_VALUE, "negative AllNC weight");
    nc_model_destroy(m);
    nc_model_create_counts(&m, 4, 3, counts);
    P[0] = 1; P[5] = 1; P[9] = 1; /* columns e0, e1, e1 (not orthonormal) */
    nc_test_int(nc_model_fix_classifier_orthogonal(m, 1.0, 0, P, 4), NC_ERR_INVALID_VALUE,
                "supplied P not orthonormal");
    nc_optimizer_create(&o, m, NC_OPT_LBFGS);
    nc_model_set_depth(m, 2);
    nc_test_int(nc_optimizer_step(o), NC_ERR_UNSUPPORTED, "depth changed under the optimizer");
    nc_test_int(nc_optimizer_set_adam(o, 0.99, 0.5, 1e-8), NC_ERR_INVALID_VALUE, "Adam b1^2 >= b2");
    nc_test_int(nc_optimizer_set_schedule(o, NC_SCHEDULE_STEP, 10, 1.5), NC_ERR_INVALID_VALUE,
                "step decay gamma > 1");
    nc_test_int(nc_optimizer_set_history(o, 0), NC_ERR_INVALID_VALUE, "history 0");
    nc_test_int(nc_optimizer_set_block_learning_rate(o, (nc_block)7, 1), NC_ERR_INVALID_VALUE,
                "unknown block");
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

/* L-BFGS without a tolerance runs into the limit of the arithmetic and says
 * so: NC_STOP_NO_PROGRESS with the model at its best point (measured: 59
 * iterations, gradient 9e-18). */
static void check_no_progress(void)
{
    const size_t counts[3] = {10, 6, 4};
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    double f;
    nc_status st;
    nc_model_create_counts(&m, 4, 3, counts);
    nc_model_set_weight_decay(m, 1e-2, 1e-2, 0);
    nc_model_init_gaussian(m, 0.5, 1);
    nc_optimizer_create(&o, m, NC_OPT_LBFGS);
    nc_optimizer_set_max_iterations(o, 100000);
    st = nc_optimizer_run(o);
    nc_test_int(st, NC_STOP_NO_PROGRESS, "L-BFGS without tolerance stops at roundoff");
    nc_test_true(nc_optimizer_gradient_norm(o) < 1e-12, "... with a gradient below 1e-12");
    nc_model_objective(m, &f);
    nc_test_rel(f, nc_optimizer_objective(o), 0.0, "... and the model holds the recorded point");
    nc_test_true(strlen(nc_optimizer_last_error(o)) > 0, "... and says why");
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

int main(void)
{
    check_all_gradients();
    check_loss_identities();
    check_layers_api();
    check_relu_optimum();
    check_deep_linear(1, 5e-4, 0, 0.4);
    check_deep_linear(2, 5e-4, 0, 0.4);
    check_deep_linear(3, 5e-4, 0, 0.4);
    check_deep_linear(1, 0.02, 2, 0.4);
    check_deep_linear(2, 0.02, 2, 0.5);
    check_deep_linear_small_init();
    check_fixed_etf();
    check_first_order_relu();
    check_no_progress();
    check_errors();
    return nc_test_summary("test_model_variants");
}

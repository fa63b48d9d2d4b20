/*
 * test_analysis_predict.c - the closed-form predictions of the papers' global
 * minimisers, each checked two ways: against an independent computation
 * (another formula, another algorithm, a brute-force search, or the model's
 * own objective and KKT conditions at the constructed solution) and against
 * a model the library trains itself with L-BFGS to a gradient norm of 1e-12
 * (objective <= 1e-7 relative, Gram matrices <= 1e-5 relative).
 * Set NC_TEST_VERBOSE=1 to print the measured numbers.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "analysis/predict.h"
#include "harness.h"
#include "ncollapse.h"
#include "testutil.h"

static int verbose = 0;

static size_t total(const size_t *c, size_t K)
{
    size_t k, N = 0;
    for (k = 0; k < K; k++) N += c[k];
    return N;
}

/* Train with L-BFGS to a gradient norm of 1e-12 (or no further progress). */
static nc_status train(nc_model *m, size_t maxit)
{
    nc_optimizer *o = NULL;
    nc_status st;
    nc_optimizer_create(&o, m, NC_OPT_LBFGS);
    nc_optimizer_set_max_iterations(o, maxit);
    nc_optimizer_set_gradient_tolerance(o, 1e-12);
    st = nc_optimizer_run(o);
    nc_optimizer_destroy(o);
    return st;
}

/* Gram matrices of a model: P P^T, Hbar^T Hbar (uncentred means), P Hbar. */
static void model_grams(nc_model *m, double *WW, double *HH, double *Z, double *F)
{
    const size_t d = nc_model_dim(m), K = nc_model_num_classes(m), N = nc_model_num_samples(m);
    double *P = (double *)malloc(K * d * sizeof(double)), *H = (double *)malloc(d * N * sizeof(double));
    double *M = (double *)malloc(d * K * sizeof(double));
    int32_t *lab = (int32_t *)malloc(N * sizeof(int32_t));
    nc_model_get_product(m, P, d);
    nc_model_get_H(m, H, d);
    nc_model_get_labels(m, lab);
    nc_model_objective(m, F);
    nc_structure_class_means(d, K, N, H, d, lab, M, d, NULL);
    nc_structure_gram(d, K, P, d, NULL, 0, WW, K);
    nc_structure_gram(d, K, M, d, NULL, 0, HH, K);
    nc_structure_gram(d, K, P, d, M, d, Z, K);
    free(P);
    free(H);
    free(M);
    free(lab);
}

/* Compare a trained model with a computed prediction. */
static void check_against_model(const char *name, nc_model *m, const nc_prediction *p)
{
    const size_t K = nc_model_num_classes(m);
    double WW[100], HH[100], Z[100], pWW[100], pHH[100], pZ[100], F, Fp, b[10], pb[10];
    double eF, eW, eH, eZ, eb = 0;
    char desc[160];
    model_grams(m, WW, HH, Z, &F);
    nc_prediction_get_objective(p, &Fp);
    nc_prediction_get_classifier_gram(p, pWW, K);
    nc_prediction_get_feature_gram(p, pHH, K);
    nc_prediction_get_logits(p, pZ, K);
    eF = fabs(F - Fp) / fabs(Fp);
    eW = rel_fro(WW, pWW, K * K);
    eH = rel_fro(HH, pHH, K * K);
    eZ = rel_fro(Z, pZ, K * K);
    snprintf(desc, sizeof desc, "%s: trained objective = F* (rel 1e-7)", name);
    nc_test_abs(eF, 0.0, 1e-7, desc);
    snprintf(desc, sizeof desc, "%s: trained W W^T = prediction (rel 1e-5)", name);
    nc_test_abs(eW, 0.0, 1e-5, desc);
    snprintf(desc, sizeof desc, "%s: trained Hbar^T Hbar = prediction (rel 1e-5)", name);
    nc_test_abs(eH, 0.0, 1e-5, desc);
    snprintf(desc, sizeof desc, "%s: trained W Hbar = prediction (rel 1e-5)", name);
    nc_test_abs(eZ, 0.0, 1e-5, desc);
    if (nc_model_get_bias(m)) {
        nc_model_get_b(m, b);
        nc_prediction_get_bias(p, pb);
        eb = rel_fro(b, pb, K);
        snprintf(desc, sizeof desc, "%s: trained bias = prediction (rel 1e-5)", name);
        nc_test_abs(eb, 0.0, 1e-5, desc);
    }
    if (verbose)
        printf("  %-34s F=%.12f F*=%.12f rel %.1e | WW %.1e HH %.1e Z %.1e b %.1e\n", name, F, Fp,
               eF, eW, eH, eZ, eb);
}

static nc_prediction *predict(nc_prediction_kind kind, size_t K, const size_t *counts,
                              double lW, double lH, double lb)
{
    nc_prediction *p = NULL;
    nc_test_int(nc_prediction_create(&p, kind, K, counts), NC_SUCCESS, "prediction create");
    nc_test_int(nc_prediction_set_weight_decay(p, lW, lH, lb), NC_SUCCESS, "set decays");
    return p;
}

/* ---- balanced CE ------------------------------------------------------------------ */

static void check_balanced_ce(void)
{
    size_t c10[10], k;
    for (k = 0; k < 10; k++) c10[k] = 100;
    /* THEORY.md: K = 10, n = 100, lambda = 1e-3: singular values sqrt(n) m = 45.1086. */
    {
        nc_prediction *p = predict(NC_PREDICT_BALANCED_CE, 10, c10, 1e-3, 1e-3, 0.01);
        nc_prediction *q = predict(NC_PREDICT_HONG_LING_CE, 10, c10, 1e-3, 1e-3, 0.01);
        double s[10], sq[10], Z[100], Zq[100], G[100], Gq[100], F, Fq;
        const double m = log(1.0 / (1e-3 * 10.0) - 9.0);
        nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "balanced CE compute");
        nc_prediction_get_singular_values(p, s);
        nc_test_rel(s[0], 45.1086, 1e-6, "balanced CE: sqrt(n) m = 45.1086 (THEORY.md)");
        nc_test_rel(s[8], 10.0 * m, 1e-15, "K-1 equal singular values");
        nc_test_abs(s[9], 0.0, 0.0, "the K-th singular value is 0");
        nc_prediction_get_objective(p, &F);
        nc_test_rel(F, log1p(9.0 * exp(-m)) + 0.01 * 9.0 * m, 1e-15, "balanced CE objective");
        /* The general convex solver on the same balanced problem. */
        nc_test_int(nc_prediction_compute(q), NC_SUCCESS, "Hong & Ling solver, balanced");
        nc_test_true(nc_prediction_residual(q) <= 1e-12, "solver residual certified <= 1e-12");
        nc_prediction_get_singular_values(q, sq);
        nc_prediction_get_objective(q, &Fq);
        nc_test_rel(Fq, F, 1e-13, "closed form F* = proximal-gradient F*");
        nc_test_abs(rel_fro(sq, s, 10), 0.0, 1e-11, "closed form = solver: singular values");
        nc_prediction_get_logits(p, Z, 10);
        nc_prediction_get_logits(q, Zq, 10);
        nc_test_abs(rel_fro(Zq, Z, 100), 0.0, 1e-11, "closed form = solver: Z");
        nc_prediction_get_classifier_gram(p, G, 10);
        nc_prediction_get_classifier_gram(q, Gq, 10);
        nc_test_abs(rel_fro(Gq, G, 100), 0.0, 1e-11, "closed form = solver: W W^T");
        nc_prediction_get_feature_gram(p, G, 10);
        nc_prediction_get_feature_gram(q, Gq, 10);
        nc_test_abs(rel_fro(Gq, G, 100), 0.0, 1e-11, "closed form = solver: Hbar^T Hbar");
        if (verbose)
            printf("  balanced CE K=10 n=100 lam=1e-3: s = %.10f, F* = %.15f, solver %lu its, "
                   "residual %.1e, |F-Fq|/F = %.1e\n",
                   s[0], F, (unsigned long)nc_prediction_iterations(q), nc_prediction_residual(q),
                   fabs(F - Fq) / F);
        nc_prediction_destroy(p);
        nc_prediction_destroy(q);
    }
    /* Beyond the threshold lambda sqrt(n) >= 1/K: Z = 0, F = log K, all collapse. */
    {
        nc_prediction *p = predict(NC_PREDICT_BALANCED_CE, 10, c10, 0.011, 0.011, 0.0);
        double F, Z[100], th[10], nc;
        int col[10], all = 1;
        nc_prediction_compute(p);
        nc_prediction_get_objective(p, &F);
        nc_prediction_get_logits(p, Z, 10);
        nc_prediction_get_collapsed(p, col);
        nc_prediction_get_thresholds(p, th);
        nc_prediction_get_critical_count(p, &nc);
        for (k = 0; k < 10; k++) all &= col[k];
        nc_test_rel(F, log(10.0), 1e-15, "beyond the threshold F* = log K");
        nc_test_abs(rel_fro(Z, Z, 100) + fabs(Z[0]) + fabs(Z[11]), 0.0, 0.0, "Z = 0");
        nc_test_true(all, "every class collapsed");
        nc_test_rel(th[0], 0.01, 1e-15, "threshold 1/(K sqrt(n))");
        nc_test_rel(nc, 1000.0 * 1000.0 * 0.011 * 0.011, 1e-14, "critical count (N lambda)^2");
        nc_test_true(nc >= 100.0, "critical count >= n: collapsed");
        nc_prediction_destroy(p);
    }
    /* Against a trained model (CE with bias). */
    {
        const size_t c4[4] = {50, 50, 50, 50};
        nc_model *m = NULL;
        nc_prediction *p = predict(NC_PREDICT_BALANCED_CE, 4, c4, 0.004, 0.025, 0.01);
        nc_prediction_set_dim(p, 6);
        nc_model_create_counts(&m, 6, 4, c4);
        nc_model_set_bias(m, 1);
        nc_model_set_weight_decay(m, 0.004, 0.025, 0.01);
        nc_model_init_gaussian(m, 0.5, 7);
        {
            /* L-BFGS reaches 1e-12 here or stops at the limit of the arithmetic a
             * little above it, depending on the rounding of the pass's kernels (with
             * the AVX2 ones, as under valgrind: NC_STOP_NO_PROGRESS at 1.2e-11); the
             * comparisons below need far less. */
            const nc_status st = train(m, 20000);
            double g2 = 0.0, *g = (double *)malloc(nc_model_num_variables(m) * sizeof(double));
            size_t i;
            nc_model_gradient_vector(m, NULL, g);
            for (i = 0; i < nc_model_num_variables(m); i++) g2 += g[i] * g[i];
            free(g);
            nc_test_true(st == NC_STOP_GRADIENT_TOLERANCE || (st == NC_STOP_NO_PROGRESS && sqrt(g2) <= 1e-10),
                         "balanced CE trains to 1e-12 (or to the limit of the arithmetic below 1e-10)");
        }
        nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "compute");
        check_against_model("balanced CE (bias)", m, p);
        nc_model_destroy(m);
        nc_prediction_destroy(p);
    }
}

/* ---- balanced MSE ----------------------------------------------------------------- */

static void check_balanced_mse(void)
{
    const size_t c4[4] = {50, 50, 50, 50};
    /* Without bias it is Dang et al. 2023's model with depth 1: two formulas. */
    {
        nc_prediction *p = predict(NC_PREDICT_BALANCED_MSE, 4, c4, 0.004, 0.025, 0.0);
        nc_prediction *q = predict(NC_PREDICT_DEEP_LINEAR_MSE, 4, c4, 0.004, 0.025, 0.0);
        double A[16], B[16], F, Fq;
        nc_prediction_set_bias(p, 0);
        nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "balanced MSE");
        nc_test_int(nc_prediction_compute(q), NC_SUCCESS, "deep linear M = 1");
        nc_prediction_get_objective(p, &F);
        nc_prediction_get_objective(q, &Fq);
        nc_test_rel(F, Fq, 1e-14, "balanced MSE = deep linear M=1: F*");
        nc_prediction_get_logits(p, A, 4);
        nc_prediction_get_logits(q, B, 4);
        nc_test_abs(rel_fro(A, B, 16), 0.0, 1e-14, "balanced MSE = deep linear M=1: Z");
        nc_prediction_get_classifier_gram(p, A, 4);
        nc_prediction_get_classifier_gram(q, B, 4);
        nc_test_abs(rel_fro(A, B, 16), 0.0, 1e-14, "balanced MSE = deep linear M=1: W W^T");
        nc_prediction_get_feature_gram(p, A, 4);
        nc_prediction_get_feature_gram(q, B, 4);
        nc_test_abs(rel_fro(A, B, 16), 0.0, 1e-14, "balanced MSE = deep linear M=1: Hbar^T Hbar");
        nc_prediction_destroy(p);
        nc_prediction_destroy(q);
    }
    /* Against trained models: no bias; bias with small lambda_b (u = 0);
     * bias with lambda_b = 5 (the branch u > 0, gamma = c / lambda_b). */
    {
        const double lWs[3] = {0.004, 0.004, 0.004}, lHs[3] = {0.025, 0.025, 0.0025};
        const double lbs[3] = {0.0, 0.01, 5.0};
        const int bias[3] = {0, 1, 1};
        const char *names[3] = {"balanced MSE (no bias)", "balanced MSE (bias, lb 0.01)",
                                "balanced MSE (bias, lb 5)"};
        int i;
        for (i = 0; i < 3; i++) {
            nc_model *m = NULL;
            nc_prediction *p = predict(NC_PREDICT_BALANCED_MSE, 4, c4, lWs[i], lHs[i], lbs[i]);
            nc_status st;
            nc_prediction_set_bias(p, bias[i]);
            nc_model_create_counts(&m, 6, 4, c4);
            nc_model_set_loss(m, NC_LOSS_MSE);
            nc_model_set_bias(m, bias[i]);
            nc_model_set_weight_decay(m, lWs[i], lHs[i], lbs[i]);
            nc_model_init_gaussian(m, 0.5, 7);
            st = train(m, 20000);
            nc_test_true(st == NC_STOP_GRADIENT_TOLERANCE || st == NC_STOP_NO_PROGRESS,
                         "balanced MSE trains to its limit");
            nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "compute");
            check_against_model(names[i], m, p);
            nc_model_destroy(m);
            nc_prediction_destroy(p);
        }
    }
}

/* ---- Hong & Ling ------------------------------------------------------------------- */

/* Largest distance between logit columns of classes with count ng. */
static double group_spread(const double *Z, size_t K, const size_t *counts, size_t ng)
{
    double md = 0;
    size_t i, j, k;
    for (i = 0; i < K; i++)
        for (j = i + 1; j < K; j++)
            if (counts[i] == ng && counts[j] == ng) {
                double e = 0;
                for (k = 0; k < K; k++) e += (Z[i * K + k] - Z[j * K + k]) * (Z[i * K + k] - Z[j * K + k]);
                if (sqrt(e) > md) md = sqrt(e);
            }
    return md;
}

static double hl_spread(size_t K, const size_t *counts, double lam, double lb, int bias,
                        size_t ng, int *collapsed)
{
    nc_prediction *p = predict(NC_PREDICT_HONG_LING_CE, K, counts, 10.0 * lam, lam / 10.0, lb);
    double Z[100], s;
    nc_prediction_set_bias(p, bias);
    nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "Hong & Ling compute");
    nc_test_true(nc_prediction_residual(p) <= 1e-12, "Hong & Ling residual <= 1e-12");
    nc_prediction_get_logits(p, Z, K);
    if (collapsed != NULL) nc_prediction_get_collapsed(p, collapsed);
    s = group_spread(Z, K, counts, ng);
    nc_prediction_destroy(p);
    return s;
}

static void check_hong_ling(void)
{
    /* THEORY.md: K_A = 5, n_A = 500, K_B = 5, n_B = 100, threshold
     * sqrt(n_B)/N = 1/300; spread 0.17 at 0.0033 and ~1e-15 at 0.00334.
     * Decays as in their sweeps: lH' = l/20, lW' = 5 l, lb' = 0.01 (no
     * halves) = lambda_H = l/10, lambda_W = 10 l, lambda_b = 0.02. */
    {
        size_t c[10], k;
        int col[10];
        double below, above, th[10];
        nc_prediction *p;
        for (k = 0; k < 10; k++) c[k] = k < 5 ? 500 : 100;
        below = hl_spread(10, c, 0.0033, 0.02, 1, 100, col);
        nc_test_abs(below, 0.17, 0.005, "minority spread 0.17 at lambda = 0.0033");
        nc_test_true(!col[5] && !col[9] && !col[0], "no class collapsed at 0.0033");
        above = hl_spread(10, c, 0.00334, 0.02, 1, 100, col);
        nc_test_abs(above, 0.0, 1e-12, "minority spread ~0 at lambda = 0.00334");
        nc_test_true(col[5] && col[9] && !col[0] && !col[4], "minority collapsed at 0.00334");
        p = predict(NC_PREDICT_HONG_LING_CE, 10, c, 0.033, 0.00033, 0.02);
        nc_prediction_get_thresholds(p, th);
        nc_test_rel(th[5], 1.0 / 300.0, 1e-15, "threshold sqrt(n_B)/N = 1/300");
        nc_prediction_destroy(p);
        if (verbose)
            printf("  Hong & Ling K_A=5 n_A=500 K_B=5 n_B=100: spread %.6f at 0.0033, %.2e at 0.00334\n",
                   below, above);
    }
    /* The threshold sqrt(n_g)/N on both sides (0.1% away) for other
     * lambda_b, without bias, other K_A, and three groups. */
    {
        const size_t c1[10] = {500, 500, 500, 500, 500, 100, 100, 100, 100, 100};
        const size_t c2[10] = {500, 500, 500, 100, 100, 100, 100, 100, 100, 100};
        const size_t c3[9] = {500, 500, 500, 200, 200, 200, 50, 50, 50};
        struct {
            const size_t *c;
            size_t K, ng;
            double lb;
            int bias;
        } cases[] = {{c1, 10, 100, 0.0, 1},  {c1, 10, 100, 2.0, 1},  {c1, 10, 100, 0.0, 0},
                     {c2, 10, 100, 0.02, 1}, {c3, 9, 50, 0.02, 1},   {c3, 9, 200, 0.02, 1},
                     {c3, 9, 500, 0.02, 1}};
        size_t i;
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const double th = sqrt((double)cases[i].ng) / (double)total(cases[i].c, cases[i].K);
            const double lo = hl_spread(cases[i].K, cases[i].c, 0.999 * th, cases[i].lb, cases[i].bias, cases[i].ng, NULL);
            const double hi = hl_spread(cases[i].K, cases[i].c, 1.001 * th, cases[i].lb, cases[i].bias, cases[i].ng, NULL);
            nc_test_true(lo > 1e-3, "group not collapsed 0.1% below sqrt(n_g)/N");
            nc_test_abs(hi, 0.0, 1e-12, "group collapsed 0.1% above sqrt(n_g)/N");
            if (verbose)
                printf("  threshold case %lu (n_g = %lu, lb = %g, bias %d): spread %.2e below, %.2e above\n",
                       (unsigned long)i, (unsigned long)cases[i].ng, cases[i].lb, cases[i].bias, lo, hi);
        }
    }
    /* Against trained models: imbalanced; minority collapsed; no bias. */
    {
        const size_t c[5] = {100, 100, 100, 20, 20};
        /* lambda = 0.00447, 0.0141, 0.00447 against sqrt(20)/340 = 0.01315 */
        const double lWs[3] = {0.01, 0.1, 0.01};
        const int bias[3] = {1, 1, 0};
        const char *names[3] = {"Hong & Ling (imbalanced)", "Hong & Ling (minority collapsed)",
                                "Hong & Ling (no bias)"};
        int i;
        for (i = 0; i < 3; i++) {
            nc_model *m = NULL;
            nc_prediction *p = predict(NC_PREDICT_HONG_LING_CE, 5, c, lWs[i], 0.002, 0.02);
            int col[5];
            nc_prediction_set_bias(p, bias[i]);
            nc_model_create_counts(&m, 8, 5, c);
            nc_model_set_bias(m, bias[i]);
            nc_model_set_weight_decay(m, lWs[i], 0.002, 0.02);
            nc_model_init_gaussian(m, 0.5, 11);
            nc_test_int(train(m, 20000), NC_STOP_GRADIENT_TOLERANCE, "trains to 1e-12");
            nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "compute");
            nc_prediction_get_collapsed(p, col);
            nc_test_true((col[3] && col[4]) == (i == 1), "minority collapse exactly when predicted");
            check_against_model(names[i], m, p);
            nc_model_destroy(m);
            nc_prediction_destroy(p);
        }
    }
    /* Iteration limit, and a dimension too small for the solution's rank. */
    {
        const size_t c[5] = {100, 100, 100, 20, 20};
        nc_prediction *p = predict(NC_PREDICT_HONG_LING_CE, 5, c, 0.01, 0.002, 0.02);
        double F;
        nc_test_int(nc_prediction_set_tolerance(p, 1e-12, 3), NC_SUCCESS, "set tolerance");
        nc_test_int(nc_prediction_compute(p), NC_STOP_MAX_ITERATIONS, "stops at the limit");
        nc_test_int(nc_prediction_iterations(p), 3, "3 iterations");
        nc_test_true(nc_prediction_residual(p) > 1e-12, "residual reported");
        nc_test_true(strlen(nc_prediction_last_error(p)) > 0, "message says so");
        nc_test_int(nc_prediction_get_objective(p, &F), NC_SUCCESS, "results of the last iterate");
        nc_prediction_set_tolerance(p, 1e-12, 1000000);
        nc_prediction_set_dim(p, 2);
        nc_test_int(nc_prediction_compute(p), NC_ERR_UNSUPPORTED, "rank > d");
        nc_test_int(nc_prediction_get_objective(p, &F), NC_ERR_UNAVAILABLE, "no result then");
        nc_prediction_destroy(p);
    }
}

/* ---- Dang et al. 2024: ReLU ---------------------------------------------------------- */

/* Per-class term of the ReLU objective with margin M. */
static double relu_term(double K, double N, double n, double lam2, double M)
{
    return (n / N) * log1p((K - 1) * exp(-M)) + M * sqrt(lam2 * (K - 1) * n / K);
}

static void check_dang_relu(void)
{
    const size_t c[4] = {200, 100, 50, 50}, K = 4, d = 16, N = 400;
    /* THEORY.md: F* = 0.6224489, ||h_k||^2 = 0.187865, 0.230509, 0.272426, 0.272426. */
    {
        nc_prediction *p = predict(NC_PREDICT_DANG_RELU_CE, K, c, 5e-3, 5e-3, 0.0);
        double F, hn[4], want[4] = {0.187865, 0.230509, 0.272426, 0.272426}, W[64] = {0}, Fm;
        double *H = (double *)calloc(d * N, sizeof(double)), *gH = (double *)malloc(d * N * sizeof(double));
        double gW[64], kkt = 0;
        nc_model *m = NULL;
        size_t i, j, k, s = 0;
        nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "ReLU compute");
        nc_prediction_get_objective(p, &F);
        nc_test_abs(F, 0.6224489, 5e-8, "ReLU F* = 0.6224489 (THEORY.md)");
        nc_prediction_get_norms(p, NULL, hn);
        for (k = 0; k < 4; k++) nc_test_abs(hn[k] * hn[k], want[k], 5e-7, "ReLU ||h_k||^2 (THEORY.md)");
        /* Independent: build the solution in a ReLU model and evaluate the
         * model's own objective and KKT conditions there. h_k = ||h_k|| e_k,
         * w_j = sqrt(K lH/((K-1) lW)) (sqrt(n_j) h_j - (1/K) sum_k sqrt(n_k) h_k). */
        for (k = 0; k < K; k++)
            for (i = 0; i < c[k]; i++, s++) H[s * d + k] = hn[k];
        for (j = 0; j < K; j++)
            for (k = 0; k < K; k++)
                W[j * d + k] = sqrt(4.0 / 3.0) * ((j == k ? sqrt((double)c[k]) * hn[k] : 0.0) -
                                                  sqrt((double)c[k]) * hn[k] / 4.0);
        nc_model_create_counts(&m, d, K, c);
        nc_model_set_features(m, NC_FEATURES_RELU);
        nc_model_set_weight_decay(m, 5e-3, 5e-3, 0);
        nc_model_set_W(m, W, d);
        nc_model_set_H(m, H, d);
        nc_model_gradient(m, &Fm, gW, d, gH, d, NULL);
        for (i = 0; i < d * K; i++) kkt = fmax(kkt, fabs(gW[i]));
        for (i = 0; i < d * N; i++) kkt = fmax(kkt, H[i] > 0 ? fabs(gH[i]) : fmax(-gH[i], 0.0) * N);
        nc_test_rel(Fm, F, 1e-14, "model objective at the constructed solution = F*");
        nc_test_abs(kkt, 0.0, 1e-15, "constructed solution satisfies the KKT conditions");
        /* Against training: from std 1 projected L-BFGS reaches F*. */
        nc_model_init_gaussian(m, 1.0, 1);
        nc_test_int(train(m, 20000), NC_STOP_GRADIENT_TOLERANCE, "ReLU trains to 1e-12");
        check_against_model("Dang 2024 ReLU (lW = lH = 5e-3)", m, p);
        /* From small initialisations it stops at a KKT point where the two
         * n = 50 classes are dead (h = 0 and their classifier columns 0, a
         * first-order stationary saddle): F = the prediction with M_2 = M_3 = 0. */
        {
            double Fs, Mk[2], dead = 0;
            for (k = 0; k < 2; k++) {
                const double tk = N * sqrt(3.0 * 25e-6 / (4.0 * (double)c[k]));
                Mk[k] = log(3.0 * (1.0 / tk - 1.0));
                dead += relu_term(4, N, (double)c[k], 25e-6, Mk[k]);
            }
            dead += 2 * (50.0 / 400.0) * log(4.0);
            nc_model_init_gaussian(m, 0.01, 1);
            nc_test_int(train(m, 20000), NC_STOP_GRADIENT_TOLERANCE, "small init also converges");
            nc_model_objective(m, &Fs);
            nc_test_rel(Fs, dead, 1e-10, "small init: saddle with the n = 50 classes dead");
            nc_test_true(Fs > F, "the saddle is above F*");
            if (verbose)
                printf("  ReLU F* = %.10f; small init (std 0.01) stops at F = %.10f = F* with "
                       "classes 2, 3 dead (%.10f)\n", F, Fs, dead);
        }
        nc_model_destroy(m);
        nc_prediction_destroy(p);
        free(H);
        free(gH);
    }
    /* lambda_W = lambda_H = 0.02: the two n = 50 classes collapse (n_k <=
     * N^2 lW lH K/(K-1) = 85.33) and share one classifier row. */
    {
        nc_prediction *p = predict(NC_PREDICT_DANG_RELU_CE, K, c, 0.02, 0.02, 0.0);
        double hn[4], WW[16], th[4], nc;
        int col[4];
        nc_model *m = NULL;
        nc_prediction_compute(p);
        nc_prediction_get_collapsed(p, col);
        nc_prediction_get_norms(p, NULL, hn);
        nc_prediction_get_classifier_gram(p, WW, 4);
        nc_prediction_get_thresholds(p, th);
        nc_prediction_get_critical_count(p, &nc);
        nc_test_true(!col[0] && !col[1] && col[2] && col[3], "ReLU: the n = 50 classes collapse");
        nc_test_true(hn[2] == 0.0 && hn[3] == 0.0 && hn[1] > 0, "collapsed features are 0");
        nc_test_rel(WW[2 * 4 + 2], WW[3 * 4 + 3], 1e-15, "collapsed classes share w: equal norms");
        nc_test_rel(WW[2 * 4 + 3], WW[2 * 4 + 2], 1e-15, "collapsed classes share w: w_2 . w_3 = ||w||^2");
        nc_test_rel(nc, 400.0 * 400.0 * 4e-4 * 4.0 / 3.0, 1e-14, "critical count N^2 lW lH K/(K-1)");
        nc_test_true(sqrt(0.02 * 0.02) >= th[2] && sqrt(0.02 * 0.02) < th[1], "thresholds bracket");
        nc_model_create_counts(&m, d, K, c);
        nc_model_set_features(m, NC_FEATURES_RELU);
        nc_model_set_weight_decay(m, 0.02, 0.02, 0);
        nc_model_init_gaussian(m, 1.0, 1);
        nc_test_int(train(m, 20000), NC_STOP_GRADIENT_TOLERANCE, "ReLU trains to 1e-12");
        check_against_model("Dang 2024 ReLU (lW = lH = 0.02)", m, p);
        nc_model_destroy(m);
        nc_prediction_destroy(p);
    }
}

/* ---- Dang et al. 2023: deep linear -------------------------------------------------- */

/* f_k(x) of THEORY.md section 3. */
static double dl_f(double x, double M, double q, double c)
{
    return q / (2.0 * (pow(x, M) + 1.0)) + 0.5 * M * c * x;
}

/* Brute force: grid on [0, X] (f increases beyond (q/c)^{1/(M+1)}), then
 * golden section around the best point (x to about sqrt(eps): f is flat). */
static double dl_brute(double M, double q, double c)
{
    double best = 0, fb = dl_f(0, M, q, c), a, b;
    const double X = 2.0 * pow(q / c, 1.0 / (M + 1.0)) + 2.0;
    int i;
    for (i = 1; i <= 20000; i++) {
        const double x = X * i / 20000.0, f = dl_f(x, M, q, c);
        if (f < fb) {
            fb = f;
            best = x;
        }
    }
    if (best == 0) return 0;
    a = best - 2.0 * X / 20000.0;
    b = best + 2.0 * X / 20000.0;
    for (i = 0; i < 200; i++) {
        const double g = 0.5 * (sqrt(5.0) - 1.0), x1 = b - g * (b - a), x2 = a + g * (b - a);
        if (dl_f(x1, M, q, c) < dl_f(x2, M, q, c))
            b = x2;
        else
            a = x1;
    }
    return 0.5 * (a + b);
}

/* Singular values (descending) of a layer of a trained model. */
static void layer_sv(nc_model *m, size_t layer, size_t rows, size_t d, double *s)
{
    double *A = (double *)malloc(rows * d * sizeof(double)), sup[64];
    nc_model_get_layer(m, layer, A, d);
    /* row-major rows x d is column-major d x rows */
    LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'N', (lapack_int)d, (lapack_int)rows, A, (lapack_int)d,
                   s, NULL, 1, NULL, 1, sup);
    free(A);
}

static void check_deep_linear(void)
{
    const size_t c[4] = {200, 100, 50, 50}, K = 4;
    const double N = 400;
    /* Per-class minimisers against a brute-force search, for depths 1 to 9. */
    {
        const size_t depths[5] = {1, 2, 3, 6, 9};
        size_t di, k;
        for (di = 0; di < 5; di++) {
            const double M = (double)depths[di], lW = 5e-4, lH = 5e-4;
            const double cc = lW * pow(N * lH, 1.0 / M);
            nc_prediction *p = predict(NC_PREDICT_DEEP_LINEAR_MSE, K, c, lW, lH, 0.0);
            double sv[4], F, Fb = 0, maxe = 0;
            nc_prediction_set_depth(p, depths[di]);
            nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "deep linear compute");
            nc_prediction_get_singular_values(p, sv);
            nc_prediction_get_objective(p, &F);
            for (k = 0; k < K; k++) {
                const double q = (double)c[k] / N, xb = dl_brute(M, q, cc);
                /* sv = sigma^{1/M}, sigma^2 = N lH x^M  =>  x = (sv^{2M} / (N lH))^{1/M} */
                const double x = pow(pow(sv[k], 2.0 * M) / (N * lH), 1.0 / M);
                Fb += dl_f(xb, M, q, cc);
                maxe = fmax(maxe, fabs(x - xb) / fmax(xb, 1e-300));
            }
            nc_test_abs(maxe, 0.0, 1e-7, "deep linear: x_k = brute-force minimiser");
            nc_test_rel(F, Fb, 1e-13, "deep linear: F* = brute-force minimum");
            if (verbose)
                printf("  deep linear M=%lu: F* = %.12f, brute force %.12f, max rel err of x_k %.1e, "
                       "layer sv %.6f %.6f %.6f %.6f\n",
                       (unsigned long)depths[di], F, Fb, maxe, sv[0], sv[1], sv[2], sv[3]);
            nc_prediction_destroy(p);
        }
    }
    /* Depth 1 against THEORY.md's closed form sigma_k^2 = sqrt(n_k lH/lW) - N lH. */
    {
        nc_prediction *p = predict(NC_PREDICT_DEEP_LINEAR_MSE, K, c, 2e-3, 5e-4, 0.0);
        double WW[16];
        size_t k;
        nc_prediction_compute(p);
        nc_prediction_get_classifier_gram(p, WW, 4);
        for (k = 0; k < K; k++)
            nc_test_rel(WW[k * 5], fmax(0.0, sqrt((double)c[k] * 0.25) - N * 5e-4), 1e-13,
                        "depth 1: sigma^2 = sqrt(n lH/lW) - N lH");
        nc_prediction_destroy(p);
    }
    /* Depth 2 where a stationary point exists for the n = 50 classes but x = 0
     * is lower: c/q = 0.28 (roots exist for c/q < 0.3248, zero wins above 1/4). */
    {
        const double lam = pow(0.035 / 20.0, 2.0 / 3.0); /* c = lam^{3/2} sqrt(N) = 0.035 */
        nc_prediction *p = predict(NC_PREDICT_DEEP_LINEAR_MSE, K, c, lam, lam, 0.0);
        double nc, sv[4];
        int col[4];
        nc_prediction_set_depth(p, 2);
        nc_prediction_compute(p);
        nc_prediction_get_collapsed(p, col);
        nc_prediction_get_critical_count(p, &nc);
        nc_prediction_get_singular_values(p, sv);
        nc_test_true(!col[0] && !col[1] && col[2] && col[3], "depth 2: n = 50 classes collapse");
        nc_test_rel(nc, 400.0 * 0.035 * 4.0, 1e-12, "depth 2: critical count N c M^2/(M-1)^((M-1)/M)");
        nc_test_true(sv[2] == 0.0 && sv[1] > 0.0, "collapsed layer singular values are 0");
        nc_prediction_destroy(p);
    }
    /* Critical count for depth 3 against the solver over a sweep of decays. */
    {
        int ok = 1, i;
        for (i = 0; i < 40; i++) {
            const double lam = 1e-3 * pow(1.15, i);
            nc_prediction *p = predict(NC_PREDICT_DEEP_LINEAR_MSE, K, c, lam, 0.7 * lam, 0.0);
            double nc;
            int col[4];
            size_t k;
            nc_prediction_set_depth(p, 3);
            nc_prediction_compute(p);
            nc_prediction_get_collapsed(p, col);
            nc_prediction_get_critical_count(p, &nc);
            for (k = 0; k < K; k++) ok &= col[k] == ((double)c[k] <= nc);
            nc_prediction_destroy(p);
        }
        nc_test_true(ok, "depth 3: class collapses iff n_k <= critical count (40 decays)");
    }
    /* Against trained deep linear models, depths 1 to 3 (init std 0.4, as
     * THEORY.md advises: small inits can converge to W = H = 0). */
    {
        size_t M;
        for (M = 1; M <= 3; M++) {
            const size_t d = 8;
            nc_model *m = NULL;
            nc_prediction *p = predict(NC_PREDICT_DEEP_LINEAR_MSE, K, c, 5e-4, 5e-4, 0.0);
            double sv[4], s[8], e = 0;
            char name[64];
            size_t l, k;
            nc_prediction_set_depth(p, M);
            nc_model_create_counts(&m, d, K, c);
            nc_model_set_loss(m, NC_LOSS_MSE);
            nc_model_set_depth(m, M);
            nc_model_set_weight_decay(m, 5e-4, 5e-4, 0);
            nc_model_init_gaussian(m, 0.4, 5);
            nc_test_int(train(m, 20000), NC_STOP_GRADIENT_TOLERANCE, "deep linear trains");
            nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "compute");
            snprintf(name, sizeof name, "Dang 2023 deep linear (M = %lu)", (unsigned long)M);
            check_against_model(name, m, p);
            /* Every layer's K largest singular values are sigma_k^{1/M}. */
            nc_prediction_get_singular_values(p, sv);
            for (l = 0; l < M; l++) {
                layer_sv(m, l, l + 1 < M ? d : K, d, s);
                for (k = 0; k < K; k++) e = fmax(e, fabs(s[k] - sv[k]) / sv[k]);
            }
            nc_test_abs(e, 0.0, 1e-5, "trained layers' singular values = sigma_k^{1/M}");
            if (verbose) printf("  depth %lu: layer singular values max rel err %.1e\n", (unsigned long)M, e);
            nc_model_destroy(m);
            nc_prediction_destroy(p);
        }
    }
}

/* ---- Yang et al. 2022: fixed ETF ------------------------------------------------------- */

static void check_fixed_etf(void)
{
    const size_t c[4] = {200, 100, 50, 50}, cb[4] = {100, 100, 100, 100}, K = 4, d = 8;
    const double norm = 2.0, lH = 1e-3, N = 400;
    nc_prediction *p = NULL, *q = NULL;
    nc_model *m = NULL;
    double t, tb, s = norm * 4.0 / 3.0, col;
    int cl[4];
    p = predict(NC_PREDICT_FIXED_ETF, K, c, 0.0, lH, 0.0);
    nc_prediction_set_classifier_norm(p, norm);
    nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "fixed ETF compute");
    nc_prediction_get_feature_scale(p, &t);
    /* t solves s / (N (1 + e^{st}/(K-1))) = lH t */
    nc_test_rel(s / (N * (1.0 + exp(s * t) / 3.0)), lH * t, 1e-14, "t solves THEORY.md's equation");
    q = predict(NC_PREDICT_FIXED_ETF, K, cb, 0.0, lH, 0.0);
    nc_prediction_set_classifier_norm(q, norm);
    nc_prediction_compute(q);
    nc_prediction_get_feature_scale(q, &tb);
    nc_test_rel(tb, t, 1e-15, "t does not depend on the class counts (same N)");
    nc_prediction_get_collapsed(p, cl);
    nc_test_true(!cl[0] && !cl[3], "fixed ETF: no collapse");
    nc_test_int(nc_prediction_get_critical_count(p, &col), NC_SUCCESS, "critical count");
    nc_test_abs(col, 0.0, 0.0, "fixed ETF: critical count 0");
    nc_model_create_counts(&m, d, K, c);
    nc_model_fix_classifier_etf(m, norm, 9, NULL, 0);
    nc_model_set_weight_decay(m, 0.0, lH, 0.0);
    nc_model_init_gaussian(m, 0.1, 5);
    nc_test_int(train(m, 20000), NC_STOP_GRADIENT_TOLERANCE, "fixed-ETF model trains");
    check_against_model("Yang 2022 fixed ETF", m, p);
    if (verbose) printf("  fixed ETF: t = %.15f\n", t);
    nc_model_destroy(m);
    nc_prediction_destroy(p);
    nc_prediction_destroy(q);
}

/* ---- kinds: one list, the names, values outside it ------------------------------------- */

/* Each kind's name as its messages give it. */
static const struct {
    nc_prediction_kind kind;
    const char *name;
} kind_names[] = {
    {NC_PREDICT_BALANCED_CE, "balanced CE"},
    {NC_PREDICT_BALANCED_MSE, "balanced MSE"},
    {NC_PREDICT_HONG_LING_CE, "Hong & Ling 2023 CE"},
    {NC_PREDICT_DANG_RELU_CE, "Dang et al. 2024 ReLU CE"},
    {NC_PREDICT_DEEP_LINEAR_MSE, "Dang et al. 2023 deep linear MSE"},
    {NC_PREDICT_FIXED_ETF, "Yang et al. 2022 fixed ETF"},
};

static void check_kinds(void)
{
#define ONE_KIND(name, value, id) +1
    enum { n_kinds = 0 NC_PREDICTION_KINDS(ONE_KIND) };
#undef ONE_KIND
    const size_t c[3] = {5, 5, 5};
    const int outside[] = {-1, n_kinds, n_kinds + 1, 1000, INT_MAX, INT_MIN};
    size_t i;
    char desc[160];
    nc_test_int(n_kinds, sizeof kind_names / sizeof kind_names[0],
                "every kind of the list has its name here");
    for (i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++) {
        const nc_prediction_kind kind = kind_names[i].kind;
        const char *name = kind_names[i].name;
        const nc__prediction_def *def = nc__prediction_lookup(kind);
        nc_prediction *p = NULL;
        const char *msg;
        snprintf(desc, sizeof desc, "kind %d: value %lu in list order", (int)kind,
                 (unsigned long)i);
        nc_test_int((int)kind, (long long)i, desc);
        snprintf(desc, sizeof desc, "kind %d: a descriptor of that kind named '%s'", (int)kind,
                 name);
        nc_test_true(def != NULL && def->kind == kind && strcmp(def->name, name) == 0 &&
                         def->compute != NULL && def->critical_count != NULL,
                     desc);
        snprintf(desc, sizeof desc, "kind %d: create", (int)kind);
        nc_test_int(nc_prediction_create(&p, kind, 3, c), NC_SUCCESS, desc);
        /* The decays are 0 at creation: compute refuses and names the kind. */
        snprintf(desc, sizeof desc, "kind %d: compute without decays", (int)kind);
        nc_test_int(nc_prediction_compute(p), NC_ERR_INVALID_VALUE, desc);
        msg = nc_prediction_last_error(p);
        snprintf(desc, sizeof desc, "kind %d: message '%s' starts with '%s needs '", (int)kind,
                 msg, name);
        nc_test_true(strncmp(msg, name, strlen(name)) == 0 &&
                         strncmp(msg + strlen(name), " needs ", 7) == 0,
                     desc);
        nc_prediction_destroy(p);
    }
    /* A value outside the list is refused by each function that takes a kind,
     * with a named error (no handle exists yet to hold a message). */
    for (i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        nc_prediction *p = NULL;
        const nc_prediction_kind kind = (nc_prediction_kind)outside[i];
        snprintf(desc, sizeof desc, "kind %d outside the list: create refuses it", outside[i]);
        nc_test_int(nc_prediction_create(&p, kind, 3, c), NC_ERR_INVALID_VALUE, desc);
        snprintf(desc, sizeof desc, "kind %d outside the list: no handle", outside[i]);
        nc_test_true(p == NULL, desc);
        snprintf(desc, sizeof desc, "kind %d outside the list: no descriptor", outside[i]);
        nc_test_true(nc__prediction_lookup(kind) == NULL, desc);
    }
    nc_test_true(strcmp(nc_status_name(NC_ERR_INVALID_VALUE), "NC_ERR_INVALID_VALUE") == 0 &&
                     strlen(nc_strerror(NC_ERR_INVALID_VALUE)) > 0,
                 "the refusal is a named error with a message");
}

/* ---- errors -------------------------------------------------------------------------- */

static void check_errors(void)
{
    const size_t c[3] = {5, 5, 5}, cu[3] = {5, 4, 5}, cz[3] = {5, 0, 5};
    nc_prediction *p = NULL;
    double x, G[9], b[3];
    int col[3];
    nc_test_int(nc_prediction_create(NULL, NC_PREDICT_BALANCED_CE, 3, c), NC_ERR_NULL_ARGUMENT, "NULL out");
    nc_test_int(nc_prediction_create(&p, NC_PREDICT_BALANCED_CE, 3, NULL), NC_ERR_NULL_ARGUMENT, "NULL counts");
    nc_test_true(p == NULL, "failed create leaves NULL");
    nc_test_int(nc_prediction_create(&p, NC_PREDICT_BALANCED_CE, 1, c), NC_ERR_INVALID_SIZE, "K = 1");
    nc_test_int(nc_prediction_create(&p, NC_PREDICT_HONG_LING_CE, 3, cz), NC_ERR_EMPTY_CLASS, "zero count");
    nc_test_int(nc_prediction_create(&p, NC_PREDICT_BALANCED_MSE, 3, cu), NC_ERR_INVALID_VALUE, "balanced needs equal counts");
    nc_test_int(nc_prediction_create(&p, (nc_prediction_kind)6, 3, c), NC_ERR_INVALID_VALUE, "unknown kind");
    nc_test_int(nc_prediction_create(&p, (nc_prediction_kind)-1, 3, c), NC_ERR_INVALID_VALUE, "negative kind");
    nc_test_int(nc_prediction_create(&p, NC_PREDICT_DANG_RELU_CE, 3, c), NC_SUCCESS, "create");
    nc_test_int(nc_prediction_get_objective(p, &x), NC_ERR_UNAVAILABLE, "nothing computed yet");
    nc_test_int(nc_prediction_compute(p), NC_ERR_INVALID_VALUE, "decays not set");
    nc_test_true(strlen(nc_prediction_last_error(p)) > 0, "message");
    nc_test_int(nc_prediction_set_weight_decay(p, -1, 1, 0), NC_ERR_INVALID_VALUE, "negative decay");
    nc_test_int(nc_prediction_set_weight_decay(p, NAN, 1, 0), NC_ERR_NON_FINITE, "NaN decay");
    nc_test_int(nc_prediction_set_depth(p, 0), NC_ERR_INVALID_VALUE, "depth 0");
    nc_test_int(nc_prediction_set_classifier_norm(p, 0), NC_ERR_INVALID_VALUE, "norm 0");
    nc_test_int(nc_prediction_set_classifier_norm(p, INFINITY), NC_ERR_NON_FINITE, "norm inf");
    nc_test_int(nc_prediction_set_tolerance(p, 0, 10), NC_ERR_INVALID_VALUE, "tol 0");
    nc_test_int(nc_prediction_set_tolerance(p, 1e-10, 0), NC_ERR_INVALID_VALUE, "0 iterations");
    nc_test_int(nc_prediction_set_tolerance(p, NAN, 10), NC_ERR_NON_FINITE, "NaN tol");
    nc_prediction_set_weight_decay(p, 0.01, 0.01, 0);
    nc_prediction_set_bias(p, 1);
    nc_test_int(nc_prediction_compute(p), NC_ERR_UNSUPPORTED, "ReLU has no bias");
    nc_prediction_set_bias(p, 0);
    nc_prediction_set_depth(p, 2);
    nc_test_int(nc_prediction_compute(p), NC_ERR_UNSUPPORTED, "ReLU has depth 1");
    nc_prediction_set_depth(p, 1);
    nc_test_int(nc_prediction_compute(p), NC_SUCCESS, "valid compute");
    nc_test_int(nc_prediction_get_logits(p, G, 2), NC_ERR_SIZE_MISMATCH, "ldz < K");
    nc_test_int(nc_prediction_get_logits(p, NULL, 3), NC_ERR_NULL_ARGUMENT, "NULL Z");
    nc_test_int(nc_prediction_get_norms(p, NULL, NULL), NC_ERR_NULL_ARGUMENT, "both norms NULL");
    nc_test_int(nc_prediction_get_singular_values(p, G), NC_ERR_UNAVAILABLE, "no singular values for ReLU");
    nc_test_int(nc_prediction_get_feature_scale(p, &x), NC_ERR_UNAVAILABLE, "t only for fixed ETF");
    nc_test_int(nc_prediction_get_bias(p, b), NC_SUCCESS, "bias of a bias-free kind");
    nc_test_true(b[0] == 0 && b[2] == 0, "zeros");
    nc_test_int(nc_prediction_get_collapsed(p, col), NC_SUCCESS, "collapsed");
    nc_prediction_set_weight_decay(p, 0.02, 0.02, 0);
    nc_test_int(nc_prediction_get_objective(p, &x), NC_ERR_UNAVAILABLE, "a setter invalidates results");
    nc_prediction_destroy(p);
    p = NULL;
    nc_prediction_create(&p, NC_PREDICT_FIXED_ETF, 3, c);
    nc_test_int(nc_prediction_get_thresholds(p, G), NC_ERR_UNAVAILABLE, "no threshold for fixed ETF");
    nc_prediction_set_weight_decay(p, 0, 0, 0);
    nc_test_int(nc_prediction_compute(p), NC_ERR_INVALID_VALUE, "fixed ETF needs lambda_H > 0");
    nc_prediction_destroy(p);
    p = NULL;
    nc_prediction_create(&p, NC_PREDICT_DEEP_LINEAR_MSE, 3, c);
    nc_prediction_set_depth(p, 3);
    nc_test_int(nc_prediction_get_thresholds(p, G), NC_ERR_UNAVAILABLE, "lambda threshold needs depth 1");
    nc_prediction_set_weight_decay(p, 0.01, 0.0, 0);
    nc_test_int(nc_prediction_compute(p), NC_ERR_INVALID_VALUE, "lambda_H = 0");
    nc_prediction_destroy(p);
    nc_prediction_destroy(NULL);
    nc_test_int(nc_prediction_set_bias(NULL, 1), NC_ERR_NULL_ARGUMENT, "NULL handle");
    nc_test_int(nc_prediction_compute(NULL), NC_ERR_NULL_ARGUMENT, "NULL compute");
    nc_test_int(nc_prediction_iterations(NULL), 0, "NULL iterations");
    nc_test_true(strcmp(nc_prediction_last_error(NULL), "") == 0, "NULL message");
}

int main(void)
{
    verbose = getenv("NC_TEST_VERBOSE") != NULL;
    check_balanced_ce();
    check_balanced_mse();
    check_hong_ling();
    check_dang_relu();
    check_deep_linear();
    check_fixed_etf();
    check_kinds();
    check_errors();
    return nc_test_summary("test_analysis_predict");
}

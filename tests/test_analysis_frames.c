/*
 * test_analysis_frames.c - frames, Procrustes alignment, distances to the
 * nearest ETF / orthogonal frame, and the structure metrics (class means,
 * Grams, structure distance, minority-collapse indicators, CDNV): exact
 * frames score zero, known rotations and scales are recovered, closed forms
 * agree with an independent route (Procrustes onto a generated frame),
 * results are invariant under rotation, scale and translation, and every
 * error path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ncollapse.h"
#define NC_TEST_LCG_SEED 4242
#include "testutil.h"

/* max |A_ij - B_ij| over a rows x cols pair of strided matrices */
static double maxdiff(const double *A, size_t lda, const double *B, size_t ldb, size_t rows,
                      size_t cols)
{
    double m = 0;
    size_t i, j;
    for (j = 0; j < cols; j++)
        for (i = 0; i < rows; i++) {
            double e = fabs(A[j * lda + i] - B[j * ldb + i]);
            if (e > m) m = e;
        }
    return m;
}

/* C = A^T B, naive (d x K frames, ld given) */
static void naive_gram(size_t d, size_t K, const double *A, size_t lda, const double *B,
                       size_t ldb, double *G)
{
    size_t i, j, t;
    for (j = 0; j < K; j++)
        for (i = 0; i < K; i++) {
            double s = 0;
            for (t = 0; t < d; t++) s += A[i * lda + t] * B[j * ldb + t];
            G[j * K + i] = s;
        }
}

/* ---- generators ---------------------------------------------------------------- */

static void check_generators(void)
{
    const size_t Ks[3] = {2, 5, 10};
    size_t ki;
    for (ki = 0; ki < 3; ki++) {
        const size_t K = Ks[ki];
        const size_t ds[3] = {K - 1, K, K + 3};
        size_t di;
        for (di = 0; di < 3; di++) {
            const size_t d = ds[di], ld = d + 2;
            double *M = (double *)malloc(ld * K * sizeof(double)), *G = (double *)malloc(K * K * sizeof(double));
            double err = 0, dist = -1;
            size_t i, j;
            nc_test_int(nc_frame_simplex_etf(d, K, M, ld), NC_SUCCESS, "simplex ETF");
            naive_gram(d, K, M, ld, M, ld, G);
            for (j = 0; j < K; j++)
                for (i = 0; i < K; i++) {
                    double want = i == j ? 1.0 : -1.0 / (double)(K - 1);
                    if (fabs(G[j * K + i] - want) > err) err = fabs(G[j * K + i] - want);
                }
            nc_test_abs(err, 0.0, 2e-15, "ETF Gram = unit norms, cosines -1/(K-1)");
            nc_test_int(nc_frame_etf_distance(d, K, M, ld, &dist), NC_SUCCESS, "ETF distance");
            nc_test_abs(dist, 0.0, 1e-15, "the simplex ETF is at distance 0 from the nearest ETF");
            if (d >= K) {
                /* Singular values sqrt(K/(K-1)) (K-1 times) and 0: distance to the
                 * nearest orthogonal frame is exactly 1/sqrt(K). */
                nc_test_int(nc_frame_orthogonal_distance(d, K, M, ld, &dist), NC_SUCCESS,
                            "orthogonal distance of an ETF");
                nc_test_rel(dist, 1.0 / sqrt((double)K), 1e-14,
                            "ETF to nearest orthogonal frame = 1/sqrt(K)");
                nc_test_int(nc_frame_orthogonal(d, K, NULL, M, ld), NC_SUCCESS, "orthonormal frame");
                nc_test_int(nc_frame_orthogonal_distance(d, K, M, ld, &dist), NC_SUCCESS, "orth dist");
                nc_test_abs(dist, 0.0, 1e-15, "an orthonormal frame is at distance 0");
                nc_test_int(nc_frame_etf_distance(d, K, M, ld, &dist), NC_SUCCESS, "etf dist");
                nc_test_rel(dist, 1.0 / sqrt((double)K), 1e-14,
                            "orthonormal frame to nearest ETF = 1/sqrt(K)");
            }
            free(M);
            free(G);
        }
    }
    /* General orthogonal frame with given lengths. */
    {
        const double len[4] = {3.0, 1.0, 0.5, 0.0};
        double M[6 * 4], nrm[4], G[16];
        size_t k;
        nc_test_int(nc_frame_orthogonal(6, 4, len, M, 6), NC_SUCCESS, "GOF");
        nc_test_int(nc_frame_norms(6, 4, M, 6, nrm), NC_SUCCESS, "norms");
        for (k = 0; k < 4; k++) nc_test_abs(nrm[k], len[k], 0.0, "GOF lengths");
        nc_test_int(nc_structure_gram(6, 4, M, 6, NULL, 0, G, 4), NC_SUCCESS, "GOF Gram");
        nc_test_abs(G[1] + G[2] + G[3] + G[6] + G[7] + G[11], 0.0, 0.0, "GOF orthogonal");
    }
    /* Random orthogonal: orthonormal columns, reproducible, seed-dependent. */
    {
        const size_t d = 7, p = 4, ld = 9;
        double Q[9 * 4], Q2[9 * 4], G[16], I4[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
        nc_test_int(nc_frame_random_orthogonal(d, p, 17, Q, ld), NC_SUCCESS, "random orthogonal");
        naive_gram(d, p, Q, ld, Q, ld, G);
        nc_test_abs(maxdiff(G, 4, I4, 4, 4, 4), 0.0, 1e-15, "Q^T Q = I");
        nc_frame_random_orthogonal(d, p, 17, Q2, ld);
        nc_test_true(maxdiff(Q, ld, Q2, ld, d, p) == 0.0, "same seed, same Q");
        nc_frame_random_orthogonal(d, p, 18, Q2, ld);
        nc_test_true(maxdiff(Q, ld, Q2, ld, d, p) > 0.1, "another seed, another Q");
    }
}

/* ---- Procrustes -------------------------------------------------------------------- */

static void check_align(void)
{
    /* K >= d: the rotation is unique. T = s Q A exactly. */
    {
        const size_t d = 5, K = 8, lda = 6;
        double A[6 * 8], T[5 * 8], Q[25], R[7 * 5], s, res, nT = 0;
        size_t i;
        fill(A, lda * K, 1.0);
        nc_frame_random_orthogonal(d, d, 99, Q, d);
        memcpy(T, A, sizeof T); /* placeholder, overwritten */
        for (i = 0; i < K; i++) {
            size_t r, c;
            for (r = 0; r < d; r++) {
                double v = 0;
                for (c = 0; c < d; c++) v += Q[c * d + r] * A[i * lda + c];
                T[i * d + r] = 3.7 * v;
                nT += T[i * d + r] * T[i * d + r];
            }
        }
        nc_test_int(nc_frame_align(d, K, A, lda, T, d, R, 7, &s, &res), NC_SUCCESS, "align");
        nc_test_abs(maxdiff(R, 7, Q, d, d, d), 0.0, 1e-12, "Procrustes recovers the rotation");
        nc_test_rel(s, 3.7, 1e-12, "Procrustes recovers the scale");
        nc_test_abs(res / sqrt(nT), 0.0, 1e-12, "exact alignment has residual 0");
        /* Scale of the data does not matter (powers of two and not). */
        {
            double A2[6 * 8], s2, res2;
            for (i = 0; i < lda * K; i++) A2[i] = 1e-200 * A[i];
            nc_test_int(nc_frame_align(d, K, A2, lda, T, d, NULL, 0, &s2, &res2), NC_SUCCESS,
                        "align tiny A");
            nc_test_rel(s2, 3.7e200, 1e-12, "scale of a 1e-200 frame");
        }
    }
    /* d > K with noise: the O(d K^2) path (R NULL) agrees with the d x d SVD
     * path, and a pure rotation + scale is recovered on it too. */
    {
        const size_t d = 12, K = 5;
        double A[60], T[60], N[60], Q[144], R[144], s1, r1, s2, r2, nT = 0;
        size_t i, r, c;
        fill(A, 60, 2.0);
        fill(N, 60, 0.1);
        nc_frame_random_orthogonal(d, d, 5, Q, d);
        for (i = 0; i < K; i++)
            for (r = 0; r < d; r++) {
                double v = 0;
                for (c = 0; c < d; c++) v += Q[c * d + r] * A[i * d + c];
                T[i * d + r] = 0.25 * v;
                nT += T[i * d + r] * T[i * d + r];
            }
        nc_test_int(nc_frame_align(d, K, A, d, T, d, NULL, 0, &s1, &r1), NC_SUCCESS, "thin path");
        nc_test_rel(s1, 0.25, 1e-12, "thin path recovers the scale");
        nc_test_abs(r1 / sqrt(nT), 0.0, 1e-12, "thin path: residual 0");
        for (i = 0; i < 60; i++) T[i] += N[i];
        nc_frame_align(d, K, A, d, T, d, NULL, 0, &s1, &r1);
        nc_test_int(nc_frame_align(d, K, A, d, T, d, R, d, &s2, &r2), NC_SUCCESS, "full path");
        nc_test_rel(s1, s2, 1e-12, "thin and full paths: same scale");
        nc_test_rel(r1, r2, 1e-10, "thin and full paths: same residual");
        /* Residual of the full path recomputed by hand from R and s. */
        {
            double e = 0;
            for (i = 0; i < K; i++)
                for (r = 0; r < d; r++) {
                    double v = 0;
                    for (c = 0; c < d; c++) v += R[c * d + r] * A[i * d + c];
                    e += (s2 * v - T[i * d + r]) * (s2 * v - T[i * d + r]);
                }
            nc_test_rel(r2, sqrt(e), 1e-12, "residual = ||s R A - T||");
        }
    }
}

/* ---- distances: independent route and invariances ---------------------------------------- */

static void check_distances(void)
{
    const size_t d = 9, K = 6, lda = 11;
    double A[11 * 6], B[11 * 6], E[9 * 6], O[9 * 6], Q[81], de, dO, s, res, nA = 0, x;
    size_t i, r, c;
    fill(A, lda * K, 1.0);
    for (i = 0; i < K; i++)
        for (r = 0; r < d; r++) nA += A[i * lda + r] * A[i * lda + r];
    nc_test_int(nc_frame_etf_distance(d, K, A, lda, &de), NC_SUCCESS, "etf distance");
    nc_test_int(nc_frame_orthogonal_distance(d, K, A, lda, &dO), NC_SUCCESS, "orth distance");
    nc_test_true(de > 0.1 && de < 1.0 && dO > 0.1 && dO < 1.0, "random frame: distances in (0, 1)");
    /* Independent route: Procrustes of the generated frame onto A minimises
     * ||s R E - A|| over rotations and scales, which is the definition. */
    nc_frame_simplex_etf(d, K, E, d);
    nc_test_int(nc_frame_align(d, K, E, d, A, lda, NULL, 0, &s, &res), NC_SUCCESS, "align E to A");
    nc_test_rel(de, res / sqrt(nA), 1e-12, "ETF distance = Procrustes residual of an ETF");
    nc_frame_orthogonal(d, K, NULL, O, d);
    nc_frame_align(d, K, O, d, A, lda, NULL, 0, &s, &res);
    nc_test_rel(dO, res / sqrt(nA), 1e-12, "orthogonal distance = Procrustes residual");
    /* Invariance under rotation and scale. */
    nc_frame_random_orthogonal(d, d, 3, Q, d);
    {
        const double scales[4] = {1.0, 3.3, 1e-250, 1e250};
        size_t si;
        for (si = 0; si < 4; si++) {
            for (i = 0; i < K; i++)
                for (r = 0; r < d; r++) {
                    double v = 0;
                    for (c = 0; c < d; c++) v += Q[c * d + r] * A[i * lda + c];
                    B[i * lda + r] = scales[si] * v;
                }
            nc_frame_etf_distance(d, K, B, lda, &x);
            nc_test_rel(x, de, 1e-13, "ETF distance invariant under rotation and scale");
            nc_frame_orthogonal_distance(d, K, B, lda, &x);
            nc_test_rel(x, dO, 1e-13, "orthogonal distance invariant under rotation and scale");
        }
    }
    /* A rotated, scaled ETF plus noise eps: distance ~ eps (no 1 - x cancellation). */
    {
        double F[9 * 6], n2 = 0;
        nc_frame_simplex_etf(d, K, F, d);
        nc_frame_transform(d, K, Q, d, F, d);
        for (i = 0; i < d * K; i++) F[i] *= 5.0;
        nc_frame_etf_distance(d, K, F, d, &x);
        nc_test_abs(x, 0.0, 2e-15, "rotated scaled ETF: distance 0");
        for (i = 0; i < d * K; i++) {
            double e = 1e-9 * urand();
            F[i] += e;
            n2 += e * e;
        }
        nc_frame_etf_distance(d, K, F, d, &x);
        nc_test_true(x > 0 && x <= sqrt(n2) / sqrt(5.0 * 5.0 * K) * 1.0001,
                     "ETF + 1e-9 noise: distance <= ||noise|| / ||A|| (resolved, not 1e-8 floor)");
        nc_test_true(x > 1e-12, "ETF + 1e-9 noise: distance resolved above rounding");
    }
    /* Translation: an ETF shifted by c 1^T is far from an ETF, and centring
     * (class-average mean) brings it back to 0. */
    {
        double F[9 * 6], C[9 * 6];
        size_t k;
        nc_frame_simplex_etf(d, K, F, d);
        for (k = 0; k < K; k++)
            for (r = 0; r < d; r++) F[k * d + r] += 0.3 * (double)(r + 1);
        nc_frame_etf_distance(d, K, F, d, &x);
        nc_test_true(x > 0.5, "shifted ETF is not an ETF");
        nc_test_int(nc_frame_center(d, K, F, d, NULL, C, d), NC_SUCCESS, "center");
        nc_frame_etf_distance(d, K, C, d, &x);
        nc_test_abs(x, 0.0, 1e-15, "centred shifted ETF is an ETF");
        nc_test_int(nc_frame_center(d, K, F, d, NULL, F, d), NC_SUCCESS, "center in place");
        nc_test_abs(maxdiff(F, d, C, d, d, K), 0.0, 0.0, "in place == out of place");
    }
    /* Weighted centring subtracts sum_k (n_k/N) a_k. */
    {
        const size_t cnt[3] = {1, 2, 5};
        const double a[6] = {1, 0, 0, 1, 8, 8};
        double C[6];
        nc_test_int(nc_frame_center(2, 3, a, 2, cnt, C, 2), NC_SUCCESS, "weighted centre");
        /* mean = (1*[1,0] + 2*[0,1] + 5*[8,8]) / 8 = [41/8, 42/8] */
        nc_test_abs(C[0], 1.0 - 41.0 / 8.0, 1e-15, "weighted centre x");
        nc_test_abs(C[5], 8.0 - 42.0 / 8.0, 1e-15, "weighted centre y");
    }
}

/* ---- structure metrics ---------------------------------------------------------------- */

static void check_structure(void)
{
    const size_t d = 4, K = 3, N = 9, ldh = 5;
    const int32_t labels[9] = {0, 1, 2, 0, 1, 2, 2, 2, 0};
    double H[5 * 9], M[6 * 3], G[9], G2[9], naive[9], mu[12] = {0};
    size_t counts[3], cnt[3] = {0}, i, t, k;
    fill(H, 5 * 9, 2.0);
    for (i = 0; i < N; i++) {
        cnt[labels[i]]++;
        for (t = 0; t < d; t++) mu[labels[i] * d + t] += H[i * ldh + t];
    }
    for (k = 0; k < K; k++)
        for (t = 0; t < d; t++) mu[k * d + t] /= (double)cnt[k];
    nc_test_int(nc_structure_class_means(d, K, N, H, ldh, labels, M, 6, counts), NC_SUCCESS,
                "class means");
    nc_test_abs(maxdiff(M, 6, mu, d, d, K), 0.0, 1e-15, "class means = naive means");
    nc_test_true(counts[0] == 3 && counts[1] == 2 && counts[2] == 4, "class counts");
    /* Grams: A^T A (syrk path), A^T B, against naive. */
    nc_test_int(nc_structure_gram(d, K, M, 6, NULL, 0, G, 3), NC_SUCCESS, "gram");
    naive_gram(d, K, M, 6, M, 6, naive);
    nc_test_abs(maxdiff(G, 3, naive, 3, 3, 3), 0.0, 1e-14, "Gram = naive");
    nc_test_int(nc_structure_gram(d, K, M, 6, M, 6, G2, 3), NC_SUCCESS, "gram A^T B");
    nc_test_abs(maxdiff(G, 3, G2, 3, 3, 3), 0.0, 1e-14, "A^T A via dsyrk = via dgemm");
    /* Structure distance: 0 to itself and to a scaled copy; known value. */
    {
        double dist, I5[25] = {0}, J5[25];
        for (i = 0; i < 9; i++) G2[i] = 7.5 * G[i];
        nc_test_int(nc_structure_distance(K, G, 3, G2, 3, &dist), NC_SUCCESS, "distance");
        nc_test_abs(dist, 0.0, 1e-15, "structure distance to a scaled copy is 0");
        for (i = 0; i < 5; i++) I5[i * 6] = 1.0;
        for (i = 0; i < 25; i++) J5[i] = 1e-300;
        nc_structure_distance(5, I5, 5, J5, 5, &dist);
        nc_test_rel(dist, sqrt(2.0 - 2.0 / sqrt(5.0)), 1e-15,
                    "|| I/||I|| - J/||J|| || = sqrt(2 - 2/sqrt(K)), J of 1e-300");
    }
    /* CDNV: hand example, d = 1: class 0 {-1, 1}, class 1 {9, 11}: (1 + 1)/(2 * 100). */
    {
        const double h[4] = {-1, 9, 1, 11};
        const int32_t y[4] = {0, 1, 0, 1};
        double mean, pairs[4];
        nc_test_int(nc_structure_cdnv(1, 2, 4, h, 1, y, &mean, pairs, 2), NC_SUCCESS, "cdnv");
        nc_test_rel(mean, 0.01, 1e-15, "CDNV hand example");
        nc_test_rel(pairs[2], 0.01, 1e-15, "CDNV pair matrix");
        nc_test_abs(pairs[0], 0.0, 0.0, "CDNV diagonal 0");
    }
    /* CDNV against a naive computation, and invariance under rotation,
     * scale and translation of the features. */
    {
        double mean, want = 0, V[3] = {0}, Q[16], H2[5 * 9], x;
        size_t a, b, c;
        for (i = 0; i < N; i++) {
            const size_t y = (size_t)labels[i];
            for (t = 0; t < d; t++) V[y] += pow(H[i * ldh + t] - mu[y * d + t], 2) / (double)cnt[y];
        }
        for (a = 0; a < K; a++)
            for (b = a + 1; b < K; b++) {
                double dd = 0;
                for (t = 0; t < d; t++) dd += pow(mu[a * d + t] - mu[b * d + t], 2);
                want += (V[a] + V[b]) / (2 * dd) / 3.0;
            }
        nc_test_int(nc_structure_cdnv(d, K, N, H, ldh, labels, &mean, NULL, 0), NC_SUCCESS, "cdnv");
        nc_test_rel(mean, want, 1e-13, "CDNV = naive");
        nc_frame_random_orthogonal(d, d, 8, Q, d);
        for (i = 0; i < N; i++)
            for (t = 0; t < d; t++) {
                double v = 0;
                for (c = 0; c < d; c++) v += Q[c * d + t] * H[i * ldh + c];
                H2[i * ldh + t] = 1e100 * (v + 5.0);
            }
        nc_structure_cdnv(d, K, N, H2, ldh, labels, &x, NULL, 0);
        nc_test_rel(x, want, 1e-12, "CDNV invariant under rotation, scale 1e100, translation");
    }
    /* Minority indicators: an ETF has every cosine -1/(K-1); collapsed
     * minority vectors; groups from counts == explicit groups; rotation. */
    {
        const size_t KK = 6, dd = 6;
        double E[36], st[NC_MINORITY_STAT_COUNT], st2[NC_MINORITY_STAT_COUNT], Q[36];
        const int minority[6] = {0, 0, 0, 1, 1, 1};
        const size_t cnts[6] = {500, 500, 500, 20, 20, 20};
        nc_frame_simplex_etf(dd, KK, E, dd);
        nc_test_int(nc_structure_minority(dd, KK, E, dd, minority, NULL, st), NC_SUCCESS, "minority");
        nc_test_abs(st[NC_MINORITY_COS_MAJOR], -0.2, 1e-15, "ETF: majority cosine -1/(K-1)");
        nc_test_abs(st[NC_MINORITY_COS_MINOR], -0.2, 1e-15, "ETF: minority cosine -1/(K-1)");
        nc_test_abs(st[NC_MINORITY_COS_ACROSS], -0.2, 1e-15, "ETF: across cosine -1/(K-1)");
        nc_test_rel(st[NC_MINORITY_SPREAD], sqrt(12.0 / 5.0), 1e-15, "ETF: spread sqrt(2K/(K-1))");
        nc_structure_minority(dd, KK, E, dd, NULL, cnts, st2);
        nc_test_true(memcmp(st, st2, sizeof st) == 0, "groups from counts == explicit groups");
        nc_frame_random_orthogonal(dd, dd, 21, Q, dd);
        nc_frame_transform(dd, KK, Q, dd, E, dd);
        for (i = 0; i < 36; i++) E[i] *= 1e-30;
        nc_structure_minority(dd, KK, E, dd, minority, NULL, st2);
        for (i = 0; i < NC_MINORITY_STAT_COUNT; i++)
            nc_test_abs(st2[i], st[i], 1e-14, "minority indicators invariant under rotation, scale");
        /* Collapse the minority vectors onto one. */
        for (i = 0; i < dd; i++) E[4 * dd + i] = E[5 * dd + i] = E[3 * dd + i];
        nc_structure_minority(dd, KK, E, dd, minority, NULL, st2);
        nc_test_abs(st2[NC_MINORITY_COS_MINOR], 1.0, 1e-15, "collapsed minority: cosine 1");
        nc_test_abs(st2[NC_MINORITY_SPREAD], 0.0, 0.0, "collapsed minority: spread 0");
        /* One minority class: its within-group cosine does not exist. */
        {
            const int one[6] = {0, 0, 0, 0, 0, 1};
            nc_test_int(nc_structure_minority(dd, KK, E, dd, one, NULL, st2), NC_SUCCESS, "one minority");
            nc_test_true(isnan(st2[NC_MINORITY_COS_MINOR]) && isnan(st2[NC_MINORITY_SPREAD]),
                         "single minority class: NaN indicators");
        }
    }
}

/* ---- error paths ------------------------------------------------------------------------ */

static void check_errors(void)
{
    double A[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, B[12], Z[12] = {0}, x, s, r, G[16];
    double st[NC_MINORITY_STAT_COUNT];
    const int32_t lab[4] = {0, 1, 0, 1}, badlab[4] = {0, 2, 0, 1}, onelab[4] = {0, 0, 0, 0};
    const size_t cz[3] = {1, 0, 2};
    const int none[3] = {0, 0, 0}, all[3] = {1, 1, 1};
    /* generators */
    nc_test_int(nc_frame_simplex_etf(3, 5, B, 3), NC_ERR_INVALID_SIZE, "ETF needs d >= K-1");
    nc_test_int(nc_frame_simplex_etf(3, 1, B, 3), NC_ERR_INVALID_SIZE, "ETF needs K >= 2");
    nc_test_int(nc_frame_simplex_etf(3, 3, NULL, 3), NC_ERR_NULL_ARGUMENT, "ETF NULL");
    nc_test_int(nc_frame_simplex_etf(3, 3, B, 2), NC_ERR_SIZE_MISMATCH, "ETF ldm < d");
    nc_test_int(nc_frame_orthogonal(2, 3, NULL, B, 2), NC_ERR_INVALID_SIZE, "orthogonal needs d >= K");
    {
        double neg[2] = {1, -1}, nan_[2] = {1, NAN};
        nc_test_int(nc_frame_orthogonal(2, 2, neg, B, 2), NC_ERR_INVALID_VALUE, "negative length");
        nc_test_int(nc_frame_orthogonal(2, 2, nan_, B, 2), NC_ERR_NON_FINITE, "NaN length");
    }
    nc_test_int(nc_frame_random_orthogonal(3, 4, 1, B, 3), NC_ERR_INVALID_SIZE, "p > d");
    nc_test_int(nc_frame_random_orthogonal(3, 0, 1, B, 3), NC_ERR_INVALID_SIZE, "p = 0");
    nc_test_int(nc_frame_random_orthogonal(0, 0, 1, B, 3), NC_ERR_INVALID_SIZE, "d = 0");
    nc_test_int(nc_frame_random_orthogonal(3, 2, 1, B, 2), NC_ERR_SIZE_MISMATCH, "ldq < d");
    nc_test_int(nc_frame_transform(2, 2, NULL, 2, B, 2), NC_ERR_NULL_ARGUMENT, "transform NULL");
    A[1] = NAN;
    nc_test_int(nc_frame_transform(2, 2, A, 2, B, 2), NC_ERR_NON_FINITE, "transform NaN Q");
    nc_test_int(nc_frame_norms(2, 2, A, 2, B), NC_ERR_NON_FINITE, "norms NaN");
    nc_test_int(nc_frame_etf_distance(2, 2, A, 2, &x), NC_ERR_NON_FINITE, "etf distance NaN");
    nc_test_true(isnan(x), "failed distance stores NaN");
    A[1] = INFINITY;
    nc_test_int(nc_frame_center(2, 2, A, 2, NULL, B, 2), NC_ERR_NON_FINITE, "center Inf");
    A[1] = 2;
    nc_test_int(nc_frame_center(2, 3, A, 2, cz, B, 2), NC_ERR_EMPTY_CLASS, "center zero count");
    nc_test_int(nc_frame_center(2, 3, A, 2, NULL, A, 3), NC_ERR_SIZE_MISMATCH,
                "in-place centring with another ld");
    nc_test_int(nc_frame_center(2, 3, A, 1, NULL, B, 2), NC_ERR_SIZE_MISMATCH, "lda < d");
    /* align */
    nc_test_int(nc_frame_align(2, 3, A, 2, B, 2, NULL, 0, NULL, &r), NC_ERR_NULL_ARGUMENT, "align NULL scale");
    nc_test_int(nc_frame_align(2, 3, Z, 2, A, 2, NULL, 0, &s, &r), NC_ERR_UNAVAILABLE, "align A = 0");
    nc_test_true(isnan(s) && isnan(r), "align A = 0 stores NaN");
    nc_test_int(nc_frame_align(2, 3, A, 2, A, 2, G, 1, &s, &r), NC_ERR_SIZE_MISMATCH, "ldr < d");
    nc_test_int(nc_frame_align(2, 3, A, 2, A, 1, NULL, 0, &s, &r), NC_ERR_SIZE_MISMATCH, "ldt < d");
    nc_test_int(nc_frame_align((size_t)1 << 40, 3, A, (size_t)1 << 40, A, (size_t)1 << 40, NULL,
                               0, &s, &r),
                NC_ERR_INVALID_SIZE, "d beyond INT_MAX");
    /* distances */
    nc_test_int(nc_frame_etf_distance(2, 4, A, 2, &x), NC_ERR_INVALID_SIZE, "ETF distance d < K-1");
    nc_test_int(nc_frame_orthogonal_distance(2, 3, A, 2, &x), NC_ERR_INVALID_SIZE, "orth distance d < K");
    nc_test_int(nc_frame_etf_distance(2, 3, Z, 2, &x), NC_ERR_UNAVAILABLE, "ETF distance of 0");
    nc_test_int(nc_frame_etf_distance(2, 1, A, 2, &x), NC_ERR_INVALID_SIZE, "ETF distance K = 1");
    nc_test_int(nc_frame_etf_distance(2, 3, A, 2, NULL), NC_ERR_NULL_ARGUMENT, "distance NULL out");
    /* structure */
    nc_test_int(nc_structure_class_means(2, 2, 4, A, 2, badlab, B, 2, NULL), NC_ERR_LABEL_OUT_OF_RANGE, "label = K");
    nc_test_int(nc_structure_class_means(2, 2, 4, A, 2, onelab, B, 2, NULL), NC_ERR_EMPTY_CLASS, "empty class");
    nc_test_int(nc_structure_class_means(2, 2, 4, A, 2, NULL, B, 2, NULL), NC_ERR_NULL_ARGUMENT, "NULL labels");
    nc_test_int(nc_structure_class_means(2, 2, 4, A, 2, lab, B, 1, NULL), NC_ERR_SIZE_MISMATCH, "ldm < d");
    nc_test_int(nc_structure_class_means(2, 1, 4, A, 2, lab, B, 2, NULL), NC_ERR_INVALID_SIZE, "K = 1");
    nc_test_int(nc_structure_class_means(2, 2, 0, A, 2, lab, B, 2, NULL), NC_ERR_INVALID_SIZE, "N = 0");
    A[3] = NAN;
    nc_test_int(nc_structure_class_means(2, 2, 4, A, 2, lab, B, 2, NULL), NC_ERR_NON_FINITE, "means NaN");
    nc_test_int(nc_structure_cdnv(2, 2, 4, A, 2, lab, &x, NULL, 0), NC_ERR_NON_FINITE, "cdnv NaN");
    nc_test_int(nc_structure_gram(2, 2, A, 2, NULL, 0, G, 2), NC_ERR_NON_FINITE, "gram NaN");
    A[3] = 4;
    nc_test_int(nc_structure_gram(2, 2, A, 2, NULL, 0, G, 1), NC_ERR_SIZE_MISMATCH, "ldg < K");
    nc_test_int(nc_structure_gram(2, 2, A, 2, NULL, 0, NULL, 2), NC_ERR_NULL_ARGUMENT, "gram NULL G");
    {
        double big[4] = {1e200, 1e200, 1, 1};
        nc_test_int(nc_structure_gram(2, 2, big, 2, NULL, 0, G, 2), NC_ERR_OVERFLOW, "gram overflow");
    }
    nc_test_int(nc_structure_distance(2, Z, 2, A, 2, &x), NC_ERR_UNAVAILABLE, "structure distance of 0");
    nc_test_int(nc_structure_distance(2, A, 1, A, 2, &x), NC_ERR_SIZE_MISMATCH, "lda < K");
    nc_test_int(nc_structure_minority(2, 3, A, 2, NULL, NULL, st), NC_ERR_NULL_ARGUMENT, "no groups");
    nc_test_int(nc_structure_minority(2, 3, A, 2, none, NULL, st), NC_ERR_INVALID_VALUE, "no minority");
    nc_test_int(nc_structure_minority(2, 3, A, 2, all, NULL, st), NC_ERR_INVALID_VALUE, "no majority");
    nc_test_int(nc_structure_minority(2, 3, A, 2, NULL, cz, st), NC_ERR_EMPTY_CLASS, "zero count");
    {
        double Az[6] = {1, 2, 0, 0, 3, 1};
        const int g[3] = {0, 1, 1};
        nc_test_int(nc_structure_minority(2, 3, Az, 2, g, NULL, st), NC_ERR_UNAVAILABLE, "zero vector");
    }
    {
        const double h[4] = {1, 1, 2, 2};
        const int32_t y[4] = {0, 1, 0, 1};
        double pairs[4];
        nc_test_int(nc_structure_cdnv(1, 2, 4, h, 1, y, &x, NULL, 0), NC_ERR_UNAVAILABLE, "equal means");
        nc_test_true(isnan(x), "cdnv failure stores NaN");
        nc_test_int(nc_structure_cdnv(1, 2, 4, h, 1, y, &x, pairs, 1), NC_ERR_SIZE_MISMATCH, "ldp < K");
        nc_test_int(nc_structure_cdnv(1, 2, 4, h, 0, y, &x, NULL, 0), NC_ERR_SIZE_MISMATCH, "ldh < d");
    }
}

/*
 * The minority indicators against the pairs themselves, summed here in long
 * double: K = 700 vectors in d = 30 with 450 minority ones (two tiles of
 * the spread's Gram). Three frames: random vectors with a third of the
 * minority ones within 1e-9 of one another and the farthest minority pair
 * planted across the two tiles (minority positions 1 and 440); every
 * minority vector within 1e-9 of the first; and minority vectors 5% apart
 * around a common one (cosines about 0.998), where the spread is mostly
 * cancellation. Cosines to 1e-14 absolute (they lie in [-1, 1]), the
 * spread to 1e-12 relative.
 */
static void minority_direct(size_t d, size_t K, const double *A, const int *minor, double *st)
{
    long double sum[3] = {0.0L, 0.0L, 0.0L}, best = 0.0L, maxn = 0.0L;
    double npair[3] = {0.0, 0.0, 0.0};
    size_t i, j, t;
    for (i = 0; i < K; i++) {
        long double n = 0.0L;
        for (t = 0; t < d; t++) n += (long double)A[i * d + t] * A[i * d + t];
        if (sqrtl(n) > maxn) maxn = sqrtl(n);
    }
    for (i = 0; i < K; i++)
        for (j = i + 1; j < K; j++) {
            long double dot = 0.0L, ni = 0.0L, nj = 0.0L, e2 = 0.0L;
            const int g = minor[i] && minor[j] ? 1 : (!minor[i] && !minor[j] ? 0 : 2);
            for (t = 0; t < d; t++) {
                const long double a = A[i * d + t], b = A[j * d + t];
                dot += a * b;
                ni += a * a;
                nj += b * b;
                e2 += (a - b) * (a - b);
            }
            sum[g] += dot / sqrtl(ni) / sqrtl(nj);
            npair[g] += 1.0;
            if (g == 1 && e2 > best) best = e2;
        }
    for (i = 0; i < 3; i++) st[i] = (double)(sum[i] / npair[i]);
    st[NC_MINORITY_SPREAD] = (double)(sqrtl(best) / maxn);
}

static void check_minority_large(void)
{
    const size_t K = 700, d = 30;
    double *A = malloc(K * d * sizeof(double)), st[NC_MINORITY_STAT_COUNT], want[NC_MINORITY_STAT_COUNT];
    int *minor = malloc(K * sizeof(int));
    unsigned long long r = 99;
    size_t i, t, c;
    char desc[160];
    static const char *const what[3] = {"", " (minority collapsed to 1e-9)",
                                        " (minority 5% apart)"};
    for (c = 0; c < 3; c++) {
        for (i = 0; i < K; i++) {
            minor[i] = i % 14 < 9; /* 450 minority vectors */
            for (t = 0; t < d; t++) {
                r = r * 6364136223846793005ULL + 1442695040888963407ULL;
                A[i * d + t] = (double)(r >> 11) / 9007199254740992.0 - 0.5 + (t == 0 ? 0.2 : 0.0);
            }
        }
        for (i = 1; i < K; i++)
            if (minor[i] && (c == 1 || (c == 0 && i % 3 == 0)))
                for (t = 0; t < d; t++) /* near the first minority vector */
                    A[i * d + t] = A[t] * (1.0 + 1e-9 * (double)((int)((i * 7 + t * 13) % 17) - 8));
            else if (minor[i] && c == 2)
                for (t = 0; t < d; t++) A[i * d + t] = A[t] + 0.05 * A[i * d + t];
        if (c == 0)
            for (t = 0; t < d; t++) { /* classes 1 and 680: minority positions 1 and 440 */
                A[1 * d + t] = t == 3 ? 3.0 : 0.0;
                A[680 * d + t] = t == 3 ? -3.0 : 0.0;
            }
        nc_test_int(nc_structure_minority(d, K, A, d, minor, NULL, st), NC_SUCCESS, "minority, K = 700");
        minority_direct(d, K, A, minor, want);
        for (i = 0; i < 3; i++) {
            snprintf(desc, sizeof desc, "minority, K = 700%s: cosine %zu against the pairs", what[c], i);
            nc_test_abs(st[i], want[i], 1e-14, desc);
        }
        snprintf(desc, sizeof desc, "minority, K = 700%s: spread against the pairs", what[c]);
        nc_test_rel(st[NC_MINORITY_SPREAD], want[NC_MINORITY_SPREAD], 1e-12, desc);
    }
    free(A);
    free(minor);
}

int main(void)
{
    check_generators();
    check_align();
    check_distances();
    check_structure();
    check_minority_large();
    check_errors();
    return nc_test_summary("test_analysis_frames");
}

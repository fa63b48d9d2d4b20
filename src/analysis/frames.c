/*
 * frames.c - frames (sets of K vectors in R^d), their generators, orthogonal
 * Procrustes alignment, and closed-form distances to the nearest simplex ETF
 * and to the nearest orthogonal frame ("Analysis" in ncollapse.h).
 *
 * A frame is a d x K column-major matrix with leading dimension ld >= d, one
 * vector per column. A K x d row-major classifier W with row stride ldw is the
 * same memory as the d x K column-major frame of its rows with ld = ldw, so
 * every function here takes class means and classifier rows alike.
 *
 * Choices beyond the header:
 *  - Inputs are scaled by a power of two (exact) so that their largest entry
 *    lies in [1/2, 1) before any product is formed: the results are scale
 *    invariant (or scaled back exactly), and data of magnitude 1e-300 or
 *    1e300 neither underflows nor overflows.
 *  - The distances are computed from the singular values directly as sums
 *    of squared deviations (see nc_frame_etf_distance), never as
 *    1 - (something close to 1), so a frame that is an ETF to rounding
 *    scores ~1e-16, not ~1e-8.
 *  - Procrustes without the rotation output works on the thin QR factor of
 *    A (cost O(d K^2), no d x d matrix); with the rotation it takes the SVD
 *    of the d x d matrix T A^T (cost O(d^2 K + d^3)).
 *  - Functions allocate their scratch per call (never inside a loop) and
 *    free it before returning.
 */
#include "common/common.h"
#include "common/sum.h"
#include "common/rng.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

/* ---- helpers ------------------------------------------------------------------ */

/* Common validation of a d x K frame argument. */
static nc_status check_frame(size_t d, size_t K, const double *A, size_t lda, int need_finite)
{
    return nc__check_matrix(A, d, K, lda, need_finite);
}




/* Allocate n doubles (n >= 1), NULL on overflow or failure. */
/* Copy a d x K frame scaled by s into a dense d x K buffer (ld d). */
static void copy_scaled(size_t d, size_t K, const double *A, size_t lda, double s, double *out)
{
    size_t i, k;
    for (k = 0; k < K; k++)
        for (i = 0; i < d; i++) out[k * d + i] = s * A[k * lda + i];
}

/* Singular values (descending) of the dense m x n matrix X (destroyed). */
static nc_status singular_values(size_t m, size_t n, double *X, double *s)
{
    double *superb;
    lapack_int info;
    const size_t p = m < n ? m : n;
    superb = nc__alloc_doubles(p, 1);
    if (superb == NULL) return NC_ERR_OUT_OF_MEMORY;
    info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'N', (lapack_int)m, (lapack_int)n, X,
                          (lapack_int)m, s, NULL, 1, NULL, 1, superb);
    free(superb);
    return info == 0 ? NC_SUCCESS : NC_ERR_LAPACK;
}

/* ---- generators ---------------------------------------------------------------- */

NC_API nc_status nc_frame_simplex_etf(size_t d, size_t K, double *M, size_t ldm)
{
    nc_status st;
    size_t i, j, k;
    const double c = sqrt((double)K / (double)(K - 1));
    if (M == NULL) return NC_ERR_NULL_ARGUMENT;
    if (K < 2 || d + 1 < K) return NC_ERR_INVALID_SIZE;
    st = check_frame(d, K, M, ldm, 0);
    if (st != NC_SUCCESS) return st;
    /* Column k = sqrt(K/(K-1)) Q^T e_k where the rows of the (K-1) x K
     * Helmert matrix Q are an orthonormal basis of the complement of the
     * all-ones vector: row j (1-based) = (1, ..., 1, -j, 0, ..., 0) / sqrt(j (j+1))
     * with j ones. Then M^T M = (K/(K-1)) (I - J/K). */
    for (k = 0; k < K; k++) {
        double *col = M + k * ldm;
        for (i = 0; i < d; i++) col[i] = 0.0;
        for (j = 1; j < K; j++) {
            const double r = 1.0 / sqrt((double)j * (double)(j + 1));
            double v = 0.0;
            if (k < j)
                v = r;
            else if (k == j)
                v = -(double)j * r;
            col[j - 1] = c * v;
        }
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_frame_orthogonal(size_t d, size_t K, const double *lengths, double *M,
                                     size_t ldm)
{
    nc_status st;
    size_t i, k;
    if (M == NULL) return NC_ERR_NULL_ARGUMENT;
    if (K < 1 || d < K) return NC_ERR_INVALID_SIZE;
    st = check_frame(d, K, M, ldm, 0);
    if (st != NC_SUCCESS) return st;
    if (lengths != NULL) {
        if (!nc__all_finite(lengths, K)) return NC_ERR_NON_FINITE;
        for (k = 0; k < K; k++)
            if (lengths[k] < 0.0) return NC_ERR_INVALID_VALUE;
    }
    for (k = 0; k < K; k++) {
        double *col = M + k * ldm;
        for (i = 0; i < d; i++) col[i] = 0.0;
        col[k] = lengths != NULL ? lengths[k] : 1.0;
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_frame_random_orthogonal(size_t d, size_t p, uint64_t seed, double *Q,
                                            size_t ldq)
{
    nc_status st;
    nc__rng rng;
    double *A, *tau, *diag;
    size_t i, k;
    lapack_int info;
    if (Q == NULL) return NC_ERR_NULL_ARGUMENT;
    if (p < 1 || p > d) return NC_ERR_INVALID_SIZE;
    st = check_frame(d, p, Q, ldq, 0);
    if (st != NC_SUCCESS) return st;
    {
        size_t n;
        if (nc__mul_size(d, p, &n)) return NC_ERR_INVALID_SIZE;
        A = nc__alloc_doubles(n, 1);
    }
    tau = nc__alloc_doubles(p, 1);
    diag = nc__alloc_doubles(p, 1);
    if (A == NULL || tau == NULL || diag == NULL) {
        free(A);
        free(tau);
        free(diag);
        return NC_ERR_OUT_OF_MEMORY;
    }
    /* Gaussian d x p, column by column; Q of its QR with the signs fixed so
     * that diag(R) > 0 is Haar distributed (Mezzadri 2007). */
    nc__rng_seed(&rng, seed);
    for (i = 0; i < d * p; i++) A[i] = nc__rng_normal(&rng);
    info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)p, A, (lapack_int)d, tau);
    if (info == 0) {
        for (k = 0; k < p; k++) diag[k] = A[k * d + k];
        info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)p, (lapack_int)p, A,
                              (lapack_int)d, tau);
    }
    if (info != 0) {
        free(A);
        free(tau);
        free(diag);
        return NC_ERR_LAPACK;
    }
    for (k = 0; k < p; k++) {
        const double sgn = diag[k] < 0.0 ? -1.0 : 1.0;
        for (i = 0; i < d; i++) Q[k * ldq + i] = sgn * A[k * d + i];
    }
    free(A);
    free(tau);
    free(diag);
    return NC_SUCCESS;
}

NC_API nc_status nc_frame_transform(size_t d, size_t K, const double *Q, size_t ldq, double *M,
                                    size_t ldm)
{
    nc_status st;
    double *tmp;
    size_t n;
    if (Q == NULL || M == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_frame(d, d, Q, ldq, 1);
    if (st != NC_SUCCESS) return st;
    st = check_frame(d, K, M, ldm, 1);
    if (st != NC_SUCCESS) return st;
    if (nc__mul_size(d, K, &n)) return NC_ERR_INVALID_SIZE;
    tmp = nc__alloc_doubles(n, 1);
    if (tmp == NULL) return NC_ERR_OUT_OF_MEMORY;
    copy_scaled(d, K, M, ldm, 1.0, tmp);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)K, (int)d, 1.0, Q,
                (int)ldq, tmp, (int)d, 0.0, M, (int)ldm);
    free(tmp);
    return NC_SUCCESS;
}

NC_API nc_status nc_frame_center(size_t d, size_t K, const double *A, size_t lda,
                                 const size_t *counts, double *C, size_t ldc)
{
    nc_status st;
    double *mean;
    size_t i, k, N = 0;
    if (A == NULL || C == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_frame(d, K, A, lda, 1);
    if (st != NC_SUCCESS) return st;
    st = check_frame(d, K, C, ldc, 0);
    if (st != NC_SUCCESS) return st;
    if (C == A && ldc != lda) return NC_ERR_SIZE_MISMATCH;
    if (counts != NULL)
        for (k = 0; k < K; k++) {
            if (counts[k] == 0) return NC_ERR_EMPTY_CLASS;
            if (counts[k] > SIZE_MAX - N) return NC_ERR_INVALID_SIZE;
            N += counts[k];
        }
    mean = nc__alloc_doubles(d, 1);
    if (mean == NULL) return NC_ERR_OUT_OF_MEMORY;
    for (i = 0; i < d; i++) {
        nc__sum acc = {0.0, 0.0};
        for (k = 0; k < K; k++) {
            const double c =
                counts != NULL ? (double)counts[k] / (double)N : 1.0 / (double)K;
            nc__sum_add(&acc, c * A[k * lda + i]);
        }
        mean[i] = nc__sum_value(&acc);
    }
    for (k = 0; k < K; k++)
        for (i = 0; i < d; i++) C[k * ldc + i] = A[k * lda + i] - mean[i];
    free(mean);
    return NC_SUCCESS;
}

NC_API nc_status nc_frame_norms(size_t d, size_t K, const double *A, size_t lda, double *norms)
{
    nc_status st;
    size_t i, k;
    if (A == NULL || norms == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_frame(d, K, A, lda, 1);
    if (st != NC_SUCCESS) return st;
    for (k = 0; k < K; k++) {
        const double *col = A + k * lda;
        const double s = nc__pow2_scale(nc__amax_mat(col, d, 1, d));
        nc__sum acc = {0.0, 0.0};
        for (i = 0; i < d; i++) nc__sum_add(&acc, (s * col[i]) * (s * col[i]));
        norms[k] = sqrt(nc__sum_value(&acc)) / s;
    }
    return NC_SUCCESS;
}

/* ---- alignment ----------------------------------------------------------------- */

/*
 * Orthogonal Procrustes with scale: minimise ||s R A - T||_F over orthogonal
 * R (d x d) and s >= 0. With the SVD T A^T = U S V^T: R = U V^T,
 * s = tr(S) / ||A||_F^2, residual ||s R A - T||_F.
 */
NC_API nc_status nc_frame_align(size_t d, size_t K, const double *A, size_t lda, const double *T,
                                size_t ldt, double *R, size_t ldr, double *scale,
                                double *residual)
{
    nc_status st;
    double sa, st_, nA2, trS = 0.0, s, res2;
    double *a = NULL, *t = NULL, *work = NULL;
    size_t i, k, n;
    lapack_int info;
    if (A == NULL || T == NULL || scale == NULL || residual == NULL) return NC_ERR_NULL_ARGUMENT;
    *scale = NAN;
    *residual = NAN;
    st = check_frame(d, K, A, lda, 1);
    if (st != NC_SUCCESS) return st;
    st = check_frame(d, K, T, ldt, 1);
    if (st != NC_SUCCESS) return st;
    if (R != NULL) {
        st = check_frame(d, d, R, ldr, 0);
        if (st != NC_SUCCESS) return st;
    }
    sa = nc__pow2_scale(nc__amax_mat(A, d, K, lda));
    st_ = nc__pow2_scale(nc__amax_mat(T, d, K, ldt));
    if (nc__amax_mat(A, d, K, lda) == 0.0) return NC_ERR_UNAVAILABLE; /* s undefined */
    if (nc__mul_size(d, K, &n)) return NC_ERR_INVALID_SIZE;
    a = nc__alloc_doubles(n, 1);
    t = nc__alloc_doubles(n, 1);
    if (a == NULL || t == NULL) {
        st = NC_ERR_OUT_OF_MEMORY;
        goto done;
    }
    copy_scaled(d, K, A, lda, sa, a);
    copy_scaled(d, K, T, ldt, st_, t);
    nA2 = nc__norm2(a, n);

    if (R != NULL || d <= K) {
        /* C = T A^T (d x d); SVD C = U S V^T; R = U V^T. */
        double *C, *U, *VT, *S, *sup, *RA;
        size_t dd = 0, need = 0;
        if (nc__size_mad(&dd, d, d) || nc__size_mad(&need, 3, dd) || nc__size_mad(&need, 2, d) || nc__size_mad(&need, 1, n) ||
            (work = nc__alloc_doubles(need, 1)) == NULL) {
            st = NC_ERR_OUT_OF_MEMORY;
            goto done;
        }
        C = work;
        U = C + dd;
        VT = U + dd;
        S = VT + dd;
        sup = S + d;
        RA = sup + d;
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)K, 1.0, t,
                    (int)d, a, (int)d, 0.0, C, (int)d);
        info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'A', 'A', (lapack_int)d, (lapack_int)d, C,
                              (lapack_int)d, S, U, (lapack_int)d, VT, (lapack_int)d, sup);
        if (info != 0) {
            st = NC_ERR_LAPACK;
            goto done;
        }
        for (k = 0; k < d; k++) trS += S[k];
        /* R = U V^T into C (reused). */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, U,
                    (int)d, VT, (int)d, 0.0, C, (int)d);
        s = trS / nA2;
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)K, (int)d, s, C,
                    (int)d, a, (int)d, 0.0, RA, (int)d);
        for (i = 0; i < n; i++) RA[i] -= t[i];
        res2 = nc__norm2(RA, n);
        if (R != NULL)
            for (k = 0; k < d; k++)
                for (i = 0; i < d; i++) R[k * ldr + i] = C[k * d + i];
    } else {
        /* d > K and no rotation wanted: A = Q_A R_A (thin QR), T A^T =
         * (T R_A^T) Q_A^T. With T R_A^T = U1 S V1^T (d x K), the optimal
         * R maps Q_A V1 to U1, so s R A = s U1 V1^T R_A: everything is
         * d x K or K x K. */
        double *tau, *RA, *B, *U1, *VT1, *S, *sup, *X, *Y;
        size_t kk = 0, need = 0;
        if (nc__size_mad(&kk, K, K) || nc__size_mad(&need, 3, kk) || nc__size_mad(&need, 3, n) || nc__size_mad(&need, 3, K) ||
            (work = nc__alloc_doubles(need, 1)) == NULL) {
            st = NC_ERR_OUT_OF_MEMORY;
            goto done;
        }
        tau = work;
        S = tau + K;
        sup = S + K;
        RA = sup + K;  /* K x K upper triangular factor */
        VT1 = RA + kk; /* K x K */
        X = VT1 + kk;  /* K x K */
        B = X + kk;    /* d x K: T R_A^T, then U1 */
        U1 = B + n;    /* d x K */
        Y = U1 + n;    /* d x K */
        memcpy(Y, a, n * sizeof(double));
        info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)K, Y, (lapack_int)d,
                              tau);
        if (info != 0) {
            st = NC_ERR_LAPACK;
            goto done;
        }
        for (k = 0; k < K; k++)
            for (i = 0; i < K; i++) RA[k * K + i] = i <= k ? Y[k * d + i] : 0.0;
        /* B = T R_A^T */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)d, (int)K, (int)K, 1.0, t,
                    (int)d, RA, (int)K, 0.0, B, (int)d);
        info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'A', (lapack_int)d, (lapack_int)K, B,
                              (lapack_int)d, S, U1, (lapack_int)d, VT1, (lapack_int)K, sup);
        if (info != 0) {
            st = NC_ERR_LAPACK;
            goto done;
        }
        for (k = 0; k < K; k++) trS += S[k];
        s = trS / nA2;
        /* X = V1^T R_A (K x K), then Y = s U1 X - t. */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)K, (int)K, 1.0, VT1,
                    (int)K, RA, (int)K, 0.0, X, (int)K);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)K, (int)K, s, U1,
                    (int)d, X, (int)K, 0.0, Y, (int)d);
        for (i = 0; i < n; i++) Y[i] -= t[i];
        res2 = nc__norm2(Y, n);
    }
    /* Undo the scalings: A was multiplied by sa and T by st_. */
    *scale = s * sa / st_;
    *residual = sqrt(res2) / st_;
    st = NC_SUCCESS;
done:
    free(a);
    free(t);
    free(work);
    return st;
}

/* ---- distances to frames --------------------------------------------------------- */

/*
 * Nearest simplex ETF: the set {c R E : c >= 0, R orthogonal} with E a
 * simplex ETF of unit vectors. Writing A = (A 1/K) 1^T + A P (P = I - J/K)
 * and A P = U S V^T, the nearest point is c U_{K-1} V_{K-1}^T with c the mean
 * of the K-1 largest singular values, and the squared residual is
 * ||A 1||^2 / K + sum_{i<K} (s_i - mean)^2 (+ the K-th singular value, which is
 * zero for A P). Relative to ||A||_F^2 this is the squared distance.
 */
static nc_status frame_distance(size_t d, size_t K, const double *A, size_t lda, int etf,
                                double *distance)
{
    nc_status st;
    double *X, *s, sc, mean = 0.0;
    size_t i, k, n, p, r;
    nc__sum dev = {0.0, 0.0};
    if (distance == NULL || A == NULL) return NC_ERR_NULL_ARGUMENT;
    *distance = NAN;
    st = check_frame(d, K, A, lda, 1);
    if (st != NC_SUCCESS) return st;
    if (K < 2) return NC_ERR_INVALID_SIZE;
    if (etf ? d + 1 < K : d < K) return NC_ERR_INVALID_SIZE;
    sc = nc__amax_mat(A, d, K, lda);
    if (sc == 0.0) return NC_ERR_UNAVAILABLE;
    sc = nc__pow2_scale(sc);
    if (nc__mul_size(d, K, &n)) return NC_ERR_INVALID_SIZE;
    p = d < K ? d : K;
    X = n > SIZE_MAX - p - d ? NULL : nc__alloc_doubles(n + p + d, 1);
    if (X == NULL) return NC_ERR_OUT_OF_MEMORY;
    s = X + n;
    copy_scaled(d, K, A, lda, sc, X);
    {
        const double nA2 = nc__norm2(X, n);
        double *colmean = s + p;
        r = etf ? K - 1 : K; /* number of singular values of the frame */
        if (etf) {
            for (i = 0; i < d; i++) {
                nc__sum acc = {0.0, 0.0};
                for (k = 0; k < K; k++) nc__sum_add(&acc, X[k * d + i]);
                colmean[i] = nc__sum_value(&acc) / (double)K;
            }
            for (k = 0; k < K; k++)
                for (i = 0; i < d; i++) X[k * d + i] -= colmean[i];
            /* ||A 1||^2 / K = K ||colmean||^2 */
            nc__sum_add(&dev, (double)K * nc__norm2(colmean, d));
        }
        st = singular_values(d, K, X, s);
        if (st != NC_SUCCESS) {
            free(X);
            return st;
        }
        if (r > p) r = p; /* only for etf with d == K - 1: r = K - 1 = d = p */
        for (i = 0; i < r; i++) mean += s[i];
        mean /= (double)r;
        for (i = 0; i < r; i++) nc__sum_add(&dev, (s[i] - mean) * (s[i] - mean));
        for (i = r; i < p; i++) nc__sum_add(&dev, s[i] * s[i]);
        *distance = sqrt(nc__sum_value(&dev) / nA2);
        if (*distance > 1.0) *distance = 1.0; /* rounding */
    }
    free(X);
    return NC_SUCCESS;
}

NC_API nc_status nc_frame_etf_distance(size_t d, size_t K, const double *A, size_t lda,
                                       double *distance)
{
    return frame_distance(d, K, A, lda, 1, distance);
}

NC_API nc_status nc_frame_orthogonal_distance(size_t d, size_t K, const double *A, size_t lda,
                                              double *distance)
{
    return frame_distance(d, K, A, lda, 0, distance);
}

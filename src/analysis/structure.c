/*
 * structure.c - structure metrics for imbalanced data ("Analysis" in
 * ncollapse.h): class means, Gram matrices, the structure distance to a
 * target, minority-collapse indicators and the CDNV.
 *
 * Choices beyond the header:
 *  - Features are scaled by a power of two (exact) so that their largest
 *    entry lies in [1/2, 1) before means, variances and distances are
 *    formed; results are scaled back exactly (means) or are scale invariant
 *    (CDNV, cosines, distances).
 *  - Class means use two passes (sum / n_k, then the mean of the residuals
 *    added back), as in metrics.c.
 *  - Sums of squares use the Neumaier accumulator.
 */
#include "common/common.h"
#include "common/sum.h"
#include "metrics/metrics.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>


static nc_status check_mat(size_t rows, size_t cols, const double *A, size_t lda,
                           int need_finite)
{
    return nc__check_matrix(A, rows, cols, lda, need_finite);
}



/* Validate labels and count classes into counts (K entries). */
static nc_status count_labels(size_t K, size_t N, const int32_t *labels, size_t *counts)
{
    size_t i, k;
    for (k = 0; k < K; k++) counts[k] = 0;
    for (i = 0; i < N; i++) {
        const int32_t y = labels[i];
        if (y < 0 || (size_t)y >= K) return NC_ERR_LABEL_OUT_OF_RANGE;
        counts[y]++;
    }
    for (k = 0; k < K; k++)
        if (counts[k] == 0) return NC_ERR_EMPTY_CLASS;
    return NC_SUCCESS;
}

static nc_status check_features(size_t d, size_t K, size_t N, const double *H, size_t ldh,
                                const int32_t *labels)
{
    nc_status st;
    if (H == NULL || labels == NULL) return NC_ERR_NULL_ARGUMENT;
    if (K < 2 || N == 0 || !nc__fits_int(K)) return NC_ERR_INVALID_SIZE;
    st = check_mat(d, N, H, ldh, 0);
    if (st != NC_SUCCESS) return st;
    return NC_SUCCESS;
}

NC_API nc_status nc_structure_class_means(size_t d, size_t K, size_t N, const double *H,
                                          size_t ldh, const int32_t *labels, double *M,
                                          size_t ldm, size_t *counts)
{
    nc_status st;
    size_t *cnt, n, k, t;
    double *mu, *resid, s;
    if (M == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_features(d, K, N, H, ldh, labels);
    if (st != NC_SUCCESS) return st;
    st = check_mat(d, K, M, ldm, 0);
    if (st != NC_SUCCESS) return st;
    if (nc__mul_size(d, K, &n) || n > SIZE_MAX / 2) return NC_ERR_INVALID_SIZE;
    cnt = (size_t *)malloc(K * sizeof(size_t));
    mu = nc__alloc_doubles(2 * n, 1);
    if (cnt == NULL || mu == NULL) {
        free(cnt);
        free(mu);
        return NC_ERR_OUT_OF_MEMORY;
    }
    resid = mu + n;
    st = count_labels(K, N, labels, cnt);
    if (st == NC_SUCCESS && !nc__all_finite_mat(H, d, N, ldh)) st = NC_ERR_NON_FINITE;
    if (st == NC_SUCCESS) {
        s = nc__pow2_scale(nc__amax_mat(H, d, N, ldh));
        nc__class_means(d, K, N, H, ldh, labels, s, cnt, mu, resid);
        for (k = 0; k < K; k++)
            for (t = 0; t < d; t++) M[k * ldm + t] = mu[k * d + t] / s;
        if (counts != NULL) memcpy(counts, cnt, K * sizeof(size_t));
    }
    free(cnt);
    free(mu);
    return st;
}

NC_API nc_status nc_structure_gram(size_t d, size_t K, const double *A, size_t lda,
                                   const double *B, size_t ldb, double *G, size_t ldg)
{
    nc_status st;
    size_t j, k;
    if (G == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_mat(d, K, A, lda, 1);
    if (st != NC_SUCCESS) return st;
    if (B != NULL) {
        st = check_mat(d, K, B, ldb, 1);
        if (st != NC_SUCCESS) return st;
    }
    st = check_mat(K, K, G, ldg, 0);
    if (st != NC_SUCCESS) return st;
    if (B == NULL) {
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (int)K, (int)d, 1.0, A, (int)lda, 0.0,
                    G, (int)ldg);
        for (k = 0; k < K; k++)
            for (j = k + 1; j < K; j++) G[k * ldg + j] = G[j * ldg + k];
    } else {
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)K, (int)d, 1.0, A,
                    (int)lda, B, (int)ldb, 0.0, G, (int)ldg);
    }
    if (!nc__all_finite_mat(G, K, K, ldg)) return NC_ERR_OVERFLOW;
    return NC_SUCCESS;
}

/* ||X||_F of s X for a K x K strided matrix. */
static double frob_scaled(size_t K, const double *X, size_t ld, double s)
{
    nc__sum acc = {0.0, 0.0};
    size_t j, k;
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++) nc__sum_add(&acc, (s * X[k * ld + j]) * (s * X[k * ld + j]));
    return sqrt(nc__sum_value(&acc));
}

NC_API nc_status nc_structure_distance(size_t K, const double *A, size_t lda, const double *T,
                                       size_t ldt, double *distance)
{
    nc_status st;
    double sa, sb, na, nt;
    nc__sum acc = {0.0, 0.0};
    size_t j, k;
    if (distance == NULL) return NC_ERR_NULL_ARGUMENT;
    *distance = NAN;
    st = check_mat(K, K, A, lda, 1);
    if (st != NC_SUCCESS) return st;
    st = check_mat(K, K, T, ldt, 1);
    if (st != NC_SUCCESS) return st;
    sa = nc__amax_mat(A, K, K, lda);
    sb = nc__amax_mat(T, K, K, ldt);
    if (sa == 0.0 || sb == 0.0) return NC_ERR_UNAVAILABLE;
    sa = nc__pow2_scale(sa);
    sb = nc__pow2_scale(sb);
    na = frob_scaled(K, A, lda, sa);
    nt = frob_scaled(K, T, ldt, sb);
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++) {
            const double e = sa * A[k * lda + j] / na - sb * T[k * ldt + j] / nt;
            nc__sum_add(&acc, e * e);
        }
    *distance = sqrt(nc__sum_value(&acc));
    return NC_SUCCESS;
}

/* The side of the Gram tiles of minority_spread2: a 256 x 256 tile (0.5 MB)
 * stays in L2 while its entries are read. */
#define NC_SPREAD_TILE 256

/*
 * The largest ||v_i - v_j||^2 over pairs of the m columns of V (d x m, ld
 * d), overwritten. The columns are first taken relative to the first one,
 * w_i = v_i - v_0 (each difference rounded relative to itself), and n2
 * receives ||w_i||^2; then ||w_i||^2 + ||w_j||^2 - 2 w_i.w_j from the Gram
 * of the w in tiles (one DGEMM each). Every ||w_i|| is at most the spread
 * D, so for the farthest pair the difference cancels at most a factor of
 * about 2, and no other pair can come out above D^2 by more than a few
 * units of rounding of D^2: the spread keeps its digits however tightly the
 * minority vectors have collapsed, with no pair summed apart (on the
 * vectors themselves, a collapse would leave D to rounding). G holds a
 * tile.
 */
static double minority_spread2(double *V, double *n2, size_t d, size_t m, double *G)
{
    const size_t T = NC_SPREAD_TILE;
    double best = 0.0;
    size_t I0, J0, i, j, t;
    for (i = m; i-- > 0;) {
        for (t = 0; t < d; t++) V[i * d + t] -= V[t];
        n2[i] = nc__norm2(V + i * d, d);
    }
    for (J0 = 0; J0 < m; J0 += T)
        for (I0 = 0; I0 <= J0; I0 += T) {
            const size_t ni = m - I0 < T ? m - I0 : T, nj = m - J0 < T ? m - J0 : T;
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)ni, (int)nj, (int)d, 1.0,
                        V + I0 * d, (int)d, V + J0 * d, (int)d, 0.0, G, (int)ni);
            for (j = 0; j < nj; j++)
                for (i = 0; i < ni && I0 + i < J0 + j; i++) {
                    const double e2 = n2[I0 + i] + n2[J0 + j] - 2.0 * G[i + j * ni];
                    if (e2 > best) best = e2;
                }
        }
    return best;
}

/*
 * The mean cosines come from the groups' sums, not from the K^2 / 2 pairs:
 * over the pairs of a group G of unit vectors, sum u_i.u_j =
 * (||s_G||^2 - sum_G ||u_k||^2) / 2 with s_G = sum_G u_k, and across the two
 * groups it is s_maj.s_min; s_G is summed with compensation, coordinate by
 * coordinate. Each mean then has an absolute error of a few units of
 * rounding, as a sum over the pairs would have (cosines lie in [-1, 1]),
 * in O(K d) instead of O(K^2 d). The spread needs the pairs of minority
 * vectors: from a Gram in tiles (minority_spread2). At K = 8192, d = 768
 * with 5267 minority vectors the whole takes 0.73 s (0.68 s with the
 * minority vectors collapsed to 1e-9), one by one over the pairs 15.0 s
 * (18.4 s).
 */
NC_API nc_status nc_structure_minority(size_t d, size_t K, const double *A, size_t lda,
                                       const int *minority, const size_t *counts, double *stats)
{
    nc_status st;
    double *U, *nrm, *V, *n2, *sg, *G, s, maxn = 0.0;
    nc__sum unit[2] = {{0.0, 0.0}, {0.0, 0.0}}, sq[2] = {{0.0, 0.0}, {0.0, 0.0}},
            across = {0.0, 0.0};
    double pairs[3];
    size_t i, k, t, nmin = 0, maxc = 0, m;
    unsigned char *isminor;
    if (stats == NULL) return NC_ERR_NULL_ARGUMENT;
    for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) stats[k] = NAN;
    if (minority == NULL && counts == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_mat(d, K, A, lda, 1);
    if (st != NC_SUCCESS) return st;
    if (K < 2) return NC_ERR_INVALID_SIZE;
    isminor = (unsigned char *)malloc(K);
    if (isminor == NULL) return NC_ERR_OUT_OF_MEMORY;
    if (minority == NULL) {
        for (k = 0; k < K; k++) {
            if (counts[k] == 0) {
                free(isminor);
                return NC_ERR_EMPTY_CLASS;
            }
            if (counts[k] > maxc) maxc = counts[k];
        }
    }
    for (k = 0; k < K; k++) {
        isminor[k] = minority != NULL ? minority[k] != 0 : counts[k] < maxc;
        nmin += isminor[k];
    }
    if (nmin == 0 || nmin == K) {
        free(isminor);
        return NC_ERR_INVALID_VALUE;
    }
    /* U (d x K) and its norms; V (d x nmin) the minority columns of U and
     * n2 (nmin) scratch of minority_spread2; sg the two groups' compensated
     * sums (d each, then their compensations); G a tile of minority_spread2 */
    U = nc__alloc_doubles(d * K + K + d * nmin + nmin + 4 * d, 1);
    G = nc__alloc_doubles(NC_SPREAD_TILE, NC_SPREAD_TILE);
    if (U == NULL || G == NULL) {
        free(U);
        free(G);
        free(isminor);
        return NC_ERR_OUT_OF_MEMORY;
    }
    nrm = U + d * K;
    V = nrm + K;
    n2 = V + d * nmin;
    sg = n2 + nmin;
    s = nc__pow2_scale(nc__amax_mat(A, d, K, lda));
    for (k = 0, m = 0; k < K; k++) {
        for (t = 0; t < d; t++) U[k * d + t] = s * A[k * lda + t];
        nrm[k] = sqrt(nc__norm2(U + k * d, d));
        if (nrm[k] > maxn) maxn = nrm[k];
        if (isminor[k]) memcpy(V + d * m++, U + k * d, d * sizeof(double));
    }
    for (k = 0; k < K; k++)
        if (!(nrm[k] > 0.0)) {
            free(U);
            free(G);
            free(isminor);
            return NC_ERR_UNAVAILABLE;
        }
    /* Spread: largest distance between minority vectors (before normalising). */
    stats[NC_MINORITY_SPREAD] = nmin >= 2 ? sqrt(minority_spread2(V, n2, d, nmin, G)) / maxn : NAN;
    /* The groups' sums of unit vectors (0: majority, 1: minority); sg is
     * zero (nc__alloc_doubles clears). */
    for (k = 0; k < K; k++) {
        double *sk = sg + (isminor[k] ? d : 0), *ck = sk + 2 * d;
        double *u = U + k * d;
        for (t = 0; t < d; t++) {
            nc__sum acc;
            u[t] /= nrm[k];
            acc.s = sk[t];
            acc.c = ck[t];
            nc__sum_add(&acc, u[t]);
            sk[t] = acc.s;
            ck[t] = acc.c;
        }
        nc__sum_add(&unit[isminor[k]], nc__norm2(u, d));
    }
    for (t = 0; t < d; t++) {
        const double a = sg[t] + sg[2 * d + t], b = sg[d + t] + sg[3 * d + t];
        nc__sum_add(&sq[0], a * a);
        nc__sum_add(&sq[1], b * b);
        nc__sum_add(&across, a * b);
    }
    pairs[0] = (double)(K - nmin) * (double)(K - nmin - 1) / 2.0;
    pairs[1] = (double)nmin * (double)(nmin - 1) / 2.0;
    pairs[2] = (double)(K - nmin) * (double)nmin;
    for (i = 0; i < 2; i++)
        if (pairs[i] > 0.0)
            stats[i] = (nc__sum_value(&sq[i]) - nc__sum_value(&unit[i])) / 2.0 / pairs[i];
    stats[NC_MINORITY_COS_ACROSS] = nc__sum_value(&across) / pairs[2];
    free(U);
    free(G);
    free(isminor);
    return NC_SUCCESS;
}

NC_API nc_status nc_structure_cdnv(size_t d, size_t K, size_t N, const double *H, size_t ldh,
                                   const int32_t *labels, double *mean, double *pairs,
                                   size_t ldp)
{
    nc_status st;
    size_t *cnt, n, i, j, k, t;
    double *mu, *resid, *V, s;
    nc__sum total = {0.0, 0.0};
    if (mean == NULL) return NC_ERR_NULL_ARGUMENT;
    *mean = NAN;
    st = check_features(d, K, N, H, ldh, labels);
    if (st != NC_SUCCESS) return st;
    if (pairs != NULL && ldp < K) return NC_ERR_SIZE_MISMATCH;
    if (nc__mul_size(d, K, &n) || n > SIZE_MAX / 2 - K) return NC_ERR_INVALID_SIZE;
    cnt = (size_t *)malloc(K * sizeof(size_t));
    mu = nc__alloc_doubles(2 * n + K, 1);
    if (cnt == NULL || mu == NULL) {
        free(cnt);
        free(mu);
        return NC_ERR_OUT_OF_MEMORY;
    }
    resid = mu + n;
    V = resid + n;
    st = count_labels(K, N, labels, cnt);
    if (st == NC_SUCCESS && !nc__all_finite_mat(H, d, N, ldh)) st = NC_ERR_NON_FINITE;
    if (st != NC_SUCCESS) goto done;
    s = nc__pow2_scale(nc__amax_mat(H, d, N, ldh));
    nc__class_means(d, K, N, H, ldh, labels, s, cnt, mu, resid);
    {
        nc__sum *acc = (nc__sum *)calloc(K, sizeof(nc__sum));
        if (acc == NULL) {
            st = NC_ERR_OUT_OF_MEMORY;
            goto done;
        }
        for (i = 0; i < N; i++) {
            const size_t y = (size_t)labels[i];
            const double *h = H + i * ldh, *m = mu + y * d;
            for (t = 0; t < d; t++) {
                const double e = s * h[t] - m[t];
                nc__sum_add(&acc[y], e * e);
            }
        }
        for (k = 0; k < K; k++) V[k] = nc__sum_value(&acc[k]) / (double)cnt[k];
        free(acc);
    }
    for (i = 0; i < K; i++) {
        if (pairs != NULL) pairs[i * ldp + i] = 0.0;
        for (j = i + 1; j < K; j++) {
            double dist2 = 0.0, c;
            for (t = 0; t < d; t++) {
                const double e = mu[i * d + t] - mu[j * d + t];
                dist2 += e * e;
            }
            if (!(dist2 > 0.0)) {
                st = NC_ERR_UNAVAILABLE;
                goto done;
            }
            c = (V[i] + V[j]) / (2.0 * dist2);
            if (!nc__is_finite(c)) {
                st = NC_ERR_OVERFLOW;
                goto done;
            }
            nc__sum_add(&total, c);
            if (pairs != NULL) pairs[j * ldp + i] = pairs[i * ldp + j] = c;
        }
    }
    *mean = nc__sum_value(&total) / (0.5 * (double)K * (double)(K - 1));
done:
    free(cnt);
    free(mu);
    return st;
}

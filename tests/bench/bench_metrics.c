/*
 * bench_metrics.c - NC1..NC4 by the library (O(N d K): NC1 through a thin SVD
 * of the centred means) against the textbook full-covariance method
 * (Papyan et al. 2020's code path): Sigma_W and Sigma_B as d x d matrices
 * (DSYRK), the pseudo-inverse of Sigma_B from LAPACKE_dsyev, then NC2, NC3
 * and NC4 from the same class means. Same conventions as the library's
 * defaults (sample global mean, uniform between-class weights, rtol 1e-13).
 * Prints both times, their ratio, and the relative differences of the values.
 * Usage: bench_metrics [N d K]   default: (50000, 512, 10) and (50000, 512, 100)
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ncollapse.h"

extern void openblas_set_num_threads(int) __attribute__((weak));

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A small deterministic generator (independent of the library). */
static unsigned long long state = 88172645463325252ULL;
static double gauss(void)
{
    double u, v, s;
    do {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17;
        u = (double)(state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
        state ^= state << 13; state ^= state >> 7; state ^= state << 17;
        v = (double)(state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

/* std (n-1) / mean of x[0..n) */
static double cv(const double *x, size_t n)
{
    double m = 0, v = 0;
    size_t i;
    for (i = 0; i < n; i++) m += x[i];
    m /= (double)n;
    for (i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    return sqrt(v / (double)(n - 1)) / m;
}

/* NC2 measures of the K columns of A (d x K, ld lda): equinorm, equiangle,
 * max-angle, ETF distance. */
static void nc2(const double *A, size_t lda, size_t d, size_t K, double out[4])
{
    double *G = malloc(K * K * sizeof *G), *nrm = malloc(K * sizeof *nrm), *cs = malloc(K * K * sizeof *cs);
    double gf = 0, etf = 0, ma = 0, m = 0, v = 0;
    size_t i, j, np = 0;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)K, (int)d, 1.0, A, (int)lda, A, (int)lda, 0.0, G, (int)K);
    for (i = 0; i < K; i++) nrm[i] = sqrt(G[i * K + i]);
    out[0] = cv(nrm, K);
    for (i = 0; i < K; i++)
        for (j = i + 1; j < K; j++) cs[np++] = G[j * K + i] / (nrm[i] * nrm[j]);
    for (i = 0; i < np; i++) m += cs[i];
    m /= (double)np;
    for (i = 0; i < np; i++) { v += (cs[i] - m) * (cs[i] - m); ma += fabs(cs[i] + 1.0 / (double)(K - 1)); }
    out[1] = np > 1 ? sqrt(v / (double)(np - 1)) : 0.0;
    out[2] = ma / (double)np;
    for (i = 0; i < K * K; i++) gf += G[i] * G[i];
    gf = sqrt(gf);
    for (i = 0; i < K; i++)
        for (j = 0; j < K; j++) {
            const double t = ((i == j ? 1.0 : 0.0) - 1.0 / (double)K) / sqrt((double)(K - 1));
            etf += (G[j * K + i] / gf - t) * (G[j * K + i] / gf - t);
        }
    out[3] = sqrt(etf);
    free(G); free(nrm); free(cs);
}

/* The full-covariance method. W is K x d row-major (= d x K column-major).
 * r[0] = NC1, r[1..4] NC2 of the means, r[5..8] NC2 of W, r[9] NC3, r[10] NC4. */
static void full_covariance(const double *H, const int32_t *y, const double *W, const double *b,
                            size_t d, size_t K, size_t N, double r[11])
{
    double *mu = calloc(d * K, sizeof *mu), *muG = calloc(d, sizeof *muG), *M = malloc(d * K * sizeof *M);
    double *Hc = malloc(d * N * sizeof *Hc), *SW = malloc(d * d * sizeof *SW), *SB = malloc(d * d * sizeof *SB);
    double *lam = malloc(d * sizeof *lam), *T = malloc(d * d * sizeof *T), *Z = malloc(K * N * sizeof *Z);
    double *mn = malloc(K * sizeof *mn), nc1 = 0, wf = 0, mf = 0, nc3 = 0, lmax;
    size_t *cnt = calloc(K, sizeof *cnt), i, j, k, mism = 0;
    for (i = 0; i < N; i++) {
        cnt[y[i]]++;
        for (j = 0; j < d; j++) mu[y[i] * d + j] += H[i * d + j];
    }
    for (k = 0; k < K; k++)
        for (j = 0; j < d; j++) mu[k * d + j] /= (double)cnt[k];
    for (i = 0; i < N; i++)
        for (j = 0; j < d; j++) muG[j] += H[i * d + j] / (double)N;
    for (k = 0; k < K; k++)
        for (j = 0; j < d; j++) M[k * d + j] = mu[k * d + j] - muG[j];
    /* Sigma_W = (1/N) Hc Hc^T, Sigma_B = (1/K) M M^T (upper triangles) */
    for (i = 0; i < N; i++)
        for (j = 0; j < d; j++) Hc[i * d + j] = H[i * d + j] - mu[y[i] * d + j];
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)d, (int)N, 1.0 / (double)N, Hc, (int)d, 0.0, SW, (int)d);
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)d, (int)K, 1.0 / (double)K, M, (int)d, 0.0, SB, (int)d);
    /* Sigma_B = V diag(lam) V^T; tr(Sigma_W Sigma_B^+) = sum_kept v^T Sigma_W v / lam */
    LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)d, SB, (lapack_int)d, lam);
    lmax = lam[d - 1];
    for (i = 0; i < d; i++)
        for (j = 0; j < i; j++) SW[j * d + i] = SW[i * d + j]; /* full symmetric */
    cblas_dsymm(CblasColMajor, CblasLeft, CblasUpper, (int)d, (int)d, 1.0, SW, (int)d, SB, (int)d, 0.0, T, (int)d);
    for (j = 0; j < d; j++)
        if (lam[j] > 1e-13 * lmax) nc1 += cblas_ddot((int)d, SB + j * d, 1, T + j * d, 1) / lam[j];
    r[0] = nc1 / (double)K;
    nc2(M, d, d, K, r + 1);
    nc2(W, d, d, K, r + 5);
    /* NC3 = || W^T/||W|| - M/||M|| ||^2 */
    for (i = 0; i < d * K; i++) { wf += W[i] * W[i]; mf += M[i] * M[i]; }
    for (i = 0; i < d * K; i++) {
        const double t = W[i] / sqrt(wf) - M[i] / sqrt(mf);
        nc3 += t * t;
    }
    r[9] = nc3;
    /* NC4: argmax of the logits against the nearest mean (expanded distances) */
    for (k = 0; k < K; k++) mn[k] = cblas_ddot((int)d, mu + k * d, 1, mu + k * d, 1);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)N, (int)d, 1.0, W, (int)d, H, (int)d, 0.0, Z, (int)K);
    for (i = 0; i < N; i++) {
        size_t a = 0, c = 0;
        double best = 1e300;
        for (k = 0; k < K; k++)
            if (Z[i * K + k] + b[k] > Z[i * K + a] + b[a]) a = k;
        cblas_dgemv(CblasColMajor, CblasTrans, (int)d, (int)K, 1.0, mu, (int)d, H + i * d, 1, 0.0, Z + i * K, 1);
        for (k = 0; k < K; k++) {
            const double dist = mn[k] - 2.0 * Z[i * K + k];
            if (dist < best) { best = dist; c = k; }
        }
        mism += a != c;
    }
    r[10] = (double)mism / (double)N;
    free(mu); free(muG); free(M); free(Hc); free(SW); free(SB); free(lam); free(T); free(Z); free(mn); free(cnt);
}

static void run(size_t N, size_t d, size_t K)
{
    static const nc_metric order[11] = {NC_METRIC_NC1, NC_METRIC_NC2_EQUINORM_MEANS, NC_METRIC_NC2_EQUIANGLE_MEANS,
                                        NC_METRIC_NC2_MAXANGLE_MEANS, NC_METRIC_NC2_ETF_MEANS, NC_METRIC_NC2_EQUINORM_W,
                                        NC_METRIC_NC2_EQUIANGLE_W, NC_METRIC_NC2_MAXANGLE_W, NC_METRIC_NC2_ETF_W,
                                        NC_METRIC_NC3, NC_METRIC_NC4};
    double *H = malloc(d * N * sizeof *H), *W = malloc(d * K * sizeof *W), *mu = malloc(d * K * sizeof *mu);
    double *b = calloc(K, sizeof *b), ref[11], lib, t_lib = 1e30, t_full = 1e30, worst = 0, t;
    int32_t *y = malloc(N * sizeof *y);
    nc_metrics *mt = NULL;
    size_t i, j, k;
    int r;
    /* partly collapsed features: class means plus noise; W near the means */
    for (i = 0; i < d * K; i++) mu[i] = gauss();
    for (i = 0; i < d * K; i++) W[i] = mu[i] + 0.3 * gauss();
    for (i = 0; i < N; i++) {
        y[i] = (int32_t)(i % K);
        for (j = 0; j < d; j++) H[i * d + j] = mu[(size_t)y[i] * d + j] + 0.5 * gauss();
    }
    nc_metrics_create(&mt);
    for (r = 0; r < 3; r++) {
        t = now();
        if (nc_metrics_compute_data(mt, d, K, N, H, d, y, W, d, b) != NC_SUCCESS) {
            fprintf(stderr, "bench_metrics: %s\n", nc_metrics_last_error(mt));
            exit(1);
        }
        t = now() - t;
        if (t < t_lib) t_lib = t;
        t = now();
        full_covariance(H, y, W, b, d, K, N, ref);
        t = now() - t;
        if (t < t_full) t_full = t;
    }
    for (k = 0; k < 11; k++) {
        double e;
        nc_metrics_get(mt, order[k], &lib);
        e = fabs(lib - ref[k]) / (fabs(ref[k]) > 1e-300 ? fabs(ref[k]) : 1.0);
        if (e > worst) worst = e;
    }
    nc_metrics_get(mt, NC_METRIC_NC1, &lib);
    printf("%7zu %5zu %5zu   %9.4f s   %9.4f s   %8.1f   NC1 %.6e vs %.6e, largest relative "
           "difference over NC1..NC4 %.1e\n",
           N, d, K, t_lib, t_full, t_full / t_lib, lib, ref[0], worst);
    nc_metrics_destroy(mt);
    free(H); free(W); free(mu); free(b); free(y);
}

int main(int argc, char **argv)
{
    if (openblas_set_num_threads) openblas_set_num_threads(1);
    printf("bench_metrics: NC1..NC4, best of 3, 1 thread: library (O(N d K)) against the full-covariance\n"
           "method (d x d Sigma_W, Sigma_B, LAPACKE_dsyev pseudo-inverse)\n");
    printf("      N     d     K     library   full-covariance  full/library\n");
    if (argc >= 4)
        run(strtoul(argv[1], 0, 10), strtoul(argv[2], 0, 10), strtoul(argv[3], 0, 10));
    else {
        run(50000, 512, 10);
        run(50000, 512, 100);
    }
    return 0;
}

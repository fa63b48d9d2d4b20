/*
 * test_metrics_compute.c - independent checks of the NC1-NC4 metrics
 * (nc_metrics_*).
 *
 * Written against the public contract in ncollapse.h only. Every value the
 * library returns is compared with one of:
 *  - exact geometry: a simplex ETF of class means with collapsed features and
 *    a matching classifier must score zero (with the centring convention
 *    that makes it an ETF under class imbalance);
 *  - invariances: rotation of feature space, class relabelling, scaling,
 *    translation and sample permutation leave every metric unchanged;
 *  - a reference computed here from the definitions, the direct way: full
 *    d x d covariances, an eigendecomposition (LAPACKE_dsyev) for the
 *    pseudo-inverse, cosines and Gram matrices by explicit loops, and brute
 *    force argmax / argmin for NC4 and accuracy;
 *  - layout (padded leading dimensions), the model path, workspace reuse,
 *    every documented error and degenerate inputs.
 * Random numbers come from a private xorshift64* generator: deterministic.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "ncollapse.h"
#include "harness.h"
#include "testutil.h"

#define NM (NC_METRIC_ACCURACY + 1) /* the metrics the reference below computes */

/* Our own names for messages (independent of nc_metric_name). */
static const char *const mname[NM] = {
    "NC1",          "NC2_equinorm_means",  "NC2_equinorm_W", "NC2_equiangle_means",
    "NC2_equiangle_W", "NC2_maxangle_means", "NC2_maxangle_W", "NC2_ETF_means",
    "NC2_ETF_W",    "NC3",                 "NC3_WM_ETF",     "NC4",
    "accuracy"};
/* Which metrics need W. */
static const int needs_W[NM] = {0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1};

/* ---- deterministic random numbers: xorshift64* --------------------------- */
typedef struct {
    uint64_t s;
} trng;

static void trng_seed(trng *r, uint64_t seed) { r->s = seed ? seed : 0x9E3779B97F4A7C15ULL; }

static uint64_t trng_next(trng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* uniform in (0, 1) */
static double trng_unif(trng *r)
{
    return ((double)(trng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double trng_normal(trng *r)
{
    double u1 = trng_unif(r), u2 = trng_unif(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static size_t trng_below(trng *r, size_t n) { return (size_t)(trng_next(r) % n); }

static void random_perm(trng *r, size_t n, size_t *p)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = i;
    for (i = n; i > 1; i--) {
        size_t j = trng_below(r, i), t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
}

/* ---- datasets ------------------------------------------------------------- */
typedef struct {
    size_t d, K, N;
    double *H; /* d x N column-major, ld ldh */
    size_t ldh;
    int32_t *y;
    double *W; /* K x d row-major, ld ldw; NULL if none */
    size_t ldw;
    double *b; /* K or NULL */
} dataset;

static dataset *ds_new(size_t d, size_t K, size_t N, size_t ldh, size_t ldw, int withW, int withb)
{
    dataset *ds = (dataset *)xmalloc(sizeof *ds);
    size_t i;
    ds->d = d;
    ds->K = K;
    ds->N = N;
    ds->ldh = ldh;
    ds->ldw = ldw;
    ds->H = (double *)xmalloc(sizeof(double) * ldh * N);
    for (i = 0; i < ldh * N; i++) ds->H[i] = NAN; /* padding stays NaN */
    ds->y = (int32_t *)xmalloc(sizeof(int32_t) * N);
    ds->W = NULL;
    ds->b = NULL;
    if (withW) {
        ds->W = (double *)xmalloc(sizeof(double) * ldw * K);
        for (i = 0; i < ldw * K; i++) ds->W[i] = NAN;
    }
    if (withb) ds->b = (double *)xmalloc(sizeof(double) * K);
    return ds;
}

static void ds_free(dataset *ds)
{
    if (!ds) return;
    free(ds->H);
    free(ds->y);
    free(ds->W);
    free(ds->b);
    free(ds);
}

/* Deep copy with possibly different leading dimensions. */
static dataset *ds_copy_ld(const dataset *s, size_t ldh, size_t ldw)
{
    dataset *c = ds_new(s->d, s->K, s->N, ldh, ldw, s->W != NULL, s->b != NULL);
    size_t i, r, k;
    for (i = 0; i < s->N; i++)
        for (r = 0; r < s->d; r++) c->H[r + i * ldh] = s->H[r + i * s->ldh];
    memcpy(c->y, s->y, sizeof(int32_t) * s->N);
    if (s->W)
        for (k = 0; k < s->K; k++)
            for (r = 0; r < s->d; r++) c->W[k * ldw + r] = s->W[k * s->ldw + r];
    if (s->b) memcpy(c->b, s->b, sizeof(double) * s->K);
    return c;
}

static dataset *ds_copy(const dataset *s) { return ds_copy_ld(s, s->ldh, s->ldw); }

/* Labels from class counts: sorted by class, optionally shuffled. */
static size_t make_labels(trng *r, size_t K, const size_t *counts, int shuffle, int32_t **out)
{
    size_t N = 0, k, i, j = 0;
    int32_t *y;
    for (k = 0; k < K; k++) N += counts[k];
    y = (int32_t *)xmalloc(sizeof(int32_t) * N);
    for (k = 0; k < K; k++)
        for (i = 0; i < counts[k]; i++) y[j++] = (int32_t)k;
    if (shuffle) {
        size_t *p = (size_t *)xmalloc(sizeof(size_t) * N);
        int32_t *t = (int32_t *)xmalloc(sizeof(int32_t) * N);
        random_perm(r, N, p);
        for (i = 0; i < N; i++) t[i] = y[p[i]];
        memcpy(y, t, sizeof(int32_t) * N);
        free(p);
        free(t);
    }
    *out = y;
    return N;
}

/* Q: n x n random orthogonal (column-major), from a QR of a Gaussian matrix. */
static void random_orthogonal(trng *r, size_t m, size_t n, double *Q)
{
    /* m x n with orthonormal columns (m >= n) */
    double *tau = (double *)xmalloc(sizeof(double) * n);
    size_t i;
    lapack_int info;
    for (i = 0; i < m * n; i++) Q[i] = trng_normal(r);
    info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, Q, (lapack_int)m, tau);
    if (info == 0)
        info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, (lapack_int)n, Q,
                              (lapack_int)m, tau);
    if (info != 0) {
        fprintf(stderr, "test_metrics_compute: LAPACKE QR failed (%d)\n", (int)info);
        exit(2);
    }
    free(tau);
}

/* ---- metric sets ---------------------------------------------------------- */
typedef struct {
    nc_status compute;
    nc_status st[NM];
    double v[NM];
} mset;

/* Largest relative difference of a tiled compute from the untiled one over
 * every compute of lib_compute (values above 1e-3; smaller ones are
 * compared absolutely). */
static double tiled_worst = 0.0;
static size_t tiled_runs = 0;

/* Every metric computed in tiles (tile sizes 1, 3 and 5, threads 1 and 2)
 * against the untiled computation: the same availability, values to 1e-12
 * relative (1e-14 absolute at the level of rounding). The handle keeps the
 * untiled results. */
static void tiled_against_untiled(nc_metrics *m, const dataset *ds)
{
    static const size_t tiles[3] = {1, 3, 5};
    double ref[NC_METRIC_COUNT], v;
    nc_status rst[NC_METRIC_COUNT], st;
    char desc[300];
    size_t t;
    int i;
    for (i = 0; i < NC_METRIC_COUNT; i++) rst[i] = nc_metrics_get(m, (nc_metric)i, &ref[i]);
    for (t = 0; t < 3; t++) {
        nc_metrics_set_tile(m, tiles[t]);
        if (t == 2) nc_metrics_set_threads(m, 2);
        st = nc_metrics_compute_data(m, ds->d, ds->K, ds->N, ds->H, ds->ldh, ds->y, ds->W,
                                     ds->ldw, ds->b);
        nc_test_int(st, NC_SUCCESS, "tiled compute");
        for (i = 0; i < NC_METRIC_COUNT; i++) {
            snprintf(desc, sizeof desc, "tile %zu: %s availability", tiles[t],
                     nc_metric_name((nc_metric)i));
            nc_test_int(nc_metrics_get(m, (nc_metric)i, &v), rst[i], desc);
            if (rst[i] != NC_SUCCESS) continue;
            snprintf(desc, sizeof desc, "tile %zu: %s tiled against untiled", tiles[t],
                     nc_metric_name((nc_metric)i));
            if (fabs(ref[i]) > 1e-2) {
                const double r = fabs(v - ref[i]) / fabs(ref[i]);
                if (r > tiled_worst) tiled_worst = r;
                nc_test_rel(v, ref[i], 1e-12, desc);
            } else {
                nc_test_abs(v, ref[i], 1e-14, desc);
            }
        }
    }
    nc_metrics_set_threads(m, 1);
    nc_metrics_set_tile(m, 0);
    tiled_runs++;
}

static void lib_compute(nc_metrics *m, const dataset *ds, mset *out)
{
    int i;
    out->compute = nc_metrics_compute_data(m, ds->d, ds->K, ds->N, ds->H, ds->ldh, ds->y, ds->W,
                                           ds->ldw, ds->b);
    if (out->compute == NC_SUCCESS) {
        tiled_against_untiled(m, ds);
        out->compute = nc_metrics_compute_data(m, ds->d, ds->K, ds->N, ds->H, ds->ldh, ds->y,
                                               ds->W, ds->ldw, ds->b);
    }
    for (i = 0; i < NM; i++) {
        out->v[i] = NAN;
        out->st[i] = nc_metrics_get(m, (nc_metric)i, &out->v[i]);
    }
}

static void set_conv(nc_metrics *m, int gm, int bw, double rtol)
{
    nc_test_int(nc_metrics_set_global_mean(m, (nc_global_mean)gm), NC_SUCCESS, "set_global_mean");
    nc_test_int(nc_metrics_set_between_weight(m, (nc_between_weight)bw), NC_SUCCESS,
                "set_between_weight");
    nc_test_int(nc_metrics_set_pinv_rtol(m, rtol), NC_SUCCESS, "set_pinv_rtol");
}

/* Pass when |got - want| <= max(rtol |want|, atol), through the harness. */
static void check_close(double got, double want, double rtol, double atol, const char *desc)
{
    if (fabs(want) * rtol >= atol)
        nc_test_rel(got, want, rtol, desc);
    else
        nc_test_abs(got, want, atol, desc);
}

/* ---- reference implementation, straight from the definitions -------------- */
typedef struct {
    double equinorm, equiangle, maxangle, etf;
} vecstats;

/* Column k of the d x K family is V[k*ks + r*rs]. */
static vecstats family_stats(const double *V, size_t rs, size_t ks, size_t d, size_t K)
{
    vecstats s;
    double *nrm = (double *)xmalloc(sizeof(double) * K);
    double *G = (double *)xmalloc(sizeof(double) * K * K);
    size_t k, l, r, P = K * (K - 1) / 2;
    double mean = 0, var = 0, cmean = 0, cvar = 0, maxang = 0, gf = 0, etf = 0;
    for (k = 0; k < K; k++)
        for (l = 0; l < K; l++) {
            double g = 0;
            for (r = 0; r < d; r++) g += V[k * ks + r * rs] * V[l * ks + r * rs];
            G[k + l * K] = g;
        }
    for (k = 0; k < K; k++) nrm[k] = sqrt(G[k + k * K]);
    for (k = 0; k < K; k++) mean += nrm[k];
    mean /= (double)K;
    for (k = 0; k < K; k++) var += (nrm[k] - mean) * (nrm[k] - mean);
    var /= (double)(K - 1);
    s.equinorm = sqrt(var) / mean;
    for (k = 0; k < K; k++)
        for (l = k + 1; l < K; l++) cmean += G[k + l * K] / (nrm[k] * nrm[l]);
    cmean /= (double)P;
    for (k = 0; k < K; k++)
        for (l = k + 1; l < K; l++) {
            double c = G[k + l * K] / (nrm[k] * nrm[l]);
            cvar += (c - cmean) * (c - cmean);
            maxang += fabs(c + 1.0 / (double)(K - 1));
        }
    s.equiangle = P > 1 ? sqrt(cvar / (double)(P - 1)) : NAN;
    s.maxangle = maxang / (double)P;
    for (k = 0; k < K * K; k++) gf += G[k] * G[k];
    gf = sqrt(gf);
    for (k = 0; k < K; k++)
        for (l = 0; l < K; l++) {
            double t = ((k == l ? 1.0 : 0.0) - 1.0 / (double)K) / sqrt((double)(K - 1));
            double e = G[k + l * K] / gf - t;
            etf += e * e;
        }
    s.etf = sqrt(etf);
    free(nrm);
    free(G);
    return s;
}

typedef struct {
    double lam_ratio[64]; /* eigenvalues of Sigma_B / largest, ascending */
    size_t n;
} eiginfo;

static void ref_compute(const dataset *ds, int gm, int bw, double rtol, mset *out, eiginfo *ei)
{
    const size_t d = ds->d, K = ds->K, N = ds->N;
    double *mu = (double *)calloc(d * K, sizeof(double));
    double *muG = (double *)calloc(d, sizeof(double));
    double *Mb = (double *)xmalloc(sizeof(double) * d * K);
    double *SW = (double *)calloc(d * d, sizeof(double));
    double *SB = (double *)calloc(d * d, sizeof(double));
    double *ev = (double *)xmalloc(sizeof(double) * d);
    double *e = (double *)xmalloc(sizeof(double) * d);
    size_t *cnt = (size_t *)calloc(K, sizeof(size_t));
    size_t i, k, l, r, c;
    int j;
    vecstats vs;
    lapack_int info;

    if (!mu || !muG || !SW || !SB || !cnt) exit(2);
    for (j = 0; j < NM; j++) {
        out->st[j] = NC_SUCCESS;
        out->v[j] = NAN;
    }
    out->compute = NC_SUCCESS;

    for (i = 0; i < N; i++) {
        k = (size_t)ds->y[i];
        cnt[k]++;
        for (r = 0; r < d; r++) mu[r + k * d] += ds->H[r + i * ds->ldh];
    }
    for (k = 0; k < K; k++)
        for (r = 0; r < d; r++) mu[r + k * d] /= (double)cnt[k];
    if (gm == NC_GLOBAL_MEAN_SAMPLE) {
        for (i = 0; i < N; i++)
            for (r = 0; r < d; r++) muG[r] += ds->H[r + i * ds->ldh];
        for (r = 0; r < d; r++) muG[r] /= (double)N;
    } else {
        for (k = 0; k < K; k++)
            for (r = 0; r < d; r++) muG[r] += mu[r + k * d];
        for (r = 0; r < d; r++) muG[r] /= (double)K;
    }
    for (k = 0; k < K; k++)
        for (r = 0; r < d; r++) Mb[r + k * d] = mu[r + k * d] - muG[r];

    /* Sigma_W, Sigma_B (d x d) */
    for (i = 0; i < N; i++) {
        k = (size_t)ds->y[i];
        for (r = 0; r < d; r++) e[r] = ds->H[r + i * ds->ldh] - mu[r + k * d];
        for (c = 0; c < d; c++)
            for (r = 0; r < d; r++) SW[r + c * d] += e[r] * e[c];
    }
    for (r = 0; r < d * d; r++) SW[r] /= (double)N;
    for (k = 0; k < K; k++) {
        double ck = bw == NC_BETWEEN_UNIFORM ? 1.0 / (double)K : (double)cnt[k] / (double)N;
        for (c = 0; c < d; c++)
            for (r = 0; r < d; r++) SB[r + c * d] += ck * Mb[r + k * d] * Mb[c + k * d];
    }
    info = LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)d, SB, (lapack_int)d, ev);
    if (info != 0) {
        fprintf(stderr, "test_metrics_compute: dsyev failed (%d)\n", (int)info);
        exit(2);
    }
    {
        double lmax = ev[d - 1], nc1 = 0;
        if (ei) {
            ei->n = d < 64 ? d : 64;
            for (r = 0; r < ei->n; r++) ei->lam_ratio[r] = lmax > 0 ? ev[r] / lmax : 0;
        }
        for (l = 0; l < d; l++) {
            double q = 0;
            const double *v = SB + l * d;
            if (!(ev[l] > rtol * lmax) || !(lmax > 0)) continue;
            for (c = 0; c < d; c++)
                for (r = 0; r < d; r++) q += v[r] * SW[r + c * d] * v[c];
            nc1 += q / ev[l];
        }
        out->v[NC_METRIC_NC1] = lmax > 0 ? nc1 / (double)K : NAN;
    }

    vs = family_stats(Mb, 1, d, d, K);
    out->v[NC_METRIC_NC2_EQUINORM_MEANS] = vs.equinorm;
    out->v[NC_METRIC_NC2_EQUIANGLE_MEANS] = vs.equiangle;
    out->v[NC_METRIC_NC2_MAXANGLE_MEANS] = vs.maxangle;
    out->v[NC_METRIC_NC2_ETF_MEANS] = vs.etf;

    if (!ds->W) {
        for (j = 0; j < NM; j++)
            if (needs_W[j]) out->st[j] = NC_ERR_UNAVAILABLE;
    } else {
        const double *W = ds->W;
        const size_t ldw = ds->ldw;
        double nW = 0, nM = 0, nc3 = 0, nA = 0, wm = 0;
        double *A = (double *)xmalloc(sizeof(double) * K * K);
        size_t nc4 = 0, acc = 0;
        vs = family_stats(W, 1, ldw, d, K);
        out->v[NC_METRIC_NC2_EQUINORM_W] = vs.equinorm;
        out->v[NC_METRIC_NC2_EQUIANGLE_W] = vs.equiangle;
        out->v[NC_METRIC_NC2_MAXANGLE_W] = vs.maxangle;
        out->v[NC_METRIC_NC2_ETF_W] = vs.etf;
        for (k = 0; k < K; k++)
            for (r = 0; r < d; r++) {
                nW += W[k * ldw + r] * W[k * ldw + r];
                nM += Mb[r + k * d] * Mb[r + k * d];
            }
        nW = sqrt(nW);
        nM = sqrt(nM);
        for (k = 0; k < K; k++)
            for (r = 0; r < d; r++) {
                double t = W[k * ldw + r] / nW - Mb[r + k * d] / nM;
                nc3 += t * t;
            }
        out->v[NC_METRIC_NC3] = nc3;
        for (k = 0; k < K; k++)
            for (l = 0; l < K; l++) {
                double a = 0;
                for (r = 0; r < d; r++) a += W[k * ldw + r] * Mb[r + l * d];
                A[k + l * K] = a;
                nA += a * a;
            }
        nA = sqrt(nA);
        for (k = 0; k < K; k++)
            for (l = 0; l < K; l++) {
                double t = ((k == l ? 1.0 : 0.0) - 1.0 / (double)K) / sqrt((double)(K - 1));
                double q = A[k + l * K] / nA - t;
                wm += q * q;
            }
        out->v[NC_METRIC_NC3_WM_ETF] = sqrt(wm);
        for (i = 0; i < N; i++) {
            const double *h = ds->H + i * ds->ldh;
            size_t am = 0, nn = 0;
            double best = -INFINITY, bestd = INFINITY;
            for (k = 0; k < K; k++) {
                double z = ds->b ? ds->b[k] : 0.0, dist = 0;
                for (r = 0; r < d; r++) z += W[k * ldw + r] * h[r];
                for (r = 0; r < d; r++) dist += (h[r] - mu[r + k * d]) * (h[r] - mu[r + k * d]);
                if (z > best) { /* strict: ties keep the smallest index */
                    best = z;
                    am = k;
                }
                if (dist < bestd) {
                    bestd = dist;
                    nn = k;
                }
            }
            if (am != nn) nc4++;
            if (am == (size_t)ds->y[i]) acc++;
        }
        out->v[NC_METRIC_NC4] = (double)nc4 / (double)N;
        out->v[NC_METRIC_ACCURACY] = (double)acc / (double)N;
        free(A);
    }
    free(mu);
    free(muG);
    free(Mb);
    free(SW);
    free(SB);
    free(ev);
    free(e);
    free(cnt);
}

/* Compare a library result set with an expected one (statuses and values). */
static void compare_sets(const mset *got, const mset *want, double rtol, double atol,
                         const char *tag)
{
    char desc[600];
    int j;
    snprintf(desc, sizeof desc, "%s: compute status", tag);
    nc_test_int(got->compute, want->compute, desc);
    for (j = 0; j < NM; j++) {
        snprintf(desc, sizeof desc, "%s: %s status", tag, mname[j]);
        nc_test_int(got->st[j], want->st[j], desc);
        if (got->st[j] == NC_SUCCESS && want->st[j] == NC_SUCCESS) {
            snprintf(desc, sizeof desc, "%s: %s", tag, mname[j]);
            check_close(got->v[j], want->v[j], rtol, atol, desc);
        }
    }
}

static const char *gm_name(int gm) { return gm == NC_GLOBAL_MEAN_SAMPLE ? "sample" : "classavg"; }
static const char *bw_name(int bw) { return bw == NC_BETWEEN_UNIFORM ? "uniform" : "weighted"; }

/* ---- random data ---------------------------------------------------------- */
/*
 * Class means: mean_scale * (Gaussian d x K), or, with rank > 0, confined to a
 * random rank-dimensional subspace, or, with aniso, Q diag(aniso) Z (Z Gaussian
 * naniso x K, Q random orthogonal) so that Sigma_B has widely spread
 * eigenvalues. Features: offset + mean of the class + noise * Gaussian.
 * W rows: centred means + 0.5 Gaussian; b: 0.3 Gaussian.
 */
static dataset *make_random(trng *rg, size_t d, size_t K, const size_t *counts, double mean_scale,
                            double noise, size_t rank, const double *aniso, size_t naniso,
                            int withW, int withb)
{
    int32_t *y;
    size_t N = make_labels(rg, K, counts, 1, &y);
    dataset *ds = ds_new(d, K, N, d, d, withW, withb);
    double *M = (double *)xmalloc(sizeof(double) * d * K);
    double *off = (double *)xmalloc(sizeof(double) * d);
    double *cm = (double *)calloc(d, sizeof(double));
    size_t i, r, k, j;
    memcpy(ds->y, y, sizeof(int32_t) * N);
    free(y);
    if (aniso) {
        double *Q = (double *)xmalloc(sizeof(double) * d * d);
        random_orthogonal(rg, d, d, Q);
        for (k = 0; k < K; k++) {
            double z[64];
            for (j = 0; j < naniso; j++) z[j] = aniso[j] * trng_normal(rg);
            for (r = 0; r < d; r++) {
                double s = 0;
                for (j = 0; j < naniso; j++) s += Q[r + j * d] * z[j];
                M[r + k * d] = mean_scale * s;
            }
        }
        free(Q);
    } else if (rank > 0) {
        double *B = (double *)xmalloc(sizeof(double) * d * rank);
        for (i = 0; i < d * rank; i++) B[i] = trng_normal(rg);
        for (k = 0; k < K; k++) {
            double z[64];
            for (j = 0; j < rank; j++) z[j] = trng_normal(rg);
            for (r = 0; r < d; r++) {
                double s = 0;
                for (j = 0; j < rank; j++) s += B[r + j * d] * z[j];
                M[r + k * d] = mean_scale * s;
            }
        }
        free(B);
    } else {
        for (i = 0; i < d * K; i++) M[i] = mean_scale * trng_normal(rg);
    }
    for (r = 0; r < d; r++) off[r] = 1.5 * trng_normal(rg);
    for (i = 0; i < N; i++)
        for (r = 0; r < d; r++)
            ds->H[r + i * d] = noise * trng_normal(rg);
    if (aniso) {
        /* remove the empirical class mean of the noise, so that the class
         * means are the designed ones (up to rounding) and the eigenvalues of
         * Sigma_B keep their designed spread */
        double *nm = (double *)calloc(d * K, sizeof(double));
        size_t *nk = (size_t *)calloc(K, sizeof(size_t));
        for (i = 0; i < N; i++) {
            k = (size_t)ds->y[i];
            nk[k]++;
            for (r = 0; r < d; r++) nm[r + k * d] += ds->H[r + i * d];
        }
        for (i = 0; i < N; i++) {
            k = (size_t)ds->y[i];
            for (r = 0; r < d; r++) ds->H[r + i * d] -= nm[r + k * d] / (double)nk[k];
        }
        free(nm);
        free(nk);
    }
    for (i = 0; i < N; i++)
        for (r = 0; r < d; r++) ds->H[r + i * d] += off[r] + M[r + (size_t)ds->y[i] * d];
    for (k = 0; k < K; k++)
        for (r = 0; r < d; r++) cm[r] += M[r + k * d] / (double)K;
    if (withW)
        for (k = 0; k < K; k++)
            for (r = 0; r < d; r++)
                ds->W[k * d + r] = M[r + k * d] - cm[r] + 0.5 * trng_normal(rg);
    if (withb)
        for (k = 0; k < K; k++) ds->b[k] = 0.3 * trng_normal(rg);
    free(M);
    free(off);
    free(cm);
    return ds;
}

/* ---- invariances ----------------------------------------------------------- */
static void check_invariances(nc_metrics *m, const dataset *ds, trng *rg, const char *tag)
{
    const size_t d = ds->d, K = ds->K, N = ds->N;
    char t2[300];
    int gm, bw;
    for (gm = 0; gm < 2; gm++)
        for (bw = 0; bw < 2; bw++) {
            mset base, got;
            dataset *x;
            size_t i, r, k, j;
            set_conv(m, gm, bw, 1e-13);
            lib_compute(m, ds, &base);
            snprintf(t2, sizeof t2, "%s [%s,%s] baseline", tag, gm_name(gm), bw_name(bw));
            nc_test_int(base.compute, NC_SUCCESS, t2);

            /* (a) rotation: H -> Q H, W -> W Q^T */
            {
                double *Q = (double *)xmalloc(sizeof(double) * d * d);
                random_orthogonal(rg, d, d, Q);
                x = ds_copy(ds);
                for (i = 0; i < N; i++)
                    for (r = 0; r < d; r++) {
                        double s = 0;
                        for (j = 0; j < d; j++) s += Q[r + j * d] * ds->H[j + i * ds->ldh];
                        x->H[r + i * x->ldh] = s;
                    }
                if (ds->W)
                    for (k = 0; k < K; k++)
                        for (r = 0; r < d; r++) {
                            double s = 0;
                            for (j = 0; j < d; j++) s += Q[r + j * d] * ds->W[k * ds->ldw + j];
                            x->W[k * x->ldw + r] = s;
                        }
                lib_compute(m, x, &got);
                snprintf(t2, sizeof t2, "%s [%s,%s] rotation", tag, gm_name(gm), bw_name(bw));
                compare_sets(&got, &base, 1e-10, 1e-12, t2);
                ds_free(x);
                free(Q);
            }
            /* (b) class relabelling: y -> p[y], row p[k] of W' = row k of W, b'[p[k]] = b[k] */
            {
                size_t *p = (size_t *)xmalloc(sizeof(size_t) * K);
                random_perm(rg, K, p);
                if (p[0] == 0 && p[1] == 1) { /* make sure it is not the identity */
                    size_t t = p[0];
                    p[0] = p[1];
                    p[1] = t;
                }
                x = ds_copy(ds);
                for (i = 0; i < N; i++) x->y[i] = (int32_t)p[ds->y[i]];
                if (ds->W)
                    for (k = 0; k < K; k++)
                        for (r = 0; r < d; r++) x->W[p[k] * x->ldw + r] = ds->W[k * ds->ldw + r];
                if (ds->b)
                    for (k = 0; k < K; k++) x->b[p[k]] = ds->b[k];
                lib_compute(m, x, &got);
                snprintf(t2, sizeof t2, "%s [%s,%s] relabel", tag, gm_name(gm), bw_name(bw));
                compare_sets(&got, &base, 1e-10, 1e-12, t2);
                ds_free(x);
                free(p);
            }
            /* (c) scaling: H -> cH with W unchanged (b -> c b), and H -> cH, W -> sW (b -> c s b) */
            {
                const double cs[2][2] = {{3.7, 1.0}, {0.01, 25.0}};
                int q;
                for (q = 0; q < 2; q++) {
                    double c = cs[q][0], s = cs[q][1];
                    x = ds_copy(ds);
                    for (i = 0; i < N; i++)
                        for (r = 0; r < d; r++) x->H[r + i * x->ldh] *= c;
                    if (ds->W)
                        for (k = 0; k < K; k++)
                            for (r = 0; r < d; r++) x->W[k * x->ldw + r] *= s;
                    if (ds->b)
                        for (k = 0; k < K; k++) x->b[k] *= c * s;
                    lib_compute(m, x, &got);
                    snprintf(t2, sizeof t2, "%s [%s,%s] scale H by %g, W by %g", tag, gm_name(gm),
                             bw_name(bw), c, s);
                    compare_sets(&got, &base, 1e-10, 1e-12, t2);
                    ds_free(x);
                }
            }
            /* (d) sample permutation: columns of H and labels reordered together */
            {
                size_t *p = (size_t *)xmalloc(sizeof(size_t) * N);
                random_perm(rg, N, p);
                x = ds_copy(ds);
                for (i = 0; i < N; i++) {
                    for (r = 0; r < d; r++) x->H[r + i * x->ldh] = ds->H[r + p[i] * ds->ldh];
                    x->y[i] = ds->y[p[i]];
                }
                lib_compute(m, x, &got);
                snprintf(t2, sizeof t2, "%s [%s,%s] sample permutation", tag, gm_name(gm),
                         bw_name(bw));
                compare_sets(&got, &base, 1e-10, 1e-12, t2);
                ds_free(x);
                free(p);
            }
            /* (e) translation: H -> H + t, b -> b - W t (decisions unchanged) */
            if (ds->b || !ds->W) {
                double tv[64];
                for (r = 0; r < d; r++) tv[r] = 0.8 * trng_normal(rg);
                x = ds_copy(ds);
                for (i = 0; i < N; i++)
                    for (r = 0; r < d; r++) x->H[r + i * x->ldh] += tv[r];
                if (ds->W)
                    for (k = 0; k < K; k++)
                        for (r = 0; r < d; r++) x->b[k] -= ds->W[k * ds->ldw + r] * tv[r];
                lib_compute(m, x, &got);
                snprintf(t2, sizeof t2, "%s [%s,%s] translation", tag, gm_name(gm), bw_name(bw));
                /* translation moves every value by rounding of |t| relative to the
                 * spread of the data; the same tolerance still applies */
                compare_sets(&got, &base, 1e-10, 1e-12, t2);
                ds_free(x);
            }
        }
    set_conv(m, 0, 0, 1e-13);
}

/* ---- 1. exact geometry ----------------------------------------------------- */
/* Simplex ETF, d x K: sqrt(K/(K-1)) P (I - J/K) with P (d x K) orthonormal
 * columns when d >= K; for d == K-1, sqrt(K/(K-1)) Q V^T with Q (d x d)
 * orthogonal and V (K x (K-1)) an orthonormal basis of 1-perp. */
static void make_etf(trng *rg, size_t d, size_t K, double *M)
{
    const double s = sqrt((double)K / (double)(K - 1));
    size_t r, k, j;
    if (d >= K) {
        double *P = (double *)xmalloc(sizeof(double) * d * K);
        random_orthogonal(rg, d, K, P);
        for (r = 0; r < d; r++) {
            double avg = 0;
            for (k = 0; k < K; k++) avg += P[r + k * d];
            avg /= (double)K;
            for (k = 0; k < K; k++) M[r + k * d] = s * (P[r + k * d] - avg);
        }
        free(P);
    } else {
        /* d == K-1 */
        double *Q = (double *)xmalloc(sizeof(double) * d * d);
        double *V = (double *)xmalloc(sizeof(double) * K * (K - 1));
        double *tau = (double *)xmalloc(sizeof(double) * K);
        random_orthogonal(rg, d, d, Q);
        for (j = 0; j < K - 1; j++)
            for (k = 0; k < K; k++) V[k + j * K] = (k == j ? 1.0 : 0.0) - 1.0 / (double)K;
        if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)K, (lapack_int)(K - 1), V, (lapack_int)K,
                           tau) != 0 ||
            LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)K, (lapack_int)(K - 1),
                           (lapack_int)(K - 1), V, (lapack_int)K, tau) != 0)
            exit(2);
        for (r = 0; r < d; r++)
            for (k = 0; k < K; k++) {
                double t = 0;
                for (j = 0; j < K - 1; j++) t += Q[r + j * d] * V[k + j * K];
                M[r + k * d] = s * t;
            }
        free(Q);
        free(V);
        free(tau);
    }
}

/* Collapsed dataset: h_i = offset + alpha M[:, y_i] + eps * noise, W = c alpha M^T,
 * b = -W offset (if with_bias; offset = 0 otherwise and b = NULL). */
static dataset *make_collapsed(trng *rg, const double *M, size_t d, size_t K, const size_t *counts,
                               double alpha, double c, int with_offset_bias, double eps)
{
    int32_t *y;
    size_t N = make_labels(rg, K, counts, 1, &y);
    dataset *ds = ds_new(d, K, N, d, d, 1, with_offset_bias);
    double off[64];
    size_t i, r, k;
    memcpy(ds->y, y, sizeof(int32_t) * N);
    free(y);
    for (r = 0; r < d; r++) off[r] = with_offset_bias ? 2.0 * trng_normal(rg) : 0.0;
    for (i = 0; i < N; i++)
        for (r = 0; r < d; r++) {
            double v = off[r] + alpha * M[r + (size_t)ds->y[i] * d];
            if (eps > 0) v += eps * trng_normal(rg);
            ds->H[r + i * d] = v;
        }
    for (k = 0; k < K; k++)
        for (r = 0; r < d; r++) ds->W[k * d + r] = c * alpha * M[r + k * d];
    if (with_offset_bias)
        for (k = 0; k < K; k++) {
            double s = 0;
            for (r = 0; r < d; r++) s += ds->W[k * d + r] * off[r];
            ds->b[k] = -s;
        }
    return ds;
}

static void test_exact_geometry(void)
{
    static const size_t dims[2][2] = {{5, 8}, {4, 3}}; /* {K, d} */
    static const size_t bal5[5] = {7, 7, 7, 7, 7}, imb5[5] = {20, 9, 5, 3, 1};
    static const size_t bal4[4] = {6, 6, 6, 6}, imb4[4] = {12, 5, 2, 1};
    trng rg;
    nc_metrics *m = NULL;
    int cfg;
    char desc[600];
    trng_seed(&rg, 12345);
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "exact: create");
    if (!m) return;
    for (cfg = 0; cfg < 2; cfg++) {
        const size_t K = dims[cfg][0], d = dims[cfg][1];
        double *M = (double *)xmalloc(sizeof(double) * d * K);
        size_t k, l, r;
        int imb, ob;
        make_etf(&rg, d, K, M);
        /* self-check of the construction: Gram = K/(K-1) (I - J/K) */
        {
            double err = 0;
            for (k = 0; k < K; k++)
                for (l = 0; l < K; l++) {
                    double g = 0, t = ((k == l) ? 1.0 : 0.0) - 1.0 / (double)K;
                    for (r = 0; r < d; r++) g += M[r + k * d] * M[r + l * d];
                    err = fmax(err, fabs(g - t * (double)K / (double)(K - 1)));
                }
            snprintf(desc, sizeof desc, "self-check: ETF Gram K=%zu d=%zu", K, d);
            nc_test_abs(err, 0.0, 1e-14, desc);
        }
        for (imb = 0; imb < 2; imb++)
            for (ob = 0; ob < 2; ob++) {
                const size_t *counts = K == 5 ? (imb ? imb5 : bal5) : (imb ? imb4 : bal4);
                dataset *ds = make_collapsed(&rg, M, d, K, counts, 2.5, 0.7, ob, 0.0);
                dataset *pt;
                int gm, bw, j;
                for (gm = 0; gm < 2; gm++)
                    for (bw = 0; bw < 2; bw++) {
                        mset got, ref;
                        char tag[200];
                        snprintf(tag, sizeof tag, "exact K=%zu d=%zu %s %s [%s,%s]", K, d,
                                 imb ? "imbalanced" : "balanced", ob ? "offset+bias" : "no bias",
                                 gm_name(gm), bw_name(bw));
                        set_conv(m, gm, bw, 1e-13);
                        lib_compute(m, ds, &got);
                        ref_compute(ds, gm, bw, 1e-13, &ref, NULL);
                        snprintf(desc, sizeof desc, "%s: compute", tag);
                        nc_test_int(got.compute, NC_SUCCESS, desc);
                        for (j = 0; j < NM; j++) {
                            snprintf(desc, sizeof desc, "%s: %s status", tag, mname[j]);
                            nc_test_int(got.st[j], NC_SUCCESS, desc);
                        }
                        if (!imb || gm == NC_GLOBAL_MEAN_CLASS_AVG) {
                            for (j = 0; j < NM; j++) {
                                snprintf(desc, sizeof desc, "%s: %s", tag, mname[j]);
                                if (j == NC_METRIC_ACCURACY)
                                    nc_test_rel(got.v[j], 1.0, 0.0, desc);
                                else
                                    nc_test_abs(got.v[j], 0.0, 1e-10, desc);
                            }
                        } else {
                            /* default sample-weighted centring under imbalance: the
                             * exact ETF is not centred at mu_G */
                            static const int zero_ones[] = {
                                NC_METRIC_NC1, NC_METRIC_NC2_EQUINORM_W, NC_METRIC_NC2_EQUIANGLE_W,
                                NC_METRIC_NC2_MAXANGLE_W, NC_METRIC_NC2_ETF_W, NC_METRIC_NC4};
                            size_t q;
                            for (q = 0; q < sizeof zero_ones / sizeof zero_ones[0]; q++) {
                                snprintf(desc, sizeof desc, "%s: %s", tag, mname[zero_ones[q]]);
                                nc_test_abs(got.v[zero_ones[q]], 0.0, 1e-10, desc);
                            }
                            snprintf(desc, sizeof desc, "%s: accuracy", tag);
                            nc_test_rel(got.v[NC_METRIC_ACCURACY], 1.0, 0.0, desc);
                            snprintf(desc, sizeof desc,
                                     "%s: NC2_ETF_means clearly nonzero (got %.3g, ref %.3g)", tag,
                                     got.v[NC_METRIC_NC2_ETF_MEANS], ref.v[NC_METRIC_NC2_ETF_MEANS]);
                            nc_test_true(got.v[NC_METRIC_NC2_ETF_MEANS] > 1e-3, desc);
                            snprintf(desc, sizeof desc, "self-check: %s: ref NC2_ETF_means > 1e-3",
                                     tag);
                            nc_test_true(ref.v[NC_METRIC_NC2_ETF_MEANS] > 1e-3, desc);
                            /* the nonzero values agree with the reference */
                            for (j = 0; j < NM; j++) {
                                if (fabs(ref.v[j]) < 1e-6) continue;
                                snprintf(desc, sizeof desc, "%s: %s vs reference", tag, mname[j]);
                                check_close(got.v[j], ref.v[j], 1e-10, 1e-12, desc);
                            }
                        }
                    }
                /* tiny within-class perturbation: NC1 small but well defined */
                pt = make_collapsed(&rg, M, d, K, counts, 2.5, 0.7, ob, 1e-3);
                for (gm = 0; gm < 2; gm++)
                    for (bw = 0; bw < 2; bw++) {
                        mset got, ref;
                        char tag[200];
                        snprintf(tag, sizeof tag, "perturbed K=%zu d=%zu %s %s [%s,%s]", K, d,
                                 imb ? "imbalanced" : "balanced", ob ? "offset+bias" : "no bias",
                                 gm_name(gm), bw_name(bw));
                        set_conv(m, gm, bw, 1e-13);
                        lib_compute(m, pt, &got);
                        ref_compute(pt, gm, bw, 1e-13, &ref, NULL);
                        compare_sets(&got, &ref, 1e-10, 1e-12, tag);
                        snprintf(desc, sizeof desc, "%s: 0 < NC1 < 1e-4 (got %.3g)", tag,
                                 got.v[NC_METRIC_NC1]);
                        nc_test_true(got.v[NC_METRIC_NC1] > 0 && got.v[NC_METRIC_NC1] < 1e-4, desc);
                    }
                set_conv(m, 0, 0, 1e-13);
                {
                    char tag[200];
                    snprintf(tag, sizeof tag, "invariance perturbed K=%zu d=%zu %s %s", K, d,
                             imb ? "imbalanced" : "balanced", ob ? "offset+bias" : "no bias");
                    check_invariances(m, pt, &rg, tag);
                }
                ds_free(pt);
                ds_free(ds);
            }
        free(M);
    }
    nc_metrics_destroy(m);
}

/* ---- 2. invariances on random data ----------------------------------------- */
static const size_t counts6[6] = {60, 50, 40, 25, 15, 10};

static void test_invariances_random(void)
{
    trng rg;
    nc_metrics *m = NULL;
    dataset *ds;
    trng_seed(&rg, 777);
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "invariance: create");
    if (!m) return;
    ds = make_random(&rg, 10, 6, counts6, 2.0, 1.0, 0, NULL, 0, 1, 1);
    check_invariances(m, ds, &rg, "invariance random d=10 K=6 with bias");
    ds_free(ds);
    ds = make_random(&rg, 10, 6, counts6, 2.0, 1.0, 0, NULL, 0, 1, 0);
    check_invariances(m, ds, &rg, "invariance random d=10 K=6 no bias");
    ds_free(ds);
    ds = make_random(&rg, 3, 6, counts6, 2.0, 1.0, 0, NULL, 0, 1, 1);
    check_invariances(m, ds, &rg, "invariance random d=3 K=6 with bias");
    ds_free(ds);
    ds = make_random(&rg, 10, 6, counts6, 2.0, 1.0, 0, NULL, 0, 0, 0);
    check_invariances(m, ds, &rg, "invariance random d=10 K=6 no W");
    ds_free(ds);
    nc_metrics_destroy(m);
}

/* ---- 3. reference computations --------------------------------------------- */
static void ref_case(nc_metrics *m, const dataset *ds, const char *name)
{
    int gm, bw;
    for (gm = 0; gm < 2; gm++)
        for (bw = 0; bw < 2; bw++) {
            mset got, ref;
            char tag[300];
            snprintf(tag, sizeof tag, "reference %s [%s,%s]", name, gm_name(gm), bw_name(bw));
            set_conv(m, gm, bw, 1e-13);
            lib_compute(m, ds, &got);
            ref_compute(ds, gm, bw, 1e-13, &ref, NULL);
            compare_sets(&got, &ref, 1e-10, 1e-12, tag);
        }
    set_conv(m, 0, 0, 1e-13);
}

static void test_reference(void)
{
    trng rg;
    nc_metrics *m = NULL;
    dataset *ds;
    char desc[600];
    trng_seed(&rg, 4242);
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "reference: create");
    if (!m) return;

    ds = make_random(&rg, 10, 6, counts6, 2.0, 1.0, 0, NULL, 0, 1, 1);
    ref_case(m, ds, "d=10 K=6 W+b");
    {
        /* the four conventions give four different NC1 values under imbalance */
        mset r[4];
        int q, p;
        for (q = 0; q < 4; q++) ref_compute(ds, q / 2, q % 2, 1e-13, &r[q], NULL);
        for (q = 0; q < 4; q++)
            for (p = q + 1; p < 4; p++) {
                snprintf(desc, sizeof desc,
                         "self-check: conventions %d and %d give different NC1 (%.6g, %.6g)", q, p,
                         r[q].v[0], r[p].v[0]);
                nc_test_true(fabs(r[q].v[0] - r[p].v[0]) > 1e-6 * fabs(r[q].v[0]), desc);
            }
    }
    ds_free(ds);

    ds = make_random(&rg, 10, 6, counts6, 2.0, 1.0, 0, NULL, 0, 1, 0);
    ref_case(m, ds, "d=10 K=6 W, b=NULL");
    ds_free(ds);

    ds = make_random(&rg, 10, 6, counts6, 2.0, 1.0, 0, NULL, 0, 0, 0);
    ref_case(m, ds, "d=10 K=6 W=NULL");
    ds_free(ds);

    ds = make_random(&rg, 3, 6, counts6, 2.0, 1.0, 0, NULL, 0, 1, 1);
    ref_case(m, ds, "d=3 K=6 W+b");
    ds_free(ds);

    ds = make_random(&rg, 3, 6, counts6, 0.7, 1.0, 0, NULL, 0, 1, 1);
    ref_case(m, ds, "d=3 K=6 weak separation");
    ds_free(ds);

    /* class means in a 2-dimensional subspace of R^10: Sigma_B has rank 2 */
    ds = make_random(&rg, 10, 6, counts6, 2.0, 1.0, 2, NULL, 0, 1, 1);
    ref_case(m, ds, "d=10 K=6 means of rank 2");
    ds_free(ds);

    /* d = K-1 exactly, balanced */
    {
        static const size_t c5[5] = {30, 30, 30, 30, 30};
        ds = make_random(&rg, 4, 5, c5, 1.5, 1.0, 0, NULL, 0, 1, 1);
        ref_case(m, ds, "d=4 K=5 balanced");
        ds_free(ds);
    }
    /* K = 3, d large relative to N */
    {
        static const size_t c3[3] = {4, 3, 2};
        ds = make_random(&rg, 12, 3, c3, 2.0, 1.0, 0, NULL, 0, 1, 1);
        ref_case(m, ds, "d=12 K=3 N=9");
        ds_free(ds);
    }

    /* pseudo-inverse threshold: eigenvalue ratios of Sigma_B near
     * 1, 0.36, 1e-4, 1e-8, 1e-10 */
    {
        static const double aniso[5] = {1.0, 0.6, 1e-2, 1e-4, 1e-5};
        static const double rtols[2] = {1e-2, 1e-6};
        int gm, bw, q;
        ds = make_random(&rg, 10, 6, counts6, 3.0, 1.0, 0, aniso, 5, 1, 1);
        for (q = 0; q < 2; q++)
            for (gm = 0; gm < 2; gm++)
                for (bw = 0; bw < 2; bw++) {
                    mset got, ref, refdef;
                    eiginfo ei;
                    char tag[300];
                    size_t e, kept = 0;
                    int margin_ok = 1;
                    snprintf(tag, sizeof tag, "pinv rtol=%g [%s,%s]", rtols[q], gm_name(gm),
                             bw_name(bw));
                    set_conv(m, gm, bw, rtols[q]);
                    lib_compute(m, ds, &got);
                    ref_compute(ds, gm, bw, rtols[q], &ref, &ei);
                    ref_compute(ds, gm, bw, 1e-13, &refdef, NULL);
                    /* self-check: no eigenvalue ratio within a factor 3 of the threshold */
                    for (e = 0; e < ei.n; e++) {
                        double t = ei.lam_ratio[e];
                        if (t > rtols[q] / 3 && t < rtols[q] * 3) margin_ok = 0;
                        if (t > rtols[q]) kept++;
                    }
                    snprintf(desc, sizeof desc, "self-check: %s eigenvalues away from threshold",
                             tag);
                    nc_test_true(margin_ok, desc);
                    snprintf(desc, sizeof desc, "self-check: %s keeps %zu eigenvalues", tag, kept);
                    nc_test_int(kept, q == 0 ? 2 : 3, desc);
                    snprintf(desc, sizeof desc, "self-check: %s changes NC1 (%.6g vs %.6g)", tag,
                             ref.v[0], refdef.v[0]);
                    nc_test_true(fabs(ref.v[0] - refdef.v[0]) > 0.01 * fabs(refdef.v[0]), desc);
                    compare_sets(&got, &ref, 1e-10, 1e-12, tag);
                }
        ds_free(ds);
    }
    /* rtol may be 0 */
    nc_test_int(nc_metrics_set_pinv_rtol(m, 0.0), NC_SUCCESS, "set_pinv_rtol(0)");
    nc_test_int(nc_metrics_set_pinv_rtol(m, 0.999), NC_SUCCESS, "set_pinv_rtol(0.999)");
    nc_metrics_destroy(m);
}

/* ---- 4. layout ------------------------------------------------------------- */
static void test_layout(void)
{
    trng rg;
    nc_metrics *m = NULL;
    int q, gm;
    trng_seed(&rg, 99);
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "layout: create");
    if (!m) return;
    for (q = 0; q < 3; q++) {
        size_t d = q == 1 ? 3 : 10;
        dataset *ds = make_random(&rg, d, 6, counts6, 2.0, 1.0, 0, NULL, 0, q != 2, q != 2);
        dataset *pad = ds_copy_ld(ds, d + 3, d + 5); /* padding is NaN */
        dataset *pad2 = ds_copy_ld(ds, d + 1, d); /* ldh > d only */
        for (gm = 0; gm < 2; gm++) {
            mset a, b, c;
            char tag[200];
            set_conv(m, gm, 1, 1e-13);
            lib_compute(m, ds, &a);
            lib_compute(m, pad, &b);
            lib_compute(m, pad2, &c);
            snprintf(tag, sizeof tag, "layout d=%zu case %d [%s] ldh=d+3 ldw=d+5 vs packed", d, q,
                     gm_name(gm));
            compare_sets(&b, &a, 1e-13, 1e-15, tag);
            snprintf(tag, sizeof tag, "layout d=%zu case %d [%s] ldh=d+1 vs packed", d, q,
                     gm_name(gm));
            compare_sets(&c, &a, 1e-13, 1e-15, tag);
        }
        ds_free(ds);
        ds_free(pad);
        ds_free(pad2);
    }
    nc_metrics_destroy(m);
}

/* ---- 5. errors --------------------------------------------------------------- */
static void expect_fail(nc_metrics *m, nc_status got, nc_status want, const char *what)
{
    char desc[600];
    const char *msg;
    snprintf(desc, sizeof desc, "error: %s", what);
    nc_test_int(got, want, desc);
    if (m) {
        msg = nc_metrics_last_error(m);
        snprintf(desc, sizeof desc, "error: %s: last_error non-empty", what);
        nc_test_true(msg != NULL && msg[0] != '\0', desc);
    }
}

static void test_errors(void)
{
    enum { d = 4, K = 3, N = 9 };
    double H[d * N], W[K * d], b[K], v;
    int32_t y[N] = {0, 1, 2, 0, 1, 2, 0, 1, 2};
    int32_t ybad[N];
    nc_metrics *m = NULL;
    trng rg;
    size_t i;
    int j;
    trng_seed(&rg, 5);
    for (i = 0; i < d * N; i++) H[i] = trng_normal(&rg) + (double)(i / d % K);
    for (i = 0; i < K * d; i++) W[i] = trng_normal(&rg);
    for (i = 0; i < K; i++) b[i] = trng_normal(&rg);

    nc_test_int(nc_metrics_create(NULL), NC_ERR_NULL_ARGUMENT, "error: create(NULL)");
    nc_metrics_destroy(NULL); /* must be safe */
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "errors: create");
    if (!m) return;
    {
        const char *msg = nc_metrics_last_error(m);
        nc_test_true(msg != NULL && msg[0] == '\0', "fresh handle: last_error is \"\"");
    }

    /* before any compute every metric is unavailable */
    for (j = 0; j < NM; j++) {
        char desc[200];
        snprintf(desc, sizeof desc, "get %s before any compute", mname[j]);
        nc_test_int(nc_metrics_get(m, (nc_metric)j, &v), NC_ERR_UNAVAILABLE, desc);
    }

    /* NULL arguments */
    nc_test_int(nc_metrics_compute_data(NULL, d, K, N, H, d, y, W, d, b), NC_ERR_NULL_ARGUMENT,
                "error: compute_data(NULL handle)");
    expect_fail(m, nc_metrics_compute_data(m, d, K, N, NULL, d, y, W, d, b), NC_ERR_NULL_ARGUMENT,
                "compute_data H=NULL");
    expect_fail(m, nc_metrics_compute_data(m, d, K, N, H, d, NULL, W, d, b), NC_ERR_NULL_ARGUMENT,
                "compute_data labels=NULL");
    nc_test_int(nc_metrics_compute(NULL, NULL), NC_ERR_NULL_ARGUMENT, "error: compute(NULL, NULL)");
    expect_fail(m, nc_metrics_compute(m, NULL), NC_ERR_NULL_ARGUMENT, "compute(m, NULL model)");
    nc_test_int(nc_metrics_get(NULL, NC_METRIC_NC1, &v), NC_ERR_NULL_ARGUMENT,
                "error: get(NULL handle)");
    nc_test_int(nc_metrics_set_global_mean(NULL, NC_GLOBAL_MEAN_SAMPLE), NC_ERR_NULL_ARGUMENT,
                "error: set_global_mean(NULL)");
    nc_test_int(nc_metrics_set_between_weight(NULL, NC_BETWEEN_UNIFORM), NC_ERR_NULL_ARGUMENT,
                "error: set_between_weight(NULL)");
    nc_test_int(nc_metrics_set_pinv_rtol(NULL, 1e-13), NC_ERR_NULL_ARGUMENT,
                "error: set_pinv_rtol(NULL)");

    /* sizes */
    expect_fail(m, nc_metrics_compute_data(m, 0, K, N, H, d, y, W, d, b), NC_ERR_INVALID_SIZE, "d=0");
    expect_fail(m, nc_metrics_compute_data(m, d, K, 0, H, d, y, W, d, b), NC_ERR_INVALID_SIZE, "N=0");
    {
        int32_t y0[N] = {0};
        expect_fail(m, nc_metrics_compute_data(m, d, 1, N, H, d, y0, W, d, b), NC_ERR_INVALID_SIZE,
                    "K=1");
        expect_fail(m, nc_metrics_compute_data(m, d, 0, N, H, d, y0, W, d, b), NC_ERR_INVALID_SIZE,
                    "K=0");
    }
    expect_fail(m, nc_metrics_compute_data(m, d, K, N, H, d - 1, y, W, d, b), NC_ERR_SIZE_MISMATCH,
                "ldh<d");
    expect_fail(m, nc_metrics_compute_data(m, d, K, N, H, d, y, W, d - 1, b), NC_ERR_SIZE_MISMATCH,
                "ldw<d");

    /* labels */
    memcpy(ybad, y, sizeof y);
    ybad[4] = K;
    expect_fail(m, nc_metrics_compute_data(m, d, K, N, H, d, ybad, W, d, b),
                NC_ERR_LABEL_OUT_OF_RANGE, "label = K");
    ybad[4] = -1;
    expect_fail(m, nc_metrics_compute_data(m, d, K, N, H, d, ybad, W, d, b),
                NC_ERR_LABEL_OUT_OF_RANGE, "label = -1");
    for (i = 0; i < N; i++) ybad[i] = (int32_t)(i % 2); /* class 2 empty */
    expect_fail(m, nc_metrics_compute_data(m, d, K, N, H, d, ybad, W, d, b), NC_ERR_EMPTY_CLASS,
                "empty class");

    /* non-finite values */
    {
        const double bad[3] = {NAN, INFINITY, -INFINITY};
        int q;
        for (q = 0; q < 3; q++) {
            double H2[d * N], W2[K * d], b2[K];
            char what[100];
            memcpy(H2, H, sizeof H);
            memcpy(W2, W, sizeof W);
            memcpy(b2, b, sizeof b);
            H2[2 * d + 3] = bad[q];
            snprintf(what, sizeof what, "%g in H", bad[q]);
            expect_fail(m, nc_metrics_compute_data(m, d, K, N, H2, d, y, W, d, b), NC_ERR_NON_FINITE,
                        what);
            W2[1 * d + 2] = bad[q];
            snprintf(what, sizeof what, "%g in W", bad[q]);
            expect_fail(m, nc_metrics_compute_data(m, d, K, N, H, d, y, W2, d, b), NC_ERR_NON_FINITE,
                        what);
            b2[2] = bad[q];
            snprintf(what, sizeof what, "%g in b", bad[q]);
            expect_fail(m, nc_metrics_compute_data(m, d, K, N, H, d, y, W, d, b2), NC_ERR_NON_FINITE,
                        what);
        }
    }

    /* invalid values */
    expect_fail(m, nc_metrics_set_global_mean(m, (nc_global_mean)2), NC_ERR_INVALID_VALUE,
                "global_mean = 2");
    expect_fail(m, nc_metrics_set_global_mean(m, (nc_global_mean)-1), NC_ERR_INVALID_VALUE,
                "global_mean = -1");
    expect_fail(m, nc_metrics_set_between_weight(m, (nc_between_weight)2), NC_ERR_INVALID_VALUE,
                "between_weight = 2");
    expect_fail(m, nc_metrics_set_between_weight(m, (nc_between_weight)-1), NC_ERR_INVALID_VALUE,
                "between_weight = -1");
    expect_fail(m, nc_metrics_set_pinv_rtol(m, -1.0), NC_ERR_INVALID_VALUE, "rtol = -1");
    expect_fail(m, nc_metrics_set_pinv_rtol(m, 1.0), NC_ERR_INVALID_VALUE, "rtol = 1");
    expect_fail(m, nc_metrics_set_pinv_rtol(m, NAN), NC_ERR_INVALID_VALUE, "rtol = NaN");
    expect_fail(m, nc_metrics_set_pinv_rtol(m, INFINITY), NC_ERR_INVALID_VALUE, "rtol = Inf");

    /* the failed setters left the defaults in place, and the handle still works */
    {
        dataset *ds = ds_new(d, K, N, d, d, 1, 1);
        mset got, ref;
        memcpy(ds->H, H, sizeof H);
        memcpy(ds->y, y, sizeof y);
        memcpy(ds->W, W, sizeof W);
        memcpy(ds->b, b, sizeof b);
        lib_compute(m, ds, &got);
        ref_compute(ds, NC_GLOBAL_MEAN_SAMPLE, NC_BETWEEN_UNIFORM, 1e-13, &ref, NULL);
        compare_sets(&got, &ref, 1e-10, 1e-12, "after failures, defaults kept");
        /* invalid metric enum in get */
        nc_test_int(nc_metrics_get(m, NC_METRIC_COUNT, &v), NC_ERR_INVALID_VALUE,
                    "error: get(NC_METRIC_COUNT)");
        nc_test_int(nc_metrics_get(m, (nc_metric)-1, &v), NC_ERR_INVALID_VALUE,
                    "error: get(-1)");
        nc_test_int(nc_metrics_get(m, NC_METRIC_NC1, NULL), NC_ERR_NULL_ARGUMENT,
                    "error: get(value = NULL)");

        /* W == NULL: W metrics unavailable, the rest available */
        nc_test_int(nc_metrics_compute_data(m, d, K, N, H, d, y, NULL, d, b), NC_SUCCESS,
                    "compute_data W=NULL (b given)");
        for (j = 0; j < NM; j++) {
            char desc[200];
            nc_status st = nc_metrics_get(m, (nc_metric)j, &v);
            snprintf(desc, sizeof desc, "W=NULL: get %s", mname[j]);
            nc_test_int(st, needs_W[j] ? NC_ERR_UNAVAILABLE : NC_SUCCESS, desc);
            if (!needs_W[j] && st == NC_SUCCESS) {
                snprintf(desc, sizeof desc, "W=NULL: %s value", mname[j]);
                check_close(v, ref.v[j], 1e-10, 1e-12, desc);
            }
        }
        /* and W given again: available again */
        nc_test_int(nc_metrics_compute_data(m, d, K, N, H, d, y, W, d, NULL), NC_SUCCESS,
                    "compute_data W given, b=NULL");
        nc_test_int(nc_metrics_get(m, NC_METRIC_NC3, &v), NC_SUCCESS, "NC3 available again");
        ds_free(ds);
    }

    /* names */
    {
        const char *names[NM];
        for (j = 0; j < NM; j++) {
            char desc[200];
            names[j] = nc_metric_name((nc_metric)j);
            snprintf(desc, sizeof desc, "nc_metric_name(%s) non-NULL, non-empty, not \"unknown\"",
                     mname[j]);
            nc_test_true(names[j] != NULL && names[j][0] != '\0' && strcmp(names[j], "unknown") != 0,
                         desc);
        }
        for (j = 0; j < NM; j++) {
            int l;
            for (l = j + 1; l < NM; l++) {
                char desc[200];
                snprintf(desc, sizeof desc, "nc_metric_name distinct: %s vs %s", mname[j], mname[l]);
                nc_test_true(names[j] && names[l] && strcmp(names[j], names[l]) != 0, desc);
            }
        }
        nc_test_true(names[0] && strcmp(names[0], "nc1") == 0, "nc_metric_name(NC1) == \"nc1\"");
        nc_test_true(names[1] && strcmp(names[1], "nc2_equinorm_means") == 0,
                     "nc_metric_name(NC2_EQUINORM_MEANS) == \"nc2_equinorm_means\"");
        {
            const char *u = nc_metric_name(NC_METRIC_COUNT);
            const char *u2 = nc_metric_name((nc_metric)-1);
            nc_test_true(u && strcmp(u, "unknown") == 0, "nc_metric_name(NC_METRIC_COUNT) == unknown");
            nc_test_true(u2 && strcmp(u2, "unknown") == 0, "nc_metric_name(-1) == unknown");
        }
    }
    nc_metrics_destroy(m);
}

/* ---- degenerate inputs ----------------------------------------------------- */
static void check_finite_or_error(nc_metrics *m, const dataset *ds, const char *tag)
{
    mset got;
    char desc[600];
    int j;
    lib_compute(m, ds, &got);
    if (got.compute != NC_SUCCESS) {
        /* a failure is acceptable, but it must say why */
        const char *msg = nc_metrics_last_error(m);
        snprintf(desc, sizeof desc, "%s: compute failed (%s) with a message", tag,
                 nc_status_name(got.compute));
        nc_test_true(got.compute < 0 && msg && msg[0], desc);
        return;
    }
    for (j = 0; j < NM; j++) {
        snprintf(desc, sizeof desc, "%s: %s returned with NC_SUCCESS is finite (got %g)", tag,
                 mname[j], got.v[j]);
        nc_test_true(got.st[j] != NC_SUCCESS || isfinite(got.v[j]), desc);
    }
}

static void test_degenerate(void)
{
    trng rg;
    nc_metrics *m = NULL;
    const size_t d = 4, K = 3, N = 12;
    dataset *ds;
    size_t i, r, k;
    int gm, bw;
    trng_seed(&rg, 31337);
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "degenerate: create");
    if (!m) return;
    /* every class holds the pairs x, -x: all class means are exactly 0 */
    ds = ds_new(d, K, N, d, d, 1, 1);
    for (i = 0; i < N; i += 2) {
        ds->y[i] = ds->y[i + 1] = (int32_t)((i / 2) % K);
        for (r = 0; r < d; r++) {
            double x = trng_normal(&rg);
            ds->H[r + i * d] = x;
            ds->H[r + (i + 1) * d] = -x;
        }
    }
    for (k = 0; k < K * d; k++) ds->W[k] = trng_normal(&rg);
    for (k = 0; k < K; k++) ds->b[k] = 0.1 * trng_normal(&rg);
    for (gm = 0; gm < 2; gm++)
        for (bw = 0; bw < 2; bw++) {
            char tag[200];
            set_conv(m, gm, bw, 1e-13);
            snprintf(tag, sizeof tag, "degenerate identical means [%s,%s]", gm_name(gm), bw_name(bw));
            check_finite_or_error(m, ds, tag);
        }
    /* same with an offset: class means identical but nonzero (rounding may
     * leave tiny differences) */
    for (i = 0; i < N; i++)
        for (r = 0; r < d; r++) ds->H[r + i * d] += 3.0 + (double)r;
    set_conv(m, 0, 0, 1e-13);
    check_finite_or_error(m, ds, "degenerate identical shifted means");
    /* W = 0 (extra: norms of W vanish) */
    for (i = 0; i < N; i++)
        for (r = 0; r < d; r++) ds->H[r + i * d] += (double)(ds->y[i] * (int32_t)(r + 1));
    for (k = 0; k < K * d; k++) ds->W[k] = 0.0;
    check_finite_or_error(m, ds, "degenerate W = 0");
    ds_free(ds);
    /* K = 2: a single pair, so the n-1 std of the cosines is 0/0; every other
     * metric is well defined and must match the reference */
    {
        static const size_t c2[2] = {7, 4};
        mset got, ref;
        int j;
        char desc[200];
        ds = make_random(&rg, 3, 2, c2, 2.0, 1.0, 0, NULL, 0, 1, 1);
        check_finite_or_error(m, ds, "K=2");
        lib_compute(m, ds, &got);
        ref_compute(ds, 0, 0, 1e-13, &ref, NULL);
        nc_test_int(got.compute, NC_SUCCESS, "K=2: compute");
        for (j = 0; j < NM; j++) {
            if (j == NC_METRIC_NC2_EQUIANGLE_MEANS || j == NC_METRIC_NC2_EQUIANGLE_W) continue;
            snprintf(desc, sizeof desc, "K=2: %s status", mname[j]);
            nc_test_int(got.st[j], NC_SUCCESS, desc);
            snprintf(desc, sizeof desc, "K=2: %s", mname[j]);
            check_close(got.v[j], ref.v[j], 1e-10, 1e-12, desc);
        }
        ds_free(ds);
    }
    nc_metrics_destroy(m);
}

/* ---- ties in NC4 / accuracy ------------------------------------------------ */
static void test_ties(void)
{
    /* d = 2, K = 3, integer data so every logit and distance is exact.
     * class 0: (0,1), (0,-1)        mean (0,0)
     * class 1: (4,1), (4,-1)        mean (4,0)
     * class 2: (2,5), (2,7), (2,-6) mean (2,2)
     * W rows: (1,0), (1,0), (0,1), no bias.
     * argmax (ties -> smallest):  2, 0, 0, 0, 2, 2, 0
     * nearest mean (ties -> smallest; (2,-6) is at squared distance 40 from
     * both (0,0) and (4,0)):        0, 0, 1, 1, 2, 2, 0
     * accuracy = 3/7 (samples 1, 4, 5), NC4 = 3/7 (samples 0, 2, 3). */
    const double H[14] = {0, 1, 0, -1, 4, 1, 4, -1, 2, 5, 2, 7, 2, -6};
    const int32_t y[7] = {0, 0, 1, 1, 2, 2, 2};
    const double W[6] = {1, 0, 1, 0, 0, 1};
    nc_metrics *m = NULL;
    double v = NAN;
    dataset ds;
    mset ref;
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "ties: create");
    if (!m) return;
    nc_test_int(nc_metrics_compute_data(m, 2, 3, 7, H, 2, y, W, 2, NULL), NC_SUCCESS,
                "ties: compute");
    ds.d = 2;
    ds.K = 3;
    ds.N = 7;
    ds.H = (double *)H;
    ds.ldh = 2;
    ds.y = (int32_t *)y;
    ds.W = (double *)W;
    ds.ldw = 2;
    ds.b = NULL;
    ref_compute(&ds, 0, 0, 1e-13, &ref, NULL);
    nc_test_rel(ref.v[NC_METRIC_ACCURACY], 3.0 / 7.0, 1e-15, "self-check: ties reference accuracy");
    nc_test_rel(ref.v[NC_METRIC_NC4], 3.0 / 7.0, 1e-15, "self-check: ties reference NC4");
    nc_test_int(nc_metrics_get(m, NC_METRIC_ACCURACY, &v), NC_SUCCESS, "ties: get accuracy");
    nc_test_rel(v, 3.0 / 7.0, 1e-15, "ties: accuracy (argmax ties to smallest index)");
    nc_test_int(nc_metrics_get(m, NC_METRIC_NC4, &v), NC_SUCCESS, "ties: get NC4");
    nc_test_rel(v, 3.0 / 7.0, 1e-15, "ties: NC4 (argmax and nearest-mean ties to smallest index)");
    nc_metrics_destroy(m);
}

/* ---- 6. through a model ---------------------------------------------------- */
static void test_model(void)
{
    trng rg;
    const size_t d = 10, K = 6;
    nc_metrics *m1 = NULL, *m2 = NULL;
    nc_model *model = NULL;
    dataset *ds;
    int32_t *y;
    size_t N, i, r, k;
    int gm, bias;
    trng_seed(&rg, 2024);
    N = make_labels(&rg, K, counts6, 0, &y); /* sorted by class, as create_counts */
    ds = ds_new(d, K, N, d, d, 1, 1);
    memcpy(ds->y, y, sizeof(int32_t) * N);
    free(y);
    {
        dataset *tmp = make_random(&rg, d, K, counts6, 2.0, 1.0, 0, NULL, 0, 1, 1);
        /* take values from a random dataset, labels stay sorted */
        for (i = 0; i < N; i++)
            for (r = 0; r < d; r++)
                ds->H[r + i * d] = tmp->H[r + i * d] + 2.0 * (double)ds->y[i] * (r == (size_t)ds->y[i]);
        for (k = 0; k < K * d; k++) ds->W[k] = tmp->W[k];
        for (k = 0; k < K; k++) ds->b[k] = 8.0 * tmp->b[k]; /* large enough to change decisions */
        ds_free(tmp);
    }
    nc_test_int(nc_metrics_create(&m1), NC_SUCCESS, "model: create metrics 1");
    nc_test_int(nc_metrics_create(&m2), NC_SUCCESS, "model: create metrics 2");
    nc_test_int(nc_model_create_counts(&model, d, K, counts6), NC_SUCCESS, "model: create_counts");
    if (!m1 || !m2 || !model) {
        nc_metrics_destroy(m1);
        nc_metrics_destroy(m2);
        nc_model_destroy(model);
        ds_free(ds);
        return;
    }
    {
        int32_t *ml = (int32_t *)xmalloc(sizeof(int32_t) * N);
        nc_test_int(nc_model_get_labels(model, ml), NC_SUCCESS, "model: get_labels");
        nc_test_true(memcmp(ml, ds->y, sizeof(int32_t) * N) == 0,
                     "model: create_counts labels sorted by class");
        free(ml);
    }
    nc_test_int(nc_model_set_W(model, ds->W, d), NC_SUCCESS, "model: set_W");
    nc_test_int(nc_model_set_H(model, ds->H, d), NC_SUCCESS, "model: set_H");
    nc_test_int(nc_model_set_bias(model, 1), NC_SUCCESS, "model: set_bias(1)");
    nc_test_int(nc_model_set_b(model, ds->b), NC_SUCCESS, "model: set_b");
    for (bias = 1; bias >= 0; bias--) {
        nc_test_int(nc_model_set_bias(model, bias), NC_SUCCESS, "model: set_bias");
        for (gm = 0; gm < 2; gm++) {
            mset a, bset, ref;
            char tag[200];
            int j;
            set_conv(m1, gm, gm, 1e-13);
            set_conv(m2, gm, gm, 1e-13);
            a.compute = nc_metrics_compute(m1, model);
            for (j = 0; j < NM; j++) {
                a.v[j] = NAN;
                a.st[j] = nc_metrics_get(m1, (nc_metric)j, &a.v[j]);
            }
            bset.compute = nc_metrics_compute_data(m2, d, K, N, ds->H, d, ds->y, ds->W, d,
                                                   bias ? ds->b : NULL);
            for (j = 0; j < NM; j++) {
                bset.v[j] = NAN;
                bset.st[j] = nc_metrics_get(m2, (nc_metric)j, &bset.v[j]);
            }
            snprintf(tag, sizeof tag, "model vs compute_data bias=%d [%s,%s]", bias, gm_name(gm),
                     bw_name(gm));
            compare_sets(&a, &bset, 1e-14, 1e-15, tag);
            /* and both agree with the reference */
            {
                dataset view = *ds;
                if (!bias) view.b = NULL;
                ref_compute(&view, gm, gm, 1e-13, &ref, NULL);
                snprintf(tag, sizeof tag, "model vs reference bias=%d [%s,%s]", bias, gm_name(gm),
                         bw_name(gm));
                compare_sets(&a, &ref, 1e-10, 1e-12, tag);
            }
        }
    }
    /* the bias matters for this data (otherwise the test above proves nothing) */
    {
        mset r1, r0;
        dataset view = *ds;
        ref_compute(&view, 0, 0, 1e-13, &r1, NULL);
        view.b = NULL;
        ref_compute(&view, 0, 0, 1e-13, &r0, NULL);
        nc_test_true(r1.v[NC_METRIC_ACCURACY] != r0.v[NC_METRIC_ACCURACY] ||
                         r1.v[NC_METRIC_NC4] != r0.v[NC_METRIC_NC4],
                     "self-check: bias changes accuracy or NC4 for the model data");
    }
    nc_model_destroy(model);
    nc_metrics_destroy(m1);
    nc_metrics_destroy(m2);
    ds_free(ds);
}

/* ---- workspace reuse across sizes ------------------------------------------ */
static void test_workspace(void)
{
    trng rg;
    nc_metrics *m = NULL;
    dataset *small, *big;
    static const size_t c4[4] = {5, 6, 7, 4};
    int round;
    trng_seed(&rg, 8080);
    small = make_random(&rg, 3, 4, c4, 2.0, 1.0, 0, NULL, 0, 1, 1);
    big = make_random(&rg, 10, 6, counts6, 2.0, 1.0, 0, NULL, 0, 1, 1);
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "workspace: create");
    if (!m) {
        ds_free(small);
        ds_free(big);
        return;
    }
    for (round = 0; round < 4; round++) {
        const dataset *ds = round % 2 ? big : small;
        nc_metrics *fresh = NULL;
        mset a, b;
        char tag[100];
        nc_test_int(nc_metrics_create(&fresh), NC_SUCCESS, "workspace: create fresh");
        if (!fresh) continue;
        lib_compute(m, ds, &a);
        lib_compute(fresh, ds, &b);
        snprintf(tag, sizeof tag, "workspace reuse round %d (%s)", round, round % 2 ? "big" : "small");
        compare_sets(&a, &b, 1e-13, 1e-15, tag);
        nc_metrics_destroy(fresh);
    }
    nc_metrics_destroy(m);
    ds_free(small);
    ds_free(big);
}

int main(void)
{
    test_errors();
    test_exact_geometry();
    test_invariances_random();
    test_reference();
    test_layout();
    test_ties();
    test_degenerate();
    test_model();
    test_workspace();
    printf("test_metrics_compute: tiled against untiled on %zu computes: largest relative difference %.2e (values above 1e-2)\n", tiled_runs, tiled_worst);
    return nc_test_summary("test_metrics_compute");
}

/*
 * test_metrics_largek.c - the measures of large-K studies (NC1 trace ratio
 * and CDNV summaries, GNC2 energies, UNC3, log-norm spreads, interference)
 * and the per-class values: each against a direct computation from its
 * definition (also for two nearly coincident class means), its
 * invariances (rotation, scaling, relabelling), its value on exact frames;
 * the tiled pass with threads; float32 streams; the d x d scatter of
 * streams with K >= d; a K too large to hold refused up front.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "files.h"
#define NC_TEST_LCG_SEED 0x2468ace013579bdfULL
#include "testutil.h"
#include "ncollapse.h"
#include "metrics/metrics.h" /* white box: the BLAS calls of A A^T */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    size_t d, K, N;
    double *H, *W, *b;
    int32_t *y;
} data;

static data make_data(size_t d, size_t K, size_t N, double spread)
{
    data D;
    size_t i, k, t;
    double *centre = xmalloc(d * K * sizeof(double));
    D.d = d;
    D.K = K;
    D.N = N;
    D.H = xmalloc(d * N * sizeof(double));
    D.W = xmalloc(K * d * sizeof(double));
    D.b = xmalloc(K * sizeof(double));
    D.y = xmalloc(N * sizeof(int32_t));
    fill(centre, d * K, 2.0);
    for (i = 0; i < N; i++) {
        D.y[i] = (int32_t)(i < K ? i : (size_t)((urand() + 1.0) * 0.5 * (double)K) % K);
        for (t = 0; t < d; t++)
            D.H[i * d + t] = centre[(size_t)D.y[i] * d + t] + spread * (urand());
    }
    /* W roughly aligned with the centres (so that UNC3 is a CoV of positive cosines). */
    for (k = 0; k < K; k++)
        for (t = 0; t < d; t++) D.W[k * d + t] = centre[k * d + t] + 0.3 * (urand());
    fill(D.b, K, 0.5);
    free(centre);
    return D;
}

static void free_data(data *D)
{
    free(D->H);
    free(D->W);
    free(D->b);
    free(D->y);
}

/* ---- the definitions, computed directly ------------------------------------ */

typedef struct {
    double v[NC_METRIC_COUNT];
    int have[NC_METRIC_COUNT];
    double *cls; /* K x NC_CLASS_STAT_COUNT */
} direct;

static double mean_of(const double *x, size_t n)
{
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

static double var_of(const double *x, size_t n)
{
    const double m = mean_of(x, n);
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return n > 1 ? s / (double)(n - 1) : 0.0;
}

static double dot(const double *a, const double *b, size_t d)
{
    double s = 0.0;
    size_t t;
    for (t = 0; t < d; t++) s += a[t] * b[t];
    return s;
}

static void direct_metrics(const data *D, int class_avg, int weighted, direct *out)
{
    const size_t d = D->d, K = D->K, N = D->N, P = K * (K - 1) / 2;
    double *mu = calloc(d * K, sizeof(double)), *mb = calloc(d * K, sizeof(double));
    double *g = calloc(d, sizeof(double)), *V = calloc(K, sizeof(double));
    double *nm = calloc(K, sizeof(double)), *nw = calloc(K, sizeof(double));
    double *pc = calloc(P, sizeof(double)), *pl = calloc(P, sizeof(double));
    double *pr = calloc(P, sizeof(double)), *pd = calloc(P, sizeof(double));
    double *pw = calloc(P, sizeof(double)), *x = calloc(K, sizeof(double));
    size_t *n = calloc(K, sizeof(size_t));
    size_t i, j, k, t, p;
    double trW = 0.0, trB = 0.0;
    memset(out->have, 0, sizeof out->have);
    out->cls = calloc(K * NC_CLASS_STAT_COUNT, sizeof(double));
    for (i = 0; i < N; i++) {
        n[D->y[i]]++;
        for (t = 0; t < d; t++) mu[(size_t)D->y[i] * d + t] += D->H[i * d + t];
    }
    for (k = 0; k < K; k++)
        for (t = 0; t < d; t++) mu[k * d + t] /= (double)n[k];
    for (k = 0; k < K; k++)
        for (t = 0; t < d; t++)
            g[t] += (class_avg ? 1.0 / (double)K : (double)n[k] / (double)N) * mu[k * d + t];
    for (k = 0; k < K; k++) {
        for (t = 0; t < d; t++) mb[k * d + t] = mu[k * d + t] - g[t];
        nm[k] = sqrt(dot(mb + k * d, mb + k * d, d));
        nw[k] = sqrt(dot(D->W + k * d, D->W + k * d, d));
    }
    for (i = 0; i < N; i++) {
        const size_t y = (size_t)D->y[i];
        for (t = 0; t < d; t++) {
            const double e = D->H[i * d + t] - mu[y * d + t];
            V[y] += e * e;
        }
    }
    for (k = 0; k < K; k++) {
        trW += V[k];
        V[k] /= (double)n[k];
        trB += (weighted ? (double)n[k] / (double)N : 1.0 / (double)K) * nm[k] * nm[k];
    }
    trW /= (double)N;
    out->v[NC_METRIC_NC1_TRACE_RATIO] = trW / trB;
    p = 0;
    for (k = 1; k < K; k++)
        for (j = 0; j < k; j++, p++) {
            double r2 = 0.0, m2 = 0.0;
            for (t = 0; t < d; t++) {
                const double e = mb[j * d + t] / nm[j] - mb[k * d + t] / nm[k];
                const double f = mu[j * d + t] - mu[k * d + t];
                r2 += e * e;
                m2 += f * f;
            }
            pc[p] = dot(mb + j * d, mb + k * d, d) / (nm[j] * nm[k]);
            pl[p] = log(1.0 / sqrt(r2));
            pr[p] = 1.0 / sqrt(r2);
            pd[p] = (V[j] + V[k]) / (2.0 * m2);
            pw[p] = dot(D->W + j * d, D->W + k * d, d) / (nw[j] * nw[k]);
        }
    out->v[NC_METRIC_NC1_CDNV_MEAN] = mean_of(pd, P);
    out->v[NC_METRIC_NC1_CDNV_COV] = sqrt(var_of(pd, P)) / mean_of(pd, P);
    out->v[NC_METRIC_GNC2_LOG_MEAN] = mean_of(pl, P);
    out->v[NC_METRIC_GNC2_LOG_VAR] = var_of(pl, P);
    out->v[NC_METRIC_GNC2_RIESZ_MEAN] = mean_of(pr, P);
    out->v[NC_METRIC_GNC2_RIESZ_VAR] = var_of(pr, P);
    out->v[NC_METRIC_INTERFERENCE_MEANS] = mean_of(pc, P);
    out->v[NC_METRIC_INTERFERENCE_W] = mean_of(pw, P);
    out->v[NC_METRIC_NC2_EQUIANGLE_MEANS] = sqrt(var_of(pc, P));
    out->v[NC_METRIC_NC2_EQUIANGLE_W] = sqrt(var_of(pw, P));
    for (k = 0; k < K; k++) x[k] = log(nm[k]);
    out->v[NC_METRIC_NC2_LOGNORM_MEANS] = sqrt(var_of(x, K));
    for (k = 0; k < K; k++) x[k] = log(nw[k]);
    out->v[NC_METRIC_NC2_LOGNORM_W] = sqrt(var_of(x, K));
    for (k = 0; k < K; k++) x[k] = dot(D->W + k * d, mb + k * d, d) / (nw[k] * nm[k]);
    out->v[NC_METRIC_UNC3] = sqrt(var_of(x, K)) / fabs(mean_of(x, K));
    for (i = NC_METRIC_NC1_TRACE_RATIO; i < NC_METRIC_COUNT; i++) out->have[i] = 1;
    /* Every class of one sample: all CDNV are 0 and their CoV undefined. */
    out->have[NC_METRIC_NC1_CDNV_COV] = mean_of(pd, P) > 0.0;
    out->have[NC_METRIC_NC2_EQUIANGLE_MEANS] = out->have[NC_METRIC_NC2_EQUIANGLE_W] = 1;
    for (k = 0; k < K; k++) {
        double *row = out->cls + k * NC_CLASS_STAT_COUNT;
        row[NC_CLASS_COUNT] = (double)n[k];
        row[NC_CLASS_MEAN_NORM] = nm[k];
        row[NC_CLASS_W_NORM] = nw[k];
        row[NC_CLASS_VARIANCE] = V[k];
        row[NC_CLASS_DUALITY] = x[k];
        row[NC_CLASS_NC4] = row[NC_CLASS_ACCURACY] = NAN; /* checked through their sums */
    }
    free(mu);
    free(mb);
    free(g);
    free(V);
    free(nm);
    free(nw);
    free(pc);
    free(pl);
    free(pr);
    free(pd);
    free(pw);
    free(x);
    free(n);
}

static void check_against_direct(nc_metrics *m, const data *D, const direct *R, double rtol,
                                 const char *tag)
{
    char desc[300];
    size_t i, k, c;
    double *vals = xmalloc(D->K * sizeof(double));
    for (i = 0; i < NC_METRIC_COUNT; i++) {
        double v;
        if (i == NC_METRIC_NC1_CDNV_COV && !R->have[i]) {
            snprintf(desc, sizeof desc, "%s: CDNV CoV unavailable when every CDNV is 0", tag);
            nc_test_int(nc_metrics_get(m, (nc_metric)i, &v), NC_ERR_UNAVAILABLE, desc);
        }
        if (!R->have[i]) continue;
        snprintf(desc, sizeof desc, "%s: %s against its definition", tag,
                 nc_metric_name((nc_metric)i));
        nc_test_int(nc_metrics_get(m, (nc_metric)i, &v), NC_SUCCESS, desc);
        nc_test_rel(v, R->v[i], rtol, desc);
    }
    for (c = 0; c < NC_CLASS_STAT_COUNT; c++) {
        if (c == NC_CLASS_NC4 || c == NC_CLASS_ACCURACY) continue;
        snprintf(desc, sizeof desc, "%s: per-class %s", tag, nc_class_stat_name((nc_class_stat)c));
        nc_test_int(nc_metrics_get_class(m, (nc_class_stat)c, D->K, vals), NC_SUCCESS, desc);
        for (k = 0; k < D->K; k++)
            nc_test_rel(vals[k], R->cls[k * NC_CLASS_STAT_COUNT + c], rtol, desc);
    }
    /* NC4 and accuracy per class average, with the class weights, to the metrics. */
    {
        double nc4, acc, s4 = 0.0, sa = 0.0;
        double *acc_k = xmalloc(D->K * sizeof(double));
        nc_test_int(nc_metrics_get_class(m, NC_CLASS_NC4, D->K, vals), NC_SUCCESS, "class nc4");
        nc_test_int(nc_metrics_get_class(m, NC_CLASS_ACCURACY, D->K, acc_k), NC_SUCCESS,
                    "class accuracy");
        for (k = 0; k < D->K; k++) {
            s4 += vals[k] * R->cls[k * NC_CLASS_STAT_COUNT + NC_CLASS_COUNT];
            sa += acc_k[k] * R->cls[k * NC_CLASS_STAT_COUNT + NC_CLASS_COUNT];
        }
        nc_metrics_get(m, NC_METRIC_NC4, &nc4);
        nc_metrics_get(m, NC_METRIC_ACCURACY, &acc);
        snprintf(desc, sizeof desc, "%s: per-class NC4 and accuracy add up", tag);
        nc_test_abs(s4 / (double)D->N, nc4, 1e-14, desc);
        nc_test_abs(sa / (double)D->N, acc, 1e-14, desc);
        free(acc_k);
    }
    free(vals);
}

static void test_definitions(void)
{
    static const size_t shapes[4][3] = {{5, 7, 60}, {12, 4, 50}, {3, 30, 200}, {8, 9, 9}};
    size_t s, tile;
    for (s = 0; s < 4; s++) {
        data D = make_data(shapes[s][0], shapes[s][1], shapes[s][2], 0.8);
        int gm, bw;
        for (gm = 0; gm < 2; gm++)
            for (bw = 0; bw < 2; bw++)
                for (tile = 0; tile < 3; tile++) {
                    nc_metrics *m;
                    direct R;
                    char tag[200];
                    nc_metrics_create(&m);
                    nc_metrics_set_global_mean(m, (nc_global_mean)gm);
                    nc_metrics_set_between_weight(m, (nc_between_weight)bw);
                    nc_metrics_set_tile(m, tile == 0 ? 0 : tile == 1 ? 2 : 3);
                    nc_test_int(nc_metrics_compute_data(m, D.d, D.K, D.N, D.H, D.d, D.y, D.W, D.d,
                                                        D.b),
                                NC_SUCCESS, "compute");
                    direct_metrics(&D, gm, bw, &R);
                    snprintf(tag, sizeof tag, "d %zu K %zu N %zu gm %d bw %d tile %zu",
                             D.d, D.K, D.N, gm, bw, tile);
                    check_against_direct(m, &D, &R, 1e-11, tag);
                    free(R.cls);
                    nc_metrics_destroy(m);
                }
        free_data(&D);
    }
}

/*
 * Two classes whose means nearly coincide: from the Gram, ||m_j - m_k||^2 =
 * ||m_j||^2 + ||m_k||^2 - 2 m_j.m_k and ||u_j - u_k||^2 = 2 - 2 cos lose
 * their digits to cancellation there, and the pairwise pass takes them from
 * the vectors instead. The data are built so that the library and the
 * direct reference see the same centred means: every coordinate of a class
 * mean lies in [base, 2 base) with all 53 bits in use, each class has the
 * samples c +- e with e a multiple of 2^-e_exp (exact sums and halvings, so
 * the means are exactly c), and a centred mean c - g is exact (Sterbenz);
 * class 1 is class 0 moved by multiples of 2^-delta_exp.
 *  - base 1, 2^-26 apart (norms about 0.3): the unit vectors' distance of
 *    that pair from the Gram is 1e-4 off; from the vectors it agrees to
 *    about 1e-10 (each unit vector carries a rounded norm): the kernels are
 *    checked at 1e-7.
 *  - base 1024, 2^-30 apart (norms about 300): the means' distance from the
 *    Gram is lost entirely; from the vectors the CDNV, whose mean that pair
 *    dominates, agrees to 1e-11.
 */
static void near_pair_case(double base, int delta_exp, int e_exp, int kernels_too)
{
    const size_t d = 6, K = 8, per = 4;
    data D;
    double *c = xmalloc(K * d * sizeof(double)), e[2][6];
    direct R;
    nc_metrics *m;
    size_t k, t, i, tile;
    static const nc_metric exact[] = {NC_METRIC_NC1_CDNV_MEAN, NC_METRIC_NC1_CDNV_COV};
    static const nc_metric kernels[] = {NC_METRIC_GNC2_LOG_MEAN, NC_METRIC_GNC2_LOG_VAR,
                                        NC_METRIC_GNC2_RIESZ_MEAN, NC_METRIC_GNC2_RIESZ_VAR};
    D.d = d;
    D.K = K;
    D.N = K * per;
    D.H = xmalloc(d * D.N * sizeof(double));
    D.W = xmalloc(K * d * sizeof(double));
    D.b = xmalloc(K * sizeof(double));
    D.y = xmalloc(D.N * sizeof(int32_t));
    for (i = 0; i < K * d; i++) c[i] = base * (1.0 + 0.45 * (urand() + 1.0));
    for (t = 0; t < d; t++) c[d + t] = c[t] + ldexp((double)(1 + t % 3), -delta_exp);
    for (t = 0; t < d; t++) {
        e[0][t] = ldexp(floor(urand() * 1024.0), -e_exp);
        e[1][t] = ldexp(floor(urand() * 1024.0), -e_exp);
    }
    for (k = 0; k < K; k++)
        for (i = 0; i < per; i++) {
            const size_t row = k * per + i;
            D.y[row] = (int32_t)k;
            for (t = 0; t < d; t++)
                D.H[row * d + t] = c[k * d + t] + (i % 2 ? -1.0 : 1.0) * e[i / 2][t];
        }
    for (i = 0; i < K * d; i++) D.W[i] = c[i] + 0.1 * base * urand();
    fill(D.b, K, 0.5);
    direct_metrics(&D, 1, 0, &R);
    for (tile = 0; tile < 2; tile++) {
        char desc[200];
        double v;
        nc_metrics_create(&m);
        nc_metrics_set_tile(m, tile == 0 ? 0 : 3);
        nc_test_int(nc_metrics_compute_data(m, d, K, D.N, D.H, d, D.y, D.W, d, D.b), NC_SUCCESS,
                    "near pair: compute");
        for (i = 0; i < sizeof exact / sizeof exact[0]; i++) {
            snprintf(desc, sizeof desc, "near pair (base %g), tile %zu: %s against the "
                     "vectors' distances", base, tile, nc_metric_name(exact[i]));
            nc_test_int(nc_metrics_get(m, exact[i], &v), NC_SUCCESS, desc);
            nc_test_rel(v, R.v[exact[i]], 1e-11, desc);
        }
        for (i = 0; kernels_too && i < sizeof kernels / sizeof kernels[0]; i++) {
            snprintf(desc, sizeof desc, "near pair (base %g), tile %zu: %s against the "
                     "vectors' distances", base, tile, nc_metric_name(kernels[i]));
            nc_test_int(nc_metrics_get(m, kernels[i], &v), NC_SUCCESS, desc);
            nc_test_rel(v, R.v[kernels[i]], 1e-7, desc);
        }
        nc_metrics_destroy(m);
    }
    free(R.cls);
    free(c);
    free_data(&D);
}

/*
 * The BLAS calls of an upper triangle (nc__syrk_call_at, white box): on
 * 18 sides n from 1 to 1200 and blocks of nc__syrk_side(n, 384) (the
 * stream's) and of other sides (and the order alone for n = 20000 in blocks of 64: 98k calls),
 * the list equals a direct enumeration written here (square blocks of side
 * T, the off-diagonal ones column by column in two halves of their columns,
 * then each diagonal block's DGEMM between its halves, then its two
 * DSYRKs; a block under 16 whole), and its calls cover every entry of the
 * upper triangle once and nothing below it.
 */
static size_t direct_calls(size_t n, size_t T, nc__syrk_call *out)
{
    const size_t nt = (n + T - 1) / T;
    size_t m = 0, BI, BJ;
#define HALF(x) ((x) >= 16 ? ((x) / 2 + 7) / 8 * 8 : 0)
#define PUT(a, b, c, e) (out[m].r0 = (a), out[m].nr = (b), out[m].c0 = (c), out[m].nc = (e), m++)
    for (BJ = 1; BJ < nt; BJ++)
        for (BI = 0; BI < BJ; BI++) {
            const size_t j0 = BJ * T, nj = n - j0 < T ? n - j0 : T, h = HALF(nj);
            if (h > 0) {
                PUT(BI * T, T, j0, h);
                PUT(BI * T, T, j0 + h, nj - h);
            } else {
                PUT(BI * T, T, j0, nj);
            }
        }
    for (BI = 0; BI < nt; BI++) {
        const size_t i0 = BI * T, ni = n - i0 < T ? n - i0 : T, h = HALF(ni);
        if (h > 0) PUT(i0, h, i0 + h, ni - h);
    }
    for (BI = 0; BI < nt; BI++) {
        const size_t i0 = BI * T, ni = n - i0 < T ? n - i0 : T, h = HALF(ni);
        if (h > 0) {
            PUT(i0, h, i0, h);
            PUT(i0 + h, ni - h, i0 + h, ni - h);
        } else {
            PUT(i0, ni, i0, ni);
        }
    }
#undef PUT
#undef HALF
    return m;
}

/* White box: a stream without NC1's scatter (nc_stream_set_nc1_path) holds
 * none of its arrays, exactly, and keeps the blocks of samples (hence NC4's
 * columns and BLAS calls) of the stream with one; switching back restores
 * the layout. */
static void test_no_nc1_layout(void)
{
    static const size_t shapes[][2] = {{24, 4},   {768, 100}, {4096, 10}, {10, 6},
                                       {768, 2000}, {6, 15},   {300, 200}};
    size_t i;
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const size_t d = shapes[i][0], K = shapes[i][1];
        nc_stream *a = NULL, *n = NULL;
        char desc[200];
        nc_test_int(nc_stream_create(&a, d, K), NC_SUCCESS, "create");
        nc_test_int(nc_stream_create(&n, d, K), NC_SUCCESS, "create");
        if (a && n) {
            const size_t q = a->q, sb = a->sblock, before = a->mem_doubles;
            nc_test_int(nc_stream_set_nc1_path(n, NC_NC1_PATH_NONE), NC_SUCCESS, "NONE");
            snprintf(desc, sizeof desc, "d = %zu, K = %zu: no scatter, the same sample blocks", d, K);
            nc_test_true(n->q == 0 && n->no_nc1 && n->sblock == sb && n->block == a->block, desc);
            /* less: Q (d q), the q x q sums and block (4 q^2), the residuals
             * and projections (d + q per sample of a block), the SVD's work */
            snprintf(desc, sizeof desc, "d = %zu, K = %zu: the scatter's doubles are freed", d, K);
            nc_test_int(before - n->mem_doubles, d * q + 4 * q * q + (d + q) * sb + a->lwork - 1,
                        desc);
            nc_test_int(nc_stream_set_nc1_path(n, NC_NC1_PATH_AUTO), NC_SUCCESS, "AUTO again");
            snprintf(desc, sizeof desc, "d = %zu, K = %zu: AUTO again, the default layout", d, K);
            nc_test_true(n->q == q && !n->no_nc1 && n->sblock == sb && n->mem_doubles == before &&
                             n->lwork == a->lwork && n->tile == a->tile,
                         desc);
        }
        nc_stream_destroy(a);
        nc_stream_destroy(n);
    }
}

static void test_syrk_plan(void)
{
    static const size_t sides[] = {1, 2, 7, 8, 15, 16, 17, 31, 100, 200, 383, 384, 385,
                                   400, 404, 768, 1000, 1200};
    static const size_t blocks[] = {0, 8, 16, 24, 64, 200, 768}; /* 0: nc__syrk_side */
    const size_t ns = sizeof sides / sizeof sides[0], nb = sizeof blocks / sizeof blocks[0];
    nc__syrk_call *want = NULL;
    unsigned char *cover = xmalloc(1200 * 1200);
    size_t a, b, i, r, c;
    int list_ok = 1, cover_ok = 1, side_ok = 1;
    for (a = 0; a < ns; a++) {
        const size_t n = sides[a], T = nc__syrk_side(n, 384);
        size_t cap;
        /* the fewest blocks of at most the cap, a multiple of 8, the last
         * one smaller by less than 8 per block */
        for (cap = 8; cap <= 1024; cap += 8) {
            const size_t Tc = nc__syrk_side(n, cap), ntc = (n + Tc - 1) / Tc;
            if (Tc % 8 != 0 || Tc > cap || ntc != (n + cap - 1) / cap || ntc * Tc < n ||
                ntc * Tc >= n + 8 * ntc)
                side_ok = 0;
        }
        for (b = 0; b < nb; b++) {
            const size_t Tb = blocks[b] != 0 ? blocks[b] : T, nbk = (n + Tb - 1) / Tb;
            size_t m, got;
            free(want);
            want = xmalloc((2 * nbk * nbk + 3 * nbk) * sizeof *want);
            m = direct_calls(n, Tb, want);
            got = nc__syrk_calls(n, Tb);
            if (got != m) {
                list_ok = 0;
                continue;
            }
            memset(cover, 0, n * n);
            for (i = 0; i < m; i++) {
                const nc__syrk_call x = nc__syrk_call_at(n, Tb, i);
                if (x.r0 != want[i].r0 || x.nr != want[i].nr || x.c0 != want[i].c0 ||
                    x.nc != want[i].nc)
                    list_ok = 0;
                if (x.r0 == x.c0 && x.nr != x.nc) cover_ok = 0;
                for (c = x.c0; c < x.c0 + x.nc && c < n; c++)
                    for (r = x.r0; r < x.r0 + x.nr && r < n; r++)
                        if (x.r0 != x.c0 || r <= c) cover[r + c * n]++;
                if (x.r0 + x.nr > n || x.c0 + x.nc > n || (x.r0 != x.c0 && x.r0 + x.nr > x.c0))
                    cover_ok = 0;
            }
            for (c = 0; c < n; c++)
                for (r = 0; r < n; r++)
                    if (cover[r + c * n] != (r <= c ? 1 : 0)) cover_ok = 0;
        }
    }
    {
        /* a long list: the triangular root of the off-diagonal index far out */
        const size_t n = 20000, Tb = 64, nbk = (n + Tb - 1) / Tb;
        size_t m0;
        free(want);
        want = xmalloc((2 * nbk * nbk + 3 * nbk) * sizeof *want);
        m0 = direct_calls(n, Tb, want);
        if (nc__syrk_calls(n, Tb) != m0) list_ok = 0;
        for (i = 0; i < m0 && list_ok; i++) {
            const nc__syrk_call x = nc__syrk_call_at(n, Tb, i);
            if (x.r0 != want[i].r0 || x.nr != want[i].nr || x.c0 != want[i].c0 ||
                x.nc != want[i].nc)
                list_ok = 0;
        }
    }
    nc_test_true(side_ok, "syrk plan: block sides (fewest blocks of <= cap, multiples of 8)");
    nc_test_true(list_ok, "syrk plan: the calls equal the direct enumeration, in order");
    nc_test_true(cover_ok, "syrk plan: each upper-triangle entry covered once, none below");
    free(want);
    free(cover);
}

static void test_near_pairs(void)
{
    near_pair_case(1.0, 26, 30, 1);
    near_pair_case(1024.0, 30, 40, 0);
}

/* ---- invariances ------------------------------------------------------------ */

static void get_all(nc_metrics *m, double *v)
{
    size_t i;
    for (i = 0; i < NC_METRIC_COUNT; i++) nc_metrics_get(m, (nc_metric)i, &v[i]);
}

static void test_invariances(void)
{
    const size_t d = 6, K = 8, N = 120;
    data D = make_data(d, K, N, 0.7);
    double *Q = xmalloc(d * d * sizeof(double)), *H2 = xmalloc(d * N * sizeof(double));
    double *W2 = xmalloc(K * d * sizeof(double)), *b2 = xmalloc(K * sizeof(double));
    int32_t *y2 = xmalloc(N * sizeof(int32_t));
    double base[NC_METRIC_COUNT], v[NC_METRIC_COUNT];
    size_t perm[8] = {3, 7, 0, 5, 1, 6, 2, 4};
    size_t i, j, k, t;
    nc_metrics *m;
    char desc[200];
    nc_metrics_create(&m);
    nc_metrics_set_tile(m, 3);
    nc_test_int(nc_metrics_compute_data(m, d, K, N, D.H, d, D.y, D.W, d, D.b), NC_SUCCESS, "base");
    get_all(m, base);
    /* rotation: H -> Q H, W -> W Q^T */
    nc_frame_random_orthogonal(d, d, 17, Q, d);
    for (i = 0; i < N; i++)
        for (t = 0; t < d; t++) {
            double s = 0.0;
            for (j = 0; j < d; j++) s += Q[t + j * d] * D.H[i * d + j];
            H2[i * d + t] = s;
        }
    for (k = 0; k < K; k++)
        for (t = 0; t < d; t++) {
            double s = 0.0;
            for (j = 0; j < d; j++) s += Q[t + j * d] * D.W[k * d + j];
            W2[k * d + t] = s;
        }
    nc_test_int(nc_metrics_compute_data(m, d, K, N, H2, d, D.y, W2, d, D.b), NC_SUCCESS, "rotated");
    get_all(m, v);
    for (i = NC_METRIC_NC1_TRACE_RATIO; i < NC_METRIC_COUNT; i++) {
        snprintf(desc, sizeof desc, "rotation: %s", nc_metric_name((nc_metric)i));
        nc_test_rel(v[i], base[i], 1e-11, desc);
    }
    /* scaling: H by 3.7 (and W by 0.3): every new measure is scale invariant
     * (the GNC2 energies use unit vectors, UNC3 and the log-norm spreads ratios) */
    for (i = 0; i < d * N; i++) H2[i] = 3.7 * D.H[i];
    for (i = 0; i < d * K; i++) W2[i] = 0.3 * D.W[i];
    nc_test_int(nc_metrics_compute_data(m, d, K, N, H2, d, D.y, W2, d, D.b), NC_SUCCESS, "scaled");
    get_all(m, v);
    for (i = NC_METRIC_NC1_TRACE_RATIO; i < NC_METRIC_COUNT; i++) {
        snprintf(desc, sizeof desc, "scaling: %s", nc_metric_name((nc_metric)i));
        nc_test_rel(v[i], base[i], 1e-11, desc);
    }
    /* relabelling: class k becomes perm[k], W's rows and b follow */
    for (i = 0; i < N; i++) y2[i] = (int32_t)perm[D.y[i]];
    for (k = 0; k < K; k++) {
        memcpy(W2 + perm[k] * d, D.W + k * d, d * sizeof(double));
        b2[perm[k]] = D.b[k];
    }
    nc_test_int(nc_metrics_compute_data(m, d, K, N, D.H, d, y2, W2, d, b2), NC_SUCCESS,
                "relabelled");
    get_all(m, v);
    for (i = 0; i < NC_METRIC_COUNT; i++) {
        snprintf(desc, sizeof desc, "relabelling: %s", nc_metric_name((nc_metric)i));
        nc_test_rel(v[i], base[i], 1e-11, desc);
    }
    {
        double *a = xmalloc(K * sizeof(double)), *c = xmalloc(K * sizeof(double));
        nc_metrics_get_class(m, NC_CLASS_VARIANCE, K, a);
        nc_metrics_compute_data(m, d, K, N, D.H, d, D.y, D.W, d, D.b);
        nc_metrics_get_class(m, NC_CLASS_VARIANCE, K, c);
        for (k = 0; k < K; k++) nc_test_rel(a[perm[k]], c[k], 1e-13, "relabelling: per-class");
        free(a);
        free(c);
    }
    nc_metrics_destroy(m);
    free(Q);
    free(H2);
    free(W2);
    free(b2);
    free(y2);
    free_data(&D);
}

/* ---- exact frames ----------------------------------------------------------- */

/* Features at the vertices of a frame A (d x K), n samples per class, with
 * noise of +-e along coordinate (i/2) mod d in equal and opposite pairs (n
 * even: the class means are A's columns up to rounding, V_k = e^2). W = A^T. */
static void frame_data(size_t d, size_t K, size_t n, const double *A, double e, data *D)
{
    size_t i, k, t;
    D->d = d;
    D->K = K;
    D->N = n * K;
    D->H = xmalloc(d * D->N * sizeof(double));
    D->W = xmalloc(K * d * sizeof(double));
    D->b = NULL;
    D->y = xmalloc(D->N * sizeof(int32_t));
    for (k = 0; k < K; k++) {
        memcpy(D->W + k * d, A + k * d, d * sizeof(double));
        for (i = 0; i < n; i++) {
            const size_t c = k * n + i;
            D->y[c] = (int32_t)k;
            for (t = 0; t < d; t++)
                D->H[c * d + t] = A[k * d + t] + (t == (i / 2) % d ? (i % 2 ? e : -e) : 0.0);
        }
    }
}

static void test_exact_frames(void)
{
    const size_t K = 6, d = 5, n = 4;
    double *A = xmalloc(d * K * sizeof(double)), *B = xmalloc(d * K * sizeof(double));
    const double r2 = 2.0 * (double)K / (double)(K - 1); /* squared distance of ETF vertices */
    double v, riesz_etf, log_etf;
    nc_metrics *m;
    data D;
    size_t trial, i;
    nc_metrics_create(&m);
    nc_frame_simplex_etf(d, K, A, d);
    frame_data(d, K, n, A, 0.01, &D);
    nc_test_int(nc_metrics_compute_data(m, d, K, D.N, D.H, d, D.y, D.W, d, NULL), NC_SUCCESS,
                "ETF compute");
    nc_metrics_get(m, NC_METRIC_GNC2_RIESZ_MEAN, &riesz_etf);
    nc_test_rel(riesz_etf, 1.0 / sqrt(r2), 1e-13, "ETF: Riesz energy 1/sqrt(2K/(K-1))");
    nc_metrics_get(m, NC_METRIC_GNC2_RIESZ_VAR, &v);
    nc_test_abs(v, 0.0, 1e-26, "ETF: Riesz variance 0");
    nc_metrics_get(m, NC_METRIC_GNC2_LOG_MEAN, &log_etf);
    nc_test_rel(log_etf, -0.5 * log(r2), 1e-13, "ETF: log energy -log(sqrt(2K/(K-1)))");
    nc_metrics_get(m, NC_METRIC_GNC2_LOG_VAR, &v);
    nc_test_abs(v, 0.0, 1e-26, "ETF: log variance 0");
    nc_metrics_get(m, NC_METRIC_INTERFERENCE_MEANS, &v);
    nc_test_rel(v, -1.0 / (double)(K - 1), 1e-13, "ETF: interference -1/(K-1)");
    nc_metrics_get(m, NC_METRIC_INTERFERENCE_W, &v);
    nc_test_rel(v, -1.0 / (double)(K - 1), 1e-13, "ETF: interference of W -1/(K-1)");
    nc_metrics_get(m, NC_METRIC_NC2_LOGNORM_MEANS, &v);
    nc_test_abs(v, 0.0, 1e-14, "ETF: log-norm spread 0");
    nc_metrics_get(m, NC_METRIC_NC2_LOGNORM_W, &v);
    nc_test_abs(v, 0.0, 1e-14, "ETF: log-norm spread of W 0");
    nc_metrics_get(m, NC_METRIC_NC2_EQUINORM_MEANS, &v);
    nc_test_abs(v, 0.0, 1e-14, "ETF: equinorm CoV 0");
    nc_metrics_get(m, NC_METRIC_UNC3, &v);
    nc_test_abs(v, 0.0, 1e-14, "ETF with W = means: UNC3 0");
    nc_metrics_get(m, NC_METRIC_NC1_CDNV_COV, &v);
    nc_test_abs(v, 0.0, 1e-13, "ETF, equal noise: CDNV CoV 0");
    nc_metrics_get(m, NC_METRIC_NC1_CDNV_MEAN, &v);
    /* every sample is one coordinate off its mean by e: V_k = e^2 */
    nc_test_rel(v, (2.0 * 0.01 * 0.01) / (2.0 * r2), 1e-10, "ETF: CDNV mean = e^2/||mu_j - mu_k||^2");
    free_data(&D);
    /* The ETF minimises the Riesz and log energies among K unit vectors in
     * R^d, d >= K-1: perturbed frames have larger energies. */
    for (trial = 0; trial < 20; trial++) {
        double rz, lg;
        memcpy(B, A, d * K * sizeof(double));
        for (i = 0; i < d * K; i++) B[i] += 0.05 * (urand());
        frame_data(d, K, n, B, 0.01, &D);
        nc_metrics_set_global_mean(m, NC_GLOBAL_MEAN_CLASS_AVG);
        nc_test_int(nc_metrics_compute_data(m, d, K, D.N, D.H, d, D.y, D.W, d, NULL), NC_SUCCESS,
                    "perturbed compute");
        nc_metrics_get(m, NC_METRIC_GNC2_RIESZ_MEAN, &rz);
        nc_metrics_get(m, NC_METRIC_GNC2_LOG_MEAN, &lg);
        nc_test_true(rz > riesz_etf, "a perturbed ETF has a larger Riesz energy");
        nc_test_true(lg > log_etf, "a perturbed ETF has a larger log energy");
        free_data(&D);
    }
    /* An orthogonal frame with norms 1..K: interference 0; log-norm spread
     * = std of log k. */
    {
        double len[6], logs[6], s = 0.0, q = 0.0;
        size_t k;
        for (k = 0; k < 5; k++) len[k] = (double)(k + 1);
        nc_frame_orthogonal(5, 5, len, A, 5);
        frame_data(5, 5, n, A, 0.0, &D);
        nc_metrics_set_global_mean(m, NC_GLOBAL_MEAN_SAMPLE);
        nc_test_int(nc_metrics_compute_data(m, 5, 5, D.N, D.H, 5, D.y, D.W, 5, NULL), NC_SUCCESS,
                    "orthogonal compute");
        for (k = 0; k < 5; k++) {
            logs[k] = log(len[k]);
            s += logs[k];
        }
        s /= 5.0;
        for (k = 0; k < 5; k++) q += (logs[k] - s) * (logs[k] - s);
        nc_metrics_get(m, NC_METRIC_NC2_LOGNORM_W, &v);
        nc_test_rel(v, sqrt(q / 4.0), 1e-13, "orthogonal frame: log-norm spread of W");
        nc_metrics_get(m, NC_METRIC_INTERFERENCE_W, &v);
        nc_test_abs(v, 0.0, 1e-15, "orthogonal frame: interference of W 0");
        nc_metrics_get(m, NC_METRIC_NC1_TRACE_RATIO, &v);
        nc_test_abs(v, 0.0, 0.0, "collapsed features: trace ratio 0");
        nc_test_int(nc_metrics_get(m, NC_METRIC_NC1_CDNV_MEAN, &v), NC_SUCCESS, "CDNV available");
        nc_test_abs(v, 0.0, 0.0, "collapsed features: CDNV 0");
        free_data(&D);
    }
    nc_metrics_destroy(m);
    free(A);
    free(B);
}

/* ---- threads, tiles, streams ------------------------------------------------- */

static void test_threads_bitwise(void)
{
    data D = make_data(7, 40, 300, 0.9);
    double v1[NC_METRIC_COUNT], v3[NC_METRIC_COUNT];
    nc_metrics *m;
    size_t i;
    int same = 1;
    nc_metrics_create(&m);
    nc_metrics_set_tile(m, 6);
    nc_test_int(nc_metrics_set_threads(m, 1), NC_SUCCESS, "1 thread");
    nc_metrics_compute_data(m, D.d, D.K, D.N, D.H, D.d, D.y, D.W, D.d, D.b);
    get_all(m, v1);
    nc_test_int(nc_metrics_set_threads(m, 3), NC_SUCCESS, "3 threads");
    nc_metrics_compute_data(m, D.d, D.K, D.N, D.H, D.d, D.y, D.W, D.d, D.b);
    get_all(m, v3);
    for (i = 0; i < NC_METRIC_COUNT; i++)
        if (memcmp(&v1[i], &v3[i], sizeof(double)) != 0) same = 0;
    nc_test_true(same, "tiled pass: 1 and 3 threads give the same bits");
    nc_test_int(nc_metrics_set_threads(m, 0), NC_ERR_INVALID_VALUE, "threads 0 refused");
    nc_test_int(nc_metrics_set_threads(m, 1025), NC_ERR_INVALID_VALUE, "threads 1025 refused");
    nc_test_int(nc_metrics_set_tile(m, 65537), NC_ERR_INVALID_VALUE, "tile 65537 refused");
    nc_metrics_destroy(m);
    free_data(&D);
}

/* The Gram norms the ETF distances divide by, from the d x d Grams M M^T
 * and W W^T in syrk_plan.c's calls when d <= K (d = 400, and d = 200 with
 * NC_TEST_QUICK for valgrind: one block, three calls): against the untiled metrics, which take them from the
 * whole K x K Grams, and the same bits on 1 and 3 threads. */
static void test_gram_blocks(void)
{
    static const nc_metric etf[] = {NC_METRIC_NC2_ETF_MEANS, NC_METRIC_NC2_ETF_W,
                                    NC_METRIC_NC3_WM_ETF};
    const int quick = getenv("NC_TEST_QUICK") != NULL;
    data D = make_data(quick ? 200 : 400, quick ? 250 : 500, quick ? 300 : 600, 1.1);
    double u[NC_METRIC_COUNT], v1[NC_METRIC_COUNT], v3[NC_METRIC_COUNT];
    nc_metrics *m;
    size_t i;
    char desc[200];
    nc_metrics_create(&m);
    nc_metrics_set_tile(m, 0); /* K <= 2048: whole K x K Grams */
    nc_test_int(nc_metrics_compute_data(m, D.d, D.K, D.N, D.H, D.d, D.y, D.W, D.d, D.b),
                NC_SUCCESS, "gram blocks: untiled compute");
    get_all(m, u);
    nc_metrics_set_tile(m, 64);
    nc_metrics_set_threads(m, 1);
    nc_test_int(nc_metrics_compute_data(m, D.d, D.K, D.N, D.H, D.d, D.y, D.W, D.d, D.b),
                NC_SUCCESS, "gram blocks: tiled compute, 1 thread");
    get_all(m, v1);
    nc_metrics_set_threads(m, 3);
    nc_test_int(nc_metrics_compute_data(m, D.d, D.K, D.N, D.H, D.d, D.y, D.W, D.d, D.b),
                NC_SUCCESS, "gram blocks: tiled compute, 3 threads");
    get_all(m, v3);
    for (i = 0; i < sizeof etf / sizeof etf[0]; i++) {
        double x;
        snprintf(desc, sizeof desc, "gram blocks (d = %zu, K = %zu): %s available",
                 D.d, D.K, nc_metric_name(etf[i]));
        nc_test_int(nc_metrics_get(m, etf[i], &x), NC_SUCCESS, desc);
        snprintf(desc, sizeof desc, "gram blocks (d = %zu, K = %zu): %s tiled against untiled",
                 D.d, D.K, nc_metric_name(etf[i]));
        nc_test_rel(v1[etf[i]], u[etf[i]], 1e-12, desc);
    }
    nc_test_true(memcmp(v1, v3, sizeof v1) == 0, "gram blocks: 1 and 3 threads give the same bits");
    nc_metrics_destroy(m);
    free_data(&D);
}

/* The notes of a compute (nc_metrics_last_error) are the same, in the same
 * order, from memory and from a stream, whose NC1 runs beside the tiled
 * pass: a zero row of W (a note of the geometry) and two coincident class
 * means (notes of the pairwise pass), untiled and tiled. */
static void test_notes_agree(void)
{
    const size_t d = 5, K = 6, N = 60;
    double H[5 * 60], W[6 * 5], b[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int32_t y[60];
    size_t i, t;
    int tile;
    for (i = 0; i < N; i++) {
        y[i] = (int32_t)(i % K);
        for (t = 0; t < d; t++) /* class 1 has the mean of class 0 */
            H[i * d + t] = (double)((size_t)(y[i] == 1 ? 0 : y[i]) * (t + 1) % 7) +
                           0.01 * (double)((i * 7 + t * 3) % 5);
    }
    for (i = 0; i < K * d; i++) W[i] = (double)(i % 7) - 3.0;
    for (t = 0; t < d; t++) W[2 * d + t] = 0.0;
    for (tile = 0; tile < 2; tile++) {
        nc_metrics *m;
        nc_stream *s;
        char mem[1024], desc[200];
        nc_metrics_create(&m);
        nc_metrics_set_tile(m, tile ? 2 : 0);
        nc_test_int(nc_metrics_compute_data(m, d, K, N, H, d, y, W, d, b), NC_SUCCESS,
                    "notes: compute from memory");
        snprintf(mem, sizeof mem, "%s", nc_metrics_last_error(m));
        snprintf(desc, sizeof desc, "notes (tile %d): three from memory", tile ? 2 : 0);
        nc_test_true(strstr(mem, "a row of W is zero") == mem &&
                         strstr(mem, "; two centred class means have the same direction") != NULL &&
                         strstr(mem, "; two class means coincide") != NULL,
                     desc);
        nc_stream_create(&s, d, K);
        nc_stream_set_classifier(s, W, d, b);
        nc_stream_add(s, N, H, d, y);
        nc_stream_next_pass(s);
        nc_stream_add(s, N, H, d, y);
        nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "notes: compute from a stream");
        snprintf(desc, sizeof desc, "notes (tile %d): the stream's are the same", tile ? 2 : 0);
        nc_test_true(strcmp(nc_metrics_last_error(m), mem) == 0, desc);
        nc_stream_destroy(s);
        nc_metrics_destroy(m);
    }
}

/* Stream a data set (as double or as float) in batches of 37 and compare
 * with the in-memory metrics on the same values. */
static void stream_vs_memory(size_t d, size_t K, size_t N, const char *tag)
{
    data D = make_data(d, K, N, 1.1);
    float *Hf = xmalloc(d * N * sizeof(float));
    double *Hd = xmalloc(d * N * sizeof(double));
    double a[NC_METRIC_COUNT], s[NC_METRIC_COUNT], f[NC_METRIC_COUNT];
    double *ca = xmalloc(K * sizeof(double)), *cf = xmalloc(K * sizeof(double));
    nc_metrics *m;
    nc_stream *st, *sf;
    size_t i, pass, c, k;
    char desc[300];
    for (i = 0; i < d * N; i++) {
        Hf[i] = (float)D.H[i];
        Hd[i] = (double)Hf[i];
    }
    nc_metrics_create(&m);
    nc_test_int(nc_metrics_compute_data(m, d, K, N, Hd, d, D.y, D.W, d, D.b), NC_SUCCESS, "memory");
    get_all(m, a);
    nc_stream_create(&st, d, K);
    nc_stream_create(&sf, d, K);
    nc_stream_set_classifier(st, D.W, d, D.b);
    nc_stream_set_classifier(sf, D.W, d, D.b);
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < N; i += 37) {
            const size_t nb = N - i < 37 ? N - i : 37;
            nc_test_int(nc_stream_add(st, nb, Hd + i * d, d, D.y + i), NC_SUCCESS, "add");
            nc_test_int(nc_stream_add_float(sf, nb, Hf + i * d, d, D.y + i), NC_SUCCESS,
                        "add_float");
        }
        if (pass == 0) {
            nc_stream_next_pass(st);
            nc_stream_next_pass(sf);
        }
    }
    nc_test_int(nc_metrics_compute_stream(m, st), NC_SUCCESS, "stream compute");
    get_all(m, s);
    nc_metrics_get_class(m, NC_CLASS_VARIANCE, K, ca);
    nc_test_int(nc_metrics_compute_stream(m, sf), NC_SUCCESS, "float stream compute");
    get_all(m, f);
    for (i = 0; i < NC_METRIC_COUNT; i++) {
        snprintf(desc, sizeof desc, "%s: %s float stream = double stream", tag,
                 nc_metric_name((nc_metric)i));
        nc_test_true(memcmp(&s[i], &f[i], sizeof(double)) == 0, desc);
        snprintf(desc, sizeof desc, "%s: %s stream vs in-memory", tag,
                 nc_metric_name((nc_metric)i));
        if (fabs(a[i]) > 1e-3)
            nc_test_rel(s[i], a[i], 1e-11, desc);
        else
            nc_test_abs(s[i], a[i], 1e-13, desc);
    }
    for (c = 0; c < NC_CLASS_STAT_COUNT; c++) {
        nc_test_int(nc_metrics_get_class(m, (nc_class_stat)c, K, cf), NC_SUCCESS,
                    "stream per-class available");
    }
    nc_metrics_get_class(m, NC_CLASS_VARIANCE, K, cf);
    for (k = 0; k < K; k++) nc_test_true(ca[k] == cf[k], "per-class variance: float = double");
    /* bad input as for doubles */
    {
        int32_t bad = (int32_t)K;
        float *nanv = xmalloc(d * sizeof(float)); /* one sample of d features */
        for (i = 0; i < d; i++) nanv[i] = NAN;
        nc_test_int(nc_stream_add_float(sf, 1, Hf, d, &bad), NC_ERR_LABEL_OUT_OF_RANGE,
                    "float: label out of range");
        nc_test_int(nc_stream_add_float(sf, 1, nanv, d, D.y), NC_ERR_NON_FINITE, "float: NaN");
        nc_test_int(nc_stream_add_float(sf, 1, NULL, d, D.y), NC_ERR_NULL_ARGUMENT, "float: NULL");
        nc_test_int(nc_stream_add_float(sf, 1, Hf, d - 1, D.y), NC_ERR_SIZE_MISMATCH,
                    "float: ldh < d");
        free(nanv);
    }
    nc_stream_destroy(st);
    nc_stream_destroy(sf);
    nc_metrics_destroy(m);
    free(Hf);
    free(Hd);
    free(ca);
    free(cf);
    free_data(&D);
}

static void test_classes_file(void)
{
    data D = make_data(4, 5, 40, 0.5);
    char dir[512], path[600];
    nc_metrics *m;
    nc_npy_reader *r;
    double *got = xmalloc(5 * NC_CLASS_STAT_COUNT * sizeof(double));
    double *col = xmalloc(5 * sizeof(double));
    size_t rows = 0, cols = 0, k, c;
    nc_metrics_create(&m);
    nc_test_int(nc_test_make_temp_dir(dir, sizeof dir, "nc_test_largek"), 0, "temporary directory");
    snprintf(path, sizeof path, "%s/classes.npy", dir);
    nc_test_int(nc_metrics_save_classes(m, path), NC_ERR_UNAVAILABLE, "save before a compute");
    nc_metrics_compute_data(m, 4, 5, 40, D.H, 4, D.y, D.W, 4, D.b);
    nc_test_int(nc_metrics_save_classes(m, path), NC_SUCCESS, "save the per-class values");
    nc_npy_reader_create(&r);
    nc_test_int(nc_npy_reader_open(r, path), NC_SUCCESS, "open");
    nc_npy_reader_info(r, NULL, NULL, &rows, &cols);
    nc_test_int(rows, 5, "rows = K");
    nc_test_int(cols, NC_CLASS_STAT_COUNT, "columns = the statistics");
    nc_test_int(nc_npy_reader_read_rows(r, 0, 5, got, NC_CLASS_STAT_COUNT), NC_SUCCESS, "read");
    for (c = 0; c < NC_CLASS_STAT_COUNT; c++) {
        nc_metrics_get_class(m, (nc_class_stat)c, 5, col);
        for (k = 0; k < 5; k++)
            nc_test_true(got[k * NC_CLASS_STAT_COUNT + c] == col[k], "file = nc_metrics_get_class");
    }
    nc_test_int(nc_metrics_get_class(m, NC_CLASS_VARIANCE, 4, col), NC_ERR_SIZE_MISMATCH,
                "get_class: wrong K");
    nc_test_int(nc_metrics_get_class(m, NC_CLASS_STAT_COUNT, 5, col), NC_ERR_INVALID_VALUE,
                "get_class: unknown statistic");
    nc_metrics_compute_data(m, 4, 5, 40, D.H, 4, D.y, NULL, 4, NULL);
    nc_test_int(nc_metrics_get_class(m, NC_CLASS_W_NORM, 5, col), NC_ERR_UNAVAILABLE,
                "get_class: W norms without W");
    nc_test_true(strcmp(nc_class_stat_name(NC_CLASS_DUALITY), "duality") == 0, "stat name");
    nc_test_true(strcmp(nc_class_stat_name(NC_CLASS_STAT_COUNT), "unknown") == 0, "unknown name");
    nc_npy_reader_destroy(r);
    nc_metrics_destroy(m);
    remove(path);
    rmdir(dir);
    free(got);
    free(col);
    free_data(&D);
}


/* ---- stream threads, NC1 paths ------------------------------------------------ */

static char tmpdir[512];

/* Stream D (double, or float if f32) on `threads` threads in batches of
 * 37, 500 and the rest, save the pass-2 state to path and compute with a
 * metrics handle without threads of its own (tiles of 16: the tiled pass
 * runs on the stream's threads). */
static void stream_threads_run(const data *D, const float *Hf, size_t threads, const char *path,
                               double *v, double *cls)
{
    static const size_t sizes[3] = {37, 500, 1};
    nc_stream *s = NULL;
    nc_metrics *m = NULL;
    size_t pass, i, c, b;
    char desc[160];
    nc_metrics_create(&m);
    nc_metrics_set_tile(m, 16);
    nc_test_int(nc_stream_create(&s, D->d, D->K), NC_SUCCESS, "create");
    nc_test_int(nc_stream_set_threads(s, threads), NC_SUCCESS, "set_threads");
    nc_test_int(nc_stream_get_threads(s), threads, "get_threads");
    nc_stream_set_classifier(s, D->W, D->d, D->b);
    for (pass = 0; pass < 2; pass++) {
        for (i = 0, b = 0; i < D->N; i += c, b++) {
            c = sizes[b % 3] == 1 ? D->N - i : sizes[b % 3];
            if (c > D->N - i) c = D->N - i;
            if (Hf != NULL)
                nc_test_int(nc_stream_add_float(s, c, Hf + i * D->d, D->d, D->y + i), NC_SUCCESS,
                            "add_float");
            else
                nc_test_int(nc_stream_add(s, c, D->H + i * D->d, D->d, D->y + i), NC_SUCCESS,
                            "add");
        }
        if (pass == 0) nc_test_int(nc_stream_next_pass(s), NC_SUCCESS, "next_pass");
        if (pass == 0 && threads > 1) {
            /* through a file: the stream keeps its threads and its state */
            nc_test_int(nc_stream_save(path, s), NC_SUCCESS, "save after pass 1");
            nc_test_int(nc_stream_load(path, s), NC_SUCCESS, "load into the same stream");
            nc_test_int(nc_stream_get_threads(s), threads, "a load keeps the threads");
            remove(path);
        }
    }
    nc_test_int(nc_stream_save(path, s), NC_SUCCESS, "save");
    snprintf(desc, sizeof desc, "compute on %zu stream threads", threads);
    nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, desc);
    get_all(m, v);
    for (c = 0; c < NC_CLASS_STAT_COUNT; c++)
        nc_metrics_get_class(m, (nc_class_stat)c, D->K, cls + c * D->K);
    nc_stream_destroy(s);
    nc_metrics_destroy(m);
}

/* The same batches on 1, 2, 3 and 4 threads of the stream: the same bytes
 * of state (files), the same metric and per-class bits; for double and
 * float features; on the d x d scatter in one block and in several (d =
 * 404: blocks of 208 and 196 rows, the second not a multiple of 8), the
 * projected scatter with several strips and chunks, a larger K, and d <= K
 * (the Gram norms of the ETF distances from d x d Grams; the SVD beside
 * the tiled pass). */
static void test_stream_threads(void)
{
    static const size_t shapes[5][3] = {
        {150, 100, 1500}, {404, 200, 1500}, {300, 100, 1500}, {12, 600, 3000}, {200, 250, 1500}};
    /* NC_TEST_QUICK (sanitizer and valgrind stages): a third of the samples,
     * and not the last shape (test_gram_blocks runs its blocks there) */
    const size_t div = getenv("NC_TEST_QUICK") != NULL ? 3 : 1;
    const size_t nshapes = getenv("NC_TEST_QUICK") != NULL ? 4 : 5;
    size_t c;
    for (c = 0; c < nshapes; c++) {
        const size_t d = shapes[c][0], K = shapes[c][1], N = shapes[c][2] / div;
        data D = make_data(d, K, N, 1.1);
        float *Hf = xmalloc(d * N * sizeof(float));
        double v1[NC_METRIC_COUNT], v[NC_METRIC_COUNT];
        double *cls1 = xmalloc(K * NC_CLASS_STAT_COUNT * sizeof(double));
        double *cls = xmalloc(K * NC_CLASS_STAT_COUNT * sizeof(double));
        char p1[600], p[600], desc[200];
        size_t i, threads;
        int f32;
        for (i = 0; i < d * N; i++) Hf[i] = (float)D.H[i];
        snprintf(p1, sizeof p1, "%s/one.nc", tmpdir);
        snprintf(p, sizeof p, "%s/more.nc", tmpdir);
        for (f32 = 0; f32 < 2; f32++) {
            stream_threads_run(&D, f32 ? Hf : NULL, 1, p1, v1, cls1);
            for (threads = 2; threads <= 4; threads++) {
                stream_threads_run(&D, f32 ? Hf : NULL, threads, p, v, cls);
                snprintf(desc, sizeof desc, "d = %zu, K = %zu, %s: %zu threads: the same state "
                         "bytes as 1", d, K, f32 ? "float" : "double", threads);
                nc_test_true(nc_test_same_bytes(p1, p), desc);
                snprintf(desc, sizeof desc, "d = %zu, K = %zu, %s: %zu threads: the same metric "
                         "bits as 1", d, K, f32 ? "float" : "double", threads);
                nc_test_true(memcmp(v, v1, sizeof v) == 0, desc);
                snprintf(desc, sizeof desc, "d = %zu, K = %zu, %s: %zu threads: the same "
                         "per-class bits as 1", d, K, f32 ? "float" : "double", threads);
                nc_test_true(memcmp(cls, cls1, K * NC_CLASS_STAT_COUNT * sizeof(double)) == 0,
                             desc);
                remove(p);
            }
            remove(p1);
        }
        free(Hf);
        free(cls1);
        free(cls);
        free_data(&D);
    }
    {
        nc_stream *s = NULL, *c2 = NULL;
        nc_stream_create(&s, 4, 3);
        nc_test_int(nc_stream_set_threads(s, 0), NC_ERR_INVALID_VALUE, "stream threads 0 refused");
        nc_test_true(strstr(nc_stream_last_error(s), "threads") != NULL, "the message says why");
        nc_test_int(nc_stream_set_threads(s, 1025), NC_ERR_INVALID_VALUE,
                    "stream threads 1025 refused");
        nc_test_int(nc_stream_get_threads(s), 1, "threads unchanged by a refusal");
        nc_test_int(nc_stream_set_threads(NULL, 2), NC_ERR_NULL_ARGUMENT, "NULL stream");
        nc_test_int(nc_stream_get_threads(NULL), 0, "threads of NULL");
        nc_test_int(nc_stream_set_threads(s, 3), NC_SUCCESS, "3 threads");
        nc_test_int(nc_stream_copy(&c2, s), NC_SUCCESS, "copy");
        nc_test_int(nc_stream_get_threads(c2), 3, "a copy keeps the thread count");
        nc_stream_destroy(c2);
        nc_stream_destroy(s);
    }
}

/* A float32 .npy file streamed in chunks read as floats
 * (nc_npy_reader_read_rows_float + nc_stream_add_float) gives the bits of
 * the double stream of the same values. */
static void test_stream_float_file(void)
{
    const size_t d = 9, K = 7, N = 500, chunk = 64;
    data D = make_data(d, K, N, 0.8);
    double *Hd = xmalloc(d * N * sizeof(double));
    float *buf = xmalloc(d * chunk * sizeof(float));
    double vf[NC_METRIC_COUNT], vd[NC_METRIC_COUNT];
    nc_npy_writer *w;
    nc_npy_reader *r;
    nc_stream *sf, *sd;
    nc_metrics *m;
    char path[600];
    size_t i, pass;
    snprintf(path, sizeof path, "%s/f32.npy", tmpdir);
    for (i = 0; i < d * N; i++) Hd[i] = (double)(float)D.H[i];
    nc_npy_writer_create(&w);
    nc_test_int(nc_npy_writer_begin(w, path, NC_NPY_FLOAT32, 2, N, d), NC_SUCCESS, "begin");
    nc_test_int(nc_npy_writer_write_rows(w, Hd, N, d), NC_SUCCESS, "write");
    nc_test_int(nc_npy_writer_finish(w), NC_SUCCESS, "finish");
    nc_npy_writer_destroy(w);
    nc_npy_reader_create(&r);
    nc_test_int(nc_npy_reader_open(r, path), NC_SUCCESS, "open");
    nc_stream_create(&sf, d, K);
    nc_stream_create(&sd, d, K);
    nc_stream_set_threads(sf, 2);
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < N; i += chunk) {
            const size_t n = N - i < chunk ? N - i : chunk;
            nc_test_int(nc_npy_reader_read_rows_float(r, i, n, buf, d), NC_SUCCESS, "read floats");
            nc_test_int(nc_stream_add_float(sf, n, buf, d, D.y + i), NC_SUCCESS, "add_float");
            nc_test_int(nc_stream_add(sd, n, Hd + i * d, d, D.y + i), NC_SUCCESS, "add");
        }
        if (pass == 0) {
            nc_stream_next_pass(sf);
            nc_stream_next_pass(sd);
        }
    }
    nc_metrics_create(&m);
    nc_test_int(nc_metrics_compute_stream(m, sf), NC_SUCCESS, "compute (float file)");
    get_all(m, vf);
    nc_test_int(nc_metrics_compute_stream(m, sd), NC_SUCCESS, "compute (doubles)");
    get_all(m, vd);
    nc_test_true(memcmp(vf, vd, sizeof vf) == 0,
                 "a float32 file streamed as floats: the bits of the double stream");
    nc_metrics_destroy(m);
    nc_stream_destroy(sf);
    nc_stream_destroy(sd);
    nc_npy_reader_destroy(r);
    remove(path);
    free(Hd);
    free(buf);
    free_data(&D);
}

/* Bytes of a pass-2 stream file with a classifier and bias (docs/API.md). */
static size_t stream_file_bytes(size_t d, size_t K, size_t q)
{
    return 8 * (3 * d * K + d * q + 2 * q * q + 9 * K + 17);
}

/*
 * NC1 by its two paths, on both sides of each crossover (d = 40: in memory
 * at 8 r = 5 d, r = min(d, K - 1) kept directions, so between K = 25 and 26;
 * streams at d^2 = 2 d K + K^2, between K = 16 and 17): projections and
 * d x d scatter agree to 1e-12 relative, the automatic choice gives the bits
 * of the path the rule names, and a stream (whose path shows in the size of
 * its file) agrees with both to 1e-12.
 */
static double max_path_diff = 0.0, max_stream_diff = 0.0;

static void test_nc1_paths(void)
{
    static const size_t Ks[] = {3, 8, 16, 17, 25, 26, 32, 40, 41, 60};
    const size_t d = 40, N = 900;
    size_t c;
    for (c = 0; c < sizeof Ks / sizeof Ks[0]; c++) {
        const size_t K = Ks[c], r = K - 1 < d ? K - 1 : d;
        data D = make_data(d, K, N, 1.3);
        nc_metrics *m;
        nc_stream *s;
        double proj, scat, autov, strm;
        const int mem_dxd = 8 * r >= 5 * d, stream_dxd = d * d <= 2 * d * K + K * K;
        char desc[200], path[600];
        size_t pass, bytes = 0;
        unsigned char *img;
        nc_metrics_create(&m);
        nc_test_int(nc_metrics_set_nc1_path(m, NC_NC1_PATH_PROJECTED), NC_SUCCESS, "projected");
        nc_metrics_compute_data(m, d, K, N, D.H, d, D.y, D.W, d, D.b);
        nc_metrics_get(m, NC_METRIC_NC1, &proj);
        nc_test_int(nc_metrics_set_nc1_path(m, NC_NC1_PATH_SCATTER), NC_SUCCESS, "scatter");
        nc_metrics_compute_data(m, d, K, N, D.H, d, D.y, D.W, d, D.b);
        nc_metrics_get(m, NC_METRIC_NC1, &scat);
        nc_test_int(nc_metrics_set_nc1_path(m, NC_NC1_PATH_AUTO), NC_SUCCESS, "auto");
        nc_metrics_compute_data(m, d, K, N, D.H, d, D.y, D.W, d, D.b);
        nc_metrics_get(m, NC_METRIC_NC1, &autov);
        if (fabs(scat - proj) / proj > max_path_diff) max_path_diff = fabs(scat - proj) / proj;
        snprintf(desc, sizeof desc, "d = %zu, K = %zu: NC1 projected vs d x d scatter", d, K);
        nc_test_rel(scat, proj, 1e-12, desc);
        snprintf(desc, sizeof desc, "d = %zu, K = %zu: the automatic path is the %s one", d, K,
                 mem_dxd ? "d x d" : "projected");
        nc_test_true(memcmp(&autov, mem_dxd ? &scat : &proj, sizeof(double)) == 0, desc);
        nc_stream_create(&s, d, K);
        nc_stream_set_threads(s, 2);
        nc_stream_set_classifier(s, D.W, d, D.b);
        for (pass = 0; pass < 2; pass++) {
            nc_stream_add(s, N / 2, D.H, d, D.y);
            nc_stream_add(s, N - N / 2, D.H + (N / 2) * d, d, D.y + N / 2);
            if (pass == 0) nc_stream_next_pass(s);
        }
        nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "stream compute");
        nc_metrics_get(m, NC_METRIC_NC1, &strm);
        if (fabs(strm - proj) / proj > max_stream_diff) max_stream_diff = fabs(strm - proj) / proj;
        snprintf(desc, sizeof desc, "d = %zu, K = %zu: NC1 of the stream (%s) vs projected", d, K,
                 stream_dxd ? "d x d" : "projected on the means");
        nc_test_rel(strm, proj, 1e-12, desc);
        snprintf(desc, sizeof desc, "d = %zu, K = %zu: NC1 of the stream vs d x d", d, K);
        nc_test_rel(strm, scat, 1e-12, desc);
        snprintf(path, sizeof path, "%s/paths.nc", tmpdir);
        nc_test_int(nc_stream_save(path, s), NC_SUCCESS, "save");
        img = nc_test_read_bytes(path, &bytes);
        snprintf(desc, sizeof desc, "d = %zu, K = %zu: the stream holds the %s scatter", d, K,
                 stream_dxd ? "d x d" : "K x K");
        nc_test_int(bytes, stream_file_bytes(d, K, stream_dxd ? d : K), desc);
        free(img);
        remove(path);
        nc_test_int(nc_metrics_set_nc1_path(m, (nc_nc1_path)4), NC_ERR_INVALID_VALUE,
                    "NC1 path 4 refused");
        nc_test_int(nc_metrics_set_nc1_path(m, (nc_nc1_path)-1), NC_ERR_INVALID_VALUE,
                    "NC1 path -1 refused");
        nc_stream_destroy(s);
        nc_metrics_destroy(m);
        free_data(&D);
    }
    nc_test_int(nc_metrics_set_nc1_path(NULL, NC_NC1_PATH_AUTO), NC_ERR_NULL_ARGUMENT,
                "NC1 path of NULL");
    printf("test_metrics_largek: NC1 projected vs d x d scatter: largest relative difference "
           "%.3g; stream vs projected: %.3g\n", max_path_diff, max_stream_diff);
}

/* A K whose K x d means cannot be held is refused before anything of size K
 * is allocated or touched. */
static void test_too_large(void)
{
    nc_metrics *m;
    nc_stream *s = NULL;
    double h[4] = {1, 2, 3, 4};
    int32_t y[1] = {0};
    nc_status st;
    nc_metrics_create(&m);
    st = nc_metrics_compute_data(m, 4, (size_t)1 << 30, 1, h, 4, y, NULL, 4, NULL);
    nc_test_true(st == NC_ERR_OUT_OF_MEMORY || st == NC_ERR_INVALID_SIZE,
                 "K = 2^30 with d = 4 (32 GiB of means, and the workspace beside): refused");
    st = nc_metrics_compute_data(m, 4, (size_t)INT32_MAX, 1, h, 4, y, NULL, 4, NULL);
    nc_test_true(st == NC_ERR_OUT_OF_MEMORY || st == NC_ERR_INVALID_SIZE, "K = 2^31 - 1: refused");
    st = nc_stream_create(&s, (size_t)1 << 20, (size_t)1 << 30);
    nc_test_true(st == NC_ERR_OUT_OF_MEMORY || st == NC_ERR_INVALID_SIZE,
                 "stream of d = 2^20, K = 2^30: refused");
    nc_test_true(s == NULL, "no stream made");
    /* K = SIZE_MAX / 8 with d = 10^6: K d doubles exceed any address space. */
    st = nc_stream_create(&s, 1000000, SIZE_MAX / 8);
    nc_test_true(st == NC_ERR_OUT_OF_MEMORY || st == NC_ERR_INVALID_SIZE,
                 "stream of d = 10^6, K = SIZE_MAX / 8: refused");
    nc_test_true(s == NULL, "no stream made");
    nc_test_true(strlen(nc_create_last_error()) > 0, "the refusal says why");
    st = nc_metrics_compute_data(m, 1000000, SIZE_MAX / 8, 1, h, 1000000, y, NULL, 1000000, NULL);
    nc_test_true(st == NC_ERR_OUT_OF_MEMORY || st == NC_ERR_INVALID_SIZE,
                 "compute of d = 10^6, K = SIZE_MAX / 8: refused");
    nc_test_true(strlen(nc_metrics_last_error(m)) > 0, "the refusal says why");
    /* K that fits an int, K x d means that fit no memory: d = 10^6, K = 2^31 - 1. */
    st = nc_stream_create(&s, 1000000, (size_t)INT32_MAX);
    nc_test_true(st == NC_ERR_OUT_OF_MEMORY || st == NC_ERR_INVALID_SIZE,
                 "stream of d = 10^6, K = 2^31 - 1: refused");
    nc_test_true(s == NULL, "no stream made");
    nc_metrics_destroy(m);
}

int main(void)
{
    test_definitions();
    test_syrk_plan();
    test_no_nc1_layout();
    test_near_pairs();
    test_invariances();
    test_exact_frames();
    test_threads_bitwise();
    test_gram_blocks();
    test_notes_agree();
    stream_vs_memory(5, 9, 400, "K > d (d x d scatter)");
    stream_vs_memory(404, 200, 1200, "d x d scatter in several blocks");
    stream_vs_memory(9, 4, 300, "K < d (projected scatter)");
    test_classes_file();
    if (nc_test_make_temp_dir(tmpdir, sizeof tmpdir, "nc_test_largek_threads") != 0) return 1;
    test_stream_threads();
    test_nc1_paths();
    test_stream_float_file();
    nc_test_int(nc_test_count_temps(tmpdir), 0, "no temporary file left");
    rmdir(tmpdir);
    test_too_large();
    return nc_test_summary("test_metrics_largek");
}

/*
 * test_stream.c - streaming, mergeable metrics (nc_stream) against the
 * in-memory nc_metrics_compute_data: uneven and empty batches, different
 * batchings in the two passes, shard merges in different orders, every
 * convention, extreme magnitudes, a stream over far more samples than are
 * ever stored, and every error path.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ncollapse.h"

#define NM NC_METRIC_COUNT

typedef struct trng {
    uint64_t s;
} trng;
static uint64_t trng_next(trng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double trng_unif(trng *r) { return (double)(trng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double trng_normal(trng *r)
{
    double u = trng_unif(r), v = trng_unif(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
static size_t trng_below(trng *r, size_t n) { return (size_t)(trng_next(r) % n); }

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

typedef struct data {
    size_t d, K, N;
    double *H; /* d x N, ld d */
    int32_t *y;
    double *W; /* K x d */
    double *b;
} data;

/* Random data: class means of scale ms plus noise, imbalanced counts,
 * shuffled labels, a classifier correlated with the means. */
static data *make_data(trng *r, size_t d, size_t K, size_t N, double ms, double noise)
{
    data *D = (data *)xmalloc(sizeof *D);
    double *M = (double *)xmalloc(d * K * sizeof(double));
    size_t i, k, t;
    D->d = d;
    D->K = K;
    D->N = N;
    D->H = (double *)xmalloc(d * N * sizeof(double));
    D->y = (int32_t *)xmalloc(N * sizeof(int32_t));
    D->W = (double *)xmalloc(K * d * sizeof(double));
    D->b = (double *)xmalloc(K * sizeof(double));
    for (i = 0; i < d * K; i++) M[i] = ms * trng_normal(r);
    for (i = 0; i < N; i++) {
        /* imbalance: class k drawn with weight ~ 1/(k+1); every class present */
        size_t y = i < K ? i : 0;
        if (i >= K) {
            double u = trng_unif(r), acc = 0.0, tot = 0.0;
            for (k = 0; k < K; k++) tot += 1.0 / (double)(k + 1);
            for (y = 0; y + 1 < K; y++) {
                acc += 1.0 / (double)(y + 1) / tot;
                if (u < acc) break;
            }
        }
        D->y[i] = (int32_t)y;
    }
    /* shuffle */
    for (i = N; i > 1; i--) {
        size_t j = trng_below(r, i);
        int32_t tmp = D->y[i - 1];
        D->y[i - 1] = D->y[j];
        D->y[j] = tmp;
    }
    for (i = 0; i < N; i++)
        for (t = 0; t < d; t++) D->H[i * d + t] = M[(size_t)D->y[i] * d + t] + noise * trng_normal(r);
    for (k = 0; k < K; k++) {
        for (t = 0; t < d; t++) D->W[k * d + t] = M[k * d + t] + 0.5 * trng_normal(r);
        D->b[k] = 0.2 * trng_normal(r);
    }
    free(M);
    return D;
}

static void free_data(data *D)
{
    if (!D) return;
    free(D->H);
    free(D->y);
    free(D->W);
    free(D->b);
    free(D);
}

typedef struct mset {
    nc_status st[NM];
    double v[NM];
} mset;

static void read_set(const nc_metrics *m, mset *out)
{
    int j;
    for (j = 0; j < NM; j++) out->st[j] = nc_metrics_get(m, (nc_metric)j, &out->v[j]);
}

static double max_rel_seen = 0.0;

/* Same availability and values within rtol (atol for values near zero). */
static void compare(const mset *got, const mset *want, double rtol, const char *tag)
{
    char desc[300];
    int j;
    for (j = 0; j < NM; j++) {
        snprintf(desc, sizeof desc, "%s: %s availability", tag, nc_metric_name((nc_metric)j));
        nc_test_int(got->st[j], want->st[j], desc);
        if (got->st[j] == NC_SUCCESS && want->st[j] == NC_SUCCESS) {
            const double err = fabs(got->v[j] - want->v[j]);
            const double scale = fabs(want->v[j]);
            snprintf(desc, sizeof desc, "%s: %s", tag, nc_metric_name((nc_metric)j));
            if (scale > 1e-12) {
                if (err / scale > max_rel_seen) max_rel_seen = err / scale;
                nc_test_rel(got->v[j], want->v[j], rtol, desc);
            } else {
                nc_test_abs(got->v[j], want->v[j], 1e-12, desc);
            }
        }
    }
}

static void set_conv(nc_metrics *m, int gm, int bw)
{
    nc_test_int(nc_metrics_set_global_mean(m, (nc_global_mean)gm), NC_SUCCESS, "set_global_mean");
    nc_test_int(nc_metrics_set_between_weight(m, (nc_between_weight)bw), NC_SUCCESS,
                "set_between_weight");
}

static void in_memory(nc_metrics *m, const data *D, int withW, mset *out)
{
    nc_test_int(nc_metrics_compute_data(m, D->d, D->K, D->N, D->H, D->d, D->y,
                                        withW ? D->W : NULL, D->d, withW ? D->b : NULL),
                NC_SUCCESS, "in-memory compute");
    read_set(m, out);
}

/* Feed samples [i0, i1) in uneven batches (sizes 0..maxb, empty ones
 * included), optionally in reverse batch order. */
static void feed(nc_stream *s, const data *D, size_t i0, size_t i1, trng *r, size_t maxb,
                 int reverse)
{
    size_t starts[4096], lens[4096], nb = 0, i = i0, q;
    while (i < i1 && nb < 4096) {
        size_t len = trng_below(r, maxb + 1);
        if (len > i1 - i) len = i1 - i;
        starts[nb] = i;
        lens[nb] = len;
        nb++;
        i += len;
    }
    if (i < i1) lens[nb - 1] = i1 - starts[nb - 1]; /* the last batch takes the rest */
    for (q = 0; q < nb; q++) {
        const size_t b = reverse ? nb - 1 - q : q;
        nc_status st = nc_stream_add(s, lens[b], lens[b] ? D->H + starts[b] * D->d : NULL, D->d,
                                     lens[b] ? D->y + starts[b] : NULL);
        if (st != NC_SUCCESS) {
            nc_test_int(st, NC_SUCCESS, nc_stream_last_error(s));
            return;
        }
    }
}

static nc_stream *new_stream(const data *D, int withW)
{
    nc_stream *s = NULL;
    nc_test_int(nc_stream_create(&s, D->d, D->K), NC_SUCCESS, "stream create");
    if (s && withW)
        nc_test_int(nc_stream_set_classifier(s, D->W, D->d, D->b), NC_SUCCESS, "set_classifier");
    return s;
}

/* Two passes with different uneven batchings; compare with in-memory under
 * every convention. */
static void test_vs_memory(void)
{
    static const size_t shapes[][4] = {
        /* d, K, N, max batch */
        {5, 3, 40, 7},  {20, 6, 500, 37}, {3, 8, 300, 50}, {64, 10, 3000, 700},
        {1, 2, 25, 4},  {12, 4, 200, 1},
    };
    trng r = {12345};
    nc_metrics *m = NULL;
    size_t c;
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "metrics create");
    if (!m) return;
    for (c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const size_t d = shapes[c][0], K = shapes[c][1], N = shapes[c][2], mb = shapes[c][3];
        data *D = make_data(&r, d, K, N, 2.0, 1.0);
        int withW;
        for (withW = 0; withW < 2; withW++) {
            nc_stream *s = new_stream(D, withW);
            int gm, bw;
            if (!s) break;
            feed(s, D, 0, N, &r, mb, 0);
            nc_test_int(nc_stream_num_samples(s), N, "pass 1 sample count");
            nc_test_int(nc_stream_next_pass(s), NC_SUCCESS, "next_pass");
            nc_test_int(nc_stream_pass(s), 2, "pass 2");
            feed(s, D, 0, N, &r, mb, 1);
            nc_test_int(nc_stream_num_samples(s), N, "pass 2 sample count");
            for (gm = 0; gm < 2; gm++)
                for (bw = 0; bw < 2; bw++) {
                    mset got, want;
                    char tag[160];
                    snprintf(tag, sizeof tag, "stream vs memory d=%zu K=%zu N=%zu W=%d gm=%d bw=%d",
                             d, K, N, withW, gm, bw);
                    set_conv(m, gm, bw);
                    in_memory(m, D, withW, &want);
                    nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "compute_stream");
                    read_set(m, &got);
                    compare(&got, &want, 1e-10, tag);
                }
            nc_stream_destroy(s);
        }
        /* A single batch: the same means as in memory; results to ~1e-13. */
        {
            nc_stream *s = new_stream(D, 1);
            mset got, want;
            set_conv(m, 0, 0);
            nc_test_int(nc_stream_add(s, N, D->H, D->d, D->y), NC_SUCCESS, "single batch 1");
            nc_test_int(nc_stream_next_pass(s), NC_SUCCESS, "single next_pass");
            nc_test_int(nc_stream_add(s, N, D->H, D->d, D->y), NC_SUCCESS, "single batch 2");
            in_memory(m, D, 1, &want);
            nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "single compute");
            read_set(m, &got);
            compare(&got, &want, 1e-12, "single batch");
            nc_stream_destroy(s);
        }
        free_data(D);
    }
    /* Other pseudo-inverse thresholds: one pass 2 serves every rtol. */
    {
        data *D = make_data(&r, 16, 7, 400, 1.0, 1.0);
        nc_stream *s = new_stream(D, 1);
        static const double rtols[3] = {0.5, 1e-3, 1e-13};
        int q;
        feed(s, D, 0, D->N, &r, 60, 0);
        nc_stream_next_pass(s);
        feed(s, D, 0, D->N, &r, 60, 0);
        /* a near-degenerate direction so that rtol matters */
        for (q = 0; q < 3; q++) {
            mset got, want;
            char tag[80];
            set_conv(m, 1, 1);
            nc_test_int(nc_metrics_set_pinv_rtol(m, rtols[q]), NC_SUCCESS, "rtol");
            in_memory(m, D, 1, &want);
            nc_metrics_compute_stream(m, s);
            read_set(m, &got);
            snprintf(tag, sizeof tag, "rtol %g", rtols[q]);
            compare(&got, &want, 1e-10, tag);
        }
        nc_metrics_set_pinv_rtol(m, 1e-13);
        nc_stream_destroy(s);
        free_data(D);
    }
    nc_metrics_destroy(m);
}

/* Shards processed separately and merged in different orders. */
static void test_shards(void)
{
    trng r = {777};
    data *D = make_data(&r, 24, 5, 900, 1.5, 1.0);
    size_t cut[4] = {0, 130, 131, 900}; /* shard 1 holds one sample */
    nc_metrics *m = NULL;
    mset want, got[3];
    int order;
    nc_metrics_create(&m);
    set_conv(m, 0, 1);
    in_memory(m, D, 1, &want);
    for (order = 0; order < 3; order++) {
        nc_stream *p1[3], *p2[3];
        int a, perm[3][3] = {{0, 1, 2}, {2, 1, 0}, {1, 2, 0}};
        const int *o = perm[order];
        char tag[80];
        for (a = 0; a < 3; a++) {
            p1[a] = new_stream(D, 1);
            feed(p1[a], D, cut[a], cut[a + 1], &r, 40, 0);
        }
        /* pass 1: merge into the stream o[0], others in order */
        nc_test_int(nc_stream_merge(p1[o[0]], p1[o[1]]), NC_SUCCESS, "merge pass 1 (a)");
        nc_test_int(nc_stream_merge(p1[o[0]], p1[o[2]]), NC_SUCCESS, "merge pass 1 (b)");
        nc_test_int(nc_stream_num_samples(p1[o[0]]), D->N, "merged pass 1 count");
        nc_test_int(nc_stream_next_pass(p1[o[0]]), NC_SUCCESS, "merged next_pass");
        for (a = 0; a < 3; a++) {
            p2[a] = NULL;
            nc_test_int(nc_stream_copy(&p2[a], p1[o[0]]), NC_SUCCESS, "copy for pass 2");
            feed(p2[a], D, cut[a], cut[a + 1], &r, 40, order == 1);
        }
        /* pass 2: a tree in a different order */
        nc_test_int(nc_stream_merge(p2[o[2]], p2[o[0]]), NC_SUCCESS, "merge pass 2 (a)");
        nc_test_int(nc_stream_merge(p2[o[1]], p2[o[2]]), NC_SUCCESS, "merge pass 2 (b)");
        nc_test_int(nc_metrics_compute_stream(m, p2[o[1]]), NC_SUCCESS, "compute merged");
        read_set(m, &got[order]);
        snprintf(tag, sizeof tag, "shards order %d vs memory", order);
        compare(&got[order], &want, 1e-10, tag);
        if (order > 0) {
            snprintf(tag, sizeof tag, "shards order %d vs order 0", order);
            compare(&got[order], &got[0], 1e-12, tag);
        }
        for (a = 0; a < 3; a++) {
            nc_stream_destroy(p1[a]);
            nc_stream_destroy(p2[a]);
        }
    }
    nc_metrics_destroy(m);
    free_data(D);
}

/* Magnitudes near the ends of the double range, with the largest value
 * arriving late (the means are rescaled on the way). */
static void test_magnitudes(void)
{
    static const double scales[3] = {1e-300, 1e300, 3.0};
    trng r = {4242};
    data *D = make_data(&r, 6, 4, 120, 1.0, 0.7);
    nc_metrics *m = NULL;
    mset base;
    int q;
    size_t i;
    nc_metrics_create(&m);
    in_memory(m, D, 1, &base);
    for (q = 0; q < 3; q++) {
        data *E = make_data(&r, 6, 4, 120, 1.0, 0.7);
        nc_stream *s;
        mset got;
        char tag[80];
        memcpy(E->H, D->H, 6 * 120 * sizeof(double));
        memcpy(E->y, D->y, 120 * sizeof(int32_t));
        memcpy(E->W, D->W, 24 * sizeof(double));
        memcpy(E->b, D->b, 4 * sizeof(double));
        for (i = 0; i < 6 * 120; i++) E->H[i] *= scales[q];
        /* the largest entry last: batches of growing magnitude */
        E->H[6 * 119] *= 4.0;
        s = new_stream(E, 1);
        feed(s, E, 0, E->N, &r, 9, 0);
        nc_stream_next_pass(s);
        feed(s, E, 0, E->N, &r, 13, 1);
        {
            mset want;
            in_memory(m, E, 1, &want);
            nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "compute scaled");
            read_set(m, &got);
            snprintf(tag, sizeof tag, "magnitude %g", scales[q]);
            compare(&got, &want, 1e-10, tag);
        }
        nc_stream_destroy(s);
        free_data(E);
    }
    (void)base;
    nc_metrics_destroy(m);
    free_data(D);
}

/* Memory independent of N: all memory is allocated by nc_stream_create from
 * d and K alone, so a stream can digest far more samples than are stored.
 * Every sample repeated R times leaves every metric unchanged (Sigma_W,
 * Sigma_B, the fractions of NC4 and accuracy): stream R = 400 copies of a
 * dataset, regenerated batch by batch, and compare with the in-memory
 * metrics of one copy. */
static void test_replicated(void)
{
    trng r = {99};
    data *D = make_data(&r, 10, 4, 500, 1.0, 1.0);
    nc_stream *s = new_stream(D, 1);
    nc_metrics *m = NULL;
    const size_t R = 400;
    double *batch = (double *)xmalloc(D->d * D->N * sizeof(double));
    size_t rep;
    int pass;
    mset want, got;
    nc_metrics_create(&m);
    in_memory(m, D, 1, &want);
    for (pass = 0; pass < 2; pass++) {
        for (rep = 0; rep < R; rep++) {
            /* a fresh buffer each time: nothing of the stream points at it */
            memcpy(batch, D->H, D->d * D->N * sizeof(double));
            if (nc_stream_add(s, D->N, batch, D->d, D->y) != NC_SUCCESS) break;
            memset(batch, 0xff, D->d * D->N * sizeof(double));
        }
        if (pass == 0) nc_test_int(nc_stream_next_pass(s), NC_SUCCESS, "replicated next_pass");
    }
    nc_test_int(nc_stream_num_samples(s), R * D->N, "replicated count");
    nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "replicated compute");
    read_set(m, &got);
    compare(&got, &want, 1e-10, "400 replicas streamed vs one copy in memory");
    free(batch);
    nc_stream_destroy(s);
    nc_metrics_destroy(m);
    free_data(D);
}

static void expect(nc_status got, nc_status want, const char *what)
{
    char desc[200];
    snprintf(desc, sizeof desc, "%s: %s", what, nc_status_name(want));
    nc_test_int(got, want, desc);
}

static void test_errors(void)
{
    trng r = {5};
    data *D = make_data(&r, 4, 3, 30, 1.0, 1.0);
    nc_stream *s = NULL, *t = NULL, *u = NULL;
    nc_metrics *m = NULL;
    mset want, got;
    double Hbad[8];
    int32_t ybad[2] = {0, 3};
    size_t i;

    nc_metrics_create(&m);
    expect(nc_stream_create(NULL, 4, 3), NC_ERR_NULL_ARGUMENT, "create NULL");
    expect(nc_stream_create(&s, 0, 3), NC_ERR_INVALID_SIZE, "create d = 0");
    nc_test_true(s == NULL, "failed create leaves NULL");
    expect(nc_stream_create(&s, 4, 1), NC_ERR_INVALID_SIZE, "create K = 1");
    expect(nc_stream_copy(NULL, s), NC_ERR_NULL_ARGUMENT, "copy NULL");
    expect(nc_stream_copy(&t, NULL), NC_ERR_NULL_ARGUMENT, "copy of NULL");
    nc_stream_destroy(NULL);
    nc_test_int(nc_stream_pass(NULL), 0, "pass of NULL");
    nc_test_int(nc_stream_num_samples(NULL), 0, "samples of NULL");
    nc_test_true(strcmp(nc_stream_last_error(NULL), "") == 0, "last_error of NULL");

    s = new_stream(D, 1);
    expect(nc_stream_add(NULL, 1, D->H, 4, D->y), NC_ERR_NULL_ARGUMENT, "add to NULL");
    expect(nc_stream_add(s, 2, NULL, 4, D->y), NC_ERR_NULL_ARGUMENT, "add NULL H");
    expect(nc_stream_add(s, 2, D->H, 4, NULL), NC_ERR_NULL_ARGUMENT, "add NULL labels");
    expect(nc_stream_add(s, 0, NULL, 0, NULL), NC_SUCCESS, "empty batch with NULLs");
    expect(nc_stream_add(s, 2, D->H, 3, D->y), NC_ERR_SIZE_MISMATCH, "ldh < d");
    for (i = 0; i < 8; i++) Hbad[i] = 1.0;
    expect(nc_stream_add(s, 2, Hbad, 4, ybad), NC_ERR_LABEL_OUT_OF_RANGE, "label 3 with K = 3");
    nc_test_true(strstr(nc_stream_last_error(s), "outside") != NULL, "label message");
    ybad[1] = -1;
    expect(nc_stream_add(s, 2, Hbad, 4, ybad), NC_ERR_LABEL_OUT_OF_RANGE, "label -1");
    ybad[1] = 1;
    Hbad[5] = NAN;
    expect(nc_stream_add(s, 2, Hbad, 4, ybad), NC_ERR_NON_FINITE, "NaN feature");
    Hbad[5] = INFINITY;
    expect(nc_stream_add(s, 2, Hbad, 4, ybad), NC_ERR_NON_FINITE, "Inf feature");
    nc_test_int(nc_stream_num_samples(s), 0, "failed adds change nothing");
    expect(nc_stream_set_classifier(s, D->W, 3, D->b), NC_ERR_SIZE_MISMATCH, "ldw < d");
    Hbad[0] = NAN;
    expect(nc_stream_set_classifier(s, Hbad, 4, NULL), NC_ERR_NON_FINITE, "NaN in W");
    expect(nc_stream_set_classifier(s, D->W, 4, Hbad), NC_ERR_NON_FINITE, "NaN in b");
    expect(nc_metrics_compute_stream(m, s), NC_ERR_UNAVAILABLE, "compute in pass 1");
    expect(nc_metrics_compute_stream(m, NULL), NC_ERR_NULL_ARGUMENT, "compute NULL stream");
    expect(nc_metrics_compute_stream(NULL, s), NC_ERR_NULL_ARGUMENT, "compute NULL metrics");
    {
        double v;
        expect(nc_metrics_get(m, NC_METRIC_NC1, &v), NC_ERR_UNAVAILABLE,
               "failed compute leaves metrics unavailable");
    }
    /* an empty class at the end of pass 1 */
    expect(nc_stream_add(s, 2, D->H, 4, ybad), NC_SUCCESS, "two samples of classes 0, 1");
    expect(nc_stream_next_pass(s), NC_ERR_EMPTY_CLASS, "next_pass with an empty class");
    nc_test_int(nc_stream_pass(s), 1, "still pass 1");
    nc_stream_destroy(s);

    /* the good path, interleaved with failures that must change nothing */
    s = new_stream(D, 1);
    feed(s, D, 0, 30, &r, 6, 0);
    expect(nc_stream_add(s, 2, Hbad, 4, ybad), NC_ERR_NON_FINITE, "NaN mid-stream");
    expect(nc_stream_merge(s, s), NC_ERR_INVALID_VALUE, "merge into itself");
    expect(nc_stream_merge(s, NULL), NC_ERR_NULL_ARGUMENT, "merge NULL");
    expect(nc_stream_merge(NULL, s), NC_ERR_NULL_ARGUMENT, "merge into NULL");
    nc_stream_create(&t, 5, 3);
    expect(nc_stream_merge(s, t), NC_ERR_SIZE_MISMATCH, "merge different d");
    nc_stream_destroy(t);
    t = new_stream(D, 0);
    expect(nc_stream_merge(s, t), NC_ERR_INVALID_VALUE, "merge without classifier");
    nc_test_int(nc_stream_copy(&u, s), NC_SUCCESS, "copy in pass 1");
    expect(nc_stream_next_pass(s), NC_SUCCESS, "next_pass");
    expect(nc_stream_next_pass(s), NC_ERR_INVALID_VALUE, "next_pass twice");
    expect(nc_stream_set_classifier(s, D->W, 4, D->b), NC_ERR_INVALID_VALUE,
           "set_classifier in pass 2");
    expect(nc_stream_merge(s, u), NC_ERR_INVALID_VALUE, "merge pass 2 with pass 1");
    /* pass 2 from a different pass 1 */
    feed(t, D, 0, 30, &r, 6, 0);
    nc_stream_set_classifier(t, D->W, 4, D->b);
    nc_stream_add(t, 1, D->H, 4, D->y); /* one sample more */
    nc_stream_next_pass(t);
    expect(nc_stream_merge(s, t), NC_ERR_INVALID_VALUE, "merge pass 2 of other data");
    nc_stream_destroy(t);
    t = NULL;
    /* value larger than pass 1 saw */
    for (i = 0; i < 8; i++) Hbad[i] = 1e6;
    ybad[1] = 0;
    expect(nc_stream_add(s, 2, Hbad, 4, ybad), NC_ERR_INVALID_VALUE, "pass 2 sees other data");
    feed(s, D, 0, 20, &r, 6, 0);
    expect(nc_metrics_compute_stream(m, s), NC_ERR_SIZE_MISMATCH, "pass 2 incomplete");
    nc_test_true(strlen(nc_metrics_last_error(m)) > 0, "incomplete pass 2 message");
    nc_test_int(nc_stream_copy(&t, s), NC_SUCCESS, "copy in pass 2");
    feed(s, D, 20, 30, &r, 6, 0);
    expect(nc_stream_add(s, 1, D->H, 4, D->y), NC_ERR_SIZE_MISMATCH, "pass 2 sees too many");
    expect(nc_stream_merge(s, t), NC_ERR_SIZE_MISMATCH, "merge exceeding pass 1 counts");
    expect(nc_metrics_compute_stream(m, s), NC_SUCCESS, "complete after failures");
    read_set(m, &got);
    in_memory(m, D, 1, &want);
    compare(&got, &want, 1e-10, "after failed calls");
    nc_stream_destroy(s);
    nc_stream_destroy(t);
    nc_stream_destroy(u);
    nc_metrics_destroy(m);
    free_data(D);
}

/* Degenerate geometry: identical class means make the same metrics
 * unavailable as in memory. */
static void test_degenerate(void)
{
    trng r = {31};
    data *D = make_data(&r, 4, 3, 24, 0.0, 1.0);
    nc_metrics *m = NULL;
    nc_stream *s;
    mset want, got;
    size_t i, t;
    for (i = 0; i < 24; i += 2)
        for (t = 0; t < 4; t++) D->H[(i + 1) * 4 + t] = -D->H[i * 4 + t];
    for (i = 0; i < 24; i++) D->y[i] = (int32_t)((i / 2) % 3);
    nc_metrics_create(&m);
    in_memory(m, D, 1, &want);
    /* Batches that keep each pair (x, -x) together: every batch mean is
     * exactly 0, as in memory. (Splitting a pair leaves rounding noise in
     * the merged means, which the test of metrics.c may or may not call
     * zero, in memory as in a stream.) */
    s = new_stream(D, 1);
    for (i = 0; i < 24; i += 4) nc_stream_add(s, 4, D->H + i * 4, 4, D->y + i);
    nc_stream_next_pass(s);
    for (i = 0; i < 24; i += 2) nc_stream_add(s, 2, D->H + i * 4, 4, D->y + i);
    nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "degenerate compute");
    read_set(m, &got);
    nc_test_int(got.st[NC_METRIC_NC1], want.st[NC_METRIC_NC1], "degenerate NC1 availability");
    nc_test_int(got.st[NC_METRIC_NC2_ETF_W], NC_SUCCESS, "degenerate: W metrics still there");
    nc_test_rel(got.v[NC_METRIC_NC2_ETF_W], want.v[NC_METRIC_NC2_ETF_W], 1e-12, "degenerate ETF W");
    nc_stream_destroy(s);
    nc_metrics_destroy(m);
    free_data(D);
}

int main(void)
{
    test_vs_memory();
    test_shards();
    test_magnitudes();
    test_replicated();
    test_errors();
    test_degenerate();
    printf("test_stream: largest relative difference stream vs in-memory: %.3g\n", max_rel_seen);
    return nc_test_summary("test_stream");
}

/*
 * test_metrics_stream.c - streaming, mergeable metrics (nc_stream) against the
 * in-memory nc_metrics_compute_data: uneven and empty batches, different
 * batchings in the two passes, shard merges in different orders, every
 * convention, extreme magnitudes, a stream over far more samples than are
 * ever stored, and every error path. Stream files: shards accumulated by
 * "workers", saved, loaded by a "coordinator" and merged, in one process
 * and in two forked child processes; bit-identical round trips; the
 * refusal matrix of nc_stream_load, which must leave the stream unchanged.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "harness.h"
#include "ncollapse.h"
#include "testutil.h"

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
            /* The same batches on 1, 2, 3 and 4 threads of the stream: the
             * first against the in-memory values, the others bit for bit
             * against the first. */
            const trng r0 = r;
            mset one[4];
            size_t threads;
            for (threads = 1; threads <= 4; threads++) {
                nc_stream *s = new_stream(D, withW);
                int gm, bw;
                if (!s) break;
                r = r0;
                nc_test_int(nc_stream_set_threads(s, threads), NC_SUCCESS, "set_threads");
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
                        snprintf(tag, sizeof tag, "stream vs memory d=%zu K=%zu N=%zu W=%d gm=%d "
                                 "bw=%d threads=%zu", d, K, N, withW, gm, bw, threads);
                        set_conv(m, gm, bw);
                        nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "compute_stream");
                        read_set(m, &got);
                        if (threads == 1) {
                            in_memory(m, D, withW, &want);
                            compare(&got, &want, 1e-10, tag);
                            one[2 * gm + bw] = got;
                        } else {
                            int j, same = 1;
                            for (j = 0; j < NM; j++)
                                if (got.st[j] != one[2 * gm + bw].st[j] ||
                                    memcmp(&got.v[j], &one[2 * gm + bw].v[j], sizeof(double)) != 0)
                                    same = 0;
                            nc_test_true(same, tag);
                        }
                    }
                nc_stream_destroy(s);
            }
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

/* ---- stream files ---------------------------------------------------------------- */

static char dir[256];
static double max_rel_files = 0.0; /* shards merged through files vs in memory */

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* The file format, written out independently of the library: little-endian
 * u64 fields and the FNV-1a 64 checksum, to craft files. */
static void put64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void reseal(unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i < n - 8; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    put64(p + n - 8, h);
}

static nc_stream *fresh(const data *D)
{
    nc_stream *s = NULL;
    nc_test_int(nc_stream_create(&s, D->d, D->K), NC_SUCCESS, "create a fresh stream");
    return s;
}

/* A fresh stream loaded from path (NULL if the load failed). */
static nc_stream *load_fresh(const data *D, const char *path, const char *what)
{
    nc_stream *s = fresh(D);
    char desc[200];
    nc_status st;
    if (!s) return NULL;
    st = nc_stream_load(path, s);
    snprintf(desc, sizeof desc, "%s: load (%s)", what, nc_stream_last_error(s));
    nc_test_int(st, NC_SUCCESS, desc);
    if (st == NC_SUCCESS) return s;
    nc_stream_destroy(s);
    return NULL;
}

/* The coordinator: load the files into fresh streams and merge them in order. */
static nc_stream *load_and_merge(const data *D, char (*files)[300], int n, const char *what)
{
    nc_stream *acc = load_fresh(D, files[0], what);
    int a;
    for (a = 1; a < n && acc; a++) {
        nc_stream *t = load_fresh(D, files[a], what);
        if (t) nc_test_int(nc_stream_merge(acc, t), NC_SUCCESS, nc_stream_last_error(acc));
        nc_stream_destroy(t);
    }
    return acc;
}

/* Metrics of a complete pass-2 stream against in-memory ones, every
 * convention; the largest difference goes to max_rel_files. */
static void compare_files(nc_metrics *m, const data *D, const nc_stream *s, const char *what)
{
    int gm, bw;
    const double before = max_rel_seen;
    max_rel_seen = 0.0;
    for (gm = 0; gm < 2; gm++)
        for (bw = 0; bw < 2; bw++) {
            mset got, want;
            char tag[200];
            set_conv(m, gm, bw);
            in_memory(m, D, 1, &want);
            nc_test_int(nc_metrics_compute_stream(m, s), NC_SUCCESS, "compute from files");
            read_set(m, &got);
            snprintf(tag, sizeof tag, "%s gm=%d bw=%d", what, gm, bw);
            compare(&got, &want, 1e-10, tag);
        }
    if (max_rel_seen > max_rel_files) max_rel_files = max_rel_seen;
    if (before > max_rel_seen) max_rel_seen = before;
}

/* The multi-process workflow through files, in one process: workers
 * accumulate shards and save them; the coordinator loads and merges them,
 * ends pass 1 and saves the frozen pass 1; workers load it, accumulate
 * their shards of pass 2 and save them; the coordinator merges those. The
 * result must equal the in-memory merge of the same shards bit for bit. */
static void test_file_shards(void)
{
    trng r = {2024};
    data *D = make_data(&r, 24, 5, 900, 1.5, 1.0);
    const size_t cut[4] = {0, 300, 301, 900}; /* shard 1 holds one sample */
    char p1[3][300], p2[3][300], base[300];
    nc_stream *mem[3], *mem2[3], *coord = NULL, *coord2 = NULL;
    nc_metrics *m = NULL;
    int a, j;
    nc_metrics_create(&m);
    path_in(base, sizeof base, "base.nst");
    for (a = 0; a < 3; a++) {
        char name[40];
        trng rb;
        nc_stream *w = new_stream(D, 1);
        snprintf(name, sizeof name, "p1_%d.nst", a);
        path_in(p1[a], sizeof p1[a], name);
        snprintf(name, sizeof name, "p2_%d.nst", a);
        path_in(p2[a], sizeof p2[a], name);
        rb.s = 100 + (uint64_t)a;
        feed(w, D, cut[a], cut[a + 1], &rb, 40, 0);
        nc_test_int(nc_stream_save(p1[a], w), NC_SUCCESS, "worker saves its pass-1 shard");
        mem[a] = w; /* the in-memory twin goes on */
    }
    /* The coordinator's streams start without a classifier: the files carry it. */
    coord = load_and_merge(D, p1, 3, "pass-1 shards");
    if (coord) {
        nc_test_int(nc_stream_num_samples(coord), D->N, "merged pass-1 count");
        nc_test_int(nc_stream_next_pass(coord), NC_SUCCESS, "coordinator ends pass 1");
        nc_test_int(nc_stream_save(base, coord), NC_SUCCESS, "coordinator saves the frozen pass 1");
    }
    nc_test_int(nc_stream_merge(mem[0], mem[1]), NC_SUCCESS, "in-memory merge (a)");
    nc_test_int(nc_stream_merge(mem[0], mem[2]), NC_SUCCESS, "in-memory merge (b)");
    nc_test_int(nc_stream_next_pass(mem[0]), NC_SUCCESS, "in-memory next_pass");
    for (a = 0; a < 3; a++) {
        trng rb;
        nc_stream *w = load_fresh(D, base, "worker loads the frozen pass 1");
        mem2[a] = NULL;
        nc_stream_copy(&mem2[a], mem[0]);
        if (!w || !mem2[a]) continue;
        nc_test_int(nc_stream_pass(w), 2, "a fresh stream loads a pass-2 file");
        rb.s = 200 + (uint64_t)a;
        feed(w, D, cut[a], cut[a + 1], &rb, 40, 1);
        rb.s = 200 + (uint64_t)a;
        feed(mem2[a], D, cut[a], cut[a + 1], &rb, 40, 1);
        nc_test_int(nc_stream_save(p2[a], w), NC_SUCCESS, "worker saves its pass-2 shard");
        nc_stream_destroy(w);
    }
    coord2 = load_and_merge(D, p2, 3, "pass-2 shards");
    if (coord2 && mem2[0] && mem2[1] && mem2[2]) {
        mset got, twin;
        nc_test_int(nc_stream_merge(mem2[0], mem2[1]), NC_SUCCESS, "in-memory pass-2 merge (a)");
        nc_test_int(nc_stream_merge(mem2[0], mem2[2]), NC_SUCCESS, "in-memory pass-2 merge (b)");
        compare_files(m, D, coord2, "shards through files vs memory");
        set_conv(m, 1, 1);
        nc_metrics_compute_stream(m, coord2);
        read_set(m, &got);
        nc_metrics_compute_stream(m, mem2[0]);
        read_set(m, &twin);
        for (j = 0; j < NM; j++) {
            char desc[160];
            snprintf(desc, sizeof desc, "files and memory give the same bits: %s",
                     nc_metric_name((nc_metric)j));
            nc_test_true(got.st[j] == twin.st[j] &&
                             (got.st[j] != NC_SUCCESS ||
                              memcmp(&got.v[j], &twin.v[j], sizeof(double)) == 0),
                         desc);
        }
    }
    for (a = 0; a < 3; a++) {
        nc_stream_destroy(mem[a]);
        nc_stream_destroy(mem2[a]);
        unlink(p1[a]);
        unlink(p2[a]);
    }
    unlink(base);
    nc_stream_destroy(coord);
    nc_stream_destroy(coord2);
    nc_metrics_destroy(m);
    free_data(D);
}

/* In a child process: accumulate samples [i0, i1) of D (after loading base,
 * if given, else with D's classifier) in batches of 1..50 and save to out.
 * Returns the exit code: 0 on success. */
static int child_shard(const data *D, size_t i0, size_t i1, const char *base, const char *out,
                       uint64_t seed)
{
    nc_stream *s = NULL;
    trng r;
    size_t i = i0;
    int code = 0;
    r.s = seed;
    if (nc_stream_create(&s, D->d, D->K) != NC_SUCCESS) return 10;
    if (base ? nc_stream_load(base, s) != NC_SUCCESS
             : nc_stream_set_classifier(s, D->W, D->d, D->b) != NC_SUCCESS)
        code = 11;
    while (code == 0 && i < i1) {
        size_t n = 1 + trng_below(&r, 50);
        if (n > i1 - i) n = i1 - i;
        if (nc_stream_add(s, n, D->H + i * D->d, D->d, D->y + i) != NC_SUCCESS) code = 12;
        i += n;
    }
    if (code == 0 && nc_stream_save(out, s) != NC_SUCCESS) code = 13;
    if (code != 0) fprintf(stderr, "child %ld: %s\n", (long)getpid(), nc_stream_last_error(s));
    nc_stream_destroy(s);
    return code;
}

/* Fork one child per shard, wait for all; 1 if every child exited with 0. */
static int run_children(data *D, const size_t *cut, int n, const char *base, char (*out)[300],
                        uint64_t seed)
{
    pid_t pid[4];
    int a, ok = 1;
    fflush(stdout);
    fflush(stderr);
    for (a = 0; a < n; a++) {
        pid[a] = fork();
        if (pid[a] == 0) {
            const int code = child_shard(D, cut[a], cut[a + 1], base, out[a], seed + (uint64_t)a);
            free_data(D); /* the child's copy: it leaves nothing allocated behind */
            _exit(code); /* no atexit handlers, no flush of the parent's buffers */
        }
        nc_test_true(pid[a] > 0, "fork");
    }
    for (a = 0; a < n; a++) {
        int status = 0;
        pid_t w;
        char desc[120];
        if (pid[a] <= 0) {
            ok = 0;
            continue;
        }
        do {
            w = waitpid(pid[a], &status, 0);
        } while (w < 0 && errno == EINTR);
        snprintf(desc, sizeof desc, "child %d exits with 0 (status 0x%x)", a, (unsigned)status);
        nc_test_true(w == pid[a] && WIFEXITED(status) && WEXITSTATUS(status) == 0, desc);
        if (!(w == pid[a] && WIFEXITED(status) && WEXITSTATUS(status) == 0)) ok = 0;
    }
    return ok;
}

/* Two child processes accumulate a shard each and save it; the parent loads
 * and merges; then the same for pass 2 from the parent's frozen pass 1. */
static void test_fork(void)
{
    trng r = {8080};
    data *D = make_data(&r, 16, 6, 700, 2.0, 1.0);
    const size_t cut[3] = {0, 350, 700};
    char p1[2][300], p2[2][300], base[300];
    nc_stream *c1 = NULL, *c2 = NULL;
    nc_metrics *m = NULL;
    int ok;
    path_in(p1[0], sizeof p1[0], "fork_p1_0.nst");
    path_in(p1[1], sizeof p1[1], "fork_p1_1.nst");
    path_in(p2[0], sizeof p2[0], "fork_p2_0.nst");
    path_in(p2[1], sizeof p2[1], "fork_p2_1.nst");
    path_in(base, sizeof base, "fork_base.nst");
    ok = run_children(D, cut, 2, NULL, p1, 300);
    if (ok) c1 = load_and_merge(D, p1, 2, "forked pass-1 shards");
    if (c1) {
        nc_test_int(nc_stream_num_samples(c1), D->N, "forked pass-1 count");
        nc_test_int(nc_stream_next_pass(c1), NC_SUCCESS, "parent ends pass 1");
        nc_test_int(nc_stream_save(base, c1), NC_SUCCESS, "parent saves the frozen pass 1");
        ok = run_children(D, cut, 2, base, p2, 400);
        if (ok) c2 = load_and_merge(D, p2, 2, "forked pass-2 shards");
    }
    nc_metrics_create(&m);
    if (c2) compare_files(m, D, c2, "forked shards vs memory");
    nc_test_true(c2 != NULL, "the forked workflow completed");
    nc_stream_destroy(c1);
    nc_stream_destroy(c2);
    nc_metrics_destroy(m);
    unlink(p1[0]);
    unlink(p1[1]);
    unlink(p2[0]);
    unlink(p2[1]);
    unlink(base);
    free_data(D);
}

/* Save, load into a fresh stream, save again: the same bytes, for every
 * kind of state; a loaded complete stream gives the same metrics bits. */
static void test_round_trip(void)
{
    trng r = {31337};
    data *D = make_data(&r, 7, 4, 200, 1.0, 1.0);
    nc_metrics *m = NULL;
    char a[300], b[300];
    int kind;
    nc_metrics_create(&m);
    path_in(a, sizeof a, "rt_a.nst");
    path_in(b, sizeof b, "rt_b.nst");
    for (kind = 0; kind < 7; kind++) {
        nc_stream *s = fresh(D), *t;
        char desc[160];
        /* 0 new; 1 pass 1 without W; 2 W without b; 3 W and b; 4 pass 2 begun;
         * 5 pass 2 complete; 6 pass 2 complete without W */
        if (kind == 2) nc_stream_set_classifier(s, D->W, D->d, NULL);
        if (kind >= 3 && kind <= 5) nc_stream_set_classifier(s, D->W, D->d, D->b);
        if (kind >= 1) feed(s, D, 0, D->N, &r, 30, 0);
        if (kind >= 4) {
            nc_stream_next_pass(s);
            feed(s, D, 0, kind == 4 ? 77 : D->N, &r, 30, 0);
        }
        nc_test_int(nc_stream_save(a, s), NC_SUCCESS, "round trip: save");
        t = load_fresh(D, a, "round trip");
        if (t) {
            nc_test_int(nc_stream_save(b, t), NC_SUCCESS, "round trip: save again");
            snprintf(desc, sizeof desc, "round trip %d: save, load, save gives identical bytes",
                     kind);
            nc_test_true(nc_test_same_bytes(a, b), desc);
            nc_test_int(nc_stream_pass(t), nc_stream_pass(s), "round trip: pass");
            nc_test_int(nc_stream_num_samples(t), nc_stream_num_samples(s), "round trip: samples");
            if (kind >= 5) {
                mset x, y;
                int j;
                nc_metrics_compute_stream(m, s);
                read_set(m, &x);
                nc_metrics_compute_stream(m, t);
                read_set(m, &y);
                for (j = 0; j < NM; j++)
                    nc_test_true(x.st[j] == y.st[j] &&
                                     (x.st[j] != NC_SUCCESS ||
                                      memcmp(&x.v[j], &y.v[j], sizeof(double)) == 0),
                                 "round trip: the same metrics, bit for bit");
            }
            /* a loaded stream goes on like the original */
            if (kind == 1 || kind == 4) {
                feed(s, D, 0, 10, &r, 5, 0);
                feed(t, D, 0, 10, &r, 5, 0); /* other batching: the saved bytes may differ */
                nc_test_int(nc_stream_num_samples(t), nc_stream_num_samples(s),
                            "round trip: a loaded stream accumulates");
            }
        }
        nc_stream_destroy(s);
        nc_stream_destroy(t);
    }
    unlink(a);
    unlink(b);
    nc_metrics_destroy(m);
    free_data(D);
}

/* Load path into s, expecting want; s must be unchanged: its saved bytes
 * still equal those of snap. */
static void refuse(nc_stream *s, const char *path, nc_status want, const char *snap,
                   const char *what)
{
    char desc[300], again[300];
    expect(nc_stream_load(path, s), want, what);
    snprintf(desc, sizeof desc, "%s: the message says why", what);
    nc_test_true(strlen(nc_stream_last_error(s)) > 0, desc);
    path_in(again, sizeof again, "snap_again.nst");
    nc_stream_save(again, s);
    snprintf(desc, sizeof desc, "%s: the stream is unchanged", what);
    nc_test_true(nc_test_same_bytes(snap, again), desc);
    unlink(again);
}

static void test_refusals(void)
{
    trng r = {4711};
    data *D = make_data(&r, 5, 3, 120, 1.0, 1.0);
    data *E = make_data(&r, 5, 3, 90, 1.0, 1.0); /* other data, same d and K */
    nc_stream *x = new_stream(D, 1), *g = new_stream(E, 1), *o = NULL;
    char good[300], bad[300], snap[300], p1[300], sub[300];
    unsigned char *bytes, *copy;
    size_t n, off_n1;
    const size_t d = 5, K = 3;

    path_in(good, sizeof good, "good.nst");
    path_in(bad, sizeof bad, "bad.nst");
    path_in(snap, sizeof snap, "snap.nst");
    path_in(p1, sizeof p1, "pass1.nst");
    /* the target: a pass-2 stream halfway through its pass */
    feed(x, D, 0, D->N, &r, 17, 0);
    nc_stream_next_pass(x);
    feed(x, D, 0, 60, &r, 17, 0);
    nc_test_int(nc_stream_save(snap, x), NC_SUCCESS, "snapshot of the target");
    /* good: a pass-2 file x could load */
    feed(g, E, 0, E->N, &r, 17, 0);
    nc_test_int(nc_stream_save(p1, g), NC_SUCCESS, "a pass-1 file");
    nc_stream_next_pass(g);
    feed(g, E, 0, 40, &r, 17, 0);
    nc_test_int(nc_stream_save(good, g), NC_SUCCESS, "a pass-2 file");
    bytes = nc_test_read_bytes(good, &n);
    if (!bytes || n < 200) {
        nc_test_true(0, "read the good file");
        return;
    }
    copy = (unsigned char *)xmalloc(n + 16);
    off_n1 = 24 + 5 * 8 + 8 * d * K + 8 * K; /* header, 5 fields, W, b */

#define CORRUPT(len, edit, want, what)                                              \
    do {                                                                            \
        memcpy(copy, bytes, n);                                                     \
        edit;                                                                       \
        nc_test_true(nc_test_write_bytes(bad, copy, (len)) == 0, "write a bad file"); \
        refuse(x, bad, (want), snap, (what));                                       \
    } while (0)
    CORRUPT(n, copy[n / 2] ^= 0x10, NC_ERR_CHECKSUM, "a flipped bit in the payload");
    CORRUPT(n, copy[n - 1] ^= 0x01, NC_ERR_CHECKSUM, "a flipped bit in the checksum");
    CORRUPT(n, copy[20] ^= 0x01, NC_ERR_TRUNCATED, "a flipped bit in the payload length");
    CORRUPT(n - 100, (void)0, NC_ERR_TRUNCATED, "truncated");
    CORRUPT(n - 1, (void)0, NC_ERR_TRUNCATED, "one byte short");
    CORRUPT(12, (void)0, NC_ERR_TRUNCATED, "truncated inside the header");
    CORRUPT(0, (void)0, NC_ERR_FORMAT, "an empty file");
    CORRUPT(n, copy[0] = 'X', NC_ERR_FORMAT, "bad magic");
    CORRUPT(n, copy[8] = 4, NC_ERR_FORMAT, "unknown format version");
    CORRUPT(n, copy[12] = 4, NC_ERR_FORMAT, "unknown flag");
    CORRUPT(n + 8, memset(copy + n, 0, 8), NC_ERR_FILE_SIZE, "bytes after the checksum");
    /* Files with a valid checksum whose contents no accumulator can hold. */
    CORRUPT(n, (put64(copy + 40, 3), reseal(copy, n)), NC_ERR_FORMAT, "pass 3");
    CORRUPT(n, (put64(copy + 48, 0), reseal(copy, n)), NC_ERR_FORMAT, "a cleared classifier flag");
    CORRUPT(n, (put64(copy + off_n1, get64(copy + off_n1) + 1), reseal(copy, n)), NC_ERR_FORMAT,
            "counts that do not add up");
    {
        const double nan = NAN;
        uint64_t u;
        memcpy(&u, &nan, 8);
        CORRUPT(n, (put64(copy + off_n1 + 8 + 8 * K, u), reseal(copy, n)), NC_ERR_FORMAT,
                "a NaN largest |h|");
    }
    {
        /* the per-class sums of ||x||^2 and their compensations, then the
         * two per-class counts, end the payload (8 bytes of checksum after) */
        const double neg = -1.0;
        uint64_t u;
        memcpy(&u, &neg, 8);
        CORRUPT(n, (put64(copy + n - 8 - 32 * K + 8, u), reseal(copy, n)), NC_ERR_FORMAT,
                "a negative per-class sum of squares");
    }
    CORRUPT(n + 8, (memmove(copy + n, copy + n - 8, 8), put64(copy + 16, get64(copy + 16) + 8),
                    reseal(copy, n + 8)),
            NC_ERR_FORMAT, "8 bytes more payload than the fields");
    CORRUPT(n - 8, (put64(copy + 16, get64(copy + 16) - 8), reseal(copy, n - 8)),
            NC_ERR_TRUNCATED, "8 bytes less payload than the fields");
#undef CORRUPT

    refuse(x, p1, NC_ERR_MISMATCH, snap, "a pass-1 file for a stream in pass 2");
    refuse(x, "/nonexistent/dir/x.nst", NC_ERR_IO, snap, "a missing file");
    refuse(x, dir, NC_ERR_IO, snap, "a directory");
    {
        nc_stream *t = NULL;
        char other[300];
        path_in(other, sizeof other, "other.nst");
        nc_stream_create(&t, d + 1, K);
        nc_stream_save(other, t);
        refuse(x, other, NC_ERR_MISMATCH, snap, "other d");
        nc_stream_load(other, x);
        nc_test_true(strstr(nc_stream_last_error(x), "d differs (6 in the file, 5 here)") != NULL,
                     nc_stream_last_error(x));
        nc_stream_destroy(t);
        nc_stream_create(&t, d, K + 1);
        nc_stream_save(other, t);
        refuse(x, other, NC_ERR_MISMATCH, snap, "other K");
        nc_stream_destroy(t);
        unlink(other);
    }
    {
        /* a checkpoint is not a stream file, nor the reverse */
        const size_t counts[2] = {3, 2};
        nc_model *mo = NULL;
        char ck[300];
        path_in(ck, sizeof ck, "model.ckpt");
        nc_model_create_counts(&mo, 4, 2, counts);
        nc_test_int(nc_checkpoint_save(ck, mo, NULL), NC_SUCCESS, "a checkpoint");
        refuse(x, ck, NC_ERR_FORMAT, snap, "a checkpoint for a stream");
        expect(nc_checkpoint_load(good, mo, NULL), NC_ERR_FORMAT, "a stream file for a model");
        nc_model_destroy(mo);
        unlink(ck);
    }
    expect(nc_stream_load(NULL, x), NC_ERR_NULL_ARGUMENT, "load from a NULL path");
    expect(nc_stream_load(good, NULL), NC_ERR_NULL_ARGUMENT, "load into NULL");
    expect(nc_stream_save(NULL, x), NC_ERR_NULL_ARGUMENT, "save to a NULL path");
    expect(nc_stream_save(good, NULL), NC_ERR_NULL_ARGUMENT, "save NULL");
    nc_test_true(nc_test_same_bytes(snap, snap), "snapshot still readable");

    /* Saves that fail leave the old file and no temporary file behind. */
    expect(nc_stream_save("/nonexistent/dir/x.nst", x), NC_ERR_IO, "save into a missing directory");
    path_in(sub, sizeof sub, "adir");
    mkdir(sub, 0700);
    expect(nc_stream_save(sub, x), NC_ERR_IO, "save over a directory");
    rmdir(sub);
    nc_test_int(nc_test_count_temps(dir), 0, "failed saves leave no temporary file");

    /* Loading moves a stream forward: a pass-1 stream with samples takes a
     * pass-2 file, and then equals it. */
    o = new_stream(D, 0);
    if (o) {
        char again[300];
        feed(o, D, 0, 30, &r, 7, 0);
        expect(nc_stream_load(good, o), NC_SUCCESS, "a pass-2 file into a pass-1 stream");
        nc_test_int(nc_stream_pass(o), 2, "the stream moved to pass 2");
        path_in(again, sizeof again, "again.nst");
        nc_stream_save(again, o);
        nc_test_true(nc_test_same_bytes(good, again), "the loaded stream is the file's");
        unlink(again);
    }
    free(bytes);
    free(copy);
    nc_stream_destroy(x);
    nc_stream_destroy(g);
    nc_stream_destroy(o);
    unlink(good);
    unlink(bad);
    unlink(snap);
    unlink(p1);
    free_data(D);
    free_data(E);
}

/*
 * The batch check at every position: a NaN, +Inf or -Inf anywhere in the d
 * features of any sample (d = 13: whole vectors of four and a tail, split
 * between two threads) is refused in double and in float, while the same
 * values in the padding past d (ldh > d) are not features and pass.
 */
static void test_check_positions(void)
{
    enum { DD = 13, KK = 3, NN = 3, LD = DD + 3 };
    const double bad_values[3] = {NAN, INFINITY, -INFINITY};
    double Hd[NN * LD];
    float Hf[NN * LD];
    int32_t y[NN] = {0, 1, 2};
    size_t threads, pos, v, i, wrong = 0;
    for (threads = 1; threads <= 2; threads++) {
        nc_stream *s = NULL;
        nc_test_true(nc_stream_create(&s, DD, KK) == NC_SUCCESS, "create d = 13");
        nc_test_true(nc_stream_set_threads(s, threads) == NC_SUCCESS, "threads");
        for (pos = 0; pos < NN * LD; pos++)
            for (v = 0; v < 3; v++) {
                const int feature = pos % LD < DD;
                const nc_status want = feature ? NC_ERR_NON_FINITE : NC_SUCCESS;
                for (i = 0; i < NN * LD; i++) {
                    Hd[i] = (double)(i % 7) - 3.5;
                    Hf[i] = (float)Hd[i];
                }
                Hd[pos] = bad_values[v];
                Hf[pos] = (float)bad_values[v];
                if (nc_stream_add(s, NN, Hd, LD, y) != want) wrong++;
                if (nc_stream_add_float(s, NN, Hf, LD, y) != want) wrong++;
            }
        /* the padding cases added 2 x 3 batches per padded position */
        nc_test_int((long)nc_stream_num_samples(s), (long)(2 * 3 * NN * (NN * (LD - DD))),
                    "only the batches with non-finite values in the padding were added");
        nc_stream_destroy(s);
    }
    nc_test_int((long)wrong, 0, "a non-finite feature at every position refused, padding ignored");
}

/* ---- NC_NC1_PATH_NONE: no within-class scatter ------------------------------- */

/* Every metric but NC1 and every per-class value of two computes: the
 * same availability and the same bits; NC1 of `none` unavailable. */
static void same_but_nc1(const nc_metrics *none, const mset *got, const mset *want,
                         const double *cls_got, const double *cls_want, size_t K, const char *tag)
{
    char desc[300];
    int j;
    for (j = 0; j < NM; j++) {
        if (j == NC_METRIC_NC1) continue;
        snprintf(desc, sizeof desc, "%s: %s has the same availability and bits", tag,
                 nc_metric_name((nc_metric)j));
        nc_test_true(got->st[j] == want->st[j] &&
                         (got->st[j] != NC_SUCCESS ||
                          memcmp(&got->v[j], &want->v[j], sizeof(double)) == 0),
                     desc);
    }
    snprintf(desc, sizeof desc, "%s: NC1 is unavailable", tag);
    nc_test_int(got->st[NC_METRIC_NC1], NC_ERR_UNAVAILABLE, desc);
    snprintf(desc, sizeof desc, "%s: the other path has NC1", tag);
    nc_test_int(want->st[NC_METRIC_NC1], NC_SUCCESS, desc);
    snprintf(desc, sizeof desc, "%s: the per-class values have the same bits", tag);
    nc_test_true(memcmp(cls_got, cls_want, K * NC_CLASS_STAT_COUNT * sizeof(double)) == 0, desc);
    (void)none;
}

/* Every per-class statistic of the last compute, NaN where unavailable. */
static void read_classes(const nc_metrics *m, size_t K, double *out)
{
    int c;
    size_t k;
    for (c = 0; c < NC_CLASS_STAT_COUNT; c++)
        if (nc_metrics_get_class(m, (nc_class_stat)c, K, out + c * K) != NC_SUCCESS)
            for (k = 0; k < K; k++) out[c * K + k] = NAN;
}

/* Both passes of D into s in the same batches of 1..maxb samples for every
 * stream (seeded alike), as floats when fl; mid(s) runs between two halves
 * of pass 1. */
static void two_passes(nc_stream *s, const data *D, int fl, uint64_t seed, size_t maxb,
                       nc_status (*mid)(nc_stream *))
{
    trng r;
    size_t pass, i0, half = D->N / 2;
    float *F = NULL;
    if (fl) {
        size_t i;
        F = (float *)xmalloc(D->d * D->N * sizeof(float));
        for (i = 0; i < D->d * D->N; i++) F[i] = (float)D->H[i];
    }
    for (pass = 1; pass <= 2; pass++) {
        r.s = seed + pass;
        for (i0 = 0; i0 < D->N;) {
            size_t n = 1 + trng_below(&r, maxb);
            if (n > D->N - i0) n = D->N - i0;
            if (pass == 1 && mid != NULL && i0 < half && i0 + n >= half)
                nc_test_int(mid(s), NC_SUCCESS, "the NC1 path set halfway through pass 1");
            nc_test_int(fl ? nc_stream_add_float(s, n, F + i0 * D->d, D->d, D->y + i0)
                           : nc_stream_add(s, n, D->H + i0 * D->d, D->d, D->y + i0),
                        NC_SUCCESS, "add a batch");
            i0 += n;
        }
        if (pass == 1) nc_test_int(nc_stream_next_pass(s), NC_SUCCESS, "next pass");
    }
    free(F);
}

static nc_status path_none(nc_stream *s) { return nc_stream_set_nc1_path(s, NC_NC1_PATH_NONE); }

/* Bytes of a file (0 if it cannot be read). */
static size_t file_size(const char *path)
{
    size_t n = 0;
    unsigned char *b = nc_test_read_bytes(path, &n);
    free(b);
    return b != NULL ? n : 0;
}

static void test_no_nc1(void)
{
    /* the projected scatter (K < 0.414 d), the d x d one below and above K = d;
     * small batches, then batches of thousands of samples, beyond the NC4
     * blocks (32768 / max(d, K) columns) and pass 2's blocks of samples */
    static const size_t shapes[][4] = {{24, 4, 300, 37},    {10, 6, 200, 37},
                                       {6, 15, 260, 37},    {40, 5, 6000, 3000},
                                       {10, 6, 8000, 5000}, {12, 40, 9000, 5000}};
    trng r = {8086};
    nc_metrics *m = NULL;
    size_t sh;
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "metrics create");
    if (m == NULL) return;
    for (sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const size_t d = shapes[sh][0], K = shapes[sh][1], N = shapes[sh][2], maxb = shapes[sh][3];
        data *D = make_data(&r, d, K, N, 1.0, 0.7);
        double *ca = (double *)xmalloc(K * NC_CLASS_STAT_COUNT * sizeof(double));
        double *cb = (double *)xmalloc(K * NC_CLASS_STAT_COUNT * sizeof(double));
        int withW, fl, threads;
        for (withW = 0; withW < 2; withW++)
            for (fl = 0; fl < 2; fl++)
                for (threads = 1; threads <= 3; threads += 2) {
                    nc_stream *a = new_stream(D, withW), *b = new_stream(D, withW);
                    mset got, want;
                    char tag[200];
                    int gm, bw;
                    if (!a || !b) {
                        nc_stream_destroy(a);
                        nc_stream_destroy(b);
                        continue;
                    }
                    nc_test_int(nc_stream_set_threads(a, (size_t)threads), NC_SUCCESS, "threads");
                    nc_test_int(nc_stream_set_threads(b, (size_t)threads), NC_SUCCESS, "threads");
                    two_passes(a, D, fl, 77 + sh, maxb, NULL);
                    two_passes(b, D, fl, 77 + sh, maxb, path_none);
                    nc_test_int(nc_stream_get_nc1_path(b), NC_NC1_PATH_NONE, "the path is NONE");
                    nc_test_int(nc_stream_get_nc1_path(a), NC_NC1_PATH_AUTO, "the default is AUTO");
                    for (gm = 0; gm < 2; gm++)
                        for (bw = 0; bw < 2; bw++) {
                            set_conv(m, gm, bw);
                            nc_test_int(nc_metrics_compute_stream(m, a), NC_SUCCESS, "compute (AUTO)");
                            read_set(m, &want);
                            read_classes(m, K, ca);
                            nc_test_int(nc_metrics_compute_stream(m, b), NC_SUCCESS, "compute (NONE)");
                            read_set(m, &got);
                            read_classes(m, K, cb);
                            snprintf(tag, sizeof tag, "no NC1: d=%zu K=%zu W=%d float=%d threads=%d "
                                     "gm=%d bw=%d", d, K, withW, fl, threads, gm, bw);
                            same_but_nc1(m, &got, &want, cb, ca, K, tag);
                        }
                    nc_stream_destroy(a);
                    nc_stream_destroy(b);
                }
        /* In memory, and a handle at NONE on a stream that has a scatter. */
        {
            nc_stream *a = new_stream(D, 1);
            mset got, want, sgot;
            char tag[200];
            if (a != NULL) {
                two_passes(a, D, 0, 5, maxb, NULL);
                set_conv(m, 0, 0);
                nc_test_int(nc_metrics_set_nc1_path(m, NC_NC1_PATH_AUTO), NC_SUCCESS, "path AUTO");
                in_memory(m, D, 1, &want);
                read_classes(m, K, ca);
                nc_test_int(nc_metrics_set_nc1_path(m, NC_NC1_PATH_NONE), NC_SUCCESS, "path NONE");
                in_memory(m, D, 1, &got);
                read_classes(m, K, cb);
                snprintf(tag, sizeof tag, "no NC1 in memory: d=%zu K=%zu", d, K);
                same_but_nc1(m, &got, &want, cb, ca, K, tag);
                nc_test_int(nc_metrics_set_nc1_path(m, NC_NC1_PATH_AUTO), NC_SUCCESS, "path AUTO");
                nc_test_int(nc_metrics_compute_stream(m, a), NC_SUCCESS, "stream compute (AUTO)");
                read_set(m, &want);
                read_classes(m, K, ca);
                nc_test_int(nc_metrics_set_nc1_path(m, NC_NC1_PATH_NONE), NC_SUCCESS, "path NONE");
                nc_test_int(nc_metrics_compute_stream(m, a), NC_SUCCESS, "stream compute (NONE)");
                read_set(m, &sgot);
                read_classes(m, K, cb);
                snprintf(tag, sizeof tag, "a NONE handle on a stream with a scatter: d=%zu K=%zu",
                         d, K);
                same_but_nc1(m, &sgot, &want, cb, ca, K, tag);
                nc_test_int(nc_metrics_set_nc1_path(m, NC_NC1_PATH_AUTO), NC_SUCCESS, "path AUTO");
            }
            nc_stream_destroy(a);
        }
        free(ca);
        free(cb);
        free_data(D);
    }
    nc_metrics_destroy(m);
}

/* The path through copies, merges, files and back: shards merged, a stream
 * set to NONE and back to AUTO, the refusals. */
static void test_no_nc1_state(void)
{
    trng r = {1999};
    const size_t d = 10, K = 6;
    data *D = make_data(&r, d, K, 240, 1.0, 0.7);
    nc_metrics *m = NULL;
    nc_stream *a = new_stream(D, 1), *b = new_stream(D, 1), *c = NULL, *e = NULL, *x = NULL;
    nc_stream *s1 = new_stream(D, 1), *s2 = new_stream(D, 1);
    char f1[300], f2[300], fa[300];
    mset ma, mb, mc;
    double *ca = (double *)xmalloc(K * NC_CLASS_STAT_COUNT * sizeof(double));
    double *cb = (double *)xmalloc(K * NC_CLASS_STAT_COUNT * sizeof(double));
    size_t i;
    nc_test_int(nc_metrics_create(&m), NC_SUCCESS, "metrics create");
    if (!m || !a || !b || !s1 || !s2) goto out;
    path_in(f1, sizeof f1, "none1.nst");
    path_in(f2, sizeof f2, "none2.nst");
    path_in(fa, sizeof fa, "auto2.nst");

    /* Refusals; the stream stays usable. */
    expect(nc_stream_set_nc1_path(NULL, NC_NC1_PATH_NONE), NC_ERR_NULL_ARGUMENT, "NULL stream");
    expect(nc_stream_set_nc1_path(b, NC_NC1_PATH_PROJECTED), NC_ERR_INVALID_VALUE,
           "PROJECTED on a stream");
    nc_test_true(strstr(nc_stream_last_error(b), "NC_NC1_PATH_NONE") != NULL,
                 "the message names the paths a stream takes");
    expect(nc_stream_set_nc1_path(b, NC_NC1_PATH_SCATTER), NC_ERR_INVALID_VALUE,
           "SCATTER on a stream");
    expect(nc_stream_set_nc1_path(b, (nc_nc1_path)9), NC_ERR_INVALID_VALUE, "path 9");
    expect(nc_metrics_set_nc1_path(m, (nc_nc1_path)4), NC_ERR_INVALID_VALUE, "metrics path 4");
    nc_test_int(nc_stream_get_nc1_path(NULL), NC_NC1_PATH_AUTO, "the path of NULL");
    /* NONE, then back to AUTO halfway through pass 1: the AUTO stream's bits. */
    nc_test_int(nc_stream_set_nc1_path(b, NC_NC1_PATH_NONE), NC_SUCCESS, "NONE");
    nc_test_int(nc_stream_set_nc1_path(b, NC_NC1_PATH_NONE), NC_SUCCESS, "NONE again");
    nc_test_int(nc_stream_add(b, 100, D->H, d, D->y), NC_SUCCESS, "pass 1, first part");
    nc_test_int(nc_stream_set_nc1_path(b, NC_NC1_PATH_AUTO), NC_SUCCESS, "back to AUTO");
    nc_test_int(nc_stream_add(b, D->N - 100, D->H + 100 * d, d, D->y + 100), NC_SUCCESS,
                "pass 1, the rest");
    nc_test_int(nc_stream_add(a, 100, D->H, d, D->y), NC_SUCCESS, "pass 1, first part");
    nc_test_int(nc_stream_add(a, D->N - 100, D->H + 100 * d, d, D->y + 100), NC_SUCCESS,
                "pass 1, the rest");
    nc_stream_next_pass(a);
    nc_stream_next_pass(b);
    expect(nc_stream_set_nc1_path(b, NC_NC1_PATH_NONE), NC_ERR_INVALID_VALUE, "NONE in pass 2");
    nc_test_int(nc_stream_get_nc1_path(b), NC_NC1_PATH_AUTO, "pass 2 keeps the path");
    nc_stream_add(a, D->N, D->H, d, D->y);
    nc_stream_add(b, D->N, D->H, d, D->y);
    nc_test_int(nc_metrics_compute_stream(m, a), NC_SUCCESS, "compute a");
    read_set(m, &ma);
    nc_test_int(nc_metrics_compute_stream(m, b), NC_SUCCESS, "compute b");
    read_set(m, &mb);
    nc_test_true(memcmp(ma.v, mb.v, sizeof ma.v) == 0 && memcmp(ma.st, mb.st, sizeof ma.st) == 0,
                 "NONE and back to AUTO in pass 1: every metric, NC1 included, with the bits of "
                 "a stream that stayed AUTO");
    nc_test_int(nc_stream_save(fa, a), NC_SUCCESS, "save the AUTO stream");
    read_classes(m, K, ca);

    /* Shards at NONE: pass 1 merged, saved, loaded into streams at AUTO
     * (they take the file's path), copied, pass 2 merged. */
    nc_stream_set_nc1_path(s1, NC_NC1_PATH_NONE);
    nc_stream_set_nc1_path(s2, NC_NC1_PATH_NONE);
    nc_stream_add(s1, 130, D->H, d, D->y);
    nc_stream_add(s2, D->N - 130, D->H + 130 * d, d, D->y + 130);
    expect(nc_stream_merge(s1, a), NC_ERR_INVALID_VALUE, "a pass-2 AUTO stream into a NONE one");
    nc_test_int(nc_stream_merge(s1, s2), NC_SUCCESS, "pass-1 merge of NONE shards");
    nc_test_int(nc_stream_save(f1, s1), NC_SUCCESS, "save a NONE pass 1");
    c = fresh(D);
    if (c) {
        nc_test_int(nc_stream_load(f1, c), NC_SUCCESS, "load a NONE pass-1 file into an AUTO stream");
        nc_test_int(nc_stream_get_nc1_path(c), NC_NC1_PATH_NONE, "the loaded stream is NONE");
        nc_test_int(nc_stream_next_pass(c), NC_SUCCESS, "next pass");
        nc_test_int(nc_stream_copy(&e, c), NC_SUCCESS, "copy");
    }
    if (c && e) {
        nc_test_int(nc_stream_get_nc1_path(e), NC_NC1_PATH_NONE, "the copy is NONE");
        nc_stream_add(c, 130, D->H, d, D->y);
        nc_stream_add(e, D->N - 130, D->H + 130 * d, d, D->y + 130);
        nc_test_int(nc_stream_merge(c, e), NC_SUCCESS, "pass-2 merge of NONE shards");
        nc_test_int(nc_stream_save(f2, c), NC_SUCCESS, "save a NONE pass 2");
        /* its file holds no scatter: the AUTO file less d x d (Q) and 2 d x d */
        nc_test_int((long long)file_size(fa) - (long long)file_size(f2),
                    (long long)(8 * (d * d + 2 * d * d)), "the NONE file has no scatter");
        /* the same shards and merges at AUTO, in memory */
        {
            nc_stream *t1 = new_stream(D, 1), *t2 = new_stream(D, 1), *t3 = NULL;
            if (t1 && t2) {
                nc_stream_add(t1, 130, D->H, d, D->y);
                nc_stream_add(t2, D->N - 130, D->H + 130 * d, d, D->y + 130);
                nc_stream_merge(t1, t2);
                nc_stream_next_pass(t1);
                nc_test_int(nc_stream_copy(&t3, t1), NC_SUCCESS, "copy (AUTO)");
            }
            if (t3) {
                nc_stream_add(t1, 130, D->H, d, D->y);
                nc_stream_add(t3, D->N - 130, D->H + 130 * d, d, D->y + 130);
                nc_test_int(nc_stream_merge(t1, t3), NC_SUCCESS, "pass-2 merge of AUTO shards");
                nc_test_int(nc_metrics_compute_stream(m, t1), NC_SUCCESS, "compute (AUTO shards)");
                read_set(m, &ma);
                read_classes(m, K, ca);
            }
            nc_stream_destroy(t1);
            nc_stream_destroy(t2);
            nc_stream_destroy(t3);
        }
        x = fresh(D);
        if (x) {
            nc_test_int(nc_stream_load(f2, x), NC_SUCCESS, "load a NONE pass-2 file");
            nc_test_int(nc_metrics_compute_stream(m, x), NC_SUCCESS, "compute from the file");
            read_set(m, &mc);
            read_classes(m, K, cb);
            same_but_nc1(m, &mc, &ma, cb, ca, K, "NONE shards through a file");
            expect(nc_stream_merge(x, a), NC_ERR_INVALID_VALUE, "a NONE and an AUTO pass 2");
            nc_test_true(strstr(nc_stream_last_error(x), "NC1 path") != NULL,
                         "the message names the NC1 path");
        }
    }
    /* A NONE flag on a file that holds a scatter, and an AUTO file without
     * one, are refused (the sizes do not match). */
    {
        size_t n;
        unsigned char *bytes = nc_test_read_bytes(fa, &n);
        if (bytes != NULL && n > 24 && x != NULL) {
            char bad[300], snap[300];
            path_in(bad, sizeof bad, "flag.nst");
            path_in(snap, sizeof snap, "flag_snap.nst");
            nc_stream_save(snap, x);
            bytes[12] |= 1;
            reseal(bytes, n);
            nc_test_true(nc_test_write_bytes(bad, bytes, n) == 0, "write the flagged file");
            refuse(x, bad, NC_ERR_FORMAT, snap, "the NONE flag on a file with a scatter");
            unlink(bad);
            unlink(snap);
        }
        free(bytes);
        bytes = nc_test_read_bytes(f2, &n);
        if (bytes != NULL && n > 24 && x != NULL) {
            char bad[300], snap[300];
            path_in(bad, sizeof bad, "flag.nst");
            path_in(snap, sizeof snap, "flag_snap.nst");
            nc_stream_save(snap, x);
            bytes[12] &= (unsigned char)~1u;
            reseal(bytes, n);
            nc_test_true(nc_test_write_bytes(bad, bytes, n) == 0, "write the unflagged file");
            refuse(x, bad, NC_ERR_TRUNCATED, snap,
                   "a file without a scatter and without the flag (it ends before the scatter)");
            unlink(bad);
            unlink(snap);
        }
        free(bytes);
    }
    for (i = 0; i < 3; i++) unlink(i == 0 ? f1 : i == 1 ? f2 : fa);
out:
    free(ca);
    free(cb);
    nc_stream_destroy(a);
    nc_stream_destroy(b);
    nc_stream_destroy(c);
    nc_stream_destroy(e);
    nc_stream_destroy(x);
    nc_stream_destroy(s1);
    nc_stream_destroy(s2);
    nc_metrics_destroy(m);
    free_data(D);
}

/* The mean of class k over samples [0, n) of D from long-double sums into
 * mean (d values, zeros for no sample); returns the count. */
static size_t direct_class_mean(const data *D, size_t k, size_t n, double *mean)
{
    long double sum[64] = {0};
    size_t i, t, c = 0;
    for (i = 0; i < n; i++)
        if ((size_t)D->y[i] == k) {
            for (t = 0; t < D->d; t++) sum[t] += D->H[i * D->d + t];
            c++;
        }
    for (t = 0; t < D->d; t++) mean[t] = c ? (double)(sum[t] / c) : 0.0;
    return c;
}

/* nc_stream_get_class_means against the means computed directly (long
 * double sums of the samples, in pass 1 so far and at its end), with
 * magnitudes that make the stream rescale its means, shards of far
 * different scales merged, and refusals. */
static void test_class_means(void)
{
    trng r = {31337};
    const size_t d = 9, K = 7;
    data *D = make_data(&r, d, K, 700, 3.0, 1.0);
    nc_stream *s = new_stream(D, 0);
    /* the samples added up to each cut, then the means checked */
    static const size_t cuts[4] = {0, 5, 300, 700};
    double M[9 * 7 + 9], worst = 0.0;
    size_t counts[7], i, k, t, c, cut;
    if (s == NULL) return;
    for (i = 0; i < D->N; i++) /* later samples larger: the scale changes mid-pass */
        for (t = 0; t < d; t++) D->H[i * d + t] *= i < 300 ? 1e-3 : 1e4;
    for (c = 1; c < 4; c++) {
        cut = cuts[c];
        nc_test_int(nc_stream_add(s, cut - cuts[c - 1], D->H + cuts[c - 1] * d, d,
                                  D->y + cuts[c - 1]),
                    NC_SUCCESS, "add");
        nc_test_int(nc_stream_get_class_means(s, M, d + 1, counts), NC_SUCCESS, "class means");
        for (k = 0; k < K; k++) {
            double want[9];
            const size_t n = direct_class_mean(D, k, cut, want);
            nc_test_int(counts[k], n, "the class counts so far");
            for (t = 0; t < d; t++) {
                const double err = fabs(M[k * (d + 1) + t] - want[t]) / (fabs(want[t]) + 1e-300);
                if (n == 0) nc_test_true(M[k * (d + 1) + t] == 0.0, "a class without samples: 0");
                else if (err > worst) worst = err;
            }
        }
    }
    /* two shards of very different scales merged (the larger scale wins,
     * the other means are rescaled): the means of all their samples */
    {
        nc_stream *a = new_stream(D, 0), *e = new_stream(D, 0);
        double Q[9 * 7];
        size_t qc[7];
        if (a && e) {
            for (i = 0; i < D->N; i++)
                for (t = 0; t < d; t++) D->H[i * d + t] *= i < 350 ? 1e-150 : 1e150;
            nc_stream_add(a, 350, D->H, d, D->y);
            nc_stream_add(e, D->N - 350, D->H + 350 * d, d, D->y + 350);
            nc_test_int(nc_stream_merge(a, e), NC_SUCCESS, "merge shards of other scales");
            nc_test_int(nc_stream_get_class_means(a, Q, d, qc), NC_SUCCESS, "merged means");
            for (k = 0; k < K; k++) {
                double want[9];
                nc_test_int(qc[k], direct_class_mean(D, k, D->N, want), "merged counts");
                for (t = 0; t < d; t++) {
                    const double err = fabs(Q[k * d + t] - want[t]) / fabs(want[t]);
                    if (err > worst) worst = err;
                }
            }
        }
        nc_stream_destroy(a);
        nc_stream_destroy(e);
    }
    nc_test_true(worst < 1e-13, "the means to 1e-13 relative");
    printf("test_metrics_stream: class means against long-double sums: largest relative "
           "difference %.3g\n", worst);
    {
        double P[9 * 7];
        nc_test_int(nc_stream_next_pass(s), NC_SUCCESS, "next pass");
        nc_test_int(nc_stream_get_class_means(s, P, d, NULL), NC_SUCCESS, "pass 2, no counts");
        for (k = 0; k < K; k++)
            nc_test_true(memcmp(P + k * d, M + k * (d + 1), d * sizeof(double)) == 0,
                         "pass 2 gives the frozen means of pass 1");
    }
    nc_test_int(nc_stream_get_class_means(s, M, d - 1, counts), NC_ERR_SIZE_MISMATCH, "ldm < d");
    nc_test_int(nc_stream_get_class_means(s, NULL, d, counts), NC_ERR_NULL_ARGUMENT, "M NULL");
    nc_test_int(nc_stream_get_class_means(NULL, M, d, counts), NC_ERR_NULL_ARGUMENT, "NULL stream");
    nc_stream_destroy(s);
    free_data(D);
}

int main(void)
{
    test_vs_memory();
    test_shards();
    test_magnitudes();
    test_replicated();
    test_errors();
    test_check_positions();
    test_degenerate();
    if (nc_test_make_temp_dir(dir, sizeof dir, "nc_test_metrics_stream") != 0) return 1;
    test_file_shards();
    test_fork();
    test_round_trip();
    test_refusals();
    test_no_nc1();
    test_no_nc1_state();
    test_class_means();
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file left");
    rmdir(dir);
    printf("test_metrics_stream: largest relative difference stream vs in-memory: %.3g\n", max_rel_seen);
    printf("test_metrics_stream: largest relative difference of shards merged through files (in one "
           "process and from forked children) vs in-memory: %.3g\n", max_rel_files);
    return nc_test_summary("test_metrics_stream");
}

/*
 * test_mpi_metrics.c - stream accumulators reduced across the ranks
 * against one process merging the same shards, bit for bit; the metrics of
 * a shard model against the serial nc_metrics_compute; mismatched streams
 * refused on every rank.
 */
#define NC_TEST_LCG_SEED 0x5eed0033ULL
#include "mpi_harness.h"
#include "../testutil.h"
#include "ncollapse_mpi.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { D = 7, K = 3, N = 50 };
static int rank, nranks;
static double H[D * N], W[K * D], b[K];
static int32_t labels[N];

/* rank r's samples: an uneven split, [off(r), off(r + 1)) */
static size_t off(int r) { return r >= nranks ? N : (size_t)r * (size_t)r * N / ((size_t)nranks * (size_t)nranks); }

static nc_status stream_of(nc_stream **s, size_t a, size_t c)
{
    nc_status st = nc_stream_create(s, D, K);
    if (st == NC_SUCCESS) st = nc_stream_set_classifier(*s, W, D, b);
    if (st == NC_SUCCESS) st = nc_stream_add(*s, c - a, H + a * D, D, labels + a);
    return st;
}

static void check_reduce(void)
{
    nc_stream *mine = NULL, *ref = NULL, *part = NULL;
    nc_metrics *m1 = NULL, *m2 = NULL;
    int r, k;
    /* one process: the shards merged in rank order, in both passes */
    nc_test_int(stream_of(&ref, off(0), off(1)), NC_SUCCESS, "reference stream");
    for (r = 1; r < nranks; r++) {
        stream_of(&part, off(r), off(r + 1));
        nc_stream_merge(ref, part);
        nc_stream_destroy(part);
    }
    nc_test_int(nc_stream_next_pass(ref), NC_SUCCESS, "reference next pass");
    {
        nc_stream *p1 = NULL, *acc = NULL;
        nc_stream_copy(&p1, ref);
        for (r = 0; r < nranks; r++) {
            nc_stream *c = NULL;
            nc_stream_copy(&c, p1);
            nc_stream_add(c, off(r + 1) - off(r), H + off(r) * D, D, labels + off(r));
            if (!acc) acc = c;
            else {
                nc_stream_merge(acc, c);
                nc_stream_destroy(c);
            }
        }
        nc_stream_destroy(ref);
        nc_stream_destroy(p1);
        ref = acc;
    }
    /* the ranks */
    stream_of(&mine, off(rank), off(rank + 1));
    nc_test_int(nc_mpi_stream_reduce(mine, MPI_COMM_WORLD), NC_SUCCESS, "reduce pass 1");
    nc_test_int(nc_stream_num_samples(mine), N, "pass 1 holds every sample");
    nc_test_int(nc_stream_next_pass(mine), NC_SUCCESS, "next pass");
    nc_stream_add(mine, off(rank + 1) - off(rank), H + off(rank) * D, D, labels + off(rank));
    nc_test_int(nc_mpi_stream_reduce(mine, MPI_COMM_WORLD), NC_SUCCESS, "reduce pass 2");
    nc_metrics_create(&m1);
    nc_metrics_create(&m2);
    nc_test_int(nc_metrics_compute_stream(m1, mine), NC_SUCCESS, "metrics of the reduced stream");
    nc_metrics_compute_stream(m2, ref);
    for (k = 0; k < NC_METRIC_COUNT; k++) {
        double a = NAN, c = NAN;
        nc_status s1 = nc_metrics_get(m1, (nc_metric)k, &a), s2 = nc_metrics_get(m2, (nc_metric)k, &c);
        nc_test_int(s1, s2, nc_metric_name((nc_metric)k));
        if (s1 == NC_SUCCESS)
            nc_test_true(memcmp(&a, &c, sizeof a) == 0, nc_metric_name((nc_metric)k));
    }
    nc_metrics_destroy(m1);
    nc_metrics_destroy(m2);
    nc_stream_destroy(mine);
    nc_stream_destroy(ref);
}

static void check_mismatch(void)
{
    nc_stream *s = NULL;
    if (nranks < 2) return;
    nc_stream_create(&s, rank == 1 ? D + 1 : D, K);
    nc_test_int(nc_mpi_stream_reduce(s, MPI_COMM_WORLD), NC_ERR_SIZE_MISMATCH, "streams of other d");
    nc_test_true(strstr(nc_stream_last_error(s), "d is 7 on rank 0 but 8 on rank 1") != NULL,
                 nc_stream_last_error(s));
    nc_stream_destroy(s);
    /* a different classifier on the last rank */
    stream_of(&s, off(rank), off(rank + 1));
    if (rank == nranks - 1) {
        double W2[K * D];
        memcpy(W2, W, sizeof W2);
        W2[0] += 1.0;
        nc_stream_destroy(s);
        nc_stream_create(&s, D, K);
        nc_stream_set_classifier(s, W2, D, b);
    }
    nc_test_int(nc_mpi_stream_reduce(s, MPI_COMM_WORLD), NC_ERR_INVALID_VALUE,
                "streams of other classifiers");
    nc_test_int(nc_stream_num_samples(s), rank == nranks - 1 ? 0 : off(rank + 1) - off(rank),
                "a refused reduce changes nothing");
    nc_stream_destroy(s);
    /* no within-class scatter on rank 0 only: its state has other sizes */
    stream_of(&s, off(rank), off(rank + 1));
    if (rank == 0) nc_test_int(nc_stream_set_nc1_path(s, NC_NC1_PATH_NONE), NC_SUCCESS, "NONE");
    nc_test_int(nc_mpi_stream_reduce(s, MPI_COMM_WORLD), NC_ERR_INVALID_VALUE,
                "streams of other NC1 paths");
    nc_test_true(strstr(nc_stream_last_error(s), "the no-NC1 flag is 1 on rank 0 but 0 on rank 1") !=
                     NULL, nc_stream_last_error(s));
    nc_test_int(nc_stream_num_samples(s), off(rank + 1) - off(rank),
                "a reduce refused for the NC1 path changes nothing");
    nc_test_int(nc_stream_get_nc1_path(s), rank == 0 ? NC_NC1_PATH_NONE : NC_NC1_PATH_AUTO,
                "nor the path");
    nc_stream_destroy(s);
}

/* The last computes of a default handle and of one without NC1: NC1 from
 * the first only, every other metric with the same availability and bits. */
static void same_but_nc1(const nc_metrics *with, const nc_metrics *none)
{
    int k;
    for (k = 0; k < NC_METRIC_COUNT; k++) {
        double x = NAN, y = NAN;
        const nc_status sw = nc_metrics_get(with, (nc_metric)k, &x);
        const nc_status sn = nc_metrics_get(none, (nc_metric)k, &y);
        if (k == NC_METRIC_NC1) {
            nc_test_int(sw, NC_SUCCESS, "NC1 with the scatter");
            nc_test_int(sn, NC_ERR_UNAVAILABLE, "no NC1 without it");
            continue;
        }
        nc_test_int(sn, sw, nc_metric_name((nc_metric)k));
        if (sw == NC_SUCCESS)
            nc_test_true(memcmp(&x, &y, sizeof x) == 0, nc_metric_name((nc_metric)k));
    }
}

/* Streams without NC1's scatter on every rank (set after the samples of
 * pass 1): reduced, every metric but NC1 has the bits of the default
 * streams reduced alike. */
static void check_reduce_no_nc1(void)
{
    nc_stream *a = NULL, *n = NULL;
    nc_metrics *m1 = NULL, *m2 = NULL;
    int pass;
    stream_of(&a, off(rank), off(rank + 1));
    stream_of(&n, off(rank), off(rank + 1));
    nc_test_int(nc_stream_set_nc1_path(n, NC_NC1_PATH_NONE), NC_SUCCESS, "NONE after the samples");
    for (pass = 1; pass <= 2; pass++) {
        nc_test_int(nc_mpi_stream_reduce(a, MPI_COMM_WORLD), NC_SUCCESS, "reduce (AUTO)");
        nc_test_int(nc_mpi_stream_reduce(n, MPI_COMM_WORLD), NC_SUCCESS, "reduce (NONE)");
        if (pass == 2) break;
        nc_stream_next_pass(a);
        nc_stream_next_pass(n);
        nc_stream_add(a, off(rank + 1) - off(rank), H + off(rank) * D, D, labels + off(rank));
        nc_stream_add(n, off(rank + 1) - off(rank), H + off(rank) * D, D, labels + off(rank));
    }
    nc_test_int(nc_stream_get_nc1_path(n), NC_NC1_PATH_NONE, "the reduced stream is NONE");
    nc_metrics_create(&m1);
    nc_metrics_create(&m2);
    nc_test_int(nc_metrics_compute_stream(m1, a), NC_SUCCESS, "metrics (AUTO)");
    nc_test_int(nc_metrics_compute_stream(m2, n), NC_SUCCESS, "metrics (NONE)");
    same_but_nc1(m1, m2);
    nc_metrics_destroy(m1);
    nc_metrics_destroy(m2);
    nc_stream_destroy(a);
    nc_stream_destroy(n);
}

/* nc_mpi_metrics_compute of a shard model against nc_metrics_compute. */
static void check_model_metrics(void)
{
    size_t counts[K] = {0}, i, o, n;
    nc_model *m = NULL, *s = NULL;
    nc_metrics *a = NULL, *c = NULL;
    int k;
    for (i = 0; i < N; i++) counts[labels[i]]++;
    nc_model_create(&m, D, K, N, labels);
    nc_model_set_bias(m, 1);
    nc_model_set_H(m, H, D);
    nc_model_set_W(m, W, D);
    nc_model_set_b(m, b);
    nc_mpi_partition(MPI_COMM_WORLD, N, 1, &o, &n);
    nc_test_int(nc_mpi_model_create(&s, MPI_COMM_WORLD, D, K, n, labels + o, NULL, 0), NC_SUCCESS,
                "shard");
    nc_model_set_bias(s, 1);
    nc_model_set_H(s, H + o * D, D);
    nc_model_set_W(s, W, D);
    nc_model_set_b(s, b);
    nc_metrics_create(&a);
    nc_metrics_create(&c);
    nc_test_int(nc_mpi_metrics_compute(a, s), NC_SUCCESS, "nc_mpi_metrics_compute");
    nc_metrics_compute(c, m);
    for (k = 0; k < NC_METRIC_COUNT; k++) {
        double x = NAN, y = NAN;
        if (nc_metrics_get(c, (nc_metric)k, &y) != NC_SUCCESS) continue;
        nc_test_int(nc_metrics_get(a, (nc_metric)k, &x), NC_SUCCESS, nc_metric_name((nc_metric)k));
        nc_test_abs(x, y, 1e-12 * (fabs(y) + 1.0), nc_metric_name((nc_metric)k));
    }
    /* a handle without NC1: the same other bits as the default handle's */
    {
        nc_metrics *none = NULL;
        nc_metrics_create(&none);
        nc_test_int(nc_metrics_set_nc1_path(none, NC_NC1_PATH_NONE), NC_SUCCESS, "NONE handle");
        nc_test_int(nc_mpi_metrics_compute(none, s), NC_SUCCESS, "nc_mpi_metrics_compute (NONE)");
        same_but_nc1(a, none);
        nc_metrics_destroy(none);
    }
    nc_metrics_destroy(a);
    nc_metrics_destroy(c);
    nc_model_destroy(m);
    nc_model_destroy(s);
}

int main(int argc, char **argv)
{
    int code;
    size_t i;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    fill(H, D * N, 1.0);
    fill(W, K * D, 1.0);
    fill(b, K, 0.1);
    for (i = 0; i < N; i++) {
        labels[i] = (int32_t)(i % K);
        H[i * D + (size_t)labels[i]] += 2.0; /* class structure */
    }
    check_reduce();
    check_mismatch();
    check_reduce_no_nc1();
    check_model_metrics();
    code = nc_test_mpi_summary("test_mpi_metrics", MPI_COMM_WORLD);
    MPI_Finalize();
    return code;
}

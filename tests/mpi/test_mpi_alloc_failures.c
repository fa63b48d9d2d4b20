/*
 * test_mpi_alloc_failures.c - every allocation of the MPI and serial
 * libraries failed in turn on one rank.
 *
 * Built with tests/alloc_wrap.c and -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc against the static MPI and serial libraries (Makefile), so
 * that their allocations on this process go through the wrappers (MPI's
 * own do not). A scenario of the calls of a sharded run (nc_mpi_partition,
 * nc_mpi_model_create, nc_mpi_model_init_gaussian, first-order and L-BFGS
 * optimizers stepping and running on the shard, nc_mpi_metrics_compute, a
 * two-pass stream reduced with nc_mpi_stream_reduce and measured) is first
 * run counting each rank's allocations; then, for every rank r and every
 * allocation k of r, once with r's k-th allocation failing, the other
 * ranks allocating normally. Local calls are followed by nc_mpi_agree, as
 * docs/mpi.md asks. Every call must then return the same status on every
 * rank: success, or a failure code whose retry, without failures,
 * succeeds on every rank on the same handles. Success on a rank whose
 * allocation failed is counted as absorbed (a bad outcome: the scenario
 * has no call whose result may stay unchanged). A rank left waiting in a
 * collective would hang: an alarm ends the program after NC_MPI_ALLOC_TIMEOUT
 * seconds (default 120) with a message naming the rank and allocation.
 */
#define _POSIX_C_SOURCE 200809L
#include "mpi_harness.h"
#include "ncollapse_mpi.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void nc_test_fail_alloc(long k);
long nc_test_alloc_count(void);
int nc_test_alloc_failed(void);

enum { D = 4, K = 3, N = 24 };
static int rank, nranks;
static MPI_Comm comm;
static double H[D * N], W[K * D], b[K];
static int32_t labels[N];

static long refused_, absorbed_, disagreed_, bad_;
static char first_bad_[400];
static volatile sig_atomic_t fail_rank_ = -1;
static volatile long fail_k_ = 0;

static void bad(const char *what, const char *call, int line)
{
    if (!bad_)
        snprintf(first_bad_, sizeof first_bad_, "rank %d failing allocation %ld: line %d, %s: %s",
                 (int)fail_rank_, (long)fail_k_, line, call, what);
    if (bad_ < 10 && rank == 0) /* the first few, from one rank */
        fprintf(stderr, "bad: rank %d failing allocation %ld: line %d, %s: %s\n", (int)fail_rank_,
                (long)fail_k_, line, call, what);
    bad_++;
}

static void on_alarm(int sig)
{
    char msg[200];
    int n = snprintf(msg, sizeof msg,
                     "test_mpi_alloc_failures: rank %d: timeout with allocation %ld of rank %d "
                     "failing (a rank left in a collective)\n",
                     rank, (long)fail_k_, (int)fail_rank_);
    (void)sig;
    if (n > 0) {
        ssize_t w = write(2, msg, (size_t)n);
        (void)w;
    }
    _exit(3);
}

/* Whether this rank's injected failure happened since the last call. */
static int failed_before_;
static int failed_now(void)
{
    const int f = nc_test_alloc_failed();
    const int now = f && !failed_before_;
    failed_before_ = f;
    return now;
}

/* Run a call on every rank; its status must agree. On a failure, retry
 * it without failures: it must then succeed on every rank. */
#define CALL(expr)                                                                             \
    do {                                                                                       \
        nc_status st_ = (expr);                                                                \
        int in_[3], lo_[3], hi_[3];                                                            \
        in_[0] = (int)st_;                                                                     \
        in_[1] = failed_now();                                                                 \
        in_[2] = 0;                                                                            \
        MPI_Allreduce(in_, lo_, 3, MPI_INT, MPI_MIN, comm);                                    \
        MPI_Allreduce(in_, hi_, 3, MPI_INT, MPI_MAX, comm);                                    \
        if (lo_[0] != hi_[0]) {                                                                \
            disagreed_++;                                                                      \
            bad("the ranks returned different statuses", #expr, __LINE__);                    \
        }                                                                                      \
        if (lo_[0] < 0) {                                                                      \
            if (!hi_[1]) bad("failed without an injected failure", #expr, __LINE__);          \
            else if (strcmp(nc_status_name((nc_status)lo_[0]), "NC_UNKNOWN_STATUS") == 0)     \
                bad("unnamed status", #expr, __LINE__);                                       \
            else refused_++;                                                                   \
            in_[0] = (int)(expr);                                                              \
            failed_now();                                                                      \
            MPI_Allreduce(in_, lo_, 1, MPI_INT, MPI_MIN, comm);                                \
            if (lo_[0] < 0) bad("the retry failed", #expr, __LINE__);                          \
        } else if (hi_[1]) {                                                                   \
            absorbed_++;                                                                       \
            bad("an allocation failed and the call succeeded (absorbed)", #expr, __LINE__);   \
        }                                                                                      \
    } while (0)

static nc_status create_model(nc_model **m)
{
    size_t off = 0, n = 0;
    char msg[NC_MPI_MESSAGE_SIZE];
    nc_status st = nc_mpi_partition(comm, N, 1, &off, &n);
    if (st != NC_SUCCESS) return st;
    return nc_mpi_model_create(m, comm, D, K, n, labels + off, msg, sizeof msg);
}

/* Local creates, agreed: a rank whose create succeeded while another's
 * failed frees its handle (the retry creates it again). */
static nc_status agree_optimizer(nc_optimizer **o, nc_model *m, nc_algorithm alg)
{
    const nc_status st = nc_mpi_agree(comm, nc_optimizer_create(o, m, alg));
    if (st != NC_SUCCESS && *o) {
        nc_optimizer_destroy(*o);
        *o = NULL;
    }
    return st;
}

static nc_status agree_metrics(nc_metrics **met)
{
    const nc_status st = nc_mpi_agree(comm, nc_metrics_create(met));
    if (st != NC_SUCCESS && *met) {
        nc_metrics_destroy(*met);
        *met = NULL;
    }
    return st;
}

static nc_status agree_stream(nc_stream **s)
{
    const nc_status st = nc_mpi_agree(comm, nc_stream_create(s, D, K));
    if (st != NC_SUCCESS && *s) {
        nc_stream_destroy(*s);
        *s = NULL;
    }
    return st;
}

static nc_status stream_add(nc_stream *s)
{
    const size_t off = (size_t)rank * (N / (size_t)nranks);
    const size_t n = rank == nranks - 1 ? N - off : N / (size_t)nranks;
    return nc_stream_add(s, n, H + off * D, D, labels + off);
}

static void scenario(void)
{
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_metrics *met = NULL;
    nc_stream *s = NULL;
    const nc_algorithm algs[2] = {NC_OPT_LBFGS, NC_OPT_NESTEROV}; /* L-BFGS evaluates first */
    int a;
    CALL(create_model(&m));
    CALL(nc_mpi_agree(comm, nc_model_set_weight_decay(m, 5e-3, 5e-3, 0.0)));
    CALL(nc_mpi_model_init_gaussian(m, 0.3, 1));
    for (a = 0; a < 2; a++) {
        CALL(agree_optimizer(&o, m, algs[a]));
        CALL(nc_mpi_agree(comm, nc_optimizer_set_max_iterations(o, 3)));
        CALL(nc_optimizer_step(o));
        CALL(nc_optimizer_step(o));
        CALL(nc_optimizer_run(o));
        nc_optimizer_destroy(o);
        o = NULL;
    }
    CALL(agree_metrics(&met));
    CALL(nc_mpi_metrics_compute(met, m));
    CALL(agree_stream(&s));
    CALL(nc_mpi_agree(comm, nc_stream_set_classifier(s, W, D, b)));
    CALL(nc_mpi_agree(comm, stream_add(s)));
    CALL(nc_mpi_stream_reduce(s, comm));
    CALL(nc_mpi_agree(comm, nc_stream_next_pass(s)));
    CALL(nc_mpi_agree(comm, stream_add(s)));
    CALL(nc_mpi_stream_reduce(s, comm));
    CALL(nc_mpi_agree(comm, nc_metrics_compute_stream(met, s)));
    nc_stream_destroy(s);
    nc_metrics_destroy(met);
    nc_model_destroy(m); /* collective for a shard */
}

int main(int argc, char **argv)
{
    long count, most, k;
    int r, timeout = 120, provided;
    const char *t = getenv("NC_MPI_ALLOC_TIMEOUT");
    size_t i;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    comm = MPI_COMM_WORLD;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    if (t && atoi(t) > 0) timeout = atoi(t);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)timeout);
    for (i = 0; i < (size_t)N; i++) labels[i] = (int32_t)(i % K);
    for (i = 0; i < (size_t)(D * N); i++) H[i] = (double)((i * 37) % 11) / 11.0 - 0.4;
    for (i = 0; i < (size_t)(K * D); i++) W[i] = (double)((i * 13) % 7) / 7.0 - 0.5;
    for (i = 0; i < (size_t)K; i++) b[i] = 0.1 * (double)i;

    /* count each rank's allocations */
    nc_test_fail_alloc(0);
    failed_before_ = 0;
    scenario();
    count = nc_test_alloc_count();
    nc_test_fail_alloc(-1);
    nc_test_true(bad_ == 0, "the scenario runs without injected failures");
    nc_test_true(count > 20, "the scenario allocates");
    MPI_Allreduce(&count, &most, 1, MPI_LONG, MPI_MAX, comm);

    for (r = 0; r < nranks; r++) {
        long kr = count;
        MPI_Bcast(&kr, 1, MPI_LONG, r, comm); /* rank r's count */
        for (k = 1; k <= kr; k++) {
            fail_rank_ = r;
            fail_k_ = k;
            nc_test_fail_alloc(rank == r ? k : -1);
            failed_before_ = 0;
            scenario();
            if (rank == r && !nc_test_alloc_failed()) bad("allocation not reached", "scenario", __LINE__);
            nc_test_fail_alloc(-1);
        }
    }
    alarm(0);
    {
        long mine[4] = {refused_, absorbed_, disagreed_, bad_}, all[4];
        MPI_Allreduce(mine, all, 4, MPI_LONG, MPI_MAX, comm);
        if (rank == 0)
            printf("allocation points per rank: up to %ld; failed in turn on each rank: %ld calls "
                   "refused on every rank and retried successfully, %ld absorbed, %ld with ranks "
                   "disagreeing, %ld bad (largest over the ranks)\n",
                   most, all[0], all[1], all[2], all[3]);
        if (bad_) fprintf(stderr, "rank %d: first bad outcome: %s\n", rank, first_bad_);
        nc_test_int(bad_, 0, "every failure agreed on every rank, named, and its retry succeeds");
    }
    r = nc_test_mpi_summary("test_mpi_alloc_failures", comm);
    MPI_Finalize();
    return r;
}

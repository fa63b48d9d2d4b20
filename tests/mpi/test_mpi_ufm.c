/*
 * test_mpi_ufm.c - shard models against the serial library, on the ranks
 * of MPI_COMM_WORLD (run under mpirun -np 1, 2 and 3).
 *
 *  - the canonical partition (one part per rank): every first-order method
 *    gives, bit for bit, the serial library's iterates with as many threads
 *    as ranks, over every feature model, loss, depth and bias;
 *  - L-BFGS (projected for ReLU) on R ranks gives bit for bit the run of
 *    one rank with R threads on the same R parts and the serial library
 *    with R threads (its vector arithmetic is split at the same parts);
 *  - uneven shards and a rank holding a single class: the same problem to
 *    rounding; nc_mpi_model_init_gaussian draws the serial state;
 *  - errors: an empty shard, mismatched d and K, a bad label on one rank,
 *    all reported on every rank (the runs' recorder, check, escape and
 *    prediction on shards: test_mpi_run.c).
 */
#define NC_TEST_LCG_SEED 0x5eed0022ULL
#include "mpi_harness.h"
#include "../testutil.h"
#include "ncollapse_mpi.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int rank, nranks;

/* The problem: K = 4 classes of (22, 9, 6, 4) samples in class order, so
 * that on 2 or 3 ranks the first shard holds class 0 only. */
enum { D = 6, K = 4, N = 41 };
static const size_t counts[K] = {22, 9, 6, 4};

typedef struct {
    nc_algorithm alg;
    double momentum; /* GD: 0 or heavy ball */
    nc_features features;
    nc_loss loss;
    size_t depth;
    int bias;
    size_t steps;
} config;

static const char *alg_name(const config *c)
{
    switch (c->alg) {
    case NC_OPT_GD: return c->momentum > 0 ? "momentum" : "GD";
    case NC_OPT_NESTEROV: return "Nesterov";
    case NC_OPT_ADAM: return "Adam";
    default: return "L-BFGS";
    }
}

static void labels_of(int32_t *labels)
{
    size_t k, i, p = 0;
    for (k = 0; k < K; k++)
        for (i = 0; i < counts[k]; i++) labels[p++] = (int32_t)k;
}

/* Options and replicated state shared by the serial and the shard models. */
static nc_status setup(nc_model *m, const config *c)
{
    nc_status st;
    if ((st = nc_model_set_loss(m, c->loss)) != NC_SUCCESS) return st;
    if ((st = nc_model_set_weight_decay(m, 5e-3, 5e-3, 1e-3)) != NC_SUCCESS) return st;
    if ((st = nc_model_set_bias(m, c->bias)) != NC_SUCCESS) return st;
    if ((st = nc_model_set_depth(m, c->depth)) != NC_SUCCESS) return st;
    if (c->features == NC_FEATURES_RELU) {
        /* init_gaussian draws |N(0, s^2)| once the features are ReLU */
        if ((st = nc_model_set_features(m, NC_FEATURES_RELU)) != NC_SUCCESS) return st;
    }
    return NC_SUCCESS;
}

static nc_status optimizer_for(nc_optimizer **o, nc_model *m, const config *c)
{
    nc_status st = nc_optimizer_create(o, m, c->alg);
    if (st != NC_SUCCESS) return st;
    if (c->alg == NC_OPT_GD && c->momentum > 0) st = nc_optimizer_set_momentum(*o, c->momentum);
    if (st == NC_SUCCESS && c->alg != NC_OPT_LBFGS)
        st = nc_optimizer_set_block_learning_rate(*o, NC_BLOCK_FEATURES, 2.0);
    if (st == NC_SUCCESS) st = nc_optimizer_set_max_iterations(*o, c->steps);
    return st;
}

/* The variables of a model: W (K x d), b (K), hidden layers, and the
 * columns [c0, c0 + n) of H, gathered from the shards when sharded. */
typedef struct {
    double W[K * D], b[K], layers[4 * D * D];
    double H[D * N];
    double objective, gnorm;
    size_t iterations;
    nc_status status;
} state;

static void read_state(MPI_Comm comm, nc_model *m, nc_optimizer *o, nc_status st, state *s)
{
    size_t l;
    memset(s, 0, sizeof *s);
    nc_model_get_W(m, s->W, D);
    nc_model_get_b(m, s->b);
    for (l = 0; l + 1 < nc_model_get_depth(m); l++) nc_model_get_layer(m, l, s->layers + l * D * D, D);
    s->objective = nc_optimizer_objective(o);
    s->gnorm = nc_optimizer_gradient_norm(o);
    s->iterations = nc_optimizer_iterations(o);
    s->status = st;
    if (!nc_mpi_model_is_shard(m)) {
        nc_model_get_H(m, s->H, D);
    } else {
        /* every rank's columns, in rank order: the global H */
        int cnt = (int)(D * nc_model_num_samples(m)), *cnts = NULL, *disp = NULL, r, size;
        double *mine = (double *)xmalloc((size_t)cnt * sizeof(double));
        MPI_Comm_size(comm, &size);
        cnts = (int *)xmalloc((size_t)size * sizeof(int));
        disp = (int *)xmalloc((size_t)size * sizeof(int));
        nc_model_get_H(m, mine, D);
        MPI_Allgather(&cnt, 1, MPI_INT, cnts, 1, MPI_INT, comm);
        for (r = 0; r < size; r++) disp[r] = r ? disp[r - 1] + cnts[r - 1] : 0;
        MPI_Allgatherv(mine, cnt, MPI_DOUBLE, s->H, cnts, disp, MPI_DOUBLE, comm);
        free(mine);
        free(cnts);
        free(disp);
    }
}

/* The serial run with `threads` threads. */
static void run_serial(const config *c, size_t threads, state *s)
{
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_status st;
    if (nc_model_create_counts(&m, D, K, counts) != NC_SUCCESS || setup(m, c) != NC_SUCCESS ||
        nc_model_init_gaussian(m, 0.5, 7) != NC_SUCCESS ||
        nc_model_set_threads(m, threads) != NC_SUCCESS || optimizer_for(&o, m, c) != NC_SUCCESS) {
        nc_test_true(0, "serial setup");
        memset(s, 0, sizeof *s);
        return;
    }
    st = nc_optimizer_run(o);
    read_state(MPI_COMM_SELF, m, o, st, s);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

/* The sharded run: this rank holds samples [off, off + n), with `threads`
 * threads; the state from nc_mpi_model_init_gaussian. */
static void run_shard(MPI_Comm comm, const config *c, size_t off, size_t n, size_t threads,
                      state *s)
{
    int32_t labels[N];
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_status st;
    char msg[NC_MPI_MESSAGE_SIZE];
    labels_of(labels);
    st = nc_mpi_model_create(&m, comm, D, K, n, labels + off, msg, sizeof msg);
    nc_test_int(st, NC_SUCCESS, msg);
    if (st != NC_SUCCESS) {
        memset(s, 0, sizeof *s);
        return;
    }
    st = setup(m, c);
    if (st == NC_SUCCESS) st = nc_mpi_model_init_gaussian(m, 0.5, 7);
    if (st == NC_SUCCESS) st = nc_model_set_threads(m, threads);
    if (st == NC_SUCCESS) st = optimizer_for(&o, m, c);
    st = nc_mpi_agree(comm, st);
    nc_test_int(st, NC_SUCCESS, "shard setup");
    if (st == NC_SUCCESS) st = nc_optimizer_run(o);
    read_state(comm, m, o, st, s);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
}

static int same_bits(const state *a, const state *b)
{
    return memcmp(a->W, b->W, sizeof a->W) == 0 && memcmp(a->b, b->b, sizeof a->b) == 0 &&
           memcmp(a->layers, b->layers, sizeof a->layers) == 0 &&
           memcmp(a->H, b->H, sizeof a->H) == 0 &&
           memcmp(&a->objective, &b->objective, sizeof(double)) == 0 &&
           memcmp(&a->gnorm, &b->gnorm, sizeof(double)) == 0 && a->iterations == b->iterations &&
           a->status == b->status;
}

/* The largest relative difference of the variables (each block's norm). */
static double rel_diff(const state *a, const state *b)
{
    double e = rel_fro(a->W, b->W, K * D), t;
    if ((t = rel_fro(a->H, b->H, D * N)) > e) e = t;
    if ((t = rel_fro(a->b, b->b, K)) > e) e = t;
    if ((t = rel_fro(a->layers, b->layers, 4 * D * D)) > e) e = t;
    if ((t = fabs(a->objective - b->objective) / fabs(b->objective)) > e) e = t;
    return e;
}

static double worst_lbfgs = 0.0, worst_uneven = 0.0, worst_uneven_lbfgs = 0.0;

static void check_config(const config *c)
{
    size_t off, n;
    char what[200];
    state *ser = (state *)xmalloc(sizeof *ser), *sh = (state *)xmalloc(sizeof *sh);
    state *one = (state *)xmalloc(sizeof *one);
    snprintf(what, sizeof what, "%s, %s, loss %d, depth %zu, bias %d", alg_name(c),
             c->features == NC_FEATURES_RELU ? "ReLU" : "free", (int)c->loss, c->depth, c->bias);
    nc_test_int(nc_mpi_partition(MPI_COMM_WORLD, N, 1, &off, &n), NC_SUCCESS, "partition");
    run_serial(c, (size_t)nranks, ser);
    run_shard(MPI_COMM_WORLD, c, off, n, 1, sh);
    nc_test_true(sh->status >= 0 && sh->iterations > 0, what);
    /* the serial library with one thread per rank, bit for bit */
    nc_test_true(same_bits(sh, ser), what);
    if (c->alg == NC_OPT_LBFGS) {
        /* and one rank with R threads on the same parts */
        run_shard(MPI_COMM_SELF, c, 0, N, (size_t)nranks, one);
        nc_test_true(same_bits(sh, one), what);
        if (rel_diff(sh, ser) > worst_lbfgs) worst_lbfgs = rel_diff(sh, ser);
    }
    free(ser);
    free(sh);
    free(one);
}

static void check_optimizers(void)
{
    static const struct {
        nc_algorithm alg;
        double momentum;
    } algs[] = {{NC_OPT_GD, 0.0}, {NC_OPT_GD, 0.9}, {NC_OPT_NESTEROV, 0.0}, {NC_OPT_ADAM, 0.0},
                {NC_OPT_LBFGS, 0.0}};
    size_t a, f, depth, bias, i = 0;
    for (a = 0; a < sizeof algs / sizeof algs[0]; a++)
        for (f = 0; f < 2; f++)
            for (depth = 1; depth <= 2; depth++)
                for (bias = 0; bias < 2; bias++, i++) {
                    config c;
                    c.alg = algs[a].alg;
                    c.momentum = algs[a].momentum;
                    c.features = f ? NC_FEATURES_RELU : NC_FEATURES_FREE;
                    c.loss = (nc_loss)(i % 7); /* every loss, in turn */
                    c.depth = depth;
                    c.bias = (int)bias;
                    c.steps = c.alg == NC_OPT_LBFGS ? 30 : 100;
                    check_config(&c);
                }
}

/* Uneven shards (rank r holds 1 + 3 r samples, the last the rest) and the
 * first rank holding one class: the serial problem to rounding. */
static void check_uneven(void)
{
    static const nc_algorithm algs[] = {NC_OPT_GD, NC_OPT_ADAM, NC_OPT_LBFGS};
    size_t a, off = 0, n, r;
    for (r = 0; r < (size_t)rank; r++) off += 1 + 3 * r;
    n = rank == nranks - 1 ? N - off : 1 + 3 * (size_t)rank;
    for (a = 0; a < 3; a++) {
        config c;
        state *ser = (state *)xmalloc(sizeof *ser), *sh = (state *)xmalloc(sizeof *sh);
        c.alg = algs[a];
        c.momentum = 0.0;
        c.features = NC_FEATURES_FREE;
        c.loss = NC_LOSS_CE;
        c.depth = 1;
        c.bias = 1;
        c.steps = c.alg == NC_OPT_LBFGS ? 30 : 100;
        run_serial(&c, 1, ser);
        run_shard(MPI_COMM_WORLD, &c, off, n, 1, sh);
        if (c.alg == NC_OPT_LBFGS) {
            if (rel_diff(sh, ser) > worst_uneven_lbfgs) worst_uneven_lbfgs = rel_diff(sh, ser);
            nc_test_abs(rel_diff(sh, ser), 0.0, 1e-9, "uneven shards, L-BFGS");
        } else {
            if (rel_diff(sh, ser) > worst_uneven) worst_uneven = rel_diff(sh, ser);
            nc_test_abs(rel_diff(sh, ser), 0.0, 1e-13, "uneven shards, first-order");
        }
        free(ser);
        free(sh);
    }
}

/* The shard of a rank with one class: labels, counts and the gradient. */
static void check_single_class(void)
{
    int32_t labels[N];
    size_t off, n, k, got[K];
    nc_model *m = NULL, *s = NULL;
    double f_serial = 0, f_shard = 0;
    char msg[NC_MPI_MESSAGE_SIZE];
    labels_of(labels);
    nc_mpi_partition(MPI_COMM_WORLD, N, 1, &off, &n);
    nc_test_int(nc_mpi_model_create(&s, MPI_COMM_WORLD, D, K, n, labels + off, msg, sizeof msg),
                NC_SUCCESS, msg);
    if (!s) return;
    if (nranks > 1 && rank == 0) nc_test_true(labels[off] == labels[off + n - 1], "rank 0: one class");
    nc_model_get_class_counts(s, got);
    for (k = 0; k < K; k++) nc_test_int(got[k], counts[k], "global counts on a shard");
    nc_test_int(nc_mpi_model_total_samples(s), N, "total samples");
    nc_test_int(nc_mpi_model_offset(s), off, "offset");
    nc_test_int(nc_model_num_samples(s), n, "local samples");
    nc_model_create_counts(&m, D, K, counts);
    nc_model_set_loss(m, NC_LOSS_LOGIT_ADJUSTED); /* reads the global prior n_k / N */
    nc_model_set_loss(s, NC_LOSS_LOGIT_ADJUSTED);
    nc_model_init_gaussian(m, 0.3, 3);
    nc_mpi_model_init_gaussian(s, 0.3, 3);
    {
        double Hs[D * N], H[D * N];
        nc_model_get_H(s, Hs, D);
        nc_model_get_H(m, H, D);
        nc_test_true(memcmp(Hs, H + off * D, n * D * sizeof(double)) == 0,
                     "nc_mpi_model_init_gaussian draws the serial columns");
    }
    nc_model_objective(m, &f_serial);
    nc_model_objective(s, &f_shard);
    nc_test_rel(f_shard, f_serial, 1e-15, "objective of the shards");
    nc_test_int(nc_model_copy(&m, s), NC_ERR_UNSUPPORTED, "nc_model_copy refuses a shard");
    nc_model_destroy(m);
    nc_model_destroy(s);
}

static void check_errors(void)
{
    int32_t labels[N];
    nc_model *m = NULL;
    size_t off, n;
    nc_status st;
    char msg[NC_MPI_MESSAGE_SIZE];
    labels_of(labels);
    nc_mpi_partition(MPI_COMM_WORLD, N, 1, &off, &n);

    /* an empty shard: refused everywhere, and named */
    st = nc_mpi_model_create(&m, MPI_COMM_WORLD, D, K, rank == nranks - 1 ? 0 : n, labels + off,
                             msg, sizeof msg);
    nc_test_int(st, NC_ERR_INVALID_SIZE, "an empty shard is refused on every rank");
    nc_test_true(m == NULL && strstr(msg, "empty shard") != NULL, msg);
    if (nranks > 1) {
        /* d differs on the last rank */
        st = nc_mpi_model_create(&m, MPI_COMM_WORLD, rank == nranks - 1 ? D + 1 : D, K, n,
                                 labels + off, msg, sizeof msg);
        nc_test_int(st, NC_ERR_SIZE_MISMATCH, "mismatched d");
        nc_test_true(strstr(msg, "d = 6 on rank 0 but 7") != NULL, msg);
        st = nc_mpi_model_create(&m, MPI_COMM_WORLD, D, rank == 1 ? K + 1 : K, n, labels + off,
                                 msg, sizeof msg);
        nc_test_int(st, NC_ERR_SIZE_MISMATCH, "mismatched K");
        nc_test_true(strstr(msg, "K = 4 on rank 0 but 5 on rank 1") != NULL, msg);
    }
    {
        /* a label out of range on the last rank only */
        int32_t bad[N];
        memcpy(bad, labels, sizeof bad);
        if (rank == nranks - 1) bad[off + n - 1] = K;
        st = nc_mpi_model_create(&m, MPI_COMM_WORLD, D, K, n, bad + off, msg, sizeof msg);
        nc_test_int(st, NC_ERR_LABEL_OUT_OF_RANGE, "a bad label on one rank");
        nc_test_true(m == NULL, "no model");
    }
    /* a class absent from every shard */
    {
        int32_t three[N];
        size_t i;
        for (i = 0; i < N; i++) three[i] = (int32_t)(i % 3);
        st = nc_mpi_model_create(&m, MPI_COMM_WORLD, D, K, n, three + off, msg, sizeof msg);
        nc_test_int(st, NC_ERR_EMPTY_CLASS, "a class without samples");
        nc_test_true(strstr(msg, "class 3") != NULL, msg);
    }
    /* the worst status wins on every rank */
    nc_test_int(nc_mpi_agree(MPI_COMM_WORLD, rank == nranks - 1 ? NC_ERR_OUT_OF_MEMORY : NC_SUCCESS),
                NC_ERR_OUT_OF_MEMORY, "nc_mpi_agree");
    nc_test_int(nc_mpi_agree(MPI_COMM_WORLD, NC_SUCCESS), NC_SUCCESS, "nc_mpi_agree, all fine");
    /* partition: different N, fewer samples than parts */
    nc_test_int(nc_mpi_partition(MPI_COMM_WORLD, rank == 0 ? N : N + 1, 1, &off, &n),
                nranks > 1 ? NC_ERR_SIZE_MISMATCH : NC_SUCCESS, "partition of different N");
    nc_test_int(nc_mpi_partition(MPI_COMM_WORLD, (size_t)nranks - 1, 1, &off, &n),
                NC_ERR_INVALID_SIZE, "partition of fewer samples than parts");
    nc_model_destroy(m);
}

int main(int argc, char **argv)
{
    int code;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    check_errors();
    check_single_class();
    check_optimizers();
    check_uneven();
    if (rank == 0)
        printf("largest relative difference to the serial library: L-BFGS %.2g; uneven shards: "
               "first-order %.2g, L-BFGS %.2g\n", worst_lbfgs, worst_uneven, worst_uneven_lbfgs);
    code = nc_test_mpi_summary("test_mpi_ufm", MPI_COMM_WORLD);
    MPI_Finalize();
    return code;
}

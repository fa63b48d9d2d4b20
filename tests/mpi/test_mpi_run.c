/*
 * test_mpi_run.c - what nc_optimizer_run records and compares on shards,
 * and shard checkpoints, on the ranks of MPI_COMM_WORLD (run under mpirun
 * -np 1, 2 and 3).
 *
 *  - the metrics history of a run on shards (1 or 2 threads per rank): the
 *    same rows on every rank (bit for bit), the serial run's steps,
 *    objectives and gradient norms (bit for bit, as the iterates are) and
 *    the serial metrics to the rounding of the streamed metrics
 *    (nc_metrics_compute_stream against nc_metrics_compute), at every layer
 *    of a deep model;
 *  - the comparison with a prediction at the stop: the serial verdict and
 *    values; nc_prediction_compare at a common state: the serial values,
 *    bit for bit on one rank;
 *  - the second-order check on shards (the stop's check of a run and
 *    nc_curvature_compute): the serial point, dead classes, active bounds
 *    and objective, its extreme eigenvalues to 1e-6 of the largest, the
 *    same values on every rank;
 *  - the escape on shards (classes held at h = 0 by ReLU features, the
 *    deep linear model at W = H = 0): the serial escapes, stop and point,
 *    the serial objective to 1e-10 (the moves' decisions rest on reduced
 *    sums), the same on every rank;
 *  - checkpoints: save after S steps, load into fresh handles, S more steps:
 *    bit for bit the uninterrupted 2 S steps (GD with and without momentum,
 *    a step schedule, Nesterov at depth 2, Adam, L-BFGS, projected L-BFGS
 *    with ReLU features, uneven shards, 2 threads per rank); a different
 *    number of ranks, another shard, a missing file, files of two saves, a
 *    serial checkpoint are refused with the same status and message on
 *    every rank, nothing changed.
 */
#define _POSIX_C_SOURCE 200809L
#define NC_TEST_LCG_SEED 0x5eed0023ULL
#include "mpi_harness.h"
#include "../testutil.h"
#include "ncollapse_mpi.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rank, nranks;
static char dir[256];

/* K = 4 classes of (22, 9, 6, 4) samples in class order: on 2 or 3 ranks
 * the first shard holds class 0 only. */
enum { D = 6, K = 4, N = 41 };
static const size_t counts[K] = {22, 9, 6, 4};

static void labels_of(int32_t *labels)
{
    size_t k, i, p = 0;
    for (k = 0; k < K; k++)
        for (i = 0; i < counts[k]; i++) labels[p++] = (int32_t)k;
}

typedef struct {
    nc_algorithm alg;
    double momentum;
    nc_features features;
    nc_loss loss;
    size_t depth;
    int bias;
    size_t steps;
} config;

static nc_status setup(nc_model *m, const config *c)
{
    nc_status st;
    if ((st = nc_model_set_loss(m, c->loss)) != NC_SUCCESS) return st;
    if ((st = nc_model_set_weight_decay(m, 5e-3, 5e-3, 1e-3)) != NC_SUCCESS) return st;
    if ((st = nc_model_set_bias(m, c->bias)) != NC_SUCCESS) return st;
    if ((st = nc_model_set_depth(m, c->depth)) != NC_SUCCESS) return st;
    if (c->features == NC_FEATURES_RELU) st = nc_model_set_features(m, NC_FEATURES_RELU);
    return st;
}

static nc_status optimizer_for(nc_optimizer **o, nc_model *m, const config *c)
{
    nc_status st = nc_optimizer_create(o, m, c->alg);
    if (st != NC_SUCCESS) return st;
    if (c->alg == NC_OPT_GD && c->momentum > 0) {
        st = nc_optimizer_set_momentum(*o, c->momentum);
        if (st == NC_SUCCESS) st = nc_optimizer_set_schedule(*o, NC_SCHEDULE_STEP, 15, 0.5);
    }
    if (st == NC_SUCCESS && c->alg != NC_OPT_LBFGS)
        st = nc_optimizer_set_block_learning_rate(*o, NC_BLOCK_FEATURES, 2.0);
    if (st == NC_SUCCESS) st = nc_optimizer_set_max_iterations(*o, c->steps);
    return st;
}

/* A serial model of the problem (threads threads) with c's options. */
static nc_model *serial_model(const config *c, size_t threads, double std, uint64_t seed)
{
    nc_model *m = NULL;
    if (nc_model_create_counts(&m, D, K, counts) != NC_SUCCESS || setup(m, c) != NC_SUCCESS ||
        nc_model_init_gaussian(m, std, seed) != NC_SUCCESS ||
        nc_model_set_threads(m, threads) != NC_SUCCESS) {
        nc_test_true(0, "serial model");
        nc_model_destroy(m);
        return NULL;
    }
    return m;
}

/* This rank's shard [off, off + n) with c's options (NULL on failure, the
 * same on every rank). */
static nc_model *shard_model(const config *c, size_t off, size_t n, double std, uint64_t seed)
{
    int32_t labels[N];
    nc_model *m = NULL;
    char msg[NC_MPI_MESSAGE_SIZE];
    nc_status st;
    labels_of(labels);
    st = nc_mpi_model_create(&m, MPI_COMM_WORLD, D, K, n, labels + off, msg, sizeof msg);
    nc_test_int(st, NC_SUCCESS, msg);
    if (st != NC_SUCCESS) return NULL;
    st = setup(m, c);
    if (st == NC_SUCCESS) st = nc_mpi_model_init_gaussian(m, std, seed);
    if ((st = nc_mpi_agree(MPI_COMM_WORLD, st)) != NC_SUCCESS) {
        nc_test_int(st, NC_SUCCESS, "shard setup");
        nc_model_destroy(m);
        return NULL;
    }
    return m;
}

/* Whether every rank holds the same n bytes at p as rank 0. */
static int same_on_every_rank(const void *p, size_t n)
{
    unsigned char *root = (unsigned char *)xmalloc(n ? n : 1);
    int mine, all;
    memcpy(root, p, n);
    MPI_Bcast(root, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    mine = memcmp(root, p, n) == 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    free(root);
    return all;
}

/* The whole history: per row step, objective, gradient norm, then layers x
 * metrics values (NaN when unavailable). */
static double *history_values(const nc_history *h, size_t *len)
{
    const size_t rows = nc_history_rows(h), layers = nc_history_layers(h);
    const size_t per = 3 + layers * NC_METRIC_COUNT;
    double *v = (double *)xmalloc((rows * per + 1) * sizeof(double));
    size_t r, l, k, step;
    for (r = 0; r < rows; r++) {
        double *row = v + r * per;
        nc_history_get_row(h, r, &step, row + 1, row + 2);
        row[0] = (double)step;
        for (l = 0; l < layers; l++)
            for (k = 0; k < NC_METRIC_COUNT; k++)
                nc_history_get(h, r, l, (nc_metric)k, row + 3 + l * NC_METRIC_COUNT + k);
    }
    *len = rows * per;
    return v;
}

static double worst_metric = 0.0;

/* The history of a run on the shards of nc_mpi_partition, `threads`
 * threads per rank, against the serial run with as many parts. */
static void check_history(const config *c, size_t threads, const char *what)
{
    size_t off, n, ls, lh, i, per;
    nc_model *ms, *mh;
    nc_optimizer *os = NULL, *oh = NULL;
    nc_history *hs = NULL, *hh = NULL;
    nc_status ss, sh;
    double *vs, *vh;
    char text[300];
    nc_mpi_partition(MPI_COMM_WORLD, N, threads, &off, &n);
    ms = serial_model(c, threads * (size_t)nranks, 0.5, 7);
    mh = shard_model(c, off, n, 0.5, 7);
    if (!ms || !mh || nc_mpi_agree(MPI_COMM_WORLD, nc_model_set_threads(mh, threads)) != NC_SUCCESS)
        goto done;
    if (optimizer_for(&os, ms, c) != NC_SUCCESS || optimizer_for(&oh, mh, c) != NC_SUCCESS ||
        nc_history_create(&hs) != NC_SUCCESS || nc_history_create(&hh) != NC_SUCCESS) {
        nc_test_true(0, "history setup");
        goto done;
    }
    nc_optimizer_set_recorder(os, hs, 7);
    nc_optimizer_set_recorder(oh, hh, 7);
    ss = nc_optimizer_run(os);
    sh = nc_optimizer_run(oh);
    snprintf(text, sizeof text, "%s: run with a history on shards (%s)", what,
             nc_optimizer_last_error(oh));
    nc_test_int(sh, ss, text);
    nc_test_true(nc_history_rows(hh) == nc_history_rows(hs) && nc_history_rows(hh) > 2 &&
                     nc_history_layers(hh) == c->depth && nc_history_layers(hs) == c->depth,
                 "the serial rows and layers");
    vs = history_values(hs, &ls);
    vh = history_values(hh, &lh);
    snprintf(text, sizeof text, "%s: the same history on every rank", what);
    nc_test_true(same_on_every_rank(vh, lh * sizeof(double)), text);
    per = 3 + c->depth * NC_METRIC_COUNT;
    if (ls == lh) {
        int steps_ok = 1, avail_ok = 1, exact_ok = 1;
        double worst = 0.0;
        for (i = 0; i < lh; i++) {
            const size_t col = i % per;
            if (col == 0) {
                steps_ok &= vs[i] == vh[i];
            } else if (col < 3) {
                exact_ok &= memcmp(&vs[i], &vh[i], sizeof(double)) == 0;
            } else if (isnan(vs[i]) || isnan(vh[i])) {
                avail_ok &= isnan(vs[i]) && isnan(vh[i]);
            } else {
                /* relative, or absolute on the scale 1 of the metrics for
                 * values that vanish (NC2, NC3 distances near collapse) */
                const double e = fabs(vh[i] - vs[i]) / (fabs(vs[i]) > 1.0 ? fabs(vs[i]) : 1.0);
                if (e > worst) worst = e;
            }
        }
        if (worst > worst_metric) worst_metric = worst;
        snprintf(text, sizeof text, "%s: the serial steps", what);
        nc_test_true(steps_ok, text);
        snprintf(text, sizeof text, "%s: the serial objectives and gradient norms, bit for bit",
                 what);
        nc_test_true(exact_ok, text);
        snprintf(text, sizeof text, "%s: the same metrics available", what);
        nc_test_true(avail_ok, text);
        snprintf(text, sizeof text, "%s: the serial metrics (worst %.3g)", what, worst);
        nc_test_true(worst <= 1e-11, text);
    }
    free(vs);
    free(vh);
done:
    nc_history_destroy(hs);
    nc_history_destroy(hh);
    nc_optimizer_destroy(os);
    nc_optimizer_destroy(oh);
    nc_model_destroy(ms);
    nc_model_destroy(mh);
}

static void check_histories(void)
{
    config c;
    memset(&c, 0, sizeof c);
    c.alg = NC_OPT_GD, c.momentum = 0.9, c.loss = NC_LOSS_CE, c.depth = 1, c.bias = 1, c.steps = 60;
    check_history(&c, 1, "momentum, CE, bias");
    check_history(&c, 2, "momentum, CE, bias, 2 threads per rank");
    c.alg = NC_OPT_ADAM, c.momentum = 0.0, c.loss = NC_LOSS_MSE, c.depth = 2, c.bias = 0;
    check_history(&c, 1, "Adam, MSE, depth 2");
    c.alg = NC_OPT_NESTEROV, c.features = NC_FEATURES_RELU, c.loss = NC_LOSS_LABEL_SMOOTHING,
    c.depth = 3, c.bias = 1;
    check_history(&c, 1, "Nesterov, ReLU, label smoothing, depth 3");
    c.alg = NC_OPT_LBFGS, c.features = NC_FEATURES_FREE, c.loss = NC_LOSS_CE, c.depth = 2,
    c.bias = 1, c.steps = 30;
    check_history(&c, 1, "L-BFGS, CE, depth 2");
    check_history(&c, 2, "L-BFGS, CE, depth 2, 2 threads per rank");
    c.features = NC_FEATURES_RELU, c.loss = NC_LOSS_WEIGHTED_CE, c.depth = 1;
    check_history(&c, 1, "projected L-BFGS, ReLU, weighted CE");
}

/* The comparison with a prediction: at the stop of a run, and directly at
 * the initial state. */
static void check_prediction(const config *c, const char *what)
{
    size_t off, n;
    nc_model *ms, *mh;
    nc_optimizer *os = NULL, *oh = NULL;
    nc_prediction *ps = NULL, *ph = NULL;
    double vs[NC_COMPARE_COUNT], vh[NC_COMPARE_COUNT];
    nc_verdict ds = NC_VERDICT_OPTIMUM, dh = NC_VERDICT_OPTIMUM;
    char text[300];
    int k;
    nc_mpi_partition(MPI_COMM_WORLD, N, 1, &off, &n);
    ms = serial_model(c, (size_t)nranks, 0.5, 11);
    mh = shard_model(c, off, n, 0.5, 11);
    if (!ms || !mh) goto done;
    snprintf(text, sizeof text, "%s: a prediction of the shard model", what);
    nc_test_int(nc_prediction_create_from_model(&ps, ms), NC_SUCCESS, "serial prediction");
    nc_test_int(nc_prediction_create_from_model(&ph, mh), NC_SUCCESS, text);
    if (!ps || !ph) goto done;
    /* at the initial state: the serial values (the same bits on one rank) */
    nc_test_int(nc_prediction_compare(ph, mh, 1e-6, vh, &dh), NC_SUCCESS, "compare on shards");
    nc_test_int(nc_prediction_compare(ps, ms, 1e-6, vs, &ds), NC_SUCCESS, "compare serial");
    nc_test_true(same_on_every_rank(vh, sizeof vh), "the same comparison on every rank");
    nc_test_int(dh, ds, "the serial verdict at the initial state");
    for (k = 0; k < NC_COMPARE_COUNT; k++) {
        snprintf(text, sizeof text, "%s: compare value %d at the initial state", what, k);
        if (nranks == 1)
            nc_test_true(memcmp(&vh[k], &vs[k], sizeof(double)) == 0, text);
        else
            nc_test_abs(vh[k], vs[k], 1e-13 * (fabs(vs[k]) > 1 ? fabs(vs[k]) : 1.0), text);
    }
    /* at the stop of a run */
    if (optimizer_for(&os, ms, c) != NC_SUCCESS || optimizer_for(&oh, mh, c) != NC_SUCCESS) {
        nc_test_true(0, "prediction setup");
        goto done;
    }
    nc_optimizer_set_prediction(os, ps);
    nc_optimizer_set_prediction(oh, ph);
    nc_test_int(nc_optimizer_run(oh), nc_optimizer_run(os), "the run's stop");
    nc_test_int(nc_optimizer_stop_verdict(oh, &dh, vh), NC_SUCCESS, nc_optimizer_last_error(oh));
    nc_test_int(nc_optimizer_stop_verdict(os, &ds, vs), NC_SUCCESS, "serial verdict");
    snprintf(text, sizeof text, "%s: the serial verdict at the stop", what);
    nc_test_int(dh, ds, text);
    nc_test_true(strstr(nc_optimizer_stop_info(oh), "against the prediction") != NULL,
                 nc_optimizer_stop_info(oh));
    nc_test_true(same_on_every_rank(vh, sizeof vh), "the same verdict values on every rank");
    for (k = 0; k < NC_COMPARE_COUNT; k++) {
        snprintf(text, sizeof text, "%s: compare value %d at the stop", what, k);
        if (nranks == 1)
            nc_test_true(memcmp(&vh[k], &vs[k], sizeof(double)) == 0, text);
        else
            nc_test_abs(vh[k], vs[k], 1e-13 * (fabs(vs[k]) > 1 ? fabs(vs[k]) : 1.0), text);
    }
done:
    nc_prediction_destroy(ps);
    nc_prediction_destroy(ph);
    nc_optimizer_destroy(os);
    nc_optimizer_destroy(oh);
    nc_model_destroy(ms);
    nc_model_destroy(mh);
}

static void check_predictions(void)
{
    config c;
    memset(&c, 0, sizeof c);
    c.alg = NC_OPT_GD, c.loss = NC_LOSS_CE, c.depth = 1, c.steps = 200;
    check_prediction(&c, "GD, CE");
    c.alg = NC_OPT_LBFGS, c.loss = NC_LOSS_MSE, c.depth = 2, c.steps = 60;
    check_prediction(&c, "L-BFGS, MSE, depth 2");
}

/* The second-order check on shards: the stop's check of a run and
 * nc_curvature_compute at the stop, against the serial ones (threads per
 * rank as parts); the values the same on every rank. */
static double worst_curv = 0.0;

static void check_curvature(const config *c, double std, const char *what)
{
    size_t off, n, k;
    nc_model *ms, *mh;
    nc_optimizer *os = NULL, *oh = NULL;
    nc_curvature *cs = NULL, *ch = NULL;
    nc_status ss, sh;
    char text[300];
    nc_mpi_partition(MPI_COMM_WORLD, N, 1, &off, &n);
    ms = serial_model(c, (size_t)nranks, std, 13);
    mh = shard_model(c, off, n, std, 13);
    if (!ms || !mh || optimizer_for(&os, ms, c) != NC_SUCCESS ||
        optimizer_for(&oh, mh, c) != NC_SUCCESS) {
        nc_test_true(0, "check setup");
        goto done;
    }
    nc_optimizer_set_gradient_tolerance(os, 1e-7);
    nc_optimizer_set_gradient_tolerance(oh, 1e-7);
    nc_optimizer_set_check(os, 1);
    nc_optimizer_set_check(oh, 1);
    ss = nc_optimizer_run(os);
    sh = nc_optimizer_run(oh);
    snprintf(text, sizeof text, "%s: the run's stop with the check (%s)", what,
             nc_optimizer_last_error(oh));
    nc_test_int(sh, ss, text);
    snprintf(text, sizeof text, "%s: the stop's point (serial %s)", what,
             nc_point_name(nc_optimizer_stop_point(os)));
    nc_test_int(nc_optimizer_stop_point(oh), nc_optimizer_stop_point(os), text);
    if (ss == NC_STOP_GRADIENT_TOLERANCE)
        nc_test_true(strstr(nc_optimizer_stop_info(oh), "second-order check") != NULL,
                     nc_optimizer_stop_info(oh));
    /* nc_curvature at the stop */
    nc_test_int(nc_curvature_create(&cs, ms), NC_SUCCESS, "serial curvature");
    nc_test_int(nc_curvature_create(&ch, mh), NC_SUCCESS, "curvature of a shard");
    if (!cs || !ch) goto done;
    nc_curvature_set_tolerances(cs, 1e-6, 1e-6); /* the run's check: 10 x its gtol */
    nc_curvature_set_tolerances(ch, 1e-6, 1e-6);
    nc_test_int(nc_curvature_compute(ch), nc_curvature_compute(cs), nc_curvature_last_error(ch));
    {
        double vs[7], vh[7], scale;
        size_t ds[K], dh[K], nds, ndh;
        vs[0] = nc_curvature_min_eigenvalue(cs), vh[0] = nc_curvature_min_eigenvalue(ch);
        vs[1] = nc_curvature_max_eigenvalue(cs), vh[1] = nc_curvature_max_eigenvalue(ch);
        vs[2] = nc_curvature_gradient_norm(cs), vh[2] = nc_curvature_gradient_norm(ch);
        vs[3] = nc_curvature_objective(cs), vh[3] = nc_curvature_objective(ch);
        vs[4] = nc_curvature_residual(cs), vh[4] = nc_curvature_residual(ch);
        vs[5] = nc_curvature_min_multiplier(cs), vh[5] = nc_curvature_min_multiplier(ch);
        vs[6] = (double)nc_curvature_active_bounds(cs), vh[6] = (double)nc_curvature_active_bounds(ch);
        nc_test_true(same_on_every_rank(vh, sizeof vh), "the same curvature on every rank");
        snprintf(text, sizeof text, "%s: the serial point (%s)", what,
                 nc_point_name(nc_curvature_point(cs)));
        nc_test_int(nc_curvature_point(ch), nc_curvature_point(cs), text);
        nds = nc_curvature_dead_classes(cs, ds);
        ndh = nc_curvature_dead_classes(ch, dh);
        nc_test_true(nds == ndh && memcmp(ds, dh, nds * sizeof(size_t)) == 0,
                     "the serial dead classes");
        nc_test_true(vs[6] == vh[6], "the serial active bounds");
        nc_test_true(memcmp(&vs[3], &vh[3], sizeof(double)) == 0, "the serial objective, bit for bit");
        /* the Hessian's extreme eigenvalues on the scale of the largest */
        scale = fabs(vs[0]) > fabs(vs[1]) ? fabs(vs[0]) : fabs(vs[1]);
        for (k = 0; k < 2; k++) {
            const double e = fabs(vh[k] - vs[k]) / scale;
            if (e > worst_curv) worst_curv = e;
            snprintf(text, sizeof text, "%s: eigenvalue %zu (%.6g, serial %.6g)", what, k, vh[k],
                     vs[k]);
            nc_test_true(e <= 1e-6, text);
        }
        snprintf(text, sizeof text, "%s: gradient norm (%.3g, serial %.3g)", what, vh[2], vs[2]);
        nc_test_true(fabs(vh[2] - vs[2]) <= 1e-12 * (fabs(vs[2]) > 1e-3 ? fabs(vs[2]) : 1e-3), text);
        nc_test_true((isnan(vs[5]) && isnan(vh[5])) || vs[5] == vh[5], "the serial least multiplier");
    }
done:
    nc_curvature_destroy(cs);
    nc_curvature_destroy(ch);
    nc_optimizer_destroy(os);
    nc_optimizer_destroy(oh);
    nc_model_destroy(ms);
    nc_model_destroy(mh);
}

static void check_curvatures(void)
{
    config c;
    memset(&c, 0, sizeof c);
    c.alg = NC_OPT_LBFGS, c.loss = NC_LOSS_CE, c.depth = 1, c.bias = 1, c.steps = 400;
    check_curvature(&c, 0.5, "L-BFGS, CE, bias");
    c.features = NC_FEATURES_RELU, c.bias = 0;
    check_curvature(&c, 1e-3, "projected L-BFGS, ReLU, from N(0, 1e-6)");
    c.features = NC_FEATURES_FREE, c.loss = NC_LOSS_MSE, c.depth = 2, c.steps = 200;
    check_curvature(&c, 1e-3, "L-BFGS, MSE, depth 2, from N(0, 1e-6)");
}

/* The escape on shards: a projected L-BFGS run that stops with classes
 * held at h = 0, escaping up to twice, against the serial run. */
static double worst_escape = 0.0;

static void check_escape(const config *c, double std, const char *what)
{
    size_t off, n;
    nc_model *ms, *mh;
    nc_optimizer *os = NULL, *oh = NULL;
    nc_status ss, sh;
    double fs, fh, e;
    char text[400];
    nc_mpi_partition(MPI_COMM_WORLD, N, 1, &off, &n);
    ms = serial_model(c, (size_t)nranks, std, 13);
    mh = shard_model(c, off, n, std, 13);
    if (!ms || !mh || optimizer_for(&os, ms, c) != NC_SUCCESS ||
        optimizer_for(&oh, mh, c) != NC_SUCCESS) {
        nc_test_true(0, "escape setup");
        goto done;
    }
    nc_optimizer_set_gradient_tolerance(os, 1e-7);
    nc_optimizer_set_gradient_tolerance(oh, 1e-7);
    nc_optimizer_set_escape(os, 2);
    nc_optimizer_set_escape(oh, 2);
    ss = nc_optimizer_run(os);
    sh = nc_optimizer_run(oh);
    snprintf(text, sizeof text, "%s: the run's stop with escapes (%s)", what,
             nc_optimizer_last_error(oh));
    nc_test_int(sh, ss, text);
    snprintf(text, sizeof text, "%s: the serial number of escapes (%zu)", what,
             nc_optimizer_escapes(os));
    nc_test_int(nc_optimizer_escapes(oh), nc_optimizer_escapes(os), text);
    nc_test_true(nc_optimizer_escapes(os) > 0, "the serial run escaped");
    nc_test_int(nc_optimizer_stop_point(oh), nc_optimizer_stop_point(os), "the final point");
    fs = nc_optimizer_objective(os);
    fh = nc_optimizer_objective(oh);
    nc_test_true(same_on_every_rank(&fh, sizeof fh), "the same objective on every rank");
    e = fabs(fh - fs) / fabs(fs);
    if (e > worst_escape) worst_escape = e;
    snprintf(text, sizeof text, "%s: the serial objective after the escapes (%.12g, serial %.12g)",
             what, fh, fs);
    nc_test_true(e <= 1e-10, text);
done:
    nc_optimizer_destroy(os);
    nc_optimizer_destroy(oh);
    nc_model_destroy(ms);
    nc_model_destroy(mh);
}

static void check_escapes(void)
{
    config c;
    memset(&c, 0, sizeof c);
    c.alg = NC_OPT_LBFGS, c.features = NC_FEATURES_RELU, c.loss = NC_LOSS_CE, c.depth = 1,
    c.steps = 600;
    check_escape(&c, 1e-3, "projected L-BFGS, ReLU, from N(0, 1e-6)");
    c.features = NC_FEATURES_FREE, c.loss = NC_LOSS_MSE, c.depth = 2, c.steps = 400;
    check_escape(&c, 1e-3, "L-BFGS, MSE, depth 2, from N(0, 1e-6)");
}

/* ---- checkpoints ------------------------------------------------------------ */

/* Every rank's variables and the counters, gathered: the global state. */
typedef struct {
    double x[2 * (3 * D * D + D * K + K) + D * N];
    size_t nx, iterations;
    double objective, gnorm;
} snap;

static void take(nc_model *m, nc_optimizer *o, snap *s)
{
    const int cnt = (int)nc_model_num_variables(m);
    int *cnts = (int *)xmalloc((size_t)nranks * sizeof(int)), *disp = (int *)xmalloc((size_t)nranks * sizeof(int)), r;
    double *mine = (double *)xmalloc((size_t)cnt * sizeof(double));
    memset(s, 0, sizeof *s);
    nc_model_get_variables(m, mine);
    MPI_Allgather(&cnt, 1, MPI_INT, cnts, 1, MPI_INT, MPI_COMM_WORLD);
    for (r = 0; r < nranks; r++) disp[r] = r ? disp[r - 1] + cnts[r - 1] : 0;
    s->nx = (size_t)(disp[nranks - 1] + cnts[nranks - 1]);
    if (s->nx <= sizeof s->x / sizeof s->x[0])
        MPI_Allgatherv(mine, cnt, MPI_DOUBLE, s->x, cnts, disp, MPI_DOUBLE, MPI_COMM_WORLD);
    s->iterations = nc_optimizer_iterations(o);
    s->objective = nc_optimizer_objective(o);
    s->gnorm = nc_optimizer_gradient_norm(o);
    free(mine);
    free(cnts);
    free(disp);
}

static int same_snap(const snap *a, const snap *b)
{
    return a->nx == b->nx && memcmp(a->x, b->x, a->nx * sizeof(double)) == 0 &&
           a->iterations == b->iterations &&
           memcmp(&a->objective, &b->objective, sizeof(double)) == 0 &&
           memcmp(&a->gnorm, &b->gnorm, sizeof(double)) == 0;
}

static void steps(nc_optimizer *o, size_t s)
{
    size_t t;
    for (t = 0; t < s; t++) nc_optimizer_step(o);
}

/* Save after S steps, resume in fresh handles, S more: the uninterrupted
 * 2 S steps, bit for bit; shards [off, off + n). */
static void check_resume(const config *c, size_t off, size_t n, size_t threads, const char *what)
{
    char path[300], text[300];
    const size_t S = c->steps;
    nc_model *a = shard_model(c, off, n, 0.5, 21), *b = shard_model(c, off, n, 0.5, 21), *f = NULL;
    nc_optimizer *oa = NULL, *ob = NULL, *of = NULL;
    config plain;
    snap *sa = (snap *)xmalloc(sizeof *sa), *sf = (snap *)xmalloc(sizeof *sf);
    nc_status st;
    snprintf(path, sizeof path, "%s/resume", dir);
    if (!a || !b || nc_model_set_threads(a, threads) != NC_SUCCESS ||
        nc_model_set_threads(b, threads) != NC_SUCCESS || optimizer_for(&oa, a, c) != NC_SUCCESS ||
        optimizer_for(&ob, b, c) != NC_SUCCESS) {
        nc_test_true(0, "resume setup");
        goto done;
    }
    steps(oa, 2 * S);
    steps(ob, S);
    st = nc_mpi_checkpoint_save(path, b, ob);
    snprintf(text, sizeof text, "%s: save (%s)", what, nc_model_last_error(b));
    nc_test_int(st, NC_SUCCESS, text);
    /* fresh handles: another initial state, default options, the same
     * shard, depth and algorithm; everything else comes from the files */
    memset(&plain, 0, sizeof plain);
    plain.alg = c->alg, plain.loss = NC_LOSS_CE, plain.depth = c->depth, plain.steps = 1;
    f = shard_model(&plain, off, n, 2.0, 5);
    if (!f || nc_model_set_threads(f, threads) != NC_SUCCESS ||
        nc_optimizer_create(&of, f, c->alg) != NC_SUCCESS) {
        nc_test_true(0, "fresh handles");
        goto done;
    }
    st = nc_mpi_checkpoint_load(path, f, of);
    snprintf(text, sizeof text, "%s: load (%s)", what, nc_model_last_error(f));
    nc_test_int(st, NC_SUCCESS, text);
    nc_test_int(nc_optimizer_iterations(of), S, "the step counter restored");
    nc_test_true(nc_model_get_features(f) == c->features && nc_model_get_bias(f) == c->bias &&
                     nc_model_get_loss(f) == c->loss,
                 "the options restored");
    steps(of, S);
    take(a, oa, sa);
    take(f, of, sf);
    snprintf(text, sizeof text, "%s: resumed %zu + %zu steps bit-identical to %zu", what, S, S,
             2 * S);
    nc_test_true(sa->nx > 0 && same_snap(sa, sf), text);
done:
    nc_optimizer_destroy(oa);
    nc_optimizer_destroy(ob);
    nc_optimizer_destroy(of);
    nc_model_destroy(a);
    nc_model_destroy(b);
    nc_model_destroy(f);
    free(sa);
    free(sf);
    if (rank == 0) {
        /* files of every rank count this run may have written */
        int r;
        for (r = 0; r < nranks; r++) {
            snprintf(path, sizeof path, "%s/resume.rank%d", dir, r);
            unlink(path);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void check_resumes(void)
{
    config c;
    size_t off, n, r;
    nc_mpi_partition(MPI_COMM_WORLD, N, 1, &off, &n);
    memset(&c, 0, sizeof c);
    c.alg = NC_OPT_GD, c.momentum = 0.9, c.loss = NC_LOSS_CE, c.depth = 1, c.bias = 1, c.steps = 25;
    check_resume(&c, off, n, 1, "GD, momentum, step schedule");
    c.alg = NC_OPT_NESTEROV, c.momentum = 0.0, c.loss = NC_LOSS_FOCAL, c.depth = 2, c.bias = 0;
    check_resume(&c, off, n, 1, "Nesterov, focal, depth 2");
    c.alg = NC_OPT_ADAM, c.loss = NC_LOSS_MSE, c.depth = 1, c.bias = 1;
    check_resume(&c, off, n, 1, "Adam, MSE");
    c.alg = NC_OPT_LBFGS, c.loss = NC_LOSS_CE, c.depth = 2, c.bias = 1, c.steps = 12;
    check_resume(&c, off, n, 1, "L-BFGS, depth 2");
    c.features = NC_FEATURES_RELU, c.depth = 1, c.bias = 0;
    check_resume(&c, off, n, 1, "projected L-BFGS, ReLU");
    nc_mpi_partition(MPI_COMM_WORLD, N, 2, &off, &n);
    check_resume(&c, off, n, 2, "projected L-BFGS, ReLU, 2 threads per rank");
    c.alg = NC_OPT_GD, c.momentum = 0.0, c.features = NC_FEATURES_FREE, c.loss = NC_LOSS_DOT_REGRESSION,
    c.steps = 25;
    check_resume(&c, off, n, 2, "GD, dot-regression, 2 threads per rank");
    /* uneven shards: rank r holds 1 + 3 r samples, the last the rest */
    for (off = 0, r = 0; r < (size_t)rank; r++) off += 1 + 3 * r;
    n = rank == nranks - 1 ? N - off : 1 + 3 * (size_t)rank;
    c.alg = NC_OPT_ADAM, c.features = NC_FEATURES_FREE, c.steps = 25;
    check_resume(&c, off, n, 1, "Adam, uneven shards");
}

/* The status of a refused load, the same on every rank, with the message
 * naming `needle`; the model and optimizer unchanged. */
static void expect_refused(const char *path, nc_model *m, nc_optimizer *o, nc_status want,
                           const char *needle, const char *what)
{
    const size_t nv = nc_model_num_variables(m);
    double *before = (double *)xmalloc(nv * sizeof(double)), *after = (double *)xmalloc(nv * sizeof(double));
    const size_t it = nc_optimizer_iterations(o);
    char text[400];
    nc_status st;
    int code;
    nc_model_get_variables(m, before);
    st = nc_mpi_checkpoint_load(path, m, o);
    snprintf(text, sizeof text, "%s: %s", what, nc_model_last_error(m));
    nc_test_int(st, want, text);
    code = (int)st;
    nc_test_true(same_on_every_rank(&code, sizeof code), "the same status on every rank");
    nc_test_true(same_on_every_rank(nc_model_last_error(m), strlen(nc_model_last_error(m)) + 1),
                 "the same message on every rank");
    nc_test_true(strstr(nc_model_last_error(m), needle) != NULL, text);
    nc_model_get_variables(m, after);
    nc_test_true(memcmp(before, after, nv * sizeof(double)) == 0 &&
                     nc_optimizer_iterations(o) == it,
                 "nothing changed");
    free(before);
    free(after);
}

static void check_refusals(void)
{
    config c;
    size_t off, n, r;
    char path[300], other[300], serial[300], file[340];
    nc_model *m, *u = NULL;
    nc_optimizer *o = NULL, *ou = NULL;
    nc_status st;
    memset(&c, 0, sizeof c);
    c.alg = NC_OPT_ADAM, c.loss = NC_LOSS_CE, c.depth = 1, c.steps = 3;
    snprintf(path, sizeof path, "%s/ck", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    snprintf(serial, sizeof serial, "%s/serial", dir);
    nc_mpi_partition(MPI_COMM_WORLD, N, 1, &off, &n);
    if (!(m = shard_model(&c, off, n, 0.5, 9)) || optimizer_for(&o, m, &c) != NC_SUCCESS) {
        nc_test_true(0, "refusal setup");
        nc_model_destroy(m);
        return;
    }
    steps(o, 3);
    nc_test_int(nc_mpi_checkpoint_save(path, m, o), NC_SUCCESS, "save");
    steps(o, 2);
    nc_test_int(nc_mpi_checkpoint_save(other, m, o), NC_SUCCESS, "another save");
    /* a shard's file refused by nc_checkpoint_load, and serial checkpoints
     * (one per rank, under the shards' names) by nc_mpi_checkpoint_load */
    snprintf(file, sizeof file, "%s.rank%d", path, rank);
    nc_test_int(nc_checkpoint_load(file, m, o), NC_ERR_MISMATCH,
                "nc_checkpoint_load refuses a shard's file");
    nc_test_true(strstr(nc_model_last_error(m), "nc_mpi_checkpoint_load") != NULL,
                 nc_model_last_error(m));
    snprintf(file, sizeof file, "%s.rank%d", serial, rank);
    nc_test_int(nc_checkpoint_save(file, m, o), NC_SUCCESS, "a serial save of a shard");
    MPI_Barrier(MPI_COMM_WORLD);
    expect_refused(serial, m, o, NC_ERR_MISMATCH, "rank 0: checkpoint:", "a serial checkpoint");
    nc_test_true(strstr(nc_model_last_error(m), "not a shard's checkpoint") != NULL,
                 nc_model_last_error(m));
    /* nothing changed above: the saved state loads */
    nc_test_int(nc_mpi_checkpoint_load(path, m, o), NC_SUCCESS, "a valid load");
    nc_test_int(nc_optimizer_iterations(o), 3, "its step counter");
    /* another shard of the same problem: uneven shards */
    for (off = 0, r = 0; r < (size_t)rank; r++) off += 1 + 3 * r;
    n = rank == nranks - 1 ? N - off : 1 + 3 * (size_t)rank;
    u = shard_model(&c, off, n, 0.5, 9);
    if (u && optimizer_for(&ou, u, &c) == NC_SUCCESS) {
        if (nranks > 1)
            expect_refused(path, u, ou, NC_ERR_MISMATCH, "the shard's", "another shard");
        else
            nc_test_int(nc_mpi_checkpoint_load(path, u, ou), NC_SUCCESS, "one rank: one shard");
    }
    nc_optimizer_destroy(ou);
    nc_model_destroy(u);
    u = NULL, ou = NULL;
    if (nranks > 1) {
        /* files of two saves: the last rank's file from the other save */
        if (rank == nranks - 1) {
            char from[340];
            snprintf(from, sizeof from, "%s.rank%d", other, rank);
            snprintf(file, sizeof file, "%s.rank%d", path, rank);
            rename(from, file);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        expect_refused(path, m, o, NC_ERR_MISMATCH, "different saves", "files of two saves");
        /* a missing file on the last rank */
        if (rank == nranks - 1) unlink(file);
        MPI_Barrier(MPI_COMM_WORLD);
        snprintf(file, sizeof file, "rank %d:", nranks - 1);
        expect_refused(path, m, o, NC_ERR_IO, file, "a missing file");
        /* a different number of ranks: the first R - 1 ranks save, all load */
        {
            MPI_Comm fewer;
            int32_t labels[N];
            nc_model *mf = NULL;
            nc_optimizer *of = NULL;
            char msg[NC_MPI_MESSAGE_SIZE];
            MPI_Comm_split(MPI_COMM_WORLD, rank < nranks - 1 ? 0 : MPI_UNDEFINED, rank, &fewer);
            labels_of(labels);
            if (fewer != MPI_COMM_NULL) {
                size_t fo, fn;
                nc_mpi_partition(fewer, N, 1, &fo, &fn);
                st = nc_mpi_model_create(&mf, fewer, D, K, fn, labels + fo, msg, sizeof msg);
                if (st == NC_SUCCESS) st = setup(mf, &c);
                if (st == NC_SUCCESS) st = nc_optimizer_create(&of, mf, c.alg);
                st = nc_mpi_agree(fewer, st);
                nc_test_int(st, NC_SUCCESS, "a model on R - 1 ranks");
                if (st == NC_SUCCESS)
                    nc_test_int(nc_mpi_checkpoint_save(other, mf, of), NC_SUCCESS,
                                "save on R - 1 ranks");
                nc_optimizer_destroy(of);
                nc_model_destroy(mf);
                MPI_Comm_free(&fewer);
            }
            MPI_Barrier(MPI_COMM_WORLD);
            snprintf(msg, sizeof msg, "saved by %d ranks, loaded by %d", nranks - 1, nranks);
            expect_refused(other, m, o, NC_ERR_MISMATCH, msg, "more ranks than saved");
            /* fewer ranks than saved: R ranks save, R - 1 load */
            nc_test_int(nc_mpi_checkpoint_save(path, m, o), NC_SUCCESS, "save on R ranks");
            MPI_Comm_split(MPI_COMM_WORLD, rank < nranks - 1 ? 0 : MPI_UNDEFINED, rank, &fewer);
            if (fewer != MPI_COMM_NULL) {
                size_t fo, fn;
                nc_mpi_partition(fewer, N, 1, &fo, &fn);
                st = nc_mpi_model_create(&mf, fewer, D, K, fn, labels + fo, msg, sizeof msg);
                if (st == NC_SUCCESS) st = setup(mf, &c);
                if (st == NC_SUCCESS) st = nc_optimizer_create(&of, mf, c.alg);
                st = nc_mpi_agree(fewer, st);
                if (st == NC_SUCCESS) {
                    int code;
                    st = nc_mpi_checkpoint_load(path, mf, of);
                    nc_test_int(st, NC_ERR_MISMATCH, nc_model_last_error(mf));
                    snprintf(msg, sizeof msg, "saved by %d ranks, loaded by %d", nranks,
                             nranks - 1);
                    nc_test_true(strstr(nc_model_last_error(mf), msg) != NULL,
                                 nc_model_last_error(mf));
                    code = (int)st;
                    MPI_Bcast(&code, 1, MPI_INT, 0, fewer);
                    nc_test_int(code, st, "the same status on the R - 1 ranks");
                }
                nc_optimizer_destroy(of);
                nc_model_destroy(mf);
                MPI_Comm_free(&fewer);
            }
            MPI_Barrier(MPI_COMM_WORLD);
        }
    }
    /* not a shard: refused locally */
    {
        nc_model *s = serial_model(&c, 1, 0.5, 1);
        nc_test_int(nc_mpi_checkpoint_save(path, s, NULL), NC_ERR_UNSUPPORTED,
                    "nc_mpi_checkpoint_save of a serial model");
        nc_test_int(nc_mpi_checkpoint_load(path, s, NULL), NC_ERR_UNSUPPORTED,
                    "nc_mpi_checkpoint_load into a serial model");
        nc_model_destroy(s);
    }
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        for (r = 0; r < (size_t)nranks; r++) {
            snprintf(file, sizeof file, "%s.rank%zu", path, r);
            unlink(file);
            snprintf(file, sizeof file, "%s.rank%zu", other, r);
            unlink(file);
            snprintf(file, sizeof file, "%s.rank%zu", serial, r);
            unlink(file);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    int code;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/nc_mpi_run_XXXXXX");
        if (!mkdtemp(dir)) dir[0] = '\0';
    }
    MPI_Bcast(dir, (int)sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (dir[0]) {
        check_histories();
        check_predictions();
        check_curvatures();
        check_escapes();
        check_resumes();
        check_refusals();
    } else
        nc_test_true(0, "a temporary directory");
    if (rank == 0) {
        printf("largest difference to the serial history's metrics: %.2g (relative to "
               "max(1, |value|)); to the serial Hessian's extreme eigenvalues: %.2g (relative "
               "to the largest); to the serial objective after escapes: %.2g\n", worst_metric,
               worst_curv, worst_escape);
        if (dir[0]) rmdir(dir);
    }
    code = nc_test_mpi_summary("test_mpi_run", MPI_COMM_WORLD);
    MPI_Finalize();
    return code;
}

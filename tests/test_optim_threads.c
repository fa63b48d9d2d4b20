/*
 * test_optim_threads.c - "one handle per thread at a time, different handles
 * concurrently": jobs that each train their own model (GD, Adam, L-BFGS),
 * compute its metrics and a prediction, run first one after another and then
 * on concurrent threads, must give bit-identical results. Exercises BLAS and
 * LAPACK from several threads at once; run under the sanitizers and valgrind
 * by make check.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ncollapse.h"

#define JOBS 4

typedef struct job {
    int index;
    double objective, nc1, fstar;
    double W[4 * 12];
    nc_status status;
} job;

static void *run_job(void *arg)
{
    job *j = (job *)arg;
    const size_t counts[4] = {60, 40, 20, 20};
    const nc_algorithm algs[JOBS] = {NC_OPT_GD, NC_OPT_ADAM, NC_OPT_LBFGS, NC_OPT_NESTEROV};
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_metrics *mt = NULL;
    nc_prediction *p = NULL;
    j->status = nc_model_create_counts(&m, 12, 4, counts);
    if (j->status != NC_SUCCESS) return NULL;
    nc_model_set_weight_decay(m, 5e-3, 5e-3, 0);
    if (j->index == 2) nc_model_set_features(m, NC_FEATURES_RELU);
    nc_model_init_gaussian(m, 0.5, 100 + (uint64_t)j->index);
    nc_optimizer_create(&o, m, algs[j->index]);
    nc_optimizer_set_max_iterations(o, j->index == 2 ? 200 : 400);
    if (j->index == 0) nc_optimizer_set_momentum(o, 0.9);
    j->status = nc_optimizer_run(o);
    nc_model_objective(m, &j->objective);
    nc_model_get_W(m, j->W, 12);
    nc_metrics_create(&mt);
    nc_metrics_compute(mt, m);
    nc_metrics_get(mt, NC_METRIC_NC1, &j->nc1);
    nc_prediction_create(&p, NC_PREDICT_DANG_RELU_CE, 4, counts);
    nc_prediction_set_weight_decay(p, 5e-3, 5e-3, 0);
    nc_prediction_compute(p);
    nc_prediction_get_objective(p, &j->fstar);
    nc_prediction_destroy(p);
    nc_metrics_destroy(mt);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return NULL;
}

int main(void)
{
    job seq[JOBS], par[JOBS];
    pthread_t th[JOBS];
    int i, started[JOBS];
    memset(seq, 0, sizeof seq);
    memset(par, 0, sizeof par);
    for (i = 0; i < JOBS; i++) {
        seq[i].index = par[i].index = i;
        run_job(&seq[i]);
    }
    for (i = 0; i < JOBS; i++) started[i] = pthread_create(&th[i], NULL, run_job, &par[i]) == 0;
    for (i = 0; i < JOBS; i++)
        if (started[i]) pthread_join(th[i], NULL);
    for (i = 0; i < JOBS; i++) {
        nc_test_true(started[i], "thread started");
        nc_test_true(seq[i].status > 0, "job ran to a stop");
        nc_test_int(par[i].status, seq[i].status, "same stop in a thread");
        nc_test_true(memcmp(&par[i].objective, &seq[i].objective, sizeof(double)) == 0,
                     "bit-identical objective on concurrent threads");
        nc_test_true(memcmp(&par[i].nc1, &seq[i].nc1, sizeof(double)) == 0,
                     "bit-identical NC1 on concurrent threads");
        nc_test_true(memcmp(&par[i].fstar, &seq[i].fstar, sizeof(double)) == 0,
                     "bit-identical prediction on concurrent threads");
        nc_test_true(memcmp(par[i].W, seq[i].W, sizeof par[i].W) == 0,
                     "bit-identical W on concurrent threads");
    }
    return nc_test_summary("test_optim_threads");
}

/*
 * ckpt_configs.h - the checkpoint configurations shared by the crafted-file
 * test (test_io_crafted.c), the checkpoint fuzzer and its seed corpus
 * (tests/fuzz/): a model and optimizer of each configuration at a fresh
 * state, and a snapshot of everything a checkpoint restores, to tell that a
 * refused load changed nothing. Header-only; include it after
 * "optim/optim.h" (tests are built with -Isrc).
 */
#ifndef NC_TEST_CKPT_CONFIGS_H
#define NC_TEST_CKPT_CONFIGS_H

#include <stdlib.h>
#include <string.h>

enum { CFG_GD_RELU, CFG_ADAM_ETF, CFG_LBFGS_MSE, CFG_NESTEROV_FOCAL, CFG_COUNT };

/* A model and optimizer of configuration c, at a fresh state (seed 5). */
static inline void make(int c, nc_model **pm, nc_optimizer **po)
{
    const size_t counts[3] = {3, 2, 2};
    const double cw[3] = {1.0, 2.0, 0.5};
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    nc_model_create_counts(&m, 4, 3, counts);
    nc_model_set_weight_decay(m, 1e-2, 5e-3, 1e-2);
    switch (c) {
    case CFG_GD_RELU:
        nc_model_set_bias(m, 1);
        nc_model_set_features(m, NC_FEATURES_RELU);
        nc_model_set_depth(m, 2);
        nc_model_set_loss(m, NC_LOSS_WEIGHTED_CE);
        nc_model_set_class_weights(m, cw);
        nc_model_set_allnc(m, 0.1, 0.2);
        nc_model_init_gaussian(m, 0.5, 5);
        nc_optimizer_create(&o, m, NC_OPT_GD);
        nc_optimizer_set_momentum(o, 0.9);
        nc_optimizer_set_schedule(o, NC_SCHEDULE_STEP, 3, 0.5);
        break;
    case CFG_ADAM_ETF:
        nc_model_set_loss(m, NC_LOSS_LABEL_SMOOTHING);
        nc_model_fix_classifier_etf(m, 1.0, 3, NULL, 0);
        nc_model_init_gaussian(m, 0.5, 5);
        nc_optimizer_create(&o, m, NC_OPT_ADAM);
        nc_optimizer_set_schedule(o, NC_SCHEDULE_COSINE, 10, 0.1);
        break;
    case CFG_LBFGS_MSE:
        nc_model_set_bias(m, 1);
        nc_model_set_loss(m, NC_LOSS_MSE);
        nc_model_init_gaussian(m, 0.5, 5);
        nc_optimizer_create(&o, m, NC_OPT_LBFGS);
        nc_optimizer_set_history(o, 3);
        break;
    default:
        nc_model_set_loss(m, NC_LOSS_FOCAL);
        nc_model_init_gaussian(m, 0.5, 5);
        nc_optimizer_create(&o, m, NC_OPT_NESTEROV);
        break;
    }
    nc_optimizer_set_max_iterations(o, 100);
    *pm = m;
    *po = o;
}

static inline const char *cfg_name(int c)
{
    static const char *const names[CFG_COUNT] = {"GD+momentum, ReLU, depth 2", "Adam, fixed ETF",
                                                 "L-BFGS, MSE", "Nesterov, focal"};
    return names[c];
}

/* ---- the state of both handles, for "a refused load changes nothing" ---- */

typedef struct snap {
    nc_model m;
    nc_optimizer o;
    double *arrays;
    size_t n;
} snap;

/* The arrays a checkpoint restores, in a fixed order. */
static inline size_t arrays_of(const nc_model *m, const nc_optimizer *o, const double **p, size_t *len)
{
    size_t k = 0;
    const size_t dN = m->d * m->N, hn = o->history * o->n_max;
#define ARR(ptr, n)            \
    do {                       \
        if (ptr) {             \
            p[k] = (ptr);      \
            len[k++] = (n);    \
        }                      \
    } while (0)
    ARR(m->small, nc__model_small_size(m));
    ARR(m->H, dN);
    ARR(m->class_weights, m->K);
    ARR(o->v_small, o->n_small);
    ARR(o->s_small, o->n_small);
    ARR(o->v_H, dN);
    ARR(o->s_H, dN);
    if (o->algorithm == NC_OPT_LBFGS) {
        ARR(o->S, hn);
        ARR(o->Y, hn);
        ARR(o->rho, o->history);
        ARR(o->x, o->n_max);
        ARR(o->g, o->n_max);
    }
#undef ARR
    return k;
}

static inline void snap_take(snap *s, const nc_model *m, const nc_optimizer *o)
{
    const double *p[16];
    size_t len[16], k, n = 0, i;
    s->m = *m;
    s->o = *o;
    memset(s->m.msg, 0, sizeof s->m.msg);
    memset(s->o.msg, 0, sizeof s->o.msg);
    k = arrays_of(m, o, p, len);
    for (i = 0; i < k; i++) n += len[i];
    s->arrays = (double *)malloc((n ? n : 1) * sizeof(double));
    s->n = n;
    for (n = 0, i = 0; i < k; i++) {
        memcpy(s->arrays + n, p[i], len[i] * sizeof(double));
        n += len[i];
    }
}

static inline int snap_same(const snap *a, const snap *b)
{
    return memcmp(&a->m, &b->m, sizeof a->m) == 0 && memcmp(&a->o, &b->o, sizeof a->o) == 0 &&
           a->n == b->n && memcmp(a->arrays, b->arrays, a->n * sizeof(double)) == 0;
}

#endif /* NC_TEST_CKPT_CONFIGS_H */

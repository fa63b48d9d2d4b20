/* optim/optim.h - the optimizer handle (struct nc_optimizer). */
#ifndef NC_OPTIM_H
#define NC_OPTIM_H

#include "common/common.h"
#include "kernels/rule.h"
#include "model/model.h"
#include "metrics/history.h"

/* ---- optimizer ---------------------------------------------------------- */
struct nc_optimizer {
    nc_model *model;
    nc_algorithm algorithm;
    const nc__rule_def *rule_def; /* the first-order rule (nc__rules); NULL for L-BFGS */
    size_t depth;      /* of the model at creation */
    size_t n_small;    /* small variables (layers + b) */
    size_t n_max;      /* all variables at most (L-BFGS vectors) */
    double lr_layers, lr_H, lr_b;
    nc__rule hp;       /* the rules' hyper-parameters: momentum, beta1, beta2, eps */
    nc_schedule schedule;
    size_t period;
    double sched_param;
    size_t max_iterations;
    double gtol;
    nc_progress_fn callback;
    void *user_data;
    size_t every;

    /* First-order buffers: small v, s; H v, s when the rule keeps them
     * (nc__rule_buffers; v_H also once a momentum > 0 was set). */
    double *v_small, *s_small, *v_H, *s_H;
    int buffers_valid; /* 0: stale, zero before use */

    /* L-BFGS. */
#define NC_LBFGS_STALL 20 /* steps without a new lowest f or gradient norm: stop */
    size_t history, hist_len, hist_next;
    double *S, *Y, *rho, *alpha_tmp; /* history x n_max, history, history */
    double *x, *g, *xt, *gt, *p;     /* n_max each */
    unsigned char *mask;             /* n_max: variables held at the bound */
    double f;                        /* objective at x */
    int lbfgs_valid;                 /* x, g, f describe the model's state */
    /* Steps since the objective or the gradient norm last reached a new
     * lowest value, and those values (L-BFGS near the limit of the arithmetic). */
    size_t lbfgs_stall; /* < NC_LBFGS_STALL */
    double lbfgs_best_f, lbfgs_best_g;
    uint64_t lbfgs_version;
    nc_status lbfgs_eval_status; /* of the last evaluation (a shard's reductions) */

    size_t iterations, evaluations;
    double objective, gradient_norm;

    /* Norms for the divergence guard, valid while model->version == version. */
    uint64_t version;
    int norms_valid;
    double n_small2, nH2, nvs2, nss2, nvH2, nsH2;

    /* Staged steps, the divergence guard's second tier: the mutable state
     * (H, its v and s, and the small variables with theirs) copied before a
     * step whose a-priori bound fails, restored if the step's new state fails
     * its exact check. Allocated at the first such step. */
    double *stage_H, *stage_vH, *stage_sH, *stage_small; /* stage_small: 3 n_small */
    size_t staged_steps;

    /* The metrics history of nc_optimizer_run (borrowed), every record_every steps. */
    nc_history *recorder;
    size_t record_every;
    size_t recorded_step; /* the step of the last row recorded, or SIZE_MAX */

    /* Escape from points that are not minima, and what the last run found. */
    size_t max_escapes, escapes;
    nc_curvature *curvature;  /* owned, created with the first check */
    nc_prediction *prediction; /* borrowed: the stop is compared with it */
    int check_stop;            /* check every stop, even without escapes */
    int checked;               /* the stop was checked (curvature) */
    nc_point point;
    int compared;              /* the stop was compared with the prediction */
    nc_verdict verdict;
    double compare_values[NC_COMPARE_COUNT];
    char stop_info[2 * NC_MSG_SIZE];

    char msg[NC_MSG_SIZE];
};

/* Evaluate the model's current state into o->objective and
 * o->gradient_norm (L-BFGS: nothing to do when its values belong to it). */
nc_status nc__optimizer_evaluate_current(nc_optimizer *o);

/* Check the model's state with c and, if it is a strict saddle, holds a
 * class at h = 0 or sits at W = H = 0, try the escape moves (escape.c). The
 * model is left at the lowest point found: *kind says which move lowered
 * the objective, by *decrease (NC_ESCAPE_NONE: the state is unchanged). A
 * failure (the check, or no memory for a search) is recorded in o->msg and
 * leaves the state it started from. */
nc_status nc__escape(nc_optimizer *o, nc_curvature *c, nc_escape *kind, double *decrease);

/* L-BFGS's vector arithmetic (shard.c), for serial and shard models: the
 * variable vector is [layers | H (the shard's, on a shard) | b]; the H
 * range is summed per part (the model's parts, m->threads of them) with a
 * fixed order inside each part, and the parts (of every shard, in global
 * part order) are added between the sums of the two other ranges. So every
 * shard gets the same bits, for any sharding of the same parts, and those
 * of the serial model with as many parts. */
double nc__shard_dot(const nc_model *m, const double *a, const double *b, size_t n);
/* sum_i g_i (x1_i - x0_i) */
double nc__shard_dot_diff(const nc_model *m, const double *g, const double *x1, const double *x0,
                          size_t n);
/* The squared norm of g, with the components of H at x = 0 with g > 0 left
 * out when relu (the KKT residual), compensated. */
double nc__shard_kkt2(const nc_model *m, const double *x, const double *g, size_t n, int relu);
/* y += a x, one rounding per component (no fused multiply-add). */
void nc__shard_axpy(size_t n, double a, const double *x, double *y);
/* The sum over the shards of a value of the shard's H, in place (x itself
 * for a serial model); the shard's status, agreed on every shard. */
nc_status nc__shard_sum1(const nc_model *m, double *x);

/* ---- the one check of each hyper-parameter (optimizer.c) --------------------
 * Used by the setters and by the checkpoint loader alike (io/checkpoint.c).
 * Each writes what is wrong, without a prefix, to msg (NC_MSG_SIZE) and
 * returns NC_ERR_NON_FINITE or NC_ERR_INVALID_VALUE, or NC_SUCCESS. */
/* A learning rate: finite, > 0. */
nc_status nc__optim_check_lr(double lr, char *msg);
/* Momentum: finite, in [0, 1). */
nc_status nc__optim_check_momentum(double momentum, char *msg);
/* Adam: b1 in [0, 1), b2 in (0, 1), b1^2 < b2, eps > 0, all finite. */
nc_status nc__optim_check_adam(double b1, double b2, double eps, char *msg);
/* L-BFGS history size: in [1, 1000]. */
nc_status nc__optim_check_history(size_t history, char *msg);
/* A schedule: a known kind; unless constant, period >= 1 and its parameter
 * finite, in (0, 1] (step decay gamma) or [0, 1] (cosine floor). */
nc_status nc__optim_check_schedule(nc_schedule schedule, size_t period, double param, char *msg);
/* Iteration limit: >= 1. */
nc_status nc__optim_check_max_iterations(size_t max_iterations, char *msg);
/* Gradient tolerance: finite, >= 0. */
nc_status nc__optim_check_tolerance(double tol, char *msg);

#endif /* NC_OPTIM_H */

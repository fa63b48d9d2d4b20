/*
 * optimizer.c - first-order methods (GD, Nesterov, Adam) through the fused
 * pass, and L-BFGS (projected for ReLU features) through full evaluations.
 *
 * Divergence guard of the first-order methods. H is updated in place inside
 * the pass, so a step cannot simply be undone; the guard has two tiers.
 *
 * 1. An a-priori bound, from the actual state: the end-to-end classifier P
 *    (kept by the model), the norms of each layer W_m and of the prefix
 *    products R_m = W_m ... W_1, of H, b and the buffers, with Gb the loss's
 *    bound on ||dL/dz|| of a sample:
 *      logits       |z| <= Zb = ||P|| ||H|| + ||b||
 *      dL/dZ / N    ||G|| <= Gb(Zb)
 *      gradients    ||gP|| <= ||G|| ||H|| + ||align||; layer m: ||C_m|| ||gP|| ||R_{m-1}||
 *                   with ||C_m|| <= prod_{j > m} ||W_j||, plus lambda_W ||W_m||;
 *                   ||gH|| <= ||P|| ||G|| + lH ||H|| + (AllNC) 2 alpha ||H||/N + ||class
 *                   terms||; ||gb|| <= sqrt(N) ||G|| + lb ||b||
 *      steps        the rule's bound (nc__rule_def.step_bound, rule.h) from the
 *                   gradients' bounds and the buffers' norms
 *      new state    ||W_m'|| <= ||W_m|| + lr ||step||, ||H'|| likewise, and the new
 *                   logits |z'| <= prod_m ||W_m'|| ||H'|| + ||b'||
 *    If every value is below NC_BOUND, no value of the step or of an
 *    evaluation of the new state can overflow: the step is taken in place.
 *    (The product of the layers' norms grows with the depth, so deep models
 *    with large layers can exceed the bound while nothing diverges: hence
 *    the second tier.)
 * 2. Otherwise the step is staged: if the current state's own logits and
 *    the values the pass computes from P (the logits, G, gP, gH above) are
 *    below the bound, the mutable state is copied, the step is taken, and
 *    the new state is checked exactly: every
 *    value finite, and its logits bounded by ||P'|| ||H'|| + ||b'|| <=
 *    NC_BOUND with P' the new end-to-end product. If the check fails the
 *    copy is restored: NC_ERR_DIVERGED with the model at x_t.
 * Either way a run that stops with NC_ERR_DIVERGED holds its last iterate,
 * which is finite and whose objective is finite.
 */
#include "optim/optim.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


#define NC_BOUND 1e100

/* struct nc_optimizer is defined in optim/optim.h (the checkpoint code reads it). */

static nc_status alloc_lbfgs(nc_optimizer *o, size_t history)
{
    size_t hn;
    double *S, *Y, *rho, *at;
    if (nc__mul_size(history, o->n_max, &hn)) return NC_ERR_OUT_OF_MEMORY;
    S = nc__alloc_doubles(hn, 1);
    Y = nc__alloc_doubles(hn, 1);
    rho = nc__alloc_doubles(history, 1);
    at = nc__alloc_doubles(history, 1);
    if (!S || !Y || !rho || !at) {
        free(S); free(Y); free(rho); free(at);
        return NC_ERR_OUT_OF_MEMORY;
    }
    free(o->S); free(o->Y); free(o->rho); free(o->alpha_tmp);
    o->S = S; o->Y = Y; o->rho = rho; o->alpha_tmp = at;
    o->history = history;
    o->hist_len = o->hist_next = 0;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_create(nc_optimizer **out, nc_model *model, nc_algorithm algorithm)
{
    nc_optimizer *o;
    const nc__rule_def *rule_def;
    size_t dN;
    unsigned buffers;
    nc__create_clear();
    if (!out) return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_optimizer_create: optimizer is NULL");
    *out = NULL;
    if (!model) return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_optimizer_create: model is NULL");
    rule_def = nc__rule_lookup(algorithm);
    if (!rule_def && algorithm != NC_OPT_LBFGS)
        return nc__create_fail(NC_ERR_INVALID_VALUE, "nc_optimizer_create: unknown algorithm %d",
                               (int)algorithm);
    /* L-BFGS works on vectors of all variables with BLAS level 1 (int sizes). */
    if (algorithm == NC_OPT_LBFGS &&
        nc__model_small_size(model) + model->d * model->N > (size_t)INT_MAX)
        return nc__create_fail(NC_ERR_INVALID_SIZE, "nc_optimizer_create: L-BFGS needs at most "
                               "%d variables", INT_MAX);
    o = (nc_optimizer *)calloc(1, sizeof *o);
    if (o) o->recorded_step = SIZE_MAX;
    if (!o) return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_optimizer_create: no memory");
    o->model = model;
    o->algorithm = algorithm;
    o->rule_def = rule_def;
    o->depth = model->depth;
    o->n_small = nc__model_small_size(model);
    dN = model->d * model->N; /* checked at model creation */
    o->n_max = o->n_small + dN;
    /* The rule's defaults; L-BFGS ignores these, checkpoints save them. */
    o->lr_layers = o->lr_H = o->lr_b = rule_def ? rule_def->lr : 0.1;
    o->hp.momentum = rule_def ? rule_def->momentum : 0.0;
    o->hp.beta1 = 0.9;
    o->hp.beta2 = 0.999;
    o->hp.eps = 1e-8;
    o->max_iterations = 10000;
    o->every = 1;
    o->period = 1;
    o->sched_param = 1.0;
    o->objective = NAN;
    o->gradient_norm = NAN;
    o->v_small = nc__alloc_doubles(o->n_small, 1);
    o->s_small = nc__alloc_doubles(o->n_small, 1);
    if (!o->v_small || !o->s_small) goto oom;
    buffers = rule_def ? nc__rule_buffers(rule_def, o->hp.momentum) : 0u;
    if (buffers & NC__RULE_V) {
        o->v_H = nc__calloc_aligned(dN, 1);
        if (!o->v_H) goto oom;
    }
    if (buffers & NC__RULE_S) {
        o->s_H = nc__calloc_aligned(dN, 1);
        if (!o->s_H) goto oom;
    }
    if (algorithm == NC_OPT_LBFGS) {
        o->x = nc__alloc_doubles(o->n_max, 1);
        o->g = nc__alloc_doubles(o->n_max, 1);
        o->xt = nc__alloc_doubles(o->n_max, 1);
        o->gt = nc__alloc_doubles(o->n_max, 1);
        o->p = nc__alloc_doubles(o->n_max, 1);
        o->mask = (unsigned char *)calloc(o->n_max ? o->n_max : 1, 1);
        if (!o->x || !o->g || !o->xt || !o->gt || !o->p || !o->mask) goto oom;
        if (alloc_lbfgs(o, 10) != NC_SUCCESS) goto oom;
    }
    *out = o;
    return NC_SUCCESS;
oom:
    nc_optimizer_destroy(o);
    return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_optimizer_create: no memory for the buffers "
                           "of %zu variables", dN);
}

NC_API void nc_optimizer_destroy(nc_optimizer *o)
{
    if (!o) return;
    free(o->v_small); free(o->s_small); nc__free_aligned(o->v_H); nc__free_aligned(o->s_H);
    free(o->S); free(o->Y); free(o->rho); free(o->alpha_tmp);
    free(o->x); free(o->g); free(o->xt); free(o->gt); free(o->p); free(o->mask);
    nc__free_aligned(o->stage_H); nc__free_aligned(o->stage_vH); nc__free_aligned(o->stage_sH);
    free(o->stage_small);
    nc_curvature_destroy(o->curvature);
    free(o);
}

/* ---- the one check of each hyper-parameter (optim.h) -------------------------- */

nc_status nc__optim_check_lr(double lr, char *msg)
{
    if (!nc__is_finite(lr)) return nc__fail(msg, NC_ERR_NON_FINITE, "learning rate %g is not finite", lr);
    if (!(lr > 0)) return nc__fail(msg, NC_ERR_INVALID_VALUE, "learning rate must be > 0 (got %g)", lr);
    return NC_SUCCESS;
}

nc_status nc__optim_check_momentum(double momentum, char *msg)
{
    if (!nc__is_finite(momentum))
        return nc__fail(msg, NC_ERR_NON_FINITE, "momentum %g is not finite", momentum);
    if (momentum < 0 || momentum >= 1)
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "momentum must be in [0, 1) (got %.17g)",
                        momentum);
    return NC_SUCCESS;
}

nc_status nc__optim_check_adam(double b1, double b2, double eps, char *msg)
{
    if (!nc__is_finite(b1) || !nc__is_finite(b2) || !nc__is_finite(eps))
        return nc__fail(msg, NC_ERR_NON_FINITE, "Adam parameters (b1, b2, eps) = (%g, %g, %g) must "
                        "be finite", b1, b2, eps);
    if (!(b1 >= 0 && b1 < 1 && b2 > 0 && b2 < 1 && b1 * b1 < b2 && eps > 0))
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "Adam needs b1 in [0,1), b2 in (0,1), b1^2 < b2, "
                        "eps > 0 (got %.17g, %.17g, %g)", b1, b2, eps);
    return NC_SUCCESS;
}

nc_status nc__optim_check_history(size_t history, char *msg)
{
    if (history == 0 || history > 1000)
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "history must be in [1, 1000] (got %zu)", history);
    return NC_SUCCESS;
}

nc_status nc__optim_check_schedule(nc_schedule sched, size_t period, double param, char *msg)
{
    if (sched != NC_SCHEDULE_CONSTANT && sched != NC_SCHEDULE_STEP && sched != NC_SCHEDULE_COSINE)
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "unknown schedule %d", (int)sched);
    if (sched == NC_SCHEDULE_CONSTANT) return NC_SUCCESS;
    if (period == 0) return nc__fail(msg, NC_ERR_INVALID_VALUE, "schedule period must be >= 1");
    if (!nc__is_finite(param))
        return nc__fail(msg, NC_ERR_NON_FINITE, "schedule parameter %g is not finite", param);
    if (sched == NC_SCHEDULE_STEP && !(param > 0 && param <= 1))
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "step decay gamma must be in (0, 1] (got %g)",
                        param);
    if (sched == NC_SCHEDULE_COSINE && !(param >= 0 && param <= 1))
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "cosine floor must be in [0, 1] (got %g)", param);
    return NC_SUCCESS;
}

nc_status nc__optim_check_max_iterations(size_t max_iterations, char *msg)
{
    if (max_iterations == 0)
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "max_iterations must be >= 1");
    return NC_SUCCESS;
}

nc_status nc__optim_check_tolerance(double tol, char *msg)
{
    if (!nc__is_finite(tol)) return nc__fail(msg, NC_ERR_NON_FINITE, "tolerance %g is not finite", tol);
    if (tol < 0) return nc__fail(msg, NC_ERR_INVALID_VALUE, "tolerance must be >= 0 (got %g)", tol);
    return NC_SUCCESS;
}

/* ---- setters ------------------------------------------------------------------- */

NC_API nc_status nc_optimizer_set_learning_rate(nc_optimizer *o, double lr)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__optim_check_lr(lr, o->msg)) != NC_SUCCESS) return st;
    o->lr_layers = o->lr_H = o->lr_b = lr;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_block_learning_rate(nc_optimizer *o, nc_block block, double lr)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__optim_check_lr(lr, o->msg)) != NC_SUCCESS) return st;
    switch (block) {
    case NC_BLOCK_LAYERS: o->lr_layers = lr; return NC_SUCCESS;
    case NC_BLOCK_FEATURES: o->lr_H = lr; return NC_SUCCESS;
    case NC_BLOCK_BIAS: o->lr_b = lr; return NC_SUCCESS;
    default: return nc__fail(o->msg, NC_ERR_INVALID_VALUE, "unknown block %d", (int)block);
    }
}

NC_API nc_status nc_optimizer_set_feature_learning_rate(nc_optimizer *o, double lr_H)
{
    return nc_optimizer_set_block_learning_rate(o, NC_BLOCK_FEATURES, lr_H);
}

NC_API nc_status nc_optimizer_set_momentum(nc_optimizer *o, double momentum)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__optim_check_momentum(momentum, o->msg)) != NC_SUCCESS) return st;
    if (momentum > 0 && !o->v_H) {
        /* The d x N buffer exists only for runs that use it; allocated here,
         * in a setter, never inside an iteration. */
        o->v_H = nc__calloc_aligned(o->model->d, o->model->N);
        if (!o->v_H)
            return nc__fail(o->msg, NC_ERR_OUT_OF_MEMORY,
                            "cannot allocate the momentum buffer of H (%zu x %zu)", o->model->d,
                            o->model->N);
        o->buffers_valid = 0;
    }
    if (o->hp.momentum == 0 && momentum > 0) o->buffers_valid = 0;
    o->hp.momentum = momentum;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_adam(nc_optimizer *o, double b1, double b2, double eps)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__optim_check_adam(b1, b2, eps, o->msg)) != NC_SUCCESS) return st;
    o->hp.beta1 = b1;
    o->hp.beta2 = b2;
    o->hp.eps = eps;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_history(nc_optimizer *o, size_t history)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__optim_check_history(history, o->msg)) != NC_SUCCESS) return st;
    if (o->algorithm != NC_OPT_LBFGS) {
        o->history = history;
        return NC_SUCCESS;
    }
    if ((st = alloc_lbfgs(o, history)) != NC_SUCCESS)
        return nc__fail(o->msg, st, "cannot allocate an L-BFGS history of %zu", history);
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_schedule(nc_optimizer *o, nc_schedule sched, size_t period,
                                           double param)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__optim_check_schedule(sched, period, param, o->msg)) != NC_SUCCESS) return st;
    o->schedule = sched;
    o->period = period ? period : 1;
    o->sched_param = param;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_max_iterations(nc_optimizer *o, size_t max_iterations)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__optim_check_max_iterations(max_iterations, o->msg)) != NC_SUCCESS) return st;
    o->max_iterations = max_iterations;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_gradient_tolerance(nc_optimizer *o, double tol)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__optim_check_tolerance(tol, o->msg)) != NC_SUCCESS) return st;
    o->gtol = tol;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_callback(nc_optimizer *o, nc_progress_fn fn, void *user_data,
                                           size_t every)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if (fn && every == 0)
        return nc__fail(o->msg, NC_ERR_INVALID_VALUE, "callback frequency must be >= 1");
    o->callback = fn;
    o->user_data = user_data;
    o->every = fn ? every : 1;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_reset(nc_optimizer *o)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    o->buffers_valid = 0;
    o->norms_valid = 0;
    o->lbfgs_valid = 0;
    o->hist_len = o->hist_next = 0;
    o->iterations = 0;
    o->recorded_step = SIZE_MAX;
    o->objective = NAN;
    o->gradient_norm = NAN;
    return NC_SUCCESS;
}

/* ---- first-order methods ---------------------------------------------------- */

static void zero_buffers(nc_optimizer *o)
{
    const nc_model *m = o->model;
    memset(o->v_small, 0, o->n_small * sizeof(double));
    memset(o->s_small, 0, o->n_small * sizeof(double));
    if (o->v_H) memset(o->v_H, 0, m->d * m->N * sizeof(double));
    if (o->s_H) memset(o->s_H, 0, m->d * m->N * sizeof(double));
    o->nvs2 = o->nss2 = o->nvH2 = o->nsH2 = 0.0;
    o->buffers_valid = 1;
}

static double schedule_factor(const nc_optimizer *o, size_t t)
{
    switch (o->schedule) {
    case NC_SCHEDULE_STEP:
        return pow(o->sched_param, (double)(t / o->period));
    case NC_SCHEDULE_COSINE: {
        const double tt = (double)(t < o->period ? t : o->period) / (double)o->period;
        return o->sched_param + (1.0 - o->sched_param) * 0.5 * (1.0 + cos(3.14159265358979323846 * tt));
    }
    default:
        return 1.0;
    }
}

/* The rule of this step: the hyper-parameters, the step's constants. */
static nc__rule make_rule(const nc_optimizer *o, double lr, int project)
{
    nc__rule r = o->hp;
    r.kind = o->rule_def->kind;
    r.lr = lr;
    if (o->rule_def->begin) o->rule_def->begin(&r, (double)(o->iterations + 1));
    r.project = project;
    return r;
}

static nc_status refresh_state_norms(nc_optimizer *o)
{
    const nc_model *m = o->model;
    double nH2 = nc__norm2(m->H, m->d * m->N);
    const nc_status st = nc__shard_sum1(m, &nH2);
    if (st != NC_SUCCESS) return st;
    o->n_small2 = nc__norm2(m->small, o->n_small);
    o->nH2 = nH2;
    o->version = m->version;
    o->norms_valid = 1;
    return NC_SUCCESS;
}

/* Frobenius norm of a rows x cols block (stride 1). */
static double fro(const double *x, size_t n) { return sqrt(nc__norm2(x, n)); }

/* The tier-1 bound (see top): the largest value the step from the current
 * state can produce, or infinity. *current gets the largest value of the
 * current state's own evaluation (logits, loss gradient, gradients), which
 * a staged step needs below the bound. The AllNC pieces must be prepared
 * (nc__model_prepare). */
static double step_bound(const nc_optimizer *o, double lr_max, double *current)
{
    const nc_model *m = o->model;
    const nc__loss_def *loss = nc__loss_lookup(m->loss);
    const size_t d = m->d, K = m->K, M = m->depth;
    const double nH = sqrt(o->nH2), nP = fro(m->W, d * K);
    const double nb = m->bias ? fro(m->b, K) : 0.0;
    const double Zb = nP * nH + nb;
    const double Gb = loss->grad_bound(&m->loss_ctx, K, Zb);
    const double align = m->beta > 0 ? nc__norm2(m->align_gP, d * K) : 0.0;
    const double gPb = Gb * nH + sqrt(align);
    double gs2 = 0.0, gsb, gHb, steps, steph, hn, zn, prod_new = 1.0, suffix = 1.0;
    size_t l;
    /* layers from the top: C_M = I, C_m = C_{m+1} W_{m+1}; R_0 = I */
    for (l = M; l-- > 0;) {
        /* depth 1: the layer is P itself */
        const double nW = M == 1 ? nP : fro(m->small + l * d * d, (l + 1 == M ? K : d) * d);
        const double nR = l == 0 ? 1.0 : (M == 1 ? 1.0 : fro(m->prefix + (l - 1) * d * d, d * d));
        const double g = suffix * gPb * nR + m->lambda_W * nW;
        gs2 += g * g;
        suffix *= nW;
    }
    gsb = sqrt(gs2) + sqrt((double)nc__model_total_samples(m)) * Gb + m->lambda_b * nb;
    gHb = nP * Gb + m->lambda_H * nH + 2.0 * m->alpha * nH / (double)nc__model_total_samples(m) +
          m->allnc_extra_bound;
    steps = o->rule_def->step_bound(&o->hp, gsb, sqrt(o->nvs2), (double)o->n_small);
    steph = o->rule_def->step_bound(&o->hp, gHb, sqrt(o->nvH2), (double)d * (double)nc__model_total_samples(m));
    for (l = 0; l < M; l++)
        prod_new *= (M == 1 ? nP : fro(m->small + l * d * d, (l + 1 == M ? K : d) * d)) +
                    lr_max * steps;
    hn = nH + lr_max * steph;
    zn = prod_new * hn + nb + lr_max * steps;
    {
        /* the current state's own values that the pass computes from P
         * (exact norms); the layers' gradients are checked after a staged
         * step, from the values themselves */
        const double now[] = {Zb, Gb, gPb, gHb};
        const double all[] = {gsb, steps, steph, hn, zn};
        double worst = 0.0;
        size_t i;
        *current = 0.0;
        for (i = 0; i < sizeof now / sizeof now[0]; i++) {
            if (!(now[i] <= NC_BOUND)) { /* also catches NaN */
                *current = INFINITY;
                return INFINITY;
            }
            if (now[i] > *current) *current = now[i];
        }
        worst = *current;
        for (i = 0; i < sizeof all / sizeof all[0]; i++) {
            if (!(all[i] <= NC_BOUND)) return INFINITY;
            if (all[i] > worst) worst = all[i];
        }
        return worst;
    }
}

/* The copies of a staged step, each allocated once it is needed (a buffer
 * of H may appear later, with a momentum set between steps). */
static nc_status stage_alloc(nc_optimizer *o)
{
    const nc_model *m = o->model;
    const size_t dN = m->d * m->N;
    if (!o->stage_H && !(o->stage_H = nc__calloc_aligned(dN, 1))) return NC_ERR_OUT_OF_MEMORY;
    if (o->v_H && !o->stage_vH && !(o->stage_vH = nc__calloc_aligned(dN, 1)))
        return NC_ERR_OUT_OF_MEMORY;
    if (o->s_H && !o->stage_sH && !(o->stage_sH = nc__calloc_aligned(dN, 1)))
        return NC_ERR_OUT_OF_MEMORY;
    if (!o->stage_small && !(o->stage_small = nc__alloc_doubles(3 * o->n_small, 1)))
        return NC_ERR_OUT_OF_MEMORY;
    return NC_SUCCESS;
}

/* Copy the mutable state in (save) or back (restore). */
static void stage_copy(nc_optimizer *o, int save)
{
    nc_model *m = o->model;
    const size_t dN = m->d * m->N, ns = o->n_small;
#define NC__STAGE(live, copy, n)                                                                 \
    do {                                                                                       \
        if (live) memcpy(save ? (copy) : (live), save ? (live) : (copy), (n) * sizeof(double)); \
    } while (0)
    NC__STAGE(m->H, o->stage_H, dN);
    NC__STAGE(o->v_H, o->stage_vH, dN);
    NC__STAGE(o->s_H, o->stage_sH, dN);
    NC__STAGE(m->small, o->stage_small, ns);
    NC__STAGE(o->v_small, o->stage_small + ns, ns);
    NC__STAGE(o->s_small, o->stage_small + 2 * ns, ns);
#undef NC__STAGE
}

static nc_status first_order_step(nc_optimizer *o)
{
    nc_model *m = o->model;
    nc__h_update upd;
    nc__pass_out out;
    const double factor = schedule_factor(o, o->iterations);
    const double lrW = o->lr_layers * factor, lrH = o->lr_H * factor, lrb = o->lr_b * factor;
    const double lr_max = lrW > lrH ? (lrW > lrb ? lrW : lrb) : (lrH > lrb ? lrH : lrb);
    const unsigned buffers = nc__rule_buffers(o->rule_def, o->hp.momentum);
    const int use_v = (buffers & NC__RULE_V) != 0, use_s = (buffers & NC__RULE_S) != 0;
    const size_t n_layers = m->n_hidden + m->d * m->K;
    size_t i;
    nc__rule rs;
    double current, saved_v2[6] = {0};
    int staged;
    nc_status st;

    if (!o->buffers_valid) zero_buffers(o);
    if ((!o->norms_valid || o->version != m->version) && (st = refresh_state_norms(o)) != NC_SUCCESS)
        return nc__fail(o->msg, st, "step %zu not taken: the norm of H over the shards: %s",
                        o->iterations + 1, nc_strerror(st));
    if ((st = nc__model_prepare(m)) != NC_SUCCESS)
        return nc__fail(o->msg, st, "step %zu not taken: the class means over the shards: %s",
                        o->iterations + 1, nc_strerror(st));
    staged = !(step_bound(o, lr_max, &current) <= NC_BOUND);
    if (staged) {
        if (!(current <= NC_BOUND))
            return nc__fail(o->msg, NC_ERR_DIVERGED,
                            "step %zu not taken: the current state's logits or gradients may "
                            "exceed %.0e (||P|| %.3g, ||H|| %.3g); the model keeps its last "
                            "finite iterate",
                            o->iterations + 1, NC_BOUND, fro(m->W, m->d * m->K), sqrt(o->nH2));
        if ((m->shard ? m->shard->agree(m->shard, stage_alloc(o)) : stage_alloc(o)) != NC_SUCCESS)
            return nc__fail(o->msg, NC_ERR_OUT_OF_MEMORY,
                            "step %zu not taken: its a-priori bound exceeds %.0e and there is no "
                            "memory to stage it (a copy of H and its buffers)",
                            o->iterations + 1, NC_BOUND);
        stage_copy(o, 1);
        saved_v2[0] = o->nvs2;
        saved_v2[1] = o->nss2;
        saved_v2[2] = o->nvH2;
        saved_v2[3] = o->nsH2;
        saved_v2[4] = o->nH2;
        saved_v2[5] = o->n_small2;
    }

    upd.rule = make_rule(o, lrH, m->features == NC_FEATURES_RELU);
    upd.v = use_v ? o->v_H : NULL;
    upd.s = use_s ? o->s_H : NULL;
    if ((st = nc__model_evaluate_prepared(m, NULL, 0, &upd, &out)) != NC_SUCCESS) {
        /* the reservation of the buffers fails before the pass (nothing
         * moved); an exchange fails after it, which a staged step undoes */
        if (staged) stage_copy(o, 0);
        return nc__fail(o->msg, st, "step %zu not taken: the reductions over the shards: %s",
                        o->iterations + 1, nc_strerror(st));
    }
    o->evaluations++;

    /* The small variables: the same rule, block by block. */
    rs = make_rule(o, lrW, 0);
    {
        double v2 = 0.0, s2 = 0.0;
        for (i = 0; i < o->n_small; i++) {
            const int is_b = i >= n_layers;
            if ((is_b && !m->bias) || (!is_b && i >= m->n_hidden && m->fixed)) continue;
            rs.lr = is_b ? lrb : lrW;
            m->small[i] = nc__rule_apply(&rs, m->small[i], m->gsmall[i],
                                         use_v ? o->v_small + i : NULL,
                                         use_s ? o->s_small + i : NULL);
            v2 += o->v_small[i] * o->v_small[i];
            s2 += o->s_small[i] * o->s_small[i];
        }
        o->nvs2 = v2;
        o->nss2 = s2;
    }
    nc__model_update_product(m);
    m->version++;

    if (staged) {
        /* the exact check of the new state (tier 2, see top) */
        const double n_small2 = nc__norm2(m->small, o->n_small);
        const double zn = fro(m->W, m->d * m->K) * sqrt(upd.norm2_H_new) +
                          (m->bias ? fro(m->b, m->K) : 0.0);
        if (!(zn <= NC_BOUND) || !isfinite(n_small2) || !isfinite(upd.norm2_v_new) ||
            !isfinite(upd.norm2_s_new) || !isfinite(out.objective) ||
            !isfinite(out.norm2_gsmall + out.norm2_gH)) {
            stage_copy(o, 0);
            nc__model_update_product(m);
            m->version++;
            o->nvs2 = saved_v2[0];
            o->nss2 = saved_v2[1];
            o->nvH2 = saved_v2[2];
            o->nsH2 = saved_v2[3];
            o->nH2 = saved_v2[4];
            o->n_small2 = saved_v2[5];
            o->version = m->version;
            o->norms_valid = 1;
            if (zn <= NC_BOUND || zn != zn)
                return nc__fail(o->msg, NC_ERR_DIVERGED,
                                "step %zu undone: a value of its new state overflowed; the "
                                "model keeps its last finite iterate",
                                o->iterations + 1);
            return nc__fail(o->msg, NC_ERR_DIVERGED,
                            "step %zu undone: its new state's logits may reach %.3g (> %.0e); "
                            "the model keeps its last finite iterate",
                            o->iterations + 1, zn, NC_BOUND);
        }
        o->staged_steps++;
    }
    o->iterations++;
    o->objective = out.objective;
    o->gradient_norm = sqrt(out.norm2_gsmall + out.norm2_gH);
    o->n_small2 = nc__norm2(m->small, o->n_small);
    o->nH2 = upd.norm2_H_new;
    o->nvH2 = upd.norm2_v_new;
    o->nsH2 = upd.norm2_s_new;
    o->version = m->version;
    if (!isfinite(o->objective) || !isfinite(o->gradient_norm))
        /* Excluded by the bound above; kept as a last line of defence. */
        return nc__fail(o->msg, NC_ERR_OVERFLOW, "step %zu overflowed despite the bound",
                        o->iterations);
    return NC_SUCCESS;
}

/* ---- L-BFGS ----------------------------------------------------------------- */

/* Search-direction arithmetic needs no compensated sums (the reported
 * gradient norm does, see kkt_norm). It is summed at the parts of the pass
 * in a fixed order (shard.c), not by BLAS level 1 (whose order and fused
 * multiply-adds depend on the CPU): a run on shards of the same parts then
 * gives these bits. */
static double dot(const nc_optimizer *o, const double *a, const double *b, size_t n)
{
    return nc__shard_dot(o->model, a, b, n);
}

static void axpy_v(const nc_optimizer *o, size_t n, double a, const double *x, double *y)
{
    (void)o;
    nc__shard_axpy(n, a, x, y);
}

/* Range of the H variables in the packed vector, for the projection. */
static void h_range(const nc_model *m, size_t *h0, size_t *h1)
{
    *h0 = m->n_hidden + (m->fixed ? 0 : m->d * m->K);
    *h1 = *h0 + m->d * m->N;
}

/* Evaluate at xt (already written into the model): f and gt. */
static double lbfgs_eval(nc_optimizer *o, const double *xt, double *gt)
{
    double f = INFINITY;
    nc_status st;
    nc_model_set_variables(o->model, xt);
    st = nc_model_gradient_vector(o->model, &f, gt);
    /* an overflow is a refused point; a failure of a shard's reductions
     * ends the step (lbfgs_eval_status, kept until the step clears it) */
    if (st != NC_SUCCESS && st != NC_ERR_OVERFLOW) o->lbfgs_eval_status = st;
    if (st != NC_SUCCESS) f = INFINITY;
    o->evaluations++;
    return isfinite(f) ? f : INFINITY;
}

/* Norm of the (projected, for ReLU) gradient at x. */
static double kkt_norm(const nc_optimizer *o, const double *x, const double *g, size_t n)
{
    const int relu = o->model->features == NC_FEATURES_RELU;
    return sqrt(nc__shard_kkt2(o->model, x, g, n, relu));
}

/* Two-loop recursion: p = -H_k q, with q = g restricted to the free set. */
static void lbfgs_direction(nc_optimizer *o, size_t n, const unsigned char *bound_mask)
{
    double *p = o->p;
    size_t j, c, i;
    memcpy(p, o->g, n * sizeof(double));
    if (bound_mask)
        for (i = 0; i < n; i++)
            if (bound_mask[i]) p[i] = 0.0;
    for (c = 0; c < o->hist_len; c++) {
        j = (o->hist_next + o->history - 1 - c) % o->history;
        o->alpha_tmp[j] = o->rho[j] * dot(o, o->S + j * o->n_max, p, n);
        axpy_v(o, n, -o->alpha_tmp[j], o->Y + j * o->n_max, p);
    }
    if (o->hist_len > 0) {
        j = (o->hist_next + o->history - 1) % o->history;
        {
            const double *y = o->Y + j * o->n_max;
            const double gamma = dot(o, o->S + j * o->n_max, y, n) / dot(o, y, y, n);
            for (i = 0; i < n; i++) p[i] *= gamma;
        }
    }
    for (c = o->hist_len; c-- > 0;) {
        double beta;
        j = (o->hist_next + o->history - o->hist_len + (o->hist_len - 1 - c)) % o->history;
        beta = o->rho[j] * dot(o, o->Y + j * o->n_max, p, n);
        axpy_v(o, n, o->alpha_tmp[j] - beta, o->S + j * o->n_max, p);
    }
    for (i = 0; i < n; i++) p[i] = -p[i];
    if (bound_mask)
        for (i = 0; i < n; i++)
            if (bound_mask[i]) p[i] = 0.0;
}

/* Cubic minimiser of the interpolant on [a, b] with values and slopes,
 * safeguarded to the middle 80% of the interval (bisection otherwise). */
static double cubic_step(double a, double fa, double da, double b, double fb, double db)
{
    const double lo = a < b ? a : b, hi = a < b ? b : a;
    const double d1 = da + db - 3.0 * (fa - fb) / (a - b);
    const double disc = d1 * d1 - da * db;
    double t;
    if (disc >= 0 && isfinite(fb)) {
        const double d2 = (b > a ? 1.0 : -1.0) * sqrt(disc);
        t = b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2);
    } else {
        t = 0.5 * (a + b);
    }
    if (!isfinite(t) || t < lo + 0.1 * (hi - lo) || t > hi - 0.1 * (hi - lo)) t = 0.5 * (a + b);
    return t;
}

/* Strong Wolfe line search along p (N&W algorithms 3.5 and 3.6), accepting
 * the approximate Wolfe conditions near the limit of the arithmetic. On
 * success xt, gt, *ft hold the accepted point (the model holds it). */
static int wolfe_search(nc_optimizer *o, size_t n, double f0, double d0, double a1, double *ft)
{
    const double c1 = 1e-4, c2 = 0.9, ftol = 1e-12 * fabs(f0) + 1e-300;
    double a_prev = 0.0, f_prev = f0, d_prev = d0, a = a1, lo, hi, flo, fhi, dlo, dhi;
    size_t it, i;
#define TRY(alpha, fv, dv)                                                    \
    do {                                                                      \
        for (i = 0; i < n; i++) o->xt[i] = o->x[i] + (alpha)*o->p[i];         \
        fv = lbfgs_eval(o, o->xt, o->gt);                                     \
        dv = isfinite(fv) ? dot(o, o->gt, o->p, n) : INFINITY;                   \
    } while (0)
#define ACCEPTABLE(fv, dv)                                                                   \
    ((fv <= f0 + c1 * a * d0 && fabs(dv) <= -c2 * d0) ||                                      \
     (fv <= f0 + ftol && dv >= c2 * d0 && dv <= (2.0 * c1 - 1.0) * d0))
#define FLAT(fv, dv) (fv <= f0 + ftol && dv < c2 * d0)
    for (it = 0; it < 30; it++) {
        double fa, da;
        TRY(a, fa, da);
        if (!isfinite(fa)) { /* too long a step: shrink towards a_prev */
            a = a_prev + 0.25 * (a - a_prev);
            continue;
        }
        if (ACCEPTABLE(fa, da)) { *ft = fa; return 1; }
        /* Where f is flat to rounding (within ftol) its comparisons are
         * noise: a still negative slope says the step is too short, so
         * keep expanding rather than zoom into [a_prev, a], which may hold
         * no point of enough curvature. */
        if (!FLAT(fa, da) && (fa > f0 + c1 * a * d0 || (it > 0 && fa >= f_prev))) {
            lo = a_prev; flo = f_prev; dlo = d_prev; hi = a; fhi = fa; dhi = da;
            goto zoom;
        }
        if (da >= 0) {
            lo = a; flo = fa; dlo = da; hi = a_prev; fhi = f_prev; dhi = d_prev;
            goto zoom;
        }
        a_prev = a; f_prev = fa; d_prev = da;
        a *= 2.0;
    }
    return 0;
zoom:
    for (it = 0; it < 40; it++) {
        double fa, da;
        a = cubic_step(lo, flo, dlo, hi, fhi, dhi);
        TRY(a, fa, da);
        if (ACCEPTABLE(fa, da)) { *ft = fa; return 1; }
        if (!isfinite(fa) || (!FLAT(fa, da) && (fa > f0 + c1 * a * d0 || fa >= flo))) {
            hi = a; fhi = fa; dhi = da;
        } else {
            if (da * (hi - lo) >= 0) { hi = lo; fhi = flo; dhi = dlo; }
            lo = a; flo = fa; dlo = da;
        }
        if (fabs(hi - lo) <= 1e-16 * fabs(lo)) break;
    }
    return 0;
#undef TRY
#undef ACCEPTABLE
#undef FLAT
}

/* Projected backtracking for H >= 0: x(a) = P(x + a p); accept sufficient
 * decrease, or near the limit of the arithmetic a smaller KKT residual. */
static int projected_search(nc_optimizer *o, size_t n, double f0, double a, double *ft)
{
    const double c1 = 1e-4, ftol = 1e-12 * fabs(f0) + 1e-300;
    const double k0 = kkt_norm(o, o->x, o->g, n);
    size_t h0, h1, i, it;
    h_range(o->model, &h0, &h1);
    for (it = 0; it < 60; it++, a *= 0.5) {
        double f, decrease = 0.0;
        for (i = 0; i < n; i++) {
            double v = o->x[i] + a * o->p[i];
            if (i >= h0 && i < h1 && v < 0.0) v = 0.0;
            o->xt[i] = v;
        }
        decrease = nc__shard_dot_diff(o->model, o->g, o->xt, o->x, n);
        f = lbfgs_eval(o, o->xt, o->gt);
        if (!isfinite(f)) continue;
        if (f <= f0 + c1 * decrease || (f <= f0 + ftol && kkt_norm(o, o->xt, o->gt, n) < k0)) {
            *ft = f;
            return 1;
        }
    }
    return 0;
}

static nc_status lbfgs_step(nc_optimizer *o)
{
    nc_model *m = o->model;
    const size_t n = nc_model_num_variables(m);
    const int relu = m->features == NC_FEATURES_RELU;
    unsigned char *mask = NULL;
    double d0, ft = 0.0, a1, gnorm;
    size_t i, h0, h1;
    int ok, attempt;

    if (!o->lbfgs_valid || o->lbfgs_version != m->version) {
        nc_model_get_variables(m, o->x);
        o->lbfgs_eval_status = NC_SUCCESS;
        o->f = lbfgs_eval(o, o->x, o->g);
        if (o->lbfgs_eval_status != NC_SUCCESS)
            return nc__fail(o->msg, o->lbfgs_eval_status, "the starting point: %s",
                            nc_model_last_error(m));
        if (!isfinite(o->f))
            return nc__fail(o->msg, NC_ERR_OVERFLOW, "the objective at the starting point overflowed");
        o->hist_len = o->hist_next = 0;
        o->lbfgs_valid = 1;
        o->lbfgs_stall = 0;
        o->lbfgs_best_f = o->f;
        o->lbfgs_best_g = INFINITY;
    }
    h_range(m, &h0, &h1);
    if (relu) {
        /* Variables at the bound pushed outwards are held fixed. */
        mask = o->mask;
        for (i = 0; i < n; i++) mask[i] = (i >= h0 && i < h1 && o->x[i] <= 0.0 && o->g[i] > 0.0);
    }
    for (attempt = 0; attempt < 2; attempt++) {
        lbfgs_direction(o, n, relu ? mask : NULL);
        d0 = dot(o, o->g, o->p, n);
        if (!(d0 < 0.0)) { /* not a descent direction: restart from -g */
            o->hist_len = o->hist_next = 0;
            lbfgs_direction(o, n, relu ? mask : NULL);
            d0 = dot(o, o->g, o->p, n);
            if (!(d0 < 0.0)) break;
        }
        gnorm = sqrt(dot(o, o->p, o->p, n));
        a1 = o->hist_len == 0 ? (gnorm > 1.0 ? 1.0 / gnorm : 1.0) : 1.0;
        o->lbfgs_eval_status = NC_SUCCESS;
        ok = relu ? projected_search(o, n, o->f, a1, &ft) : wolfe_search(o, n, o->f, d0, a1, &ft);
        if (o->lbfgs_eval_status != NC_SUCCESS) { /* a shard's reductions failed */
            const nc_status st = o->lbfgs_eval_status;
            nc__fail(o->msg, st, "step %zu not taken: %s", o->iterations + 1,
                     nc_model_last_error(m));
            nc_model_set_variables(m, o->x);
            return st;
        }
        if (ok) {
            /* s = xt - x, y = gt - g into the history when the curvature is positive. */
            double *s = o->S + o->hist_next * o->n_max, *y = o->Y + o->hist_next * o->n_max;
            double sy;
            for (i = 0; i < n; i++) {
                s[i] = o->xt[i] - o->x[i];
                y[i] = o->gt[i] - o->g[i];
            }
            sy = dot(o, s, y, n);
            if (sy > 1e-12 * sqrt(dot(o, s, s, n) * dot(o, y, y, n)) && sy > 0) {
                o->rho[o->hist_next] = 1.0 / sy;
                o->hist_next = (o->hist_next + 1) % o->history;
                if (o->hist_len < o->history) o->hist_len++;
            }
            memcpy(o->x, o->xt, n * sizeof(double));
            memcpy(o->g, o->gt, n * sizeof(double));
            o->f = ft;
            o->iterations++;
            o->objective = ft;
            o->gradient_norm = kkt_norm(o, o->x, o->g, n);
            o->lbfgs_version = m->version;
            /* Steps accepted within rounding (approximate Wolfe) can wander
             * in the noise of f and g forever: without a new lowest f or
             * gradient norm in NC_LBFGS_STALL steps, stop. */
            if (ft < o->lbfgs_best_f || o->gradient_norm < o->lbfgs_best_g) {
                if (ft < o->lbfgs_best_f) o->lbfgs_best_f = ft;
                if (o->gradient_norm < o->lbfgs_best_g) o->lbfgs_best_g = o->gradient_norm;
                o->lbfgs_stall = 0;
            } else if (++o->lbfgs_stall >= NC_LBFGS_STALL)
                return nc__fail(o->msg, NC_STOP_NO_PROGRESS,
                                "%d steps without a lower objective than %.17g or a smaller "
                                "gradient norm than %.3g: the limit of the arithmetic",
                                NC_LBFGS_STALL, o->lbfgs_best_f, o->lbfgs_best_g);
            return NC_SUCCESS;
        }
        /* Restore the model, forget the history and try steepest descent once. */
        nc_model_set_variables(m, o->x);
        o->hist_len = o->hist_next = 0;
        if (relu)
            for (i = 0; i < n; i++) mask[i] = (i >= h0 && i < h1 && o->x[i] <= 0.0 && o->g[i] > 0.0);
    }
    nc_model_set_variables(m, o->x);
    o->lbfgs_version = m->version;
    o->objective = o->f;
    o->gradient_norm = kkt_norm(o, o->x, o->g, n);
    return nc__fail(o->msg, NC_STOP_NO_PROGRESS,
                    "no step along the search direction decreases the objective %.17g "
                    "(gradient norm %.3g)", o->f, o->gradient_norm);
}

/* ---- driver ----------------------------------------------------------------- */

NC_API nc_status nc_optimizer_step(nc_optimizer *o)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if (o->model->depth != o->depth)
        return nc__fail(o->msg, NC_ERR_UNSUPPORTED,
                        "the model's depth changed after the optimizer was created; create a "
                        "new optimizer");
    return o->algorithm == NC_OPT_LBFGS ? lbfgs_step(o) : first_order_step(o);
}

/* Evaluate the model's current state into o->objective / o->gradient_norm. */
nc_status nc__optimizer_evaluate_current(nc_optimizer *o)
{
    nc__pass_out out;
    nc_status st;
    if (o->algorithm == NC_OPT_LBFGS && o->lbfgs_valid && o->lbfgs_version == o->model->version)
        return NC_SUCCESS; /* L-BFGS's values already belong to the current state */
    if ((st = nc__model_evaluate(o->model, NULL, 0, NULL, &out)) != NC_SUCCESS)
        return nc__fail(o->msg, st, "the final state: the reductions over the shards: %s",
                        nc_strerror(st));
    o->evaluations++;
    o->objective = out.objective;
    o->gradient_norm = sqrt(out.norm2_gsmall + out.norm2_gH);
    if (!isfinite(o->objective) || !isfinite(o->gradient_norm))
        return nc__fail(o->msg, NC_ERR_OVERFLOW, "the objective of the final state overflowed");
    return NC_SUCCESS;
}

NC_API size_t nc_optimizer_iterations(const nc_optimizer *o) { return o ? o->iterations : 0; }
NC_API size_t nc_optimizer_evaluations(const nc_optimizer *o) { return o ? o->evaluations : 0; }
NC_API double nc_optimizer_objective(const nc_optimizer *o) { return o ? o->objective : NAN; }
NC_API double nc_optimizer_gradient_norm(const nc_optimizer *o)
{
    return o ? o->gradient_norm : NAN;
}
NC_API const char *nc_optimizer_last_error(const nc_optimizer *o) { return o ? o->msg : ""; }

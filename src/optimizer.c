/*
 * optimizer.c - full-batch gradient descent with heavy-ball momentum.
 *
 * A step is one fused pass over H (nc__model_pass) that evaluates the
 * objective and gradient at x_t and moves H to x_{t+1} block by block,
 * followed by the small updates of W and b.
 *
 * Divergence guard. H is updated in place, so a step cannot be undone. Before
 * a step we therefore bound every value it can produce from the norms of the
 * state and of the momentum buffers (Frobenius norms bound spectral norms and
 * entries):
 *   logits       |z| <= Zb = ||W|| ||H|| + ||b||
 *   dL/dZ / N    ||G|| <= sqrt(2) (CE) or sqrt(K) Zb + 1 (MSE)
 *   gradients    ||gW|| <= ||G|| ||H|| + lW ||W||, ||gH|| <= ||W|| ||G|| + lH ||H||,
 *                ||gb|| <= sqrt(N) ||G|| + lb ||b||
 *   momentum     ||v'|| <= mu ||v|| + ||g||;  new state ||x'|| <= ||x|| + lr ||v'||
 * and require each, and the logit bound of the new state, to be below
 * NC_BOUND. Then no value of the step or of an evaluation of the new state
 * can overflow, and the objective of the new state is finite. A step whose
 * bound fails is not taken: NC_ERR_DIVERGED, with the model at x_t.
 */
#include "nc_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NC_BOUND 1e100

struct nc_optimizer {
    nc_model *model;
    nc_algorithm algorithm;
    double lr, lr_H;
    int has_lr_H;
    double momentum;
    size_t max_iterations;
    double gtol;
    nc_progress_fn callback;
    void *user_data;
    size_t every;

    double *vW, *vH, *vb; /* momentum buffers; vH allocated when momentum > 0 */
    int velocity_valid;   /* 0: buffers hold stale values, zero before use */
    double *gW, *gb;      /* gradient workspace */

    size_t iterations;
    double objective, gradient_norm;

    /* Norms for the divergence guard, valid while model->version == version. */
    uint64_t version;
    int norms_valid;
    double nW2, nH2, nb2, nvW2, nvH2, nvb2;

    char msg[NC_MSG_SIZE];
};

NC_API nc_status nc_optimizer_create(nc_optimizer **out, nc_model *model, nc_algorithm algorithm)
{
    nc_optimizer *o;
    size_t dK;
    if (!out) return NC_ERR_NULL_ARGUMENT;
    *out = NULL;
    if (!model) return NC_ERR_NULL_ARGUMENT;
    if (algorithm != NC_OPT_GD) return NC_ERR_INVALID_VALUE;
    o = (nc_optimizer *)calloc(1, sizeof *o);
    if (!o) return NC_ERR_OUT_OF_MEMORY;
    o->model = model;
    o->algorithm = algorithm;
    o->lr = 0.1;
    o->max_iterations = 10000;
    o->every = 1;
    o->objective = NAN;
    o->gradient_norm = NAN;
    dK = model->d * model->K; /* checked at model creation */
    o->vW = (double *)calloc(dK, sizeof(double));
    o->gW = (double *)calloc(dK, sizeof(double));
    o->vb = (double *)calloc(model->K, sizeof(double));
    o->gb = (double *)calloc(model->K, sizeof(double));
    if (!o->vW || !o->gW || !o->vb || !o->gb) {
        nc_optimizer_destroy(o);
        return NC_ERR_OUT_OF_MEMORY;
    }
    *out = o;
    return NC_SUCCESS;
}

NC_API void nc_optimizer_destroy(nc_optimizer *o)
{
    if (!o) return;
    free(o->vW);
    free(o->vH);
    free(o->vb);
    free(o->gW);
    free(o->gb);
    free(o);
}

static nc_status check_positive(nc_optimizer *o, double x, const char *what)
{
    if (!isfinite(x)) return nc__fail(o->msg, NC_ERR_NON_FINITE, "%s is not finite", what);
    if (x <= 0) return nc__fail(o->msg, NC_ERR_INVALID_VALUE, "%s must be > 0 (got %g)", what, x);
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_learning_rate(nc_optimizer *o, double lr)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = check_positive(o, lr, "learning rate")) != NC_SUCCESS) return st;
    o->lr = lr;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_feature_learning_rate(nc_optimizer *o, double lr_H)
{
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if ((st = check_positive(o, lr_H, "feature learning rate")) != NC_SUCCESS) return st;
    o->lr_H = lr_H;
    o->has_lr_H = 1;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_momentum(nc_optimizer *o, double momentum)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if (!isfinite(momentum))
        return nc__fail(o->msg, NC_ERR_NON_FINITE, "momentum is not finite");
    if (momentum < 0 || momentum >= 1)
        return nc__fail(o->msg, NC_ERR_INVALID_VALUE, "momentum must be in [0, 1) (got %g)",
                        momentum);
    if (momentum > 0 && !o->vH) {
        /* The d x N buffer exists only for runs that use momentum; allocated
         * here, in a setter, never inside an iteration. */
        o->vH = (double *)calloc(o->model->d * o->model->N, sizeof(double));
        if (!o->vH)
            return nc__fail(o->msg, NC_ERR_OUT_OF_MEMORY,
                            "cannot allocate the momentum buffer of H (%zu x %zu)", o->model->d,
                            o->model->N);
        o->velocity_valid = 0;
    }
    if (o->momentum == 0 && momentum > 0) o->velocity_valid = 0;
    o->momentum = momentum;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_max_iterations(nc_optimizer *o, size_t max_iterations)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if (max_iterations == 0)
        return nc__fail(o->msg, NC_ERR_INVALID_VALUE, "max_iterations must be >= 1");
    o->max_iterations = max_iterations;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_gradient_tolerance(nc_optimizer *o, double tol)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if (!isfinite(tol)) return nc__fail(o->msg, NC_ERR_NON_FINITE, "tolerance is not finite");
    if (tol < 0) return nc__fail(o->msg, NC_ERR_INVALID_VALUE, "tolerance must be >= 0");
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
    o->velocity_valid = 0;
    o->norms_valid = 0;
    o->iterations = 0;
    o->objective = NAN;
    o->gradient_norm = NAN;
    return NC_SUCCESS;
}

static void zero_velocity(nc_optimizer *o)
{
    const nc_model *m = o->model;
    memset(o->vW, 0, m->d * m->K * sizeof(double));
    memset(o->vb, 0, m->K * sizeof(double));
    if (o->vH) memset(o->vH, 0, m->d * m->N * sizeof(double));
    o->nvW2 = o->nvH2 = o->nvb2 = 0.0;
    o->velocity_valid = 1;
}

/* Largest value the step from the current state can produce (see top). */
static double step_bound(const nc_optimizer *o)
{
    const nc_model *m = o->model;
    const double mu = o->momentum;
    const double lrW = o->lr, lrH = o->has_lr_H ? o->lr_H : o->lr;
    const double nW = sqrt(o->nW2), nH = sqrt(o->nH2), nb = m->bias ? sqrt(o->nb2) : 0.0;
    const double nvW = sqrt(o->nvW2), nvH = sqrt(o->nvH2), nvb = sqrt(o->nvb2);
    const double Zb = nW * nH + nb;
    const double Gb = m->loss == NC_LOSS_MSE ? sqrt((double)m->K) * Zb + 1.0 : sqrt(2.0);
    const double gWb = Gb * nH + m->lambda_W * nW;
    const double gHb = nW * Gb + m->lambda_H * nH;
    const double gbb = m->bias ? sqrt((double)m->N) * Gb + m->lambda_b * nb : 0.0;
    const double vWb = mu * nvW + gWb, vHb = mu * nvH + gHb, vbb = mu * nvb + gbb;
    const double Wn = nW + lrW * vWb, Hn = nH + lrH * vHb, bn = nb + lrW * vbb;
    const double Zn = Wn * Hn + bn;
    const double all[] = {Zb, Gb, gWb, gHb, gbb, vWb, vHb, vbb, Wn, Hn, bn, Zn};
    double worst = 0.0;
    size_t i;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!(all[i] <= NC_BOUND)) return INFINITY; /* also catches NaN */
        if (all[i] > worst) worst = all[i];
    }
    return worst;
}

static void refresh_state_norms(nc_optimizer *o)
{
    const nc_model *m = o->model;
    o->nW2 = nc__norm2(m->W, m->d * m->K);
    o->nH2 = nc__norm2(m->H, m->d * m->N);
    o->nb2 = nc__norm2(m->b, m->K);
    o->version = m->version;
    o->norms_valid = 1;
}

NC_API nc_status nc_optimizer_step(nc_optimizer *o)
{
    nc_model *m;
    nc__h_update upd;
    nc__pass_out out;
    const int use_momentum = o && o->momentum > 0;
    size_t i, dK;
    double lrH, w2 = 0.0, v2 = 0.0, b2 = 0.0, vb2 = 0.0;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    m = o->model;
    dK = m->d * m->K;
    lrH = o->has_lr_H ? o->lr_H : o->lr;
    if (use_momentum && !o->velocity_valid) zero_velocity(o);
    if (!use_momentum) o->nvW2 = o->nvH2 = o->nvb2 = 0.0;
    if (!o->norms_valid || o->version != m->version) refresh_state_norms(o);

    if (!(step_bound(o) <= NC_BOUND))
        return nc__fail(o->msg, NC_ERR_DIVERGED,
                        "step %zu not taken: the state's norms (||W|| = %.3g, ||H|| = %.3g) "
                        "bound the next values above %.0e; the model keeps its last finite "
                        "iterate",
                        o->iterations + 1, sqrt(o->nW2), sqrt(o->nH2), NC_BOUND);

    upd.lr = lrH;
    upd.momentum = o->momentum;
    upd.velocity = use_momentum ? o->vH : NULL;
    nc__model_pass(m, o->gW, o->gb, NULL, 0, &upd, &out);

    /* W and b: the same rule on the small blocks. */
    for (i = 0; i < dK; i++) {
        double g = o->gW[i];
        if (use_momentum) {
            o->vW[i] = o->momentum * o->vW[i] + g;
            g = o->vW[i];
            v2 += g * g;
        }
        m->W[i] -= o->lr * g;
        w2 += m->W[i] * m->W[i];
    }
    if (m->bias)
        for (i = 0; i < m->K; i++) {
            double g = o->gb[i];
            if (use_momentum) {
                o->vb[i] = o->momentum * o->vb[i] + g;
                g = o->vb[i];
                vb2 += g * g;
            }
            m->b[i] -= o->lr * g;
            b2 += m->b[i] * m->b[i];
        }
    else
        b2 = o->nb2;
    m->version++;

    o->iterations++;
    o->objective = out.objective;
    o->gradient_norm = sqrt(out.norm2_gW + out.norm2_gH + out.norm2_gb);
    o->nW2 = w2;
    o->nH2 = upd.norm2_H_new;
    o->nb2 = b2;
    o->nvW2 = v2;
    o->nvH2 = upd.norm2_v_new;
    o->nvb2 = vb2;
    o->version = m->version;
    if (!isfinite(o->objective) || !isfinite(o->gradient_norm))
        /* Excluded by the bound above; kept as a last line of defence. */
        return nc__fail(o->msg, NC_ERR_OVERFLOW, "step %zu overflowed despite the bound",
                        o->iterations);
    return NC_SUCCESS;
}

/* Evaluate the model's current state into o->objective / o->gradient_norm. */
static nc_status evaluate_current(nc_optimizer *o)
{
    nc__pass_out out;
    nc__model_pass(o->model, o->gW, o->gb, NULL, 0, NULL, &out);
    o->objective = out.objective;
    o->gradient_norm = sqrt(out.norm2_gW + out.norm2_gH + out.norm2_gb);
    if (!isfinite(o->objective) || !isfinite(o->gradient_norm))
        return nc__fail(o->msg, NC_ERR_OVERFLOW, "the objective of the final state overflowed");
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_run(nc_optimizer *o)
{
    size_t t;
    nc_status st;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    for (t = 0; t < o->max_iterations; t++) {
        if ((st = nc_optimizer_step(o)) != NC_SUCCESS) return st;
        if (o->gtol > 0 && o->gradient_norm <= o->gtol) {
            /* The step started at a point within tolerance; certify the
             * state the model now holds before stopping. */
            if ((st = evaluate_current(o)) != NC_SUCCESS) return st;
            if (o->gradient_norm <= o->gtol) {
                if (o->callback)
                    o->callback(o->model, o->iterations, o->objective, o->gradient_norm,
                                o->user_data);
                return NC_STOP_GRADIENT_TOLERANCE;
            }
        }
        if (o->callback && o->iterations % o->every == 0 && t + 1 < o->max_iterations &&
            o->callback(o->model, o->iterations, o->objective, o->gradient_norm, o->user_data)) {
            if ((st = evaluate_current(o)) != NC_SUCCESS) return st;
            return NC_STOP_CALLBACK;
        }
    }
    if ((st = evaluate_current(o)) != NC_SUCCESS) return st;
    if (o->callback)
        o->callback(o->model, o->iterations, o->objective, o->gradient_norm, o->user_data);
    return NC_STOP_MAX_ITERATIONS;
}

NC_API size_t nc_optimizer_iterations(const nc_optimizer *o) { return o ? o->iterations : 0; }
NC_API double nc_optimizer_objective(const nc_optimizer *o) { return o ? o->objective : NAN; }
NC_API double nc_optimizer_gradient_norm(const nc_optimizer *o)
{
    return o ? o->gradient_norm : NAN;
}
NC_API const char *nc_optimizer_last_error(const nc_optimizer *o) { return o ? o->msg : ""; }

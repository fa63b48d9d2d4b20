/*
 * optim/run.c - nc_optimizer_run: the steps until a stopping test holds,
 * and what a run records (the metrics history: step 0, every n steps, the
 * final state), checks (nc_curvature at a stop by tolerance or lack of
 * progress), escapes from (escape.c), compares with (a prediction) and
 * reports (nc_optimizer_stop_info). The steps themselves are optimizer.c's.
 */
#include "optim/optim.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The largest |x| of W and H (b excluded): the zero state is W = H = 0. */
static double state_amax(const nc_model *m)
{
    double a = 0.0;
    size_t i;
    const size_t ns = m->n_hidden + m->d * m->K, nH = m->d * m->N;
    for (i = 0; i < ns; i++)
        if (fabs(m->small[i]) > a) a = fabs(m->small[i]);
    for (i = 0; i < nH; i++)
        if (fabs(m->H[i]) > a) a = fabs(m->H[i]);
    /* a failed reduction gives no value (and so no warning), not a local one */
    if (m->shard && m->shard->max(m->shard, &a, 1) != NC_SUCCESS) return NAN;
    return a;
}

/* Record the state after `iterations` steps, whose objective and gradient
 * norm the optimizer holds (unless already recorded). */
static nc_status record_now(nc_optimizer *o)
{
    nc_status st;
    if (!o->recorder || o->recorded_step == o->iterations) return NC_SUCCESS;
    st = nc__history_measure(o->recorder, o->model);
    if (st != NC_SUCCESS)
        return nc__fail(o->msg, st, "the metrics history: %s", nc_history_last_error(o->recorder));
    nc__history_commit(o->recorder, o->iterations, o->objective, o->gradient_norm);
    o->recorded_step = o->iterations;
    return NC_SUCCESS;
}

/* The stop's report: the reason, the check, the comparison (stop_info). */
static void describe_stop(nc_optimizer *o, nc_status reason)
{
    char *s = o->stop_info;
    const size_t cap = sizeof o->stop_info;
    size_t n;
    n = (size_t)snprintf(s, cap, "%s after %zu steps: objective %.10g, gradient norm %.3g",
                         nc_strerror(reason), o->iterations, o->objective, o->gradient_norm);
    if (o->staged_steps && n < cap)
        n += (size_t)snprintf(s + n, cap - n, "; %zu steps staged by the divergence guard",
                              o->staged_steps);
    if (o->escapes && n < cap)
        n += (size_t)snprintf(s + n, cap - n, "; %zu escapes", o->escapes);
    if (state_amax(o->model) <= 1e-6 && n < cap)
        n += (size_t)snprintf(s + n, cap - n, "; WARNING: the state is W = H = 0 (|x| <= 1e-6), "
                              "a stationary point that is not the optimum of a model with data");
    if (o->checked && n < cap)
        n += (size_t)snprintf(s + n, cap - n, "; second-order check: %s (lambda_min %.3g, "
                              "%zu classes at h = 0)", nc_point_name(o->point),
                              nc_curvature_min_eigenvalue(o->curvature),
                              nc_curvature_dead_classes(o->curvature, NULL));
    if (o->compared && n < cap)
        n += (size_t)snprintf(s + n, cap - n, "; against the prediction F* = %.10g: %s "
                              "(gap %.3g)", o->compare_values[NC_COMPARE_PREDICTED_OBJECTIVE],
                              nc_verdict_name(o->verdict),
                              o->compare_values[NC_COMPARE_OBJECTIVE_GAP]);
    (void)n;
}

/* At a stop by tolerance or lack of progress: check the point and, with
 * escapes left, try to leave it. 1 if the model moved (the run goes on). */
static int check_and_escape(nc_optimizer *o, nc_status reason, nc_status *err)
{
    nc_escape kind = NC_ESCAPE_NONE;
    double decrease = 0.0;
    *err = NC_SUCCESS;
    if (reason != NC_STOP_GRADIENT_TOLERANCE && reason != NC_STOP_NO_PROGRESS) return 0;
    if (o->max_escapes == 0 && !o->check_stop) return 0;
    if (!o->curvature && nc_curvature_create(&o->curvature, o->model) != NC_SUCCESS) {
        *err = nc__fail(o->msg, NC_ERR_OUT_OF_MEMORY, "no memory for the second-order check");
        return 0;
    }
    nc_curvature_set_tolerances(o->curvature, o->gtol > 0 ? 10.0 * o->gtol : 1e-8, 1e-6);
    if (o->escapes < o->max_escapes && o->prediction) {
        /* the predicted optimum needs no escape */
        nc_verdict v;
        double values[NC_COMPARE_COUNT];
        if (nc_prediction_compare(o->prediction, o->model, 1e-6, values, &v) == NC_SUCCESS &&
            v == NC_VERDICT_OPTIMUM)
            o->escapes = o->max_escapes; /* only the check below */
    }
    if (o->escapes < o->max_escapes) {
        /* the escape records its own message on a failure */
        *err = nc__escape(o, o->curvature, &kind, &decrease);
        if (*err != NC_SUCCESS) return 0;
    } else {
        *err = nc_curvature_compute(o->curvature);
        o->evaluations += nc_curvature_evaluations(o->curvature);
        if (*err != NC_SUCCESS) {
            nc__fail(o->msg, *err, "the second-order check: %s",
                     nc_curvature_last_error(o->curvature));
            return 0;
        }
    }
    o->checked = 1;
    o->point = nc_curvature_point(o->curvature);
    if (kind == NC_ESCAPE_NONE) return 0;
    o->escapes++;
    o->buffers_valid = 0; /* momentum from before the move would carry it back */
    o->lbfgs_valid = 0;
    o->checked = 0;
    return 1;
}

NC_API nc_status nc_optimizer_run(nc_optimizer *o)
{
    size_t t = 0;
    nc_status st, reason = NC_STOP_MAX_ITERATIONS, err;
    const int first_order = o && o->algorithm != NC_OPT_LBFGS;
    if (!o) return NC_ERR_NULL_ARGUMENT;
    o->escapes = 0;
    o->checked = o->compared = 0;
    o->stop_info[0] = '\0';
    o->staged_steps = 0;
    if (o->recorder && !first_order) { /* step 0: L-BFGS's values belong to the state it holds */
        if ((st = nc__optimizer_evaluate_current(o)) != NC_SUCCESS) return st;
        if ((st = record_now(o)) != NC_SUCCESS) return st;
    }
    for (;;) {
        for (; t < o->max_iterations; t++) {
            /* a first-order step reports the state it starts from: measure it first */
            const int rec = o->recorder && o->iterations % o->record_every == 0 &&
                            o->recorded_step != o->iterations;
            const size_t at = o->iterations;
            if (rec && first_order && (st = nc__history_measure(o->recorder, o->model)) != NC_SUCCESS)
                return nc__fail(o->msg, st, "the metrics history: %s",
                                nc_history_last_error(o->recorder));
            st = nc_optimizer_step(o);
            if (rec && first_order && (st == NC_SUCCESS || st == NC_STOP_NO_PROGRESS)) {
                nc__history_commit(o->recorder, at, o->objective, o->gradient_norm);
                o->recorded_step = at;
            }
            if (st == NC_STOP_NO_PROGRESS) {
                reason = st;
                t++;
                break;
            }
            if (st != NC_SUCCESS) {
                describe_stop(o, st);
                return st;
            }
            if (!first_order && o->recorder && o->iterations % o->record_every == 0 &&
                (st = record_now(o)) != NC_SUCCESS)
                return st;
            if (o->gtol > 0 && o->gradient_norm <= o->gtol) {
                /* For first-order steps the value belongs to the start of the
                 * step: certify the state the model now holds before stopping. */
                if ((st = nc__optimizer_evaluate_current(o)) != NC_SUCCESS) return st;
                if (o->gradient_norm <= o->gtol) {
                    reason = NC_STOP_GRADIENT_TOLERANCE;
                    t++;
                    break;
                }
            }
            if (o->callback && o->iterations % o->every == 0 && t + 1 < o->max_iterations &&
                o->callback(o->model, o->iterations, o->objective, o->gradient_norm,
                            o->user_data)) {
                if ((st = nc__optimizer_evaluate_current(o)) != NC_SUCCESS) return st;
                if ((st = record_now(o)) != NC_SUCCESS) return st;
                describe_stop(o, NC_STOP_CALLBACK);
                return NC_STOP_CALLBACK;
            }
        }
        if (t >= o->max_iterations && reason != NC_STOP_GRADIENT_TOLERANCE &&
            reason != NC_STOP_NO_PROGRESS)
            reason = NC_STOP_MAX_ITERATIONS;
        if (check_and_escape(o, reason, &err) && t < o->max_iterations) {
            reason = NC_STOP_MAX_ITERATIONS;
            continue;
        }
        if (err != NC_SUCCESS) return err;
        break;
    }
    if ((st = nc__optimizer_evaluate_current(o)) != NC_SUCCESS) return st;
    if ((st = record_now(o)) != NC_SUCCESS) return st;
    if (o->callback)
        o->callback(o->model, o->iterations, o->objective, o->gradient_norm, o->user_data);
    if (o->prediction) {
        st = nc_prediction_compare(o->prediction, o->model, 1e-6, o->compare_values, &o->verdict);
        if (st < 0)
            return nc__fail(o->msg, st, "the comparison with the prediction: %s",
                            nc_prediction_last_error(o->prediction));
        o->compared = 1;
    }
    describe_stop(o, reason);
    return reason;
}

NC_API nc_status nc_optimizer_set_recorder(nc_optimizer *o, nc_history *history, size_t every)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    if (history && every < 1)
        return nc__fail(o->msg, NC_ERR_INVALID_VALUE, "record every %zu steps: need >= 1", every);
    o->recorder = history;
    o->record_every = history ? every : 0;
    o->recorded_step = SIZE_MAX;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_escape(nc_optimizer *o, size_t max_escapes)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    o->max_escapes = max_escapes;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_check(nc_optimizer *o, int enabled)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    o->check_stop = enabled != 0;
    return NC_SUCCESS;
}

NC_API nc_status nc_optimizer_set_prediction(nc_optimizer *o, nc_prediction *prediction)
{
    if (!o) return NC_ERR_NULL_ARGUMENT;
    o->prediction = prediction;
    return NC_SUCCESS;
}

NC_API size_t nc_optimizer_escapes(const nc_optimizer *o) { return o ? o->escapes : 0; }
NC_API size_t nc_optimizer_staged_steps(const nc_optimizer *o) { return o ? o->staged_steps : 0; }

NC_API nc_point nc_optimizer_stop_point(const nc_optimizer *o)
{
    return (o && o->checked) ? o->point : NC_POINT_INCONCLUSIVE;
}

NC_API nc_status nc_optimizer_stop_verdict(const nc_optimizer *o, nc_verdict *verdict,
                                           double *values)
{
    if (!o || !verdict) return NC_ERR_NULL_ARGUMENT;
    if (!o->compared) return NC_ERR_UNAVAILABLE;
    *verdict = o->verdict;
    if (values) memcpy(values, o->compare_values, sizeof o->compare_values);
    return NC_SUCCESS;
}

NC_API const char *nc_optimizer_stop_info(const nc_optimizer *o) { return o ? o->stop_info : ""; }


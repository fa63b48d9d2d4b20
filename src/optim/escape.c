/*
 * optim/escape.c - leaving a stationary point that is not a minimum, or a
 * minimum the optimizer can see is not the global one. Three moves, each
 * kept only if the objective decreases:
 *  - negative curvature: from a strict saddle (nc_curvature), along the
 *    Ritz vector of lambda_min, signed so that it does not ascend to first
 *    order, with a doubling search of the step;
 *  - class revival (ReLU features): a class whose features are all held at
 *    h = 0 while its classifier row points away from every live coordinate
 *    is a KKT point with positive multipliers, a strict local minimum of the
 *    face that no local move leaves. The move gives the class the
 *    least-used coordinate j: h_i[j] = t for its samples and, when the
 *    classifier is the learned single layer, w_k[j] += s, over a grid of
 *    (s, t) on the scales of W and H;
 *  - from zero: W = H = 0 is a local minimum of deep linear models (M >= 2:
 *    the loss term is of order M + 1 >= 3 there, so the Hessian is the weight
 *    decay's) and a saddle or minimum of others. The move is t u with u the
 *    label-aligned point (h_i = e_{y_i}, hidden layers I, classifier rows
 *    e_k), over a doubling search of t.
 */
#include "optim/optim.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Objective at x (clamped at 0 on H for ReLU features); +Inf if refused. */
static double objective_at(nc_model *m, double *x, size_t hoff)
{
    double f;
    size_t i;
    if (m->features == NC_FEATURES_RELU)
        for (i = hoff; i < hoff + m->d * m->N; i++)
            if (x[i] < 0.0) x[i] = 0.0;
    if (nc_model_set_variables(m, x) != NC_SUCCESS) return INFINITY;
    if (nc_model_objective(m, &f) != NC_SUCCESS || !(f - f == 0.0)) return INFINITY;
    return f;
}

typedef struct search {
    nc_model *m;
    size_t n, hoff;
    double *trial, *best;
    double fbest;
    size_t evaluations;
} search;

/* Try trial: keep it if it is the lowest so far. */
static void consider(search *s)
{
    const double f = objective_at(s->m, s->trial, s->hoff);
    s->evaluations++;
    if (f < s->fbest) {
        s->fbest = f;
        memcpy(s->best, s->trial, s->n * sizeof(double));
    }
}

static void along_direction(search *s, const double *x0, const double *v)
{
    double t, xmax = 0.0;
    size_t i, k, rises = 0;
    for (i = 0; i < s->n; i++)
        if (fabs(x0[i]) > xmax) xmax = fabs(x0[i]);
    t = 1e-4 * (xmax > 1.0 ? xmax : 1.0);
    for (k = 0; k < 40 && rises < 3; k++, t *= 2.0) {
        const double before = s->fbest;
        for (i = 0; i < s->n; i++) s->trial[i] = x0[i] + t * v[i];
        consider(s);
        rises = s->fbest < before ? 0 : rises + 1;
    }
}

static void revive(search *s, const double *x0, size_t k)
{
    nc_model *m = s->m;
    const size_t d = m->d, N = m->N, woff = m->n_hidden;
    const int move_w = m->depth == 1 && !m->fixed;
    double *use, hmax = 0.0, wmax = 0.0;
    size_t i, j, jmin = 0, a, b;
    use = nc__alloc_doubles(d, 1);
    if (use == NULL) return;
    for (i = 0; i < N; i++)
        for (j = 0; j < d; j++) {
            const double h = fabs(x0[s->hoff + i * d + j]);
            use[j] += h;
            if (h > hmax) hmax = h;
        }
    for (j = 1; j < d; j++)
        if (use[j] < use[jmin]) jmin = j;
    free(use);
    for (i = 0; i < m->d * m->K && move_w; i++)
        if (fabs(x0[woff + i]) > wmax) wmax = fabs(x0[woff + i]);
    if (hmax == 0.0) hmax = 1.0;
    if (wmax == 0.0) wmax = 1.0;
    for (a = 0; a < (move_w ? 11u : 1u); a++)
        for (b = 0; b < 11; b++) {
            const double t = hmax * ldexp(1.0, (int)b - 6), sw = wmax * ldexp(1.0, (int)a - 6);
            memcpy(s->trial, x0, s->n * sizeof(double));
            for (i = 0; i < N; i++)
                if ((size_t)m->labels[i] == k) s->trial[s->hoff + i * d + jmin] = t;
            if (move_w) s->trial[woff + k * d + jmin] += sw;
            consider(s);
        }
}

static void from_zero(search *s, const double *x0)
{
    nc_model *m = s->m;
    const size_t d = m->d, K = m->K, N = m->N;
    double *u = nc__alloc_doubles(s->n, 1), t;
    size_t i, l, k, r;
    if (u == NULL) return;
    for (l = 0; l + 1 < m->depth; l++) /* hidden layers: I */
        for (r = 0; r < d; r++) u[l * d * d + r * d + r] = 1.0;
    if (!m->fixed) /* classifier rows e_k (row-major K x d) */
        for (k = 0; k < K; k++) u[m->n_hidden + k * d + k % d] = 1.0;
    for (i = 0; i < N; i++) u[s->hoff + i * d + (size_t)m->labels[i] % d] = 1.0;
    for (t = 1.0 / 1024.0; t <= 64.0; t *= 2.0) {
        for (i = 0; i < s->n; i++)
            s->trial[i] = (i >= s->hoff + d * N) ? x0[i] /* b */ : t * u[i];
        consider(s);
    }
    free(u);
}

nc_status nc__escape(nc_optimizer *o, nc_curvature *c, nc_escape *kind, double *decrease)
{
    nc_model *m = o->model;
    const size_t n = nc_model_num_variables(m);
    const size_t hoff = m->n_hidden + (m->fixed ? 0 : m->d * m->K);
    double *x0, *v, *g, f0, xmax = 0.0;
    search s;
    size_t i, ndead, *dead;
    nc_status st;
    *kind = NC_ESCAPE_NONE;
    *decrease = 0.0;
    st = nc_curvature_compute(c);
    if (st != NC_SUCCESS) return st;
    x0 = nc__alloc_doubles(n, 1);
    v = nc__alloc_doubles(n, 1);
    g = nc__alloc_doubles(n, 1);
    s.trial = nc__alloc_doubles(n, 1);
    s.best = nc__alloc_doubles(n, 1);
    dead = (size_t *)calloc(m->K, sizeof(size_t));
    if (!x0 || !v || !g || !s.trial || !s.best || !dead) {
        st = NC_ERR_OUT_OF_MEMORY;
        goto done;
    }
    nc_model_get_variables(m, x0);
    st = nc_model_gradient_vector(m, &f0, g);
    if (st != NC_SUCCESS) goto done;
    s.m = m;
    s.n = n;
    s.hoff = hoff;
    s.fbest = f0;
    s.evaluations = 0;
    memcpy(s.best, x0, n * sizeof(double));
    for (i = 0; i < hoff + m->d * m->N; i++)
        if (fabs(x0[i]) > xmax) xmax = fabs(x0[i]);
    ndead = nc_curvature_dead_classes(c, dead);
    if (nc_curvature_point(c) == NC_POINT_STRICT_SADDLE) {
        double gv = 0.0;
        nc_curvature_get_direction(c, v);
        for (i = 0; i < n; i++) gv += g[i] * v[i];
        if (gv > 0.0)
            for (i = 0; i < n; i++) v[i] = -v[i];
        along_direction(&s, x0, v);
        if (s.fbest < f0) *kind = NC_ESCAPE_NEGATIVE_CURVATURE;
    }
    if (*kind == NC_ESCAPE_NONE && xmax <= 1e-6) {
        from_zero(&s, x0);
        if (s.fbest < f0) *kind = NC_ESCAPE_FROM_ZERO;
    }
    if (*kind == NC_ESCAPE_NONE && ndead > 0 && ndead < m->K) {
        for (i = 0; i < ndead; i++) {
            double *base = x0;
            if (s.fbest < f0) { /* build on the revivals kept so far */
                memcpy(v, s.best, n * sizeof(double));
                base = v;
            }
            revive(&s, base, dead[i]);
        }
        if (s.fbest < f0) *kind = NC_ESCAPE_REVIVE_CLASS;
    }
    /* leave the model at the best point found (x0 when nothing helped) */
    st = nc_model_set_variables(m, *kind == NC_ESCAPE_NONE ? x0 : s.best);
    if (*kind != NC_ESCAPE_NONE) *decrease = f0 - s.fbest;
    o->evaluations += s.evaluations + nc_curvature_evaluations(c);
done:
    free(x0);
    free(v);
    free(g);
    free(s.trial);
    free(s.best);
    free(dead);
    return st;
}

/*
 * optim/curvature.c - the second-order check of a point (nc_curvature): is
 * a stationary point a strict saddle (with the direction of negative
 * curvature), a local minimum, or is the test inconclusive?
 *
 * The Hessian is reached through Hessian-vector products by central
 * differences of exact gradients, Hv = (g(x + e v) - g(x - e v)) / (2 e) with
 * e = cbrt(eps) max(1, |x|_inf) for a unit v: the error is O(e^2) in the
 * third derivatives plus O(eps |g| / e) of rounding, about 1e-10 relative.
 * Lanczos with full reorthogonalisation (from a seeded random start) gives
 * the extreme Ritz values of the Hessian restricted to the free variables.
 * A Ritz value is a Rayleigh quotient, so theta_min < 0 certifies negative
 * curvature along its Ritz vector whatever the convergence; a local minimum
 * is reported only when theta_min - residual >= -tol. Zero eigenvalues are
 * expected, not suspicious: the UFM's objective is invariant under
 * rotations (H -> Q H, W -> W Q^T; in deep models between layers too), so
 * at any point its Hessian has flat directions along them.
 *
 * ReLU features (H >= 0): the variables at the bound (h = 0) are held fixed,
 * so the Hessian is that of the face of active bounds, evaluated on the
 * objective's smooth extension to h < 0 (the difference points may leave
 * the feasible set by e); the multipliers at h = 0 are the gradient
 * components there, and KKT needs them >= 0 (the KKT residual counts the
 * negative ones). A positive multiplier makes the point a minimum along its
 * coordinate to first order, so a class whose features are all held at 0
 * can sit at a strict local minimum that is not the global one: this check
 * reports such dead classes; the optimizer's escape tries to revive them.
 *
 * A shard of an MPI model (model.h, nc__shard) checks the global problem:
 * the gradients are collective, the sums over H (the first-order numbers,
 * the dead classes, the Lanczos dot products and norms) are reduced across
 * the shards, and the random start is the serial one, each shard keeping
 * its columns; every shard gets the same values. The direction is the
 * shard's part of it.
 */
#include "optim/optim.h"
#include "common/rng.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

struct nc_curvature {
    nc_model *model;
    size_t max_steps;
    double rtol, gtol, ctol;
    uint64_t seed;

    int computed;
    nc_point point;
    double objective, gnorm, lambda_min, lambda_max, residual, min_multiplier;
    size_t n, active, steps, evaluations, n_dead;
    double *direction; /* n, after a compute */
    size_t *dead;      /* K */
    char msg[NC_MSG_SIZE];
};

static const char *const point_names[] = {"not stationary", "strict saddle", "local minimum",
                                          "inconclusive"};
typedef char nc__point_names_complete[sizeof point_names / sizeof point_names[0] ==
                                              NC_POINT_INCONCLUSIVE + 1 ? 1 : -1];

NC_API const char *nc_point_name(nc_point point)
{
    if ((int)point < 0 || (int)point > (int)NC_POINT_INCONCLUSIVE) return "unknown";
    return point_names[point];
}

NC_API nc_status nc_curvature_create(nc_curvature **curvature, nc_model *model)
{
    nc_curvature *c;
    nc__create_clear();
    if (curvature == NULL)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_curvature_create: curvature is NULL");
    *curvature = NULL;
    if (model == NULL)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_curvature_create: model is NULL");
    c = (nc_curvature *)calloc(1, sizeof *c);
    if (c == NULL) return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_curvature_create: no memory");
    c->dead = (size_t *)calloc(model->K, sizeof(size_t));
    if (c->dead == NULL) {
        free(c);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_curvature_create: no memory");
    }
    c->model = model;
    c->max_steps = 60;
    c->rtol = 1e-6;
    c->gtol = 1e-8;
    c->ctol = 1e-6;
    c->seed = 1;
    c->lambda_min = c->lambda_max = c->residual = c->min_multiplier = NAN;
    c->objective = c->gnorm = NAN;
    *curvature = c;
    return NC_SUCCESS;
}

NC_API void nc_curvature_destroy(nc_curvature *c)
{
    if (c == NULL) return;
    free(c->direction);
    free(c->dead);
    free(c);
}

NC_API nc_status nc_curvature_set_lanczos(nc_curvature *c, size_t max_steps, double rtol,
                                          uint64_t seed)
{
    if (c == NULL) return NC_ERR_NULL_ARGUMENT;
    if (max_steps < 1 || max_steps > 10000)
        return nc__fail(c->msg, NC_ERR_INVALID_VALUE, "max_steps %zu is outside [1, 10000]",
                        max_steps);
    if (!(rtol > 0.0 && rtol < 1.0))
        return nc__fail(c->msg, NC_ERR_INVALID_VALUE, "rtol must be in (0, 1)");
    c->max_steps = max_steps;
    c->rtol = rtol;
    c->seed = seed;
    return NC_SUCCESS;
}

NC_API nc_status nc_curvature_set_tolerances(nc_curvature *c, double gtol, double ctol)
{
    if (c == NULL) return NC_ERR_NULL_ARGUMENT;
    if (!(gtol >= 0.0 && gtol <= DBL_MAX) || !(ctol >= 0.0 && ctol <= DBL_MAX))
        return nc__fail(c->msg, NC_ERR_INVALID_VALUE,
                        "tolerances must be finite and >= 0 (gtol %g, ctol %g)", gtol, ctol);
    c->gtol = gtol;
    c->ctol = ctol;
    return NC_SUCCESS;
}

/* Put x into the model without the feasibility test (the difference points
 * of the ReLU model may be e below 0: the objective's smooth extension). */
static void put_x(nc_model *m, const double *x)
{
    const size_t n = m->n_hidden + (m->fixed ? 0 : m->d * m->K);
    memcpy(m->small, x, n * sizeof(double));
    memcpy(m->H, x + n, m->d * m->N * sizeof(double));
    if (m->bias) memcpy(m->b, x + n + m->d * m->N, m->K * sizeof(double));
    nc__model_update_product(m);
    m->version++;
}

/* Dot products and norms of variable vectors: reduced over the shards of a
 * shard model (the same bits on every shard), BLAS for a serial one. */
static double vdot(const nc_model *m, const double *x, const double *y, size_t n)
{
    return m->shard ? nc__shard_dot(m, x, y, n) : cblas_ddot((int)n, x, 1, y, 1);
}

static double vnrm2(const nc_model *m, const double *x, size_t n)
{
    return m->shard ? sqrt(nc__shard_dot(m, x, x, n)) : cblas_dnrm2((int)n, x, 1);
}

/* y += a x: a plain loop on a shard, whose replicated components must get
 * the same bits on every shard (BLAS kernels round a component by where it
 * falls in the vector, vectorised body or tail, and the shards' vectors
 * differ in length), BLAS for a serial model. */
static void vaxpy(const nc_model *m, size_t n, double a, const double *x, double *y)
{
    if (m->shard)
        nc__shard_axpy(n, a, x, y);
    else
        cblas_daxpy((int)n, a, x, 1, y, 1);
}

static nc_status agree(const nc_model *m, nc_status st)
{
    return m->shard ? m->shard->agree(m->shard, st) : st;
}

typedef struct hvp_ctx {
    nc_model *m;
    size_t n;
    const double *x0;
    const unsigned char *fixed; /* n: held at the bound, or NULL */
    double e;
    double *xt, *gp, *gm;
    size_t evaluations;
} hvp_ctx;

/* out = (masked) H v for a (masked) unit v; 0 on success. */
static nc_status hvp(hvp_ctx *h, const double *v, double *out)
{
    size_t i;
    double f;
    nc_status st;
    for (i = 0; i < h->n; i++) h->xt[i] = h->x0[i] + h->e * v[i];
    put_x(h->m, h->xt);
    st = nc_model_gradient_vector(h->m, &f, h->gp);
    if (st != NC_SUCCESS) return st;
    for (i = 0; i < h->n; i++) h->xt[i] = h->x0[i] - h->e * v[i];
    put_x(h->m, h->xt);
    st = nc_model_gradient_vector(h->m, &f, h->gm);
    if (st != NC_SUCCESS) return st;
    h->evaluations += 2;
    for (i = 0; i < h->n; i++)
        out[i] = (h->fixed && h->fixed[i]) ? 0.0 : (h->gp[i] - h->gm[i]) / (2.0 * h->e);
    return agree(h->m, nc__all_finite(out, h->n) ? NC_SUCCESS : NC_ERR_OVERFLOW);
}

/* Lowest and highest eigenpairs of the j x j tridiagonal (a, b): theta
 * values into th[0] (lowest), th[1] (highest); the lowest eigenvector's
 * last component into *zlast and the whole vector into z (j). */
static int tridiag_extremes(size_t j, const double *a, const double *b, double *work, double *z,
                            double *th, double *zlast)
{
    double *dd = work, *ee = work + j, *Z = work + 2 * j;
    size_t i;
    memcpy(dd, a, j * sizeof(double));
    if (j > 1) memcpy(ee, b, (j - 1) * sizeof(double));
    if (LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', (int)j, dd, ee, Z, (int)j) != 0) return 0;
    th[0] = dd[0];
    th[1] = dd[j - 1];
    for (i = 0; i < j; i++) z[i] = Z[i];
    *zlast = Z[j - 1];
    return 1;
}

NC_API nc_status nc_curvature_compute(nc_curvature *c)
{
    nc_model *m;
    size_t n, i, k, j, steps, hoff, nfree = 0;
    double *x0 = NULL, *g0 = NULL, *Q = NULL, *w = NULL, *xt = NULL, *gp = NULL, *gm = NULL;
    double *a = NULL, *b = NULL, *tw = NULL, *z = NULL, *dir = NULL;
    unsigned char *fixed = NULL;
    double *alive = NULL;
    double f0, g2 = 0.0, amax = 0.0, th[2] = {NAN, NAN}, zlast = 0.0, scale;
    nc_status st = NC_SUCCESS;
    nc__rng rng;
    hvp_ctx h;
    if (c == NULL) return NC_ERR_NULL_ARGUMENT;
    m = c->model;
    c->computed = 0;
    c->msg[0] = '\0';
    n = nc_model_num_variables(m);
    steps = c->max_steps;
    {
        /* the global problem's variable count (a shard holds its columns) */
        const size_t n_all = n + m->d * (nc__model_total_samples(m) - m->N);
        if (steps > n_all) steps = n_all;
    }
    st = (!nc__fits_int(n) || nc__mul_size(steps + 1, n, &i)) ? NC_ERR_INVALID_SIZE : NC_SUCCESS;
    if ((st = agree(m, st)) != NC_SUCCESS)
        return nc__fail(c->msg, st, "the Lanczos basis (%zu x %zu) is too large", steps + 1, n);
    x0 = nc__alloc_doubles(n, 1);
    g0 = nc__alloc_doubles(n, 1);
    w = nc__alloc_doubles(n, 1);
    xt = nc__alloc_doubles(n, 1);
    gp = nc__alloc_doubles(n, 1);
    gm = nc__alloc_doubles(n, 1);
    dir = nc__alloc_doubles(n, 1);
    Q = nc__alloc_doubles(steps + 1, n);
    a = nc__alloc_doubles(steps + 1, 1);
    b = nc__alloc_doubles(steps + 1, 1);
    tw = nc__alloc_doubles(steps + 2, steps + 2);
    z = nc__alloc_doubles(steps + 1, 1);
    fixed = (unsigned char *)calloc(n, 1);
    st = (!x0 || !g0 || !w || !xt || !gp || !gm || !dir || !Q || !a || !b || !tw || !z || !fixed)
             ? NC_ERR_OUT_OF_MEMORY
             : NC_SUCCESS;
    if ((st = agree(m, st)) != NC_SUCCESS) {
        st = nc__fail(c->msg, NC_ERR_OUT_OF_MEMORY,
                      "no memory for the check: it keeps %zu vectors of %zu variables", steps + 8,
                      n);
        goto done;
    }
    nc_model_get_variables(m, x0);
    st = nc_model_gradient_vector(m, &f0, g0);
    if (st != NC_SUCCESS) {
        st = nc__fail(c->msg, st, "the gradient at the point is not finite");
        goto done;
    }
    /* first order: KKT residual, multipliers, dead classes */
    hoff = m->n_hidden + (m->fixed ? 0 : m->d * m->K);
    c->active = 0;
    c->min_multiplier = NAN;
    {
        /* a shard sums its H's share apart (red) and reduces it */
        double red[4] = {0.0, 0.0, 0.0, 0.0}; /* g2, free, amax, -min multiplier of H */
        red[3] = -INFINITY;
        for (i = 0; i < n; i++) {
            const int in_H = i >= hoff && i < hoff + m->d * m->N;
            if (m->features == NC_FEATURES_RELU && in_H && x0[i] == 0.0) {
                fixed[i] = 1;
                c->active++;
                if (!(c->min_multiplier <= g0[i])) c->min_multiplier = g0[i];
                if (g0[i] < 0.0) {
                    if (m->shard)
                        red[0] += g0[i] * g0[i];
                    else
                        g2 += g0[i] * g0[i];
                }
            } else if (m->shard && in_H) {
                red[0] += g0[i] * g0[i];
                red[1] += 1.0;
            } else {
                g2 += g0[i] * g0[i];
                nfree++;
            }
            if (m->shard && in_H) {
                if (fabs(x0[i]) > red[2]) red[2] = fabs(x0[i]);
            } else if (fabs(x0[i]) > amax)
                amax = fabs(x0[i]);
        }
        if (m->shard) {
            double cnt = (double)c->active;
            if (c->active) red[3] = -c->min_multiplier;
            st = m->shard->sum(m->shard, red, 2);
            if (st == NC_SUCCESS) st = m->shard->sum(m->shard, &cnt, 1);
            if (st == NC_SUCCESS) st = m->shard->max(m->shard, red + 2, 2);
            if (st != NC_SUCCESS) {
                st = nc__fail(c->msg, st, "the sums of the shards failed");
                goto done;
            }
            g2 += red[0];
            nfree += (size_t)red[1];
            if (red[2] > amax) amax = red[2];
            c->active = (size_t)cnt;
            c->min_multiplier = c->active ? -red[3] : NAN;
        }
    }
    c->objective = f0;
    c->gnorm = sqrt(g2);
    /* classes whose features are all 0, or below 1e-6 of the largest |h|
     * (free features reach 0 only approximately) */
    c->n_dead = 0;
    {
        double hmax = 0.0;
        for (i = 0; i < m->d * m->N; i++)
            if (fabs(m->H[i]) > hmax) hmax = fabs(m->H[i]);
        if (m->shard && (st = m->shard->max(m->shard, &hmax, 1)) != NC_SUCCESS) {
            st = nc__fail(c->msg, st, "the sums of the shards failed");
            goto done;
        }
        /* alive[k]: a feature of class k above 1e-6 hmax (on any shard) */
        alive = (double *)calloc(m->K, sizeof(double));
        if ((st = agree(m, alive ? NC_SUCCESS : NC_ERR_OUT_OF_MEMORY)) != NC_SUCCESS) {
            st = nc__fail(c->msg, st, "no memory for the check");
            goto done;
        }
        for (i = 0; i < m->N; i++) {
            const size_t y = (size_t)m->labels[i];
            for (j = 0; j < m->d && alive[y] == 0.0; j++)
                if (fabs(m->H[i * m->d + j]) > 1e-6 * hmax) alive[y] = 1.0;
        }
        if (m->shard && (st = m->shard->max(m->shard, alive, m->K)) != NC_SUCCESS) {
            st = nc__fail(c->msg, st, "the sums of the shards failed");
            goto done;
        }
        for (k = 0; k < m->K; k++)
            if (alive[k] == 0.0) c->dead[c->n_dead++] = k;
    }
    if (steps > nfree) steps = nfree;
    /* Lanczos on the Hessian of the free variables */
    h.m = m;
    h.n = n;
    h.x0 = x0;
    h.fixed = c->active ? fixed : NULL;
    h.e = cbrt(DBL_EPSILON) * (amax > 1.0 ? amax : 1.0);
    h.xt = xt;
    h.gp = gp;
    h.gm = gm;
    h.evaluations = 1;
    nc__rng_seed(&rng, c->seed);
    if (!m->shard) {
        double nrm = 0.0;
        for (i = 0; i < n; i++) {
            Q[i] = fixed[i] ? 0.0 : nc__rng_normal(&rng);
            nrm += Q[i] * Q[i];
        }
        nrm = sqrt(nrm);
        if (nrm > 0.0)
            for (i = 0; i < n; i++) Q[i] /= nrm;
    } else {
        /* the serial start: one draw per free variable of the global
         * vector in order; a shard draws (and drops) the free variables of
         * the shards before and after its columns */
        const size_t hend = hoff + m->d * m->N;
        size_t before = 0, after = 0, P = 0, r, fr = 0;
        double mine, nrm;
        const double *all;
        for (i = hoff; i < hend; i++) fr += !fixed[i];
        mine = (double)fr;
        all = m->shard->gather_parts(m->shard, &mine, 1, 1, &P);
        if ((st = agree(m, all ? NC_SUCCESS : NC_ERR_OUT_OF_MEMORY)) != NC_SUCCESS) {
            st = nc__fail(c->msg, st, "the sums of the shards failed");
            goto done;
        }
        for (r = 0; r < P; r++) {
            if (r < (size_t)m->shard->index) before += (size_t)all[r];
            if (r > (size_t)m->shard->index) after += (size_t)all[r];
        }
        for (i = 0; i < hoff; i++) Q[i] = nc__rng_normal(&rng);
        for (r = 0; r < before; r++) (void)nc__rng_normal(&rng);
        for (i = hoff; i < hend; i++) Q[i] = fixed[i] ? 0.0 : nc__rng_normal(&rng);
        for (r = 0; r < after; r++) (void)nc__rng_normal(&rng);
        for (i = hend; i < n; i++) Q[i] = nc__rng_normal(&rng);
        nrm = vnrm2(m, Q, n);
        if (nrm > 0.0)
            for (i = 0; i < n; i++) Q[i] /= nrm;
    }
    c->steps = 0;
    c->residual = NAN;
    for (j = 0; j < steps; j++) {
        double *q = Q + j * n, beta, nrm;
        size_t r, pass;
        st = hvp(&h, q, w);
        if (st != NC_SUCCESS) {
            st = nc__fail(c->msg, st, "a Hessian-vector product overflowed at Lanczos step %zu", j);
            goto restore;
        }
        a[j] = vdot(m, q, w, n);
        /* full reorthogonalisation, twice (Kahan's "twice is enough") */
        for (pass = 0; pass < 2; pass++)
            for (r = 0; r <= j; r++) {
                const double p = vdot(m, Q + r * n, w, n);
                vaxpy(m, n, -p, Q + r * n, w);
            }
        nrm = vnrm2(m, w, n);
        beta = nrm;
        b[j] = beta;
        c->steps = j + 1;
        if (!tridiag_extremes(j + 1, a, b, tw, z, th, &zlast)) {
            st = nc__fail(c->msg, NC_ERR_LAPACK, "dstev failed on the Lanczos matrix");
            goto restore;
        }
        c->residual = beta * fabs(zlast);
        scale = fabs(th[0]) > fabs(th[1]) ? fabs(th[0]) : fabs(th[1]);
        if (c->residual <= c->rtol * (scale > 0.0 ? scale : 1.0) || j + 1 == steps) break;
        if (beta <= DBL_EPSILON * (scale > 0.0 ? scale : 1.0)) break; /* invariant subspace */
        for (i = 0; i < n; i++) Q[(j + 1) * n + i] = w[i] / beta;
    }
    c->lambda_min = th[0];
    c->lambda_max = th[1];
    /* Ritz vector of theta_min */
    memset(dir, 0, n * sizeof(double));
    for (j = 0; j < c->steps; j++) vaxpy(m, n, z[j], Q + j * n, dir);
    {
        const double nrm = vnrm2(m, dir, n);
        if (nrm > 0.0) {
            if (m->shard)
                for (i = 0; i < n; i++) dir[i] *= 1.0 / nrm;
            else
                cblas_dscal((int)n, 1.0 / nrm, dir, 1);
        }
    }
    free(c->direction);
    c->direction = dir;
    dir = NULL;
    c->n = n;
    c->evaluations = h.evaluations;
    /* classify */
    scale = fabs(c->lambda_min) > fabs(c->lambda_max) ? fabs(c->lambda_min) : fabs(c->lambda_max);
    {
        const double tol = c->ctol * (scale > 0.0 ? scale : 1.0);
        if (c->gnorm > c->gtol)
            c->point = NC_POINT_NOT_STATIONARY;
        else if (c->lambda_min < -tol)
            c->point = NC_POINT_STRICT_SADDLE;
        else if (c->lambda_min - c->residual >= -tol &&
                 !(c->active > 0 && !(c->min_multiplier > c->gtol)))
            c->point = NC_POINT_LOCAL_MINIMUM;
        else
            c->point = NC_POINT_INCONCLUSIVE;
    }
    c->computed = 1;
restore:
    put_x(m, x0); /* the model's state, bit for bit */
done:
    free(x0);
    free(g0);
    free(w);
    free(xt);
    free(gp);
    free(gm);
    free(dir);
    free(Q);
    free(a);
    free(b);
    free(tw);
    free(z);
    free(fixed);
    free(alive);
    return st;
}

#define NC__GETTER(type, name, field, none)                                                      \
    NC_API type nc_curvature_##name(const nc_curvature *c)                                       \
    {                                                                                            \
        return (c && c->computed) ? c->field : none;                                             \
    }
NC__GETTER(nc_point, point, point, NC_POINT_INCONCLUSIVE)
NC__GETTER(double, objective, objective, NAN)
NC__GETTER(double, gradient_norm, gnorm, NAN)
NC__GETTER(double, min_eigenvalue, lambda_min, NAN)
NC__GETTER(double, max_eigenvalue, lambda_max, NAN)
NC__GETTER(double, residual, residual, NAN)
NC__GETTER(double, min_multiplier, min_multiplier, NAN)
NC__GETTER(size_t, active_bounds, active, 0)
NC__GETTER(size_t, lanczos_steps, steps, 0)
NC__GETTER(size_t, evaluations, evaluations, 0)
#undef NC__GETTER

NC_API size_t nc_curvature_dead_classes(const nc_curvature *c, size_t *classes)
{
    if (c == NULL || !c->computed) return 0;
    if (classes) memcpy(classes, c->dead, c->n_dead * sizeof(size_t));
    return c->n_dead;
}

NC_API nc_status nc_curvature_get_direction(const nc_curvature *c, double *x)
{
    if (c == NULL || x == NULL) return NC_ERR_NULL_ARGUMENT;
    if (!c->computed) return NC_ERR_UNAVAILABLE;
    memcpy(x, c->direction, c->n * sizeof(double));
    return NC_SUCCESS;
}

NC_API const char *nc_curvature_last_error(const nc_curvature *c) { return c ? c->msg : ""; }

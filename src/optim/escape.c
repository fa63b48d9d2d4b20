/*
 * optim/escape.c - leaving a stationary point that is not a minimum, or a
 * minimum the optimizer can see is not the global one. Three moves, each
 * kept only if the objective decreases:
 *  - negative curvature: from a strict saddle (nc_curvature), along the
 *    Ritz vector of lambda_min, signed so that it does not ascend to first
 *    order, with a doubling search of the step;
 *  - class activation: a class whose features are all (nearly) 0 - held at
 *    h = 0 by ReLU features, where positive multipliers make it a strict
 *    local minimum of the face that no local move leaves, or collapsed to 0
 *    with the rest of the state at W = H = 0, a local minimum of deep linear
 *    models (M >= 2: the loss term is of order M + 1 >= 3 there, so the
 *    Hessian is the weight decay's). The move gives the class the
 *    least-used feature coordinate j: h_i[j] = c for its samples and a on
 *    the path from j to its logit (w_k[j] += a, W_m[j][j] += a), over a grid
 *    of (a, c); the classes are tried largest first, each building on the
 *    moves kept before it.
 * On a shard of an MPI model the same moves run on the global problem:
 * each shard moves its own columns of the class, the replicated layers
 * identically, and the objective of a trial point is collective.
 */
#include "optim/optim.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* On a shard (model.h, nc__shard) every decision below must be the same on
 * every shard: the sums and maxima over H are reduced (shard order, the
 * same bits everywhere), a local failure is agreed on, and the objective is
 * collective. A serial model takes none of these paths. */
static nc_status agree(const nc_model *m, nc_status st)
{
    return m->shard ? m->shard->agree(m->shard, st) : st;
}

static nc_status reduce_sum(const nc_model *m, double *x, size_t n)
{
    return m->shard ? m->shard->sum(m->shard, x, n) : NC_SUCCESS;
}

static nc_status reduce_max(const nc_model *m, double *x, size_t n)
{
    return m->shard ? m->shard->max(m->shard, x, n) : NC_SUCCESS;
}

/* Objective at x (clamped at 0 on H for ReLU features); +Inf if refused. */
static double objective_at(nc_model *m, double *x, size_t hoff)
{
    double f;
    size_t i;
    if (m->features == NC_FEATURES_RELU)
        for (i = hoff; i < hoff + m->d * m->N; i++)
            if (x[i] < 0.0) x[i] = 0.0;
    if (agree(m, nc_model_set_variables(m, x)) != NC_SUCCESS) return INFINITY;
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
    if (reduce_max(s->m, &xmax, 1) != NC_SUCCESS) return;
    t = 1e-4 * (xmax > 1.0 ? xmax : 1.0);
    for (k = 0; k < 40 && rises < 3; k++, t *= 2.0) {
        const double before = s->fbest;
        for (i = 0; i < s->n; i++) s->trial[i] = x0[i] + t * v[i];
        consider(s);
        rises = s->fbest < before ? 0 : rises + 1;
    }
}

/* The activation move of class k at coordinate j with path weight aw and
 * feature value c into s->trial; its objective. */
static double activation(search *s, const double *x0, size_t k, size_t j, double aw, double c,
                         int form)
{
    nc_model *m = s->m;
    const size_t d = m->d, K = m->K, w0 = m->n_hidden;
    const int centred = form & 1, reassign = form & 2;
    size_t i, l, q;
    memcpy(s->trial, x0, s->n * sizeof(double));
    for (i = 0; i < m->N; i++)
        if ((size_t)m->labels[i] == k) { /* the class's features become c e_j */
            memset(s->trial + s->hoff + i * d, 0, d * sizeof(double));
            s->trial[s->hoff + i * d + j] = c;
        } else if (reassign) { /* the other classes leave coordinate j */
            s->trial[s->hoff + i * d + j] = 0.0;
        }
    for (l = 0; l + 1 < m->depth; l++) {
        double *W = s->trial + l * d * d;
        if (reassign)
            for (q = 0; q < d; q++) W[j * d + q] = W[q * d + j] = 0.0;
        W[j * d + j] += aw;
    }
    if (!m->fixed) {
        if (reassign)
            for (i = 0; i < K; i++) s->trial[w0 + i * d + j] = 0.0;
        if (!centred)
            s->trial[w0 + k * d + j] += aw;
        else /* the same margin a c for a cost (K-1)/K of the plain move's */
            for (i = 0; i < K; i++)
                s->trial[w0 + i * d + j] += i == k ? aw * (double)(K - 1) / (double)K
                                                    : -aw / (double)K;
    }
    s->evaluations++;
    return objective_at(m, s->trial, s->hoff);
}

/* Give class k the least-used coordinate j of the features: its features
 * become c e_j, and a on the path from j to its logit (w_k[j] += a for a
 * learned classifier, or w_k[j] += a (K-1)/K and w_l[j] -= a/K for the
 * others, the centred move of the same margin; W_m[j][j] += a for the hidden
 * layers), either added to the state or with coordinate j first taken from
 * the other classes (their h[j], row and column j of the hidden layers and
 * column j of the classifier set to 0: a class may have spread over every
 * coordinate while the others were at 0). For each of these four forms and
 * from each a of
 * a grid of powers of two on the scale of the layers, the best c (powers of
 * two on the scale of H, refined by halving steps), refined with a by a
 * compass search in log (a, c) down to steps of 2^(1/64); the best of
 * these. The decrease can lie in a narrow valley along a^M c = const, and
 * the slice's origin is itself a local minimum, so a single best grid point
 * would often be the smallest move. Kept only if it lowers the objective
 * (consider). */
/* Candidate coordinates for class k (at most NC__CANDIDATES): the least
 * used by all features, and for every other class whose mean spreads over
 * two or more coordinates the one of those it uses least (taking it from
 * that class costs it least). */
#define NC__CANDIDATES 12
static nc_status candidates(const search *s, const double *x0, size_t k, size_t *cand,
                            size_t *ncand, char *msg)
{
    const nc_model *m = s->m;
    const size_t d = m->d, K = m->K, N = m->N;
    double *use = nc__alloc_doubles(d, K + 1), *total;
    size_t i, j, c, n = 0, q;
    nc_status st;
    *ncand = 0;
    if ((st = agree(m, use ? NC_SUCCESS : NC_ERR_OUT_OF_MEMORY)) != NC_SUCCESS) {
        free(use);
        return nc__fail(msg, st,
                        "the escape's class move: no memory for the coordinates' use "
                        "(%zu x %zu doubles)%s", d, K + 1, use ? " on another shard" : "");
    }
    total = use + d * K; /* use[c d + j]: class c's mass on coordinate j */
    for (i = 0; i < N; i++)
        for (j = 0; j < d; j++) {
            const double h = fabs(x0[s->hoff + i * d + j]);
            use[(size_t)m->labels[i] * d + j] += h;
            total[j] += h;
        }
    if ((st = reduce_sum(m, use, d * (K + 1))) != NC_SUCCESS) {
        free(use);
        return nc__fail(msg, st, "the escape's class move: the sum over the shards failed");
    }
    for (q = 0; q < 4 && q < d; q++) { /* the least used, in order */
        size_t best = d;
        for (j = 0; j < d; j++) {
            int taken = 0;
            for (c = 0; c < n; c++) taken |= cand[c] == j;
            if (!taken && (best == d || total[j] < total[best])) best = j;
        }
        if (best < d) cand[n++] = best;
    }
    for (c = 0; c < K && n < NC__CANDIDATES; c++) {
        double cmax = 0.0;
        size_t support = 0, best = d;
        if (c == k) continue;
        for (j = 0; j < d; j++)
            if (use[c * d + j] > cmax) cmax = use[c * d + j];
        for (j = 0; j < d; j++)
            if (use[c * d + j] > 1e-3 * cmax && cmax > 0.0) {
                support++;
                if (best == d || use[c * d + j] < use[c * d + best]) best = j;
            }
        if (support >= 2) {
            int taken = 0;
            for (q = 0; q < n; q++) taken |= cand[q] == best;
            if (!taken) cand[n++] = best;
        }
    }
    free(use);
    *ncand = n;
    return NC_SUCCESS;
}

/* The compass search in log (a, c) from (*la, *lc) with value *f, inside the
 * box [la0 - 6, la0 + 4] x [lc0 - 6, lc0 + 4] (towards the origin the value
 * falls to the slice's local minimum without end), down to steps of 2^-6. */
static void compass(search *s, const double *x0, size_t k, size_t j, int form, int has_a,
                    double la0, double lc0, double *la, double *lc, double *f)
{
    static const int dirs[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
    double step;
    for (step = 0.5; step >= 1.0 / 64.0; step *= 0.5) {
        int moved = 1;
        while (moved) {
            int q;
            moved = 0;
            for (q = has_a ? 0 : 2; q < 4; q++) {
                const double na = *la + step * dirs[q][0], nc = *lc + step * dirs[q][1];
                double g;
                if (na < la0 - 6 || na > la0 + 4 || nc < lc0 - 6 || nc > lc0 + 4) continue;
                g = activation(s, x0, k, j, has_a ? exp2(na) : 0.0, exp2(nc), form);
                if (g < *f) {
                    *f = g;
                    *la = na;
                    *lc = nc;
                    moved = 1;
                }
            }
        }
    }
}

static nc_status activate(search *s, const double *x0, size_t k, char *msg)
{
    nc_model *m = s->m;
    const size_t d = m->d, N = m->N;
    const int has_a = s->hoff > 0; /* some layer is a variable */
    double hmax = 0.0, wmax = 0.0, la0, lc0, la = 0.0, lc = 0.0, fb = INFINITY;
    size_t i, lj = 0, cand[NC__CANDIDATES], ncand, ci;
    int a, form, lform = 0, found = 0;
    nc_status st = candidates(s, x0, k, cand, &ncand, msg);
    if (st != NC_SUCCESS || ncand == 0) return st;
    for (i = 0; i < N * d; i++)
        if (fabs(x0[s->hoff + i]) > hmax) hmax = fabs(x0[s->hoff + i]);
    if ((st = reduce_max(m, &hmax, 1)) != NC_SUCCESS)
        return nc__fail(msg, st, "the escape's class move: the maximum over the shards failed");
    for (i = 0; i < s->hoff; i++)
        if (fabs(x0[i]) > wmax) wmax = fabs(x0[i]);
    if (!(hmax > 1e-3)) hmax = 1.0;
    if (!(wmax > 1e-3)) wmax = 1.0;
    la0 = log2(wmax);
    lc0 = log2(hmax);
    /* For each coordinate, form and a of the grid, the best c (a grid of powers
     * of two, then halving steps): the slice's origin is itself a local
     * minimum, so the best point of a 2-D grid would often be its smallest
     * move, far from the valley where a^M c is right. Stop at the first
     * (coordinate, form) that lowers the objective. */
    for (ci = 0; ci < ncand && !found; ci++)
        for (form = 0; form < 4 && !found; form += (m->fixed ? 2 : 1)) {
            double ra[11], rc[11], rf[11];
            int r, nr = 0;
            for (a = -6; a <= 4; a++) {
                const double ta = la0 + a, aw = has_a ? exp2(ta) : 0.0;
                double tc = lc0, fc = INFINITY, step;
                int b;
                for (b = -6; b <= 4; b++) {
                    const double f = activation(s, x0, k, cand[ci], aw, exp2(lc0 + b), form);
                    if (f < fc) {
                        fc = f;
                        tc = lc0 + b;
                    }
                }
                for (step = 0.5; step >= 1.0 / 64.0; step *= 0.5) {
                    const double up = activation(s, x0, k, cand[ci], aw, exp2(tc + step), form);
                    const double dn = activation(s, x0, k, cand[ci], aw, exp2(tc - step), form);
                    if (up < fc && up <= dn) {
                        fc = up;
                        tc += step;
                    } else if (dn < fc) {
                        fc = dn;
                        tc -= step;
                    }
                }
                ra[nr] = ta;
                rc[nr] = tc;
                rf[nr++] = fc;
                if (!has_a) break;
            }
            /* refine the three best a whose best c is not the grid's smallest
             * (those are the origin's basin), and take the best */
            for (r = 0; r < 3; r++) {
                int q, pick = -1;
                for (q = 0; q < nr; q++)
                    if (rc[q] > lc0 - 5.5 && rf[q] < INFINITY && (pick < 0 || rf[q] < rf[pick]))
                        pick = q;
                if (pick < 0) break;
                compass(s, x0, k, cand[ci], form, has_a, la0, lc0, &ra[pick], &rc[pick], &rf[pick]);
                if (rf[pick] < fb) {
                    fb = rf[pick];
                    la = ra[pick];
                    lc = rc[pick];
                    lform = form;
                    lj = cand[ci];
                }
                rf[pick] = INFINITY; /* done */
            }
            found = fb < s->fbest;
        }
    activation(s, x0, k, lj, has_a ? exp2(la) : 0.0, exp2(lc), lform);
    s->evaluations--; /* consider counts it */
    consider(s);
    return NC_SUCCESS;
}

/* The classes whose mean shares a coordinate with another class's mean (each
 * mean's support: entries above 1e-3 of its largest), into classes; their
 * number into *count. */
static nc_status sharing_classes(const nc_model *m, const double *x, size_t hoff,
                                 size_t *classes, size_t *count, char *msg)
{
    const size_t d = m->d, K = m->K;
    double *mu = nc__alloc_doubles(d, K), *mx = nc__alloc_doubles(K, 1);
    size_t i, j, k, l, n = 0;
    nc_status st;
    *count = 0;
    if ((st = agree(m, mu && mx ? NC_SUCCESS : NC_ERR_OUT_OF_MEMORY)) != NC_SUCCESS) {
        const int here = !mu || !mx;
        free(mu);
        free(mx);
        return nc__fail(msg, st,
                        "the escape's class relocation: no memory for the class means "
                        "(%zu x %zu doubles)%s", d, K + 1, here ? "" : " on another shard");
    }
    for (i = 0; i < m->N; i++)
        for (j = 0; j < d; j++) mu[(size_t)m->labels[i] * d + j] += fabs(x[hoff + i * d + j]);
    if ((st = reduce_sum(m, mu, d * K)) != NC_SUCCESS) {
        free(mu);
        free(mx);
        return nc__fail(msg, st, "the escape's class relocation: the sum over the shards failed");
    }
    for (k = 0; k < K; k++)
        for (j = 0; j < d; j++)
            if (mu[k * d + j] > mx[k]) mx[k] = mu[k * d + j];
    for (k = 0; k < K; k++) {
        int shares = 0;
        for (l = 0; l < K && !shares; l++)
            for (j = 0; j < d && l != k; j++)
                if (mu[k * d + j] > 1e-3 * mx[k] && mu[l * d + j] > 1e-3 * mx[l] && mx[k] > 0.0 &&
                    mx[l] > 0.0) {
                    shares = 1;
                    break;
                }
        if (shares) classes[n++] = k;
    }
    free(mu);
    free(mx);
    *count = n;
    return NC_SUCCESS;
}

/* classes[0..n) by decreasing count (insertion sort: n is K). */
static void sort_by_count(const nc_model *m, size_t *classes, size_t n)
{
    size_t a, b;
    for (a = 1; a < n; a++)
        for (b = a; b > 0 && m->counts[classes[b]] > m->counts[classes[b - 1]]; b--) {
            const size_t tmp = classes[b];
            classes[b] = classes[b - 1];
            classes[b - 1] = tmp;
        }
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
    if (st != NC_SUCCESS)
        return nc__fail(o->msg, st, "the second-order check: %s", nc_curvature_last_error(c));
    x0 = nc__alloc_doubles(n, 1);
    v = nc__alloc_doubles(n, 1);
    g = nc__alloc_doubles(n, 1);
    s.trial = nc__alloc_doubles(n, 1);
    s.best = nc__alloc_doubles(n, 1);
    dead = (size_t *)calloc(m->K, sizeof(size_t));
    st = (!x0 || !v || !g || !s.trial || !s.best || !dead) ? NC_ERR_OUT_OF_MEMORY : NC_SUCCESS;
    if ((st = agree(m, st)) != NC_SUCCESS) {
        nc__fail(o->msg, st,
                 "the escape: no memory for its search (5 x %zu doubles and %zu classes)%s", n,
                 m->K, (!x0 || !v || !g || !s.trial || !s.best || !dead) ? "" : " on another shard");
        goto done;
    }
    nc_model_get_variables(m, x0);
    st = nc_model_gradient_vector(m, &f0, g);
    if (st != NC_SUCCESS) {
        nc__fail(o->msg, st, "the escape: %s", nc_model_last_error(m));
        goto done;
    }
    s.m = m;
    s.n = n;
    s.hoff = hoff;
    s.fbest = f0;
    s.evaluations = 0;
    memcpy(s.best, x0, n * sizeof(double));
    for (i = 0; i < hoff + m->d * m->N; i++)
        if (fabs(x0[i]) > xmax) xmax = fabs(x0[i]);
    if ((st = reduce_max(m, &xmax, 1)) != NC_SUCCESS) {
        nc__fail(o->msg, st, "the escape: the maximum over the shards failed");
        goto done;
    }
    ndead = nc_curvature_dead_classes(c, dead);
    if (xmax <= 1e-6) /* the zero state: every class is held at 0 */
        for (ndead = 0; ndead < m->K; ndead++) dead[ndead] = ndead;
    if (nc_curvature_point(c) == NC_POINT_STRICT_SADDLE) {
        double gv = 0.0;
        nc_curvature_get_direction(c, v);
        if (m->shard)
            gv = nc__shard_dot(m, g, v, n);
        else
            for (i = 0; i < n; i++) gv += g[i] * v[i];
        if (gv > 0.0)
            for (i = 0; i < n; i++) v[i] = -v[i];
        along_direction(&s, x0, v);
        if (s.fbest < f0) *kind = NC_ESCAPE_NEGATIVE_CURVATURE;
    }
    if (*kind == NC_ESCAPE_NONE && ndead > 0) {
        /* the classes held at 0 (all of them at W = H = 0), the largest first:
         * each move builds on those kept before it */
        sort_by_count(m, dead, ndead);
        for (i = 0; i < ndead && st == NC_SUCCESS; i++) {
            memcpy(v, s.best, n * sizeof(double));
            st = activate(&s, v, dead[i], o->msg);
        }
        if (s.fbest < f0) *kind = xmax <= 1e-6 ? NC_ESCAPE_FROM_ZERO : NC_ESCAPE_REVIVE_CLASS;
    }
    if (*kind == NC_ESCAPE_NONE && xmax > 1e-6 && m->features == NC_FEATURES_RELU) {
        /* a KKT point where live classes share feature coordinates (ReLU
         * features: their means cannot be orthogonal there): move each such
         * class, the largest first, to a coordinate of its own */
        size_t nshare = 0;
        st = sharing_classes(m, x0, hoff, dead, &nshare, o->msg);
        sort_by_count(m, dead, nshare);
        for (i = 0; i < nshare && st == NC_SUCCESS; i++) {
            memcpy(v, s.best, n * sizeof(double));
            st = activate(&s, v, dead[i], o->msg);
        }
        if (st == NC_SUCCESS && s.fbest < f0) *kind = NC_ESCAPE_RELOCATE_CLASS;
    }
    if (st != NC_SUCCESS) {
        /* a search that could not run to its end: the state it started from,
         * as if the escape had not been tried (a retry starts the same) */
        *kind = NC_ESCAPE_NONE;
        nc_model_set_variables(m, x0);
        goto done;
    }
    /* leave the model at the best point found (x0 when nothing helped) */
    st = nc_model_set_variables(m, *kind == NC_ESCAPE_NONE ? x0 : s.best);
    if (st != NC_SUCCESS) {
        nc__fail(o->msg, st, "the escape: %s", nc_model_last_error(m));
        goto done;
    }
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

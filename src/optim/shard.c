/*
 * optim/shard.c - the vector arithmetic of L-BFGS, for a serial model and a
 * model that holds a shard of a global problem (model.h, nc__shard) alike.
 * Every sum over the variable vector is split at the same places whatever
 * the sharding: the replicated layers, each part of H (the parts of the
 * pass), the replicated b; within a range the order is fixed (four
 * interleaved chains from the range's start), and the ranges are added left
 * to right (a shard gathers every shard's parts, in global part order). So
 * L-BFGS on R ranks with t threads each gives the bits of the serial
 * library with R t threads, as the pass does.
 */
#include "optim/optim.h"

#include <math.h>
#include <string.h>

/* The model's parts of H as ranges of the variable vector. */
static void part_range(const nc_model *m, size_t h0, size_t t, size_t *a, size_t *b)
{
    const size_t N = m->N, T = m->threads;
    const size_t c0 = N / T * t + (t < N % T ? t : N % T);
    const size_t c1 = c0 + N / T + (t < N % T ? 1 : 0);
    *a = h0 + c0 * m->d;
    *b = h0 + c1 * m->d;
}

static void h_range(const nc_model *m, size_t *h0, size_t *h1)
{
    *h0 = m->n_hidden + (m->fixed ? 0 : m->d * m->K);
    *h1 = *h0 + m->d * m->N;
}

/* Four chains, merged (0 + 1) + (2 + 3): the same bits for the same range. */
static double dot_range(const double *a, const double *b, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static double dot_diff_range(const double *g, const double *x1, const double *x0, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += g[i] * (x1[i] - x0[i]);
        s1 += g[i + 1] * (x1[i + 1] - x0[i + 1]);
        s2 += g[i + 2] * (x1[i + 2] - x0[i + 2]);
        s3 += g[i + 3] * (x1[i + 3] - x0[i + 3]);
    }
    for (; i < n; i++) s0 += g[i] * (x1[i] - x0[i]);
    return (s0 + s1) + (s2 + s3);
}

#define NC_SHARD_MAX_PARTS 1024 /* NC_MAX_THREADS of pass.c */

/* prefix + parts of every shard in order + suffix, of the values `f`
 * gives for ranges. */
typedef double (*range_fn)(const void *ctx, size_t a, size_t b);

static double sum_ranges(const nc_model *m, size_t n, range_fn f, const void *ctx)
{
    size_t h0, h1, t, a, b, P = 0;
    double local[NC_SHARD_MAX_PARTS], s;
    const double *all;
    h_range(m, &h0, &h1);
    for (t = 0; t < m->threads; t++) {
        part_range(m, h0, t, &a, &b);
        local[t] = f(ctx, a, b);
    }
    s = f(ctx, 0, h0);
    if (m->shard) {
        all = m->shard->gather_parts(m->shard, local, m->threads, 1, &P);
        if (!all) return NAN;
    } else {
        all = local;
        P = m->threads;
    }
    for (t = 0; t < P; t++) s += all[t];
    return s + f(ctx, h1, n);
}

typedef struct {
    const double *a, *b, *c;
} vec3;

static double f_dot(const void *ctx, size_t a, size_t b)
{
    const vec3 *v = (const vec3 *)ctx;
    return dot_range(v->a + a, v->b + a, b - a);
}

static double f_dot_diff(const void *ctx, size_t a, size_t b)
{
    const vec3 *v = (const vec3 *)ctx;
    return dot_diff_range(v->a + a, v->b + a, v->c + a, b - a);
}

double nc__shard_dot(const nc_model *m, const double *a, const double *b, size_t n)
{
    vec3 v;
    v.a = a, v.b = b, v.c = NULL;
    return sum_ranges(m, n, f_dot, &v);
}

double nc__shard_dot_diff(const nc_model *m, const double *g, const double *x1, const double *x0,
                          size_t n)
{
    vec3 v;
    v.a = g, v.b = x1, v.c = x0;
    return sum_ranges(m, n, f_dot_diff, &v);
}

static void kkt_range(nc__sum *s, const double *x, const double *g, size_t a, size_t b, int free_h)
{
    size_t i;
    for (i = a; i < b; i++) {
        const double gi = (free_h && x[i] <= 0.0 && g[i] > 0.0) ? 0.0 : g[i];
        nc__sum_add(s, gi * gi);
    }
}

double nc__shard_kkt2(const nc_model *m, const double *x, const double *g, size_t n, int relu)
{
    size_t h0, h1, t, a, b, P = 0;
    double local[2 * NC_SHARD_MAX_PARTS];
    const double *all;
    nc__sum s = {0.0, 0.0};
    h_range(m, &h0, &h1);
    for (t = 0; t < m->threads; t++) {
        nc__sum p = {0.0, 0.0};
        part_range(m, h0, t, &a, &b);
        kkt_range(&p, x, g, a, b, relu);
        local[2 * t] = p.s;
        local[2 * t + 1] = p.c;
    }
    kkt_range(&s, x, g, 0, h0, 0);
    if (m->shard) {
        all = m->shard->gather_parts(m->shard, local, m->threads, 2, &P);
        if (!all) return NAN;
    } else {
        all = local;
        P = m->threads;
    }
    for (t = 0; t < P; t++) {
        nc__sum_add(&s, all[2 * t]);
        nc__sum_add(&s, all[2 * t + 1]);
    }
    kkt_range(&s, x, g, h1, n, 0);
    return nc__sum_value(&s);
}

void nc__shard_axpy(size_t n, double a, const double *x, double *y)
{
    size_t i;
    for (i = 0; i < n; i++) y[i] += a * x[i];
}

nc_status nc__shard_sum1(const nc_model *m, double *x)
{
    return m->shard ? m->shard->sum(m->shard, x, 1) : NC_SUCCESS;
}

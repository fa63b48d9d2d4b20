/*
 * stream.c - streaming, mergeable accumulators for the NC metrics
 * ("Data" in ncollapse.h).
 *
 * How the result equals the in-memory one (metrics.c), to rounding:
 *  - Scaling. nc_metrics_compute_data scales H by the power of two sH that
 *    brings max|H| into [1/2, 1). The stream keeps its class means in the
 *    units of the largest |h| seen so far; when a larger value arrives, the
 *    means are rescaled by a power of two (exact). At the end of pass 1 the
 *    scale is sH, and pass 2 scales each column by sH as metrics.c does.
 *  - Means. Each batch's class means come from nc__class_means (the same
 *    two-pass means as metrics.c), and are merged into the running means by
 *    Chan's update mu += (mu_b - mu) n_b / (n + n_b); a single batch gives
 *    the in-memory means bit for bit.
 *  - NC1. The kept directions u_r of the pseudo-inverse lie in the span of
 *    the centred class means, whatever the conventions (mu_G is an affine
 *    combination of the class means, so the centred means span the
 *    differences mu_k - mu_j). When K < 0.414 d (nc__stream_uses_dxd), pass 2
 *    projects h_i - mu_{y_i} on an orthonormal basis Q (d x K) of that span,
 *    the left singular vectors of the class-average-centred means, and
 *    accumulates S = sum_i Q^T x_i x_i^T Q (K x K); otherwise it accumulates
 *    the d x d scatter S = sum_i x_i x_i^T itself (cheaper there; Q is then
 *    not computed and stays zero). Upper triangles only, in the BLAS calls of
 *    syrk_plan.c (blocks of side s->tile, strips_part) over blocks of
 *    samples, each block added to a Neumaier-compensated sum. Per class,
 *    ||x_i||^2 in eight plain chains per sample (terms >= 0) added to a
 *    compensated sum over the samples (metrics.c compensates every term:
 *    the last bits may differ).
 *    metrics.c turns S into the within-class scatter along each u_r
 *    (nc__metrics_from_summary), so one pass 2 serves every convention and
 *    rtol of the metrics handle.
 *  - Threads (nc_stream_set_threads). The work of a batch is cut so that
 *    no value depends on the number of parts: pass 1 by classes for the
 *    classes with one sample in the batch and by ranges of coordinates for
 *    the others (each entry of the sums still added in sample order),
 *    pass 2's residuals and per-class sums by classes (y mod threads, each
 *    class in sample order), the projections in chunks of fixed width and
 *    the scatter in blocks fixed by q (each entry from the same BLAS call
 *    whatever the thread count), NC4 in the fixed blocks of `block`
 *    columns with counts per part (integers, added after). Hence the same
 *    bits for any count.
 *  - NC4 and accuracy come from nc__nc4_block, the code metrics.c runs,
 *    with the frozen means and the same scaled classifier.
 *  - Merges add counts, S (with its compensation) and the NC4 counts;
 *    pass-1 merges combine the means with Chan's update after bringing both
 *    to the larger scale.
 *  - Files (nc_stream_save, nc_stream_load; io/stream_file.c) hold every field a merge or
 *    nc_metrics_compute_stream reads, bit for bit, so an accumulator saved
 *    by one process and loaded by another merges exactly as the original.
 */
#include "metrics/metrics.h"
#include "common/simd.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

/* Same column-block target as metrics.c: about 256 KB per d x B block. */
#define NC_STREAM_BLOCK_DOUBLES 32768
/* Pass 2's blocks with the d x d scatter: 2048 samples (the compensated
 * add of a block costs d^2 / 2 beside the product's d^2 x 2048 / 2
 * multiply-adds), at most about 16 MB of residuals when d is large. */
#define NC_STREAM_SBLOCK_COLUMNS 2048
#define NC_STREAM_SBLOCK_DOUBLES 2097152


/* Point the arrays of s into s->mem and s->smem. */
static void layout_arrays(nc_stream *s)
{
    const size_t d = s->d, K = s->K, q = s->q, B = s->block, SB = s->sblock;
    double *w = s->mem;
    size_t *z = s->smem;
    if (s->cmem != NULL) {
        s->W = s->cmem;
        s->b = s->W + d * K;
        s->Wp = s->b + K;
        s->bp = s->Wp + d * K;
    } else {
        s->W = s->b = s->Wp = s->bp = NULL;
    }
    s->mu = w; w += d * K;
    s->Q = w; w += d * q;
    s->munrm = w; w += K;
    s->vs = w; w += K;
    s->vc = w; w += K;
    s->Ss = w; w += q * q;
    s->Sc = w; w += q * q;
    s->Sv = w; w += q * q;
    s->bmu = w; w += d * K;
    s->bres = w; w += d * K;
    s->tmpH = w; w += d * SB;
    s->tmpX = w; w += q > 0 ? d * SB : 0; /* residuals: only for a scatter */
    s->P = w; w += q * SB;
    s->Sb = w; w += q * q;
    s->Z = w; w += K * B;
    s->IP = w; w += K * B;
    s->svdw = w;
    if (s->part != NULL) {
        s->part[0].Z = s->Z;
        s->part[0].IP = s->IP;
    }
    s->counts = z; z += K;
    s->counts2 = z; z += K;
    s->cmis = z; z += K;
    s->ccor = z; z += K;
    s->bcounts = z;
}

int nc__stream_classifier_memory(nc_stream *s)
{
    if (s->cmem != NULL) return 1;
    s->cmem = nc__alloc_doubles(2 * s->d + 2, s->K);
    if (s->cmem == NULL) return 0;
    memset(s->cmem, 0, (2 * s->d + 2) * s->K * sizeof(double));
    layout_arrays(s);
    return 1;
}

NC_API nc_status nc_stream_create(nc_stream **stream, size_t d, size_t K)
{
    return nc__stream_new(stream, d, K, 0);
}

nc_status nc__stream_new(nc_stream **stream, size_t d, size_t K, int no_nc1)
{
    nc_stream *s;
    size_t need = 0, big;
    double wq = 1.0, dummy = 0.0;
    lapack_int info;
    nc__create_clear();
    if (stream == NULL) return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_stream_create: stream is NULL");
    *stream = NULL;
    if (d == 0 || K < 2 || !nc__fits_int(d) || !nc__fits_int(K))
        return nc__create_fail(NC_ERR_INVALID_SIZE, "nc_stream_create: d = %zu, K = %zu (need "
                               "1 <= d and 2 <= K, both at most INT_MAX)", d, K);
    s = (nc_stream *)calloc(1, sizeof *s);
    if (s == NULL) return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_stream_create: no memory");
    s->d = d;
    s->K = K;
    s->no_nc1 = no_nc1 != 0;
    s->raw_scatter = !s->no_nc1 && nc__stream_uses_dxd(d, K);
    /* q: the side of the scatter (d for the d x d one, K for the projected
     * one, 0 for none), and the columns of Q (d x q; all zero, and unused,
     * with the d x d scatter). */
    s->q = s->no_nc1 ? 0 : s->raw_scatter ? d : K;
    s->tile = nc__syrk_side(s->q, NC_STREAM_TILE);
    big = d > K ? d : K;
    s->block = NC_STREAM_BLOCK_DOUBLES / big;
    if (s->block < 1) s->block = 1;
    /* The d x d scatter is added to its compensated sum once per block:
     * blocks of NC_STREAM_SBLOCK_COLUMNS keep that cost small beside the
     * products, and the scratch bounded when d is large. A stream without a
     * scatter takes the blocks of the stream with one, so that NC4 sees the
     * same columns in the same calls (and its threads hand off as rarely:
     * s->block is 1 at K = 32768). */
    s->sblock = s->block;
    if (nc__stream_uses_dxd(d, K)) {
        size_t sb = NC_STREAM_SBLOCK_DOUBLES / d;
        if (sb > NC_STREAM_SBLOCK_COLUMNS) sb = NC_STREAM_SBLOCK_COLUMNS;
        if (s->sblock < sb) s->sblock = sb;
    }
    /* The workspace of the SVD of the projected scatter's basis (queried
     * whatever the layout, as before; none without a scatter). */
    info = s->no_nc1 ? 0
                     : LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'O', 'N', (lapack_int)d, (lapack_int)K,
                                           &dummy, (lapack_int)d, &dummy, &dummy, 1, &dummy, 1,
                                           &wq, -1);
    if (info != 0 || wq > (double)INT_MAX) {
        free(s);
        return nc__create_fail(info != 0 ? NC_ERR_LAPACK : NC_ERR_OUT_OF_MEMORY, "nc_stream_create: "
                               "the SVD workspace query failed (info %d) or is too large",
                               (int)info);
    }
    s->lwork = wq >= 1.0 ? (size_t)wq : 1;
    /* 3 d x K, d x q, 2 d x SB (d x SB without a scatter), q x SB, 2 K x B,
     * 4 q x q, 3 K, lwork (the classifier, 2 d x K + 2 K more, is
     * allocated when one is set). */
    if (nc__size_mad(&need, 3 * d, K) || nc__size_mad(&need, d, s->q) ||
        nc__size_mad(&need, (s->q > 0 ? 2 * d : d) + s->q, s->sblock) ||
        nc__size_mad(&need, 2 * K, s->block) ||
        nc__size_mad(&need, 4 * s->q, s->q) || nc__size_mad(&need, 3, K) ||
        nc__size_mad(&need, 1, s->lwork) ||
        need > SIZE_MAX / sizeof(double)) {
        free(s);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_stream_create: the workspace of d = %zu, "
                               "K = %zu overflows", d, K);
    }
    s->mem = (double *)calloc(need, sizeof(double));
    s->smem = (size_t *)calloc(5 * K, sizeof(size_t));
    if (s->mem == NULL || s->smem == NULL) {
        free(s->mem);
        free(s->smem);
        free(s);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_stream_create: no memory for %zu doubles",
                               need);
    }
    s->mem_doubles = need;
    layout_arrays(s);
    if (nc__stream_threads(s, 1) != NC_SUCCESS) {
        free(s->mem);
        free(s->smem);
        free(s);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_stream_create: no memory for the "
                               "per-class counts of K = %zu", K);
    }
    s->pass = 1;
    s->scale = 1.0;
    s->zalpha = 1.0;
    s->logits_ok = 1;
    *stream = s;
    return NC_SUCCESS;
}

NC_API void nc_stream_destroy(nc_stream *stream)
{
    if (stream == NULL) return;
    nc__pool_destroy(stream->pool);
    free(stream->part);
    free(stream->pmem);
    free(stream->pcnt);
    free(stream->mem);
    free(stream->smem);
    free(stream->cmem);
    free(stream);
}

NC_API nc_status nc_stream_copy(nc_stream **copy, const nc_stream *stream)
{
    nc_stream *c;
    nc_status st;
    if (copy == NULL) return NC_ERR_NULL_ARGUMENT;
    *copy = NULL;
    if (stream == NULL) return NC_ERR_NULL_ARGUMENT;
    st = nc__stream_new(&c, stream->d, stream->K, stream->no_nc1);
    if (st != NC_SUCCESS) return st;
    if (stream->cmem != NULL && !nc__stream_classifier_memory(c)) {
        nc_stream_destroy(c);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY,
                               "nc_stream_copy: no memory for the classifier's sums (%zu x %zu "
                               "doubles)", 2 * stream->d + 2, stream->K);
    }
    st = nc__stream_threads(c, stream->threads);
    if (st != NC_SUCCESS) {
        nc_stream_destroy(c);
        return nc__create_fail(st, "nc_stream_copy: cannot start %zu threads (or no memory for "
                               "their per-class counts)", stream->threads);
    }
    {
        double *mem = c->mem, *cmem = c->cmem, *pmem = c->pmem;
        size_t *smem = c->smem, *pcnt = c->pcnt, threads = c->threads;
        nc__pool *pool = c->pool;
        nc__stream_part *part = c->part;
        memcpy(mem, stream->mem, stream->mem_doubles * sizeof(double));
        memcpy(smem, stream->smem, 5 * stream->K * sizeof(size_t));
        if (cmem != NULL)
            memcpy(cmem, stream->cmem, (2 * stream->d + 2) * stream->K * sizeof(double));
        *c = *stream;
        c->mem = mem;
        c->smem = smem;
        c->cmem = cmem;
        c->pool = pool;
        c->part = part;
        c->pmem = pmem;
        c->pcnt = pcnt;
        c->threads = threads;
        layout_arrays(c);
    }
    *copy = c;
    return NC_SUCCESS;
}

NC_API nc_status nc_stream_set_classifier(nc_stream *stream, const double *W, size_t ldw,
                                          const double *b)
{
    nc_stream *s = stream;
    size_t k;
    if (s == NULL) return NC_ERR_NULL_ARGUMENT;
    s->msg[0] = '\0';
    if (s->pass != 1)
        return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "the classifier can only be set in pass 1");
    if (W == NULL) {
        s->has_W = s->has_b = 0;
        return NC_SUCCESS;
    }
    if (ldw < s->d)
        return nc__fail(s->msg, NC_ERR_SIZE_MISMATCH, "ldw = %lu is smaller than d = %lu",
                        (unsigned long)ldw, (unsigned long)s->d);
    if (!nc__all_finite_mat(W, s->d, s->K, ldw))
        return nc__fail(s->msg, NC_ERR_NON_FINITE, "W contains NaN or Inf");
    if (b != NULL && !nc__all_finite(b, s->K))
        return nc__fail(s->msg, NC_ERR_NON_FINITE, "b contains NaN or Inf");
    if (!nc__stream_classifier_memory(s))
        return nc__fail(s->msg, NC_ERR_OUT_OF_MEMORY, "no memory for a %lu x %lu classifier",
                        (unsigned long)s->K, (unsigned long)s->d);
    for (k = 0; k < s->K; k++) memcpy(s->W + k * s->d, W + k * ldw, s->d * sizeof(double));
    if (b != NULL)
        memcpy(s->b, b, s->K * sizeof(double));
    else
        memset(s->b, 0, s->K * sizeof(double));
    s->has_W = 1;
    s->has_b = b != NULL;
    return NC_SUCCESS;
}

/* The element-wise loops of the running means, written to vectorise
 * (NC_CLONES, restrict): each element sees the operations of the plain
 * loop, so the bits do not change. */
/* mu += (bmu - mu) w */
static NC_CLONES void merge_row(double *restrict mu, const double *restrict bmu, double w,
                                size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) mu[t] += (bmu[t] - mu[t]) * w;
}

/* x /= c */
static NC_CLONES void divide_row(double *restrict x, double c, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) x[t] /= c;
}

/* mu += r / c */
static NC_CLONES void add_divided(double *restrict mu, const double *restrict r, double c,
                                  size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) mu[t] += r[t] / c;
}

/* mu *= factor (nothing for 1) */
static NC_CLONES void scale_means(double *restrict mu, size_t n, double factor)
{
    size_t i;
    if (factor == 1.0) return;
    for (i = 0; i < n; i++) mu[i] *= factor;
}

/* Chan's update of the means mu (counts cnt) with the means bmu (counts
 * bcnt), both in the same units; counts are added. */
static void merge_means(size_t d, size_t K, double *mu, size_t *cnt, const double *bmu,
                        const size_t *bcnt)
{
    size_t k;
    for (k = 0; k < K; k++) {
        if (bcnt[k] == 0) continue;
        if (cnt[k] == 0) {
            memcpy(mu + k * d, bmu + k * d, d * sizeof(double));
        } else {
            const double w = (double)bcnt[k] / ((double)cnt[k] + (double)bcnt[k]);
            merge_row(mu + k * d, bmu + k * d, w, d);
        }
        cnt[k] += bcnt[k];
    }
}

/* Add a compensated q x q sum (vs, vc) into (Ss, Sc), refresh Sv. */
static void add_scatter(nc_stream *s, const double *vs, const double *vc)
{
    size_t i;
    const size_t n = s->q * s->q;
    for (i = 0; i < n; i++) {
        nc__sum a;
        a.s = s->Ss[i];
        a.c = s->Sc[i];
        nc__sum_add(&a, vs[i]);
        if (vc != NULL) nc__sum_add(&a, vc[i]);
        s->Ss[i] = a.s;
        s->Sc[i] = a.c;
        s->Sv[i] = a.s + a.c;
    }
}

/* Chan's update restricted to the coordinates t0 <= t < t1 (counts are not
 * changed): the same operations, entry by entry, as merge_means. */
static void merge_means_range(size_t d, size_t K, double *mu, const size_t *cnt,
                              const double *bmu, const size_t *bcnt, size_t t0, size_t t1)
{
    size_t k;
    for (k = 0; k < K; k++) {
        if (bcnt[k] < 2) continue; /* one sample: merged by single_part */
        if (cnt[k] == 0) {
            memcpy(mu + k * d + t0, bmu + k * d + t0, (t1 - t0) * sizeof(double));
        } else {
            const double w = (double)bcnt[k] / ((double)cnt[k] + (double)bcnt[k]);
            merge_row(mu + k * d + t0, bmu + k * d + t0, w, t1 - t0);
        }
    }
}

/* The coordinates [*t0, *t1) of part `part` of `parts` (multiples of 8, so
 * that parts do not share cache lines of a column). */
static void stream_range(size_t d, size_t parts, size_t part, size_t *t0, size_t *t1)
{
    size_t w = (d + parts - 1) / parts;
    w = (w + 7) / 8 * 8;
    *t0 = part * w < d ? part * w : d;
    *t1 = *t0 + w < d ? *t0 + w : d;
}

typedef struct scatter_job {
    nc_stream *s;
    size_t nb;
    size_t taken; /* scatter calls handed out (nc__pool_take) */
} scatter_job;

/* The projections P = Q^T X of the column chunks of part `part`. */
static void project_part(void *ctx, size_t part)
{
    const scatter_job *j = (const scatter_job *)ctx;
    nc_stream *s = j->s;
    const size_t nchunks = (j->nb + NC_STREAM_STRIP - 1) / NC_STREAM_STRIP;
    size_t c;
    for (c = part; c < nchunks; c += s->threads) {
        const size_t c0 = c * NC_STREAM_STRIP;
        const size_t w = j->nb - c0 < NC_STREAM_STRIP ? j->nb - c0 : NC_STREAM_STRIP;
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)s->q, (int)w, (int)s->d, 1.0,
                    s->Q, (int)s->d, s->tmpX + c0 * s->d, (int)s->d, 0.0, s->P + c0 * s->q,
                    (int)s->q);
    }
}

/* Panel P of a pass-2 block of nb residuals for the d x d scatter: its
 * rows P T .. P T + w - 1 (T = s->tile, w = T or what is left of d),
 * w x nb, column j at j w. Each block product then reads rows of one or
 * two panels, of leading dimension w, rather than strided rows of a d x nb
 * array. */
static double *stream_panel(const nc_stream *s, size_t P, size_t nb)
{
    return s->tmpX + P * s->tile * nb;
}

/* Add x[0..n) to the compensated sums (s, c) entry by entry, and their
 * values to v: nc__sum_add's operations, which vectorise across entries. */
static NC_CLONES void add_entries(double *restrict s, double *restrict c, double *restrict v,
                                  const double *restrict x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const double t = s[i] + x[i], bp = t - s[i];
        c[i] += (s[i] - (t - bp)) + (x[i] - bp);
        s[i] = t;
        v[i] = t + c[i];
    }
}

/* Rows r0.. of M (the residuals, or their projections) and their leading
 * dimension: a panel of the residuals (r0 - P T rows into it), or the
 * projections, q x nb. */
static const double *scatter_rows(const nc_stream *s, size_t r0, size_t nb, size_t *ld)
{
    size_t P, p0;
    if (!s->raw_scatter) {
        *ld = s->q;
        return s->P + r0;
    }
    P = r0 / s->tile;
    p0 = P * s->tile;
    *ld = s->q - p0 < s->tile ? s->q - p0 : s->tile;
    return stream_panel(s, P, nb) + (r0 - p0);
}

/* Call c of the scatter's upper triangle of M M^T (nc__syrk_call_at) into
 * Sb, then added to the compensated sum entry by entry. */
static void scatter_call(nc_stream *s, size_t nb, nc__syrk_call c)
{
    const size_t q = s->q;
    size_t col, lda, ldb;
    const double *A = scatter_rows(s, c.r0, nb, &lda), *B = scatter_rows(s, c.c0, nb, &ldb);
    nc__syrk_call_run(c, nb, A, lda, B, ldb, s->Sb + c.r0 + c.c0 * q, q);
    for (col = c.c0; col < c.c0 + c.nc; col++) {
        const size_t e = c.r0 + col * q, a1 = c.r0 + c.nr <= col + 1 ? c.r0 + c.nr : col + 1;
        add_entries(s->Ss + e, s->Sc + e, s->Sv + e, s->Sb + e, a1 - c.r0);
    }
}

/*
 * The upper triangle of M M^T (M = the residuals, d x nb, or their
 * projections, q x nb) in nc__syrk_call_at's calls, which the parts take
 * in turn, about largest first. The calls are fixed by q alone and write
 * disjoint entries, so every entry is the same whatever the thread count.
 * Taken so, the calls balance by their real time: at d = 768 on two
 * threads pass 2 took as long as when they were dealt by an estimate of
 * it (1.73-1.93 s against 1.77-1.94 s over four runs each, Zen 4, K = 8192,
 * N = 2 x 10^5; runs vary by 10%).
 */
static void strips_part(void *ctx, size_t part)
{
    scatter_job *j = (scatter_job *)ctx;
    nc_stream *s = j->s;
    const size_t ncalls = nc__syrk_calls(s->q, s->tile);
    (void)part;
    for (;;) {
        const size_t i = nc__pool_take(s->pool, &j->taken);
        if (i >= ncalls) break;
        scatter_call(s, j->nb, nc__syrk_call_at(s->q, s->tile, i));
    }
}

/* Add the scatter of the nb residual columns in s->tmpX: the d x d scatter
 * itself, or its projection on Q. Upper triangles only. */
static void scatter_block(nc_stream *s, size_t nb)
{
    scatter_job j;
    j.s = s;
    j.nb = nb;
    j.taken = 0;
    if (s->q == 0) return; /* NC_NC1_PATH_NONE */
    if (!s->raw_scatter) nc__pool_run(s->pool, project_part, &j);
    nc__pool_run(s->pool, strips_part, &j);
}

/* Before a pass-2 batch: every part's NC4 counts at zero. */
static void parts_clear(nc_stream *s)
{
    size_t p;
    for (p = 0; p < s->threads; p++) {
        nc__stream_part *q = &s->part[p];
        q->logits_ok = s->logits_ok;
        q->mismatches = q->correct = 0;
        memset(q->cmis, 0, s->K * sizeof(size_t));
        memset(q->ccor, 0, s->K * sizeof(size_t));
    }
}

/* After it: the parts' counts added to the stream's (integers: in any order). */
static void parts_merge(nc_stream *s)
{
    size_t p, k;
    for (p = 0; p < s->threads; p++) {
        const nc__stream_part *q = &s->part[p];
        s->logits_ok = s->logits_ok && q->logits_ok;
        s->mismatches += q->mismatches;
        s->correct += q->correct;
        for (k = 0; k < s->K; k++) {
            s->cmis[k] += q->cmis[k];
            s->ccor[k] += q->ccor[k];
        }
    }
}

/*
 * The batch functions, once for double and once for float features
 * (NC_STREAM_TYPE): a float column is widened as it is read, into the block
 * buffers pass 2 uses anyway; no copy of a batch is made.
 */

/* NC_ST_LOAD4(v, p): four features at p widened to an nc__v4d. NC_ST_BITS:
 * a signed integer of the feature's width; NC_ST_MAGNITUDE clears its sign
 * bit, NC_ST_INF_BITS is the pattern of +Inf. */
#define NC_STREAM_TYPE double
#define NC_STREAM_SUFFIX f64
#define NC_ST_LOAD4(v, p) memcpy(&(v), (p), sizeof(v))
#define NC_ST_BITS int64_t
#define NC_ST_MAGNITUDE INT64_C(0x7fffffffffffffff)
#define NC_ST_INF_BITS INT64_C(0x7ff0000000000000)
#include "metrics/stream_tmpl.h"
#undef NC_STREAM_TYPE
#undef NC_STREAM_SUFFIX
#undef NC_ST_LOAD4
#undef NC_ST_BITS
#undef NC_ST_MAGNITUDE
#undef NC_ST_INF_BITS
#define NC_STREAM_TYPE float
#define NC_ST_BITS int32_t
#define NC_ST_MAGNITUDE INT32_C(0x7fffffff)
#define NC_ST_INF_BITS INT32_C(0x7f800000)
#define NC_STREAM_SUFFIX f32
#define NC_ST_LOAD4(v, p)                                                                    \
    do {                                                                                     \
        nc__v4f f4_;                                                                         \
        memcpy(&f4_, (p), sizeof f4_);                                                       \
        (v) = __builtin_convertvector(f4_, nc__v4d);                                         \
    } while (0)
#include "metrics/stream_tmpl.h"
#undef NC_STREAM_TYPE
#undef NC_STREAM_SUFFIX
#undef NC_ST_LOAD4
#undef NC_ST_BITS
#undef NC_ST_MAGNITUDE
#undef NC_ST_INF_BITS

NC_API nc_status nc_stream_add(nc_stream *stream, size_t n, const double *H, size_t ldh,
                               const int32_t *labels)
{
    return add_f64(stream, n, H, ldh, labels);
}

NC_API nc_status nc_stream_add_float(nc_stream *stream, size_t n, const float *H, size_t ldh,
                                     const int32_t *labels)
{
    return add_f32(stream, n, H, ldh, labels);
}

NC_API nc_status nc_stream_next_pass(nc_stream *stream)
{
    nc_stream *s = stream;
    const size_t d = s != NULL ? s->d : 0, K = s != NULL ? s->K : 0;
    size_t k, t;
    lapack_int info;
    double dummy = 0.0;
    if (s == NULL) return NC_ERR_NULL_ARGUMENT;
    s->msg[0] = '\0';
    if (s->pass != 1) return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "the stream is in pass 2");
    for (k = 0; k < K; k++)
        if (s->counts[k] == 0)
            return nc__fail(s->msg, NC_ERR_EMPTY_CLASS, "class %lu has no samples",
                            (unsigned long)k);
    if (s->no_nc1) {
        /* No scatter: neither a basis nor its SVD. */
    } else if (s->raw_scatter) {
        /* Pass 2 accumulates the d x d scatter itself: no basis is needed
         * (Q stays zero; it is kept, in files too, for one layout). */
        memset(s->Q, 0, d * s->q * sizeof(double));
    } else {
        /* Q: left singular vectors of the class-average-centred means (bmu
         * is scratch: nothing of the state changes unless the SVD succeeds). */
        for (t = 0; t < d; t++) {
            double g = 0.0;
            for (k = 0; k < K; k++) g += s->mu[k * d + t];
            g /= (double)K;
            for (k = 0; k < K; k++) s->bmu[k * d + t] = s->mu[k * d + t] - g;
        }
        info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'O', 'N', (lapack_int)d, (lapack_int)K,
                                   s->bmu, (lapack_int)d, s->bres, &dummy, 1, &dummy, 1, s->svdw,
                                   (lapack_int)s->lwork);
        if (info != 0)
            return nc__fail(s->msg, NC_ERR_LAPACK, "dgesvd of the centred means failed (info "
                            "%d)", (int)info);
        memcpy(s->Q, s->bmu, d * K * sizeof(double)); /* K < d here, and q = K */
    }
    for (k = 0; k < K; k++) s->munrm[k] = cblas_dnrm2((int)d, s->mu + k * d, 1);
    if (s->has_W)
        nc__scale_classifier(d, K, s->W, d, s->has_b ? s->b : NULL, s->Wp, s->bp, &s->zalpha);
    memset(s->Ss, 0, s->q * s->q * sizeof(double));
    memset(s->Sc, 0, s->q * s->q * sizeof(double));
    memset(s->Sv, 0, s->q * s->q * sizeof(double));
    memset(s->vs, 0, K * sizeof(double));
    memset(s->vc, 0, K * sizeof(double));
    for (k = 0; k < K; k++) s->counts2[k] = s->cmis[k] = s->ccor[k] = 0;
    s->n2 = 0;
    s->mismatches = s->correct = 0;
    s->logits_ok = 1;
    s->pass = 2;
    return NC_SUCCESS;
}

static int same_classifier(const nc_stream *a, const nc_stream *b)
{
    if (a->has_W != b->has_W || a->has_b != b->has_b) return 0;
    if (!a->has_W) return 1;
    return memcmp(a->W, b->W, a->d * a->K * sizeof(double)) == 0 &&
           memcmp(a->b, b->b, a->K * sizeof(double)) == 0;
}

NC_API nc_status nc_stream_merge(nc_stream *stream, const nc_stream *other)
{
    nc_stream *s = stream;
    const nc_stream *o = other;
    size_t k;
    if (s == NULL) return NC_ERR_NULL_ARGUMENT;
    s->msg[0] = '\0';
    if (o == NULL) return nc__fail(s->msg, NC_ERR_NULL_ARGUMENT, "other is NULL");
    if (o == s) return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "cannot merge a stream into itself");
    if (o->d != s->d || o->K != s->K)
        return nc__fail(s->msg, NC_ERR_SIZE_MISMATCH, "streams of d = %lu, K = %lu and d = %lu, "
                        "K = %lu", (unsigned long)s->d, (unsigned long)s->K, (unsigned long)o->d,
                        (unsigned long)o->K);
    if (o->pass != s->pass)
        return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "streams in passes %d and %d", s->pass,
                        o->pass);
    if (!same_classifier(s, o))
        return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "the streams hold different classifiers");
    if (o->no_nc1 != s->no_nc1)
        return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "the streams have different NC1 paths "
                        "(one accumulates the within-class scatter, the other does not: "
                        "nc_stream_set_nc1_path)");
    if (s->pass == 1) {
        const double newmax = o->amax > s->amax ? o->amax : s->amax;
        const double snew = nc__pow2_scale(newmax);
        if (o->n1 > SIZE_MAX - s->n1)
            return nc__fail(s->msg, NC_ERR_INVALID_SIZE, "sample count overflows");
        if (o->n1 == 0) return NC_SUCCESS;
        if (s->n1 > 0) scale_means(s->mu, s->d * s->K, snew / s->scale);
        memcpy(s->bmu, o->mu, s->d * s->K * sizeof(double));
        scale_means(s->bmu, s->d * s->K, snew / o->scale);
        merge_means(s->d, s->K, s->mu, s->counts, s->bmu, o->counts);
        s->scale = snew;
        s->amax = newmax;
        s->n1 += o->n1;
        return NC_SUCCESS;
    }
    /* Pass 2: both must come from the same pass 1. */
    if (s->n1 != o->n1 || s->amax != o->amax ||
        memcmp(s->counts, o->counts, s->K * sizeof(size_t)) != 0 ||
        memcmp(s->mu, o->mu, s->d * s->K * sizeof(double)) != 0 ||
        memcmp(s->Q, o->Q, s->d * s->q * sizeof(double)) != 0)
        return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "the pass-2 streams derive from different "
                        "pass-1 data (copy one stream after nc_stream_next_pass)");
    for (k = 0; k < s->K; k++)
        if (o->counts2[k] > s->counts[k] - s->counts2[k])
            return nc__fail(s->msg, NC_ERR_SIZE_MISMATCH, "together the streams have seen more "
                            "samples of class %lu in pass 2 than in pass 1", (unsigned long)k);
    add_scatter(s, o->Ss, o->Sc);
    for (k = 0; k < s->K; k++) {
        nc__sum a;
        a.s = s->vs[k];
        a.c = s->vc[k];
        nc__sum_add(&a, o->vs[k]);
        nc__sum_add(&a, o->vc[k]);
        s->vs[k] = a.s;
        s->vc[k] = a.c;
        s->counts2[k] += o->counts2[k];
        s->cmis[k] += o->cmis[k];
        s->ccor[k] += o->ccor[k];
    }
    s->n2 += o->n2;
    s->mismatches += o->mismatches;
    s->correct += o->correct;
    s->logits_ok = s->logits_ok && o->logits_ok;
    return NC_SUCCESS;
}

int nc__stream_uses_dxd(size_t d, size_t K)
{
    /* Multiply-adds per sample: d K to project and K^2 / 2 for the upper
     * triangle of the projected scatter, against d^2 / 2 for the d x d one
     * (docs/performance.md has the measured crossover). */
    const double dd = (double)d, kk = (double)K;
    return K >= d || dd * dd <= 2.0 * dd * kk + kk * kk;
}

nc_status nc__stream_threads(nc_stream *s, size_t threads)
{
    const size_t K = s->K;
    nc__pool *pool = NULL;
    nc__stream_part *part;
    double *pmem = NULL;
    size_t *pcnt, p, nz = 0, nc = 0, zk = 0;
    nc_status st;
    if (nc__size_mad(&zk, 2 * (threads - 1), K) || nc__size_mad(&nz, zk, s->block) ||
        nz > SIZE_MAX / sizeof(double) || nc__size_mad(&nc, 2 * threads, K) ||
        nc > SIZE_MAX / sizeof(size_t))
        return NC_ERR_OUT_OF_MEMORY;
    part = (nc__stream_part *)calloc(threads, sizeof *part);
    pcnt = (size_t *)calloc(nc, sizeof(size_t));
    if (nz > 0) pmem = (double *)calloc(nz, sizeof(double));
    if (part == NULL || pcnt == NULL || (nz > 0 && pmem == NULL)) {
        free(part);
        free(pcnt);
        free(pmem);
        return NC_ERR_OUT_OF_MEMORY;
    }
    st = nc__pool_create(&pool, threads);
    if (st != NC_SUCCESS) {
        free(part);
        free(pcnt);
        free(pmem);
        return st;
    }
    for (p = 0; p < threads; p++) {
        part[p].cmis = pcnt + 2 * p * K;
        part[p].ccor = part[p].cmis + K;
        part[p].logits_ok = 1;
        if (p > 0) {
            part[p].Z = pmem + 2 * (p - 1) * K * s->block;
            part[p].IP = part[p].Z + K * s->block;
        }
    }
    part[0].Z = s->Z;
    part[0].IP = s->IP;
    nc__pool_destroy(s->pool);
    free(s->part);
    free(s->pmem);
    free(s->pcnt);
    s->pool = pool;
    s->part = part;
    s->pmem = pmem;
    s->pcnt = pcnt;
    s->threads = threads;
    return NC_SUCCESS;
}

NC_API nc_status nc_stream_set_threads(nc_stream *stream, size_t threads)
{
    nc_status st;
    if (stream == NULL) return NC_ERR_NULL_ARGUMENT;
    stream->msg[0] = '\0';
    if (threads < 1 || threads > NC_STREAM_MAX_THREADS)
        return nc__fail(stream->msg, NC_ERR_INVALID_VALUE, "threads must be in [1, 1024] (got "
                        "%lu)", (unsigned long)threads);
    if (threads == stream->threads) return NC_SUCCESS;
    st = nc__stream_threads(stream, threads);
    if (st != NC_SUCCESS)
        return nc__fail(stream->msg, st, "cannot start %lu threads (or no memory for their "
                        "per-class counts)", (unsigned long)threads);
    return NC_SUCCESS;
}

NC_API size_t nc_stream_get_threads(const nc_stream *stream)
{
    return stream != NULL ? stream->threads : 0;
}

nc_status nc__stream_new_into(nc_stream **stream, size_t d, size_t K, int no_nc1, char *msg)
{
    char saved[NC_MSG_SIZE];
    nc_status st;
    memcpy(saved, nc_create_last_error(), NC_MSG_SIZE);
    st = nc__stream_new(stream, d, K, no_nc1);
    if (st != NC_SUCCESS) nc__fail(msg, st, "%s", nc_create_last_error());
    nc__create_fail(NC_SUCCESS, "%s", saved);
    return st;
}

NC_API nc_status nc_stream_set_nc1_path(nc_stream *stream, nc_nc1_path path)
{
    nc_stream *s = stream, *t;
    const int none = path == NC_NC1_PATH_NONE;
    size_t z;
    double *m;
    int i;
    nc_status st;
    if (s == NULL) return NC_ERR_NULL_ARGUMENT;
    s->msg[0] = '\0';
    if (path != NC_NC1_PATH_AUTO && path != NC_NC1_PATH_NONE)
        return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "a stream's NC1 path is NC_NC1_PATH_AUTO "
                        "or NC_NC1_PATH_NONE (got %d; a stream takes the cheaper of its two "
                        "scatters itself)", (int)path);
    if (s->pass != 1)
        return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "the NC1 path can only be set in pass 1");
    if (none == s->no_nc1) return NC_SUCCESS;
    /* A stream of the new layout takes the pass-1 state held in s->mem (the
     * means; the rest of it is pass-2 state or scratch), then the two swap
     * their memory: s keeps its counts (s->smem), threads, classifier and
     * scalars. */
    st = nc__stream_new_into(&t, s->d, s->K, none, s->msg);
    if (st != NC_SUCCESS) return st; /* the reason, from nc_stream_create's, in s->msg */
    memcpy(t->mu, s->mu, s->d * s->K * sizeof(double));
    m = s->mem, s->mem = t->mem, t->mem = m;
    z = s->mem_doubles, s->mem_doubles = t->mem_doubles, t->mem_doubles = z;
    z = s->q, s->q = t->q, t->q = z;
    z = s->tile, s->tile = t->tile, t->tile = z;
    z = s->sblock, s->sblock = t->sblock, t->sblock = z;
    z = s->lwork, s->lwork = t->lwork, t->lwork = z;
    i = s->raw_scatter, s->raw_scatter = t->raw_scatter, t->raw_scatter = i;
    i = s->no_nc1, s->no_nc1 = t->no_nc1, t->no_nc1 = i;
    layout_arrays(s);
    nc_stream_destroy(t); /* frees the old memory (t's arrays are not used) */
    return NC_SUCCESS;
}

NC_API nc_nc1_path nc_stream_get_nc1_path(const nc_stream *stream)
{
    return stream != NULL && stream->no_nc1 ? NC_NC1_PATH_NONE : NC_NC1_PATH_AUTO;
}

NC_API int nc_stream_pass(const nc_stream *stream) { return stream != NULL ? stream->pass : 0; }

NC_API size_t nc_stream_num_samples(const nc_stream *stream)
{
    if (stream == NULL) return 0;
    return stream->pass == 1 ? stream->n1 : stream->n2;
}

NC_API nc_status nc_stream_get_class_means(const nc_stream *stream, double *M, size_t ldm,
                                           size_t *counts)
{
    const nc_stream *s = stream;
    size_t k, t;
    if (s == NULL || M == NULL) return NC_ERR_NULL_ARGUMENT;
    if (ldm < s->d) return NC_ERR_SIZE_MISMATCH;
    /* mu holds the running means of the features times s->scale, a power
     * of two: dividing by it adds no rounding unless the result is
     * subnormal */
    for (k = 0; k < s->K; k++)
        for (t = 0; t < s->d; t++) M[k * ldm + t] = s->mu[k * s->d + t] / s->scale;
    if (counts != NULL) memcpy(counts, s->counts, s->K * sizeof(size_t));
    return NC_SUCCESS;
}

NC_API const char *nc_stream_last_error(const nc_stream *stream)
{
    return stream != NULL ? stream->msg : "";
}

NC_API nc_status nc_metrics_compute_stream(nc_metrics *metrics, const nc_stream *stream)
{
    const nc_stream *s = stream;
    nc__summary sm;
    size_t k;
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (s == NULL) return nc__metrics_fail(metrics, NC_ERR_NULL_ARGUMENT, "stream is NULL");
    if (s->pass != 2)
        return nc__metrics_fail(metrics, NC_ERR_UNAVAILABLE, "the stream is in pass 1: call "
                                "nc_stream_next_pass and add the data again");
    for (k = 0; k < s->K; k++)
        if (s->counts2[k] != s->counts[k])
            return nc__metrics_fail(metrics, NC_ERR_SIZE_MISMATCH, "pass 2 has not seen the "
                                    "samples of pass 1 (class counts differ)");
    memset(&sm, 0, sizeof sm);
    sm.d = s->d;
    sm.K = s->K;
    sm.N = s->n1;
    sm.counts = s->counts;
    sm.mu = s->mu;
    sm.W = s->has_W ? s->W : NULL;
    sm.ldw = s->d;
    sm.b = s->has_W && s->has_b ? s->b : NULL;
    sm.Q = s->raw_scatter || s->no_nc1 ? NULL : s->Q;
    sm.q = s->q;
    sm.S = s->no_nc1 ? NULL : s->Sv;
    sm.logits_ok = s->logits_ok;
    sm.mismatches = s->mismatches;
    sm.correct = s->correct;
    sm.scale = s->scale;
    sm.cls_mismatches = s->has_W ? s->cmis : NULL;
    sm.cls_correct = s->has_W ? s->ccor : NULL;
    {
        /* sum of ||x||^2 per class: the compensated sums, in the workspace
         * that pass 1 used for batch means (the stream is not changed). */
        double *v = (double *)malloc(s->K * sizeof(double));
        nc_status st;
        if (v == NULL)
            return nc__metrics_fail(metrics, NC_ERR_OUT_OF_MEMORY, "no memory for K values");
        for (k = 0; k < s->K; k++) v[k] = s->vs[k] + s->vc[k];
        sm.vsum = v;
        sm.pool = s->pool;
        sm.threads = s->threads;
        st = nc__metrics_from_summary(metrics, &sm);
        free(v);
        return st;
    }
}

/*
 * pairs.c - the pairwise metrics in tiles: every sum over pairs of classes
 * (or over all K x K entries of a Gram matrix) from the K x d means and W,
 * without a K x K matrix.
 *
 * Order of the sums. The classes are cut into tiles of `tile` classes; the
 * column strip J holds the tiles (I, J), I <= J (and, for the non-symmetric
 * W Mbar, the tiles (J, I) too). One thread computes a whole strip, tile by
 * tile in increasing I, into the strip's own accumulators; the strips are
 * then merged in increasing J. Nothing depends on which thread computed a
 * strip, so the results are the same for every thread count, and the
 * threads take strips as they come free, the longest first. A side task of
 * the caller's (the SVD of the means) runs on the first thread to start,
 * alongside the others' strips.
 *
 * Each tile is one DGEMM of the scaled centred means (and of W), its pair
 * values then handled in chunks of about NC_PAIRS_CHUNK entries (they stay
 * in L2). Sums of squares and of absolute values (the ETF distances, the
 * interference spread) are plain sums in eight chains per chunk, each chain
 * added to a compensated (Neumaier) total; sums of either sign are
 * compensated in every chain. The mean and variance of a set of pair values
 * (cosines, kernel energies, CDNV) are computed per chunk in two passes and
 * merged with Chan's update, which is exact for constant values (an exact
 * frame gives a spread of 0, not the rounding of a difference of sums).
 *
 * Distances from the Gram: ||u_j - u_k||^2 = 2 - 2 cos and ||m_j - m_k||^2
 * = ||m_j||^2 + ||m_k||^2 - 2 m_j.m_k lose relative precision when the two
 * vectors nearly coincide; below 1/100 of the sum of the squared norms the
 * distance is computed directly from the vectors instead.
 */
#include "metrics/metrics.h"
#include "common/simd.h"
#include "common/threads.h"
#include "kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

/* The per-pair loops are NC_CLONES functions (common/simd.h). */
typedef struct strip_acc {
    nc__sum etfM, etfW, etfWM, absM, absW;
    nc__moments cosM, cosW, logE, riesz, cdnv;
    int zero_u, zero_mu;
} strip_acc;

typedef struct pairs_job {
    const nc__pairs_in *in;
    const nc__kernels *kern; /* vlog, vrsqrt */
    nc__pool *pool;
    size_t nstrips, parts;
    size_t taken;      /* strips handed out (nc__pool_take) */
    size_t side_taken; /* whether a part has taken the side task */
    void (*side)(void *ctx);
    void *side_ctx;
    strip_acc *acc; /* nstrips */
    double *scratch; /* parts x 7 tile^2 */
} pairs_job;

void nc__moments_of(const double *x, size_t n, nc__moments *out)
{
    nc__sum s = {0.0, 0.0}, v = {0.0, 0.0};
    double mean;
    size_t i;
    out->n = (double)n;
    out->mean = 0.0;
    out->m2 = 0.0;
    if (n == 0) return;
    for (i = 0; i < n; i++) nc__sum_add(&s, x[i]);
    mean = nc__sum_value(&s) / (double)n;
    for (i = 0; i < n; i++) nc__sum_add(&v, (x[i] - mean) * (x[i] - mean));
    out->mean = mean;
    out->m2 = nc__sum_value(&v);
}

void nc__moments_merge(nc__moments *a, const nc__moments *b)
{
    double n, delta;
    if (b->n == 0.0) return;
    if (a->n == 0.0) {
        *a = *b;
        return;
    }
    n = a->n + b->n;
    delta = b->mean - a->mean;
    a->mean += delta * (b->n / n);
    a->m2 += b->m2 + delta * delta * (a->n * (b->n / n));
    a->n = n;
}

static void sum_merge(nc__sum *a, const nc__sum *b)
{
    nc__sum_add(a, b->s);
    nc__sum_add(a, b->c);
}

/* Eight compensated chains (s, c): x[i] is added to chain i % 8 with
 * nc__sum_add's operations. Eight independent chains keep the additions at
 * their throughput in every copy. With GCC or Clang the chains are two
 * 4-lane vectors held in registers (each lane the scalar operations: the
 * same bits); through arrays the compiler kept them in memory, and every
 * addition waited for a store. */
#if NC_VEC4
NC_FORCE_INLINE void sum8_core(double s[8], double c[8], const double *x, size_t n)
{
    nc__v4d s0, s1, c0, c1;
    size_t i, l;
    memcpy(&s0, s, sizeof s0);
    memcpy(&s1, s + 4, sizeof s1);
    memcpy(&c0, c, sizeof c0);
    memcpy(&c1, c + 4, sizeof c1);
    for (i = 0; i + 8 <= n; i += 8) {
        nc__v4d v0, v1, t0, t1, b0, b1;
        memcpy(&v0, x + i, sizeof v0);
        memcpy(&v1, x + i + 4, sizeof v1);
        t0 = s0 + v0;
        t1 = s1 + v1;
        b0 = t0 - s0;
        b1 = t1 - s1;
        c0 += (s0 - (t0 - b0)) + (v0 - b0);
        c1 += (s1 - (t1 - b1)) + (v1 - b1);
        s0 = t0;
        s1 = t1;
    }
    memcpy(s, &s0, sizeof s0);
    memcpy(s + 4, &s1, sizeof s1);
    memcpy(c, &c0, sizeof c0);
    memcpy(c + 4, &c1, sizeof c1);
    for (l = 0; i + l < n; l++) {
        const double v = x[i + l], t = s[l] + v, bp = t - s[l];
        c[l] += (s[l] - (t - bp)) + (v - bp);
        s[l] = t;
    }
}
#else
NC_FORCE_INLINE void sum8_core(double s[8], double c[8], const double *x, size_t n)
{
    size_t i, l;
    for (i = 0; i + 8 <= n; i += 8)
        for (l = 0; l < 8; l++) {
            const double v = x[i + l], t = s[l] + v, bp = t - s[l];
            c[l] += (s[l] - (t - bp)) + (v - bp);
            s[l] = t;
        }
    for (l = 0; i + l < n; l++) {
        const double v = x[i + l], t = s[l] + v, bp = t - s[l];
        c[l] += (s[l] - (t - bp)) + (v - bp);
        s[l] = t;
    }
}
#endif

/* Add the eight chains, times w (1 or 2: exact), to acc in order. */
NC_FORCE_INLINE void chains_into(nc__sum *acc, const double s[8], const double c[8], double w)
{
    int l;
    for (l = 0; l < 8; l++) {
        nc__sum_add(acc, w * s[l]);
        if (c != NULL) nc__sum_add(acc, w * c[l]);
    }
}

/* Add w times the sum of x[0..n) to acc: compensated chains, for values of
 * either sign (cancellation). */
static NC_CLONES void add_tile_sum(nc__sum *acc, const double *x, size_t n, double w)
{
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    double c[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    sum8_core(s, c, x, n);
    chains_into(acc, s, c, w);
}

/*
 * Sums of terms >= 0 need no compensation: a chain of m of them has a
 * relative error below (m - 1) u (u = 2^-53), and a chain here holds at most
 * NC_PAIRS_CHUNK / 8 = 256 terms when tiles have at most 2048 rows (2.8e-14;
 * a tile of more rows is one column per chunk, rows / 8 terms). So the
 * squares and absolute values below are plain sums in eight chains, each
 * chain then added to the compensated total.
 */

/* Add w times the sum of (x[i] - shift)^2 over x[0..n) to acc. */
static NC_CLONES void add_square_sum(nc__sum *acc, const double *x, size_t n, double shift,
                                           double w)
{
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    size_t i, l;
    for (i = 0; i + 8 <= n; i += 8)
        for (l = 0; l < 8; l++) s[l] += (x[i + l] - shift) * (x[i + l] - shift);
    for (l = 0; i + l < n; l++) s[l] += (x[i + l] - shift) * (x[i + l] - shift);
    chains_into(acc, s, NULL, w);
}

/* Add the sum of |x[i] + shift| over x[0..n) to acc. */
static NC_CLONES void add_abs_sum(nc__sum *acc, const double *x, size_t n, double shift)
{
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    size_t i, l;
    for (i = 0; i + 8 <= n; i += 8)
        for (l = 0; l < 8; l++) s[l] += fabs(x[i + l] + shift);
    for (l = 0; i + l < n; l++) s[l] += fabs(x[i + l] + shift);
    chains_into(acc, s, NULL, 1.0);
}

/* nc__moments_of for a chunk's pair values: the mean from a sum (plain
 * chains when every value is >= 0, as above, else compensated), then the
 * sum of squared deviations from it. */
static void chunk_moments(const double *x, size_t n, int nonneg, nc__moments *out)
{
    nc__sum t = {0.0, 0.0};
    double mean;
    out->n = (double)n;
    out->mean = 0.0;
    out->m2 = 0.0;
    if (n == 0) return;
    if (nonneg)
        add_abs_sum(&t, x, n, 0.0); /* |x| = x */
    else
        add_tile_sum(&t, x, n, 1.0);
    mean = nc__sum_value(&t) / (double)n;
    t.s = t.c = 0.0;
    add_square_sum(&t, x, n, mean, 1.0);
    out->mean = mean;
    out->m2 = nc__sum_value(&t);
}

/* Squared distance of the unit vectors of columns a and b (norms na, nb). */
static double unit_dist2(const double *a, const double *b, double na, double nb, size_t d)
{
    double s = 0.0;
    size_t t;
    for (t = 0; t < d; t++) {
        const double e = a[t] / na - b[t] / nb;
        s += e * e;
    }
    return s;
}

static double dist2_direct(const double *a, const double *b, size_t d)
{
    double s = 0.0;
    size_t t;
    for (t = 0; t < d; t++) {
        const double e = a[t] - b[t];
        s += e * e;
    }
    return s;
}

/* Gram tile C (ni x nj, ld ni) = A[:, i0..]^T B[:, j0..]. */
static void tile_gram(const double *A, const double *B, size_t d, size_t i0, size_t ni, size_t j0,
                      size_t nj, double *C)
{
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)ni, (int)nj, (int)d, 1.0,
                A + i0 * d, (int)d, B + j0 * d, (int)d, 0.0, C, (int)ni);
}

/* Add sum (C/gn - T)^2 over a tile, every entry with weight w (1 or 2),
 * the diagonal of T where the global row equals the global column; dev is
 * scratch for the tile's deviations. */
static NC_CLONES void etf_tile(const nc__pairs_in *in, const double *C, size_t i0,
                                     size_t ni, size_t j0, size_t nj, double gn, double w,
                                     nc__sum *acc, double *dev)
{
    size_t a, b;
    for (b = 0; b < nj; b++)
        for (a = 0; a < ni; a++)
            dev[a + b * ni] = C[a + b * ni] / gn - in->etf_off;
    for (b = 0; b < nj; b++)
        if (j0 + b >= i0 && j0 + b < i0 + ni)
            dev[(j0 + b - i0) + b * ni] = C[(j0 + b - i0) + b * ni] / gn - in->etf_diag;
    add_square_sum(acc, dev, ni * nj, 0.0, w);
}

/* The number of pairs j < k of tile (i0.., j0..): in column b, the first
 * na(b) rows. */
static size_t column_pairs(size_t i0, size_t ni, size_t k)
{
    return k <= i0 ? 0 : (k - i0 < ni ? k - i0 : ni);
}

/*
 * The values of the pairs j < k of a tile of the centred means, from their
 * Gram tile G, column by column: CDNV (V_j + V_k) / (2 ||m_j - m_k||^2)
 * into bd; with cols_ok, the cosines into bc, the log kernel
 * -log ||u_j - u_k|| into bl and the Riesz kernel 1 / ||u_j - u_k|| into br
 * (u the unit vectors). r2 is scratch for ||u_j - u_k||^2. A coincident
 * pair gives 0 and sets zero_mu (means) or zero_u (unit vectors). Returns
 * the number of pairs.
 */
static NC_CLONES size_t mean_pairs(const nc__pairs_in *in, const nc__kernels *kern,
                                          const double *G,
                                          size_t i0, size_t ni, size_t j0, size_t nj, double *bd,
                                          double *bc, double *bl, double *br, double *r2,
                                          strip_acc *acc)
{
    const size_t d = in->d;
    const double *nrm = in->nrmM + i0, *V = in->V + i0;
    size_t np = 0, b, a;
    /* Flags of 64 bits, the width of the doubles they test: int flags made
     * GCC pack every comparison mask into 32-bit lanes (the tiled pass at
     * d = 16, all per-pair work, 2-3% slower). */
    int64_t zero_mu = 0, zero_u = 0, tiny = 0;
    for (b = 0; b < nj; b++) {
        const size_t k = j0 + b, na = column_pairs(i0, ni, k);
        const double *g = G + b * ni;
        const double nk = in->nrmM[k], nk2 = nk * nk, Vk = in->V[k];
        double *od = bd + np, *oc = bc + np, *or2 = r2 + np;
        int64_t redo = 0, zc = 0;
        /* From the Gram: the distances and the CDNV (every value computed,
         * then selected: a conditional division would keep the loop from
         * vectorising, as it could trap), then the cosines. (One loop for
         * both GCC does not vectorise.) */
        for (a = 0; a < na; a++) {
            const double nj2 = nrm[a] * nrm[a], dist2 = nj2 + nk2 - 2.0 * g[a];
            const double q = (V[a] + Vk) / (2.0 * dist2);
            redo |= (int64_t)!(dist2 >= 0.01 * (nj2 + nk2));
            zc |= (int64_t)!(dist2 > 0.0);
            od[a] = dist2 > 0.0 ? q : 0.0;
        }
        if (in->cols_ok)
            for (a = 0; a < na; a++) {
                const double c = g[a] / (nrm[a] * nk), u2 = 2.0 - 2.0 * c;
                oc[a] = c;
                or2[a] = u2;
                redo |= (int64_t)!(u2 >= 0.02);
            }
        /* Where a distance from the Gram loses relative precision (see the
         * top of the file), the column again, those distances directly
         * from the vectors (rare). */
        if (redo) {
            zc = 0;
            for (a = 0; a < na; a++) {
                const double *mj = in->mbar + (i0 + a) * d, *mk = in->mbar + k * d;
                const double nj2 = nrm[a] * nrm[a], gd = nj2 + nk2 - 2.0 * g[a];
                const double dist2 = gd >= 0.01 * (nj2 + nk2) ? gd : dist2_direct(mj, mk, d);
                const double q = (V[a] + Vk) / (2.0 * dist2);
                zc |= (int64_t)!(dist2 > 0.0);
                od[a] = dist2 > 0.0 ? q : 0.0;
                if (in->cols_ok && !(or2[a] >= 0.02)) or2[a] = unit_dist2(mj, mk, nrm[a], nk, d);
            }
        }
        zero_mu |= zc;
        np += na;
    }
    if (in->cols_ok) {
        /* vlog needs positive normal values: 1 stands in for the others,
         * and a subnormal distance (rare) takes libm's log below. */
        for (a = 0; a < np; a++) {
            const double u2 = r2[a];
            zero_u |= (int64_t)!(u2 > 0.0);
            tiny |= (int64_t)((u2 > 0.0) & (u2 < DBL_MIN));
            bl[a] = u2 >= DBL_MIN ? u2 : 1.0;
            br[a] = u2;
        }
        kern->vrsqrt(br, np);
        kern->vlog(bl, np);
        if (tiny)
            for (a = 0; a < np; a++)
                if (r2[a] > 0.0 && r2[a] < DBL_MIN) bl[a] = log(r2[a]);
        for (a = 0; a < np; a++) {
            const double q = br[a], e = -0.5 * bl[a];
            br[a] = r2[a] > 0.0 ? q : 0.0;
            bl[a] = r2[a] > 0.0 ? e : 0.0;
        }
    }
    acc->zero_mu |= zero_mu != 0;
    acc->zero_u |= zero_u != 0;
    return np;
}

/* The cosines of the rows of W of the pairs j < k of a tile, from their
 * Gram tile G, into bw; returns their count. */
static NC_CLONES size_t w_cosines(const nc__pairs_in *in, const double *G, size_t i0,
                                         size_t ni, size_t j0, size_t nj, double *bw)
{
    const double *nrm = in->nrmW + i0;
    size_t np = 0, b, a;
    for (b = 0; b < nj; b++) {
        const size_t k = j0 + b, na = column_pairs(i0, ni, k);
        const double *g = G + b * ni, nk = in->nrmW[k];
        double *o = bw + np;
        for (a = 0; a < na; a++) o[a] = g[a] / (nrm[a] * nk);
        np += na;
    }
    return np;
}

/* The columns of a tile of `rows` rows handled at once by the per-pair
 * loops: about NC_PAIRS_CHUNK entries, so that a chunk's pair values (up to
 * six arrays) stay in L2 between the loops that make and sum them; a whole
 * 384 x 384 tile's would not (7 MB), and the loops would run at the speed
 * of L3. Fixed by the tile's shape only, so the thread count changes
 * nothing. */
#define NC_PAIRS_CHUNK 2048
static size_t chunk_columns(size_t rows)
{
    return rows >= NC_PAIRS_CHUNK ? 1 : NC_PAIRS_CHUNK / rows;
}

/* Add the ETF distance terms of tile C (ni x nj, rows from i0, columns
 * from j0) chunk by chunk. */
static void etf_chunks(const nc__pairs_in *in, const double *C, size_t i0, size_t ni, size_t j0,
                       size_t nj, double gn, double w, nc__sum *acc, double *dev)
{
    const size_t cb = chunk_columns(ni);
    size_t b0;
    for (b0 = 0; b0 < nj; b0 += cb) {
        const size_t nb = nj - b0 < cb ? nj - b0 : cb;
        etf_tile(in, C + b0 * ni, i0, ni, j0 + b0, nb, gn, w, acc, dev);
    }
}

/* Merge the moments of x[0..n) into m. */
static void add_moments(nc__moments *m, const double *x, size_t n, int nonneg)
{
    nc__moments mo;
    chunk_moments(x, n, nonneg, &mo);
    nc__moments_merge(m, &mo);
}

static void do_strip(const pairs_job *job, size_t TJ, double *scr)
{
    const nc__pairs_in *in = job->in;
    const size_t d = in->d, K = in->K, tile = in->tile;
    const size_t tt = tile * tile;
    double *Gm = scr, *Gw = scr + tt, *Gx = scr + 2 * tt;
    double *bc = scr + 3 * tt, *bl = scr + 4 * tt, *br = scr + 5 * tt, *bd = scr + 6 * tt;
    double *bw = Gx; /* cosines of W reuse the W Mbar tile once it is done */
    strip_acc *acc = &job->acc[TJ];
    const size_t j0 = TJ * tile, nj = K - j0 < tile ? K - j0 : tile;
    size_t TI;
    memset(acc, 0, sizeof *acc);
    for (TI = 0; TI <= TJ; TI++) {
        const size_t i0 = TI * tile, ni = K - i0 < tile ? K - i0 : tile;
        const size_t cb = chunk_columns(ni);
        const double w = TI == TJ ? 1.0 : 2.0;
        size_t b0;
        if (in->means_ok) {
            tile_gram(in->mbar, in->mbar, d, i0, ni, j0, nj, Gm);
            if (in->want_etf_means)
                etf_chunks(in, Gm, i0, ni, j0, nj, in->gnM, w, &acc->etfM, bd);
            for (b0 = 0; b0 < nj; b0 += cb) {
                const size_t nb = nj - b0 < cb ? nj - b0 : cb;
                const size_t np = mean_pairs(in, job->kern, Gm + b0 * ni, i0, ni, j0 + b0, nb, bd,
                                             bc, bl, br, Gx, acc);
                add_moments(&acc->cdnv, bd, np, 1); /* CDNV >= 0 */
                if (in->cols_ok) {
                    add_abs_sum(&acc->absM, bc, np, in->shift);
                    add_moments(&acc->cosM, bc, np, 0);
                    add_moments(&acc->logE, bl, np, 0);
                    add_moments(&acc->riesz, br, np, 1); /* 1 / r >= 0 */
                }
            }
        }
        if (in->Wp != NULL && in->w_ok) {
            if (in->want_etf_wm && in->means_ok) {
                tile_gram(in->Wp, in->mbar, d, i0, ni, j0, nj, Gx);
                etf_chunks(in, Gx, i0, ni, j0, nj, in->gnWM, 1.0, &acc->etfWM, bd);
                if (TI != TJ) {
                    tile_gram(in->Wp, in->mbar, d, j0, nj, i0, ni, Gx);
                    etf_chunks(in, Gx, j0, nj, i0, ni, in->gnWM, 1.0, &acc->etfWM, bd);
                }
            }
            tile_gram(in->Wp, in->Wp, d, i0, ni, j0, nj, Gw);
            if (in->want_etf_w) etf_chunks(in, Gw, i0, ni, j0, nj, in->gnW, w, &acc->etfW, bd);
            if (in->rows_ok)
                for (b0 = 0; b0 < nj; b0 += cb) {
                    const size_t nb = nj - b0 < cb ? nj - b0 : cb;
                    const size_t np = w_cosines(in, Gw + b0 * ni, i0, ni, j0 + b0, nb, bw);
                    add_abs_sum(&acc->absW, bw, np, in->shift);
                    add_moments(&acc->cosW, bw, np, 0);
                }
        }
    }
}

/* A part: the side task if it is the first to ask for it, then strips as
 * long as any are left, the longest (highest J) first. */
static void pairs_part(void *ctx, size_t part)
{
    pairs_job *job = (pairs_job *)ctx;
    const size_t tt = job->in->tile * job->in->tile;
    if (job->side != NULL && nc__pool_take(job->pool, &job->side_taken) == 0)
        job->side(job->side_ctx);
    if (part >= job->parts) return; /* more threads than strips */
    for (;;) {
        const size_t t = nc__pool_take(job->pool, &job->taken);
        if (t >= job->nstrips) break;
        do_strip(job, job->nstrips - 1 - t, job->scratch + part * 7 * tt);
    }
}

nc_status nc__pairs_run(const nc__pairs_in *in, nc__pool *pool, size_t threads,
                        void (*side)(void *ctx), void *side_ctx, nc__pairs_out *out)
{
    pairs_job job;
    strip_acc tot;
    size_t TJ, need;
    const size_t tt = in->tile * in->tile;
    memset(out, 0, sizeof *out);
    memset(&job, 0, sizeof job);
    job.in = in;
    job.side = side;
    job.side_ctx = side_ctx;
    job.kern = nc__kernels_get(nc__isa_detect());
    job.nstrips = (in->K + in->tile - 1) / in->tile;
    job.parts = threads >= 1 ? threads : 1;
    if (job.parts > job.nstrips) job.parts = job.nstrips;
    if (pool == NULL) job.parts = 1;
    job.pool = job.parts > 1 ? pool : NULL;
    job.acc = (strip_acc *)calloc(job.nstrips, sizeof(strip_acc));
    need = 0;
    if (nc__size_mad(&need, 7 * job.parts, tt) || need > SIZE_MAX / sizeof(double)) {
        free(job.acc);
        if (side != NULL) side(side_ctx);
        return NC_ERR_OUT_OF_MEMORY;
    }
    job.scratch = (double *)malloc(need * sizeof(double));
    if (job.acc == NULL || job.scratch == NULL) {
        free(job.acc);
        free(job.scratch);
        if (side != NULL) side(side_ctx); /* it runs whatever happens here */
        return NC_ERR_OUT_OF_MEMORY;
    }
    if (job.parts > 1)
        nc__pool_run(pool, pairs_part, &job);
    else
        pairs_part(&job, 0);
    memset(&tot, 0, sizeof tot);
    for (TJ = 0; TJ < job.nstrips; TJ++) {
        const strip_acc *a = &job.acc[TJ];
        sum_merge(&tot.etfM, &a->etfM);
        sum_merge(&tot.etfW, &a->etfW);
        sum_merge(&tot.etfWM, &a->etfWM);
        sum_merge(&tot.absM, &a->absM);
        sum_merge(&tot.absW, &a->absW);
        nc__moments_merge(&tot.cosM, &a->cosM);
        nc__moments_merge(&tot.cosW, &a->cosW);
        nc__moments_merge(&tot.logE, &a->logE);
        nc__moments_merge(&tot.riesz, &a->riesz);
        nc__moments_merge(&tot.cdnv, &a->cdnv);
        tot.zero_u |= a->zero_u;
        tot.zero_mu |= a->zero_mu;
    }
    out->etf_means = sqrt(nc__sum_value(&tot.etfM));
    out->etf_w = sqrt(nc__sum_value(&tot.etfW));
    out->etf_wm = sqrt(nc__sum_value(&tot.etfWM));
    out->abs_means = nc__sum_value(&tot.absM);
    out->abs_w = nc__sum_value(&tot.absW);
    out->cos_means = tot.cosM;
    out->cos_w = tot.cosW;
    out->log_energy = tot.logE;
    out->riesz = tot.riesz;
    out->cdnv = tot.cdnv;
    out->zero_u = tot.zero_u;
    out->zero_mu = tot.zero_mu;
    free(job.acc);
    free(job.scratch);
    return NC_SUCCESS;
}

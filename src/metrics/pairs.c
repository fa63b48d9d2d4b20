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
 * strip, so the results are the same for every thread count.
 *
 * Each tile is one DGEMM of the scaled centred means (and of W). Sums of
 * squares (the ETF distances) are compensated (Neumaier) sums; the mean and
 * variance of a set of pair values (cosines, kernel energies, CDNV) are
 * computed per tile in two passes and merged with Chan's update, which is
 * exact for constant values (an exact frame gives a spread of 0, not the
 * rounding of a difference of sums).
 *
 * Distances from the Gram: ||u_j - u_k||^2 = 2 - 2 cos and ||m_j - m_k||^2
 * = ||m_j||^2 + ||m_k||^2 - 2 m_j.m_k lose relative precision when the two
 * vectors nearly coincide; below 1/100 of the sum of the squared norms the
 * distance is computed directly from the vectors instead.
 */
#include "metrics/metrics.h"
#include "common/threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

typedef struct strip_acc {
    nc__sum etfM, etfW, etfWM, absM, absW;
    nc__moments cosM, cosW, logE, riesz, cdnv;
    int zero_u, zero_mu;
} strip_acc;

typedef struct pairs_job {
    const nc__pairs_in *in;
    size_t nstrips, parts;
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

/* Add w times the sum of x[0..n) (of their squares with square) to acc:
 * the tile's values in the four independent compensated chains of sum.h,
 * at the rate of the additions rather than their latency, then each
 * chain's sum and error term into acc. w is 1 or 2: scaling by 2 is exact. */
static void add_tile_sum(nc__sum *acc, const double *x, size_t n, int square, double w)
{
    nc__sum ch[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    int k;
    nc__sum4_core(ch, x, n, square);
    for (k = 0; k < 4; k++) {
        nc__sum_add(acc, w * ch[k].s);
        nc__sum_add(acc, w * ch[k].c);
    }
}

/* nc__moments_of for a tile's pair values, x overwritten by the
 * deviations from the mean: both sums in four compensated chains. */
static void tile_moments(double *x, size_t n, nc__moments *out)
{
    nc__sum ch[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    double mean;
    size_t i;
    out->n = (double)n;
    out->mean = 0.0;
    out->m2 = 0.0;
    if (n == 0) return;
    nc__sum4_core(ch, x, n, 0);
    mean = nc__sum4_value(ch) / (double)n;
    for (i = 0; i < n; i++) x[i] -= mean;
    memset(ch, 0, sizeof ch);
    nc__sum4_core(ch, x, n, 1);
    out->mean = mean;
    out->m2 = nc__sum4_value(ch);
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
static void etf_tile(const nc__pairs_in *in, const double *C, size_t i0, size_t ni, size_t j0,
                     size_t nj, double gn, double w, nc__sum *acc, double *dev)
{
    size_t a, b;
    for (b = 0; b < nj; b++)
        for (a = 0; a < ni; a++)
            dev[a + b * ni] = C[a + b * ni] / gn - in->etf_off;
    for (b = 0; b < nj; b++)
        if (j0 + b >= i0 && j0 + b < i0 + ni)
            dev[(j0 + b - i0) + b * ni] = C[(j0 + b - i0) + b * ni] / gn - in->etf_diag;
    add_tile_sum(acc, dev, ni * nj, 1, w);
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
        const double w = TI == TJ ? 1.0 : 2.0;
        size_t a, b;
        if (in->means_ok) {
            size_t np = 0;
            nc__moments mo;
            tile_gram(in->mbar, in->mbar, d, i0, ni, j0, nj, Gm);
            if (in->want_etf_means) etf_tile(in, Gm, i0, ni, j0, nj, in->gnM, w, &acc->etfM, bd);
            for (b = 0; b < nj; b++) {
                const size_t k = j0 + b;
                for (a = 0; a < ni && i0 + a < k; a++) {
                    const size_t j = i0 + a;
                    const double g = Gm[a + b * ni];
                    const double nj2 = in->nrmM[j] * in->nrmM[j], nk2 = in->nrmM[k] * in->nrmM[k];
                    double dist2 = nj2 + nk2 - 2.0 * g;
                    if (!(dist2 >= 0.01 * (nj2 + nk2)))
                        dist2 = dist2_direct(in->mbar + j * d, in->mbar + k * d, d);
                    if (!(dist2 > 0.0)) {
                        acc->zero_mu = 1;
                        bd[np] = 0.0;
                    } else {
                        bd[np] = (in->V[j] + in->V[k]) / (2.0 * dist2);
                    }
                    if (in->cols_ok) {
                        const double c = g / (in->nrmM[j] * in->nrmM[k]);
                        double r2 = 2.0 - 2.0 * c;
                        bc[np] = c;
                        if (!(r2 >= 0.02))
                            r2 = unit_dist2(in->mbar + j * d, in->mbar + k * d, in->nrmM[j],
                                            in->nrmM[k], d);
                        if (!(r2 > 0.0)) {
                            acc->zero_u = 1;
                            bl[np] = br[np] = 0.0;
                        } else {
                            bl[np] = -0.5 * log(r2);
                            br[np] = 1.0 / sqrt(r2);
                        }
                    }
                    np++;
                }
            }
            tile_moments(bd, np, &mo);
            nc__moments_merge(&acc->cdnv, &mo);
            if (in->cols_ok) {
                size_t p;
                for (p = 0; p < np; p++) bd[p] = fabs(bc[p] + in->shift);
                add_tile_sum(&acc->absM, bd, np, 0, 1.0);
                tile_moments(bc, np, &mo);
                nc__moments_merge(&acc->cosM, &mo);
                tile_moments(bl, np, &mo);
                nc__moments_merge(&acc->logE, &mo);
                tile_moments(br, np, &mo);
                nc__moments_merge(&acc->riesz, &mo);
            }
        }
        if (in->Wp != NULL && in->w_ok) {
            if (in->want_etf_wm && in->means_ok) {
                tile_gram(in->Wp, in->mbar, d, i0, ni, j0, nj, Gx);
                etf_tile(in, Gx, i0, ni, j0, nj, in->gnWM, 1.0, &acc->etfWM, bd);
                if (TI != TJ) {
                    tile_gram(in->Wp, in->mbar, d, j0, nj, i0, ni, Gx);
                    etf_tile(in, Gx, j0, nj, i0, ni, in->gnWM, 1.0, &acc->etfWM, bd);
                }
            }
            tile_gram(in->Wp, in->Wp, d, i0, ni, j0, nj, Gw);
            if (in->want_etf_w) etf_tile(in, Gw, i0, ni, j0, nj, in->gnW, w, &acc->etfW, bd);
            if (in->rows_ok) {
                size_t np = 0;
                nc__moments mo;
                for (b = 0; b < nj; b++) {
                    const size_t k = j0 + b;
                    for (a = 0; a < ni && i0 + a < k; a++) {
                        const size_t j = i0 + a;
                        const double c = Gw[a + b * ni] / (in->nrmW[j] * in->nrmW[k]);
                        bw[np++] = c;
                    }
                }
                for (a = 0; a < np; a++) bd[a] = fabs(bw[a] + in->shift);
                add_tile_sum(&acc->absW, bd, np, 0, 1.0);
                tile_moments(bw, np, &mo);
                nc__moments_merge(&acc->cosW, &mo);
            }
        }
    }
}

static void pairs_part(void *ctx, size_t part)
{
    const pairs_job *job = (const pairs_job *)ctx;
    const size_t tt = job->in->tile * job->in->tile;
    double *scr = job->scratch + part * 7 * tt;
    size_t TJ;
    for (TJ = part; TJ < job->nstrips; TJ += job->parts) do_strip(job, TJ, scr);
}

nc_status nc__pairs_run(const nc__pairs_in *in, nc__pool *pool, size_t threads,
                        nc__pairs_out *out)
{
    pairs_job job;
    strip_acc tot;
    size_t TJ, need;
    const size_t tt = in->tile * in->tile;
    memset(out, 0, sizeof *out);
    job.in = in;
    job.nstrips = (in->K + in->tile - 1) / in->tile;
    job.parts = threads >= 1 ? threads : 1;
    if (job.parts > job.nstrips) job.parts = job.nstrips;
    if (pool == NULL) job.parts = 1;
    job.acc = (strip_acc *)calloc(job.nstrips, sizeof(strip_acc));
    need = 0;
    if (nc__size_mad(&need, 7 * job.parts, tt) || need > SIZE_MAX / sizeof(double)) {
        free(job.acc);
        return NC_ERR_OUT_OF_MEMORY;
    }
    job.scratch = (double *)malloc(need * sizeof(double));
    if (job.acc == NULL || job.scratch == NULL) {
        free(job.acc);
        free(job.scratch);
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

/*
 * syrk_plan.c - the upper triangle of an n x n product A A^T as a list of
 * BLAS calls, shared by the two places that compute one on several threads:
 * the d x d Grams of the ETF distances' norms (metrics.c) and pass 2's
 * scatter (stream.c).
 *
 * The triangle is cut into square blocks of side T (nc__syrk_side: n in the
 * fewest blocks of at most the caller's cap, the last one possibly
 * narrower).
 * DSYRK runs at about 75% of DGEMM's rate (OpenBLAS 0.3.21, Zen 2, 384 x
 * 2048: 17.3 against 22.8 G multiply-adds/s), so each diagonal block is two
 * DSYRKs of about half its side and the DGEMM between them: about half of
 * the diagonal's multiply-adds at the faster rate. Each off-diagonal block
 * is two DGEMMs of about half its columns (whole 384 x 384 calls left one
 * of two threads waiting on the other's DSYRKs).
 *
 * The calls are numbered about largest first, which balances threads that
 * take them in turn (nc__pool_take): the off-diagonal blocks
 * (column by column, rows increasing), the diagonal blocks' DGEMMs, then
 * their DSYRKs. The list depends on n and T alone, so every entry comes
 * from the same BLAS call whatever the number of threads, and the calls
 * cover each entry of the upper triangle exactly once
 * (tests/test_metrics_largek.c checks both against a direct enumeration).
 * Blocks rather than narrow strips: each call repacks its operands, and
 * 64-column strips spent a third of the multiply-adds' time doing so.
 */
#include "metrics/metrics.h"

#include <math.h>

#include <cblas.h>

size_t nc__syrk_side(size_t n, size_t cap)
{
    /* n in the fewest blocks of at most cap, of the side
     * ceil(n / blocks) rounded up to a multiple of 8 (n = 1000, cap 384: 336 +
     * 336 + 328, not 384 + 384 + 232), so that the blocks share out evenly; the
     * rounding leaves the last block smaller by up to 8 per block
     * (n = 20000, cap 384: 52 x 384 + 32). */
    const size_t nt = n > 0 ? (n + cap - 1) / cap : 1;
    return ((n + nt - 1) / nt + 7) / 8 * 8;
}

/* The first rows of a diagonal block of side m taken apart from the rest
 * (about half, a multiple of 8), or 0: a block of fewer than 16 stays one
 * DSYRK. The same cut splits the columns of an off-diagonal block. */
static size_t half_of(size_t m)
{
    return m >= 16 ? (m / 2 + 7) / 8 * 8 : 0;
}

/* The sizes that fix the list: nt blocks per side, all of side T but the
 * last (side L); s = the calls of a full block's half cut (1 or 2), sl the
 * same for the last block. */
typedef struct plan {
    size_t n, T, nt, L, hT, hL, s, sl;
    size_t a1, a2, b1, b2, c1; /* calls in each group, in list order */
} plan;

static plan plan_of(size_t n, size_t T)
{
    plan p;
    p.n = n;
    p.T = T;
    p.nt = n > 0 ? (n + T - 1) / T : 0;
    p.L = p.nt > 0 ? n - (p.nt - 1) * T : 0;
    p.hT = half_of(T);
    p.hL = half_of(p.L);
    p.s = p.hT > 0 ? 2 : 1;
    p.sl = p.hL > 0 ? 2 : 1;
    /* off-diagonal blocks of the full columns 1 .. nt-2, then of the last */
    p.a1 = p.nt >= 2 ? p.s * ((p.nt - 1) * (p.nt - 2) / 2) : 0;
    p.a2 = p.nt >= 2 ? p.sl * (p.nt - 1) : 0;
    /* the diagonal DGEMMs of the full blocks, then of the last */
    p.b1 = p.nt >= 1 && p.hT > 0 ? p.nt - 1 : 0;
    p.b2 = p.nt >= 1 && p.hL > 0 ? 1 : 0;
    /* the diagonal DSYRKs of the full blocks (the last block's follow) */
    p.c1 = p.nt >= 1 ? p.s * (p.nt - 1) : 0;
    return p;
}

size_t nc__syrk_calls(size_t n, size_t T)
{
    const plan p = plan_of(n, T);
    return p.nt == 0 ? 0 : p.a1 + p.a2 + p.b1 + p.b2 + p.c1 + p.sl;
}

static nc__syrk_call call(size_t r0, size_t nr, size_t c0, size_t nc)
{
    nc__syrk_call c;
    c.r0 = r0;
    c.nr = nr;
    c.c0 = c0;
    c.nc = nc;
    return c;
}

/* Call `half` (0 or 1 of s) of the off-diagonal block (BI, BJ), the column
 * block of side m with half cut h. */
static nc__syrk_call offdiag(const plan *p, size_t BI, size_t BJ, size_t m, size_t h, size_t half)
{
    const size_t j0 = BJ * p->T;
    if (h == 0) return call(BI * p->T, p->T, j0, m);
    return half == 0 ? call(BI * p->T, p->T, j0, h) : call(BI * p->T, p->T, j0 + h, m - h);
}

/* Call `half` of the DSYRKs of diagonal block B of side m, half cut h. */
static nc__syrk_call diag(const plan *p, size_t B, size_t m, size_t h, size_t half)
{
    const size_t i0 = B * p->T;
    if (h == 0) return call(i0, m, i0, m);
    return half == 0 ? call(i0, h, i0, h) : call(i0 + h, m - h, i0 + h, m - h);
}

nc__syrk_call nc__syrk_call_at(size_t n, size_t T, size_t i)
{
    const plan p = plan_of(n, T);
    if (i < p.a1) {
        /* block b of columns 1 .. nt-2: column BJ holds blocks
         * BJ (BJ - 1) / 2 .. BJ (BJ + 1) / 2 - 1 */
        const size_t b = i / p.s;
        size_t BJ = (size_t)((1.0 + sqrt(1.0 + 8.0 * (double)b)) / 2.0);
        while (BJ > 1 && BJ * (BJ - 1) / 2 > b) BJ--;
        while ((BJ + 1) * BJ / 2 <= b) BJ++;
        return offdiag(&p, b - BJ * (BJ - 1) / 2, BJ, p.T, p.hT, i % p.s);
    }
    i -= p.a1;
    if (i < p.a2) return offdiag(&p, i / p.sl, p.nt - 1, p.L, p.hL, i % p.sl);
    i -= p.a2;
    if (i < p.b1) return call(i * p.T, p.hT, i * p.T + p.hT, p.T - p.hT);
    i -= p.b1;
    if (i < p.b2) return call((p.nt - 1) * p.T, p.hL, (p.nt - 1) * p.T + p.hL, p.L - p.hL);
    i -= p.b2;
    if (i < p.c1) return diag(&p, i / p.s, p.T, p.hT, i % p.s);
    i -= p.c1;
    return diag(&p, p.nt - 1, p.L, p.hL, i);
}

void nc__syrk_call_run(nc__syrk_call c, size_t k, const double *A, size_t lda, const double *B,
                       size_t ldb, double *C, size_t ldc)
{
    if (c.r0 == c.c0)
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)c.nr, (int)k, 1.0, A, (int)lda,
                    0.0, C, (int)ldc);
    else
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)c.nr, (int)c.nc, (int)k, 1.0, A,
                    (int)lda, B, (int)ldb, 0.0, C, (int)ldc);
}

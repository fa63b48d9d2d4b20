/*
 * common/sum.h - compensated sums: one accumulator (TwoSum), and four
 * independent chains for long sums (two SSE2 vectors where SSE2 exists,
 * with the same bits as the scalar chains). Header-only: the kernels and the
 * pass inline them.
 */
#ifndef NC_SUM_H
#define NC_SUM_H

#include "common/common.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Compensated (Neumaier) accumulator: exact-sum quality for long sums. */
typedef struct nc__sum {
    double s, c;
} nc__sum;
/* always_inline: also into functions compiled with other optimisation
 * attributes (GCC does not inline a plain inline function there). */
#if defined(__GNUC__)
#define NC_SUM_INLINE static inline __attribute__((always_inline))
#else
#define NC_SUM_INLINE static inline
#endif
NC_SUM_INLINE void nc__sum_add(nc__sum *acc, double x)
{
    /* The rounding error of s + x by Knuth's TwoSum: the exact error, as
     * the ordered Fast2Sum (Neumaier) gives it, so the same bits whenever
     * s + x is finite (on overflow c becomes NaN instead of -inf; s + c is
     * NaN either way), but with no comparison: the branches cost the four
     * chains of nc__sum4_add_n 10% of a (4, 8, 400) step. */
    const double s = acc->s, t = s + x, bp = t - s;
    acc->c += (s - (t - bp)) + (x - bp);
    acc->s = t;
}
static inline double nc__sum_value(const nc__sum *acc) { return acc->s + acc->c; }

/* The sum of x[0..n) (of x[i]^2 with square) added to four compensated sums
 * in turn (x[i] to acc[i % 4]): the four chains of additions are
 * independent, so a block's values are summed at the rate of the additions
 * rather than their latency. Split a long sum into calls of multiples of
 * four values to keep the assignment; nc__sum4_value merges the four in a
 * fixed order. With SSE2 the four chains are two vectors of two lanes, each
 * lane the operations of nc__sum_add: the same bits as the scalar loop. */
#if defined(__SSE2__)
/* nc__sum_add on two sums at once, one per lane. */
static inline void nc__sum2_add_sse2(__m128d *s, __m128d *c, __m128d x)
{
    const __m128d t = _mm_add_pd(*s, x), bp = _mm_sub_pd(t, *s);
    *c = _mm_add_pd(*c, _mm_add_pd(_mm_sub_pd(*s, _mm_sub_pd(t, bp)), _mm_sub_pd(x, bp)));
    *s = t;
}
#endif
static inline void nc__sum4_core(nc__sum acc[4], const double *x, size_t n, const int square)
{
    /* in locals: through acc, every addition would wait for the store of
     * the previous one (acc may alias x, as far as the compiler knows) */
    nc__sum a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    size_t i = 0;
#if defined(__SSE2__)
    if (n >= 4) {
        __m128d s01 = _mm_set_pd(a1.s, a0.s), s23 = _mm_set_pd(a3.s, a2.s);
        __m128d c01 = _mm_set_pd(a1.c, a0.c), c23 = _mm_set_pd(a3.c, a2.c);
        double sv[4], cv[4];
        for (; i + 4 <= n; i += 4) {
            __m128d x01 = _mm_loadu_pd(x + i), x23 = _mm_loadu_pd(x + i + 2);
            if (square) {
                x01 = _mm_mul_pd(x01, x01);
                x23 = _mm_mul_pd(x23, x23);
            }
            nc__sum2_add_sse2(&s01, &c01, x01);
            nc__sum2_add_sse2(&s23, &c23, x23);
        }
        _mm_storeu_pd(sv, s01);
        _mm_storeu_pd(sv + 2, s23);
        _mm_storeu_pd(cv, c01);
        _mm_storeu_pd(cv + 2, c23);
        a0.s = sv[0], a1.s = sv[1], a2.s = sv[2], a3.s = sv[3];
        a0.c = cv[0], a1.c = cv[1], a2.c = cv[2], a3.c = cv[3];
    }
#endif
    for (; i + 4 <= n; i += 4) {
        nc__sum_add(&a0, square ? x[i] * x[i] : x[i]);
        nc__sum_add(&a1, square ? x[i + 1] * x[i + 1] : x[i + 1]);
        nc__sum_add(&a2, square ? x[i + 2] * x[i + 2] : x[i + 2]);
        nc__sum_add(&a3, square ? x[i + 3] * x[i + 3] : x[i + 3]);
    }
    if (i < n) nc__sum_add(&a0, square ? x[i] * x[i] : x[i]);
    if (i + 1 < n) nc__sum_add(&a1, square ? x[i + 1] * x[i + 1] : x[i + 1]);
    if (i + 2 < n) nc__sum_add(&a2, square ? x[i + 2] * x[i + 2] : x[i + 2]);
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
static inline void nc__sum4_add_n(nc__sum acc[4], const double *x, size_t n)
{
    nc__sum4_core(acc, x, n, 0);
}
static inline double nc__sum4_value(const nc__sum acc[4])
{
    nc__sum t = acc[0];
    int j;
    for (j = 1; j < 4; j++) {
        nc__sum_add(&t, acc[j].s);
        nc__sum_add(&t, acc[j].c);
    }
    return nc__sum_value(&t);
}

#endif /* NC_SUM_H */

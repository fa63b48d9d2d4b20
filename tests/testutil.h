/*
 * testutil.h - helpers shared by the unit tests, beside the checks of
 * harness.h: deterministic random numbers, the relative difference of two
 * arrays and an allocation that cannot fail. Header-only; file helpers are
 * in files.h.
 */
#ifndef NC_TEST_UTIL_H
#define NC_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- uniform random numbers ----------------------------------------------
 * A 64-bit linear congruential generator (Knuth's MMIX constants),
 * independent of the library's RNG: the top 53 bits of the state scaled to
 * [-1, 1). A program that uses it defines NC_TEST_LCG_SEED, its first state,
 * before including this header; each program has its own sequence. */
#ifdef NC_TEST_LCG_SEED
static unsigned long long lcg_state = NC_TEST_LCG_SEED;

static inline double urand(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
}

/* x[i] = scale * urand(), i = 0 .. n-1, in order. */
static inline void fill(double *x, size_t n, double scale)
{
    size_t i;
    for (i = 0; i < n; i++) x[i] = scale * urand();
}
#endif

/* ||A - B|| / ||B|| over n entries (2-norm; the absolute ||A - B|| when B is
 * zero). */
static inline double rel_fro(const double *A, const double *B, size_t n)
{
    double e = 0, b = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        e += (A[i] - B[i]) * (A[i] - B[i]);
        b += B[i] * B[i];
    }
    return b > 0 ? sqrt(e / b) : sqrt(e);
}

/* malloc that ends the program (exit code 2) when memory runs out; n = 0
 * gives a valid, distinct pointer. */
static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%lu bytes)\n", (unsigned long)n);
        exit(2);
    }
    return p;
}

#endif

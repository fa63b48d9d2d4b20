/*
 * test_kernels_vmath.c - the vectorised exp and log1p of the losses and
 * the log of the pair metrics (vmath_tmpl.h).
 *
 * Accuracy: the error of every result against a long-double reference
 * (expl, log1pl, logl) must be below 1 ulp of the reference (fdlibm's bound),
 * over uniform and log-uniform inputs across the whole domain, the
 * range-reduction boundaries, subnormal results and the special points.
 * Where long double has no extended precision at run time (valgrind emulates
 * x87 in double), the reference is libm's exp/log1p, itself within 1 ulp
 * (glibc's documented bound), and the bound on the difference is 2 ulp. Identity: every instruction set this CPU has gives the same
 * bits as the portable copy, for every array length (the tails included).
 *
 * The compensated sum (nc__sum_add, Knuth's TwoSum without branches) must
 * give the bits of Neumaier's ordered Fast2Sum, the form it replaced: both
 * add the exact rounding error of s + x to c.
 *
 * White box: includes the private header for the kernel tables.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ncollapse.h"
#include "kernels/kernels.h"
#include "common/sum.h"

#define LN2 0.69314718055994530942
#define SQRT2 1.41421356237309504880

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1p-53;
}

static int extended_precision(void)
{
    volatile long double one = 1.0L, eps = LDBL_EPSILON;
    return LDBL_MANT_DIG > DBL_MANT_DIG && one + eps != one;
}

/* |got - ref| in units of the last place of ref (as a double). */
static double ulp_error(double got, long double ref)
{
    const long double aref = fabsl(ref);
    long double ulp;
    if (aref < (long double)DBL_MIN)
        ulp = 0x1p-1074L;
    else
        ulp = ldexpl(1.0L, ilogbl(aref) - 52);
    return (double)(fabsl((long double)got - ref) / ulp);
}

enum { NX = 200000 };

typedef struct errstat {
    double worst;
    double at;
} errstat;

static void track(errstat *e, double err, double x)
{
    if (err > e->worst) {
        e->worst = err;
        e->at = x;
    }
}

static void check_accuracy(const nc__kernels *kern, int ext)
{
    const double bound = ext ? 1.0 : 2.0;
    double *x = malloc(NX * sizeof *x), *y = malloc(NX * sizeof *y);
    errstat ee = {0, 0}, el = {0, 0}, eg = {0, 0};
    char msg[200];
    size_t i;
    if (!x || !y) {
        nc_test_true(0, "allocation");
        free(x);
        free(y);
        return;
    }
    /* exp: uniform on [-746, 0], log-uniform magnitudes 1e-300..700, points
     * next to multiples of ln(2)/2 (where the reduction switches k), and the
     * subnormal range. */
    for (i = 0; i < NX; i++) {
        const int kind = (int)(i % 4);
        if (kind == 0)
            x[i] = -746.0 * uniform01();
        else if (kind == 1)
            x[i] = -exp(log(1e-300) + (log(700.0) - log(1e-300)) * uniform01());
        else if (kind == 2)
            x[i] = nextafter(-0.5 * LN2 * floor(2000.0 * uniform01()), (i & 4) ? 0.0 : -1e9);
        else
            x[i] = -708.0 - 37.5 * uniform01();
    }
    memcpy(y, x, NX * sizeof *x);
    kern->vexp(y, NX);
    for (i = 0; i < NX; i++)
        track(&ee, ext ? ulp_error(y[i], expl((long double)x[i])) : ulp_error(y[i], exp(x[i])), x[i]);
    snprintf(msg, sizeof msg, "vexp: worst error %.3f ulp at x = %.17g", ee.worst, ee.at);
    nc_test_true(ee.worst < bound, msg);

    /* log1p: uniform on [0, 20] (the losses' r is in [0, K - 1]), log-uniform
     * 1e-300..1e300, and points next to sqrt(2) - 1 and powers of two. */
    for (i = 0; i < NX; i++) {
        const int kind = (int)(i % 4);
        if (kind == 0)
            x[i] = 20.0 * uniform01();
        else if (kind == 1)
            x[i] = exp(log(1e-300) + (log(1e300) - log(1e-300)) * uniform01());
        else if (kind == 2)
            x[i] = nextafter(SQRT2 - 1.0, (i & 4) ? 0.0 : 1.0) + 1e-15 * (uniform01() - 0.5);
        else
            x[i] = ldexp(1.0 + 1e-12 * (uniform01() - 0.5), (int)(120.0 * uniform01()) - 60);
    }
    memcpy(y, x, NX * sizeof *x);
    kern->vlog1p(y, NX);
    for (i = 0; i < NX; i++)
        track(&el, ext ? ulp_error(y[i], log1pl((long double)x[i])) : ulp_error(y[i], log1p(x[i])),
              x[i]);
    snprintf(msg, sizeof msg, "vlog1p: worst error %.3f ulp at x = %.17g", el.worst, el.at);
    nc_test_true(el.worst < bound, msg);

    /* log: log-uniform over the whole normal range, uniform on (0, 4] (the
     * pair metrics' squared distances of unit vectors), points next to
     * sqrt(2)/2, 1 and powers of two (the range reduction's switches). */
    for (i = 0; i < NX; i++) {
        const int kind = (int)(i % 4);
        if (kind == 0)
            x[i] = exp(log(DBL_MIN) + (log(DBL_MAX) - log(DBL_MIN)) * uniform01());
        else if (kind == 1)
            x[i] = 4.0 * uniform01() + DBL_MIN;
        else if (kind == 2)
            x[i] = ldexp(nextafter(0.5 * SQRT2, (i & 4) ? 0.0 : 1.0), (int)(40.0 * uniform01()) - 20);
        else
            x[i] = ldexp(1.0 + 1e-12 * (uniform01() - 0.5), (int)(2000.0 * uniform01()) - 1000);
    }
    memcpy(y, x, NX * sizeof *x);
    kern->vlog(y, NX);
    for (i = 0; i < NX; i++)
        track(&eg, ext ? ulp_error(y[i], logl((long double)x[i])) : ulp_error(y[i], log(x[i])),
              x[i]);
    snprintf(msg, sizeof msg, "vlog: worst error %.3f ulp at x = %.17g", eg.worst, eg.at);
    nc_test_true(eg.worst < bound, msg);
    printf("test_kernels_vmath: worst error against %s: exp %.3f ulp, log1p %.3f ulp, log %.3f "
           "ulp\n", ext ? "long double" : "libm", ee.worst, el.worst, eg.worst);
    free(x);
    free(y);
}

static void check_special(const nc__kernels *kern)
{
    double e[8] = {0.0, -0.0, -746.0, -1e308, -INFINITY, -745.2, 1.0, 350.0};
    double l[6] = {0.0, 1e-320, 0x1p-60, 1.0, 1e300, 3.0};
    double nan_in[2] = {NAN, NAN};
    kern->vexp(e, 8);
    nc_test_true(e[0] == 1.0 && e[1] == 1.0, "exp(0) = 1 exactly");
    nc_test_true(e[2] == 0.0 && e[3] == 0.0 && e[4] == 0.0 && e[5] == 0.0,
                 "exp underflows to +0 below -745.14 and at -inf");
    nc_test_rel(e[6], exp(1.0), 2.3e-16, "exp(1)");
    nc_test_rel(e[7], exp(350.0), 2.3e-16, "exp(350), the top of the domain");
    kern->vlog1p(l, 6);
    nc_test_true(l[0] == 0.0, "log1p(0) = 0 exactly");
    nc_test_true(l[1] == 1e-320, "log1p of a subnormal is itself");
    nc_test_true(l[2] == 0x1p-60, "log1p(2^-60) rounds to 2^-60");
    nc_test_rel(l[3], LN2, 1.2e-16, "log1p(1) = ln 2");
    nc_test_rel(l[4], log1p(1e300), 2.3e-16, "log1p(1e300)");
    nc_test_rel(l[5], 2.0 * LN2, 2.3e-16, "log1p(3) = 2 ln 2");
    {
        double g[5] = {1.0, 2.0, DBL_MIN, DBL_MAX, 0.5};
        kern->vlog(g, 5);
        nc_test_true(g[0] == 0.0, "log(1) = 0 exactly");
        nc_test_rel(g[1], LN2, 1.2e-16, "log(2) = ln 2");
        nc_test_rel(g[2], -1022.0 * LN2, 1.2e-16, "log of the smallest normal");
        nc_test_rel(g[3], log(DBL_MAX), 1.2e-16, "log of the largest double");
        nc_test_rel(g[4], -LN2, 1.2e-16, "log(1/2) = -ln 2");
    }
    kern->vexp(nan_in, 1);
    kern->vlog1p(nan_in + 1, 1);
    nc_test_true(isnan(nan_in[0]) && isnan(nan_in[1]), "NaN propagates");
}

/* Every instruction set against the portable copy, bit for bit, on arrays of
 * every length up to 19 (the tails) and a long one. */
static void check_identity(const nc__kernels *ref, const nc__kernels *kern, const char *name)
{
    enum { N = 4099 };
    static double x[N], a[N], b[N];
    size_t n, i;
    int same_exp = 1, same_log = 1, same_ln = 1, same_rs = 1;
    char msg[160];
    for (i = 0; i < N; i++) x[i] = -40.0 * uniform01();
    for (n = 0; n <= N; n = n < 19 ? n + 1 : N + (n == N)) {
        memcpy(a, x, n * sizeof *x);
        memcpy(b, x, n * sizeof *x);
        ref->vexp(a, n);
        kern->vexp(b, n);
        same_exp &= memcmp(a, b, n * sizeof *a) == 0;
        for (i = 0; i < n; i++) a[i] = b[i] = -x[i] * 0.25;
        ref->vlog1p(a, n);
        kern->vlog1p(b, n);
        same_log &= memcmp(a, b, n * sizeof *a) == 0;
        for (i = 0; i < n; i++) a[i] = b[i] = exp(x[i]) * 4.0;
        ref->vlog(a, n);
        kern->vlog(b, n);
        same_ln &= memcmp(a, b, n * sizeof *a) == 0;
        for (i = 0; i < n; i++) {
            b[i] = exp(x[i]) * 4.0 - (i % 7 == 0 ? 1.0 : 0.0); /* some <= 0: inf, NaN */
            a[i] = 1.0 / sqrt(b[i]);
        }
        kern->vrsqrt(b, n);
        for (i = 0; i < n; i++)
            same_rs &= memcmp(a + i, b + i, sizeof *a) == 0 || (a[i] != a[i] && b[i] != b[i]);
    }
    snprintf(msg, sizeof msg, "vexp of %s equals the portable copy bit for bit", name);
    nc_test_true(same_exp, msg);
    snprintf(msg, sizeof msg, "vlog1p of %s equals the portable copy bit for bit", name);
    nc_test_true(same_log, msg);
    snprintf(msg, sizeof msg, "vlog of %s equals the portable copy bit for bit", name);
    nc_test_true(same_ln, msg);
    snprintf(msg, sizeof msg, "vrsqrt of %s equals 1 / sqrt(x) bit for bit", name);
    nc_test_true(same_rs, msg);
}

/* Neumaier's compensated addition, with the branches: the reference. */
static void neumaier_add(nc__sum *acc, double x)
{
    const double t = acc->s + x;
    if ((acc->s >= 0 ? acc->s : -acc->s) >= (x >= 0 ? x : -x))
        acc->c += (acc->s - t) + x;
    else
        acc->c += (x - t) + acc->s;
    acc->s = t;
}

/* Random operands across 600 binades, both signs, equal magnitudes, exact
 * cancellations and zeros of both signs; the state carried from one
 * addition to the next as in a real sum, and restarted now and then. */
static void check_compensated_sum(void)
{
    const double zeros[2] = {0.0, -0.0};
    nc__sum a = {0.0, 0.0}, b = {0.0, 0.0};
    long i, bad = 0;
    char msg[160];
    for (i = 0; i < 400000; i++) {
        double x = ldexp(uniform01() + 0.5, (int)(uniform01() * 600.0) - 300);
        const double u = uniform01();
        if (u < 0.5) x = -x;
        if (u > 0.9) x = -a.s;                  /* exact cancellation */
        if (u > 0.95) x = a.s;                  /* equal magnitudes */
        if (u > 0.99) x = zeros[i & 1];         /* +0, -0 */
        if (i % 1000 == 0) a.s = b.s = a.c = b.c = zeros[(i / 1000) & 1];
        nc__sum_add(&a, x);
        neumaier_add(&b, x);
        bad += memcmp(&a, &b, sizeof a) != 0;
        if (memcmp(&a, &b, sizeof a) != 0) b = a; /* count each difference once */
    }
    snprintf(msg, sizeof msg, "TwoSum equals Neumaier's sum bit for bit (%ld of 400000 differ)", bad);
    nc_test_true(bad == 0, msg);

    /* nc__sum4_add_n (vectorised where SSE2 is) and nc__norm2 against the
     * four chains written out with nc__sum_add, for every length to 19 and
     * a long one, from a nonzero state. */
    {
        enum { N = 1003 };
        static double x[N];
        size_t n, j;
        int same = 1, same_norm = 1;
        for (j = 0; j < N; j++) x[j] = ldexp(uniform01() - 0.5, (int)(uniform01() * 80.0) - 40);
        for (n = 0; n <= N; n = n < 19 ? n + 1 : N + (n == N)) {
            nc__sum v[4], r[4], q[4];
            double nr;
            for (j = 0; j < 4; j++) {
                v[j].s = r[j].s = 0.1 * (double)(j + 1);
                v[j].c = r[j].c = 1e-18 * (double)(j + 1);
                q[j].s = q[j].c = 0.0;
            }
            nc__sum4_add_n(v, x, n);
            for (j = 0; j < n; j++) {
                nc__sum_add(&r[j % 4], x[j]);
                nc__sum_add(&q[j % 4], x[j] * x[j]);
            }
            same &= memcmp(v, r, sizeof v) == 0;
            nr = nc__norm2(x, n);
            {
                const double ref = nc__sum4_value(q);
                same_norm &= memcmp(&nr, &ref, sizeof nr) == 0;
            }
        }
        nc_test_true(same, "nc__sum4_add_n equals four chains of nc__sum_add bit for bit");
        nc_test_true(same_norm, "nc__norm2 equals four chains of squares bit for bit");
    }
}

int main(void)
{
    const int ext = extended_precision();
    const nc__kernels *scalar = nc__kernels_get(NC__ISA_SCALAR);
    int isa;
    if (!ext)
        printf("test_kernels_vmath: long double has no extra precision here; reference = libm\n");
    for (isa = NC__ISA_SCALAR; isa <= NC__ISA_AVX512; isa++) {
        const nc__kernels *kern;
        if (!nc__isa_supported((nc__isa)isa)) continue;
        kern = nc__kernels_get((nc__isa)isa);
        check_special(kern);
        if (isa == NC__ISA_SCALAR)
            check_accuracy(kern, ext);
        else
            check_identity(scalar, kern, nc__isa_name((nc__isa)isa));
    }
    check_compensated_sum();
    return nc_test_summary("test_kernels_vmath");
}

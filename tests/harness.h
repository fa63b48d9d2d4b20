/*
 * harness.h - a small in-tree test harness in the spirit of GSL's gsl_test.
 * Quiet on success; each failure prints one line with file:line and the
 * values; nc_test_summary() prints "<program>: N passed, M failed" and
 * returns the exit code. Header-only: each test program includes it once.
 */
#ifndef NC_TEST_HARNESS_H
#define NC_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int nc_test_passed_ = 0;
static int nc_test_failed_ = 0;

static inline void nc_test_report_(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        nc_test_passed_++;
    } else {
        nc_test_failed_++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
    }
}

/* |got - want| <= rtol * |want| (exact equality when want == 0 and rtol == 0). */
static inline void nc_test_rel_(double got, double want, double rtol, const char *file, int line,
                         const char *desc)
{
    double err = fabs(got - want);
    int ok = isfinite(got) && isfinite(want) && err <= rtol * fabs(want);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s: got %.17g want %.17g (rel err %.3g > %.3g)", desc, got, want,
             want != 0 ? err / fabs(want) : err, rtol);
    nc_test_report_(ok, file, line, buf);
}

/* |got - want| <= atol */
static inline void nc_test_abs_(double got, double want, double atol, const char *file, int line,
                         const char *desc)
{
    double err = fabs(got - want);
    int ok = isfinite(got) && isfinite(want) && err <= atol;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s: got %.17g want %.17g (abs err %.3g > %.3g)", desc, got, want,
             err, atol);
    nc_test_report_(ok, file, line, buf);
}

static inline void nc_test_int_(long long got, long long want, const char *file, int line,
                         const char *desc)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s: got %lld want %lld", desc, got, want);
    nc_test_report_(got == want, file, line, buf);
}

static inline void nc_test_true_(int cond, const char *file, int line, const char *desc)
{
    nc_test_report_(cond != 0, file, line, desc);
}

#define nc_test_rel(got, want, rtol, desc) nc_test_rel_((got), (want), (rtol), __FILE__, __LINE__, (desc))
#define nc_test_abs(got, want, atol, desc) nc_test_abs_((got), (want), (atol), __FILE__, __LINE__, (desc))
#define nc_test_int(got, want, desc) nc_test_int_((long long)(got), (long long)(want), __FILE__, __LINE__, (desc))
#define nc_test_true(cond, desc) nc_test_true_((cond), __FILE__, __LINE__, (desc))

/* Print the program's summary line and return its exit code. A program that
 * ran no check fails: a test that asserts nothing is a defect. */
static inline int nc_test_summary(const char *program)
{
    printf("%s: %d passed, %d failed\n", program, nc_test_passed_, nc_test_failed_);
    if (nc_test_passed_ + nc_test_failed_ == 0) {
        fprintf(stderr, "%s: no checks ran\n", program);
        return 1;
    }
    return nc_test_failed_ ? 1 : 0;
}

#endif

/* util.c - small numerical helpers: overflow-checked sizes, finiteness, norms. */
#include "common/common.h"
#include "common/sum.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int nc__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 1;
    *out = a * b;
    return 0;
}

/* The pointer calloc returned sits just below the aligned block. */
double *nc__alloc_doubles(size_t a, size_t b)
{
    size_t n, bytes;
    if (nc__mul_size(a, b, &n) || nc__mul_size(n ? n : 1, sizeof(double), &bytes)) return NULL;
    return (double *)calloc(n ? n : 1, sizeof(double));
}

double *nc__calloc_aligned(size_t a, size_t b)
{
    size_t n;
    unsigned char *raw, *p;
    if (nc__mul_size(a, b, &n) || nc__mul_size(n, sizeof(double), &n) ||
        n > SIZE_MAX - NC__ALIGN - sizeof(void *))
        return NULL;
    raw = (unsigned char *)calloc(n + NC__ALIGN + sizeof(void *), 1);
    if (!raw) return NULL;
    p = raw + sizeof(void *);
    p += (NC__ALIGN - (size_t)((uintptr_t)p % NC__ALIGN)) % NC__ALIGN;
    memcpy(p - sizeof(void *), &raw, sizeof raw);
    return (double *)(void *)p;
}

void nc__free_aligned(double *p)
{
    void *raw;
    if (!p) return;
    memcpy(&raw, (unsigned char *)p - sizeof(void *), sizeof raw);
    free(raw);
}

int nc__all_finite(const double *x, size_t n)
{
    size_t i;
    /* Accumulating x*0 turns any Inf or NaN into NaN; one test at the end
     * keeps the loop branch-free. */
    double acc = 0.0;
    for (i = 0; i < n; i++) acc += x[i] * 0.0;
    return acc == 0.0;
}

int nc__all_finite_mat(const double *x, size_t m, size_t n, size_t ld)
{
    size_t j;
    for (j = 0; j < n; j++)
        if (!nc__all_finite(x + j * ld, m)) return 0;
    return 1;
}

double nc__norm2(const double *x, size_t n)
{
    /* four compensated sums in turn (x[i]^2 to sum i % 4), independent
     * chains: one chain waited for each addition (2% of a (4, 8, 400) step) */
    nc__sum acc[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
    nc__sum4_core(acc, x, n, 1);
    return nc__sum4_value(acc);
}

int nc__fits_int(size_t n) { return n <= (size_t)INT_MAX; }

int nc__size_mad(size_t *acc, size_t a, size_t b)
{
    size_t p;
    if (nc__mul_size(a, b, &p)) return 1;
    if (p > SIZE_MAX - *acc) return 1;
    *acc += p;
    return 0;
}

nc_status nc__check_span(size_t rows, size_t cols, size_t ld)
{
    size_t p;
    if (ld < rows) return NC_ERR_SIZE_MISMATCH;
    if (cols == 0) return NC_SUCCESS;
    if (nc__mul_size(cols - 1, ld, &p) || p > SIZE_MAX - rows ||
        p + rows > SIZE_MAX / sizeof(double))
        return NC_ERR_INVALID_SIZE;
    return NC_SUCCESS;
}

int nc__find_nonfinite(const double *x, size_t rows, size_t cols, size_t ld, size_t *row,
                       size_t *col)
{
    size_t i, j;
    for (j = 0; j < cols; j++) {
        const double *c = x + j * ld;
        for (i = 0; i < rows; i++)
            if (!(c[i] - c[i] == 0.0)) {
                *row = i;
                *col = j;
                return 1;
            }
    }
    return 0;
}

nc_status nc__check_matrix(const double *A, size_t rows, size_t cols, size_t lda, int need_finite)
{
    nc_status st;
    if (A == NULL) return NC_ERR_NULL_ARGUMENT;
    if (rows == 0 || cols == 0 || !nc__fits_int(rows) || !nc__fits_int(cols))
        return NC_ERR_INVALID_SIZE;
    if (lda < rows) return NC_ERR_SIZE_MISMATCH;
    if (!nc__fits_int(lda)) return NC_ERR_INVALID_SIZE;
    if ((st = nc__check_span(rows, cols, lda)) != NC_SUCCESS) return st;
    if (need_finite && !nc__all_finite_mat(A, rows, cols, lda)) return NC_ERR_NON_FINITE;
    return NC_SUCCESS;
}

double nc__amax_mat(const double *x, size_t rows, size_t cols, size_t ld)
{
    double a = 0.0;
    size_t i, j;
    for (j = 0; j < cols; j++)
        for (i = 0; i < rows; i++) {
            const double v = fabs(x[j * ld + i]);
            if (v > a) a = v;
        }
    return a;
}

double nc__pow2_scale(double amax)
{
    int e;
    if (amax == 0.0) return 1.0;
    (void)frexp(amax, &e);
    if (-e > DBL_MAX_EXP - 2) e = -(DBL_MAX_EXP - 2);
    return ldexp(1.0, -e);
}

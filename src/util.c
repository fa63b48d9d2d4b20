/* util.c - small numerical helpers: overflow-checked sizes, finiteness, norms. */
#include "nc_internal.h"

#include <math.h>
#include <stdint.h>

int nc__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 1;
    *out = a * b;
    return 0;
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
    nc__sum acc = {0.0, 0.0};
    size_t i;
    for (i = 0; i < n; i++) nc__sum_add(&acc, x[i] * x[i]);
    return nc__sum_value(&acc);
}

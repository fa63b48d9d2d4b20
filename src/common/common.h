/*
 * common/common.h - what every layer of the library uses: status messages,
 * checked sizes, aligned allocation, finiteness tests, matrix arguments,
 * exact rescaling and norms. Every private header includes it (first), so
 * the floating-point contract below holds in every source file.
 * Never installed; nothing public depends on it.
 *
 * Layers (src/<layer>/), each including only its own headers and those of
 * the layers before it:
 *   common -> kernels -> loss -> model -> metrics -> analysis -> optim -> io
 */
#ifndef NC_COMMON_H
#define NC_COMMON_H

/* No a * b + c contracted into one fused multiply-add: the kernels, exp and
 * log1p, the compensated sums and the transposed losses give the same bits
 * in every instruction set and layout only as written. The Makefile passes
 * -ffp-contract=off; this covers clang in other builds (gcc does not
 * contract under -std=c99, and needs the flag in GNU modes). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ncollapse.h"

#define NC_MSG_SIZE 256

/* A C99 compile-time assertion at file scope: an array of negative size
 * when cond is false (name says what failed in the compiler's message). */
#define NC__STATIC_ASSERT(cond, name) typedef char nc__static_assert_##name[(cond) ? 1 : -1]

/* Record a formatted message in buf (size NC_MSG_SIZE) and return status. */
nc_status nc__fail(char *buf, nc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The calling thread's reason of its last failed create
 * (nc_create_last_error): every public create clears it on entry and
 * records a failure with nc__create_fail (formatted like nc__fail), which
 * returns status. */
void nc__create_clear(void);
nc_status nc__create_fail(nc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Overflow-checked products for allocation sizes: 0 on success. */
int nc__mul_size(size_t a, size_t b, size_t *out);
/* a x b doubles, zeroed, on a 64-byte boundary (a cache line, a full
 * AVX-512 vector: the kernels' loads then never straddle two lines); NULL on
 * overflow or failure. Free with nc__free_aligned (NULL is fine). */
#define NC__ALIGN 64
double *nc__calloc_aligned(size_t a, size_t b);
void nc__free_aligned(double *p);

/* a x b doubles, zeroed (at least one), from calloc; NULL on overflow or
 * failure. Free with free(). The one allocation helper of the library for
 * arrays that need no particular alignment. */
double *nc__alloc_doubles(size_t a, size_t b);

/* 1 if x is finite (x - x is NaN for NaN and +-Inf). */
static inline int nc__is_finite(double x) { return x - x == 0.0; }
/* 1 if all n values (stride 1) are finite. */
int nc__all_finite(const double *x, size_t n);
/* 1 if the m x n column-major matrix with leading dimension ld is finite. */
int nc__all_finite_mat(const double *x, size_t m, size_t n, size_t ld);

/* BLAS and LAPACK take int sizes. */
int nc__fits_int(size_t n);
/* *acc += a * b for sizes; 1 on overflow. */
int nc__size_mad(size_t *acc, size_t a, size_t b);
/* The span of a rows x cols column-major matrix with leading dimension ld:
 * NC_ERR_SIZE_MISMATCH if ld < rows, NC_ERR_INVALID_SIZE if the last
 * element's offset (cols - 1) ld + rows overflows (a pointer plus such an ld
 * would wrap), else NC_SUCCESS (also for rows or cols 0). Every
 * pointer-plus-leading-dimension argument goes through it. */
nc_status nc__check_span(size_t rows, size_t cols, size_t ld);
/* The first NaN or Inf of a rows x cols column-major matrix (ld), scanning
 * column by column: 1 with its row and column, 0 if all are finite. */
int nc__find_nonfinite(const double *x, size_t rows, size_t cols, size_t ld, size_t *row,
                       size_t *col);
/* Validate a rows x cols column-major matrix argument with leading dimension
 * lda: NULL, zero or non-int sizes, lda < rows, an address range that
 * overflows, and (need_finite) NaN or Inf, each with its status. */
nc_status nc__check_matrix(const double *A, size_t rows, size_t cols, size_t lda, int need_finite);
/* Largest |x| of a matrix. */
double nc__amax_mat(const double *x, size_t rows, size_t cols, size_t ld);
/* The power of two s with amax * s in [1/2, 1) (1 for amax == 0), capped so
 * that s stays finite for subnormal data: an exact rescaling that keeps
 * squares and products far from overflow and underflow. */
double nc__pow2_scale(double amax);

/* Squared Frobenius norms of the state. */
double nc__norm2(const double *x, size_t n);

#endif /* NC_COMMON_H */

/*
 * nc_internal.h - private definitions shared by the library's source files.
 * Never installed; nothing public depends on it.
 */
#ifndef NC_INTERNAL_H
#define NC_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ncollapse.h"

#define NC_MSG_SIZE 256

/* Record a formatted message in buf (size NC_MSG_SIZE) and return status. */
nc_status nc__fail(char *buf, nc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Overflow-checked products for allocation sizes: 0 on success. */
int nc__mul_size(size_t a, size_t b, size_t *out);

/* 1 if all n values (stride 1) are finite. */
int nc__all_finite(const double *x, size_t n);
/* 1 if the m x n column-major matrix with leading dimension ld is finite. */
int nc__all_finite_mat(const double *x, size_t m, size_t n, size_t ld);

/* Compensated (Neumaier) accumulator: exact-sum quality for long sums. */
typedef struct nc__sum {
    double s, c;
} nc__sum;
static inline void nc__sum_add(nc__sum *acc, double x)
{
    double t = acc->s + x;
    if ((acc->s >= 0 ? acc->s : -acc->s) >= (x >= 0 ? x : -x))
        acc->c += (acc->s - t) + x;
    else
        acc->c += (x - t) + acc->s;
    acc->s = t;
}
static inline double nc__sum_value(const nc__sum *acc) { return acc->s + acc->c; }

/* Pseudo-random numbers: xoshiro256**, seeded by splitmix64. */
typedef struct nc__rng {
    uint64_t s[4];
    int has_spare;
    double spare;
} nc__rng;
void nc__rng_seed(nc__rng *rng, uint64_t seed);
uint64_t nc__rng_next(nc__rng *rng);
double nc__rng_uniform(nc__rng *rng); /* in [0, 1) with 53 random bits */
double nc__rng_normal(nc__rng *rng);  /* N(0, 1), polar method */

/* ---- model ---------------------------------------------------------------- */
struct nc_model {
    size_t d, K, N;
    int32_t *labels; /* N */
    size_t *counts;  /* K */
    nc_loss loss;
    int bias;
    double lambda_W, lambda_H, lambda_b;

    /* State. W is K x d row-major == d x K column-major (ld d): column k of
     * the column-major view is w_k. H is d x N column-major (ld d). */
    double *W;
    double *H;
    double *b;
    /* Incremented by every change of state or options, so that an optimizer
     * can tell that cached norms are stale. */
    uint64_t version;

    /* Workspace for one column block of the pass (allocated at creation). */
    size_t block;   /* columns per block */
    double *Zblock; /* K x block: logits, then loss gradient */
    double *Gblock; /* d x block: feature gradient of the block */

    char msg[NC_MSG_SIZE];
};

/* Optional in-pass update of H (the fused gradient step). */
typedef struct nc__h_update {
    double lr, momentum;
    double *velocity; /* d x N, ld d; NULL when momentum == 0 */
    /* Outputs: squared norms of the new H and new velocity. */
    double norm2_H_new, norm2_v_new;
} nc__h_update;

/* Results of one pass. */
typedef struct nc__pass_out {
    double objective;   /* at the state the pass started from */
    double norm2_gW, norm2_gH, norm2_gb;
    double norm2_H;     /* ||H||^2 at the start */
} nc__pass_out;

/*
 * One pass over H in column blocks at the current state:
 *  - objective into out->objective;
 *  - gradient of W into gW (d x K column-major, ld d, i.e. K x d row-major)
 *    and of b into gb (K; zeros if the bias is off), both overwritten;
 *  - the gradient of H into gH (d x N, ld ldgh) if gH != NULL;
 *  - if upd != NULL, H is updated in place block by block, after the block's
 *    contribution to gW was accumulated (so the result equals the unfused
 *    simultaneous step).
 */
nc_status nc__model_pass(nc_model *m, double *gW, double *gb, double *gH, size_t ldgh,
                         nc__h_update *upd, nc__pass_out *out);

/* Squared Frobenius norms of the state. */
double nc__norm2(const double *x, size_t n);

#endif /* NC_INTERNAL_H */

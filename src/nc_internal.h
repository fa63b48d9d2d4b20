/*
 * nc_internal.h - private definitions shared by the library's source files.
 * Never installed; nothing public depends on it.
 */
#ifndef NC_INTERNAL_H
#define NC_INTERNAL_H

/* No a * b + c contracted into one fused multiply-add: the kernels, exp and
 * log1p, the compensated sums and the transposed losses give the same bits
 * in every instruction set and layout only as written. The Makefile passes
 * -ffp-contract=off; this covers clang in other builds (gcc does not
 * contract under -std=c99, and needs the flag in GNU modes). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <stdarg.h>
#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
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
/* a x b doubles, zeroed, on a 64-byte boundary (a cache line, a full
 * AVX-512 vector: the kernels' loads then never straddle two lines); NULL on
 * overflow or failure. Free with nc__free_aligned (NULL is fine). */
#define NC__ALIGN 64
double *nc__calloc_aligned(size_t a, size_t b);
void nc__free_aligned(double *p);

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

/* ---- update rules (shared by the fused pass and the small blocks) -------- */
typedef enum nc__rule_kind { NC__RULE_HEAVY_BALL, NC__RULE_NESTEROV, NC__RULE_ADAM } nc__rule_kind;

typedef struct nc__rule {
    nc__rule_kind kind;
    double lr;
    double momentum;           /* heavy ball / Nesterov: 0 means plain GD */
    double beta1, beta2, eps;  /* Adam */
    double bc1, bc2;           /* Adam bias corrections 1/(1 - beta^t) */
    int project;               /* clamp the result at 0 (ReLU features) */
} nc__rule;

/* One variable x with gradient g and buffers v, s (unused ones may be NULL
 * when the rule does not need them). Returns the new x. */
static inline double nc__rule_apply(const nc__rule *r, double x, double g, double *v, double *s)
{
    double step;
    switch (r->kind) {
    case NC__RULE_ADAM:
        *v = r->beta1 * *v + (1.0 - r->beta1) * g;
        *s = r->beta2 * *s + (1.0 - r->beta2) * g * g;
        step = (*v * r->bc1) / (sqrt(*s * r->bc2) + r->eps);
        break;
    case NC__RULE_NESTEROV:
        if (v) {
            *v = r->momentum * *v + g;
            step = g + r->momentum * *v;
        } else
            step = g;
        break;
    default:
        if (v) {
            *v = r->momentum * *v + g;
            step = *v;
        } else
            step = g;
        break;
    }
    x -= r->lr * step;
    if (r->project && x < 0.0) x = 0.0;
    return x;
}

/* ---- losses ---------------------------------------------------------------- */
typedef struct nc__loss_ctx {
    double target_scale, smoothing, focal_gamma, logit_tau, dot_target;
    const double *class_weights; /* K */
    const double *log_prior;     /* K: log(n_k / N) */
    /* exp and log1p on arrays (the kernels' instruction set; NULL: portable) */
    void (*vexp)(double *x, size_t n);
    void (*vlog1p)(double *x, size_t n);
    /* the kernels' transposed CE family (nc__kernels.t_ce; the pass sets it) */
    void (*t_ce)(size_t K, size_t n, size_t nl, double *Zt, size_t ldt, const int32_t *labels,
                 double tau, const double *log_prior, const double *cw, double *out);
    /* and its transposed squared error (nc__kernels.t_mse) */
    void (*t_mse)(size_t K, size_t n, size_t nl, double *Zt, size_t ldt, const int32_t *labels,
                  double ts, double *out);
} nc__loss_ctx;

/* ---- the pass: kernels, threads, workspaces --------------------------------
 * pass.c drives the column-blocked pass (below); pass_kernel.c holds its
 * register-blocked small-K kernels, one copy per instruction set; threads.c
 * the model's worker threads. */

/* Instruction sets of the kernels, ordered: a CPU that has one has the ones
 * before it (SSE2 and the SIMD ones exist on x86-64 with GCC or Clang only). */
typedef enum nc__isa { NC__ISA_SCALAR = 0, NC__ISA_SSE2 = 1, NC__ISA_AVX2 = 2, NC__ISA_AVX512 = 3 } nc__isa;

/* Parameters of the per-column finish (nc__kernels.columns). */
typedef struct nc__col_args {
    size_t d;
    double lH;    /* lambda_H */
    double a_inv; /* alpha / N (AllNC) */
    const double *means, *class_grad; /* AllNC (d x K each), or NULL */
    int relu;     /* projected gradient norm for H >= 0 */
    int store_g;  /* write the finished gradient back into G */
    const nc__rule *rule; /* update h (v, s) in place, or NULL */
} nc__col_args;

/* Memory a kernel brings towards the core while it computes: the bytes
 * [base, base + len), len > 0, spread evenly over its inner iterations (at
 * most two cache lines per iteration). The pass gives each kernel a share of
 * the next block of H and of the current block's optimizer buffers, so that
 * memory works during all of a block's arithmetic, not in bursts (issued in
 * bursts, prefetches stall the core once its miss buffers are full). */
typedef struct nc__pf {
    const char *base;
    size_t len;
} nc__pf;

/* The stream of a kernel's prefetches over a range of len bytes in iters
 * inner iterations: at offset o it asks for the line of o and, if the step
 * exceeds a line, the line 64 bytes on; then it advances by the step while
 * that stays inside the range. The step, len / iters rounded up to a
 * multiple of 8 and at most 128, spreads the range evenly, and two lines
 * per iteration leave no gap: when len <= 128 iters every line of the range
 * but at most the last two is asked for, and the offsets stay in [0, len)
 * (tests/test_fused.c checks both). Covering the last lines too needs a step
 * just above 64 where the range is one line per iteration, so a second
 * prefetch in every iteration: measured slower. */
static inline size_t nc__pf_step(size_t len, size_t iters)
{
    size_t s = iters ? (len + iters - 1) / iters : 0;
    s = (s + 7) & ~(size_t)7;
    return s > 128 ? 128 : s;
}
static inline size_t nc__pf_ahead(size_t step) { return step > 64 ? 64 : 0; }
static inline size_t nc__pf_second(size_t o, size_t ahead, size_t len)
{
    return o + ahead < len ? o + ahead : o;
}
static inline size_t nc__pf_advance(size_t o, size_t step, size_t len)
{
    return o + step < len ? o + step : o;
}

/* The kernels read P (d x K, ld d) through Pp, its copy packed by
 * nc__pack_P for their vector width: rows in vectors of `width`, the K
 * entries of each vector contiguous. */
typedef struct nc__kernels {
    /* The three products take pf, memory to bring in while they compute
     * (nc__pf), or NULL. */
    /* Z (K x n, ld K) = P^T H (+ b), H d x n (ld ldh). */
    void (*logits)(size_t d, size_t K, size_t n, const double *Pp, const double *P,
                   const double *H, size_t ldh, const double *b, double *Z, const nc__pf *pf);
    /* gP (d x K, ld d) += H Z^T. */
    void (*rank_update)(size_t d, size_t K, size_t n, const double *H, size_t ldh,
                        const double *Z, double *gP, const nc__pf *pf);
    /* G (d x n, ld ldg) = P Z. */
    void (*product)(size_t d, size_t K, size_t n, const double *Pp, const double *P,
                    const double *Z, double *G, size_t ldg, const nc__pf *pf);
    /* n consecutive columns (H, V, S: ld d; G: ld ldg; their labels):
     * g += lambda_H h (+ alpha/N (h - mu_y) + class_grad_y with AllNC); sums
     * over the columns out = {||h - mu||^2, ||h||^2, ||projected g||^2,
     * ||h'||^2, ||v'||^2, ||s'||^2}; with a rule h, v, s are updated in place. */
    void (*columns)(const nc__col_args *args, size_t n, double *H, double *G, size_t ldg,
                    double *V, double *S, const int32_t *labels, double out[6]);
    /* In place: x <- exp(x) for x <= 350 (below -746: 0), and
     * x <- log1p(x) for x >= 0; < 1 ulp, bit-identical in every set. */
    void (*vexp)(double *x, size_t n);
    void (*vlog1p)(double *x, size_t n);
    /* The small-d path on a block transposed (rows of ld ldt, n a multiple
     * of the widest vector): Out (R x n) = A In (+ bias) with A_rs =
     * coef[r rs + s ss], In S x n; and gP (d x K, ld d) += Ht Zt^T. */
    void (*t_gemm)(size_t R, size_t S, size_t n, const double *coef, size_t rs, size_t ss,
                   const double *In, size_t ldt, const double *bias, double *Out);
    void (*t_rank)(size_t d, size_t K, size_t n, const double *Ht, const double *Zt, size_t ldt,
                   double *gP);
    /* The cross-entropy family (nc__ce_family) on the columns of Zt (K x n,
     * ld ldt), bit-identical to it: Zt becomes the gradient, out[0..n) the
     * samples' losses (out: 4 n doubles); labels[0..nl), the columns past
     * nl count as class 0; tau log_prior is added to the logits when
     * log_prior is given, cw weights the classes when given. */
    void (*t_ce)(size_t K, size_t n, size_t nl, double *Zt, size_t ldt, const int32_t *labels,
                 double tau, const double *log_prior, const double *cw, double *out);
    /* The squared error to ts e_y (nc__loss_mse) on the columns of Zt in
     * place, bit-identical to it: out[0..n) the samples' losses. */
    void (*t_mse)(size_t K, size_t n, size_t nl, double *Zt, size_t ldt, const int32_t *labels,
                  double ts, double *out);
    /* G (d x n, ld ldg) = P Zt^T, Zt K x n' (n' >= n rounded up to 8,
     * ld ldt), d a multiple of width. */
    void (*t_product)(size_t d, size_t K, size_t n, const double *Pp, const double *Zt, size_t ldt,
                      double *G, size_t ldg);
    /* Out (rows x n, ld ldo) = In^T, In n x rows (ld ldi). */
    void (*transpose)(const double *In, size_t ldi, size_t rows, size_t n, double *Out, size_t ldo);
    /* The rows of Zt (K x n, ld ldt) times c in place; with gb, gb[k] += the
     * sum of row k after scaling, taken in vector lanes (entry i to lane
     * i % width, then the lanes in order and the last n % width entries). */
    void (*t_scale)(size_t K, size_t n, double *Zt, size_t ldt, double c, double *gb);
    size_t cols;  /* columns per call of product that share its loads */
    size_t width; /* doubles per vector */
} nc__kernels;

nc__isa nc__isa_detect(void);          /* the widest set this CPU and OS support */
int nc__isa_supported(nc__isa isa);
const nc__kernels *nc__kernels_get(nc__isa isa); /* isa must be supported */
const char *nc__isa_name(nc__isa isa);

/* Worker threads: nc__pool_run calls fn(ctx, t) for t = 0..threads-1, part 0
 * on the calling thread, and returns when all are done. */
typedef struct nc__pool nc__pool;
nc_status nc__pool_create(nc__pool **pool, size_t threads);
void nc__pool_run(nc__pool *pool, void (*fn)(void *ctx, size_t part), void *ctx);
void nc__pool_destroy(nc__pool *pool);

/* One thread's workspace and partial results of a pass. */
typedef struct nc__pass_ws {
    double *Z;  /* K x max(block, block_fused): logits, then dL/dZ / N */
    double *G;  /* d x max(block, 8): feature gradient of a block (unless written to gH) */
    double *gP; /* d x K partial gradient of P (thread 0: the model's gP) */
    double *gb; /* K partial gradient of b, on cache lines of its own (gb_mem + 8) */
    double *gb_mem;
    double *T;  /* small-d path: Ht (d x ldt), Zt (K x ldt), Gt (d x ldt), transposed; 4 ldt scratch */
    size_t ldt; /* block_fused rounded up to NC__SMALL_PAD */
    nc__sum loss, h2, gh2, nc1, h2_new, v2_new, s2_new; /* written once, at the end of a part */
} nc__pass_ws;

/* Which implementation the pass uses (tests and benchmarks may force one). */
enum { NC__KERNEL_AUTO = 0, NC__KERNEL_FUSED = 1, NC__KERNEL_BLAS = 2, NC__KERNEL_SMALL = 3 };

/* ---- model ---------------------------------------------------------------- */
struct nc_model {
    size_t d, K, N;
    int32_t *labels; /* N */
    size_t *counts;  /* K */
    nc_loss loss;
    nc__loss_ctx loss_ctx;
    double *class_weights, *log_prior; /* K each, owned; pointed to by loss_ctx */
    int bias;
    double lambda_W, lambda_H, lambda_b;
    nc_features features;
    size_t depth;
    int fixed;          /* classifier W_M is not a variable */
    double alpha, beta; /* AllNC terms */

    /* Small variables, contiguous: [W_1 .. W_{M-1} | W_M | b], all row-major.
     * n_hidden = (M-1) d^2. gsmall has the same layout (gradient). */
    double *small, *gsmall;
    size_t n_hidden;
    double *Wc; /* small + n_hidden: the classifier layer W_M (K x d) */
    double *b;  /* small + n_hidden + d K */
    /* The end-to-end classifier P = W_M ... W_1, K x d row-major (== d x K
     * column-major, ld d: column k is the row p_k). Equal to Wc when M == 1
     * (same pointer); kept up to date by every change of the layers. */
    double *W;
    double *H; /* d x N column-major (ld d) */
    /* Incremented by every change of state or options, so that an optimizer
     * can tell that cached norms are stale. */
    uint64_t version;

    /* Depth workspace (M >= 2): prefix products R_m = W_m ... W_1 for
     * m = 1..M-1 (d x d each), and two d x d scratch matrices. */
    double *prefix, *scratch_a, *scratch_b;
    /* AllNC workspace (d x K each): class means, the per-class vector added
     * to the gradient of every feature of the class, and the gradient of the
     * alignment term with respect to P. Filled by nc__model_prepare. */
    double *means, *class_grad, *align_gP;
    double allnc_align_value;   /* the alignment term at the prepared state */
    double allnc_extra_bound;   /* bound on the Frobenius norm it adds to gH */

    /* Workspace of the pass (allocated when the sizes are fixed, and again
     * by nc_model_set_threads). */
    size_t block;       /* columns per block of the BLAS-3 path */
    size_t block_fused; /* columns per block of the fused small-K and small-d kernels */
    size_t parallel_min; /* K d N below which the parts run on the calling thread */
    double *Zblock;     /* == ws[0].Z */
    double *Gblock;     /* == ws[0].G (nc__model_prepare borrows it, >= d doubles) */
    double *gP;         /* d x K column-major: gradient of the product P (== ws[0].gP) */
    double *Ppack;      /* d x K: P packed for the fused kernels */
    size_t threads;     /* >= 1 */
    nc__pass_ws *ws;    /* threads workspaces */
    nc__pool *pool;     /* threads - 1 workers; NULL when threads == 1 */
    nc__isa isa;        /* kernels' instruction set (detected at creation) */
    int kernel;         /* NC__KERNEL_*: AUTO picks fused for small K */

    char msg[NC_MSG_SIZE];
};

/* Optional in-pass update of H (the fused gradient step). */
typedef struct nc__h_update {
    nc__rule rule;
    double *v, *s; /* d x N buffers the rule needs, else NULL */
    /* Outputs: squared norms of the new H and of the new v and s. */
    double norm2_H_new, norm2_v_new, norm2_s_new;
} nc__h_update;

/* Results of a pass. */
typedef struct nc__pass_out {
    double objective; /* full objective at the state the pass started from */
    double norm2_H;   /* ||H||^2 at the start */
    double norm2_gH;  /* ||gH||^2 (projected gradient for ReLU features) */
    double norm2_gsmall; /* squared norm of the gradient of the small variables
                            that are variables (excludes a fixed classifier, and
                            b when the bias is off) */
} nc__pass_out;

/*
 * Evaluate at the current state: objective, the gradient of the small
 * variables into m->gsmall, the gradient of H into gH (d x N, ld ldgh) if
 * gH != NULL, and, if upd != NULL, update H in place block by block after
 * the block's contribution to the other gradients was accumulated (so the
 * fused step equals the simultaneous step).
 */
nc_status nc__model_evaluate(nc_model *m, double *gH, size_t ldgh, nc__h_update *upd,
                             nc__pass_out *out);
/* AllNC terms: class means and the gradient pieces at the current state.
 * nc__model_evaluate calls it itself unless told the state is prepared. */
void nc__model_prepare(nc_model *m);
/* Like nc__model_evaluate, but trusts a preceding nc__model_prepare. */
nc_status nc__model_evaluate_prepared(nc_model *m, double *gH, size_t ldgh, nc__h_update *upd,
                                      nc__pass_out *out);
/* Workspaces (and worker threads) for the given thread count; on failure
 * the model keeps its previous ones. nc__pass_free releases them. */
nc_status nc__pass_set_threads(nc_model *m, size_t threads);
void nc__pass_free(nc_model *m);
/* Tests and benchmarks: force the BLAS-3 or fused path and an instruction set
 * (NC_ERR_UNSUPPORTED if this CPU lacks it). */
nc_status nc__model_set_kernel(nc_model *m, int kernel, nc__isa isa);
/* Tests: block sizes (columns, 0 keeps) and the K d N below which the parts
 * run on the calling thread; reallocates the workspaces. */
nc_status nc__model_set_blocks(nc_model *m, size_t block, size_t block_fused, size_t parallel_min);
/* Whether the pass at the current options uses the fused kernels. */
/* The path of the pass: NC__KERNEL_FUSED, _BLAS or _SMALL (small d). */
int nc__model_path(const nc_model *m);
/* Columns of a transposed block are padded to a multiple of this (the
 * widest vector), with zeros. */
#define NC__SMALL_PAD 8
#define NC__SMALL_ROUND(n) (((n) + NC__SMALL_PAD - 1) / NC__SMALL_PAD * NC__SMALL_PAD)
/* Recompute the product P after the layers changed (no-op for M == 1). */
void nc__model_update_product(nc_model *m);
/* Number of small variables: [hidden layers][classifier unless fixed][b if bias]
 * are the ranges [0, n_hidden), [n_hidden, n_hidden + dK), [.., + K). */
size_t nc__model_small_size(const nc_model *m);

/* ---- optimizer ---------------------------------------------------------- */
struct nc_optimizer {
    nc_model *model;
    nc_algorithm algorithm;
    size_t depth;      /* of the model at creation */
    size_t n_small;    /* small variables (layers + b) */
    size_t n_max;      /* all variables at most (L-BFGS vectors) */
    double lr_layers, lr_H, lr_b;
    double momentum;
    double beta1, beta2, eps;
    nc_schedule schedule;
    size_t period;
    double sched_param;
    size_t max_iterations;
    double gtol;
    nc_progress_fn callback;
    void *user_data;
    size_t every;

    /* First-order buffers: small v, s; H v (momentum or Adam), s (Adam). */
    double *v_small, *s_small, *v_H, *s_H;
    int buffers_valid; /* 0: stale, zero before use */

    /* L-BFGS. */
    size_t history, hist_len, hist_next;
    double *S, *Y, *rho, *alpha_tmp; /* history x n_max, history, history */
    double *x, *g, *xt, *gt, *p;     /* n_max each */
    unsigned char *mask;             /* n_max: variables held at the bound */
    double f;                        /* objective at x */
    int lbfgs_valid;                 /* x, g, f describe the model's state */
    /* Steps since the objective or the gradient norm last reached a new
     * lowest value, and those values (L-BFGS near the limit of the arithmetic). */
    size_t lbfgs_stall;
    double lbfgs_best_f, lbfgs_best_g;
    uint64_t lbfgs_version;

    size_t iterations, evaluations;
    double objective, gradient_norm;

    /* Norms for the divergence guard, valid while model->version == version. */
    uint64_t version;
    int norms_valid;
    double n_small2, nH2, nvs2, nss2, nvH2, nsH2;

    char msg[NC_MSG_SIZE];
};

/* BLAS and LAPACK take int sizes. */
int nc__fits_int(size_t n);
/* *acc += a * b for sizes; 1 on overflow. */
int nc__size_mad(size_t *acc, size_t a, size_t b);
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

#endif /* NC_INTERNAL_H */

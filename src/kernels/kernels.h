/*
 * kernels/kernels.h - the compute kernels of the pass over H, one copy per
 * instruction set (kernels.c instantiates kernels_tmpl.h for each): the
 * register-blocked small-K products, the small-d transposed path, the
 * vectorised exp and log1p (vmath_tmpl.h), the losses on transposed blocks
 * and the per-column finish that applies an update rule (rule.h).
 */
#ifndef NC_KERNELS_H
#define NC_KERNELS_H

#include "common/common.h"
#include "kernels/rule.h"

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
 * (tests/test_kernels_fused.c checks both). Covering the last lines too needs a step
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
     * x <- log1p(x) for x >= 0, x <- log(x) for positive normal finite x;
     * < 1 ulp, bit-identical in every set; x <- 1 / sqrt(x), correctly
     * rounded twice (the scalar expression's bits). */
    void (*vexp)(double *x, size_t n);
    void (*vlog1p)(double *x, size_t n);
    void (*vlog)(double *x, size_t n);
    void (*vrsqrt)(double *x, size_t n);
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

/* Columns of a transposed block are padded to a multiple of this (the
 * widest vector), with zeros. */
#define NC__SMALL_PAD 8
#define NC__SMALL_ROUND(n) (((n) + NC__SMALL_PAD - 1) / NC__SMALL_PAD * NC__SMALL_PAD)

#endif /* NC_KERNELS_H */

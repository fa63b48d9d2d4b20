/*
 * vmath_tmpl.h - exp, log1p and log on arrays, vectorised, for the losses
 * and the pair metrics.
 * Included by pass_kernel_tmpl.h once per instruction set, with its macros
 * and these integer ones (64-bit lanes):
 *   VI              integer vector type
 *   VASI(x) VASD(i) reinterpret the bits (double <-> int64)
 *   VISET(c) VIADD VIAND VIOR VIXOR  lane-wise integer operations
 *   VISLL(i, s) VISRL(i, s)          logical shifts by a constant
 *   VMIN(a, b) VMAX(a, b)  as minpd/maxpd: b where the comparison fails
 *                          (so a NaN in b propagates)
 *   VSELGE(a, b, x, y)     x where a >= b, else y
 *
 * The algorithms are fdlibm's (e_exp.c, s_log1p.c/e_log.c), written without
 * branches (exp's polynomial by Estrin's scheme: the same coefficients, a
 * shorter chain). Every copy performs the same operations in the same order with
 * no fused multiply-add, so all instruction sets give bit-identical results
 * (tests/test_kernels_vmath.c checks this and the accuracy: < 1 ulp against
 * long-double references).
 */

/* exp(x) for x <= 350 (the losses call it with x <= 0); x < -746 gives 0,
 * subnormal results are rounded once. NaN propagates. */
static inline ATTR VT FN(exp_v)(VT x)
{
    const double shift = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    VT t, kd, hi, lo, r, tt, p, c, y, s;
    x = VMAX(VSET(-746.0), VMIN(VSET(350.0), x));
    t = VADD(VMUL(x, VSET(1.44269504088896338700e+00)), VSET(shift));
    kd = VSUB(t, VSET(shift)); /* k = round(x / ln 2) */
    hi = VSUB(x, VMUL(kd, VSET(6.93147180369123816490e-01))); /* exact */
    lo = VMUL(kd, VSET(1.90821492927058770002e-10));
    r = VSUB(hi, lo);
    tt = VMUL(r, r);
    { /* fdlibm's P1..P5 by Estrin's scheme, not Horner's: a dependency chain
       * of 5 operations instead of 8 (exp 8% faster; the same worst error) */
        const VT t2 = VMUL(tt, tt);
        const VT q = VADD(VSET(1.66666666666666019037e-01), VMUL(tt, VSET(-2.77777777770155933842e-03)));
        VT u = VADD(VSET(6.61375632143793436117e-05), VMUL(tt, VSET(-1.65339022054652515390e-06)));
        u = VADD(u, VMUL(t2, VSET(4.13813679705723846039e-08)));
        p = VADD(q, VMUL(t2, u));
    }
    c = VSUB(r, VMUL(tt, p));
    y = VSUB(VSET(1.0), VSUB(VSUB(lo, VDIV(VMUL(r, c), VSUB(VSET(2.0), c))), hi));
    /* 2^(k + 512) from the bits of k + 1535 + shift (k + 1535 in [458, 1885]),
     * then 2^-512: the second product is the only rounding (subnormals). */
    s = VASD(VISLL(VASI(VADD(kd, VSET(shift + 1535.0))), 52));
    return VMUL(VMUL(y, s), VSET(0x1p-512));
}

/* log(u) + c for u positive normal finite and |c| <= ulp(u) / u: fdlibm's
 * e_log.c with the correction c of s_log1p.c. */
static inline ATTR VT FN(log_core)(VT u, VT c)
{
    const VT one = VSET(1.0);
    /* u = 2^k m with m in [sqrt(2)/2, sqrt(2)): adding 0x95f64 to the top of
     * the mantissa carries into the exponent exactly when m >= sqrt(2). */
    const VI bits = VASI(u);
    const VI mant = VIAND(bits, VISET(0x000FFFFFFFFFFFFFLL));
    const VI i = VIAND(VIADD(mant, VISET(0x00095F6400000000LL)), VISET(0x0010000000000000LL));
    const VT m = VASD(VIOR(mant, VIXOR(i, VISET(0x3FF0000000000000LL))));
    const VI e = VIADD(VISRL(bits, 52), VISRL(i, 52)); /* biased exponent of 2^k */
    /* k as a double: e in the low mantissa bits of 2^52 */
    const VT dk = VSUB(VASD(VIOR(e, VISET(0x4330000000000000LL))), VSET(4503599627371519.0));
    const VT f = VSUB(m, one);
    const VT hfsq = VMUL(VMUL(VSET(0.5), f), f);
    const VT s = VDIV(f, VADD(VSET(2.0), f));
    const VT z = VMUL(s, s), w = VMUL(z, z);
    const VT t1 = VMUL(w, VADD(VSET(3.999999999940941908e-01),
                               VMUL(w, VADD(VSET(2.222219843214978396e-01),
                                            VMUL(w, VSET(1.531383769920937332e-01))))));
    const VT t2 = VMUL(z, VADD(VSET(6.666666666666735130e-01),
                               VMUL(w, VADD(VSET(2.857142874366239149e-01),
                                            VMUL(w, VADD(VSET(1.818357216161805012e-01),
                                                         VMUL(w, VSET(1.479819860511658591e-01))))))));
    const VT R = VADD(t2, t1);
    const VT low = VADD(VMUL(dk, VSET(1.90821492927058770002e-10)), c);
    return VSUB(VMUL(dk, VSET(6.93147180369123816490e-01)),
                VSUB(VSUB(hfsq, VADD(VMUL(s, VADD(hfsq, R)), low)), f));
}

/* log1p(x) for x >= 0 (finite). */
static inline ATTR VT FN(log1p_v)(VT x)
{
    const VT one = VSET(1.0);
    const VT u = VADD(one, x);
    /* u = 1 + x rounded; c = (1 + x - u) / u to first order. u - 1 is exact
     * for u < 2 and u - x is exact for u >= 2 (Sterbenz). */
    const VT num = VSELGE(u, VSET(2.0), VSUB(one, VSUB(u, x)), VSUB(x, VSUB(u, one)));
    return FN(log_core)(u, VDIV(num, u));
}

/* log(x) for positive normal finite x (a subnormal x, 0, a negative x, inf
 * or NaN give a wrong finite value: callers screen them). */
static inline ATTR VT FN(log_v)(VT x) { return FN(log_core)(x, VZERO); }

/* In place on x[0..n): the tail goes through one vector padded with PAD (a
 * value F takes without trouble), so every element sees the same
 * operations. Two vectors per iteration, in one statement: the compiler
 * interleaves the two chains, and exp runs 13% faster than one vector at a
 * time (whose long chain, with its division, fills the scheduler before the
 * next vector's work can start); four were slower again. Defined once; W,
 * VT, VLD and VST are those of the set where it is expanded. */
#ifndef NC_VMATH_SWEEP
#define NC_VMATH_SWEEP(F, PAD, x, n)                                                         \
    do {                                                                                     \
        size_t i_, j_;                                                                       \
        for (i_ = 0; i_ + 2 * W <= (n); i_ += 2 * W) {                                       \
            const VT a_ = F(VLD((x) + i_)), b_ = F(VLD((x) + i_ + W));                       \
            VST((x) + i_, a_);                                                               \
            VST((x) + i_ + W, b_);                                                           \
        }                                                                                    \
        for (; i_ + W <= (n); i_ += W) VST((x) + i_, F(VLD((x) + i_)));                      \
        if (i_ < (n)) {                                                                      \
            double buf_[W];                                                                  \
            for (j_ = 0; j_ < W; j_++) buf_[j_] = i_ + j_ < (n) ? (x)[i_ + j_] : (PAD);      \
            VST(buf_, F(VLD(buf_)));                                                         \
            for (j_ = 0; i_ + j_ < (n); j_++) (x)[i_ + j_] = buf_[j_];                       \
        }                                                                                    \
    } while (0)
#endif

/* 1 / sqrt(x): both operations correctly rounded, so the bits of the scalar
 * expression in every set (x <= 0 gives inf or NaN). */
static inline ATTR VT FN(rsqrt_v)(VT x) { return VDIV(VSET(1.0), VSQRT(x)); }

static ATTR void FN(vexp)(double *x, size_t n) { NC_VMATH_SWEEP(FN(exp_v), 0.0, x, n); }
static ATTR void FN(vlog1p)(double *x, size_t n) { NC_VMATH_SWEEP(FN(log1p_v), 0.0, x, n); }
/* x <- 1 / sqrt(x) */
static ATTR void FN(vrsqrt)(double *x, size_t n) { NC_VMATH_SWEEP(FN(rsqrt_v), 1.0, x, n); }
/* x <- log(x) for positive normal finite x. */
static ATTR void FN(vlog)(double *x, size_t n) { NC_VMATH_SWEEP(FN(log_v), 1.0, x, n); }

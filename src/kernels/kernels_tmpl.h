/*
 * pass_kernel_tmpl.h - the small-K kernels of the pass, written once and
 * compiled once per instruction set by pass_kernel.c, which defines before
 * each inclusion:
 *   SFX            suffix of the function names (_avx512, _avx2, _sse2, _scalar)
 *   ATTR           function attributes (the target() of the instruction set)
 *   VT, W          vector type and its number of doubles
 *   VLD VST VSET VZERO VADD VSUB VMUL VDIV VSQRT VFMA(a, b, c) = a b + c
 *   VHSUM(x)       sum of the lanes
 *   VHSUM4(a, b, c, d, out)  out[0..3] = the lane sums of a, b, c, d
 *   VPROJG(h, g)   g with 0 where h <= 0 and g > 0 (ReLU KKT residual)
 *   VCLAMP0(x)     x with +0 where x < 0 (the projection of nc__rule_apply)
 *   LA_K, LA_N     register tile of the logits: classes x columns
 *   RB_F, RB_K     register tile of the rank update: vectors of rows x classes
 *   PR_F, PR_N     register tile of the feature product: vectors of rows x columns
 *   VSELEQ(a, b, x, y)  x where a == b, else y
 *   VLDI32(p)      W int32 at p converted to doubles
 *   and the integer and selection macros of vmath_tmpl.h (vectorised exp, log1p)
 * P is read from a packed copy Pp (nc__pack_P): for each vector of W rows
 * its K entries are contiguous, so a tile's loads do not all fall into the
 * same cache set when d is a power of two (4K aliasing); rows beyond the last
 * whole vector are read from P itself.
 * Tiles are fixed at compile time, so the accumulators live in registers;
 * a partial tile at an edge repeats its first row / class / column (valid
 * memory, results discarded) instead of needing one more specialisation.
 * The rules' vector forms (FN(column), one branch per rule of nc__rules in
 * rule.h) mirror their scalar forms operation by operation (no fused
 * multiply-add), so that part is bit-identical to nc__rule_apply.
 */

#define NC_CAT_(a, b) a##b
#define NC_CAT(a, b) NC_CAT_(a, b)
#define FN(name) NC_CAT(name, SFX)

/* The prefetch stream of a kernel (nc__pf): PF_BEGIN before its loops with
 * the number of inner iterations, PF_NEXT once per inner iteration. Each
 * kernel is compiled with and without it (pfon, a constant), so that where
 * there is nothing to bring in (large K: the arithmetic hides memory) its
 * loop carries no prefetch instructions (7% at K = 100 otherwise). */
#define PF_BEGIN(pf, iters)                                                   \
    const char *const pf_b = pfon ? (pf)->base : NULL;                        \
    const size_t pf_l = pfon ? (pf)->len : 0;                                 \
    const size_t pf_s = pfon ? nc__pf_step(pf_l, (iters)) : 0;                \
    const size_t pf_a = nc__pf_ahead(pf_s);                                   \
    size_t pf_o = 0
#define PF_NEXT()                                                             \
    do {                                                                      \
        if (pfon) {                                                           \
            NC_PREFETCH(pf_b + pf_o);                                         \
            NC_PREFETCH(pf_b + nc__pf_second(pf_o, pf_a, pf_l));              \
            pf_o = nc__pf_advance(pf_o, pf_s, pf_l);                          \
        }                                                                     \
    } while (0)

/* Z (K x n, column i at Z + i K) = P^T H (+ b): P is d x K (ld d), H is
 * d x n (ld ldh). Vectorised along d, one horizontal sum per logit. */
static inline ATTR NC_ALWAYS_INLINE void FN(logits_body)(size_t d, size_t K, size_t n,
                                                         const double *Pp, const double *P,
                                                         const double *H, size_t ldh,
                                                         const double *b, double *Z,
                                                         const nc__pf *pf, const int pfon)
{
    const size_t dv = d - d % W, KW = K * W;
    size_t i0, k0, f;
    int a, c;
    PF_BEGIN(pf, ((n + LA_N - 1) / LA_N) * ((K + LA_K - 1) / LA_K) * (dv / W));
    for (i0 = 0; i0 < n; i0 += LA_N) {
        const size_t nc = n - i0 < LA_N ? n - i0 : LA_N;
        const double *hp[LA_N];
        for (c = 0; c < LA_N; c++) hp[c] = H + (i0 + ((size_t)c < nc ? (size_t)c : 0)) * ldh;
        for (k0 = 0; k0 < K; k0 += LA_K) {
            const size_t kc = K - k0 < LA_K ? K - k0 : LA_K;
            const double *pp[LA_K], *pk;
            size_t po[LA_K];
            VT acc[LA_K][LA_N];
            for (a = 0; a < LA_K; a++) {
                po[a] = (k0 + ((size_t)a < kc ? (size_t)a : 0)) * W;
                pp[a] = P + (k0 + ((size_t)a < kc ? (size_t)a : 0)) * d;
            }
#pragma GCC unroll 8
            for (a = 0; a < LA_K; a++)
#pragma GCC unroll 8
                for (c = 0; c < LA_N; c++) acc[a][c] = VZERO;
            for (f = 0, pk = Pp; f < dv; f += W, pk += KW) {
                VT hv[LA_N];
                PF_NEXT();
#pragma GCC unroll 8
                for (c = 0; c < LA_N; c++) hv[c] = VLD(hp[c] + f);
#pragma GCC unroll 8
                for (a = 0; a < LA_K; a++) {
                    const VT pv = VLD(pk + po[a]);
#pragma GCC unroll 8
                    for (c = 0; c < LA_N; c++) acc[a][c] = VFMA(pv, hv[c], acc[a][c]);
                }
            }
            if (nc == LA_N && dv == d) {
                /* the logits of a column four at a time, constant indices
                 * into acc so that it stays in registers */
                const int k4 = (int)kc & ~3;
#pragma GCC unroll 8
                for (c = 0; c < LA_N; c++) {
                    double *z = Z + (i0 + (size_t)c) * K + k0;
#pragma GCC unroll 8
                    for (a = 0; a + 4 <= LA_K; a += 4)
                        if (a < k4) VHSUM4(acc[a][c], acc[a + 1][c], acc[a + 2][c], acc[a + 3][c], z + a);
#pragma GCC unroll 8
                    for (a = 0; a < LA_K; a++)
                        if (a >= k4 && a < (int)kc) z[a] = VHSUM(acc[a][c]);
                    if (b)
                        for (a = 0; a < (int)kc; a++) z[a] += b[k0 + (size_t)a];
                }
            } else
                for (c = 0; c < (int)nc; c++)
                    for (a = 0; a < (int)kc; a++) {
                        double s = VHSUM(acc[a][c]);
                        for (f = dv; f < d; f++) s += pp[a][f] * hp[c][f];
                        Z[(i0 + (size_t)c) * K + k0 + (size_t)a] = b ? b[k0 + (size_t)a] + s : s;
                    }
        }
    }
}

static ATTR void FN(logits)(size_t d, size_t K, size_t n, const double *Pp, const double *P,
                            const double *H, size_t ldh, const double *b, double *Z,
                            const nc__pf *pf)
{
    if (pf)
        FN(logits_body)(d, K, n, Pp, P, H, ldh, b, Z, pf, 1);
    else
        FN(logits_body)(d, K, n, Pp, P, H, ldh, b, Z, pf, 0);
}

/* gP (d x K, ld d) += H Z^T: H d x n (ld ldh), Z K x n. Vectorised along d;
 * each register tile of gP sums over all n columns before touching memory. */
static inline ATTR NC_ALWAYS_INLINE void FN(rank_update_body)(size_t d, size_t K, size_t n,
                                                              const double *H, size_t ldh,
                                                              const double *Z, double *gP,
                                                              const nc__pf *pf, const int pfon)
{
    const size_t nvec = d / W, dv = nvec * W;
    size_t k0, v0, i, f, k;
    int a, r;
    PF_BEGIN(pf, ((K + RB_K - 1) / RB_K) * ((nvec + RB_F - 1) / RB_F) * n);
    for (k0 = 0; k0 < K; k0 += RB_K) {
        const size_t kc = K - k0 < RB_K ? K - k0 : RB_K;
        size_t zo[RB_K];
        for (a = 0; a < RB_K; a++) zo[a] = k0 + ((size_t)a < kc ? (size_t)a : 0);
        for (v0 = 0; v0 < nvec; v0 += RB_F) {
            const size_t fc = nvec - v0 < RB_F ? nvec - v0 : RB_F;
            size_t fo[RB_F];
            VT acc[RB_F][RB_K];
            for (r = 0; r < RB_F; r++) fo[r] = (v0 + ((size_t)r < fc ? (size_t)r : 0)) * W;
#pragma GCC unroll 8
            for (r = 0; r < RB_F; r++)
#pragma GCC unroll 8
                for (a = 0; a < RB_K; a++) acc[r][a] = VZERO;
            for (i = 0; i < n; i++) {
                const double *h = H + i * ldh;
                const double *z = Z + i * K;
                VT hv[RB_F];
                PF_NEXT();
#pragma GCC unroll 8
                for (r = 0; r < RB_F; r++) hv[r] = VLD(h + fo[r]);
#pragma GCC unroll 8
                for (a = 0; a < RB_K; a++) {
                    const VT zv = VSET(z[zo[a]]);
#pragma GCC unroll 8
                    for (r = 0; r < RB_F; r++) acc[r][a] = VFMA(hv[r], zv, acc[r][a]);
                }
            }
            if (kc == RB_K && fc == RB_F) {
#pragma GCC unroll 8
                for (a = 0; a < RB_K; a++)
#pragma GCC unroll 8
                    for (r = 0; r < RB_F; r++) {
                        double *g = gP + (k0 + (size_t)a) * d + fo[r];
                        VST(g, VADD(VLD(g), acc[r][a]));
                    }
            } else
                for (a = 0; a < (int)kc; a++)
                    for (r = 0; r < (int)fc; r++) {
                        double *g = gP + (k0 + (size_t)a) * d + fo[r];
                        VST(g, VADD(VLD(g), acc[r][a]));
                    }
        }
    }
    /* Rows beyond the last full vector. */
    for (k = 0; k < K; k++)
        for (f = dv; f < d; f++) {
            double s = 0.0;
            for (i = 0; i < n; i++) s += H[i * ldh + f] * Z[i * K + k];
            gP[k * d + f] += s;
        }
}

static ATTR void FN(rank_update)(size_t d, size_t K, size_t n, const double *H, size_t ldh,
                                 const double *Z, double *gP, const nc__pf *pf)
{
    if (pf)
        FN(rank_update_body)(d, K, n, H, ldh, Z, gP, pf, 1);
    else
        FN(rank_update_body)(d, K, n, H, ldh, Z, gP, pf, 0);
}

/* G (d x n, ld ldg) = P Z: P d x K (ld d), Z K x n. Vectorised along d,
 * PR_N columns share each load of P. */
static inline ATTR NC_ALWAYS_INLINE void FN(product_body)(size_t d, size_t K, size_t n,
                                                          const double *Pp, const double *P,
                                                          const double *Z, double *G, size_t ldg,
                                                          const nc__pf *pf, const int pfon)
{
    const size_t nvec = d / W, dv = nvec * W;
    size_t i0, v0, k, f;
    int r, c;
    PF_BEGIN(pf, ((n + PR_N - 1) / PR_N) * ((nvec + PR_F - 1) / PR_F) * K);
    for (i0 = 0; i0 < n; i0 += PR_N) {
        const size_t nc = n - i0 < PR_N ? n - i0 : PR_N;
        const double *zp[PR_N];
        for (c = 0; c < PR_N; c++) zp[c] = Z + (i0 + ((size_t)c < nc ? (size_t)c : 0)) * K;
        for (v0 = 0; v0 < nvec; v0 += PR_F) {
            const size_t fc = nvec - v0 < PR_F ? nvec - v0 : PR_F;
            size_t fo[PR_F];
            const double *pv0[PR_F];
            VT acc[PR_F][PR_N];
            for (r = 0; r < PR_F; r++) {
                fo[r] = (v0 + ((size_t)r < fc ? (size_t)r : 0)) * W;
                pv0[r] = Pp + fo[r] * K;
            }
#pragma GCC unroll 8
            for (r = 0; r < PR_F; r++)
#pragma GCC unroll 8
                for (c = 0; c < PR_N; c++) acc[r][c] = VZERO;
            for (k = 0; k < K; k++) {
                VT pv[PR_F];
                PF_NEXT();
#pragma GCC unroll 8
                for (r = 0; r < PR_F; r++) pv[r] = VLD(pv0[r] + k * W);
#pragma GCC unroll 8
                for (c = 0; c < PR_N; c++) {
                    const VT zv = VSET(zp[c][k]);
#pragma GCC unroll 8
                    for (r = 0; r < PR_F; r++) acc[r][c] = VFMA(pv[r], zv, acc[r][c]);
                }
            }
            if (nc == PR_N && fc == PR_F) {
#pragma GCC unroll 8
                for (c = 0; c < PR_N; c++)
#pragma GCC unroll 8
                    for (r = 0; r < PR_F; r++) VST(G + (i0 + (size_t)c) * ldg + fo[r], acc[r][c]);
            } else
                for (c = 0; c < (int)nc; c++)
                    for (r = 0; r < (int)fc; r++) VST(G + (i0 + (size_t)c) * ldg + fo[r], acc[r][c]);
        }
        for (c = 0; c < (int)nc; c++)
            for (f = dv; f < d; f++) {
                double s = 0.0;
                for (k = 0; k < K; k++) s += P[k * d + f] * zp[c][k];
                G[(i0 + (size_t)c) * ldg + f] = s;
            }
    }
}

static ATTR void FN(product)(size_t d, size_t K, size_t n, const double *Pp, const double *P,
                             const double *Z, double *G, size_t ldg, const nc__pf *pf)
{
    if (pf)
        FN(product_body)(d, K, n, Pp, P, Z, G, ldg, pf, 1);
    else
        FN(product_body)(d, K, n, Pp, P, Z, G, ldg, pf, 0);
}

/* The sums of FN(columns), one set per column parity: two chains of
 * additions, not one, so the next column need not wait for the last. */
typedef struct FN(col_sums) {
    VT n, h, g, hnew, v, s;
    double tn, th, tg, tnew, tv, ts;
} FN(col_sums);

/* The rule FN(column) applies: none, plain gradient descent (a rule with
 * NC__RULE_V_MOMENTUM run without its buffer v), or the vector form of the
 * rule of kind k, COL_RULE + k: one case per entry of nc__rules (rule.h),
 * each with its branch in FN(column), its buffers there (v, s), its line
 * in FN(columns)' choice of the case and its copy in the dispatcher.
 * tests/test_kernels_rules.c checks every rule's vector form against its scalar
 * form, bit for bit. */
#ifndef NC__COL_RULES
#define NC__COL_RULES
enum {
    COL_NONE,
    COL_GD,
    COL_RULE,
    COL_HEAVY = COL_RULE + NC__RULE_HEAVY_BALL,
    COL_NESTEROV = COL_RULE + NC__RULE_NESTEROV,
    COL_ADAM = COL_RULE + NC__RULE_ADAM,
    COL_END /* one past the last rule's case */
};
typedef char nc__every_rule_has_a_vector_form[COL_END - COL_RULE == NC__RULE_COUNT ? 1 : -1];
#endif

/* Column c; allnc, relu, store_g and rule (COL_*) are constants where the
 * dispatcher below instantiates the common cases, so their branches fold. */
static inline ATTR NC_ALWAYS_INLINE void FN(column)(const nc__col_args *A, size_t c, double *H,
                                                    double *G, size_t ldg, double *V, double *S,
                                                    const int32_t *labels, FN(col_sums) *acc,
                                                    const int allnc, const int relu,
                                                    const int store_g, const int rule)
{
    const size_t d = A->d, dv = d - d % W;
    const nc__rule *R = A->rule;
    const VT lH = VSET(A->lH);
    double *h = H + c * d, *g = G + c * ldg;
    /* the buffers of the rules (nc__rule_def.buffers): v for all, s for Adam */
    double *v = rule >= COL_HEAVY ? V + c * d : NULL, *s = rule == COL_ADAM ? S + c * d : NULL;
    const double *mu = allnc ? A->means + (size_t)labels[c] * d : NULL;
    const double *cg = allnc ? A->class_grad + (size_t)labels[c] * d : NULL;
    size_t f;
    for (f = 0; f < dv; f += W) {
        const VT hv = VLD(h + f);
        VT gv = VADD(VLD(g + f), VMUL(lH, hv)), pg;
        if (allnc) {
            const VT e = VSUB(hv, VLD(mu + f));
            acc->n = VFMA(e, e, acc->n);
            gv = VADD(gv, VADD(VMUL(VSET(A->a_inv), e), VLD(cg + f)));
        }
        pg = relu ? VPROJG(hv, gv) : gv;
        acc->h = VFMA(hv, hv, acc->h);
        acc->g = VFMA(pg, pg, acc->g);
        if (store_g) VST(g + f, gv);
        if (rule != COL_NONE) {
            VT step, x;
            if (rule == COL_ADAM) { /* the vector forms: Adam */
                VT vv = VLD(v + f), sq = VLD(s + f);
                vv = VADD(VMUL(VSET(R->beta1), vv), VMUL(VSET(1.0 - R->beta1), gv));
                sq = VADD(VMUL(VSET(R->beta2), sq), VMUL(VMUL(VSET(1.0 - R->beta2), gv), gv));
                step = VDIV(VMUL(vv, VSET(R->bc1)), VADD(VSQRT(VMUL(sq, VSET(R->bc2))), VSET(R->eps)));
                VST(v + f, vv);
                VST(s + f, sq);
                acc->v = VFMA(vv, vv, acc->v);
                acc->s = VFMA(sq, sq, acc->s);
            } else if (rule != COL_GD) { /* heavy ball, Nesterov */
                const VT m = VSET(R->momentum);
                const VT vv = VADD(VMUL(m, VLD(v + f)), gv);
                step = rule == COL_NESTEROV ? VADD(gv, VMUL(m, vv)) : vv;
                VST(v + f, vv);
                acc->v = VFMA(vv, vv, acc->v);
            } else
                step = gv; /* COL_GD */
            x = VSUB(hv, VMUL(VSET(R->lr), step));
            if (R->project) x = VCLAMP0(x);
            VST(h + f, x);
            acc->hnew = VFMA(x, x, acc->hnew);
        }
    }
    for (f = dv; f < d; f++) {
        double gf = g[f] + A->lH * h[f], pf;
        if (allnc) {
            const double e = h[f] - mu[f];
            acc->tn += e * e;
            gf += A->a_inv * e + cg[f];
        }
        pf = (relu && h[f] <= 0.0 && gf > 0.0) ? 0.0 : gf;
        acc->th += h[f] * h[f];
        acc->tg += pf * pf;
        if (store_g) g[f] = gf;
        if (rule != COL_NONE) {
            h[f] = nc__rule_apply(R, h[f], gf, v ? v + f : NULL, s ? s + f : NULL);
            acc->tnew += h[f] * h[f];
            if (v) acc->tv += v[f] * v[f];
            if (s) acc->ts += s[f] * s[f];
        }
    }
}

static inline ATTR NC_ALWAYS_INLINE void FN(columns_loop)(const nc__col_args *A, size_t n,
                                                          double *H, double *G, size_t ldg,
                                                          double *V, double *S,
                                                          const int32_t *labels, double out[6],
                                                          const int allnc, const int relu,
                                                          const int store_g, const int rule)
{
    /* Local copies: through A, each column would load d, lambda_H and the
     * rule's constants again (a store to h might change them, as far as the
     * compiler knows); copies whose address stays here live in registers. */
    nc__rule rl;
    nc__col_args al = *A;
    FN(col_sums) a0, a1;
    size_t c;
    if (A->rule) {
        rl = *A->rule;
        al.rule = &rl;
    }
    A = &al;
    a0.n = a0.h = a0.g = a0.hnew = a0.v = a0.s = VZERO;
    a0.tn = a0.th = a0.tg = a0.tnew = a0.tv = a0.ts = 0.0;
    a1 = a0;
    for (c = 0; c + 1 < n; c += 2) {
        FN(column)(A, c, H, G, ldg, V, S, labels, &a0, allnc, relu, store_g, rule);
        FN(column)(A, c + 1, H, G, ldg, V, S, labels, &a1, allnc, relu, store_g, rule);
    }
    if (c < n) FN(column)(A, c, H, G, ldg, V, S, labels, &a0, allnc, relu, store_g, rule);
    out[0] = VHSUM(VADD(a0.n, a1.n)) + (a0.tn + a1.tn);
    out[1] = VHSUM(VADD(a0.h, a1.h)) + (a0.th + a1.th);
    out[2] = VHSUM(VADD(a0.g, a1.g)) + (a0.tg + a1.tg);
    out[3] = VHSUM(VADD(a0.hnew, a1.hnew)) + (a0.tnew + a1.tnew);
    out[4] = VHSUM(VADD(a0.v, a1.v)) + (a0.tv + a1.tv);
    out[5] = VHSUM(VADD(a0.s, a1.s)) + (a0.ts + a1.ts);
}

/* The rest of the work on n consecutive columns (H, V, S with stride d, G
 * with stride ldg), in one sweep over each: the gradient g = (P z) +
 * lambda_H h [+ AllNC terms], its (projected) norm, the norm of h, and with
 * a rule the update of h (and v, s) in place. Sums over the n columns. */
static ATTR void FN(columns)(const nc__col_args *A, size_t n, double *H, double *G, size_t ldg,
                             double *V, double *S, const int32_t *labels, double out[6])
{
    const nc__rule *R = A->rule;
    /* the case of the rule (COL_RULE + its kind), or COL_GD for a momentum
     * rule without its buffer v */
    const int rule = !R ? COL_NONE
                     : R->kind == NC__RULE_ADAM ? COL_ADAM
                     : !V ? COL_GD
                     : R->kind == NC__RULE_NESTEROV ? COL_NESTEROV : COL_HEAVY;
    if (!A->means && !A->relu && !A->store_g) {
        /* the optimizer's step on free features: one copy per rule */
        switch (rule) {
        case COL_GD: FN(columns_loop)(A, n, H, G, ldg, V, S, labels, out, 0, 0, 0, COL_GD); return;
        case COL_HEAVY: FN(columns_loop)(A, n, H, G, ldg, V, S, labels, out, 0, 0, 0, COL_HEAVY); return;
        case COL_NESTEROV:
            FN(columns_loop)(A, n, H, G, ldg, V, S, labels, out, 0, 0, 0, COL_NESTEROV);
            return;
        case COL_ADAM: FN(columns_loop)(A, n, H, G, ldg, V, S, labels, out, 0, 0, 0, COL_ADAM); return;
        default: break;
        }
    }
    FN(columns_loop)(A, n, H, G, ldg, V, S, labels, out, A->means != NULL, A->relu, A->store_g, rule);
}

/* ---- small d: the block transposed, vectorised across columns ------------
 * At small d a column is less than a few vectors, so the column kernels above
 * spend their time in horizontal sums and tile edges. These work on the
 * block transposed (row r of an operand holds entry r of every column,
 * ld ldt, n a multiple of W): each product is then a short sum of
 * broadcast-times-row multiply-adds with no horizontal sum at all. */

/* G (d x n, ld ldg) = P Zt^T for d a multiple of W: column i of G from
 * column i of the transposed rows Zt (K x n, ld ldt), vectorised along d,
 * TP columns share each load of P (Pp, packed) and give TP independent
 * chains of multiply-adds (4 left each chain's latency exposed at small K:
 * 8 is 2.5-5% faster at d = 8 and 24); a group reads Zt up to its TP-th
 * column, within the rows' padding to a multiple of 8. The sum over k runs
 * in order from 0, as in product and t_gemm. */
#define TP 8
typedef char FN(tp_within_padding)[TP <= NC__SMALL_PAD ? 1 : -1];
static ATTR void FN(t_product)(size_t d, size_t K, size_t n, const double *Pp, const double *Zt,
                               size_t ldt, double *G, size_t ldg)
{
    size_t v, i, k;
    int c;
    for (v = 0; v < d; v += W) {
        const double *pv = Pp + v * K;
        for (i = 0; i < n; i += TP) {
            const size_t nc = n - i < TP ? n - i : TP;
            VT acc[TP];
#pragma GCC unroll 8
            for (c = 0; c < TP; c++) acc[c] = VZERO;
            for (k = 0; k < K; k++) {
                const VT p = VLD(pv + k * W);
                const double *z = Zt + k * ldt + i;
#pragma GCC unroll 8
                for (c = 0; c < TP; c++) acc[c] = VFMA(p, VSET(z[c]), acc[c]);
            }
            for (c = 0; c < (int)nc; c++) VST(G + (i + (size_t)c) * ldg + v, acc[c]);
        }
    }
}
#undef TP

/* Out (rows x n, ld ldo) = the transpose of In (n x rows, ld ldi), in
 * W x W blocks transposed in registers; the edges element by element. */
static ATTR void FN(transpose)(const double *In, size_t ldi, size_t rows, size_t n, double *Out,
                               size_t ldo)
{
    const size_t nw = n - n % W, rw = rows - rows % W;
    size_t i, r;
    int q;
    for (i = 0; i < nw; i += W) {
        for (r = 0; r < rw; r += W) {
            VT v[W];
#pragma GCC unroll 8
            for (q = 0; q < W; q++) v[q] = VLD(In + (i + (size_t)q) * ldi + r);
            VTRANSPOSE(v);
#pragma GCC unroll 8
            for (q = 0; q < W; q++) VST(Out + (r + (size_t)q) * ldo + i, v[q]);
        }
        for (q = 0; q < W; q++)
            for (r = rw; r < rows; r++) Out[r * ldo + i + (size_t)q] = In[(i + (size_t)q) * ldi + r];
    }
    for (; i < n; i++)
        for (r = 0; r < rows; r++) Out[r * ldo + i] = In[i * ldi + r];
}

/* Out (R x n) = A In (+ bias), In S x n, A_rs = coef[r rs + s ss]: the
 * logits (A = P^T: rs = d, ss = 1) and the feature gradient (A = P: rs = 1,
 * ss = d). The sum over s runs in order from 0, bias added last, as in the
 * column kernels. Register tiles of rt rows x tg vectors of columns: each
 * load of In serves rt rows, each broadcast of A tg vectors (GT_R x GT_V,
 * then single rows and vectors at the edges). Rows one at a time over 8
 * vectors loaded each vector of In once per row: 1.1 loads per multiply-add,
 * and a group of 8 at the end of a block repeated its last vector. */
#if W >= 8
#define GT_R 4 /* 16 accumulators + 4 operands: AVX-512's 32 registers */
#define GT_V 4
#else
#define GT_R 1 /* 16 registers: one row over 8 vectors measured best */
#define GT_V 8
#endif
static inline ATTR NC_ALWAYS_INLINE void FN(t_gemm_tile)(size_t S, const double *coef, size_t rs,
                                                         size_t ss, const double *In, size_t ldt,
                                                         const double *bias, double *Out, size_t r0,
                                                         size_t v0, const int rt, const int tg)
{
    VT acc[GT_R][GT_V];
    size_t s;
    int i, u;
#pragma GCC unroll 4
    for (i = 0; i < rt; i++)
#pragma GCC unroll 8
        for (u = 0; u < tg; u++) acc[i][u] = VZERO;
    for (s = 0; s < S; s++) {
        const double *in = In + s * ldt + v0 * W;
        VT x[GT_V];
#pragma GCC unroll 8
        for (u = 0; u < tg; u++) x[u] = VLD(in + (size_t)u * W);
#pragma GCC unroll 4
        for (i = 0; i < rt; i++) {
            const VT av = VSET(coef[(r0 + (size_t)i) * rs + s * ss]);
#pragma GCC unroll 8
            for (u = 0; u < tg; u++) acc[i][u] = VFMA(av, x[u], acc[i][u]);
        }
    }
#pragma GCC unroll 4
    for (i = 0; i < rt; i++) {
        double *out = Out + (r0 + (size_t)i) * ldt + v0 * W;
        if (bias) {
            const VT bv = VSET(bias[r0 + (size_t)i]);
#pragma GCC unroll 8
            for (u = 0; u < tg; u++) acc[i][u] = VADD(acc[i][u], bv);
        }
#pragma GCC unroll 8
        for (u = 0; u < tg; u++) VST(out + (size_t)u * W, acc[i][u]);
    }
}

static ATTR void FN(t_gemm)(size_t R, size_t S, size_t n, const double *coef, size_t rs, size_t ss,
                            const double *In, size_t ldt, const double *bias, double *Out)
{
    const size_t nv = n / W, rf = R - R % GT_R, vf = nv - nv % GT_V;
    size_t r0, v0;
    for (v0 = 0; v0 < vf; v0 += GT_V) {
        for (r0 = 0; r0 < rf; r0 += GT_R)
            FN(t_gemm_tile)(S, coef, rs, ss, In, ldt, bias, Out, r0, v0, GT_R, GT_V);
        for (; r0 < R; r0++) FN(t_gemm_tile)(S, coef, rs, ss, In, ldt, bias, Out, r0, v0, 1, GT_V);
    }
    for (; v0 < nv; v0++) {
        for (r0 = 0; r0 < rf; r0 += GT_R)
            FN(t_gemm_tile)(S, coef, rs, ss, In, ldt, bias, Out, r0, v0, GT_R, 1);
        for (; r0 < R; r0++) FN(t_gemm_tile)(S, coef, rs, ss, In, ldt, bias, Out, r0, v0, 1, 1);
    }
}
#undef GT_R
#undef GT_V

/* gP (d x K, ld d) += Ht Zt^T over n columns: each entry is a dot product
 * of two rows, TJ x TK of them per register tile. */
#define TJ 4
#if W >= 8
#define TK 4 /* 16 accumulators: AVX-512 has 32 registers */
#else
#define TK 2 /* 16 registers: 4 x 4 accumulators and their operands would spill */
#endif
static ATTR void FN(t_rank)(size_t d, size_t K, size_t n, const double *Ht, const double *Zt,
                            size_t ldt, double *gP)
{
    size_t j0, k0, c;
    int r, a;
    for (k0 = 0; k0 < K; k0 += TK) {
        const size_t kc = K - k0 < TK ? K - k0 : TK;
        const double *z[TK];
        for (a = 0; a < TK; a++) z[a] = Zt + (k0 + ((size_t)a < kc ? (size_t)a : 0)) * ldt;
        for (j0 = 0; j0 < d; j0 += TJ) {
            const size_t jc = d - j0 < TJ ? d - j0 : TJ;
            const double *h[TJ];
            VT acc[TK][TJ];
            for (r = 0; r < TJ; r++) h[r] = Ht + (j0 + ((size_t)r < jc ? (size_t)r : 0)) * ldt;
#pragma GCC unroll 8
            for (a = 0; a < TK; a++)
#pragma GCC unroll 8
                for (r = 0; r < TJ; r++) acc[a][r] = VZERO;
            for (c = 0; c < n; c += W) {
                VT zv[TK];
#pragma GCC unroll 8
                for (a = 0; a < TK; a++) zv[a] = VLD(z[a] + c);
#pragma GCC unroll 8
                for (r = 0; r < TJ; r++) {
                    const VT hv = VLD(h[r] + c);
#pragma GCC unroll 8
                    for (a = 0; a < TK; a++) acc[a][r] = VFMA(zv[a], hv, acc[a][r]);
                }
            }
            for (a = 0; a < (int)kc; a++)
                for (r = 0; r < (int)jc; r++) gP[(k0 + (size_t)a) * d + j0 + (size_t)r] += VHSUM(acc[a][r]);
        }
    }
}
#undef TJ
#undef TK

static ATTR void FN(t_scale)(size_t K, size_t n, double *Zt, size_t ldt, double c, double *gb)
{
    const size_t nv = n - n % W;
    const VT cv = VSET(c);
    size_t k, i;
    for (k = 0; k < K; k++) {
        double *z = Zt + k * ldt, t;
        VT acc = VZERO;
        for (i = 0; i < nv; i += W) {
            const VT x = VMUL(VLD(z + i), cv);
            VST(z + i, x);
            acc = VADD(acc, x);
        }
        for (; i < n; i++) z[i] *= c;
        if (!gb) continue;
        t = VHSUM(acc);
        for (i = nv; i < n; i++) t += z[i];
        gb[k] += t;
    }
}

#include "kernels/vmath_tmpl.h"

/* Labels c..c+W of labels[0..nl) as doubles; those past nl read as 0. */
static inline ATTR VT FN(load_labels)(const int32_t *labels, size_t c, size_t nl)
{
    int32_t lb[W];
    size_t j;
    if (c + W <= nl) return VLDI32(labels + c);
    for (j = 0; j < W; j++) lb[j] = c + j < nl ? labels[c + j] : 0;
    return VLDI32(lb);
}

/* The cross-entropy family on the columns of Zt (K x n, ld ldt, n a
 * multiple of W), column i the logits of a sample of class labels[i] (for
 * i < nl; the columns past nl are computed as class 0, and ignored). Per
 * column, the operations of nc__ce_family (with nc__softmax_block) in the
 * same order, so the same bits: z = Zt (+ tau log_prior), a = the first
 * index of the largest logit m, r = sum_{k != a} exp(z_k - m) in k order;
 * Zt becomes w_y (softmax(z) - e_y) with p_a = 1 / (1 + r) and, when y = a,
 * p_y - 1 = -r p_a (full precision at tiny loss); out[i] = w_y ((m - z_y) +
 * log1p(r)). w_y = cw[y] with cw, else 1 (a product by 1 is exact). The
 * label's logit, weight and gradient are selects, so no per-sample scalar
 * work is left. Five sweeps (out holds 4 n doubles: m - z_y, a, w_y from
 * the first, r): m, a, z_y, w_y and z - m; exp, row by row; r; the
 * gradient; the loss. One sweep per vector of columns would chain exp, the
 * division and log1p, and run at their latency; exp and log1p are vexp and
 * vlog1p on whole rows, two vectors at a time (their chains interleave:
 * t_ce 13% faster than with exp one vector at a time inside the sweep of r). */
static ATTR void FN(t_ce)(size_t K, size_t n, size_t nl, double *Zt, size_t ldt,
                          const int32_t *labels, double tau, const double *log_prior,
                          const double *cw, double *out)
{
    double *dm = out, *ai = out + n, *wy = out + 2 * n, *r = out + 3 * n;
    size_t c, k;
    for (c = 0; c < n; c += W) { /* m, a, z_y, w_y; z - m */
        const VT yv = FN(load_labels)(labels, c, nl);
        VT mv = VZERO, av = VZERO, zy = VZERO, wv = VSET(1.0);
        for (k = 0; k < K; k++) {
            double *row = Zt + k * ldt + c;
            const VT kv = VSET((double)k);
            VT z = VLD(row);
            if (log_prior) {
                z = VADD(z, VSET(tau * log_prior[k]));
                VST(row, z);
            }
            if (k == 0)
                mv = z;
            else {
                av = VSELGE(mv, z, av, kv); /* first largest: only z > m moves it */
                mv = VSELGE(mv, z, mv, z);
            }
            zy = VSELEQ(yv, kv, z, zy);
            if (cw) wv = VSELEQ(yv, kv, VSET(cw[k]), wv);
        }
        for (k = 0; k < K; k++) VST(Zt + k * ldt + c, VSUB(VLD(Zt + k * ldt + c), mv));
        VST(dm + c, VSUB(mv, zy));
        VST(ai + c, av);
        VST(wy + c, wv);
    }
    for (k = 0; k < K; k++) FN(vexp)(Zt + k * ldt, n); /* exp, row by row */
    for (c = 0; c < n; c += W) { /* r, in k order; + 0 at k == a */
        const VT av = VLD(ai + c);
        VT sv = VZERO;
        for (k = 0; k < K; k++)
            sv = VADD(sv, VSELEQ(av, VSET((double)k), VZERO, VLD(Zt + k * ldt + c)));
        VST(r + c, sv);
    }
    for (c = 0; c < n; c += W) { /* the gradient */
        const VT yv = FN(load_labels)(labels, c, nl);
        const VT av = VLD(ai + c), wv = VLD(wy + c), sv = VLD(r + c);
        const VT inv = VDIV(VSET(1.0), VADD(VSET(1.0), sv));
        const VT nr = VMUL(VSET(-1.0), sv); /* -r, with -0 for r = +0 as in the scalar -r */
        for (k = 0; k < K; k++) {
            double *row = Zt + k * ldt + c;
            const VT kv = VSET((double)k);
            const VT p = VSELEQ(av, kv, inv, VMUL(VLD(row), inv));
            VT g = VSELEQ(yv, kv, VSELEQ(av, kv, VMUL(nr, p), VSUB(p, VSET(1.0))), p);
            if (cw) g = VMUL(g, wv);
            VST(row, g);
        }
    }
    FN(vlog1p)(r, n); /* the loss; r is no longer needed */
    for (c = 0; c < n; c += W) VST(dm + c, VMUL(VLD(wy + c), VADD(VLD(dm + c), VLD(r + c))));
}

/* The squared error on the columns of Zt (K x n, ld ldt, n a multiple of
 * W), column i of class labels[i] (i < nl; past nl: class 0), as
 * nc__loss_mse does it per sample: z_y -= ts (the gradient z - ts e_y, in
 * place) and out[i] = (sum_k z_k^2 in k order) / 2. */
static ATTR void FN(t_mse)(size_t K, size_t n, size_t nl, double *Zt, size_t ldt,
                           const int32_t *labels, double ts, double *out)
{
    size_t c, k;
    for (c = 0; c < n; c += W) {
        const VT yv = FN(load_labels)(labels, c, nl);
        VT sv = VZERO;
        for (k = 0; k < K; k++) {
            double *row = Zt + k * ldt + c;
            const VT z0 = VLD(row);
            const VT z = VSELEQ(yv, VSET((double)k), VSUB(z0, VSET(ts)), z0);
            VST(row, z);
            sv = VADD(sv, VMUL(z, z));
        }
        VST(out + c, VMUL(sv, VSET(0.5)));
    }
}

static const nc__kernels FN(kernel_table) = {
    FN(logits), FN(rank_update), FN(product), FN(columns), FN(vexp), FN(vlog1p), FN(vlog), FN(vrsqrt), FN(t_gemm), FN(t_rank), FN(t_ce), FN(t_mse), FN(t_product), FN(transpose), FN(t_scale), PR_N, W,
};

#undef SFX
#undef ATTR
#undef VT
#undef W
#undef VLD
#undef VST
#undef VSET
#undef VZERO
#undef VADD
#undef VSUB
#undef VMUL
#undef VDIV
#undef VSQRT
#undef VFMA
#undef VHSUM
#undef VHSUM4
#undef VPROJG
#undef VCLAMP0
#undef LA_K
#undef LA_N
#undef RB_F
#undef RB_K
#undef PR_F
#undef PR_N
#undef VI
#undef VASI
#undef VASD
#undef VISET
#undef VIADD
#undef VIAND
#undef VIOR
#undef VIXOR
#undef VISLL
#undef VISRL
#undef VMIN
#undef VMAX
#undef VSELGE
#undef VSELEQ
#undef VLDI32
#undef VTRANSPOSE

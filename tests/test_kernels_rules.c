/*
 * test_kernels_rules.c - the table of first-order rules (nc__rules, kernels/rule.h)
 * against the code that uses it: every entry in kind order and found by
 * its algorithm; each rule's scalar form is nc__rule_apply's case for it,
 * bit for bit; and each rule's vector form, run by the column kernel of
 * every instruction set this CPU has, gives the scalar form's bits on every
 * entry of H, v and s (free features: the kernels' copy specialised for the
 * rule; ReLU: their general copy), with the norms of the new H, v and s.
 * A rule added to the table without its case in nc__rule_apply or without
 * its vector form in the kernels fails here.
 *
 * White box: includes the kernels' private header.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/kernels.h"

static uint64_t state = 88172645463325252ULL;
static double uniform(double lo, double hi) /* xorshift64 */
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return lo + (hi - lo) * ((double)(state >> 11) / 9007199254740992.0);
}

static int same_bits(const double *a, const double *b, size_t n)
{
    return memcmp(a, b, n * sizeof(double)) == 0;
}

/* The rule of kind k at step 3 with the given momentum and projection. */
static nc__rule make_rule(int k, double momentum, int project)
{
    nc__rule r;
    memset(&r, 0, sizeof r);
    r.kind = (nc__rule_kind)k;
    r.lr = 0.05;
    r.momentum = momentum;
    r.beta1 = 0.9;
    r.beta2 = 0.999;
    r.eps = 1e-8;
    if (nc__rules[k].begin) nc__rules[k].begin(&r, 3.0);
    r.project = project;
    return r;
}

static void test_table(void)
{
    int k, j, p;
    char desc[200];
    for (k = 0; k < NC__RULE_COUNT; k++) {
        const nc__rule_def *def = &nc__rules[k];
        snprintf(desc, sizeof desc, "rule %d: kind is its index", k);
        nc_test_int(def->kind, k, desc);
        snprintf(desc, sizeof desc, "rule %s: found by its algorithm", def->name);
        nc_test_true(nc__rule_lookup(def->algorithm) == def, desc);
        snprintf(desc, sizeof desc, "rule %s: scalar form and divergence bound given", def->name);
        nc_test_true(def->step != NULL && def->step_bound != NULL && def->name[0] != '\0', desc);
        snprintf(desc, sizeof desc, "rule %s: known buffers and hyper-parameters", def->name);
        nc_test_true((def->buffers & ~(NC__RULE_V | NC__RULE_V_MOMENTUM | NC__RULE_S)) == 0 &&
                         (def->params >> NC__PARAM_COUNT) == 0 && def->params != 0,
                     desc);
        for (j = 0; j < k; j++) {
            snprintf(desc, sizeof desc, "rules %s and %s: distinct names and algorithms",
                     nc__rules[j].name, def->name);
            nc_test_true(strcmp(nc__rules[j].name, def->name) != 0 &&
                             nc__rules[j].algorithm != def->algorithm,
                         desc);
        }
    }
    nc_test_true(nc__rule_lookup(NC_OPT_LBFGS) == NULL, "L-BFGS is not a first-order rule");
    {
        nc__rule r;
        for (p = 0; p < NC__PARAM_COUNT; p++) {
            const double *a = nc__rule_param(&r, (nc__param)p);
            int distinct = a != NULL;
            for (j = 0; j < p; j++) distinct &= a != nc__rule_param(&r, (nc__param)j);
            snprintf(desc, sizeof desc, "hyper-parameter %d: its own field of nc__rule", p);
            nc_test_true(distinct, desc);
        }
    }
}

/* nc__rule_apply against the table's scalar form: x - lr step, projected. */
static void test_scalar_forms(void)
{
    int k, variant, project, i;
    char desc[200];
    for (k = 0; k < NC__RULE_COUNT; k++)
        for (variant = 0; variant < 2; variant++) {
            const nc__rule_def *def = &nc__rules[k];
            const double mu = variant ? 0.0 : 0.9;
            const unsigned b = nc__rule_buffers(def, mu);
            if (variant && !(def->buffers & NC__RULE_V_MOMENTUM)) continue;
            for (project = 0; project < 2; project++) {
                const nc__rule r = make_rule(k, mu, project);
                int same = 1;
                for (i = 0; i < 1000; i++) {
                    const double x = uniform(-2.0, 2.0), g = uniform(-3.0, 3.0);
                    double v0 = uniform(-1.0, 1.0), s0 = uniform(0.0, 2.0);
                    double v1 = v0, s1 = s0, want, got;
                    want = x - r.lr * def->step(&r, g, b & NC__RULE_V ? &v0 : NULL,
                                                b & NC__RULE_S ? &s0 : NULL);
                    if (project && want < 0.0) want = 0.0;
                    got = nc__rule_apply(&r, x, g, b & NC__RULE_V ? &v1 : NULL,
                                         b & NC__RULE_S ? &s1 : NULL);
                    same &= same_bits(&got, &want, 1) && same_bits(&v0, &v1, 1) &&
                            same_bits(&s0, &s1, 1);
                }
                snprintf(desc, sizeof desc,
                         "rule %s (momentum %g, projected %d): nc__rule_apply is its scalar form",
                         def->name, mu, project);
                nc_test_true(same, desc);
            }
        }
}

/* The column kernel with each rule against nc__rule_apply on every entry. */
static void test_vector_forms(void)
{
    enum { D = 13, N = 5, LDG = D + 3 }; /* D: whole vectors and a tail in every set */
    double H0[D * N], G[LDG * N], V0[D * N], S0[D * N];
    double H[D * N], V[D * N], S[D * N], Hr[D * N], Vr[D * N], Sr[D * N], out[6];
    int32_t labels[N] = {0, 1, 0, 1, 0};
    const double lH = 0.01;
    int isa, k, variant, relu;
    size_t i, c, f;
    char desc[200];
    for (i = 0; i < LDG * N; i++) G[i] = uniform(-2.0, 2.0);
    for (i = 0; i < D * N; i++) {
        H0[i] = uniform(-1.0, 1.0);
        V0[i] = uniform(-0.5, 0.5);
        S0[i] = uniform(0.0, 1.0);
    }
    H0[3] = 0.0; /* at the bound of the projection */
    for (isa = NC__ISA_SCALAR; isa <= NC__ISA_AVX512; isa++) {
        const nc__kernels *kern;
        if (!nc__isa_supported((nc__isa)isa)) continue;
        kern = nc__kernels_get((nc__isa)isa);
        for (k = 0; k < NC__RULE_COUNT; k++)
            for (variant = 0; variant < 2; variant++) {
                const nc__rule_def *def = &nc__rules[k];
                const double mu = variant ? 0.0 : 0.9;
                const unsigned b = nc__rule_buffers(def, mu);
                if (variant && !(def->buffers & NC__RULE_V_MOMENTUM)) continue;
                for (relu = 0; relu < 2; relu++) {
                    const nc__rule r = make_rule(k, mu, relu);
                    nc__col_args args;
                    double h2 = 0.0, v2 = 0.0, s2 = 0.0;
                    memset(&args, 0, sizeof args);
                    args.d = D;
                    args.lH = lH;
                    args.relu = relu;
                    args.rule = &r;
                    memcpy(H, H0, sizeof H);
                    memcpy(V, V0, sizeof V);
                    memcpy(S, S0, sizeof S);
                    memcpy(Hr, H0, sizeof H);
                    memcpy(Vr, V0, sizeof V);
                    memcpy(Sr, S0, sizeof S);
                    if (relu)
                        for (i = 0; i < D * N; i++) H[i] = Hr[i] = fabs(H0[i]);
                    kern->columns(&args, N, H, G, LDG, b & NC__RULE_V ? V : NULL,
                                  b & NC__RULE_S ? S : NULL, labels, out);
                    for (c = 0; c < N; c++)
                        for (f = 0; f < D; f++) {
                            const size_t e = c * D + f;
                            const double g = G[c * LDG + f] + lH * Hr[e];
                            Hr[e] = nc__rule_apply(&r, Hr[e], g, b & NC__RULE_V ? Vr + e : NULL,
                                                   b & NC__RULE_S ? Sr + e : NULL);
                            h2 += Hr[e] * Hr[e];
                            v2 += Vr[e] * Vr[e];
                            s2 += Sr[e] * Sr[e];
                        }
                    snprintf(desc, sizeof desc,
                             "%s, rule %s (momentum %g), %s: H, v, s: the scalar form's bits",
                             nc__isa_name((nc__isa)isa), def->name, mu, relu ? "ReLU" : "free");
                    nc_test_true(same_bits(H, Hr, D * N) && same_bits(V, Vr, D * N) &&
                                     same_bits(S, Sr, D * N),
                                 desc);
                    snprintf(desc, sizeof desc, "%s, rule %s (momentum %g), %s: ||H'||^2",
                             nc__isa_name((nc__isa)isa), def->name, mu, relu ? "ReLU" : "free");
                    nc_test_rel(out[3], h2, 1e-13, desc);
                    if (b & NC__RULE_V) {
                        snprintf(desc, sizeof desc, "%s, rule %s, %s: ||v'||^2",
                                 nc__isa_name((nc__isa)isa), def->name, relu ? "ReLU" : "free");
                        nc_test_rel(out[4], v2, 1e-13, desc);
                    } else
                        nc_test_abs(out[4], 0.0, 0.0, "no v: ||v'||^2 = 0");
                    if (b & NC__RULE_S) {
                        snprintf(desc, sizeof desc, "%s, rule %s, %s: ||s'||^2",
                                 nc__isa_name((nc__isa)isa), def->name, relu ? "ReLU" : "free");
                        nc_test_rel(out[5], s2, 1e-13, desc);
                    } else
                        nc_test_abs(out[5], 0.0, 0.0, "no s: ||s'||^2 = 0");
                }
            }
    }
}

int main(void)
{
    test_table();
    test_scalar_forms();
    test_vector_forms();
    return nc_test_summary("test_kernels_rules");
}

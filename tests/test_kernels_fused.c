/*
 * test_kernels_fused.c - the fused first-order step (H updated inside the pass, by
 * the small-K kernels, the small-d path or the BLAS-3 path, on 1, 2 or 3
 * threads) against an
 * unfused reference: full gradients from nc_model_gradient_vector on a copy
 * forced to the BLAS-3 path on one thread, and the update rule applied here.
 * After 100 steps every variable and the reported objective must agree to
 * 1e-12 relative, for CE, MSE and label smoothing, bias on and off, depth 1
 * and 2, free and ReLU features, AllNC terms, a fixed classifier, GD,
 * heavy-ball and Nesterov momentum and Adam, with every instruction set
 * this CPU has. Two runs with the same thread count must be bit-identical,
 * whether the parts run on worker threads or one after the other.
 *
 * White box: includes the private header to choose kernels, instruction
 * sets, block sizes (so that blocks and thread ranges split the columns
 * unevenly) and to make the worker threads run on a problem this small.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ncollapse.h"
#include "testutil.h"
#include "model/model.h"

enum { GD, HEAVY, NESTEROV, ADAM, METHODS };
/* The methods cover every rule of the table (kernels/rule.h; GD and HEAVY
 * are its heavy-ball rule without and with momentum): a rule added there
 * needs its method, cases and reference step here. */
typedef char every_rule_has_a_method[METHODS - 1 == NC__RULE_COUNT ? 1 : -1];

typedef struct tcase {
    const char *name;
    nc_loss loss;
    int bias, depth, relu, allnc, fixed, method;
} tcase;

static const tcase cases[] = {
    {"CE bias heavy-ball", NC_LOSS_CE, 1, 1, 0, 0, 0, HEAVY},
    {"MSE no-bias Nesterov", NC_LOSS_MSE, 0, 1, 0, 0, 0, NESTEROV},
    {"CE bias depth-2 Adam", NC_LOSS_CE, 1, 2, 0, 0, 0, ADAM},
    {"MSE bias depth-2 heavy-ball", NC_LOSS_MSE, 1, 2, 0, 0, 0, HEAVY},
    {"CE no-bias ReLU heavy-ball", NC_LOSS_CE, 0, 1, 1, 0, 0, HEAVY},
    {"MSE bias ReLU Adam", NC_LOSS_MSE, 1, 1, 1, 0, 0, ADAM},
    {"CE bias AllNC heavy-ball", NC_LOSS_CE, 1, 1, 0, 1, 0, HEAVY},
    {"CE bias fixed-ETF Nesterov", NC_LOSS_CE, 1, 1, 0, 0, 1, NESTEROV},
    {"label-smoothing bias GD", NC_LOSS_LABEL_SMOOTHING, 1, 1, 0, 0, 0, GD},
};

/* d not a multiple of any vector width (then D = 16 for the small-d path's
 * branch for d a multiple of the width); K = 7 leaves partial class tiles;
 * imbalanced classes. */
static size_t D = 13;
/* Columns per block of the fused path (8: several blocks per thread range;
 * at d = 53 40, so that a block spans several vectors and its transposed
 * rows are padded). */
static size_t BLOCK_FUSED = 8;
static const size_t K = 7, COUNTS[7] = {19, 15, 12, 10, 8, 5, 4};
#define N_SAMPLES 73
#define STEPS 100

static const double LR = 0.05, LR_H = 0.05 * N_SAMPLES / 7.0, LR_ADAM = 0.01, MU = 0.9;

static nc_model *make_model(const tcase *c)
{
    nc_model *m = NULL;
    nc_test_int(nc_model_create_counts(&m, D, K, COUNTS), NC_SUCCESS, "create");
    nc_model_set_loss(m, c->loss);
    nc_model_set_bias(m, c->bias);
    nc_model_set_weight_decay(m, 5e-3, 2e-3, 1e-2);
    if (c->depth > 1) nc_model_set_depth(m, (size_t)c->depth);
    if (c->relu) nc_model_set_features(m, NC_FEATURES_RELU);
    if (c->allnc) nc_model_set_allnc(m, 0.5, 0.2);
    nc_model_init_gaussian(m, 0.4, 7);
    if (c->fixed) nc_model_fix_classifier_etf(m, 1.0, 3, NULL, 0);
    if (c->bias) {
        const double b[7] = {0.1, -0.2, 0.05, 0.3, -0.1, 0.0, 0.2};
        nc_model_set_b(m, b);
    }
    return m;
}

/* The state after STEPS steps of the fused optimizer; objective of the last step. */
static double *run_fused(const tcase *c, int kernel, nc__isa isa, size_t threads, int pool,
                         double *objective)
{
    nc_model *m = make_model(c);
    nc_optimizer *o = NULL;
    double *x;
    size_t t;
    nc_test_int(nc__model_set_kernel(m, kernel, isa), NC_SUCCESS, "set kernel");
    nc_test_int(nc_model_set_threads(m, threads), NC_SUCCESS, "set threads");
    /* small blocks: several per thread range, with remainders */
    nc_test_int(nc__model_set_blocks(m, 7, BLOCK_FUSED, pool ? 0 : (size_t)-1), NC_SUCCESS,
                "set blocks");
    nc_optimizer_create(&o, m, c->method == ADAM ? NC_OPT_ADAM : c->method == NESTEROV ? NC_OPT_NESTEROV : NC_OPT_GD);
    if (c->method == ADAM)
        nc_optimizer_set_learning_rate(o, LR_ADAM);
    else {
        nc_optimizer_set_learning_rate(o, LR);
        nc_optimizer_set_feature_learning_rate(o, LR_H);
        nc_optimizer_set_momentum(o, c->method == GD ? 0.0 : MU);
    }
    for (t = 0; t < STEPS; t++)
        if (nc_optimizer_step(o) != NC_SUCCESS) break;
    nc_test_int(t, STEPS, "all steps taken");
    *objective = nc_optimizer_objective(o);
    x = (double *)malloc(nc_model_num_variables(m) * sizeof(double));
    nc_model_get_variables(m, x);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return x;
}

/* Unfused: gradient of all variables, then the rule, variable by variable. */
static double *run_reference(const tcase *c, double *objective)
{
    nc_model *m = make_model(c);
    const size_t n = nc_model_num_variables(m);
    const size_t h0 = (size_t)(c->depth - 1) * D * D + (c->fixed ? 0 : D * K), h1 = h0 + D * N_SAMPLES;
    double *x = (double *)malloc(n * sizeof(double)), *g = (double *)malloc(n * sizeof(double));
    double *v = (double *)calloc(n, sizeof(double)), *s = (double *)calloc(n, sizeof(double));
    size_t t, i;
    nc_test_int(nc__model_set_kernel(m, NC__KERNEL_BLAS, NC__ISA_SCALAR), NC_SUCCESS, "reference kernel");
    nc_model_get_variables(m, x);
    for (t = 0; t < STEPS; t++) {
        const double bc1 = 1.0 / (1.0 - pow(0.9, (double)(t + 1)));
        const double bc2 = 1.0 / (1.0 - pow(0.999, (double)(t + 1)));
        nc_model_gradient_vector(m, objective, g);
        for (i = 0; i < n; i++) {
            const int is_h = i >= h0 && i < h1;
            double step;
            if (c->method == ADAM) {
                v[i] = 0.9 * v[i] + (1.0 - 0.9) * g[i];
                s[i] = 0.999 * s[i] + (1.0 - 0.999) * g[i] * g[i];
                step = LR_ADAM * ((v[i] * bc1) / (sqrt(s[i] * bc2) + 1e-8));
            } else {
                const double lr = is_h ? LR_H : LR;
                if (c->method == GD)
                    step = lr * g[i];
                else {
                    v[i] = MU * v[i] + g[i];
                    step = lr * (c->method == NESTEROV ? g[i] + MU * v[i] : v[i]);
                }
            }
            x[i] -= step;
            if (c->relu && is_h && x[i] < 0.0) x[i] = 0.0;
        }
        nc_test_int(nc_model_set_variables(m, x), NC_SUCCESS, "reference step");
    }
    free(g); free(v); free(s);
    nc_model_destroy(m);
    return x;
}

/* The kernels' transpose (W x W blocks in registers, edges one by one)
 * against the definition, every shape up to 19 x 19, with leading
 * dimensions larger than the shape: every entry exact, nothing else written. */
/* The kernels' prefetch stream (nc__pf_step, nc__pf_ahead, nc__pf_second,
 * nc__pf_advance, as PF_NEXT in pass_kernel_tmpl.h uses them): every offset
 * inside the range, and every cache line of the range but at most the last
 * two asked for whenever the range needs at most 128 bytes per iteration,
 * at any alignment. */
static void test_prefetch_stream(void)
{
    static const size_t lens[] = {1, 8, 63, 64, 65, 200, 1000, 4096, 40960, 81920, 245760, 245761};
    static const size_t iters[] = {1, 2, 3, 7, 160, 320, 1920, 19200};
    static unsigned char hit[245761 / 64 + 3];
    size_t a, b, mis, bad = 0, missed = 0, covered = 0;
    for (a = 0; a < sizeof lens / sizeof *lens; a++)
        for (b = 0; b < sizeof iters / sizeof *iters; b++)
            for (mis = 0; mis < 64; mis += 9) {
                const size_t len = lens[a], it = iters[b], step = nc__pf_step(len, it);
                const size_t first = mis / 64, last = (mis + len - 1) / 64;
                size_t o = 0, k, line, all = 1;
                memset(hit, 0, sizeof hit);
                for (k = 0; k < it; k++) {
                    const size_t o2 = nc__pf_second(o, nc__pf_ahead(step), len);
                    if (o >= len || o2 >= len) bad++;
                    hit[(mis + o) / 64] = hit[(mis + o2) / 64] = 1;
                    o = nc__pf_advance(o, step, len);
                }
                for (line = first; line + 2 <= last; line++) all &= hit[line];
                /* more than 128 bytes per iteration: partial by design */
                if (len > 128 * it) continue;
                covered++;
                if (!all) missed++;
            }
    nc_test_int(bad, 0, "prefetch stream: offsets outside the range");
    nc_test_int(missed, 0, "prefetch stream: lines of the range not asked for");
    nc_test_true(covered > 300, "prefetch stream: cases with full coverage");
}

static void test_transpose_kernel(void)
{
    enum { MAXS = 19, LDI = MAXS + 3, LDO = MAXS + 5 };
    double In[MAXS * LDI], Out[MAXS * LDO];
    size_t rows, n, i, r;
    int isa;
    char desc[160];
    for (i = 0; i < MAXS * LDI; i++) In[i] = (double)i + 0.25;
    for (isa = NC__ISA_SCALAR; isa <= NC__ISA_AVX512; isa++) {
        const nc__kernels *kern;
        int bad = 0;
        if (!nc__isa_supported((nc__isa)isa)) continue;
        kern = nc__kernels_get((nc__isa)isa);
        for (rows = 1; rows <= MAXS; rows++)
            for (n = 1; n <= MAXS; n++) {
                for (i = 0; i < MAXS * LDO; i++) Out[i] = -1.0;
                kern->transpose(In, LDI, rows, n, Out, LDO);
                for (r = 0; r < MAXS; r++)
                    for (i = 0; i < LDO; i++) {
                        const double want = (r < rows && i < n) ? In[i * LDI + r] : -1.0;
                        if (memcmp(&Out[r * LDO + i], &want, sizeof want) != 0) bad++;
                    }
            }
        snprintf(desc, sizeof desc, "transpose %s: all shapes up to %d x %d exact (%d wrong)",
                 nc__isa_name((nc__isa)isa), MAXS, MAXS, bad);
        nc_test_true(bad == 0, desc);
    }
}

/* The losses on a transposed block (the small-d path) against the same
 * losses in the usual layout: the same bits, value and gradient, with every
 * instruction set's transposed softmax. The block has ties for the largest
 * logit, samples whose label is the largest logit by far (loss ~ 1e-20, where
 * p_y - 1 must come from -r/(1+r)), one where r = 0 (so p_y - 1 = -0), n not
 * a multiple of the vector width, and more samples than one chunk of the
 * column softmax (NC__SOFTMAX_CHUNK). */
static void test_transposed_losses(void)
{
    enum { KL = 7, NL = 157, LDT = 160 };
    static const nc_loss losses[] = {NC_LOSS_CE, NC_LOSS_WEIGHTED_CE, NC_LOSS_LOGIT_ADJUSTED,
                                     NC_LOSS_MSE};
    const double weights[KL] = {1.0, 2.5, 0.5, 1.0, 3.0, 0.25, 1.5};
    const double log_prior[KL] = {-1.0, -1.5, -2.0, -2.2, -2.5, -3.0, -3.3};
    double Z[KL * NL], Zc[KL * NL], Zt[KL * LDT], scratch[4 * LDT];
    int32_t labels[NL];
    /* 157 samples: 20 vectors of 8 once padded; 149: 19, so that the
     * kernels' loops over pairs of vectors end with a single one */
    static const size_t nls[2] = {157, 149};
    size_t i, k, li, ni;
    int isa;
    uint64_t x = 12345;
    char desc[160];
    for (i = 0; i < NL; i++) {
        labels[i] = (int32_t)((i * 5) % KL);
        for (k = 0; k < KL; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            Z[i * KL + k] = ((double)(x >> 11) / 9007199254740992.0 - 0.5) * 8.0;
        }
        if (i % 6 == 1) Z[i * KL + 3] = Z[i * KL + 5] = 20.0;           /* a tie */
        if (i % 6 == 2) Z[i * KL + (size_t)labels[i]] = 60.0;           /* loss ~ 1e-26 */
        if (i % 6 == 3) Z[i * KL + (size_t)labels[i]] = Z[i * KL] = 7.0; /* tie with the label */
        if (i % 6 == 4) Z[i * KL + (size_t)labels[i]] = 800.0; /* r = +0: p_y - 1 = -0 */
    }
    for (li = 0; li < sizeof losses / sizeof losses[0]; li++) {
        const nc__loss_def *def = nc__loss_lookup(losses[li]);
        nc__loss_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.param[NC_LOSS_PARAM_TARGET_SCALE] = 1.5;
        ctx.param[NC_LOSS_PARAM_LOGIT_TAU] = 0.75;
        ctx.class_weights = weights;
        ctx.log_prior = log_prior;
        nc_test_true(def && def->value_grad_t != NULL, "the loss has a transposed form");
        if (!def || !def->value_grad_t) continue;
        for (ni = 0; ni < 2; ni++)
        for (isa = NC__ISA_SCALAR; isa <= NC__ISA_AVX512; isa++) {
            const size_t nl = nls[ni];
            const nc__kernels *kern;
            double vc, vt;
            int same = 1;
            if (!nc__isa_supported((nc__isa)isa)) continue;
            kern = nc__kernels_get((nc__isa)isa);
            ctx.vexp = kern->vexp;
            ctx.vlog1p = kern->vlog1p;
            ctx.t_ce = kern->t_ce;
            ctx.t_mse = kern->t_mse;
            memcpy(Zc, Z, sizeof Z);
            for (k = 0; k < KL * LDT; k++) Zt[k] = 0.0;
            for (i = 0; i < nl; i++)
                for (k = 0; k < KL; k++) Zt[k * LDT + i] = Z[i * KL + k];
            vc = def->value_grad(&ctx, Zc, KL, nl, labels);
            vt = def->value_grad_t(&ctx, Zt, LDT, KL, nl, labels, scratch);
            for (i = 0; i < nl; i++)
                for (k = 0; k < KL; k++)
                    if (memcmp(&Zt[k * LDT + i], &Zc[i * KL + k], sizeof(double)) != 0) same = 0;
            snprintf(desc, sizeof desc, "%s transposed, %s, %zu samples: gradient bit-identical",
                     def->name, nc__isa_name((nc__isa)isa), nl);
            nc_test_true(same, desc);
            snprintf(desc, sizeof desc, "%s transposed, %s, %zu samples: value bit-identical (%.17g, %.17g)",
                     def->name, nc__isa_name((nc__isa)isa), nl, vc, vt);
            nc_test_true(memcmp(&vc, &vt, sizeof vc) == 0 && vc > 0.0, desc);
        }
    }
}

/* The small-d path (features transposed per block) on every instruction
 * set against the unfused reference; 3 threads twice, bit for bit. */
static void check_small(const tcase *c, const double *ref, double f_ref, size_t n, double *worst_small,
                        double *worst_obj, int *identical)
{
    const nc__isa best = nc__isa_detect();
    size_t threads;
    double f, f2;
    int isa;
    char desc[256];
    for (isa = NC__ISA_SCALAR; isa <= NC__ISA_AVX512; isa++) {
        if (!nc__isa_supported((nc__isa)isa)) continue;
        for (threads = 1; threads <= (isa == (int)best ? 3u : 1u); threads++) {
            double *x = run_fused(c, NC__KERNEL_SMALL, (nc__isa)isa, threads, 1, &f);
            const double e = rel_fro(x, ref, n), eo = fabs(f - f_ref) / fabs(f_ref);
            snprintf(desc, sizeof desc, "%s, d = %zu, small-d %s, %zu threads: state vs unfused (%.2e)",
                     c->name, D, nc__isa_name((nc__isa)isa), threads, e);
            nc_test_abs(e, 0.0, 1e-12, desc);
            snprintf(desc, sizeof desc, "%s, d = %zu, small-d %s, %zu threads: objective vs unfused",
                     c->name, D, nc__isa_name((nc__isa)isa), threads);
            nc_test_abs(eo, 0.0, 1e-12, desc);
            if (e > *worst_small) *worst_small = e;
            if (eo > *worst_obj) *worst_obj = eo;
            if (isa == (int)best && threads == 3) {
                double *y = run_fused(c, NC__KERNEL_SMALL, best, threads, 1, &f2);
                const int same = memcmp(x, y, n * sizeof(double)) == 0 && memcmp(&f, &f2, sizeof f) == 0;
                snprintf(desc, sizeof desc, "%s, d = %zu, small-d, 3 threads: two runs bit-identical", c->name, D);
                nc_test_true(same, desc);
                *identical &= same;
                free(y);
            }
            free(x);
        }
    }
}

int main(void)
{
    size_t ci, threads;
    double worst_fused = 0.0, worst_small = 0.0, worst_blas = 0.0, worst_obj = 0.0;
    int isas = 0, identical = 1;
    const nc__isa best = nc__isa_detect();
    test_prefetch_stream();
    test_transpose_kernel();
    test_transposed_losses();
    for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const tcase *c = &cases[ci];
        nc_model *probe = make_model(c);
        const size_t n = nc_model_num_variables(probe);
        double f_ref, f, f2, *ref = run_reference(c, &f_ref), *keep[4] = {NULL, NULL, NULL, NULL};
        double fkeep[4] = {0, 0, 0, 0};
        int isa;
        char desc[256];
        nc_model_destroy(probe);
        for (isa = NC__ISA_SCALAR; isa <= NC__ISA_AVX512; isa++) {
            if (!nc__isa_supported((nc__isa)isa)) continue;
            if (ci == 0) isas++;
            for (threads = 1; threads <= (isa == (int)best ? 3u : 1u); threads++) {
                double *x = run_fused(c, NC__KERNEL_FUSED, (nc__isa)isa, threads, 1, &f);
                const double e = rel_fro(x, ref, n), eo = fabs(f - f_ref) / fabs(f_ref);
                snprintf(desc, sizeof desc, "%s, fused %s, %zu threads: state vs unfused (%.2e)",
                         c->name, nc__isa_name((nc__isa)isa), threads, e);
                nc_test_abs(e, 0.0, 1e-12, desc);
                snprintf(desc, sizeof desc, "%s, fused %s, %zu threads: objective vs unfused", c->name,
                         nc__isa_name((nc__isa)isa), threads);
                nc_test_abs(eo, 0.0, 1e-12, desc);
                if (e > worst_fused) worst_fused = e;
                if (eo > worst_obj) worst_obj = eo;
                if (isa == (int)best) {
                    keep[threads] = x;
                    fkeep[threads] = f;
                } else
                    free(x);
            }
        }
        check_small(c, ref, f_ref, n, &worst_small, &worst_obj, &identical);
        for (threads = 1; threads <= 3; threads += 2) {
            double *x = run_fused(c, NC__KERNEL_BLAS, best, threads, 1, &f);
            const double e = rel_fro(x, ref, n);
            snprintf(desc, sizeof desc, "%s, BLAS-3, %zu threads: state vs unfused (%.2e)", c->name,
                     threads, e);
            nc_test_abs(e, 0.0, 1e-12, desc);
            if (e > worst_blas) worst_blas = e;
            free(x);
        }
        /* Same thread count: bit-identical, on workers or inline (2 threads
         * run inline here, 3 on workers again). */
        for (threads = 2; threads <= 3; threads++) {
            double *y = run_fused(c, NC__KERNEL_FUSED, best, threads, threads != 2, &f2);
            const int same = memcmp(keep[threads], y, n * sizeof(double)) == 0 &&
                             memcmp(&fkeep[threads], &f2, sizeof f2) == 0;
            snprintf(desc, sizeof desc, "%s, %zu threads: two runs bit-identical", c->name, threads);
            nc_test_true(same, desc);
            identical &= same;
            free(y);
        }
        for (threads = 1; threads <= 3; threads++) free(keep[threads]);
        free(ref);
    }
    /* d = 16, a multiple of every vector width: the small-d path's feature
     * gradient straight into columns (t_product), two register blocks of
     * the transpose; and the fused kernels with no scalar rows left over
     * (at d = 13 each set but the scalar one has some). d = 53, beyond the
     * small-d path: the fused column path with its own transposed logits
     * for the loss (column_loss_t in pass.c), blocks of 40 columns. */
    for (D = 16; D <= 53; D += 37, BLOCK_FUSED = 40)
    for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const tcase *c = &cases[ci];
        nc_model *probe = make_model(c);
        const size_t n = nc_model_num_variables(probe);
        double f_ref, f, *ref = run_reference(c, &f_ref);
        int isa;
        char desc[256];
        nc_model_destroy(probe);
        if (D <= 47) check_small(c, ref, f_ref, n, &worst_small, &worst_obj, &identical);
        for (isa = NC__ISA_SCALAR; isa <= NC__ISA_AVX512; isa++) {
            if (!nc__isa_supported((nc__isa)isa)) continue;
            for (threads = 1; threads <= (isa == (int)best ? 3u : 1u); threads += 2) {
                double *x = run_fused(c, NC__KERNEL_FUSED, (nc__isa)isa, threads, 1, &f);
                const double e = rel_fro(x, ref, n), eo = fabs(f - f_ref) / fabs(f_ref);
                snprintf(desc, sizeof desc, "d = %zu, %s, fused %s, %zu threads: state vs unfused (%.2e)",
                         D, c->name, nc__isa_name((nc__isa)isa), threads, e);
                nc_test_abs(e, 0.0, 1e-12, desc);
                snprintf(desc, sizeof desc, "d = %zu, %s, fused %s, %zu threads: objective vs unfused",
                         D, c->name, nc__isa_name((nc__isa)isa), threads);
                nc_test_abs(eo, 0.0, 1e-12, desc);
                if (e > worst_fused) worst_fused = e;
                if (eo > worst_obj) worst_obj = eo;
                free(x);
            }
        }
        free(ref);
    }
    printf("test_kernels_fused: %d instruction sets; largest relative difference to the unfused reference "
           "after %d steps: fused %.2e, small-d %.2e, BLAS-3 %.2e, objective %.2e; same thread count "
           "%s\n",
           isas, STEPS, worst_fused, worst_small, worst_blas, worst_obj, identical ? "bit-identical" : "DIFFERS");
    return nc_test_summary("test_kernels_fused");
}

/*
 * test_io_crafted.c - hostile checkpoints. Valid checkpoints of four
 * configurations (GD with momentum and a step schedule on a deep ReLU model
 * with bias, class weights and AllNC terms; Adam with a cosine schedule and
 * a fixed ETF classifier; L-BFGS on MSE; Nesterov on focal loss) have each
 * 8-byte word, header included, replaced by hostile values (NaN, +-Inf,
 * negatives, 0, 1e300, subnormals, integer extremes) with the checksum
 * recomputed, and are loaded into a model and optimizer of the same
 * configuration. Every file must be refused with a named error and a
 * "checkpoint: ..." message, leaving both handles bit for bit unchanged, or
 * accepted with a state that the public setters accept value by value and
 * on which a step runs and the metrics compute. The counts refused /
 * accepted-valid / accepted-invalid are printed; the last must be 0.
 * NC_TEST_QUICK (sanitizer and valgrind stages): two configurations and
 * six values.
 */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "harness.h"
#include "optim/optim.h"
#include "ckpt_configs.h"

static char dir[256];

/* ---- the oracle of an accepted load --------------------------------------- */

static int all_finite(const double *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static int all_nonneg(const double *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!(x[i] >= 0)) return 0;
    return 1;
}

/* 1 if every restored value is one the setters accept (replayed through
 * them on fresh handles of configuration c), the buffers are finite, the
 * second moments >= 0, the counters exact, and then a step runs to a clean
 * status and the metrics compute. why gets the first failure. */
static int state_valid(int c, nc_model *m, nc_optimizer *o, char *why, size_t cap)
{
    nc_model *sm = NULL;
    nc_optimizer *so = NULL;
    nc_metrics *met = NULL;
    const double *p[16];
    size_t len[16], k, i, l;
    double *buf = NULL;
    int ok = 1, q;
    nc_status st;
    make(c, &sm, &so);
#define REQUIRE(cond, text)                        \
    do {                                           \
        if (ok && !(cond)) {                       \
            snprintf(why, cap, "%s", text);        \
            ok = 0;                                \
        }                                          \
    } while (0)
    REQUIRE(m->features == NC_FEATURES_FREE || m->features == NC_FEATURES_RELU, "features");
    REQUIRE(m->bias == 0 || m->bias == 1, "bias flag");
    REQUIRE(m->fixed == 0 || m->fixed == 1, "fixed flag");
    REQUIRE(nc_model_set_loss(sm, m->loss) == NC_SUCCESS, "loss kind");
    for (q = 0; q < NC__LOSS_PARAM_COUNT; q++)
        REQUIRE(nc_model_set_loss_parameter(sm, (nc_loss_parameter)q, m->loss_ctx.param[q]) ==
                    NC_SUCCESS, "loss parameter");
    REQUIRE(nc_model_set_weight_decay(sm, m->lambda_W, m->lambda_H, m->lambda_b) == NC_SUCCESS,
            "weight decay");
    REQUIRE(nc_model_set_allnc(sm, m->alpha, m->beta) == NC_SUCCESS, "AllNC weights");
    REQUIRE(nc_model_set_class_weights(sm, m->class_weights) == NC_SUCCESS, "class weights");
    nc_model_unfix_classifier(sm);
    REQUIRE(nc_model_set_features(sm, NC_FEATURES_FREE) == NC_SUCCESS, "features (scratch)");
    buf = (double *)malloc(m->d * (m->N > m->d ? m->N : m->d) * sizeof(double));
    for (l = 0; l < m->depth && ok; l++) {
        nc_model_get_layer(m, l, buf, m->d);
        REQUIRE(nc_model_set_layer(sm, l, buf, m->d) == NC_SUCCESS, "layer");
    }
    nc_model_get_b(m, buf);
    REQUIRE(nc_model_set_b(sm, buf) == NC_SUCCESS, "b");
    nc_model_get_H(m, buf, m->d);
    REQUIRE(nc_model_set_H(sm, buf, m->d) == NC_SUCCESS, "H");
    REQUIRE(nc_model_set_features(sm, m->features) == NC_SUCCESS, "H under the feature model");
    free(buf);

    REQUIRE(nc_optimizer_set_block_learning_rate(so, NC_BLOCK_LAYERS, o->lr_layers) == NC_SUCCESS,
            "learning rate (layers)");
    REQUIRE(nc_optimizer_set_block_learning_rate(so, NC_BLOCK_FEATURES, o->lr_H) == NC_SUCCESS,
            "learning rate (H)");
    REQUIRE(nc_optimizer_set_block_learning_rate(so, NC_BLOCK_BIAS, o->lr_b) == NC_SUCCESS,
            "learning rate (b)");
    REQUIRE(nc_optimizer_set_momentum(so, o->hp.momentum) == NC_SUCCESS, "momentum");
    REQUIRE(nc_optimizer_set_adam(so, o->hp.beta1, o->hp.beta2, o->hp.eps) == NC_SUCCESS, "Adam");
    REQUIRE(nc_optimizer_set_schedule(so, o->schedule, o->period, o->sched_param) == NC_SUCCESS &&
                o->period >= 1, "schedule");
    REQUIRE(nc_optimizer_set_max_iterations(so, o->max_iterations) == NC_SUCCESS,
            "iteration limit");
    REQUIRE(nc_optimizer_set_gradient_tolerance(so, o->gtol) == NC_SUCCESS, "tolerance");
    REQUIRE(o->buffers_valid == 0 || o->buffers_valid == 1, "buffer flag");
    REQUIRE(o->iterations <= ((size_t)1 << 53) && o->evaluations <= ((size_t)1 << 53),
            "step counter");
    REQUIRE(isfinite(o->nvs2) && o->nvs2 >= 0 && isfinite(o->nss2) && o->nss2 >= 0 &&
                isfinite(o->nvH2) && o->nvH2 >= 0 && isfinite(o->nsH2) && o->nsH2 >= 0,
            "buffer norms");
    k = arrays_of(m, o, p, len);
    for (i = 0; i < k; i++) REQUIRE(all_finite(p[i], len[i]), "a buffer is not finite");
    REQUIRE(all_nonneg(o->s_small, o->n_small), "s_small < 0");
    if (o->s_H) REQUIRE(all_nonneg(o->s_H, m->d * m->N), "s_H < 0");
    if (o->rule_def && (nc__rule_buffers(o->rule_def, o->hp.momentum) & NC__RULE_V))
        REQUIRE(o->v_H != NULL, "momentum without its buffer");
    if (o->algorithm == NC_OPT_LBFGS) {
        REQUIRE(o->hist_len <= o->history && o->hist_next < o->history, "L-BFGS indices");
        REQUIRE(o->lbfgs_valid == 0 || o->lbfgs_valid == 1, "L-BFGS flag");
        REQUIRE(!o->lbfgs_valid || isfinite(o->f), "L-BFGS objective");
        REQUIRE(o->lbfgs_stall < NC_LBFGS_STALL, "L-BFGS no-progress counter");
        REQUIRE(isfinite(o->lbfgs_best_f), "L-BFGS lowest objective");
        REQUIRE(o->lbfgs_best_g >= 0, "L-BFGS lowest gradient norm");
    }
    /* Usable: a step ends in a status (a huge learning rate may diverge, a
     * clean failure), and the metrics compute or say why not. */
    if (ok) {
        st = nc_optimizer_step(o);
        REQUIRE(st == NC_SUCCESS || st == NC_ERR_DIVERGED || st == NC_ERR_OVERFLOW ||
                    st == NC_STOP_NO_PROGRESS || st == NC_STOP_GRADIENT_TOLERANCE,
                "a step failed");
        nc_metrics_create(&met);
        st = nc_metrics_compute(met, m);
        REQUIRE(st == NC_SUCCESS || st == NC_ERR_UNAVAILABLE || st == NC_ERR_NON_FINITE,
                "the metrics failed");
        nc_metrics_destroy(met);
    }
#undef REQUIRE
    nc_optimizer_destroy(so);
    nc_model_destroy(sm);
    return ok;
}

/* ---- the crafted files ------------------------------------------------------ */

static uint64_t dbits(double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    return u;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int refused_ = 0, valid_ = 0, invalid_ = 0;

static void run_config(int c, const uint64_t *values, size_t nvalues)
{
    char path[300], crafted[300], why[200], desc[400];
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    unsigned char *orig, *img;
    size_t n, off, v, steps;
    int refused = 0, valid = 0, invalid = 0, unchanged = 1, named = 1;
    snap before, after;
    make(c, &m, &o);
    for (steps = 0; steps < 5; steps++) nc_optimizer_step(o);
    snprintf(path, sizeof path, "%s/valid.ckpt", dir);
    snprintf(crafted, sizeof crafted, "%s/crafted.ckpt", dir);
    nc_test_int(nc_checkpoint_save(path, m, o), NC_SUCCESS, "save the valid checkpoint");
    orig = nc_test_read_bytes(path, &n);
    nc_test_true(orig != NULL && n > 32, "read the valid checkpoint");
    if (!orig) return;
    img = (unsigned char *)malloc(n);
    snap_take(&before, m, o);
    for (off = 0; off + 8 < n; off += 8)
        for (v = 0; v < nvalues; v++) {
            nc_status st;
            memcpy(img, orig, n);
            put_u64(img + off, values[v]);
            if (memcmp(img, orig, n) == 0) continue; /* the value was already there */
            put_u64(img + n - 8, fnv1a(img, n - 8));
            nc_test_write_bytes(crafted, img, n);
            st = nc_checkpoint_load(crafted, m, o);
            if (st != NC_SUCCESS) {
                refused++;
                snap_take(&after, m, o);
                if (!snap_same(&before, &after) && unchanged) {
                    unchanged = 0;
                    snprintf(desc, sizeof desc, "%s: word %zu = 0x%llx refused (%s) but changed the "
                             "state", cfg_name(c), off / 8, (unsigned long long)values[v],
                             nc_status_name(st));
                    nc_test_true(0, desc);
                }
                free(after.arrays);
                if (named && (st >= 0 || strncmp(nc_model_last_error(m), "checkpoint: ", 12) != 0)) {
                    named = 0;
                    snprintf(desc, sizeof desc, "%s: word %zu = 0x%llx: %s with message '%s'",
                             cfg_name(c), off / 8, (unsigned long long)values[v],
                             nc_status_name(st), nc_model_last_error(m));
                    nc_test_true(0, desc);
                }
                continue;
            }
            if (state_valid(c, m, o, why, sizeof why)) {
                valid++;
            } else {
                invalid++;
                snprintf(desc, sizeof desc, "%s: word %zu = 0x%llx accepted with an invalid state: "
                         "%s", cfg_name(c), off / 8, (unsigned long long)values[v], why);
                nc_test_true(0, desc);
            }
            /* Back to the state before. */
            nc_optimizer_destroy(o);
            nc_model_destroy(m);
            make(c, &m, &o);
            if (nc_checkpoint_load(path, m, o) != NC_SUCCESS) {
                nc_test_true(0, "reload the valid checkpoint");
                goto done;
            }
            free(before.arrays);
            snap_take(&before, m, o);
        }
done:
    printf("%s: %zu words x %zu values: %d refused, %d accepted-valid, %d accepted-invalid\n",
           cfg_name(c), (n - 8) / 8, nvalues, refused, valid, invalid);
    nc_test_true(unchanged, "every refused load left both handles unchanged");
    nc_test_true(named, "every refusal has a failure code and a checkpoint: message");
    nc_test_true(refused > 0 && valid > 0, "both outcomes occur");
    refused_ += refused;
    valid_ += valid;
    invalid_ += invalid;
    free(before.arrays);
    free(img);
    free(orig);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    unlink(path);
    unlink(crafted);
}

int main(void)
{
    const int quick = getenv("NC_TEST_QUICK") != NULL;
    const uint64_t values[] = {
        dbits(NAN), dbits(-1.0), 0, dbits(1e300), 0x7fffffffffffffffULL, 0xffffffffffffffffULL,
        /* the rest only in full runs */
        dbits(INFINITY), dbits(-INFINITY), dbits(-1e300), dbits(-0.0), dbits(1.0), dbits(2.0),
        dbits(5e-324), dbits(-5e-324), dbits(DBL_MIN / 2), 1, 2, 0x8000000000000000ULL,
        0xffffffffULL, 0x100000000ULL, dbits(0.999999999), dbits(1.0 + DBL_EPSILON)};
    const size_t nvalues = quick ? 6 : sizeof values / sizeof values[0];
    int c;
    if (nc_test_make_temp_dir(dir, sizeof dir, "nc_crafted") != 0) return 1;
    for (c = 0; c < CFG_COUNT; c++) {
        if (quick && (c == CFG_ADAM_ETF || c == CFG_NESTEROV_FOCAL)) continue;
        run_config(c, values, nvalues);
    }
    printf("crafted checkpoints: %d refused, %d accepted-valid, %d accepted-invalid\n", refused_,
           valid_, invalid_);
    nc_test_int(invalid_, 0, "no crafted checkpoint accepted with an invalid state");
    rmdir(dir);
    return nc_test_summary("test_io_crafted");
}

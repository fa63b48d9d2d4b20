/*
 * test_io_checkpoint.c - checkpoints: a run interrupted, saved, restored into
 * fresh handles and resumed ends bit-identical to an uninterrupted run (for
 * GD with momentum, Adam, L-BFGS, ReLU and depth 2), and an L-BFGS run
 * resumed near the limit of the arithmetic stops at the same step with the
 * same status; a checkpoint saved by the progress callback mid-run resumes
 * bit-identically; corrupted, truncated,
 * mismatched and missing files are refused with named errors and change
 * nothing; a failed save leaves no file behind. A checkpoint of every loss
 * kind round-trips; a loss kind past the last, or a loss parameter outside
 * its range (checksum recomputed), is refused and changes nothing.
 */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "harness.h"
#include "ncollapse.h"

static char dir[256];

static nc_model *make_model(int relu, size_t depth)
{
    const size_t counts[3] = {40, 25, 15};
    nc_model *m = NULL;
    nc_model_create_counts(&m, 6, 3, counts);
    nc_model_set_bias(m, 1);
    nc_model_set_weight_decay(m, 1e-2, 5e-3, 1e-2);
    if (relu) nc_model_set_features(m, NC_FEATURES_RELU);
    nc_model_set_depth(m, depth);
    nc_model_init_gaussian(m, 0.5, 77);
    return m;
}

static nc_optimizer *make_opt(nc_model *m, nc_algorithm alg)
{
    nc_optimizer *o = NULL;
    nc_optimizer_create(&o, m, alg);
    if (alg == NC_OPT_GD) {
        nc_optimizer_set_momentum(o, 0.9);
        nc_optimizer_set_schedule(o, NC_SCHEDULE_STEP, 30, 0.5);
    }
    return o;
}

/* All variables of a model, for bitwise comparison. */
static double *snapshot(const nc_model *m, size_t *n)
{
    double *x;
    *n = nc_model_num_variables(m);
    x = (double *)malloc(*n * sizeof(double));
    nc_model_get_variables(m, x);
    return x;
}

static void check_resume(nc_algorithm alg, int relu, size_t depth, const char *name)
{
    char path[300], desc[200];
    nc_model *a = make_model(relu, depth), *b = make_model(relu, depth), *c = NULL;
    nc_optimizer *oa = make_opt(a, alg), *ob = make_opt(b, alg), *oc = NULL;
    double *xa, *xc;
    size_t na, nc_, t;
    snprintf(path, sizeof path, "%s/resume.ckpt", dir);
    for (t = 0; t < 120; t++) nc_optimizer_step(oa);
    for (t = 0; t < 50; t++) nc_optimizer_step(ob);
    snprintf(desc, sizeof desc, "%s: save", name);
    nc_test_int(nc_checkpoint_save(path, b, ob), NC_SUCCESS, desc);
    nc_optimizer_destroy(ob);
    nc_model_destroy(b);
    /* Fresh handles, different initial state and options: all restored. */
    {
        const size_t counts[3] = {40, 25, 15};
        nc_model_create_counts(&c, 6, 3, counts);
        nc_model_set_depth(c, depth);
        nc_model_init_gaussian(c, 2.0, 1);
        nc_optimizer_create(&oc, c, alg);
    }
    snprintf(desc, sizeof desc, "%s: load", name);
    nc_test_int(nc_checkpoint_load(path, c, oc), NC_SUCCESS, desc);
    nc_test_int(nc_optimizer_iterations(oc), 50, "step counter restored");
    for (t = 0; t < 70; t++) nc_optimizer_step(oc);
    xa = snapshot(a, &na);
    xc = snapshot(c, &nc_);
    snprintf(desc, sizeof desc, "%s: resumed run is bit-identical after 50 + 70 steps", name);
    nc_test_true(na == nc_ && memcmp(xa, xc, na * sizeof(double)) == 0, desc);
    nc_test_true(nc_model_get_bias(c) == 1 && nc_model_get_features(c) == (relu ? NC_FEATURES_RELU : NC_FEATURES_FREE),
                 "options restored");
    free(xa);
    free(xc);
    nc_optimizer_destroy(oa);
    nc_optimizer_destroy(oc);
    nc_model_destroy(a);
    nc_model_destroy(c);
    unlink(path);
}

/* L-BFGS at the limit of the arithmetic stops with NC_STOP_NO_PROGRESS
 * after a fixed number of steps without a new lowest objective or gradient
 * norm. Saved 5 steps before that stop (the counter is then well above 0)
 * and resumed in fresh handles, the run must stop at the same step with the
 * same status and the same state: the counter travels in the checkpoint. */
static void check_lbfgs_stop_resume(int relu)
{
    char path[300], desc[200];
    nc_model *a = make_model(relu, 1), *b = make_model(relu, 1), *c = make_model(relu, 1);
    nc_optimizer *oa = make_opt(a, NC_OPT_LBFGS), *ob = make_opt(b, NC_OPT_LBFGS);
    nc_optimizer *oc = make_opt(c, NC_OPT_LBFGS);
    nc_status st = NC_SUCCESS, stc = NC_SUCCESS;
    double *xa, *xc;
    size_t na, nc_, t, stop = 0, stopc = 0;
    const size_t limit = 5000;
    snprintf(path, sizeof path, "%s/lbfgs_stop.ckpt", dir);
    for (t = 1; t <= limit && st == NC_SUCCESS; t++) st = nc_optimizer_step(oa);
    stop = nc_optimizer_iterations(oa);
    snprintf(desc, sizeof desc, "L-BFGS%s: reaches the limit of the arithmetic (step %zu)",
             relu ? " (projected)" : "", stop);
    nc_test_int(st, NC_STOP_NO_PROGRESS, desc);
    if (st == NC_STOP_NO_PROGRESS && stop > 30) {
        for (t = 0; t + 5 < stop; t++) nc_optimizer_step(ob);
        nc_test_int(nc_checkpoint_save(path, b, ob), NC_SUCCESS, "save 5 steps before the stop");
        nc_test_int(nc_checkpoint_load(path, c, oc), NC_SUCCESS, "load");
        for (t = 1; t <= limit && stc == NC_SUCCESS; t++) stc = nc_optimizer_step(oc);
        stopc = nc_optimizer_iterations(oc);
        snprintf(desc, sizeof desc, "resumed L-BFGS%s stops at step %zu with %s (uninterrupted: %zu)",
                 relu ? " (projected)" : "", stopc, nc_status_name(stc), stop);
        nc_test_true(stc == st && stopc == stop, desc);
        xa = snapshot(a, &na);
        xc = snapshot(c, &nc_);
        nc_test_true(na == nc_ && memcmp(xa, xc, na * sizeof(double)) == 0,
                     "resumed L-BFGS: the final state is bit-identical");
        free(xa);
        free(xc);
    }
    nc_optimizer_destroy(oa);
    nc_optimizer_destroy(ob);
    nc_optimizer_destroy(oc);
    nc_model_destroy(a);
    nc_model_destroy(b);
    nc_model_destroy(c);
    unlink(path);
}

/* A checkpoint saved by the progress callback in the middle of a run, then
 * loaded into fresh handles and run for the remaining steps, ends
 * bit-identical to the uninterrupted run. */
typedef struct cb_save {
    const char *path;
    nc_model *m;
    nc_optimizer *o;
    size_t at;
    nc_status st;
} cb_save;

static int save_at(const nc_model *model, size_t iteration, double f, double g, void *user)
{
    cb_save *c = (cb_save *)user;
    (void)model;
    (void)f;
    (void)g;
    if (iteration == c->at) c->st = nc_checkpoint_save(c->path, c->m, c->o);
    return 0;
}

static void check_callback_resume(nc_algorithm alg, int relu, const char *name)
{
    char path[300], desc[200];
    nc_model *a = make_model(relu, 1), *c = make_model(relu, 1);
    nc_optimizer *oa = make_opt(a, alg), *oc = make_opt(c, alg);
    cb_save cb;
    double *xa, *xc;
    size_t na, nc_;
    snprintf(path, sizeof path, "%s/callback.ckpt", dir);
    cb.path = path;
    cb.m = a;
    cb.o = oa;
    cb.at = 40;
    cb.st = NC_ERR_IO;
    nc_optimizer_set_max_iterations(oa, 90);
    nc_optimizer_set_callback(oa, save_at, &cb, 20);
    nc_test_true(nc_optimizer_run(oa) >= 0, "the run with a saving callback");
    snprintf(desc, sizeof desc, "%s: saved by the callback at step 40", name);
    nc_test_int(cb.st, NC_SUCCESS, desc);
    nc_test_int(nc_checkpoint_load(path, c, oc), NC_SUCCESS, "load the mid-run checkpoint");
    nc_test_int(nc_optimizer_iterations(oc), 40, "the mid-run checkpoint is at step 40");
    nc_optimizer_set_max_iterations(oc, nc_optimizer_iterations(oa) - 40);
    nc_test_true(nc_optimizer_run(oc) >= 0, "the resumed run");
    xa = snapshot(a, &na);
    xc = snapshot(c, &nc_);
    snprintf(desc, sizeof desc, "%s: resumed from the callback's checkpoint, bit-identical at step %zu",
             name, nc_optimizer_iterations(oa));
    nc_test_true(nc_optimizer_iterations(oc) == nc_optimizer_iterations(oa) && na == nc_ &&
                     memcmp(xa, xc, na * sizeof(double)) == 0,
                 desc);
    free(xa);
    free(xc);
    nc_optimizer_destroy(oa);
    nc_optimizer_destroy(oc);
    nc_model_destroy(a);
    nc_model_destroy(c);
    unlink(path);
}

static void check_refusals(void)
{
    char good[300], bad[300];
    nc_model *m = make_model(0, 1), *other = NULL;
    nc_optimizer *o = make_opt(m, NC_OPT_GD), *ol = NULL;
    unsigned char *bytes;
    double *before, *after;
    size_t n, nb, na, t;
    const size_t counts4[3] = {40, 25, 16};
    snprintf(good, sizeof good, "%s/good.ckpt", dir);
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    for (t = 0; t < 10; t++) nc_optimizer_step(o);
    nc_test_int(nc_checkpoint_save(good, m, o), NC_SUCCESS, "save");
    bytes = nc_test_read_bytes(good, &n);
    nc_model_init_gaussian(m, 0.1, 5); /* a different state that must survive refusals */
    before = snapshot(m, &nb);

    bytes[n / 2] ^= 0x10;
    nc_test_write_bytes(bad, bytes, n);
    nc_test_int(nc_checkpoint_load(bad, m, o), NC_ERR_CHECKSUM, "flipped bit: checksum");
    nc_test_true(strlen(nc_model_last_error(m)) > 0, "refusal has a message");
    bytes[n / 2] ^= 0x10;
    nc_test_write_bytes(bad, bytes, n - 100);
    nc_test_int(nc_checkpoint_load(bad, m, o), NC_ERR_TRUNCATED, "truncated");
    nc_test_write_bytes(bad, bytes, 12);
    nc_test_int(nc_checkpoint_load(bad, m, o), NC_ERR_TRUNCATED, "truncated inside the header");
    bytes[0] = 'X';
    nc_test_write_bytes(bad, bytes, n);
    nc_test_int(nc_checkpoint_load(bad, m, o), NC_ERR_FORMAT, "bad magic");
    bytes[0] = 'N';
    bytes[8] = 9;
    nc_test_write_bytes(bad, bytes, n);
    nc_test_int(nc_checkpoint_load(bad, m, o), NC_ERR_FORMAT, "unknown version");
    bytes[8] = 1;
    {
        unsigned char *longer = (unsigned char *)calloc(n + 8, 1);
        memcpy(longer, bytes, n);
        nc_test_write_bytes(bad, longer, n + 8);
        nc_test_int(nc_checkpoint_load(bad, m, o), NC_ERR_FILE_SIZE, "bytes after the checksum");
        free(longer);
    }
    nc_test_int(nc_checkpoint_load("/nonexistent/dir/x.ckpt", m, o), NC_ERR_IO, "missing file");
    nc_model_create_counts(&other, 6, 3, counts4);
    nc_test_int(nc_checkpoint_load(good, other, NULL), NC_ERR_MISMATCH, "other sizes");
    nc_model_destroy(other);
    nc_optimizer_create(&ol, m, NC_OPT_LBFGS);
    nc_test_int(nc_checkpoint_load(good, m, ol), NC_ERR_MISMATCH, "other algorithm");
    nc_optimizer_destroy(ol);
    nc_model_set_depth(m, 2);
    nc_test_int(nc_checkpoint_load(good, m, NULL), NC_ERR_MISMATCH, "other depth");
    nc_model_set_depth(m, 1);
    after = snapshot(m, &na);
    /* set_depth(2) then (1) zeroed nothing in W_M, H or b: compare those. */
    nc_test_true(na == nb && memcmp(before, after, na * sizeof(double)) == 0,
                 "refused loads change nothing");
    /* A model-only load of a checkpoint that also holds an optimizer. */
    nc_test_int(nc_checkpoint_load(good, m, NULL), NC_SUCCESS, "model-only load");
    /* A failed save leaves the old file intact and no temporary behind. */
    nc_test_int(nc_checkpoint_save("/nonexistent/dir/x.ckpt", m, o), NC_ERR_IO, "unwritable path");
    nc_test_int(nc_checkpoint_save(NULL, m, o), NC_ERR_NULL_ARGUMENT, "NULL path");
    nc_test_int(nc_checkpoint_load(good, NULL, NULL), NC_ERR_NULL_ARGUMENT, "NULL model");
    free(bytes);
    free(before);
    free(after);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    unlink(good);
    unlink(bad);
}

/* ---- the loss and its parameters ------------------------------------------ */

/* FNV-1a 64 of the file format (io/serial.h): the checksum of everything
 * before the last 8 bytes, stored little-endian in them. */
static void put_u64(unsigned char *p, unsigned long long v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void fix_checksum(unsigned char *bytes, size_t n)
{
    unsigned long long h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i + 8 < n; i++) {
        h ^= bytes[i];
        h *= 0x100000001b3ULL;
    }
    put_u64(bytes + n - 8, h);
}
/* Byte offsets in a checkpoint of a model with N samples: the header (24),
 * then d, K, N, the depth and the N labels, the loss, the feature model,
 * the bias and fixed flags, and the loss parameters in enum order. */
static size_t loss_offset(size_t N) { return 24 + 8 * (4 + N); }
static size_t param_offset(size_t N, int p) { return loss_offset(N) + 8 * (4 + (size_t)p); }

static int num_loss_params(const nc_model *m)
{
    int np = 0;
    double v;
    while (nc_model_get_loss_parameter(m, (nc_loss_parameter)np, &v) == NC_SUCCESS) np++;
    return np;
}

/* The loss, its parameters and the variables of a model. */
typedef struct loss_state {
    nc_loss loss;
    double param[16];
    double *x;
    size_t n;
} loss_state;
static void state_get(const nc_model *m, loss_state *s)
{
    int p;
    s->loss = nc_model_get_loss(m);
    memset(s->param, 0, sizeof s->param);
    for (p = 0; p < num_loss_params(m) && p < 16; p++)
        nc_model_get_loss_parameter(m, (nc_loss_parameter)p, &s->param[p]);
    s->x = snapshot(m, &s->n);
}
static int state_same(const loss_state *a, const loss_state *b)
{
    return a->loss == b->loss && memcmp(a->param, b->param, sizeof a->param) == 0 &&
           a->n == b->n && memcmp(a->x, b->x, a->n * sizeof(double)) == 0;
}

/* Every loss kind (0, 1, ... while nc_model_set_loss accepts it), with
 * every parameter away from its default: save, load into a fresh model
 * with the defaults, compare, save again: the same bytes. */
static void check_loss_round_trip(void)
{
    char path[300], again[300], desc[200];
    int l, np, p;
    snprintf(path, sizeof path, "%s/loss.ckpt", dir);
    snprintf(again, sizeof again, "%s/loss2.ckpt", dir);
    for (l = 0;; l++) {
        nc_model *a = make_model(0, 1), *b = NULL;
        nc_optimizer *oa, *ob = NULL;
        loss_state sa, sb;
        const size_t counts[3] = {40, 25, 15};
        size_t t;
        if (nc_model_set_loss(a, (nc_loss)l) != NC_SUCCESS) {
            nc_model_destroy(a);
            break;
        }
        np = num_loss_params(a);
        for (p = 0; p < np; p++) {
            snprintf(desc, sizeof desc, "loss %d: parameter %d set", l, p);
            nc_test_int(nc_model_set_loss_parameter(a, (nc_loss_parameter)p, 0.5 + 0.0625 * p),
                        NC_SUCCESS, desc);
        }
        oa = make_opt(a, NC_OPT_GD);
        for (t = 0; t < 5; t++) nc_optimizer_step(oa);
        snprintf(desc, sizeof desc, "loss %d: save", l);
        nc_test_int(nc_checkpoint_save(path, a, oa), NC_SUCCESS, desc);
        nc_model_create_counts(&b, 6, 3, counts);
        nc_optimizer_create(&ob, b, NC_OPT_GD);
        snprintf(desc, sizeof desc, "loss %d: load", l);
        nc_test_int(nc_checkpoint_load(path, b, ob), NC_SUCCESS, desc);
        state_get(a, &sa);
        state_get(b, &sb);
        snprintf(desc, sizeof desc, "loss %d: loss, parameters and variables restored", l);
        nc_test_true(sb.loss == (nc_loss)l && state_same(&sa, &sb), desc);
        snprintf(desc, sizeof desc, "loss %d: saved again, the same bytes", l);
        nc_test_int(nc_checkpoint_save(again, b, ob), NC_SUCCESS, desc);
        nc_test_true(nc_test_same_bytes(path, again), desc);
        free(sa.x);
        free(sb.x);
        nc_optimizer_destroy(oa);
        nc_optimizer_destroy(ob);
        nc_model_destroy(a);
        nc_model_destroy(b);
    }
    nc_test_true(l >= NC_LOSS_DOT_REGRESSION + 1, "every loss kind round-trips");
    unlink(path);
    unlink(again);
}

/* A checkpoint whose loss kind or loss parameter is invalid, its checksum
 * recomputed: refused with the setter's status, nothing changed. Values at
 * the edges of each range load. */
static void check_loss_refusals(void)
{
    /* The documented ranges: finite values just outside (n_out of them)
     * and just inside. TINY is the least subnormal, ONE_M the double below 1. */
#define TINY 4.9406564584124654e-324
#define ONE_M 0.99999999999999989
    static const struct {
        nc_loss_parameter p;
        double out[3], in[2];
        int n_out;
    } cases[] = {
        {NC_LOSS_PARAM_TARGET_SCALE, {0.0, -0.0, -1.0}, {TINY, 1e300}, 3},
        {NC_LOSS_PARAM_SMOOTHING, {-TINY, 1.0, 2.0}, {0.0, ONE_M}, 3},
        {NC_LOSS_PARAM_FOCAL_GAMMA, {-TINY, -1.0, 0.0}, {0.0, 1e300}, 2},
        {NC_LOSS_PARAM_LOGIT_TAU, {0.0, 0.0, 0.0}, {-DBL_MAX, DBL_MAX}, 0},
        {NC_LOSS_PARAM_DOT_TARGET, {0.0, -0.0, -1.0}, {TINY, 1e300}, 3},
    };
#undef TINY
#undef ONE_M
    const double non_finite[3] = {NAN, INFINITY, -INFINITY};
    const size_t nc_ = sizeof cases / sizeof cases[0];
    char good[300], bad[300], desc[200];
    nc_model *m = make_model(0, 1), *src = make_model(0, 1);
    nc_optimizer *o = make_opt(m, NC_OPT_GD), *osrc = make_opt(src, NC_OPT_GD);
    unsigned char *bytes, keep[8];
    const size_t N = nc_model_num_samples(m);
    size_t n, c, j, t;
    int nl = 0;
    loss_state before, after;
    snprintf(good, sizeof good, "%s/lossgood.ckpt", dir);
    snprintf(bad, sizeof bad, "%s/lossbad.ckpt", dir);
    nc_test_int(num_loss_params(m), (int)nc_, "one case per loss parameter");
    nc_model_set_loss(src, NC_LOSS_FOCAL);
    for (t = 0; t < 3; t++) nc_optimizer_step(osrc);
    nc_test_int(nc_checkpoint_save(good, src, osrc), NC_SUCCESS, "save");
    bytes = nc_test_read_bytes(good, &n);
    /* The target: another loss, other parameters, other variables. */
    nc_model_set_loss(m, NC_LOSS_MSE);
    for (c = 0; c < nc_; c++) nc_model_set_loss_parameter(m, cases[c].p, 0.5 + 0.0625 * (double)c);
    for (t = 0; t < 4; t++) nc_test_int(nc_optimizer_step(o), NC_SUCCESS, "step of the target");
    state_get(m, &before);

    /* the loss kind: one past the last (the first that nc_model_set_loss
     * refuses) is refused */
    while (nc_model_set_loss(src, (nc_loss)nl) == NC_SUCCESS) nl++;
    memcpy(keep, bytes + loss_offset(N), 8);
    put_u64(bytes + loss_offset(N), (unsigned long long)nl);
    fix_checksum(bytes, n);
    nc_test_write_bytes(bad, bytes, n);
    nc_test_int(nc_checkpoint_load(bad, m, o), NC_ERR_FORMAT, "loss kind past the last");
    nc_test_true(strstr(nc_model_last_error(m), "unknown loss") != NULL, "loss kind: message");
    state_get(m, &after);
    nc_test_true(state_same(&before, &after), "loss kind past the last: model unchanged");
    free(after.x);
    memcpy(bytes + loss_offset(N), keep, 8);

    for (c = 0; c < nc_; c++) {
        const size_t off = param_offset(N, (int)cases[c].p);
        memcpy(keep, bytes + off, 8);
        for (j = 0; j < (size_t)cases[c].n_out + 3; j++) {
            const double v = j < (size_t)cases[c].n_out ? cases[c].out[j]
                                                        : non_finite[j - (size_t)cases[c].n_out];
            const nc_status want = j < (size_t)cases[c].n_out ? NC_ERR_INVALID_VALUE
                                                              : NC_ERR_NON_FINITE;
            unsigned long long u;
            memcpy(&u, &v, 8);
            put_u64(bytes + off, u);
            fix_checksum(bytes, n);
            nc_test_write_bytes(bad, bytes, n);
            snprintf(desc, sizeof desc, "parameter %d = %.17g in the file: refused",
                     (int)cases[c].p, v);
            nc_test_int(nc_checkpoint_load(bad, m, o), want, desc);
            nc_test_true(strstr(nc_model_last_error(m), "checkpoint: loss parameter") != NULL,
                         desc);
            state_get(m, &after);
            snprintf(desc, sizeof desc, "parameter %d = %.17g in the file: model unchanged",
                     (int)cases[c].p, v);
            nc_test_true(state_same(&before, &after), desc);
            nc_test_int(nc_optimizer_iterations(o), 4, desc);
            free(after.x);
        }
        for (j = 0; j < 2; j++) {
            nc_model *fresh = make_model(0, 1);
            double got = NAN;
            unsigned long long u;
            memcpy(&u, &cases[c].in[j], 8);
            put_u64(bytes + off, u);
            fix_checksum(bytes, n);
            nc_test_write_bytes(bad, bytes, n);
            snprintf(desc, sizeof desc, "parameter %d = %.17g in the file: loads exactly",
                     (int)cases[c].p, cases[c].in[j]);
            nc_test_int(nc_checkpoint_load(bad, fresh, NULL), NC_SUCCESS, desc);
            nc_model_get_loss_parameter(fresh, cases[c].p, &got);
            nc_test_true(memcmp(&got, &cases[c].in[j], 8) == 0, desc);
            nc_model_destroy(fresh);
        }
        memcpy(bytes + off, keep, 8);
    }
    fix_checksum(bytes, n);
    nc_test_write_bytes(bad, bytes, n);
    nc_test_true(nc_test_same_bytes(bad, good), "the patched file restored is the saved one");
    free(before.x);
    free(bytes);
    nc_optimizer_destroy(o);
    nc_optimizer_destroy(osrc);
    nc_model_destroy(m);
    nc_model_destroy(src);
    unlink(good);
    unlink(bad);
}

int main(void)
{
    if (nc_test_make_temp_dir(dir, sizeof dir, "nc_test_io_checkpoint") != 0) return 1;
    check_resume(NC_OPT_GD, 0, 1, "GD + momentum + step schedule");
    check_resume(NC_OPT_ADAM, 0, 1, "Adam");
    check_resume(NC_OPT_LBFGS, 0, 1, "L-BFGS");
    check_resume(NC_OPT_LBFGS, 1, 1, "projected L-BFGS, ReLU");
    check_resume(NC_OPT_NESTEROV, 0, 2, "Nesterov, depth 2");
    check_lbfgs_stop_resume(0);
    check_lbfgs_stop_resume(1);
    check_callback_resume(NC_OPT_GD, 0, "GD + momentum + step schedule");
    check_callback_resume(NC_OPT_ADAM, 0, "Adam");
    check_callback_resume(NC_OPT_LBFGS, 0, "L-BFGS");
    check_callback_resume(NC_OPT_LBFGS, 1, "projected L-BFGS, ReLU");
    check_refusals();
    check_loss_round_trip();
    check_loss_refusals();
    rmdir(dir);
    return nc_test_summary("test_io_checkpoint");
}

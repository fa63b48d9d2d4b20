/*
 * test_io_checkpoint.c - checkpoints: a run interrupted, saved, restored into
 * fresh handles and resumed ends bit-identical to an uninterrupted run (for
 * GD with momentum, Adam, L-BFGS, ReLU and depth 2); corrupted, truncated,
 * mismatched and missing files are refused with named errors and change
 * nothing; a failed save leaves no file behind.
 */
#define _POSIX_C_SOURCE 200809L
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

int main(void)
{
    if (nc_test_make_temp_dir(dir, sizeof dir, "nc_test_io_checkpoint") != 0) return 1;
    check_resume(NC_OPT_GD, 0, 1, "GD + momentum + step schedule");
    check_resume(NC_OPT_ADAM, 0, 1, "Adam");
    check_resume(NC_OPT_LBFGS, 0, 1, "L-BFGS");
    check_resume(NC_OPT_LBFGS, 1, 1, "projected L-BFGS, ReLU");
    check_resume(NC_OPT_NESTEROV, 0, 2, "Nesterov, depth 2");
    check_refusals();
    rmdir(dir);
    return nc_test_summary("test_checkpoint");
}

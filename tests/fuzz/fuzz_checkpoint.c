/*
 * fuzz_checkpoint.c - libFuzzer target for checkpoint loading.
 *
 * Each input is taken as a checkpoint image whose payload length (bytes
 * 16..23) and FNV-1a checksum (its last 8 bytes) are rewritten to match the
 * input, so that mutations reach the fields instead of the checksum. The
 * image is loaded into a model and optimizer of each configuration of
 * tests/ckpt_configs.h, and also into the model alone. Checked beyond the
 * sanitizers: a refused load returns a failure code with a "checkpoint: "
 * message and leaves both handles bit for bit unchanged; an accepted one
 * leaves a state on which a step ends in a status and the metrics compute
 * (then the handles are restored from the configuration's valid
 * checkpoint).
 *
 *   make fuzz                          every target for FUZZ_SECONDS each
 *   tests/fuzz/bin/fuzz_checkpoint DIR run on a corpus directory
 * Seed corpus: written by tests/fuzz/make_seeds.c through the public API.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optim/optim.h"
#include "../ckpt_configs.h"

static char dir_[256], path_[300], valid_[CFG_COUNT][300];
static nc_model *m_[CFG_COUNT];
static nc_optimizer *o_[CFG_COUNT];
static nc_metrics *met_;

static void cleanup(void)
{
    int c;
    for (c = 0; c < CFG_COUNT; c++) {
        nc_optimizer_destroy(o_[c]);
        nc_model_destroy(m_[c]);
        unlink(valid_[c]);
    }
    nc_metrics_destroy(met_);
    if (path_[0]) unlink(path_);
    if (dir_[0]) rmdir(dir_);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    int c, k;
    (void)argc;
    (void)argv;
    snprintf(dir_, sizeof dir_, "%s/nc_fuzz_ckpt.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir_) == NULL) abort();
    snprintf(path_, sizeof path_, "%s/in.ckpt", dir_);
    for (c = 0; c < CFG_COUNT; c++) {
        make(c, &m_[c], &o_[c]);
        for (k = 0; k < 3; k++) nc_optimizer_step(o_[c]);
        snprintf(valid_[c], sizeof valid_[c], "%s/valid%d.ckpt", dir_, c);
        if (nc_checkpoint_save(valid_[c], m_[c], o_[c]) != NC_SUCCESS) abort();
    }
    if (nc_metrics_create(&met_) != NC_SUCCESS) abort();
    atexit(cleanup);
    return 0;
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

/* Load the input into configuration c (with its optimizer or not). */
static void try_load(int c, int with_opt)
{
    snap before, after;
    nc_status st;
    nc_optimizer *o = with_opt ? o_[c] : NULL;
    snap_take(&before, m_[c], o_[c]);
    st = nc_checkpoint_load(path_, m_[c], o);
    if (st != NC_SUCCESS) {
        if (st > 0) abort();
        if (strncmp(nc_model_last_error(m_[c]), "checkpoint: ", 12) != 0) abort();
        snap_take(&after, m_[c], o_[c]);
        if (!snap_same(&before, &after)) abort(); /* a refused load changed the state */
        free(after.arrays);
        free(before.arrays);
        return;
    }
    free(before.arrays);
    /* Accepted: usable. */
    st = nc_optimizer_step(o_[c]);
    if (!(st == NC_SUCCESS || st == NC_ERR_DIVERGED || st == NC_ERR_OVERFLOW ||
          st == NC_STOP_NO_PROGRESS || st == NC_STOP_GRADIENT_TOLERANCE))
        abort();
    st = nc_metrics_compute(met_, m_[c]);
    if (!(st == NC_SUCCESS || st == NC_ERR_UNAVAILABLE || st == NC_ERR_NON_FINITE)) abort();
    /* Back to a valid state for the next input. */
    nc_optimizer_destroy(o_[c]);
    nc_model_destroy(m_[c]);
    make(c, &m_[c], &o_[c]);
    if (nc_checkpoint_load(valid_[c], m_[c], o_[c]) != NC_SUCCESS) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf;
    FILE *f;
    int c;
    buf = (unsigned char *)malloc(size ? size : 1);
    if (buf == NULL) return 0;
    if (size) memcpy(buf, data, size);
    if (size >= 32) {
        put_u64(buf + 16, (uint64_t)(size - 32));
        put_u64(buf + size - 8, fnv1a(buf, size - 8));
    }
    f = fopen(path_, "wb");
    if (f == NULL || (size > 0 && fwrite(buf, 1, size, f) != size)) {
        if (f) fclose(f);
        free(buf);
        return 0;
    }
    fclose(f);
    free(buf);
    for (c = 0; c < CFG_COUNT; c++) {
        try_load(c, 1);
        try_load(c, 0);
    }
    return 0;
}

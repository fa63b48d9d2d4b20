/*
 * fuzz_stream.c - libFuzzer target for stream files (nc_stream_load).
 *
 * Each input is taken as a stream file whose payload length and FNV-1a
 * checksum are rewritten to match it (so that mutations reach the fields),
 * and loaded into a stream of d = 3, K = 3 in pass 1. Checked beyond the
 * sanitizers: a refused load returns a failure code with a "stream file: "
 * message and leaves the stream's every byte unchanged; an accepted one
 * leaves a stream whose metrics compute, to which a batch can be added and
 * which can go to its next pass, each ending in a status.
 *
 *   make fuzz                      every target for FUZZ_SECONDS each
 *   tests/fuzz/bin/fuzz_stream DIR run on a corpus directory
 * Seed corpus: written by tests/fuzz/make_seeds.c through the public API.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics.h"

static char dir_[256], path_[300];
static nc_stream *s_;
static nc_metrics *met_;

static void cleanup(void)
{
    nc_stream_destroy(s_);
    nc_metrics_destroy(met_);
    if (path_[0]) unlink(path_);
    if (dir_[0]) rmdir(dir_);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    (void)argc;
    (void)argv;
    snprintf(dir_, sizeof dir_, "%s/nc_fuzz_stream.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir_) == NULL) abort();
    snprintf(path_, sizeof path_, "%s/in.stream", dir_);
    if (nc_stream_create(&s_, 3, 3) != NC_SUCCESS || nc_metrics_create(&met_) != NC_SUCCESS)
        abort();
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

/* Every byte of the stream's state: the handle (the message aside; its
 * pointers tell whether the arrays were swapped), the state arrays at the
 * start of its memory (up to the workspace, which starts at bmu) and the
 * class counts of both passes. */
typedef struct sstate {
    nc_stream s;
    double *mem;
    size_t nmem;
    size_t *smem;
} sstate;

static void take(sstate *t, const nc_stream *s)
{
    t->s = *s;
    memset(t->s.msg, 0, sizeof t->s.msg);
    t->nmem = (size_t)(s->bmu - s->mem);
    t->mem = (double *)malloc(t->nmem * sizeof(double));
    t->smem = (size_t *)malloc(2 * s->K * sizeof(size_t));
    if (!t->mem || !t->smem) abort();
    memcpy(t->mem, s->mem, t->nmem * sizeof(double));
    memcpy(t->smem, s->smem, 2 * s->K * sizeof(size_t));
}

static int same(const sstate *a, const sstate *b)
{
    return memcmp(&a->s, &b->s, sizeof a->s) == 0 && a->nmem == b->nmem &&
           memcmp(a->mem, b->mem, a->nmem * sizeof(double)) == 0 &&
           memcmp(a->smem, b->smem, 2 * a->s.K * sizeof(size_t)) == 0;
}

static void release(sstate *t)
{
    free(t->mem);
    free(t->smem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const double H[3 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    static const int32_t labels[3] = {0, 1, 2};
    unsigned char *buf;
    sstate before, after;
    nc_status st;
    FILE *f;
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
    take(&before, s_);
    st = nc_stream_load(path_, s_);
    if (st != NC_SUCCESS) {
        if (st > 0) abort();
        if (strncmp(nc_stream_last_error(s_), "stream file: ", 13) != 0) abort();
        take(&after, s_);
        if (!same(&before, &after)) abort();
        release(&after);
        release(&before);
        return 0;
    }
    release(&before);
    /* Accepted: usable, every call ending in a status. */
    st = nc_metrics_compute_stream(met_, s_);
    if (st > 0) abort();
    st = nc_stream_add(s_, 3, H, 3, labels);
    if (st > 0) abort();
    if (nc_stream_pass(s_) == 1) {
        st = nc_stream_next_pass(s_);
        if (st > 0) abort();
    }
    st = nc_metrics_compute_stream(met_, s_);
    if (st > 0) abort();
    nc_stream_destroy(s_);
    if (nc_stream_create(&s_, 3, 3) != NC_SUCCESS) abort();
    return 0;
}

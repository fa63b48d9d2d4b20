/*
 * make_seeds.c - write the seed corpora of the checkpoint and stream-file
 * fuzzers through the public API: DIR/checkpoint/ gets a checkpoint of each
 * configuration of tests/ckpt_configs.h, with and without its optimizer,
 * fresh and after three steps; DIR/stream/ gets stream files of d = 3,
 * K = 3 in pass 1 and pass 2, with and without a classifier and bias, and
 * with and without NC1's scatter (nc_stream_set_nc1_path).
 *
 *   tests/fuzz/bin/make_seeds DIR      (make fuzz runs it)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "optim/optim.h"
#include "../ckpt_configs.h"

static int failed;

static void check(nc_status st, const char *what)
{
    if (st != NC_SUCCESS) {
        fprintf(stderr, "make_seeds: %s: %s\n", what, nc_status_name(st));
        failed = 1;
    }
}

int main(int argc, char **argv)
{
    static const double H[3 * 6] = {1, 0, 0, 0.5, 0.2, 0, 0, 1, 0, 0.1, 0.9, 0, 0, 0, 1, 0, 0.3, 0.8};
    static const int32_t labels[6] = {0, 0, 1, 1, 2, 2};
    static const double W[3 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, b[3] = {0.1, -0.2, 0.3};
    char path[600];
    int c, k, with;
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/checkpoint", argv[1]);
    mkdir(argv[1], 0777);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/stream", argv[1]);
    mkdir(path, 0777);
    for (c = 0; c < CFG_COUNT; c++)
        for (k = 0; k < 2; k++)
            for (with = 0; with < 2; with++) {
                nc_model *m = NULL;
                nc_optimizer *o = NULL;
                int t;
                make(c, &m, &o);
                for (t = 0; k && t < 3; t++) nc_optimizer_step(o);
                snprintf(path, sizeof path, "%s/checkpoint/cfg%d_%s_%s.ckpt", argv[1], c,
                         k ? "steps3" : "fresh", with ? "opt" : "model");
                check(nc_checkpoint_save(path, m, with ? o : NULL), path);
                nc_optimizer_destroy(o);
                nc_model_destroy(m);
            }
    for (k = 0; k < 8; k++) {
        nc_stream *s = NULL;
        const int pass2 = k & 1, classifier = (k >> 1) & 1, none = k >> 2;
        check(nc_stream_create(&s, 3, 3), "stream");
        if (none) check(nc_stream_set_nc1_path(s, NC_NC1_PATH_NONE), "no NC1");
        if (classifier) check(nc_stream_set_classifier(s, W, 3, b), "classifier");
        check(nc_stream_add(s, 6, H, 3, labels), "pass 1");
        if (pass2) {
            check(nc_stream_next_pass(s), "next pass");
            check(nc_stream_add(s, 6, H, 3, labels), "pass 2");
        }
        snprintf(path, sizeof path, "%s/stream/pass%d_%s%s.stream", argv[1], pass2 ? 2 : 1,
                 classifier ? "W_b" : "noW", none ? "_nonc1" : "");
        check(nc_stream_save(path, s), path);
        nc_stream_destroy(s);
    }
    return failed;
}

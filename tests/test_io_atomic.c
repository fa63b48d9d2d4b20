/*
 * test_io_atomic.c - how the library replaces files: temporary files that
 * an interrupted save left (a dead process's, named as the library names
 * them) are removed by the next save to the same path, from checkpoints,
 * stream files and .npy writes alike, while those of live processes, of
 * other targets and of other naming stay; a save killed with SIGKILL at
 * random moments leaves, after the next save, no temporary file and a
 * complete target; the .npy writer can be retried on the same handle after
 * every kind of failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "harness.h"
#include "ncollapse.h"

static char dir[256];

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void touch(const char *path)
{
    nc_test_true(nc_test_write_bytes(path, "x", 1) == 0, "create a file");
}

/* The pid of a process that has exited (forked, reaped). */
static pid_t dead_pid(void)
{
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    return pid;
}

/* Lay out stale and other files beside target; save (how); check which remain. */
static void check_cleanup(const char *name, nc_status (*save)(const char *path, void *ctx), void *ctx)
{
    char target[300], stale1[400], stale2[400], live[400], own[400], other[400], odd[400];
    char desc[200];
    const pid_t dead = dead_pid();
    snprintf(target, sizeof target, "%s/%s", dir, name);
    snprintf(stale1, sizeof stale1, "%s.%ld.1a2b3c4d.0.tmp", target, (long)dead);
    snprintf(stale2, sizeof stale2, "%s.%ld.0.17.tmp", target, (long)dead);
    snprintf(live, sizeof live, "%s.%ld.1a2b3c4d.0.tmp", target, (long)getppid());
    snprintf(own, sizeof own, "%s.%ld.ffff.3.tmp", target, (long)getpid());
    snprintf(other, sizeof other, "%s/other.bin.%ld.1a2b3c4d.0.tmp", dir, (long)dead);
    snprintf(odd, sizeof odd, "%s.%ld.tmp", target, (long)dead);
    touch(stale1);
    touch(stale2);
    touch(live);
    touch(own);
    touch(other);
    touch(odd);
    snprintf(desc, sizeof desc, "%s: save", name);
    nc_test_int(save(target, ctx), NC_SUCCESS, desc);
    snprintf(desc, sizeof desc, "%s: a dead process's temporary files are removed", name);
    nc_test_true(!exists(stale1) && !exists(stale2), desc);
    snprintf(desc, sizeof desc, "%s: a live process's temporary file stays", name);
    nc_test_true(exists(live), desc);
    snprintf(desc, sizeof desc, "%s: this process's other temporary file stays", name);
    nc_test_true(exists(own), desc);
    snprintf(desc, sizeof desc, "%s: another target's temporary file stays", name);
    nc_test_true(exists(other), desc);
    snprintf(desc, sizeof desc, "%s: a file of another naming stays", name);
    nc_test_true(exists(odd), desc);
    snprintf(desc, sizeof desc, "%s: the target is written", name);
    nc_test_true(exists(target), desc);
    unlink(live);
    unlink(own);
    unlink(other);
    unlink(odd);
    unlink(target);
}

static nc_status save_checkpoint(const char *path, void *ctx)
{
    return nc_checkpoint_save(path, (nc_model *)ctx, NULL);
}

static nc_status save_stream(const char *path, void *ctx)
{
    return nc_stream_save(path, (nc_stream *)ctx);
}

static nc_status save_npy(const char *path, void *ctx)
{
    nc_npy_writer *w = (nc_npy_writer *)ctx;
    const double x[6] = {1, 2, 3, 4, 5, 6};
    nc_status st = nc_npy_writer_begin(w, path, NC_NPY_FLOAT64, 2, 2, 3);
    if (st == NC_SUCCESS) st = nc_npy_writer_write_rows(w, x, 2, 3);
    if (st == NC_SUCCESS) st = nc_npy_writer_finish(w);
    return st;
}

/* Children save a model of about 2 MB in a loop and are killed at random
 * moments; the next save leaves no temporary file, and the target is
 * always a checkpoint that loads. */
static void check_killed_saves(nc_model *big)
{
    char target[300], desc[200];
    int k, left = 0;
    snprintf(target, sizeof target, "%s/big.ckpt", dir);
    nc_test_int(nc_checkpoint_save(target, big, NULL), NC_SUCCESS, "first save of the big model");
    srand(12345);
    for (k = 0; k < 10; k++) {
        struct timespec ts;
        const pid_t pid = fork();
        if (pid == 0) {
            for (;;) nc_checkpoint_save(target, big, NULL);
        }
        ts.tv_sec = 0;
        ts.tv_nsec = 1000000L * (5 + rand() % 20);
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        left += nc_test_count_temps(dir) > 0;
        nc_test_int(nc_checkpoint_load(target, big, NULL), NC_SUCCESS,
                    "the target loads after a killed save");
        nc_test_int(nc_checkpoint_save(target, big, NULL), NC_SUCCESS, "the next save");
        snprintf(desc, sizeof desc, "no temporary file after the next save (kill %d)", k);
        nc_test_int(nc_test_count_temps(dir), 0, desc);
    }
    printf("killed saves: %d of 10 left a temporary file; the next save removed each\n", left);
    unlink(target);
}

/* The .npy writer after each kind of failure: the same handle writes a
 * file on the next try. */
static void check_npy_retry(void)
{
    char good[300], bad[300];
    const double x[6] = {1, 2, 3, 4, 5, 6};
    const int32_t lab[2] = {0, 1};
    nc_npy_writer *w = NULL;
    nc_npy_reader *r = NULL;
    double back[6];
    size_t rows, cols, nd;
    nc_npy_dtype t;
    snprintf(good, sizeof good, "%s/retry.npy", dir);
    snprintf(bad, sizeof bad, "%s/no/such/dir/retry.npy", dir);
    nc_test_int(nc_npy_writer_create(&w), NC_SUCCESS, "writer");
    /* begin fails (no directory) */
    nc_test_int(nc_npy_writer_begin(w, bad, NC_NPY_FLOAT64, 2, 2, 3), NC_ERR_IO, "begin: no dir");
    nc_test_int(save_npy(good, w), NC_SUCCESS, "retry after a failed begin");
    /* too many rows */
    nc_test_int(nc_npy_writer_begin(w, good, NC_NPY_FLOAT64, 2, 1, 3), NC_SUCCESS, "begin");
    nc_test_int(nc_npy_writer_write_rows(w, x, 2, 3), NC_ERR_SIZE_MISMATCH, "too many rows");
    nc_test_int(save_npy(good, w), NC_SUCCESS, "retry after too many rows");
    /* wrong writer for the dtype */
    nc_test_int(nc_npy_writer_begin(w, good, NC_NPY_FLOAT64, 1, 2, 1), NC_SUCCESS, "begin 1-D");
    nc_test_int(nc_npy_writer_write_labels(w, lab, 2), NC_ERR_DTYPE, "labels into doubles");
    nc_test_int(save_npy(good, w), NC_SUCCESS, "retry after a dtype error");
    /* finish too early */
    nc_test_int(nc_npy_writer_begin(w, good, NC_NPY_FLOAT64, 2, 2, 3), NC_SUCCESS, "begin (3)");
    nc_test_int(nc_npy_writer_finish(w), NC_ERR_SIZE_MISMATCH, "finish with rows missing");
    nc_test_int(save_npy(good, w), NC_SUCCESS, "retry after an early finish");
    /* begin while a file is open, then abort */
    nc_test_int(nc_npy_writer_begin(w, good, NC_NPY_FLOAT64, 2, 2, 3), NC_SUCCESS, "begin (4)");
    nc_test_int(nc_npy_writer_begin(w, good, NC_NPY_FLOAT64, 2, 2, 3), NC_ERR_INVALID_VALUE,
                "begin twice");
    nc_npy_writer_abort(w);
    nc_test_int(save_npy(good, w), NC_SUCCESS, "retry after an abort");
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file after the retries");
    nc_test_int(nc_npy_reader_create(&r), NC_SUCCESS, "reader");
    nc_test_int(nc_npy_reader_open(r, good), NC_SUCCESS, "the retried file opens");
    nc_test_int(nc_npy_reader_info(r, &t, &nd, &rows, &cols), NC_SUCCESS, "info");
    nc_test_true(rows == 2 && cols == 3, "the retried file's shape");
    nc_test_int(nc_npy_reader_read_rows(r, 0, 2, back, 3), NC_SUCCESS, "read it");
    nc_test_true(memcmp(back, x, sizeof x) == 0, "the retried file's values");
    nc_npy_reader_destroy(r);
    nc_npy_writer_destroy(w);
    unlink(good);
}

int main(void)
{
    const size_t counts[2] = {3, 3}, big_counts[2] = {10000, 10000};
    nc_model *m = NULL, *big = NULL;
    nc_stream *s = NULL;
    nc_npy_writer *w = NULL;
    if (nc_test_make_temp_dir(dir, sizeof dir, "nc_atomic") != 0) return 1;
    nc_model_create_counts(&m, 4, 2, counts);
    nc_model_init_gaussian(m, 1.0, 1);
    nc_stream_create(&s, 4, 2);
    nc_npy_writer_create(&w);
    check_cleanup("model.ckpt", save_checkpoint, m);
    check_cleanup("stream.bin", save_stream, s);
    check_cleanup("x.npy", save_npy, w);
    nc_model_create_counts(&big, 12, 2, big_counts);
    nc_model_init_gaussian(big, 1.0, 2);
    check_killed_saves(big);
    check_npy_retry();
    nc_npy_writer_destroy(w);
    nc_stream_destroy(s);
    nc_model_destroy(big);
    nc_model_destroy(m);
    nc_test_int(nc_test_count_temps(dir), 0, "nothing left");
    rmdir(dir);
    return nc_test_summary("test_io_atomic");
}

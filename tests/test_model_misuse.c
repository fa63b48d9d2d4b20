/*
 * test_model_misuse.c - misuse that must end in a named error, never a
 * crash, a hang or a read out of bounds: paths that are not regular files
 * (a FIFO without a writer, a directory, a character device) for every
 * loader; NULL handles; leading dimensions whose span overflows the address
 * space; the location of a NaN in the message.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncollapse.h"
#include "harness.h"
#include "files.h"

static void not_regular(const char *path, const char *kind)
{
    const size_t counts[2] = {2, 2};
    nc_model *m = NULL;
    nc_stream *s = NULL;
    nc_npy_reader *r = NULL;
    char what[300];
    nc_model_create_counts(&m, 2, 2, counts);
    nc_stream_create(&s, 2, 2);
    nc_npy_reader_create(&r);
    snprintf(what, sizeof what, ".npy reader refuses %s", kind);
    nc_test_int(nc_npy_reader_open(r, path), NC_ERR_IO, what);
    snprintf(what, sizeof what, "checkpoint load refuses %s", kind);
    nc_test_int(nc_checkpoint_load(path, m, NULL), NC_ERR_IO, what);
    snprintf(what, sizeof what, "checkpoint message names %s (%s)", kind, nc_model_last_error(m));
    nc_test_true(strstr(nc_model_last_error(m), kind) != NULL, what);
    snprintf(what, sizeof what, "stream load refuses %s", kind);
    nc_test_int(nc_stream_load(path, s), NC_ERR_IO, what);
    nc_npy_reader_destroy(r);
    nc_stream_destroy(s);
    nc_model_destroy(m);
}

static void spans(void)
{
    const size_t counts[2] = {3, 2};
    const size_t huge = SIZE_MAX / 2;
    nc_model *m = NULL;
    double buf[64] = {0};
    nc_model_create_counts(&m, 4, 2, counts);
    nc_test_int(nc_model_set_H(m, buf, huge), NC_ERR_INVALID_SIZE, "set_H: ldh near SIZE_MAX");
    nc_test_int(nc_model_set_H(m, buf, SIZE_MAX), NC_ERR_INVALID_SIZE, "set_H: ldh SIZE_MAX");
    nc_test_int(nc_model_set_W(m, buf, huge), NC_ERR_INVALID_SIZE, "set_W: ldw near SIZE_MAX");
    nc_test_int(nc_model_set_layer(m, 0, buf, SIZE_MAX / 8), NC_ERR_INVALID_SIZE,
                "set_layer: lda whose span overflows");
    nc_test_int(nc_model_get_H(m, buf, huge), NC_ERR_INVALID_SIZE, "get_H: ldh near SIZE_MAX");
    nc_test_int(nc_model_get_W(m, buf, huge), NC_ERR_INVALID_SIZE, "get_W: ldw near SIZE_MAX");
    nc_test_int(nc_model_get_product(m, buf, huge), NC_ERR_INVALID_SIZE, "get_product");
    nc_test_int(nc_model_get_layer(m, 0, buf, huge), NC_ERR_INVALID_SIZE, "get_layer");
    nc_test_int(nc_model_gradient(m, NULL, buf, huge, NULL, 0, NULL), NC_ERR_INVALID_SIZE,
                "gradient: ldgw near SIZE_MAX");
    nc_test_int(nc_model_gradient(m, NULL, NULL, 0, buf, huge, NULL), NC_ERR_INVALID_SIZE,
                "gradient: ldgh near SIZE_MAX");
    nc_test_int(nc_model_fix_classifier(m, buf, huge), NC_ERR_INVALID_SIZE,
                "fix_classifier: ldw near SIZE_MAX");
    nc_test_int(nc_model_classifier_is_fixed(m), 0, "a refused fix changes nothing");
    nc_test_int(nc_model_fix_classifier_etf(m, 1.0, 1, buf, huge), NC_ERR_INVALID_SIZE,
                "fix_classifier_etf: ldp near SIZE_MAX");
    nc_test_int(nc_model_set_H(m, buf, 3), NC_ERR_SIZE_MISMATCH, "set_H: ldh < d");
    /* where the NaN is */
    buf[2 * 4 + 1] = NAN;
    nc_test_int(nc_model_set_H(m, buf, 4), NC_ERR_NON_FINITE, "set_H: NaN");
    nc_test_true(strstr(nc_model_last_error(m), "row 1 of column (sample) 2") != NULL,
                 "set_H: the message gives the NaN's row and column");
    nc_model_destroy(m);
}

int main(void)
{
    char dir[256], fifo[300];
    nc_test_true(nc_test_make_temp_dir(dir, sizeof dir, "nc_misuse") == 0, "temp dir");
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    nc_test_int(mkfifo(fifo, 0600), 0, "mkfifo");
    alarm(60); /* a hang fails the test instead of blocking make check */
    not_regular(fifo, "a FIFO");
    not_regular(dir, "a directory");
    not_regular("/dev/null", "a character device");
    alarm(0);
    nc_test_int(nc_model_fix_classifier_etf(NULL, 1.0, 1, NULL, 0), NC_ERR_NULL_ARGUMENT,
                "fix_classifier_etf: NULL model");
    nc_test_int(nc_model_fix_classifier_orthogonal(NULL, 1.0, 1, NULL, 0), NC_ERR_NULL_ARGUMENT,
                "fix_classifier_orthogonal: NULL model");
    spans();
    unlink(fifo);
    rmdir(dir);
    return nc_test_summary("test_model_misuse");
}

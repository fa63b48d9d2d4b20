/*
 * test_model_misuse.c - misuse that must end in a named error, never a
 * crash, a hang or a read out of bounds: paths that are not regular files
 * (a FIFO without a writer, a directory, a character device) for every
 * loader; NULL handles; leading dimensions whose span overflows the address
 * space; the location of a NaN in the message; the reason of a failed
 * create (nc_create_last_error); files that are not .npy (zip, pickle,
 * text) and arrays of 3 dimensions named as such with their fix; a metrics
 * call whose K leaves a class empty says K and the labels seen; a
 * checkpoint whose schedule period is 0 is refused naming the field.
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

/* 1 if s contains needle; prints s otherwise (the message under test). */
static int has(const char *s, const char *needle)
{
    if (strstr(s, needle) != NULL) return 1;
    fprintf(stderr, "message: '%s' lacks '%s'\n", s, needle);
    return 0;
}

static void create_errors(void)
{
    const int32_t labels[4] = {0, 1, 4, 1};
    const size_t counts[3] = {2, 0, 1};
    nc_model *m = NULL;
    nc_stream *s = NULL;
    nc_prediction *p = NULL;
    nc_optimizer *o = NULL;
    nc_test_int(nc_model_create(&m, 3, 3, 4, labels), NC_ERR_LABEL_OUT_OF_RANGE, "label 4, K 3");
    nc_test_true(has(nc_create_last_error(), "label 4 of sample 2 is outside [0, K = 3)"),
                 "create: the label, the sample and K");
    nc_test_int(nc_model_create_counts(&m, 3, 3, counts), NC_ERR_EMPTY_CLASS, "an empty class");
    nc_test_true(has(nc_create_last_error(), "class 1 has no sample"), "create_counts: the class");
    nc_test_int(nc_stream_create(&s, 0, 3), NC_ERR_INVALID_SIZE, "stream d = 0");
    nc_test_true(has(nc_create_last_error(), "d = 0, K = 3"), "stream: the sizes");
    nc_test_int(nc_prediction_create(&p, NC_PREDICT_BALANCED_CE, 1, counts), NC_ERR_INVALID_SIZE,
                "prediction K = 1");
    nc_test_true(has(nc_create_last_error(), "K = 1"), "prediction: K");
    nc_test_int(nc_optimizer_create(&o, NULL, NC_OPT_GD), NC_ERR_NULL_ARGUMENT, "optimizer NULL");
    nc_test_true(has(nc_create_last_error(), "model is NULL"), "optimizer: which argument");
    nc_test_int(nc_stream_create(&s, 2, 2), NC_SUCCESS, "a create that succeeds");
    nc_test_true(nc_create_last_error()[0] == '\0', "clears the reason");
    nc_stream_destroy(s);
}

static void not_npy(const char *dir)
{
    static const struct {
        const char *bytes;
        size_t n;
        const char *needle;
    } files[] = {
#define BYTES(lit) lit, sizeof lit - 1
        {BYTES("PK\003\004\024\000\000\000\010\000"), ".npz files (np.savez) and torch.save"},
        {BYTES("\200\002}q\000(X\001\000\000\000a"), "Python pickle"},
        {BYTES("0.5,1.25,3\n2,4,8\n"), "np.loadtxt"},
        {BYTES("\211HDF\r\n\032\n\000\000"), "HDF5"},
#undef BYTES
    };
    const char *d3 = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }";
    char path[300];
    unsigned char buf[128 + 24 * 8];
    nc_npy_reader *r = NULL;
    size_t i, hl;
    snprintf(path, sizeof path, "%s/x.npy", dir);
    nc_npy_reader_create(&r);
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        nc_test_write_bytes(path, files[i].bytes, files[i].n);
        nc_test_int(nc_npy_reader_open(r, path), NC_ERR_FORMAT, "not .npy: NC_ERR_FORMAT");
        nc_test_true(has(nc_npy_reader_last_error(r), files[i].needle), "what the file is");
        nc_test_true(has(nc_npy_reader_last_error(r), "np.save"), "and how to write a .npy");
    }
    /* a 3-D array of 24 doubles */
    memset(buf, 0, sizeof buf);
    memcpy(buf, "\223NUMPY\001\000", 8);
    hl = 128 - 10;
    buf[8] = (unsigned char)hl;
    memset(buf + 10, ' ', hl);
    memcpy(buf + 10, d3, strlen(d3));
    buf[127] = '\n';
    nc_test_write_bytes(path, buf, sizeof buf);
    nc_test_int(nc_npy_reader_open(r, path), NC_ERR_UNSUPPORTED, "3-D: unsupported");
    nc_test_true(has(nc_npy_reader_last_error(r), "3 dimensions (shape (2, 3, 4))"),
                 "3-D: the dimensions found");
    nc_test_true(has(nc_npy_reader_last_error(r), "reshape"), "3-D: the fix");
    nc_npy_reader_destroy(r);
    unlink(path);
}

static void metrics_messages(void)
{
    const int32_t labels[6] = {0, 1, 2, 3, 0, 5}, all[6] = {0, 1, 2, 3, 4, 5};
    double H[2 * 6] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    nc_metrics *met = NULL;
    nc_metrics_create(&met);
    nc_test_int(nc_metrics_compute_data(met, 2, 6, 6, H, 2, labels, NULL, 2, NULL),
                NC_ERR_EMPTY_CLASS, "class 4 empty");
    nc_test_true(has(nc_metrics_last_error(met), "class 4 has no samples: K = 6"),
                 "empty class: K");
    nc_test_true(has(nc_metrics_last_error(met), "use 5 of the classes 0..5"), "the labels seen");
    H[2 * 3 + 1] = NAN;
    nc_test_int(nc_metrics_compute_data(met, 2, 6, 6, H, 2, all, NULL, 2, NULL),
                NC_ERR_NON_FINITE, "NaN in H");
    nc_test_true(has(nc_metrics_last_error(met), "row 1 of column (sample) 3"), "where the NaN is");
    nc_metrics_destroy(met);
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
    create_errors();
    not_npy(dir);
    metrics_messages();
    unlink(fifo);
    rmdir(dir);
    return nc_test_summary("test_model_misuse");
}

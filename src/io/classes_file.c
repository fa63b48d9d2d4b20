/*
 * io/classes_file.c - nc_metrics_save_classes: the per-class table of the
 * last metrics compute as a .npy file (through nc_npy_writer, which
 * replaces the target atomically).
 */
#include "metrics/metrics.h"

#include <stdlib.h>

NC_API nc_status nc_metrics_save_classes(nc_metrics *metrics, const char *path)
{
    nc_npy_writer *w = NULL;
    const double *table;
    size_t K;
    nc_status st;
    char *msg;
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    msg = nc__metrics_msg(metrics);
    if (path == NULL) return nc__fail(msg, NC_ERR_NULL_ARGUMENT, "path is NULL");
    table = nc__metrics_classes(metrics, &K);
    if (table == NULL)
        return nc__fail(msg, NC_ERR_UNAVAILABLE, "no per-class values: nothing computed yet");
    st = nc_npy_writer_create(&w);
    if (st != NC_SUCCESS) return nc__fail(msg, st, "cannot create a .npy writer");
    st = nc_npy_writer_begin(w, path, NC_NPY_FLOAT64, 2, K, NC_CLASS_STAT_COUNT);
    if (st == NC_SUCCESS) st = nc_npy_writer_write_rows(w, table, K, NC_CLASS_STAT_COUNT);
    if (st == NC_SUCCESS) st = nc_npy_writer_finish(w);
    if (st != NC_SUCCESS)
        nc__fail(msg, st, "per-class values: %.200s", nc_npy_writer_last_error(w));
    nc_npy_writer_destroy(w);
    return st;
}

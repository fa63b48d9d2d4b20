/*
 * metrics/history.h - the metrics history handle (history.c records rows,
 * io/history_file.c writes them as CSV and JSON).
 * Never installed; nothing public depends on it.
 */
#ifndef NC_HISTORY_H
#define NC_HISTORY_H

#include "common/common.h"

struct nc_history {
    /* what a row holds, fixed by the first record */
    size_t n_metrics;
    nc_metric metrics[NC_METRIC_COUNT];
    int all_layers;
    size_t layers; /* per row: the model's depth with all_layers, else 1; 0 before a row */

    /* rows: step, objective, gradient norm, then layers x n_metrics values */
    size_t rows, cap;
    size_t *step;
    double *objective, *gradient_norm, *values;

    int pending;         /* row `rows` is measured, waiting for its step and objective */
    nc_metrics *measure; /* conventions of the recorded metrics */
    char msg[NC_MSG_SIZE];
};

/* Measure the model's state into the pending row: the optimizer measures
 * before a first-order step, whose pass gives the objective and gradient
 * norm of that same state. */
nc_status nc__history_measure(nc_history *h, const nc_model *model);
/* Append the pending row (if any) with its step, objective, gradient norm. */
void nc__history_commit(nc_history *h, size_t step, double objective, double gradient_norm);

#endif /* NC_HISTORY_H */

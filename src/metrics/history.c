/*
 * metrics/history.c - a metrics history (nc_history): rows of (step,
 * objective, gradient norm, chosen metrics at every layer) recorded from a
 * model, by the optimizer during nc_optimizer_run (every n steps, step 0 and
 * the final state) or by the caller. A metric that cannot be computed at a
 * row (say NC3 without a classifier) is stored as NaN.
 */
#include "metrics/history.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

NC_API nc_status nc_history_create(nc_history **history)
{
    nc_history *h;
    size_t k;
    nc__create_clear();
    if (history == NULL)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_history_create: history is NULL");
    *history = NULL;
    h = (nc_history *)calloc(1, sizeof *h);
    if (h == NULL) return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_history_create: no memory");
    if (nc_metrics_create(&h->measure) != NC_SUCCESS) {
        free(h);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_history_create: no memory");
    }
    for (k = 0; k < NC_METRIC_COUNT; k++) h->metrics[k] = (nc_metric)k;
    h->n_metrics = NC_METRIC_COUNT;
    h->all_layers = 1;
    *history = h;
    return NC_SUCCESS;
}

NC_API void nc_history_destroy(nc_history *h)
{
    if (h == NULL) return;
    nc_metrics_destroy(h->measure);
    free(h->step);
    free(h->objective);
    free(h->gradient_norm);
    free(h->values);
    free(h);
}

NC_API nc_status nc_history_set_metrics(nc_history *h, const nc_metric *metrics, size_t count)
{
    size_t k, j;
    if (h == NULL) return NC_ERR_NULL_ARGUMENT;
    if (h->rows > 0)
        return nc__fail(h->msg, NC_ERR_UNSUPPORTED,
                        "the metrics of a history are fixed once it has rows (clear it first)");
    if (metrics == NULL && count == 0) { /* all */
        for (k = 0; k < NC_METRIC_COUNT; k++) h->metrics[k] = (nc_metric)k;
        h->n_metrics = NC_METRIC_COUNT;
        return NC_SUCCESS;
    }
    if (metrics == NULL) return nc__fail(h->msg, NC_ERR_NULL_ARGUMENT, "metrics is NULL");
    if (count > NC_METRIC_COUNT)
        return nc__fail(h->msg, NC_ERR_INVALID_VALUE, "count %zu exceeds the %d metrics", count,
                        (int)NC_METRIC_COUNT);
    for (k = 0; k < count; k++) {
        if ((int)metrics[k] < 0 || (int)metrics[k] >= (int)NC_METRIC_COUNT)
            return nc__fail(h->msg, NC_ERR_INVALID_VALUE, "metrics[%zu] = %d is not a metric", k,
                            (int)metrics[k]);
        for (j = 0; j < k; j++)
            if (metrics[j] == metrics[k])
                return nc__fail(h->msg, NC_ERR_INVALID_VALUE, "metrics[%zu] repeats metrics[%zu]",
                                k, j);
    }
    memcpy(h->metrics, metrics, count * sizeof *metrics);
    h->n_metrics = count;
    return NC_SUCCESS;
}

NC_API nc_status nc_history_set_all_layers(nc_history *h, int enabled)
{
    if (h == NULL) return NC_ERR_NULL_ARGUMENT;
    if (h->rows > 0)
        return nc__fail(h->msg, NC_ERR_UNSUPPORTED,
                        "the layers of a history are fixed once it has rows (clear it first)");
    h->all_layers = enabled != 0;
    return NC_SUCCESS;
}

NC_API nc_metrics *nc_history_metrics(nc_history *h) { return h ? h->measure : NULL; }

static int grow(nc_history *h, size_t per_row)
{
    size_t cap = h->cap ? 2 * h->cap : 64, bytes;
    size_t *st;
    double *f, *g, *v;
    if (nc__mul_size(cap, per_row, &bytes) || nc__mul_size(bytes, sizeof(double), &bytes)) return 0;
    st = (size_t *)realloc(h->step, cap * sizeof *st);
    if (st == NULL) return 0;
    h->step = st;
    f = (double *)realloc(h->objective, cap * sizeof *f);
    if (f == NULL) return 0;
    h->objective = f;
    g = (double *)realloc(h->gradient_norm, cap * sizeof *g);
    if (g == NULL) return 0;
    h->gradient_norm = g;
    v = (double *)realloc(h->values, per_row ? bytes : 1);
    if (v == NULL) return 0;
    h->values = v;
    h->cap = cap;
    return 1;
}

nc_status nc__history_measure(nc_history *h, const nc_model *model)
{
    size_t layers, l, k, per_row;
    double *row;
    layers = h->all_layers ? model->depth : 1;
    if (h->rows > 0 && layers != h->layers)
        return nc__fail(h->msg, NC_ERR_MISMATCH,
                        "the history holds rows of %zu layers, the model has %zu (clear it first)",
                        h->layers, layers);
    per_row = layers * h->n_metrics;
    if (h->rows == h->cap && !grow(h, per_row))
        return nc__fail(h->msg, NC_ERR_OUT_OF_MEMORY, "no memory for row %zu", h->rows);
    h->layers = layers;
    row = h->values + h->rows * per_row;
    for (l = 0; l < layers; l++) {
        /* a shard measures the global problem (the same row on every shard) */
        const nc_status st = model->shard ? model->shard->metrics(model->shard, h->measure, model, l)
                             : l == 0     ? nc_metrics_compute(h->measure, model)
                                          : nc_metrics_compute_layer(h->measure, model, l);
        /* a state the metrics cannot measure gives NaN; a lack of memory
         * is a failure (the row is not kept, nothing pending) */
        if (st == NC_ERR_OUT_OF_MEMORY) {
            h->pending = 0;
            return nc__fail(h->msg, st, "the metrics of layer %zu: %s", l,
                            nc_metrics_last_error(h->measure));
        }
        for (k = 0; k < h->n_metrics; k++) {
            double v = NAN;
            if (st != NC_SUCCESS || nc_metrics_get(h->measure, h->metrics[k], &v) != NC_SUCCESS)
                v = NAN;
            row[l * h->n_metrics + k] = v;
        }
    }
    h->pending = 1;
    return NC_SUCCESS;
}

void nc__history_commit(nc_history *h, size_t step, double objective, double gradient_norm)
{
    if (!h->pending) return;
    h->step[h->rows] = step;
    h->objective[h->rows] = objective;
    h->gradient_norm[h->rows] = gradient_norm;
    h->rows++;
    h->pending = 0;
}

NC_API nc_status nc_history_record(nc_history *h, const nc_model *model, size_t step,
                                   double objective, double gradient_norm)
{
    nc_status st;
    if (h == NULL) return NC_ERR_NULL_ARGUMENT;
    if (model == NULL) return nc__fail(h->msg, NC_ERR_NULL_ARGUMENT, "model is NULL");
    if ((st = nc__history_measure(h, model)) != NC_SUCCESS) return st;
    nc__history_commit(h, step, objective, gradient_norm);
    return NC_SUCCESS;
}

NC_API size_t nc_history_rows(const nc_history *h) { return h ? h->rows : 0; }
NC_API size_t nc_history_layers(const nc_history *h) { return h ? h->layers : 0; }

NC_API nc_status nc_history_get_row(const nc_history *h, size_t row, size_t *step,
                                    double *objective, double *gradient_norm)
{
    if (h == NULL) return NC_ERR_NULL_ARGUMENT;
    if (row >= h->rows) return NC_ERR_INVALID_VALUE;
    if (step) *step = h->step[row];
    if (objective) *objective = h->objective[row];
    if (gradient_norm) *gradient_norm = h->gradient_norm[row];
    return NC_SUCCESS;
}

NC_API nc_status nc_history_get(const nc_history *h, size_t row, size_t layer, nc_metric metric,
                                double *value)
{
    size_t k;
    if (h == NULL || value == NULL) return NC_ERR_NULL_ARGUMENT;
    *value = NAN;
    if (row >= h->rows || layer >= h->layers) return NC_ERR_INVALID_VALUE;
    for (k = 0; k < h->n_metrics; k++)
        if (h->metrics[k] == metric) {
            *value = h->values[(row * h->layers + layer) * h->n_metrics + k];
            return isnan(*value) ? NC_ERR_UNAVAILABLE : NC_SUCCESS;
        }
    return NC_ERR_UNAVAILABLE; /* not recorded */
}

NC_API nc_status nc_history_clear(nc_history *h)
{
    if (h == NULL) return NC_ERR_NULL_ARGUMENT;
    h->rows = 0;
    h->layers = 0;
    h->pending = 0;
    return NC_SUCCESS;
}

NC_API const char *nc_history_last_error(const nc_history *h) { return h ? h->msg : ""; }

/*
 * io/history_file.c - a metrics history as CSV or JSON, written atomically
 * (io/serial.h). Numbers are printed with 17 significant digits, so they
 * read back bit for bit; a value that was not available is "nan" in CSV
 * and null in JSON.
 */
#include "metrics/history.h"
#include "io/serial.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text {
    char *p;
    size_t n, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (t->failed) return;
    for (;;) {
        va_start(ap, fmt);
        k = vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)k < t->cap - t->n) {
            t->n += (size_t)k;
            return;
        }
        {
            size_t cap = 2 * t->cap + (size_t)k + 64;
            char *q = (char *)realloc(t->p, cap);
            if (q == NULL) {
                t->failed = 1;
                return;
            }
            t->p = q;
            t->cap = cap;
        }
    }
}

/* v with 17 digits; NaN as none; infinities as "inf" in CSV, null in JSON */
static void number(text *t, double v, const char *none)
{
    if (v - v == 0.0)
        put(t, "%.17g", v);
    else if (isnan(v) || strcmp(none, "null") == 0)
        put(t, "%s", none);
    else
        put(t, "%s", v > 0 ? "inf" : "-inf");
}

static nc_status finish(nc_history *h, text *t, const char *path, const char *who)
{
    nc_status st;
    if (t->failed) {
        free(t->p);
        return nc__fail(h->msg, NC_ERR_OUT_OF_MEMORY, "%s: no memory for the text", who);
    }
    st = nc__atomic_write(path, (const unsigned char *)t->p, t->n, h, h->msg, who);
    free(t->p);
    return st;
}

NC_API nc_status nc_history_save_csv(nc_history *h, const char *path)
{
    text t = {NULL, 0, 0, 0};
    size_t r, l, k;
    if (h == NULL) return NC_ERR_NULL_ARGUMENT;
    if (path == NULL) return nc__fail(h->msg, NC_ERR_NULL_ARGUMENT, "history csv: path is NULL");
    put(&t, "step,objective,gradient_norm");
    for (l = 0; l < h->layers; l++)
        for (k = 0; k < h->n_metrics; k++) {
            if (h->layers > 1)
                put(&t, ",l%zu_%s", l, nc_metric_name(h->metrics[k]));
            else
                put(&t, ",%s", nc_metric_name(h->metrics[k]));
        }
    put(&t, "\n");
    for (r = 0; r < h->rows; r++) {
        const double *v = h->values + r * h->layers * h->n_metrics;
        put(&t, "%zu,", h->step[r]);
        number(&t, h->objective[r], "nan");
        put(&t, ",");
        number(&t, h->gradient_norm[r], "nan");
        for (k = 0; k < h->layers * h->n_metrics; k++) {
            put(&t, ",");
            number(&t, v[k], "nan");
        }
        put(&t, "\n");
    }
    return finish(h, &t, path, "history csv");
}

NC_API nc_status nc_history_save_json(nc_history *h, const char *path)
{
    text t = {NULL, 0, 0, 0};
    size_t r, l, k;
    if (h == NULL) return NC_ERR_NULL_ARGUMENT;
    if (path == NULL) return nc__fail(h->msg, NC_ERR_NULL_ARGUMENT, "history json: path is NULL");
    put(&t, "{\n  \"metrics\": [");
    for (k = 0; k < h->n_metrics; k++)
        put(&t, "%s\"%s\"", k ? ", " : "", nc_metric_name(h->metrics[k]));
    put(&t, "],\n  \"layers\": %zu,\n  \"rows\": [", h->layers);
    for (r = 0; r < h->rows; r++) {
        put(&t, "%s\n    {\"step\": %zu, \"objective\": ", r ? "," : "", h->step[r]);
        number(&t, h->objective[r], "null");
        put(&t, ", \"gradient_norm\": ");
        number(&t, h->gradient_norm[r], "null");
        put(&t, ", \"values\": [");
        for (l = 0; l < h->layers; l++) {
            const double *v = h->values + (r * h->layers + l) * h->n_metrics;
            put(&t, "%s[", l ? ", " : "");
            for (k = 0; k < h->n_metrics; k++) {
                if (k) put(&t, ", ");
                number(&t, v[k], "null");
            }
            put(&t, "]");
        }
        put(&t, "]}");
    }
    put(&t, "\n  ]\n}\n");
    return finish(h, &t, path, "history json");
}

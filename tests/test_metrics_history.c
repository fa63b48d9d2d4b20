/*
 * test_metrics_history.c - the metrics history: rows equal the metrics
 * computed directly (bit for bit, every layer), the CSV and JSON files read
 * back bit for bit, chosen metrics, NaN for what is not available, every
 * error.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncollapse.h"
#include "harness.h"
#include "files.h"

static int same(double a, double b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

/* Parse the CSV back: every field against the history's getters. */
static void csv_round_trip(nc_history *h, const char *path, size_t n_metrics)
{
    size_t n = 0, r = 0, L = nc_history_layers(h);
    unsigned char *bytes = nc_test_read_bytes(path, &n);
    char *text, *line, *save = NULL;
    int ok = 1;
    nc_test_true(bytes != NULL, "csv: readable");
    if (!bytes) return;
    text = realloc(bytes, n + 1);
    text[n] = '\0';
    line = strtok_r(text, "\n", &save);
    nc_test_true(line && strncmp(line, "step,objective,gradient_norm,", 29) == 0, "csv: header");
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        char *p = line, *end;
        size_t step, l, k;
        double f, g, v;
        nc_history_get_row(h, r, &step, &f, &g);
        ok &= strtoull(p, &end, 10) == step && *end == ',';
        p = end + 1;
        ok &= same(strtod(p, &end), f) && *end == ',';
        p = end + 1;
        ok &= same(strtod(p, &end), g);
        for (l = 0; l < L; l++)
            for (k = 0; k < n_metrics; k++) {
                ok &= *end == ',';
                p = end + 1;
                v = strtod(p, &end);
                {
                    double want;
                    nc_history_get(h, r, l, (nc_metric)k, &want);
                    ok &= same(v, want);
                }
            }
        ok &= *end == '\0';
        r++;
    }
    nc_test_true(ok, "csv: every field reads back bit for bit");
    nc_test_int(r, nc_history_rows(h), "csv: one line per row");
    free(text);
}

int main(void)
{
    const size_t counts[3] = {6, 4, 3};
    const nc_metric chosen[3] = {NC_METRIC_NC3, NC_METRIC_NC1, NC_METRIC_NC2_ETF_MEANS};
    nc_model *m = NULL;
    nc_history *h = NULL;
    nc_metrics *ref = NULL;
    char dir[256], csv[300], json[300];
    size_t r, l, k;
    int ok = 1;
    nc_test_true(nc_test_make_temp_dir(dir, sizeof dir, "nc_history") == 0, "temp dir");
    snprintf(csv, sizeof csv, "%s/h.csv", dir);
    snprintf(json, sizeof json, "%s/h.json", dir);
    nc_model_create_counts(&m, 5, 3, counts);
    nc_model_set_depth(m, 3);
    nc_model_set_weight_decay(m, 1e-2, 1e-2, 0);
    nc_model_init_gaussian(m, 0.5, 3);
    nc_metrics_create(&ref);
    nc_test_int(nc_history_create(&h), NC_SUCCESS, "create");
    for (r = 0; r < 5; r++) {
        nc_test_int(nc_history_record(h, m, 10 * r, 1.0 / (double)(r + 1), (double)r), NC_SUCCESS,
                    "record");
        /* the row equals the metrics computed directly, at every layer */
        for (l = 0; l < 3; l++) {
            nc_metrics_compute_layer(ref, m, l);
            for (k = 0; k < NC_METRIC_COUNT; k++) {
                double a, b;
                nc_history_get(h, r, l, (nc_metric)k, &a);
                nc_metrics_get(ref, (nc_metric)k, &b);
                ok &= same(a, b);
            }
        }
        nc_model_init_gaussian(m, 0.5, 10 + r); /* a new state for the next row */
    }
    nc_test_true(ok, "rows equal nc_metrics_compute_layer at every layer, bit for bit");
    nc_test_int(nc_history_rows(h), 5, "5 rows");
    nc_test_int(nc_history_layers(h), 3, "3 layers per row");
    nc_test_int(nc_history_save_csv(h, csv), NC_SUCCESS, "save csv");
    csv_round_trip(h, csv, NC_METRIC_COUNT);
    nc_test_int(nc_history_save_json(h, json), NC_SUCCESS, "save json");
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file left");
    {
        size_t n, rows = 0;
        unsigned char *b = nc_test_read_bytes(json, &n);
        char *text = b ? realloc(b, n + 1) : NULL, *p;
        int jok = text != NULL;
        if (text) {
            text[n] = '\0';
            jok &= strstr(text, "\"layers\": 3") != NULL;
            for (p = strstr(text, "\"objective\": "); p; p = strstr(p + 1, "\"objective\": ")) {
                double f;
                nc_history_get_row(h, rows, NULL, &f, NULL);
                jok &= same(strtod(p + 13, NULL), f);
                rows++;
            }
        }
        nc_test_true(jok, "json: the layers and every objective read back bit for bit");
        nc_test_int(rows, 5, "json: one object per row");
        free(text);
    }

    /* chosen metrics, layer 0 only */
    nc_test_int(nc_history_set_metrics(h, chosen, 3), NC_ERR_UNSUPPORTED, "metrics fixed once rows exist");
    nc_test_int(nc_history_clear(h), NC_SUCCESS, "clear");
    nc_test_int(nc_history_rows(h), 0, "no rows after clear");
    nc_test_int(nc_history_set_metrics(h, chosen, 3), NC_SUCCESS, "choose 3 metrics");
    nc_test_int(nc_history_set_all_layers(h, 0), NC_SUCCESS, "layer 0 only");
    nc_test_int(nc_history_record(h, m, 0, 0.5, 0.25), NC_SUCCESS, "record chosen");
    nc_test_int(nc_history_layers(h), 1, "1 layer per row");
    {
        double a, b;
        nc_metrics_compute(ref, m);
        nc_history_get(h, 0, 0, NC_METRIC_NC1, &a);
        nc_metrics_get(ref, NC_METRIC_NC1, &b);
        nc_test_true(same(a, b), "chosen NC1 equals nc_metrics_compute");
        nc_test_int(nc_history_get(h, 0, 0, NC_METRIC_NC4, &a), NC_ERR_UNAVAILABLE,
                    "a metric not chosen is unavailable");
        nc_test_true(isnan(a), "... and NaN");
    }
    nc_test_int(nc_history_save_csv(h, csv), NC_SUCCESS, "save chosen csv");
    {
        size_t n;
        unsigned char *b = nc_test_read_bytes(csv, &n);
        nc_test_true(b && strncmp((char *)b, "step,objective,gradient_norm,nc3,nc1,nc2_etf_means\n",
                                  51) == 0, "csv header names the chosen metrics in order");
        free(b);
    }
    /* errors */
    {
        const nc_metric bad[2] = {NC_METRIC_NC1, NC_METRIC_NC1};
        const nc_metric unknown[1] = {(nc_metric)99};
        double v;
        nc_history_clear(h);
        nc_test_int(nc_history_set_metrics(h, bad, 2), NC_ERR_INVALID_VALUE, "repeated metric");
        nc_test_int(nc_history_set_metrics(h, unknown, 1), NC_ERR_INVALID_VALUE, "unknown metric");
        nc_test_true(strlen(nc_history_last_error(h)) > 0, "a message says what");
        nc_test_int(nc_history_set_metrics(h, NULL, 3), NC_ERR_NULL_ARGUMENT, "NULL metrics");
        nc_test_int(nc_history_record(h, NULL, 0, 0, 0), NC_ERR_NULL_ARGUMENT, "NULL model");
        nc_test_int(nc_history_record(NULL, m, 0, 0, 0), NC_ERR_NULL_ARGUMENT, "NULL history");
        nc_test_int(nc_history_get(h, 0, 0, NC_METRIC_NC1, &v), NC_ERR_INVALID_VALUE, "no row 0");
        nc_test_int(nc_history_get_row(h, 3, NULL, NULL, NULL), NC_ERR_INVALID_VALUE, "no row 3");
        nc_test_int(nc_history_save_csv(h, NULL), NC_ERR_NULL_ARGUMENT, "NULL path");
        nc_test_int(nc_history_save_csv(h, "/nonexistent-dir/x.csv"), NC_ERR_IO, "unwritable path");
        nc_history_set_all_layers(h, 1);
        nc_history_record(h, m, 0, 0, 0);
        nc_model_set_depth(m, 2);
        nc_test_int(nc_history_record(h, m, 1, 0, 0), NC_ERR_MISMATCH, "depth changed between rows");
        nc_test_true(nc_history_metrics(h) != NULL, "the measuring handle");
        nc_test_true(nc_history_metrics(NULL) == NULL, "NULL history: no handle");
    }
    nc_history_destroy(h);
    nc_history_destroy(NULL);
    nc_metrics_destroy(ref);
    nc_model_destroy(m);
    remove(csv);
    remove(json);
    rmdir(dir);
    return nc_test_summary("test_metrics_history");
}

/*
 * test_metrics_layers.c - the features, classifiers and NC metrics at every
 * layer of a deep linear model, against an independent computation by
 * explicit products (loops over entries, no BLAS), for depths 1-4, with and
 * without bias; layer 0 against nc_metrics_compute; the array form against
 * the model form; every error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncollapse.h"
#include "harness.h"

/* y (rows) = A (rows x cols, row-major, stride lda) x */
static void matvec(const double *A, size_t lda, size_t rows, size_t cols, const double *x, double *y)
{
    size_t r, c;
    for (r = 0; r < rows; r++) {
        double s = 0.0;
        for (c = 0; c < cols; c++) s += A[r * lda + c] * x[c];
        y[r] = s;
    }
}

/* Independent H_l and C_l of a model: loops over the entries. */
static void explicit_layer(const nc_model *m, size_t l, double *Hl, double *C)
{
    const size_t d = nc_model_dim(m), K = nc_model_num_classes(m), N = nc_model_num_samples(m);
    const size_t M = nc_model_get_depth(m);
    double *H = malloc(d * N * sizeof *H), *W = malloc(d * d * sizeof *W), *t = malloc(d * sizeof *t);
    double *Ct = malloc(K * d * sizeof *Ct);
    size_t i, j, r, c, q;
    nc_model_get_H(m, H, d);
    for (i = 0; i < N; i++) memcpy(Hl + i * d, H + i * d, d * sizeof *H);
    for (j = 0; j < l; j++) { /* h <- W_{j+1} h */
        nc_model_get_layer(m, j, W, d);
        for (i = 0; i < N; i++) {
            matvec(W, d, d, d, Hl + i * d, t);
            memcpy(Hl + i * d, t, d * sizeof *t);
        }
    }
    nc_model_get_layer(m, M - 1, C, d); /* C = W_M, then C <- C W_j for j = M-1 .. l+1 */
    for (j = M - 1; j > l; j--) {
        nc_model_get_layer(m, j - 1, W, d);
        for (r = 0; r < K; r++)
            for (c = 0; c < d; c++) {
                double s = 0.0;
                for (q = 0; q < d; q++) s += C[r * d + q] * W[q * d + c];
                Ct[r * d + c] = s;
            }
        memcpy(C, Ct, K * d * sizeof *C);
    }
    free(H);
    free(W);
    free(t);
    free(Ct);
}

static double max_rel(const double *a, const double *b, size_t n)
{
    double e = 0.0, s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > e) e = fabs(a[i] - b[i]);
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return s > 0.0 ? e / s : e;
}

static void check_model(size_t depth, int bias, uint64_t seed)
{
    const size_t d = 6, K = 4, counts[4] = {7, 5, 3, 3}, N = 18;
    nc_model *m = NULL;
    nc_metrics *a = NULL, *b = NULL;
    double Hl[6 * 18], C[4 * 6], Hx[6 * 18], Cx[4 * 6], bias_v[4] = {0.3, -0.2, 0.1, 0.05};
    int32_t labels[18];
    const double *layers[4];
    double *store = malloc(depth * d * d * sizeof *store);
    size_t l, k;
    char what[160];
    nc_test_int(nc_model_create_counts(&m, d, K, counts), NC_SUCCESS, "create");
    nc_test_int(nc_model_set_depth(m, depth), NC_SUCCESS, "depth");
    nc_test_int(nc_model_init_gaussian(m, 0.7, seed), NC_SUCCESS, "init");
    if (bias) {
        nc_model_set_bias(m, 1);
        nc_model_set_b(m, bias_v);
    }
    nc_model_get_labels(m, labels);
    for (l = 0; l < depth; l++) {
        nc_model_get_layer(m, l, store + l * d * d, d);
        layers[l] = store + l * d * d;
    }
    nc_metrics_create(&a);
    nc_metrics_create(&b);
    for (l = 0; l < depth; l++) {
        explicit_layer(m, l, Hx, Cx);
        nc_test_int(nc_model_get_layer_features(m, l, Hl, d), NC_SUCCESS, "layer features");
        nc_test_int(nc_model_get_layer_classifier(m, l, C, d), NC_SUCCESS, "layer classifier");
        snprintf(what, sizeof what, "depth %zu bias %d layer %zu: H_l against explicit products",
                 depth, bias, l);
        nc_test_true(max_rel(Hl, Hx, d * N) < 1e-13, what);
        snprintf(what, sizeof what, "depth %zu bias %d layer %zu: C_l against explicit products",
                 depth, bias, l);
        nc_test_true(max_rel(C, Cx, K * d) < 1e-13, what);
        nc_test_int(nc_metrics_compute_layer(a, m, l), NC_SUCCESS, "compute_layer");
        nc_test_int(nc_metrics_compute_data(b, d, K, N, Hx, d, labels, Cx, d, bias ? bias_v : NULL),
                    NC_SUCCESS, "explicit metrics");
        for (k = 0; k < NC_METRIC_COUNT; k++) {
            double va, vb;
            nc_test_int(nc_metrics_get(a, (nc_metric)k, &va), NC_SUCCESS, "layer metric available");
            nc_metrics_get(b, (nc_metric)k, &vb);
            snprintf(what, sizeof what, "depth %zu bias %d layer %zu: %s against explicit", depth,
                     bias, l, nc_metric_name((nc_metric)k));
            nc_test_abs(va, vb, 1e-10 * (fabs(vb) > 1.0 ? fabs(vb) : 1.0), what);
        }
        /* the array form gives what the model form gives */
        {
            double *H0 = malloc(d * N * sizeof *H0);
            nc_model_get_H(m, H0, d);
            nc_test_int(nc_metrics_compute_layer_data(b, d, K, N, H0, d, labels, depth, layers, d,
                                                      bias ? bias_v : NULL, l),
                        NC_SUCCESS, "compute_layer_data from H");
            free(H0);
        }
        for (k = 0; k < NC_METRIC_COUNT; k++) {
            double va, vb;
            nc_metrics_get(a, (nc_metric)k, &va);
            nc_metrics_get(b, (nc_metric)k, &vb);
            snprintf(what, sizeof what, "depth %zu layer %zu: %s, arrays against model", depth, l,
                     nc_metric_name((nc_metric)k));
            nc_test_abs(va, vb, 1e-12 * (fabs(vb) > 1.0 ? fabs(vb) : 1.0), what);
        }
    }
    /* layer 0 is nc_metrics_compute, bit for bit */
    nc_metrics_compute(b, m);
    nc_metrics_compute_layer(a, m, 0);
    for (k = 0; k < NC_METRIC_COUNT; k++) {
        double va, vb;
        nc_metrics_get(a, (nc_metric)k, &va);
        nc_metrics_get(b, (nc_metric)k, &vb);
        snprintf(what, sizeof what, "depth %zu: layer 0 %s equals nc_metrics_compute", depth,
                 nc_metric_name((nc_metric)k));
        nc_test_true(memcmp(&va, &vb, sizeof va) == 0, what);
    }
    /* errors */
    nc_test_int(nc_metrics_compute_layer(a, m, depth), NC_ERR_INVALID_VALUE, "layer = depth");
    nc_test_int(nc_metrics_compute_layer(a, NULL, 0), NC_ERR_NULL_ARGUMENT, "NULL model");
    nc_test_int(nc_metrics_compute_layer(NULL, m, 0), NC_ERR_NULL_ARGUMENT, "NULL metrics");
    nc_test_int(nc_model_get_layer_features(m, depth, Hl, d), NC_ERR_INVALID_VALUE,
                "features: layer = depth");
    nc_test_int(nc_model_get_layer_features(m, 0, Hl, d - 1), NC_ERR_SIZE_MISMATCH,
                "features: short stride");
    nc_test_int(nc_model_get_layer_classifier(m, 0, C, d - 1), NC_ERR_SIZE_MISMATCH,
                "classifier: short stride");
    nc_test_int(nc_model_get_layer_classifier(NULL, 0, C, d), NC_ERR_NULL_ARGUMENT,
                "classifier: NULL model");
    nc_test_int(nc_model_get_layer_features(m, 0, NULL, d), NC_ERR_NULL_ARGUMENT,
                "features: NULL output");
    nc_test_int(nc_metrics_compute_layer_data(a, d, K, N, Hx, d, labels, depth, NULL, d, NULL, 0),
                NC_ERR_NULL_ARGUMENT, "data: NULL layers");
    nc_test_int(nc_metrics_compute_layer_data(a, d, K, N, Hx, d, labels, depth, layers, d - 1, NULL,
                                              0),
                NC_ERR_SIZE_MISMATCH, "data: short layer stride");
    nc_test_int(nc_metrics_compute_layer_data(a, d, K, N, Hx, d, labels, depth, layers, d, NULL,
                                              depth),
                NC_ERR_INVALID_VALUE, "data: layer = depth");
    store[(depth - 1) * d * d + 3] = NAN;
    nc_test_int(nc_metrics_compute_layer_data(a, d, K, N, Hx, d, labels, depth, layers, d, NULL, 0),
                NC_ERR_NON_FINITE, "data: NaN in a layer");
    nc_test_true(strlen(nc_metrics_last_error(a)) > 0, "data: a message says what");
    {
        double v;
        nc_test_int(nc_metrics_get(a, NC_METRIC_NC1, &v), NC_ERR_UNAVAILABLE,
                    "a refused compute leaves nothing available");
    }
    nc_metrics_destroy(a);
    nc_metrics_destroy(b);
    nc_model_destroy(m);
    free(store);
}

int main(void)
{
    size_t depth;
    for (depth = 1; depth <= 4; depth++) {
        check_model(depth, 0, 11 + depth);
        check_model(depth, 1, 23 + depth);
    }
    return nc_test_summary("test_metrics_layers");
}

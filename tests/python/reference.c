/*
 * reference.c - the C side of the Python package's bit-identity tests.
 *
 * Each command does with the C API what a test does through the package and
 * writes its results as float64 .npy files, which the test compares with
 * the package's results bit for bit. Arguments are key=value pairs.
 *
 *   model out=DIR d= counts=a,b,.. [algorithm=gd|nesterov|adam|lbfgs lr= lr_h=
 *         momentum= steps= seed= std= lw= lh= lb= bias= depth= features=free|relu
 *         loss= threads=]        -> DIR/W.npy H.npy b.npy objective.npy
 *                                   layers.npy (metrics of every layer, M x 13)
 *   metrics out=F H= labels= [W= b= K= global_mean= between=]
 *                                -> F: 13 values (NaN where unavailable)
 *   stream out=F H= labels= W= b= K= shards=n1,n2,..
 *                                -> F: 13 values of the merged shards
 *   prediction out=DIR kind= counts= lw= lh= lb= [bias= depth=]
 *                                -> DIR/objective.npy logits.npy classifier_gram.npy
 *                                   feature_gram.npy
 *   history out=F d= counts= steps= every= seed= std= lw= lh= lr= momentum= depth=
 *                                -> F: the run's history as CSV (nc_history_save_csv)
 *   bench H= labels= W= b= calls= batches=
 *                                -> prints the seconds of one nc_metrics_compute_data
 *                                   and the NC_METRIC_COUNT nc_metrics_get calls (the best
 *                                   batch's mean, one handle reused)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ncollapse.h"

static int g_argc;
static char **g_argv;

static const char *arg(const char *key, const char *dflt)
{
    size_t n = strlen(key);
    for (int i = 2; i < g_argc; i++)
        if (strncmp(g_argv[i], key, n) == 0 && g_argv[i][n] == '=') return g_argv[i] + n + 1;
    return dflt;
}
static double argd(const char *key, double dflt)
{
    const char *v = arg(key, NULL);
    return v ? strtod(v, NULL) : dflt;
}
static size_t argz(const char *key, size_t dflt)
{
    const char *v = arg(key, NULL);
    return v ? (size_t)strtoull(v, NULL, 10) : dflt;
}
static size_t list(const char *key, size_t *out, size_t max)
{
    const char *v = arg(key, "");
    size_t n = 0;
    while (*v && n < max) {
        char *end;
        out[n++] = (size_t)strtoull(v, &end, 10);
        v = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void die(const char *what, nc_status st, const char *msg)
{
    fprintf(stderr, "reference: %s: %s (%s) %s\n", what, nc_status_name(st), nc_strerror(st),
            msg ? msg : "");
    exit(1);
}
#define CHECK(call, msg) do { nc_status st_ = (call); if (st_ < 0) die(#call, st_, msg); } while (0)

static void save(const char *path, const double *x, size_t rows, size_t cols)
{
    nc_npy_writer *w = NULL;
    CHECK(nc_npy_writer_create(&w), NULL);
    CHECK(nc_npy_writer_begin(w, path, NC_NPY_FLOAT64, 2, rows, cols), nc_npy_writer_last_error(w));
    CHECK(nc_npy_writer_write_rows(w, x, rows, cols), nc_npy_writer_last_error(w));
    CHECK(nc_npy_writer_finish(w), nc_npy_writer_last_error(w));
    nc_npy_writer_destroy(w);
}
static void save_in(const char *dir, const char *name, const double *x, size_t rows, size_t cols)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    save(path, x, rows, cols);
}

static double *load(const char *path, size_t *rows, size_t *cols)
{
    nc_npy_reader *r = NULL;
    double *x;
    CHECK(nc_npy_reader_create(&r), NULL);
    CHECK(nc_npy_reader_open(r, path), nc_npy_reader_last_error(r));
    CHECK(nc_npy_reader_info(r, NULL, NULL, rows, cols), NULL);
    x = malloc(*rows * *cols * sizeof *x + 8);
    CHECK(nc_npy_reader_read_rows(r, 0, *rows, x, *cols), nc_npy_reader_last_error(r));
    nc_npy_reader_destroy(r);
    return x;
}
static int32_t *load_labels(const char *path, size_t *n)
{
    nc_npy_reader *r = NULL;
    int32_t *y;
    CHECK(nc_npy_reader_create(&r), NULL);
    CHECK(nc_npy_reader_open(r, path), nc_npy_reader_last_error(r));
    CHECK(nc_npy_reader_info(r, NULL, NULL, n, NULL), NULL);
    y = malloc(*n * sizeof *y + 4);
    CHECK(nc_npy_reader_read_labels(r, 0, *n, y, 0), nc_npy_reader_last_error(r));
    nc_npy_reader_destroy(r);
    return y;
}

static void values(const nc_metrics *m, double *v)
{
    for (int k = 0; k < NC_METRIC_COUNT; k++)
        if (nc_metrics_get(m, (nc_metric)k, &v[k]) != NC_SUCCESS) v[k] = NAN;
}

static int by_name(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return i;
    fprintf(stderr, "reference: unknown value %s\n", v);
    exit(2);
}

static nc_model *make_model(size_t *K)
{
    static const char *const losses[] = {"ce", "mse", "label_smoothing", "focal", "weighted_ce",
                                         "logit_adjusted", "dot_regression"};
    static const char *const features[] = {"free", "relu"};
    size_t counts[64];
    nc_model *m = NULL;
    *K = list("counts", counts, 64);
    CHECK(nc_model_create_counts(&m, argz("d", 8), *K, counts), NULL);
    CHECK(nc_model_set_loss(m, (nc_loss)by_name(arg("loss", "ce"), losses, 7)), nc_model_last_error(m));
    CHECK(nc_model_set_bias(m, (int)argz("bias", 0)), nc_model_last_error(m));
    CHECK(nc_model_set_weight_decay(m, argd("lw", 5e-4), argd("lh", 5e-4), argd("lb", 0)),
          nc_model_last_error(m));
    CHECK(nc_model_set_features(m, (nc_features)by_name(arg("features", "free"), features, 2)),
          nc_model_last_error(m));
    CHECK(nc_model_set_depth(m, argz("depth", 1)), nc_model_last_error(m));
    CHECK(nc_model_set_threads(m, argz("threads", 1)), nc_model_last_error(m));
    CHECK(nc_model_init_gaussian(m, argd("std", 0.1), argz("seed", 1)), nc_model_last_error(m));
    return m;
}

static nc_optimizer *make_optimizer(nc_model *m)
{
    static const char *const algs[] = {"gd", "nesterov", "adam", "lbfgs"};
    nc_optimizer *o = NULL;
    nc_algorithm a = (nc_algorithm)by_name(arg("algorithm", "gd"), algs, 4);
    CHECK(nc_optimizer_create(&o, m, a), NULL);
    if (arg("lr", NULL)) CHECK(nc_optimizer_set_learning_rate(o, argd("lr", 0.1)), NULL);
    if (arg("lr_h", NULL)) CHECK(nc_optimizer_set_feature_learning_rate(o, argd("lr_h", 0.1)), NULL);
    if (arg("momentum", NULL)) CHECK(nc_optimizer_set_momentum(o, argd("momentum", 0)), NULL);
    return o;
}

static int cmd_model(void)
{
    const char *out = arg("out", ".");
    size_t K, steps = argz("steps", 100);
    nc_model *m = make_model(&K);
    nc_optimizer *o = make_optimizer(m);
    nc_metrics *mt = NULL;
    size_t d = nc_model_dim(m), N = nc_model_num_samples(m), M = nc_model_get_depth(m);
    double *W = malloc(K * d * sizeof *W), *H = malloc(N * d * sizeof *H), b[64], f;
    double *layers = malloc(M * NC_METRIC_COUNT * sizeof *layers);
    for (size_t s = 0; s < steps; s++) {
        nc_status st = nc_optimizer_step(o);
        if (st < 0) die("step", st, nc_optimizer_last_error(o));
    }
    CHECK(nc_model_get_W(m, W, d), NULL);
    CHECK(nc_model_get_H(m, H, d), NULL);
    CHECK(nc_model_get_b(m, b), NULL);
    CHECK(nc_model_objective(m, &f), NULL);
    CHECK(nc_metrics_create(&mt), NULL);
    for (size_t l = 0; l < M; l++) {
        CHECK(nc_metrics_compute_layer(mt, m, l), nc_metrics_last_error(mt));
        values(mt, layers + l * NC_METRIC_COUNT);
    }
    save_in(out, "W.npy", W, K, d);
    save_in(out, "H.npy", H, N, d);
    save_in(out, "b.npy", b, 1, K);
    save_in(out, "objective.npy", &f, 1, 1);
    save_in(out, "layers.npy", layers, M, NC_METRIC_COUNT);
    nc_metrics_destroy(mt);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    free(W); free(H); free(layers);
    return 0;
}

static int cmd_metrics(int streamed)
{
    size_t N, d, n, k, dw, one;
    double *H = load(arg("H", ""), &N, &d), *W = NULL, *b = NULL, v[NC_METRIC_COUNT];
    int32_t *y = load_labels(arg("labels", ""), &n);
    size_t K = argz("K", 0);
    nc_metrics *m = NULL;
    if (arg("W", NULL)) { W = load(arg("W", ""), &k, &dw); K = k; }
    if (arg("b", NULL)) b = load(arg("b", ""), &k, &one);
    CHECK(nc_metrics_create(&m), NULL);
    CHECK(nc_metrics_set_global_mean(m, (nc_global_mean)argz("global_mean", 0)), NULL);
    CHECK(nc_metrics_set_between_weight(m, (nc_between_weight)argz("between", 0)), NULL);
    if (!streamed) {
        CHECK(nc_metrics_compute_data(m, d, K, N, H, d, y, W, d, b), nc_metrics_last_error(m));
    } else {
        size_t shards[64], ns = list("shards", shards, 64), row;
        nc_stream *all = NULL, *parts[64];
        for (size_t s = 0; s < ns; s++) { parts[s] = NULL; CHECK(nc_stream_create(&parts[s], d, K), NULL); }
        for (size_t s = 0; s < ns; s++) {
            CHECK(nc_stream_set_classifier(parts[s], W, d, b), nc_stream_last_error(parts[s]));
        }
        row = 0;
        for (size_t s = 0; s < ns; s++) {
            CHECK(nc_stream_add(parts[s], shards[s], H + row * d, d, y + row), nc_stream_last_error(parts[s]));
            row += shards[s];
        }
        for (size_t s = 1; s < ns; s++) CHECK(nc_stream_merge(parts[0], parts[s]), nc_stream_last_error(parts[0]));
        CHECK(nc_stream_next_pass(parts[0]), nc_stream_last_error(parts[0]));
        for (size_t s = 1; s < ns; s++) {
            nc_stream_destroy(parts[s]);
            parts[s] = NULL;
            CHECK(nc_stream_copy(&parts[s], parts[0]), NULL);
        }
        CHECK(nc_stream_copy(&all, parts[0]), NULL);
        row = 0;
        for (size_t s = 0; s < ns; s++) {
            nc_stream *t = s == 0 ? all : parts[s];
            CHECK(nc_stream_add(t, shards[s], H + row * d, d, y + row), nc_stream_last_error(t));
            row += shards[s];
        }
        for (size_t s = 1; s < ns; s++) CHECK(nc_stream_merge(all, parts[s]), nc_stream_last_error(all));
        CHECK(nc_metrics_compute_stream(m, all), nc_metrics_last_error(m));
        for (size_t s = 0; s < ns; s++) nc_stream_destroy(parts[s]);
        nc_stream_destroy(all);
    }
    values(m, v);
    save(arg("out", "out.npy"), v, 1, NC_METRIC_COUNT);
    nc_metrics_destroy(m);
    free(H); free(W); free(b); free(y);
    return 0;
}

static int cmd_prediction(void)
{
    size_t counts[64], K = list("counts", counts, 64);
    const char *out = arg("out", ".");
    nc_prediction *p = NULL;
    double f, *G = malloc(K * K * sizeof *G);
    CHECK(nc_prediction_create(&p, (nc_prediction_kind)argz("kind", 0), K, counts), NULL);
    CHECK(nc_prediction_set_weight_decay(p, argd("lw", 5e-4), argd("lh", 5e-4), argd("lb", 0)),
          nc_prediction_last_error(p));
    if (arg("bias", NULL)) CHECK(nc_prediction_set_bias(p, (int)argz("bias", 0)), nc_prediction_last_error(p));
    if (arg("depth", NULL)) CHECK(nc_prediction_set_depth(p, argz("depth", 1)), nc_prediction_last_error(p));
    CHECK(nc_prediction_compute(p), nc_prediction_last_error(p));
    CHECK(nc_prediction_get_objective(p, &f), NULL);
    save_in(out, "objective.npy", &f, 1, 1);
    /* K x K column-major = a (K, K) C array of the transpose: written as rows */
    CHECK(nc_prediction_get_logits(p, G, K), NULL);
    save_in(out, "logits.npy", G, K, K);
    CHECK(nc_prediction_get_classifier_gram(p, G, K), NULL);
    save_in(out, "classifier_gram.npy", G, K, K);
    CHECK(nc_prediction_get_feature_gram(p, G, K), NULL);
    save_in(out, "feature_gram.npy", G, K, K);
    nc_prediction_destroy(p);
    free(G);
    return 0;
}

static int cmd_history(void)
{
    size_t K;
    nc_model *m = make_model(&K);
    nc_optimizer *o = make_optimizer(m);
    nc_history *h = NULL;
    nc_status st;
    CHECK(nc_history_create(&h), NULL);
    CHECK(nc_optimizer_set_recorder(o, h, argz("every", 10)), nc_optimizer_last_error(o));
    CHECK(nc_optimizer_set_max_iterations(o, argz("steps", 100)), NULL);
    st = nc_optimizer_run(o);
    if (st < 0) die("run", st, nc_optimizer_last_error(o));
    CHECK(nc_history_save_csv(h, arg("out", "history.csv")), nc_history_last_error(h));
    nc_history_destroy(h);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmd_bench(void)
{
    size_t N, d, n, K, dw, one, calls = argz("calls", 200), batches = argz("batches", 5);
    double *H = load(arg("H", ""), &N, &d), *W = load(arg("W", ""), &K, &dw);
    double *b = load(arg("b", ""), &K, &one), v[NC_METRIC_COUNT], best = INFINITY;
    int32_t *y = load_labels(arg("labels", ""), &n);
    nc_metrics *m = NULL;
    CHECK(nc_metrics_create(&m), NULL);
    CHECK(nc_metrics_compute_data(m, d, K, N, H, d, y, W, d, b), nc_metrics_last_error(m));
    for (size_t r = 0; r < batches; r++) {
        double t0 = now(), t;
        for (size_t c = 0; c < calls; c++) {
            CHECK(nc_metrics_compute_data(m, d, K, N, H, d, y, W, d, b), nc_metrics_last_error(m));
            values(m, v);
        }
        t = (now() - t0) / (double)calls;
        if (t < best) best = t;
    }
    printf("%.9e\n", best);
    nc_metrics_destroy(m);
    free(H); free(W); free(b); free(y);
    return 0;
}

int main(int argc, char **argv)
{
    g_argc = argc;
    g_argv = argv;
    if (argc < 2) { fprintf(stderr, "usage: reference model|metrics|stream|prediction|history|bench key=value...\n"); return 2; }
    if (strcmp(argv[1], "model") == 0) return cmd_model();
    if (strcmp(argv[1], "metrics") == 0) return cmd_metrics(0);
    if (strcmp(argv[1], "stream") == 0) return cmd_metrics(1);
    if (strcmp(argv[1], "prediction") == 0) return cmd_prediction();
    if (strcmp(argv[1], "history") == 0) return cmd_history();
    if (strcmp(argv[1], "bench") == 0) return cmd_bench();
    fprintf(stderr, "reference: unknown command %s\n", argv[1]);
    return 2;
}

/*
 * alloc_failures.c - every allocation of the library failed in turn.
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc against the
 * AddressSanitizer build of the library (make check), so that the
 * library's own allocations go through the wrappers below. A scenario
 * covering the whole API (models of every kind, every optimizer, runs with
 * a recorder and the escape, the escape's class moves from W = H = 0,
 * curvature, checkpoints, metrics of every layer, predictions and their
 * comparison, frames and structure, .npy files, streams and their files,
 * histories) is first run counting the allocations made inside library
 * calls; then once per allocation k, with the k-th failing. Each library
 * call must then end in a failure code (never a crash), after which the
 * same call, retried without failures, must succeed on the same handles;
 * or in success (the failure was absorbed), which only the saves may do
 * (their best-effort parts: after the rename, and the removal of stale
 * temporary files). After every run LeakSanitizer checks that nothing
 * leaked.
 * Prints the number of allocation points and the outcomes.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "harness.h"
#include "ncollapse.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif
#endif

/* ---- the wrappers ---------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static int inside_;       /* 1 during a library call of the scenario */
static long count_;       /* allocations inside library calls in this run */
static long fail_at_ = 0; /* the allocation to fail (1-based), 0 for none */
static int failed_now_;   /* the failure happened during the current call */

static int should_fail(void)
{
    if (!inside_) return 0;
    if (++count_ == fail_at_) {
        failed_now_ = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

/* ---- outcomes ------------------------------------------------------------------ */

static long absorbed_, refused_, bad_;
static char first_bad_[300];
/* Outcomes by failure code (index -status) and absorbed failures by call. */
static long by_code_[64];
static const char *absorbed_call_[32];
static long absorbed_n_[32];

static void bad(const char *what, const char *call, int line, nc_status st);

/* The calls that may absorb a failure with an unchanged result: the saves,
 * whose best-effort parts (after the rename, and the removal of stale
 * temporary files of dead processes) cannot change what was written. */
static int may_absorb(const char *call)
{
    static const char *const saves[] = {"nc_checkpoint_save(", "nc_history_save_csv(",
                                        "nc_history_save_json(", "nc_stream_save(", "write_npy(",
                                        "write_labels("};
    size_t i;
    for (i = 0; i < sizeof saves / sizeof saves[0]; i++)
        if (strncmp(call, saves[i], strlen(saves[i])) == 0) return 1;
    return 0;
}

static void absorbed(const char *call, int line)
{
    int i;
    absorbed_++;
    if (!may_absorb(call)) bad("a failure absorbed (success)", call, line, NC_SUCCESS);
    for (i = 0; i < 32 && absorbed_call_[i] && strcmp(absorbed_call_[i], call) != 0; i++) continue;
    if (i == 32) return;
    absorbed_call_[i] = call;
    absorbed_n_[i]++;
}

static void bad(const char *what, const char *call, int line, nc_status st)
{
    if (!bad_)
        snprintf(first_bad_, sizeof first_bad_, "line %d, %s: %s (%s)", line, call, what,
                 nc_status_name(st));
    bad_++;
}

/* Run a library call with injection on; on a failure, retry it with
 * injection off: it must then succeed. */
#define CALL(expr)                                                                 \
    do {                                                                           \
        nc_status st_;                                                             \
        failed_now_ = 0;                                                           \
        inside_ = 1;                                                               \
        st_ = (expr);                                                              \
        inside_ = 0;                                                               \
        if (st_ < 0) {                                                             \
            if (!failed_now_) bad("failed without an injected failure", #expr, __LINE__, st_); \
            else if (strcmp(nc_status_name(st_), "NC_UNKNOWN_STATUS") == 0)       \
                bad("unnamed status", #expr, __LINE__, st_);                            \
            else {                                                                 \
                refused_++;                                                        \
                if (-st_ < 64) by_code_[-st_]++;                                   \
            }                                                                      \
            if ((st_ = (expr)) < 0) bad("the retry failed", #expr, __LINE__, st_);      \
        } else if (failed_now_) {                                                  \
            absorbed(#expr, __LINE__);                                             \
        }                                                                          \
    } while (0)

/* A void call (destroy), with injection on all the same. */
#define VOID_CALL(expr) \
    do {                \
        inside_ = 1;    \
        expr;           \
        inside_ = 0;    \
    } while (0)

static char dir[256];
static size_t escaped_; /* escapes of the zero state's run without failures */

/* ---- multi-call units, retried whole ---------------------------------------- */

static nc_status write_npy(nc_npy_writer *w, const char *path, const double *x, size_t rows,
                           size_t cols)
{
    nc_status st = nc_npy_writer_begin(w, path, NC_NPY_FLOAT64, 2, rows, cols);
    if (st == NC_SUCCESS) st = nc_npy_writer_write_rows(w, x, rows, cols);
    if (st == NC_SUCCESS) st = nc_npy_writer_finish(w);
    return st;
}

static nc_status write_labels(nc_npy_writer *w, const char *path, const int32_t *y, size_t n)
{
    nc_status st = nc_npy_writer_begin(w, path, NC_NPY_INT32, 1, n, 1);
    if (st == NC_SUCCESS) st = nc_npy_writer_write_labels(w, y, n);
    if (st == NC_SUCCESS) st = nc_npy_writer_finish(w);
    return st;
}

static nc_status read_npy(nc_npy_reader *r, const char *path, double *x, size_t cols)
{
    nc_status st = nc_npy_reader_open(r, path);
    if (st == NC_SUCCESS) st = nc_npy_reader_read_rows(r, 0, 2, x, cols);
    return st;
}

static nc_status read_labels(nc_npy_reader *r, const char *path, int32_t *y, size_t n)
{
    nc_status st = nc_npy_reader_open(r, path);
    if (st == NC_SUCCESS) st = nc_npy_reader_read_labels(r, 0, n, y, 3);
    return st;
}

/* ---- the scenario ---------------------------------------------------------- */

enum { D = 4, K = 3, N = 9 };

static void scenario(void)
{
    static const int32_t labels[N] = {0, 1, 2, 0, 1, 2, 0, 0, 1};
    static const size_t counts[K] = {3, 3, 3};
    static const double cw[K] = {1.0, 2.0, 0.5};
    const nc_algorithm algs[4] = {NC_OPT_GD, NC_OPT_NESTEROV, NC_OPT_ADAM, NC_OPT_LBFGS};
    char ckpt[300], csv[300], json[300], xnpy[300], ynpy[300], sfile[300];
    double H[D * N], W[D * K], b[K], x[2 * D], M[D * K], T[D * K], R[D * D], G[K * K],
        pairs[K * K], stats[NC_MINORITY_STAT_COUNT], values[NC_COMPARE_COUNT], v, scale, resid,
        mean;
    int32_t ylab[N];
    size_t mcounts[K];
    const int minority[K] = {0, 0, 1};
    nc_model *m = NULL, *copy = NULL, *ce = NULL, *z = NULL;
    nc_optimizer *o = NULL;
    nc_history *h = NULL;
    nc_curvature *c = NULL;
    nc_metrics *met = NULL;
    nc_prediction *p = NULL;
    nc_npy_writer *w = NULL;
    nc_npy_reader *r = NULL;
    nc_stream *s = NULL, *s2 = NULL, *s3 = NULL;
    nc_verdict verdict;
    int a;
    size_t i;
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt", dir);
    snprintf(csv, sizeof csv, "%s/h.csv", dir);
    snprintf(json, sizeof json, "%s/h.json", dir);
    snprintf(xnpy, sizeof xnpy, "%s/x.npy", dir);
    snprintf(ynpy, sizeof ynpy, "%s/y.npy", dir);
    snprintf(sfile, sizeof sfile, "%s/s.stream", dir);

    /* models: labels, counts, copy; depth, threads, ReLU, bias, fixed frames */
    CALL(nc_model_create(&m, D, K, N, labels));
    CALL(nc_model_set_bias(m, 1));
    CALL(nc_model_set_class_weights(m, cw));
    CALL(nc_model_set_depth(m, 2));
    CALL(nc_model_set_threads(m, 2));
    CALL(nc_model_init_gaussian(m, 0.3, 1));
    CALL(nc_model_copy(&copy, m));
    CALL(nc_model_create_counts(&ce, D, K, counts));
    CALL(nc_model_set_weight_decay(ce, 5e-3, 5e-3, 1e-2));
    CALL(nc_model_set_features(ce, NC_FEATURES_RELU));
    CALL(nc_model_init_gaussian(ce, 0.3, 2));
    CALL(nc_model_fix_classifier_etf(ce, 1.0, 3, NULL, 0));
    CALL(nc_model_fix_classifier_orthogonal(ce, 1.0, 3, NULL, 0));
    CALL(nc_model_unfix_classifier(ce));
    CALL(nc_model_set_features(ce, NC_FEATURES_FREE));
    CALL(nc_model_objective(m, &v));
    CALL(nc_model_gradient(m, &v, NULL, 0, NULL, 0, NULL));
    CALL(nc_model_get_layer_features(m, 1, H, D));
    CALL(nc_model_get_layer_classifier(m, 0, W, D));

    /* every optimizer, a recorder, the escape and the check */
    CALL(nc_history_create(&h));
    for (a = 0; a < 4; a++) {
        CALL(nc_optimizer_create(&o, m, algs[a]));
        if (algs[a] == NC_OPT_GD) CALL(nc_optimizer_set_momentum(o, 0.9));
        if (algs[a] == NC_OPT_LBFGS) CALL(nc_optimizer_set_history(o, 4));
        CALL(nc_optimizer_set_max_iterations(o, 3));
        CALL(nc_optimizer_set_recorder(o, h, 1));
        CALL(nc_optimizer_step(o));
        CALL(nc_optimizer_run(o));
        if (algs[a] == NC_OPT_LBFGS) {
            CALL(nc_checkpoint_save(ckpt, m, o));
            CALL(nc_checkpoint_load(ckpt, m, o));
            CALL(nc_optimizer_set_escape(o, 1));
            CALL(nc_optimizer_set_check(o, 1));
            CALL(nc_optimizer_set_gradient_tolerance(o, 1e-1));
            CALL(nc_optimizer_run(o));
        }
        VOID_CALL(nc_optimizer_destroy(o));
        o = NULL;
    }
    /* the escape from W = H = 0 of a deep linear model: the class moves'
     * searches, one per class */
    CALL(nc_model_create(&z, D, K, N, labels));
    CALL(nc_model_set_depth(z, 2));
    CALL(nc_optimizer_create(&o, z, NC_OPT_GD));
    CALL(nc_optimizer_set_max_iterations(o, 2));
    CALL(nc_optimizer_set_gradient_tolerance(o, 1e-1));
    CALL(nc_optimizer_set_escape(o, 1));
    CALL(nc_optimizer_run(o));
    if (fail_at_ == 0) escaped_ = nc_optimizer_escapes(o);
    VOID_CALL(nc_optimizer_destroy(o));
    o = NULL;
    VOID_CALL(nc_model_destroy(z));
    CALL(nc_history_save_csv(h, csv));
    CALL(nc_history_save_json(h, json));
    CALL(nc_checkpoint_save(ckpt, m, NULL));
    CALL(nc_checkpoint_load(ckpt, copy, NULL));

    /* curvature */
    CALL(nc_curvature_create(&c, m));
    CALL(nc_curvature_compute(c));

    /* metrics at every layer, and from arrays */
    CALL(nc_metrics_create(&met));
    CALL(nc_metrics_compute(met, m));
    CALL(nc_metrics_compute_layer(met, m, 1));
    CALL(nc_model_get_H(m, H, D));
    CALL(nc_model_get_W(m, W, D));
    CALL(nc_metrics_compute_data(met, D, K, N, H, D, labels, W, D, NULL));
    CALL(nc_metrics_set_nc1_path(met, NC_NC1_PATH_SCATTER));
    CALL(nc_metrics_compute_data(met, D, K, N, H, D, labels, W, D, NULL));
    CALL(nc_metrics_set_nc1_path(met, NC_NC1_PATH_AUTO));

    /* predictions */
    CALL(nc_prediction_create_from_model(&p, ce));
    CALL(nc_prediction_compute(p));
    CALL(nc_prediction_compare(p, ce, 1e-6, values, &verdict));

    /* frames and structure */
    CALL(nc_frame_simplex_etf(D, K, T, D));
    CALL(nc_frame_random_orthogonal(D, D, 5, R, D));
    CALL(nc_structure_class_means(D, K, N, H, D, labels, M, D, mcounts));
    CALL(nc_frame_align(D, K, M, D, T, D, R, D, &scale, &resid));
    CALL(nc_frame_etf_distance(D, K, M, D, &v));
    CALL(nc_frame_orthogonal_distance(D, K, M, D, &v));
    CALL(nc_structure_gram(D, K, M, D, NULL, 0, G, K));
    CALL(nc_structure_minority(D, K, M, D, minority, mcounts, stats));
    CALL(nc_structure_cdnv(D, K, N, H, D, labels, &mean, pairs, K));

    /* .npy */
    CALL(nc_npy_writer_create(&w));
    CALL(write_npy(w, xnpy, H, 2, D));
    CALL(write_labels(w, ynpy, labels, N));
    CALL(nc_npy_reader_create(&r));
    CALL(read_npy(r, xnpy, x, D));
    CALL(read_labels(r, ynpy, ylab, N));

    /* streams and their files */
    CALL(nc_stream_create(&s, D, K));
    CALL(nc_stream_set_threads(s, 2));
    CALL(nc_stream_set_classifier(s, W, D, NULL));
    CALL(nc_stream_add(s, N, H, D, labels));
    CALL(nc_stream_copy(&s2, s));
    CALL(nc_stream_merge(s2, s));
    CALL(nc_stream_next_pass(s));
    CALL(nc_stream_add(s, N, H, D, labels));
    CALL(nc_stream_save(sfile, s));
    CALL(nc_stream_create(&s3, D, K));
    CALL(nc_stream_load(sfile, s3));
    CALL(nc_metrics_compute_stream(met, s3));
    /* without NC1's scatter: a new layout in pass 1 (and back), its file */
    CALL(nc_stream_set_nc1_path(s2, NC_NC1_PATH_NONE));
    CALL(nc_stream_set_nc1_path(s2, NC_NC1_PATH_AUTO));
    CALL(nc_stream_set_nc1_path(s2, NC_NC1_PATH_NONE));
    CALL(nc_stream_next_pass(s2));
    CALL(nc_stream_add(s2, N, H, D, labels)); /* twice: s2 merged s into its pass 1 */
    CALL(nc_stream_add(s2, N, H, D, labels));
    CALL(nc_stream_save(sfile, s2));
    CALL(nc_stream_load(sfile, s3));
    CALL(nc_metrics_compute_stream(met, s3));

    for (i = 0; i < K; i++) b[i] = 0;
    (void)b;
    VOID_CALL(nc_stream_destroy(s3));
    VOID_CALL(nc_stream_destroy(s2));
    VOID_CALL(nc_stream_destroy(s));
    VOID_CALL(nc_npy_reader_destroy(r));
    VOID_CALL(nc_npy_writer_destroy(w));
    VOID_CALL(nc_prediction_destroy(p));
    VOID_CALL(nc_metrics_destroy(met));
    VOID_CALL(nc_curvature_destroy(c));
    VOID_CALL(nc_history_destroy(h));
    VOID_CALL(nc_model_destroy(ce));
    VOID_CALL(nc_model_destroy(copy));
    VOID_CALL(nc_model_destroy(m));
}

int main(void)
{
    long total, k, leaks = 0, stride = 1;
    const int quick = getenv("NC_TEST_QUICK") != NULL;
    if (nc_test_make_temp_dir(dir, sizeof dir, "nc_alloc") != 0) return 1;
    fail_at_ = 0;
    count_ = 0;
    scenario();
    total = count_;
    nc_test_true(bad_ == 0, "the scenario runs without injected failures");
    nc_test_true(total > 100, "the scenario allocates");
    nc_test_true(escaped_ == 1, "the zero state's run takes the escape (the class moves run)");
    (void)quick;
    for (k = 1; k <= total; k += stride) {
        fail_at_ = k;
        count_ = 0;
        scenario();
#ifdef HAVE_LSAN
        if (__lsan_do_recoverable_leak_check() != 0) {
            if (!leaks) fprintf(stderr, "a leak when allocation %ld fails (see above)\n", k);
            leaks++;
        }
#endif
    }
    printf("allocation points: %ld; each failed in turn: %ld refused with a failure code and "
           "retried successfully, %ld absorbed (success), %ld bad, %ld runs with a leak%s\n",
           total, refused_, absorbed_, bad_, leaks,
#ifdef HAVE_LSAN
           ""
#else
           " (no LeakSanitizer in this build: leaks not checked)"
#endif
    );
    for (k = 1; k < 64; k++)
        if (by_code_[k]) printf("  refused with %s: %ld\n", nc_status_name((nc_status)-k), by_code_[k]);
    for (k = 0; k < 32 && absorbed_call_[k]; k++)
        printf("  absorbed by %s: %ld\n", absorbed_call_[k], absorbed_n_[k]);
    if (bad_) fprintf(stderr, "first bad outcome: %s\n", first_bad_);
    nc_test_int(bad_, 0, "every failure is a named code and its retry succeeds");
    nc_test_int(leaks, 0, "no leak after any failure");
    nc_test_int(refused_ + absorbed_, total, "every allocation point was reached and failed");
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file left");
    {
        char path[400];
        const char *names[] = {"m.ckpt", "h.csv", "h.json", "x.npy", "y.npy", "s.stream"};
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            unlink(path);
        }
    }
    rmdir(dir);
    return nc_test_summary("alloc_failures");
}

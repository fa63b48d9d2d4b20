/*
 * nc_analyze.c - every neural-collapse metric of features saved with np.save.
 *
 *   nc_analyze [options] FEATURES.npy LABELS.npy [W.npy [b.npy]]
 *   nc_analyze [options] --shard F1.npy L1.npy --shard F2.npy L2.npy ...
 *   nc_analyze --short        a self-contained demo on generated files
 *
 * FEATURES: (N, d) float32/float64, C or Fortran order (penultimate features,
 * one row per sample). LABELS: (N,) integers in [0, K). W: (K, d) float (a
 * PyTorch nn.Linear(d, K).weight); b: (K,) float. Without W, the metrics that
 * need the classifier are reported as unavailable.
 *
 * The files are streamed in chunks of --chunk-rows rows, twice (class means,
 * then within-class scatter and NC4), so memory is about chunk-rows * d
 * doubles plus O(d K + K^2), whatever N is. Features dumped in shards (one
 * pair of files per data-loader worker or GPU rank) are analysed as one data
 * set: each --shard adds a pair (the positional pair, if any, is the first);
 * the shards must agree on d, and may differ in N and dtype.
 *
 * Options:
 *   --weights FILE, --bias FILE   the classifier (instead of positional)
 *   --classes K                   number of classes (default: rows of W,
 *                                 else the largest label + 1)
 *   --global-mean sample|class-avg
 *   --between uniform|weighted
 *   --rtol X                      pseudo-inverse threshold of Sigma_B
 *   --chunk-rows N                rows per chunk (default: 64 MiB of doubles)
 *   --shard F.npy L.npy           one more pair of features and labels
 *   --json                        JSON instead of a table
 *   --short                       run the demo (for `make check`)
 *
 * Exit status: 0 success, 1 a file or the library failed (the message gives
 * nc_strerror and the handle's details), 2 bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncollapse.h"

typedef struct options {
    const char **features, **labels; /* one pair per shard */
    size_t shards;
    const char *weights, *bias;
    size_t classes;     /* 0: infer */
    size_t chunk_rows;  /* 0: default */
    nc_global_mean global_mean;
    nc_between_weight between;
    double rtol;
    int json;
} options;

typedef struct result {
    size_t N, d, K, chunk_rows, chunks;
    nc_npy_dtype dtype;
    nc_status st[NC_METRIC_COUNT];
    double v[NC_METRIC_COUNT];
    char note[512];
} result;

static int usage(const char *msg)
{
    if (msg) fprintf(stderr, "nc_analyze: %s\n", msg);
    fprintf(stderr,
            "usage: nc_analyze [--json] [--global-mean sample|class-avg] [--between uniform|weighted]\n"
            "                  [--rtol X] [--chunk-rows N] [--classes K] [--weights W.npy] [--bias b.npy]\n"
            "                  [--shard F.npy L.npy]... [FEATURES.npy LABELS.npy [W.npy [b.npy]]]\n"
            "       nc_analyze --short   (demo on generated data)\n");
    return 2;
}

/* Report a failure: the status's description, its name and the details. */
static int fail(const char *what, nc_status st, const char *detail)
{
    fprintf(stderr, "nc_analyze: %s: %s (%s)%s%s\n", what, nc_strerror(st), nc_status_name(st),
            detail && detail[0] ? ": " : "", detail ? detail : "");
    return 1;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;
    if (s == NULL || *s == '\0' || *s == '-') return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return 0;
    *out = (size_t)v;
    return 1;
}

/* Read a whole small float array (W or b) of the expected shape. */
static int read_small(const char *path, const char *what, size_t rows, size_t cols, int allow_1d,
                      double *out)
{
    nc_npy_reader *r = NULL;
    nc_npy_dtype t;
    size_t nd, nr, ncols;
    nc_status st = nc_npy_reader_create(&r);
    char msg[600];
    if (st != NC_SUCCESS) return fail(what, st, "");
    st = nc_npy_reader_open(r, path);
    if (st == NC_SUCCESS) {
        nc_npy_reader_info(r, &t, &nd, &nr, &ncols);
        if (nr != rows || ncols != cols || (nd == 1 && !allow_1d)) {
            if (nd == 1)
                snprintf(msg, sizeof msg, "%s has shape (%zu,) but %s is needed", path, nr,
                         allow_1d ? "one value per class" : "a (K, d) matrix");
            else
                snprintf(msg, sizeof msg, "%s has shape (%zu, %zu) but (%zu, %zu) is needed", path,
                         nr, ncols, rows, cols);
            nc_npy_reader_destroy(r);
            return fail(what, NC_ERR_SIZE_MISMATCH, msg);
        }
        st = nc_npy_reader_read_rows(r, 0, rows, out, cols);
    }
    if (st != NC_SUCCESS) {
        snprintf(msg, sizeof msg, "%s", nc_npy_reader_last_error(r));
        nc_npy_reader_destroy(r);
        return fail(what, st, msg);
    }
    nc_npy_reader_destroy(r);
    return 0;
}

/* The analysis: open, stream both passes, compute. Returns an exit code. */
/* Open shard `i` in fr and lr and check it: float features (n, d) with
 * n >= 1 and d == *d when *d is set, and n labels. */
static int open_shard(const options *o, size_t i, nc_npy_reader *fr, nc_npy_reader *lr, size_t *n,
                      size_t *d, nc_npy_dtype *dtype)
{
    size_t nd, rows, cols, lN, lcols;
    nc_npy_dtype t, lt;
    nc_status st;
    char msg[600];
    if ((st = nc_npy_reader_open(fr, o->features[i])) != NC_SUCCESS)
        return fail("features", st, nc_npy_reader_last_error(fr));
    nc_npy_reader_info(fr, &t, &nd, &rows, &cols);
    if (t != NC_NPY_FLOAT32 && t != NC_NPY_FLOAT64) {
        snprintf(msg, sizeof msg, "%s holds %s; features must be float32 or float64", o->features[i],
                 nc_npy_dtype_name(t));
        return fail("features", NC_ERR_DTYPE, msg);
    }
    if (rows == 0 || cols == 0) {
        snprintf(msg, sizeof msg, "%s has shape (%zu, %zu)", o->features[i], rows, cols);
        return fail("features", NC_ERR_INVALID_SIZE, msg);
    }
    if (*d != 0 && cols != *d) {
        snprintf(msg, sizeof msg, "%s has d = %zu, the first shard %zu", o->features[i], cols, *d);
        return fail("features", NC_ERR_SIZE_MISMATCH, msg);
    }
    if ((st = nc_npy_reader_open(lr, o->labels[i])) != NC_SUCCESS)
        return fail("labels", st, nc_npy_reader_last_error(lr));
    nc_npy_reader_info(lr, &lt, NULL, &lN, &lcols);
    if (lN != rows || lcols != 1) {
        snprintf(msg, sizeof msg, "%s holds %zu x %zu labels for %zu feature rows", o->labels[i], lN,
                 lcols, rows);
        return fail("labels", NC_ERR_SIZE_MISMATCH, msg);
    }
    *n = rows;
    *d = cols;
    if (dtype) *dtype = t;
    return 0;
}

static int analyze(const options *o, result *res)
{
    nc_npy_reader *fr = NULL, *lr = NULL;
    nc_stream *s = NULL;
    nc_metrics *m = NULL;
    double *W = NULL, *b = NULL, *buf = NULL;
    int32_t *lab = NULL;
    size_t N = 0, d = 0, n_i, K, chunk, row0, pass, j, sh, total_rows;
    nc_status st;
    int rc = 1;
    char msg[600];

    memset(res, 0, sizeof *res);
    if ((st = nc_npy_reader_create(&fr)) != NC_SUCCESS || (st = nc_npy_reader_create(&lr)) != NC_SUCCESS ||
        (st = nc_metrics_create(&m)) != NC_SUCCESS) {
        rc = fail("setup", st, "");
        goto done;
    }
    /* Every shard checked before any work; N is their total. */
    for (sh = 0; sh < o->shards; sh++) {
        if (open_shard(o, sh, fr, lr, &n_i, &d, sh == 0 ? &res->dtype : NULL) != 0) goto done;
        N += n_i;
    }
    chunk = o->chunk_rows ? o->chunk_rows : (size_t)8388608 / d;
    if (chunk < 1) chunk = 1;
    if (chunk > N) chunk = N;
    res->N = N;
    res->d = d;
    res->chunk_rows = chunk;
    buf = (double *)malloc(chunk * d * sizeof(double));
    lab = (int32_t *)malloc(chunk * sizeof(int32_t));
    if (buf == NULL || lab == NULL) {
        rc = fail("setup", NC_ERR_OUT_OF_MEMORY, "chunk buffers (try a smaller --chunk-rows)");
        goto done;
    }

    /* K: given, from W, or from the labels. */
    K = o->classes;
    if (K == 0 && o->weights != NULL) {
        nc_npy_reader *wr = NULL;
        nc_npy_reader_create(&wr);
        if ((st = nc_npy_reader_open(wr, o->weights)) != NC_SUCCESS) {
            rc = fail("weights", st, nc_npy_reader_last_error(wr));
            nc_npy_reader_destroy(wr);
            goto done;
        }
        nc_npy_reader_info(wr, NULL, NULL, &K, NULL);
        nc_npy_reader_destroy(wr);
    }
    if (K == 0) {
        int32_t top = -1;
        for (sh = 0; sh < o->shards; sh++) {
            if (open_shard(o, sh, fr, lr, &n_i, &d, NULL) != 0) goto done;
            for (row0 = 0; row0 < n_i; row0 += chunk) {
                const size_t n = n_i - row0 < chunk ? n_i - row0 : chunk;
                if ((st = nc_npy_reader_read_labels(lr, row0, n, lab, 0)) != NC_SUCCESS) {
                    rc = fail("labels", st, nc_npy_reader_last_error(lr));
                    goto done;
                }
                for (j = 0; j < n; j++)
                    if (lab[j] > top) top = lab[j];
            }
        }
        K = (size_t)top + 1;
    }
    res->K = K;
    if ((st = nc_stream_create(&s, d, K)) != NC_SUCCESS) {
        snprintf(msg, sizeof msg, "d = %zu, K = %zu (K >= 2 classes are needed)", d, K);
        rc = fail("stream", st, msg);
        goto done;
    }
    if (o->weights != NULL) {
        W = (double *)malloc(K * d * sizeof(double));
        b = (double *)malloc(K * sizeof(double));
        if (W == NULL || b == NULL) {
            rc = fail("weights", NC_ERR_OUT_OF_MEMORY, "");
            goto done;
        }
        if (read_small(o->weights, "weights", K, d, 0, W) != 0) goto done;
        if (o->bias != NULL && read_small(o->bias, "bias", K, 1, 1, b) != 0) goto done;
        if ((st = nc_stream_set_classifier(s, W, d, o->bias != NULL ? b : NULL)) != NC_SUCCESS) {
            rc = fail("classifier", st, nc_stream_last_error(s));
            goto done;
        }
    } else if (o->bias != NULL) {
        fprintf(stderr, "nc_analyze: --bias without --weights is ignored\n");
    }

    /* Two passes over the shards, chunk by chunk. Rows are numbered across
     * the shards in the messages. */
    for (pass = 0; pass < 2; pass++) {
        total_rows = 0;
        for (sh = 0; sh < o->shards; sh++) {
            if (open_shard(o, sh, fr, lr, &n_i, &d, NULL) != 0) goto done;
            for (row0 = 0; row0 < n_i; row0 += chunk) {
                const size_t n = n_i - row0 < chunk ? n_i - row0 : chunk;
                if ((st = nc_npy_reader_read_rows(fr, row0, n, buf, d)) != NC_SUCCESS) {
                    rc = fail("features", st, nc_npy_reader_last_error(fr));
                    goto done;
                }
                if ((st = nc_npy_reader_read_labels(lr, row0, n, lab, K)) != NC_SUCCESS) {
                    rc = fail("labels", st, nc_npy_reader_last_error(lr));
                    goto done;
                }
                if ((st = nc_stream_add(s, n, buf, d, lab)) != NC_SUCCESS) {
                    snprintf(msg, sizeof msg, "%s rows %zu..%zu: %s", o->features[sh], row0,
                             row0 + n - 1, nc_stream_last_error(s));
                    rc = fail("stream", st, msg);
                    goto done;
                }
                if (pass == 0) res->chunks++;
            }
            total_rows += n_i;
        }
        if (total_rows != N) { /* a file changed between the passes */
            rc = fail("features", NC_ERR_SIZE_MISMATCH, "the files changed during the analysis");
            goto done;
        }
        if (pass == 0 && (st = nc_stream_next_pass(s)) != NC_SUCCESS) {
            rc = fail("stream", st, nc_stream_last_error(s));
            goto done;
        }
    }
    if ((st = nc_metrics_set_global_mean(m, o->global_mean)) != NC_SUCCESS ||
        (st = nc_metrics_set_between_weight(m, o->between)) != NC_SUCCESS ||
        (st = nc_metrics_set_pinv_rtol(m, o->rtol)) != NC_SUCCESS) {
        rc = fail("conventions", st, nc_metrics_last_error(m));
        goto done;
    }
    if ((st = nc_metrics_compute_stream(m, s)) != NC_SUCCESS) {
        rc = fail("metrics", st, nc_metrics_last_error(m));
        goto done;
    }
    for (j = 0; j < NC_METRIC_COUNT; j++) res->st[j] = nc_metrics_get(m, (nc_metric)j, &res->v[j]);
    snprintf(res->note, sizeof res->note, "%s", nc_metrics_last_error(m));
    if (o->weights == NULL) {
        size_t len = strlen(res->note);
        snprintf(res->note + len, sizeof res->note - len, "%sno classifier given: the metrics of W, "
                 "NC3, NC4 and accuracy are unavailable", len ? "; " : "");
    }
    rc = 0;
done:
    free(buf);
    free(lab);
    free(W);
    free(b);
    nc_stream_destroy(s);
    nc_metrics_destroy(m);
    nc_npy_reader_destroy(fr);
    nc_npy_reader_destroy(lr);
    return rc;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static const char *gm_name(nc_global_mean g) { return g == NC_GLOBAL_MEAN_SAMPLE ? "sample" : "class-avg"; }
static const char *bw_name(nc_between_weight b) { return b == NC_BETWEEN_UNIFORM ? "uniform" : "weighted"; }

static void print_result(const options *o, const result *r, FILE *f)
{
    size_t j;
    if (o->json) {
        fprintf(f, "{\n  \"features\": ");
        json_string(f, o->features[0]);
        fprintf(f, ",\n  \"labels\": ");
        json_string(f, o->labels[0]);
        fprintf(f, ",\n  \"shards\": [");
        for (j = 0; j < o->shards; j++) {
            fprintf(f, "%s[", j ? ", " : "");
            json_string(f, o->features[j]);
            fprintf(f, ", ");
            json_string(f, o->labels[j]);
            fprintf(f, "]");
        }
        fprintf(f, "]");
        fprintf(f, ",\n  \"weights\": ");
        if (o->weights) json_string(f, o->weights); else fprintf(f, "null");
        fprintf(f, ",\n  \"bias\": ");
        if (o->bias && o->weights) json_string(f, o->bias); else fprintf(f, "null");
        fprintf(f, ",\n  \"N\": %zu,\n  \"d\": %zu,\n  \"K\": %zu,\n  \"dtype\": \"%s\",\n", r->N,
                r->d, r->K, nc_npy_dtype_name(r->dtype));
        fprintf(f, "  \"chunk_rows\": %zu,\n  \"chunks\": %zu,\n", r->chunk_rows, r->chunks);
        fprintf(f, "  \"conventions\": {\"global_mean\": \"%s\", \"between\": \"%s\", "
                   "\"rtol\": %.17g},\n", gm_name(o->global_mean), bw_name(o->between), o->rtol);
        fprintf(f, "  \"metrics\": {\n");
        for (j = 0; j < NC_METRIC_COUNT; j++) {
            fprintf(f, "    \"%s\": ", nc_metric_name((nc_metric)j));
            if (r->st[j] == NC_SUCCESS)
                fprintf(f, "%.17g", r->v[j]);
            else
                fprintf(f, "null");
            fprintf(f, "%s\n", j + 1 < NC_METRIC_COUNT ? "," : "");
        }
        fprintf(f, "  },\n  \"notes\": ");
        json_string(f, r->note);
        fprintf(f, ",\n  \"library_version\": \"%s\"\n}\n", nc_version_string());
        return;
    }
    fprintf(f, "N = %zu samples, d = %zu, K = %zu classes (%s features, %zu shard%s, %zu chunk%s of up to "
               "%zu rows)\n",
            r->N, r->d, r->K, nc_npy_dtype_name(r->dtype), o->shards, o->shards == 1 ? "" : "s",
            r->chunks, r->chunks == 1 ? "" : "s", r->chunk_rows);
    fprintf(f, "conventions: global mean %s, between-class %s, rtol %g\n", gm_name(o->global_mean),
            bw_name(o->between), o->rtol);
    fprintf(f, "%-22s %s\n", "metric", "value");
    for (j = 0; j < NC_METRIC_COUNT; j++) {
        if (r->st[j] == NC_SUCCESS)
            fprintf(f, "%-22s %.12e\n", nc_metric_name((nc_metric)j), r->v[j]);
        else
            fprintf(f, "%-22s unavailable\n", nc_metric_name((nc_metric)j));
    }
    if (r->note[0]) fprintf(f, "note: %s\n", r->note);
}

/* ---- the demo: generated files in a temporary directory ---------------------- */

static uint64_t demo_rng = 0x2545F4914F6CDD1DULL;
static double demo_normal(void)
{
    double u, v;
    demo_rng ^= demo_rng << 13; demo_rng ^= demo_rng >> 7; demo_rng ^= demo_rng << 17;
    u = ((double)(demo_rng >> 11) + 0.5) / 9007199254740992.0;
    demo_rng ^= demo_rng << 13; demo_rng ^= demo_rng >> 7; demo_rng ^= demo_rng << 17;
    v = ((double)(demo_rng >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int write_demo_file(nc_npy_writer *w, const char *path, nc_npy_dtype t, size_t ndim,
                           size_t rows, size_t cols, const double *x, const int32_t *y)
{
    nc_status st = nc_npy_writer_begin(w, path, t, ndim, rows, cols);
    if (st == NC_SUCCESS)
        st = x ? nc_npy_writer_write_rows(w, x, rows, cols) : nc_npy_writer_write_labels(w, y, rows);
    if (st == NC_SUCCESS) st = nc_npy_writer_finish(w);
    if (st != NC_SUCCESS) return fail(path, st, nc_npy_writer_last_error(w));
    return 0;
}

/* Largest relative difference between the metrics of r and those in m;
 * *rc = 1 where one is available and the other not. */
static double compare(const nc_metrics *m, const result *r, int *rc)
{
    double worst = 0.0, v;
    size_t k;
    for (k = 0; k < NC_METRIC_COUNT; k++) {
        if (nc_metrics_get(m, (nc_metric)k, &v) != r->st[k]) *rc = 1;
        if (r->st[k] == NC_SUCCESS && v != 0.0 && fabs(r->v[k] - v) / fabs(v) > worst)
            worst = fabs(r->v[k] - v) / fabs(v);
    }
    return worst;
}

static int demo(void)
{
    enum { d = 16, K = 5, N = 2000 };
    static double H[N * d], W[K * d], b[K], M[K * d];
    static int32_t y[N];
    static const double share[K] = {0.4, 0.25, 0.15, 0.12, 0.08}; /* imbalanced */
    char dir[256], pf[300], pl[300], pw[300], pb[300], sf[3][300], sl[3][300];
    const char *shard_f[3], *shard_l[3];
    static const size_t cut[4] = {0, 700, 1500, N}; /* three shards of 700, 800, 500 rows */
    const char *tmp = getenv("TMPDIR");
    nc_npy_writer *w = NULL;
    nc_metrics *m = NULL;
    const char *pf_p = pf, *pl_p = pl;
    options o;
    result r;
    size_t i, k, t;
    int rc;
    double worst = 0.0;

    snprintf(dir, sizeof dir, "%s/nc_analyze_demo.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "nc_analyze: cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    snprintf(pf, sizeof pf, "%s/features.npy", dir);
    snprintf(pl, sizeof pl, "%s/labels.npy", dir);
    snprintf(pw, sizeof pw, "%s/W.npy", dir);
    snprintf(pb, sizeof pb, "%s/b.npy", dir);
    for (k = 0; k < 3; k++) {
        snprintf(sf[k], sizeof sf[k], "%s/features_%zu.npy", dir, k);
        snprintf(sl[k], sizeof sl[k], "%s/labels_%zu.npy", dir, k);
        shard_f[k] = sf[k];
        shard_l[k] = sl[k];
    }
    for (i = 0; i < K * d; i++) M[i] = 3.0 * demo_normal();
    for (i = 0; i < N; i++) {
        double u = (double)i / N, acc = 0.0;
        for (k = 0; k + 1 < K; k++) {
            acc += share[k];
            if (u < acc) break;
        }
        y[i] = (int32_t)k;
        for (t = 0; t < d; t++) H[i * d + t] = M[k * d + t] + demo_normal();
    }
    for (k = 0; k < K; k++) {
        for (t = 0; t < d; t++) W[k * d + t] = M[k * d + t] + 0.3 * demo_normal();
        b[k] = 0.1 * demo_normal();
    }
    nc_npy_writer_create(&w);
    /* features as PyTorch would dump them: float32, C order */
    rc = write_demo_file(w, pf, NC_NPY_FLOAT32, 2, N, d, H, NULL) ||
         write_demo_file(w, pl, NC_NPY_INT64, 1, N, 1, NULL, y) ||
         write_demo_file(w, pw, NC_NPY_FLOAT32, 2, K, d, W, NULL) ||
         write_demo_file(w, pb, NC_NPY_FLOAT32, 1, K, 1, b, NULL);
    /* the in-memory reference uses the float32-rounded values the files hold */
    for (i = 0; i < N * d; i++) H[i] = (double)(float)H[i];
    /* the same rows in three shards, as three ranks would dump them (the
     * middle one in float64 and int32) */
    for (k = 0; k < 3 && rc == 0; k++)
        rc = write_demo_file(w, sf[k], k == 1 ? NC_NPY_FLOAT64 : NC_NPY_FLOAT32, 2, cut[k + 1] - cut[k],
                             d, H + cut[k] * d, NULL) ||
             write_demo_file(w, sl[k], k == 1 ? NC_NPY_INT32 : NC_NPY_INT64, 1, cut[k + 1] - cut[k], 1,
                             NULL, y + cut[k]);
    nc_npy_writer_destroy(w);
    for (i = 0; i < K * d; i++) W[i] = (double)(float)W[i];
    for (i = 0; i < K; i++) b[i] = (double)(float)b[i];
    if (rc == 0) {
        memset(&o, 0, sizeof o);
        o.features = &pf_p;
        o.labels = &pl_p;
        o.shards = 1;
        o.weights = pw;
        o.bias = pb;
        o.rtol = 1e-13;
        o.chunk_rows = 300; /* 7 chunks: the streaming path */
        o.global_mean = NC_GLOBAL_MEAN_SAMPLE;
        o.between = NC_BETWEEN_UNIFORM;
        printf("demo: %d samples of %d imbalanced classes, d = %d, written to %s\n", N, K, d, dir);
        rc = analyze(&o, &r);
        if (rc == 0) {
            print_result(&o, &r, stdout);
            /* the same metrics in memory */
            nc_metrics_create(&m);
            if (nc_metrics_compute_data(m, d, K, N, H, d, y, W, d, b) != NC_SUCCESS) {
                rc = fail("in-memory metrics", NC_ERR_INVALID_VALUE, nc_metrics_last_error(m));
            } else {
                worst = compare(m, &r, &rc);
                printf("streamed in %zu chunks vs in memory: largest relative difference %.3g\n",
                       r.chunks, worst);
                /* and from the three shards */
                o.features = shard_f;
                o.labels = shard_l;
                o.shards = 3;
                if (rc == 0 && (rc = analyze(&o, &r)) == 0) {
                    const double w3 = compare(m, &r, &rc);
                    printf("streamed from 3 shards in %zu chunks vs in memory: largest relative "
                           "difference %.3g\n", r.chunks, w3);
                    if (w3 > worst) worst = w3;
                }
                if (worst > 1e-10 || rc) {
                    fprintf(stderr, "nc_analyze: streaming and in-memory metrics disagree\n");
                    rc = 1;
                }
            }
            nc_metrics_destroy(m);
        }
    }
    for (k = 0; k < 3; k++) {
        remove(sf[k]);
        remove(sl[k]);
    }
    remove(pf);
    remove(pl);
    remove(pw);
    remove(pb);
    rmdir(dir);
    return rc;
}

/* The command line; files has room for 2 (argc + 1) paths, o is zeroed. */
static int run(int argc, char **argv, const char **files, options *opt)
{
    options o = *opt;
    result r;
    const char *pos[4] = {NULL, NULL, NULL, NULL};
    size_t nshard = 0, k;
    int npos = 0, i, rc;

    o.global_mean = NC_GLOBAL_MEAN_SAMPLE;
    o.between = NC_BETWEEN_UNIFORM;
    o.rtol = 1e-13;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--short") == 0 || strcmp(a, "--demo") == 0) {
            return demo();
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(NULL);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--global-mean") == 0) {
            if (v && strcmp(v, "sample") == 0) o.global_mean = NC_GLOBAL_MEAN_SAMPLE;
            else if (v && (strcmp(v, "class-avg") == 0 || strcmp(v, "class_avg") == 0))
                o.global_mean = NC_GLOBAL_MEAN_CLASS_AVG;
            else return usage("--global-mean takes sample or class-avg");
            i++;
        } else if (strcmp(a, "--between") == 0) {
            if (v && strcmp(v, "uniform") == 0) o.between = NC_BETWEEN_UNIFORM;
            else if (v && strcmp(v, "weighted") == 0) o.between = NC_BETWEEN_WEIGHTED;
            else return usage("--between takes uniform or weighted");
            i++;
        } else if (strcmp(a, "--rtol") == 0) {
            char *end;
            if (!v) return usage("--rtol needs a value");
            o.rtol = strtod(v, &end);
            if (*end != '\0' || !(o.rtol >= 0.0 && o.rtol < 1.0))
                return usage("--rtol takes a number in [0, 1)");
            i++;
        } else if (strcmp(a, "--chunk-rows") == 0) {
            if (!parse_size(v, &o.chunk_rows) || o.chunk_rows == 0)
                return usage("--chunk-rows takes a positive integer");
            i++;
        } else if (strcmp(a, "--classes") == 0) {
            if (!parse_size(v, &o.classes) || o.classes < 2)
                return usage("--classes takes an integer >= 2");
            i++;
        } else if (strcmp(a, "--weights") == 0) {
            if (!v) return usage("--weights needs a file");
            o.weights = v;
            i++;
        } else if (strcmp(a, "--bias") == 0) {
            if (!v) return usage("--bias needs a file");
            o.bias = v;
            i++;
        } else if (strcmp(a, "--shard") == 0) {
            if (i + 2 >= argc) return usage("--shard needs a features and a labels file");
            files[2 * nshard + 2] = argv[i + 1]; /* slots 0, 1: the positional pair */
            files[2 * nshard + 3] = argv[i + 2];
            nshard++;
            i += 2;
        } else if (a[0] == '-' && a[1] == '-') {
            char msg[200];
            snprintf(msg, sizeof msg, "unknown option %.150s", a);
            return usage(msg);
        } else {
            if (npos == 4) return usage("too many files");
            pos[npos++] = a;
        }
    }
    if (npos == 1 || (npos < 2 && nshard == 0))
        return usage(npos == 0 ? NULL : "a labels file is needed");
    /* features[i] = files[2 i + off], labels[i] = files[2 i + off + 1] */
    o.shards = nshard + (npos >= 2);
    opt->features = o.features = (const char **)malloc(o.shards * sizeof(char *));
    opt->labels = o.labels = (const char **)malloc(o.shards * sizeof(char *));
    if (o.features == NULL || o.labels == NULL) return fail("setup", NC_ERR_OUT_OF_MEMORY, "");
    if (npos >= 2) {
        files[0] = pos[0];
        files[1] = pos[1];
    }
    for (k = 0; k < o.shards; k++) {
        o.features[k] = files[2 * k + (npos >= 2 ? 0 : 2)];
        o.labels[k] = files[2 * k + (npos >= 2 ? 1 : 3)];
    }
    if (npos > 2) {
        if (o.weights) return usage("W given twice");
        o.weights = pos[2];
    }
    if (npos > 3) {
        if (o.bias) return usage("b given twice");
        o.bias = pos[3];
    }
    rc = analyze(&o, &r);
    if (rc == 0) print_result(&o, &r, stdout);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    const char **files = (const char **)malloc(2 * ((size_t)argc + 1) * sizeof(char *));
    int rc;
    memset(&o, 0, sizeof o);
    if (files == NULL) return fail("setup", NC_ERR_OUT_OF_MEMORY, "");
    rc = run(argc, argv, files, &o);
    free(files);
    free(o.features);
    free(o.labels);
    return rc;
}

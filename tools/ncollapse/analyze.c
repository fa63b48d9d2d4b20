/*
 * analyze.c - `ncollapse analyze`: the NC metrics of one or several feature
 * snapshots (a trajectory of dumps, or directories written by `train`), or
 * of one data set dumped in shards (--shard F.npy L.npy, repeated), with the
 * CDNV, the minority-collapse indicators of the classifier and of the class
 * means, and per-class values; a table, --csv or --json.
 *
 * Every snapshot is streamed through nc_stream in chunks of --chunk-rows
 * rows, twice (pass 1: class counts and means; pass 2: the within-class
 * scatter, NC4 and accuracy), so memory is about chunk-rows * d doubles plus
 * O(d K + min(d, K)^2) whatever N is. Each shard is accumulated in a stream
 * of its own and the shards' streams are merged in shard order (pass 2
 * starts from the merged pass 1). The class means of the minority
 * indicators are the merged stream's (nc_stream_get_class_means): the data
 * is not summed a second time, and no d x K sums are kept beside it.
 *
 * Built with -DNC_WITH_MPI (the program ncollapse-mpi), rank r of
 * MPI_COMM_WORLD streams the r-th shard, the accumulators are reduced after
 * each pass (nc_mpi_stream_reduce: a merge in rank order) and rank 0 writes
 * the output: the same operations in the same order as the serial program
 * on the same shards, hence the same bits. Every failure is agreed across
 * the ranks (nc_mpi_agree), so that every rank exits with the same status.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#ifdef NC_WITH_MPI
#include <mpi.h>

#include "ncollapse_mpi.h"
#define PROG "ncollapse-mpi"
#else
#define PROG "ncollapse"
#endif

typedef struct analyze_opts {
    char labels[CLI_PATH], weights[CLI_PATH], bias[CLI_PATH], out[CLI_PATH], per_class[CLI_PATH];
    size_t classes, chunk_rows, threads;
    int global_mean, between, nc1_path, csv, json;
    double rtol;
} analyze_opts;

static const char *const gm_names[] = {"sample", "class-avg", NULL};
static const char *const bw_names[] = {"uniform", "weighted", NULL};
static const char *const nc1_names[] = {"auto", "none", NULL}; /* NC_NC1_PATH_AUTO, _NONE */
#define AOFF(field) offsetof(analyze_opts, field)
static const flag analyze_flags[] = {
    {"labels", FLAG_STRING, AOFF(labels), 0, 0, 0, 0, NULL, "labels (N,) integers in [0, K), for feature files", 0},
    {"weights", FLAG_STRING, AOFF(weights), 0, 0, 0, 0, NULL,
     "classifier (K, d): one file for every snapshot, or one per snapshot separated by commas", 0},
    {"bias", FLAG_STRING, AOFF(bias), 0, 0, 0, 0, NULL, "bias (K,): one file, or one per snapshot", 0},
    {"classes", FLAG_SIZE, AOFF(classes), 2, 2147483647.0, 0, 0, NULL,
     "K (default: rows of W, else the largest label + 1, with a note on stderr)", 0},
    {"global-mean", FLAG_CHOICE, AOFF(global_mean), 0, 0, 0, 0, gm_names, "mu_G convention (default sample)", 0},
    {"between", FLAG_CHOICE, AOFF(between), 0, 0, 0, 0, bw_names, "Sigma_B weighting (default uniform)", 0},
    {"nc1-path", FLAG_CHOICE, AOFF(nc1_path), 0, 0, 0, 0, nc1_names,
     "auto (default): NC1 = tr(Sigma_W Sigma_B^+)/K from the within-class scatter, d^2/2 "
     "multiply-adds per sample when K >= 0.41 d; none: no NC1 (nan), the second pass O(d) per "
     "sample, every other value the same", 0},
    {"rtol", FLAG_DOUBLE, AOFF(rtol), 0, 1, 0, 1, NULL, "pseudo-inverse threshold of Sigma_B (default 1e-13)", 0},
    {"chunk-rows", FLAG_SIZE, AOFF(chunk_rows), 1, 1e15, 0, 0, NULL,
     "rows read at a time (default: 64 MiB of doubles, 8388608 / d rows)", 0},
    {"threads", FLAG_SIZE, AOFF(threads), 1, 1024, 0, 0, NULL,
     "threads of the streamed passes and the pairwise metrics (default 1; same values for any count)", 0},
    {"csv", FLAG_SWITCH, AOFF(csv), 0, 0, 0, 0, NULL, "one CSV row per snapshot", 0},
    {"json", FLAG_SWITCH, AOFF(json), 0, 0, 0, 0, NULL, "JSON, with the per-class values", 0},
    {"out", FLAG_STRING, AOFF(out), 0, 0, 0, 0, NULL, "write the output to this file (atomically)", 0},
    {"per-class", FLAG_STRING, AOFF(per_class), 0, 0, 0, 0, NULL,
     "also write the per-class CSV (snapshot, class, n, norms, variance, accuracy) to this file", 0},
    {NULL, FLAG_SWITCH, 0, 0, 0, 0, 0, NULL, NULL, 0}};

static void print_help(void)
{
    printf("usage: " PROG " analyze [FLAGS] --labels L.npy F1.npy [F2.npy ...]\n"
           "       " PROG " analyze [FLAGS] RUNDIR [RUNDIR ...]\n"
           "       " PROG " analyze [FLAGS] --shard F1.npy L1.npy --shard F2.npy L2.npy ...\n"
           "Every NC metric (nc_metrics), the mean CDNV, the minority-collapse indicators of the\n"
           "classifier rows and of the centred class means (mean cosine within the minority,\n"
           "across, spread; minority: n_k < sqrt(max n min n)), and per class the count, the\n"
           "norm of the centred mean, the classifier norm, the within-class variance and the\n"
           "accuracy, for each snapshot. A snapshot is an (N, d) float32/float64 .npy of\n"
           "features (C or Fortran order) with --labels, or a directory written by `ncollapse\n"
           "train` (H.npy, labels.npy, W.npy or P.npy, b.npy), or the shards of one data set:\n"
           "--shard F.npy L.npy adds one pair of features and labels (repeatable; the shards\n"
           "must agree on d and may differ in N and dtype). Metrics needing the classifier are\n"
           "nan without one. The files are streamed in chunks of --chunk-rows rows, twice:\n"
           "memory is about chunk-rows * d doubles plus O(d K + min(d, K)^2), whatever N is.\n"
           "Without --classes and W, K is the largest label + 1 (a note on stderr says so).\n");
#ifdef NC_WITH_MPI
    printf("Under mpirun -np P, give exactly P --shard pairs: rank r streams the r-th, the\n"
           "accumulators are reduced across the ranks after each pass and rank 0 writes the\n"
           "output (the same numbers as the serial `ncollapse analyze` on the same shards).\n");
#endif
    printf("\nFlags:\n");
    flags_help(stdout, analyze_flags);
}

/* ---- the ranks (one, serially) -------------------------------------------------- */
typedef struct par {
    int rank, size;
} par;

/* The worst status of every rank (collective under MPI). */
static nc_status par_agree(nc_status st)
{
#ifdef NC_WITH_MPI
    return nc_mpi_agree(MPI_COMM_WORLD, st);
#else
    return st;
#endif
}

/* The largest v of every rank (collective under MPI). */
static long long par_max(long long v)
{
#ifdef NC_WITH_MPI
    long long m = v;
    MPI_Allreduce(&v, &m, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    return m;
#else
    return v;
#endif
}

/* The accumulators of every rank merged in rank order (collective). */
static nc_status par_reduce(nc_stream *s)
{
#ifdef NC_WITH_MPI
    return nc_mpi_stream_reduce(s, MPI_COMM_WORLD);
#else
    (void)s;
    return NC_SUCCESS;
#endif
}

/* ---- inputs ------------------------------------------------------------------ */
/* Read a whole float array of shape (rows, cols) (a 1-D array is (rows, 1)):
 * the classifier and the bias. */
static int read_matrix(const char *cmd, const char *path, double **out, size_t *rows, size_t *cols)
{
    nc_npy_reader *r = NULL;
    nc_npy_dtype t;
    nc_status st;
    size_t nd;
    *out = NULL;
    if ((st = nc_npy_reader_create(&r)) != NC_SUCCESS) return cli_fail(cmd, path, st, "");
    if ((st = nc_npy_reader_open(r, path)) != NC_SUCCESS) goto fail;
    nc_npy_reader_info(r, &t, &nd, rows, cols);
    if (*rows == 0 || *cols == 0) {
        st = NC_ERR_INVALID_SIZE;
        goto fail;
    }
    *out = (double *)malloc(*rows * *cols * sizeof(double));
    if (!*out) {
        st = NC_ERR_OUT_OF_MEMORY;
        goto fail;
    }
    if ((st = nc_npy_reader_read_rows(r, 0, *rows, *out, *cols)) != NC_SUCCESS) goto fail;
    nc_npy_reader_destroy(r);
    return 0;
fail:
    cli_fail(cmd, path, st, nc_npy_reader_last_error(r));
    nc_npy_reader_destroy(r);
    free(*out);
    *out = NULL;
    return 1;
}

/* The i-th of a comma-separated list (a single item applies to every i). */
static int list_item(const char *list, size_t i, char *out)
{
    const char *p = list;
    size_t k;
    if (!strchr(list, ',')) {
        snprintf(out, CLI_PATH, "%s", list);
        return 1;
    }
    for (k = 0; k < i && p; k++) {
        p = strchr(p, ',');
        if (p) p++;
    }
    if (!p || !*p) return 0;
    snprintf(out, CLI_PATH, "%.*s", (int)(strchr(p, ',') ? (size_t)(strchr(p, ',') - p) : strlen(p)), p);
    return 1;
}

static size_t list_len(const char *list)
{
    size_t n = 1;
    for (; *list; list++) n += *list == ',';
    return n;
}

/* One snapshot: its shards (one pair for a file or a run directory), the
 * classifier and bias files ("" for none). */
typedef struct source {
    size_t nsh;
    const char *const *f, *const *l;
    const char *w, *b;
} source;

typedef struct snap {
    size_t N, d, K, nsh;
    double v[NC_METRIC_COUNT];
    double cdnv, w_minor[NC_MINORITY_STAT_COUNT], h_minor[NC_MINORITY_STAT_COUNT];
    size_t *counts; /* K each (one allocation) */
    double *mean_norm, *w_norm, *var, *acc;
    int have_w;
} snap;

/* Open shard i's features in fr and labels in lr and check them: float
 * features (n, d) with n >= 1 and d equal to *d when *d is set, n labels. */
static int open_shard(const char *cmd, const source *src, size_t i, nc_npy_reader *fr, nc_npy_reader *lr,
                      size_t *n, size_t *d)
{
    size_t rows, cols, lN, lcols;
    nc_npy_dtype t;
    nc_status st;
    char msg[2 * CLI_PATH + 200];
    if ((st = nc_npy_reader_open(fr, src->f[i])) != NC_SUCCESS)
        return cli_fail(cmd, src->f[i], st, nc_npy_reader_last_error(fr));
    nc_npy_reader_info(fr, &t, NULL, &rows, &cols);
    if (t != NC_NPY_FLOAT32 && t != NC_NPY_FLOAT64) {
        snprintf(msg, sizeof msg, "holds %s; features must be float32 or float64", nc_npy_dtype_name(t));
        return cli_fail(cmd, src->f[i], NC_ERR_DTYPE, msg);
    }
    if (rows == 0 || cols == 0) {
        snprintf(msg, sizeof msg, "has shape (%zu, %zu); features need N >= 1 rows and d >= 1 columns", rows, cols);
        return cli_fail(cmd, src->f[i], NC_ERR_INVALID_SIZE, msg);
    }
    if (*d != 0 && cols != *d) {
        snprintf(msg, sizeof msg, "shard %zu has d = %zu, but shard 0 (%s) has d = %zu", i, cols, src->f[0], *d);
        return cli_fail(cmd, src->f[i], NC_ERR_SIZE_MISMATCH, msg);
    }
    if ((st = nc_npy_reader_open(lr, src->l[i])) != NC_SUCCESS)
        return cli_fail(cmd, src->l[i], st, nc_npy_reader_last_error(lr));
    nc_npy_reader_info(lr, NULL, NULL, &lN, &lcols);
    if (lN != rows || lcols != 1) {
        snprintf(msg, sizeof msg, "holds %zu x %zu labels for the %zu rows of %s", lN, lcols, rows, src->f[i]);
        return cli_fail(cmd, src->l[i], NC_ERR_SIZE_MISMATCH, msg);
    }
    *n = rows;
    *d = cols;
    return 0;
}

/* How K was chosen, for the messages. */
typedef struct kinfo {
    int inferred;   /* 1: the largest label + 1 */
    long long top;  /* that label */
    const char *from; /* "--classes", "the rows of W" or "the largest label" */
    char note[160]; /* "; K = .. was inferred ..." or "" */
} kinfo;

/* A failure after K was chosen: the details, and how K was inferred. */
static int fail_k(const char *cmd, const char *what, nc_status st, const char *detail, const kinfo *ki)
{
    char msg[3 * CLI_PATH + 400];
    snprintf(msg, sizeof msg, "%s%s", detail ? detail : "", ki->note);
    return cli_fail(cmd, what, st, ki->note[0] && msg[0] == ';' ? msg + 2 : msg);
}

/* Rows [row0, row0 + n) of shard i's labels into lab, each in [0, K); a
 * label outside is reported with its sample index in the data set (first
 * the shard's offset) and its value. */
static int read_labels_k(const char *cmd, const source *src, size_t i, size_t offset, nc_npy_reader *lr,
                         size_t row0, size_t n, size_t K, int32_t *lab, const kinfo *ki)
{
    nc_status st = nc_npy_reader_read_labels(lr, row0, n, lab, K);
    char msg[2 * CLI_PATH + 400];
    size_t j;
    if (st == NC_SUCCESS) return 0;
    if (st == NC_ERR_LABEL_OUT_OF_RANGE && nc_npy_reader_read_labels(lr, row0, n, lab, 0) == NC_SUCCESS)
        for (j = 0; j < n; j++)
            if ((size_t)lab[j] >= K) {
                snprintf(msg, sizeof msg, "sample %zu (row %zu of this file) has label %ld, outside [0, %zu) "
                         "with K = %zu from %s", offset + row0 + j, row0 + j, (long)lab[j], K, K, ki->from);
                return fail_k(cmd, src->l[i], st, msg, ki);
            }
    snprintf(msg, sizeof msg, "%s (the file's row 0 is sample %zu of the data set; K = %zu from %s)",
             nc_npy_reader_last_error(lr), offset, K, ki->from);
    return fail_k(cmd, src->l[i], st, msg, ki);
}

/* Stream shard i (n rows, its first sample `offset` in the data set) into
 * s. float32 features are read as floats into the first half of buf and
 * passed to nc_stream_add_float (the values nc_stream_add would get after
 * widening, the same results) with no double copy of the chunk: at
 * K = 8192, d = 768, N = 2 x 10^5 widening them took an eighth of the run. */
static int stream_shard(const char *cmd, const source *src, size_t i, size_t offset, nc_npy_reader *fr,
                        nc_npy_reader *lr, size_t n, size_t d, size_t K, size_t chunk, double *buf,
                        int32_t *lab, nc_stream *s, const kinfo *ki)
{
    size_t row0;
    nc_status st;
    nc_npy_dtype dtype = NC_NPY_FLOAT64;
    float *fbuf = (float *)(void *)buf;
    int f32;
    char msg[CLI_PATH + 600];
    nc_npy_reader_info(fr, &dtype, NULL, NULL, NULL);
    f32 = dtype == NC_NPY_FLOAT32;
    for (row0 = 0; row0 < n; row0 += chunk) {
        const size_t m = n - row0 < chunk ? n - row0 : chunk;
        st = f32 ? nc_npy_reader_read_rows_float(fr, row0, m, fbuf, d) : nc_npy_reader_read_rows(fr, row0, m, buf, d);
        if (st != NC_SUCCESS) return fail_k(cmd, src->f[i], st, nc_npy_reader_last_error(fr), ki);
        if (read_labels_k(cmd, src, i, offset, lr, row0, m, K, lab, ki)) return 1;
        st = f32 ? nc_stream_add_float(s, m, fbuf, d, lab) : nc_stream_add(s, m, buf, d, lab);
        if (st != NC_SUCCESS) {
            snprintf(msg, sizeof msg, "rows %zu..%zu (samples %zu..%zu): %s", row0, row0 + m - 1, offset + row0,
                     offset + row0 + m - 1, nc_stream_last_error(s));
            return fail_k(cmd, src->f[i], st, msg, ki);
        }
    }
    return 0;
}

/* A stream for d, K on `threads` threads with the classifier (W may be
 * NULL). Its copies keep the count, and nc_metrics_compute_stream runs the
 * pairwise pass on the threads of the merged stream. */
static int new_stream(const char *cmd, size_t d, size_t K, size_t threads, int nc1_none,
                      const double *W, const double *b, nc_stream **s, const kinfo *ki)
{
    nc_status st;
    char msg[200];
    if ((st = nc_stream_create(s, d, K)) != NC_SUCCESS) {
        snprintf(msg, sizeof msg, "d = %zu, K = %zu (K >= 2 classes are needed)", d, K);
        return fail_k(cmd, "stream", st, msg, ki);
    }
    if ((st = nc_stream_set_threads(*s, threads)) != NC_SUCCESS) {
        fail_k(cmd, "--threads", st, nc_stream_last_error(*s), ki);
        nc_stream_destroy(*s);
        *s = NULL;
        return 1;
    }
    if (nc1_none && (st = nc_stream_set_nc1_path(*s, NC_NC1_PATH_NONE)) != NC_SUCCESS) {
        fail_k(cmd, "--nc1-path", st, nc_stream_last_error(*s), ki);
        nc_stream_destroy(*s);
        *s = NULL;
        return 1;
    }
    if (W && (st = nc_stream_set_classifier(*s, W, d, b)) != NC_SUCCESS) {
        fail_k(cmd, "classifier", st, nc_stream_last_error(*s), ki);
        nc_stream_destroy(*s);
        *s = NULL;
        return 1;
    }
    return 0;
}

/* This rank's part of a global step failed (local != 0) or another rank's
 * did: 1 on every rank, with a line on the ranks that did not fail. */
static int agreed_fail(const char *cmd, const par *p, int local)
{
    const nc_status all = par_agree(local ? NC_ERR_INVALID_VALUE : NC_SUCCESS);
    if (all == NC_SUCCESS) return 0;
    if (!local)
        fprintf(stderr, PROG " %s: rank %d: stopped, another rank failed (its message says why)\n", cmd, p->rank);
    return 1;
}

static int analyze_one(const char *cmd, const analyze_opts *o, const par *p, const source *src, snap *s)
{
    nc_npy_reader *fr = NULL, *lr = NULL;
    nc_stream *acc = NULL, *frozen = NULL, *t = NULL;
    nc_metrics *m = NULL;
    double *W = NULL, *b = NULL, *buf = NULL, *Mn = NULL;
    int32_t *lab = NULL;
    size_t *n_sh = NULL, *cnt = NULL, *off = NULL;
    size_t N = 0, d = 0, K, Kw = 0, i, k, chunk = 0, first, last, pass;
    nc_status st;
    int rc = 1, local = 0, *minority = NULL;
    kinfo ki;
    char msg[3 * CLI_PATH + 200];
    const int mpi = p->size > 1;
    memset(s, 0, sizeof *s);
    memset(&ki, 0, sizeof ki);
    /* this rank's shards: all of them serially, the rank-th under MPI */
    first = mpi ? (size_t)p->rank : 0;
    last = mpi ? (size_t)p->rank + 1 : src->nsh;

    /* 1. every shard's header, on every rank (every rank can name a
     * mismatch); N is their total */
    n_sh = (size_t *)calloc(2 * src->nsh, sizeof(size_t));
    if (!n_sh || (st = nc_npy_reader_create(&fr)) != NC_SUCCESS || (st = nc_npy_reader_create(&lr)) != NC_SUCCESS) {
        local = cli_fail(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "");
    } else {
        off = n_sh + src->nsh;
        for (i = 0; i < src->nsh && !local; i++) {
            local = open_shard(cmd, src, i, fr, lr, &n_sh[i], &d);
            off[i] = N;
            N += n_sh[i];
        }
    }
    if (agreed_fail(cmd, p, local)) goto done;

    /* 2. K: given, the rows of W, or the largest label + 1 */
    if (src->w[0]) {
        size_t cols;
        local = read_matrix(cmd, src->w, &W, &Kw, &cols);
        if (!local && cols != d) {
            snprintf(msg, sizeof msg, "is (%zu, %zu); the features have d = %zu", Kw, cols, d);
            local = cli_fail(cmd, src->w, NC_ERR_SIZE_MISMATCH, msg);
        }
        if (!local && o->classes && Kw != o->classes) {
            snprintf(msg, sizeof msg, "has %zu rows (classes), but --classes is %zu", Kw, o->classes);
            local = cli_fail(cmd, src->w, NC_ERR_SIZE_MISMATCH, msg);
        }
    }
    if (agreed_fail(cmd, p, local)) goto done;
    K = o->classes ? o->classes : Kw;
    ki.from = o->classes ? "--classes" : "the rows of W";
    if (!K) {
        long long top = -1;
        size_t row0, cap = 1 << 16;
        lab = (int32_t *)malloc(cap * sizeof(int32_t));
        if (!lab) local = cli_fail(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "");
        for (i = first; i < last && !local; i++) {
            if ((st = nc_npy_reader_open(lr, src->l[i])) != NC_SUCCESS) {
                local = cli_fail(cmd, src->l[i], st, nc_npy_reader_last_error(lr));
                break;
            }
            for (row0 = 0; row0 < n_sh[i] && !local; row0 += cap) {
                const size_t n = n_sh[i] - row0 < cap ? n_sh[i] - row0 : cap;
                if ((st = nc_npy_reader_read_labels(lr, row0, n, lab, 0)) != NC_SUCCESS) {
                    snprintf(msg, sizeof msg, "%s (the file's row 0 is sample %zu of the data set)",
                             nc_npy_reader_last_error(lr), off[i]);
                    local = cli_fail(cmd, src->l[i], st, msg);
                }
                for (k = 0; k < n && !local; k++)
                    if (lab[k] > top) top = lab[k];
            }
        }
        free(lab);
        lab = NULL;
        if (agreed_fail(cmd, p, local)) goto done;
        top = par_max(top);
        K = (size_t)(top + 1);
        ki.inferred = 1;
        ki.top = top;
        ki.from = "the largest label";
        snprintf(ki.note, sizeof ki.note,
                 "; K = %zu was inferred from the largest label (%lld); pass --classes K if the data has more classes",
                 K, top);
    }
    if (K < 2) {
        snprintf(msg, sizeof msg, "K = %zu class%s; at least 2 are needed", K, K == 1 ? "" : "es");
        if (p->rank == 0) fail_k(cmd, "classes", NC_ERR_INVALID_SIZE, msg, &ki);
        goto done;
    }
    s->K = K;
    s->N = N;
    s->d = d;
    s->nsh = src->nsh;
    s->have_w = W != NULL;
    if (src->b[0] && W) {
        size_t bk, bc;
        local = read_matrix(cmd, src->b, &b, &bk, &bc);
        if (!local && bk * bc != K) {
            snprintf(msg, sizeof msg, "holds %zu values for K = %zu", bk * bc, K);
            local = fail_k(cmd, src->b, NC_ERR_SIZE_MISMATCH, msg, &ki);
        }
    }
    if (agreed_fail(cmd, p, local)) goto done;

    /* 3. buffers: one chunk, and the per-class values */
    chunk = o->chunk_rows ? o->chunk_rows : (size_t)8388608 / d;
    if (chunk < 1) chunk = 1;
    for (k = 0, i = first; i < last; i++)
        if (n_sh[i] > k) k = n_sh[i];
    if (chunk > k) chunk = k;
    buf = (double *)malloc(chunk * d * sizeof(double));
    lab = (int32_t *)malloc(chunk * sizeof(int32_t));
    cnt = (size_t *)calloc(K, sizeof(size_t));
    s->counts = (size_t *)malloc(K * sizeof(size_t) + 4 * K * sizeof(double));
    if (!buf || !lab || !cnt || !s->counts) {
        local = fail_k(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "chunk buffers (try a smaller --chunk-rows)", &ki);
    } else {
        s->mean_norm = (double *)(void *)(s->counts + K);
        s->w_norm = s->mean_norm + K;
        s->var = s->w_norm + K;
        s->acc = s->var + K;
    }
    if (agreed_fail(cmd, p, local)) goto done;

    /* 4. pass 1: a stream per shard, merged in shard order */
    for (i = first; i < last && !local; i++) {
        size_t n;
        if ((local = open_shard(cmd, src, i, fr, lr, &n, &d)) != 0) break;
        if (n != n_sh[i]) {
            local = fail_k(cmd, src->f[i], NC_ERR_SIZE_MISMATCH, "the file changed during the analysis", &ki);
            break;
        }
        if ((local = new_stream(cmd, d, K, o->threads, o->nc1_path == 1, W, b, &t, &ki)) != 0) break;
        local = stream_shard(cmd, src, i, off[i], fr, lr, n, d, K, chunk, buf, lab, t, &ki);
        if (!local && acc && (st = nc_stream_merge(acc, t)) != NC_SUCCESS)
            local = fail_k(cmd, src->f[i], st, nc_stream_last_error(acc), &ki);
        if (!local && !acc) {
            acc = t;
            t = NULL;
        }
        nc_stream_destroy(t);
        t = NULL;
    }
    if (agreed_fail(cmd, p, local)) goto done;
    if ((st = par_reduce(acc)) != NC_SUCCESS) {
        if (p->rank == 0) fail_k(cmd, "stream (pass 1)", st, nc_stream_last_error(acc), &ki);
        goto done;
    }
    /* the same state on every rank: the same outcome */
    if ((st = nc_stream_next_pass(acc)) != NC_SUCCESS) {
        if (p->rank == 0)
            fail_k(cmd, src->nsh == 1 ? src->l[0] : "the shards' labels", st, nc_stream_last_error(acc), &ki);
        goto done;
    }

    /* 5. pass 2: each shard from the merged pass 1, merged in shard order */
    if (last - first > 1 && (st = nc_stream_copy(&frozen, acc)) != NC_SUCCESS)
        local = fail_k(cmd, "stream", st, "a copy of pass 1", &ki);
    for (pass = 0, i = first; i < last && !local; i++, pass++) {
        size_t n;
        nc_stream *into = acc;
        if ((local = open_shard(cmd, src, i, fr, lr, &n, &d)) != 0) break;
        if (n != n_sh[i]) {
            local = fail_k(cmd, src->f[i], NC_ERR_SIZE_MISMATCH, "the file changed during the analysis", &ki);
            break;
        }
        if (pass > 0) {
            if ((st = nc_stream_copy(&t, frozen)) != NC_SUCCESS) {
                local = fail_k(cmd, "stream", st, "a copy of pass 1", &ki);
                break;
            }
            into = t;
        }
        local = stream_shard(cmd, src, i, off[i], fr, lr, n, d, K, chunk, buf, lab, into, &ki);
        if (!local && pass > 0 && (st = nc_stream_merge(acc, t)) != NC_SUCCESS)
            local = fail_k(cmd, src->f[i], st, nc_stream_last_error(acc), &ki);
        nc_stream_destroy(t);
        t = NULL;
    }
    if (agreed_fail(cmd, p, local)) goto done;
    if ((st = par_reduce(acc)) != NC_SUCCESS) {
        if (p->rank == 0) fail_k(cmd, "stream (pass 2)", st, nc_stream_last_error(acc), &ki);
        goto done;
    }

    /* 6. the metrics and the per-class values, on rank 0; a failure there
     * is agreed before any rank goes on, so every rank stops at the same
     * point (the other ranks' next collective call would wait forever) */
    if (p->rank == 0) do {
        if ((st = nc_metrics_create(&m)) != NC_SUCCESS ||
            (st = nc_metrics_set_global_mean(m, (nc_global_mean)o->global_mean)) != NC_SUCCESS ||
            (st = nc_metrics_set_between_weight(m, (nc_between_weight)o->between)) != NC_SUCCESS ||
            (st = nc_metrics_set_pinv_rtol(m, o->rtol)) != NC_SUCCESS ||
            (st = nc_metrics_compute_stream(m, acc)) != NC_SUCCESS) {
            local = fail_k(cmd, "metrics", st, m ? nc_metrics_last_error(m) : "", &ki);
            break;
        }
        for (k = 0; k < NC_METRIC_COUNT; k++)
            if (nc_metrics_get(m, (nc_metric)k, &s->v[k]) != NC_SUCCESS) s->v[k] = NAN;
        s->cdnv = s->v[NC_METRIC_NC1_CDNV_MEAN];
        /* the class means and counts of the merged stream (every shard) */
        Mn = (double *)malloc(d * K * sizeof(double));
        minority = (int *)malloc(K * sizeof(int));
        if (!Mn || !minority) {
            local = fail_k(cmd, "class means", NC_ERR_OUT_OF_MEMORY, "", &ki);
            break;
        }
        if ((st = nc_stream_get_class_means(acc, Mn, d, cnt)) != NC_SUCCESS) {
            local = fail_k(cmd, "class means", st, "", &ki);
            break;
        }
        for (k = 0; k < K; k++) {
            s->counts[k] = cnt[k];
            s->w_norm[k] = s->var[k] = s->acc[k] = NAN;
        }
        nc_metrics_get_class(m, NC_CLASS_W_NORM, K, s->w_norm);
        nc_metrics_get_class(m, NC_CLASS_VARIANCE, K, s->var);
        nc_metrics_get_class(m, NC_CLASS_ACCURACY, K, s->acc);
        /* centred in place */
        if ((st = nc_frame_center(d, K, Mn, d, o->global_mean == 0 ? cnt : NULL, Mn, d)) != NC_SUCCESS ||
            (st = nc_frame_norms(d, K, Mn, d, s->mean_norm)) != NC_SUCCESS) {
            local = fail_k(cmd, "class means", st, "", &ki);
            break;
        }
        for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) s->w_minor[k] = s->h_minor[k] = NAN;
        if (cli_minority(K, cnt, minority) > 0) {
            /* undefined indicators (a zero vector) are nan; any other failure is one */
            for (k = 0; k < 2 && !local; k++) {
                double *stats = k ? s->w_minor : s->h_minor;
                if (k && !W) continue;
                st = nc_structure_minority(d, K, k ? W : Mn, d, minority, NULL, stats);
                if (st == NC_ERR_UNAVAILABLE) {
                    size_t j;
                    for (j = 0; j < NC_MINORITY_STAT_COUNT; j++) stats[j] = NAN;
                } else if (st != NC_SUCCESS) {
                    local = fail_k(cmd, k ? "minority indicators of W" : "minority indicators of the means",
                                   st, "", &ki);
                }
            }
        }
    } while (0);
    if (agreed_fail(cmd, p, local)) goto done;
    if (p->rank == 0 && ki.inferred)
        fprintf(stderr, PROG " %s: note: K = %zu was inferred from the largest label (%lld) of %s%s; "
                "pass --classes K if the data has more classes\n", cmd, K, ki.top, src->l[0],
                src->nsh > 1 ? " and the other shards" : "");
    rc = 0;
done:
    nc_metrics_destroy(m);
    nc_stream_destroy(acc);
    nc_stream_destroy(frozen);
    nc_stream_destroy(t);
    nc_npy_reader_destroy(fr);
    nc_npy_reader_destroy(lr);
    free(W);
    free(b);
    free(buf);
    free(lab);
    free(cnt);
    free(n_sh);
    free(Mn);
    free(minority);
    return rc;
}

static void put_value(text *t, double v, int json)
{
    if (json) json_num(t, v);
    else if (isnan(v)) text_put(t, "nan");
    else text_put(t, "%.17g", v);
}

/* A JSON string (paths may hold quotes or backslashes). */
static void json_str(text *t, const char *s)
{
    text_put(t, "\"");
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') text_put(t, "\\%c", c);
        else if (c < 0x20) text_put(t, "\\u%04x", c);
        else text_put(t, "%c", c);
    }
    text_put(t, "\"");
}

/* The output of every snapshot (rank 0). */
static int write_output(const char *cmd, const analyze_opts *o, const char *const *name, const snap *s,
                        size_t npos, const char *const *shard_f, const char *const *shard_l)
{
    static const char *mnames[NC_MINORITY_STAT_COUNT] = {"cos_major", "cos_minor", "cos_across", "spread"};
    text t = {0}, pc = {0};
    size_t i, k;
    int rc = 1;
    if (o->json) {
        text_put(&t, "{\n  \"global_mean\": \"%s\",\n  \"between\": \"%s\",\n  \"nc1_path\": \"%s\",\n"
                 "  \"snapshots\": [",
                 gm_names[o->global_mean], bw_names[o->between], nc1_names[o->nc1_path]);
        for (i = 0; i < npos; i++) {
            text_put(&t, "%s\n    {\"source\": ", i ? "," : "");
            json_str(&t, name[i]);
            if (shard_f) {
                text_put(&t, ", \"shards\": [");
                for (k = 0; k < s[i].nsh; k++) {
                    text_put(&t, "%s[", k ? ", " : "");
                    json_str(&t, shard_f[k]);
                    text_put(&t, ", ");
                    json_str(&t, shard_l[k]);
                    text_put(&t, "]");
                }
                text_put(&t, "]");
            }
            text_put(&t, ", \"N\": %zu, \"d\": %zu, \"K\": %zu", s[i].N, s[i].d, s[i].K);
            for (k = 0; k < NC_METRIC_COUNT; k++) {
                text_put(&t, ", \"%s\": ", nc_metric_name((nc_metric)k));
                json_num(&t, s[i].v[k]);
            }
            text_put(&t, ", \"cdnv\": ");
            json_num(&t, s[i].cdnv);
            for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) {
                text_put(&t, ", \"w_%s\": ", mnames[k]);
                json_num(&t, s[i].w_minor[k]);
                text_put(&t, ", \"h_%s\": ", mnames[k]);
                json_num(&t, s[i].h_minor[k]);
            }
            text_put(&t, ",\n     \"classes\": [");
            for (k = 0; k < s[i].K; k++) {
                text_put(&t, "%s{\"n\": %zu, \"mean_norm\": ", k ? ", " : "", s[i].counts[k]);
                json_num(&t, s[i].mean_norm[k]);
                text_put(&t, ", \"classifier_norm\": ");
                json_num(&t, s[i].w_norm[k]);
                text_put(&t, ", \"variance\": ");
                json_num(&t, s[i].var[k]);
                text_put(&t, ", \"accuracy\": ");
                json_num(&t, s[i].acc[k]);
                text_put(&t, "}");
            }
            text_put(&t, "]}");
        }
        text_put(&t, "\n  ]\n}\n");
    } else if (o->csv) {
        text_put(&t, "snapshot,source,N,d,K");
        for (k = 0; k < NC_METRIC_COUNT; k++) text_put(&t, ",%s", nc_metric_name((nc_metric)k));
        text_put(&t, ",cdnv");
        for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) text_put(&t, ",w_%s,h_%s", mnames[k], mnames[k]);
        text_put(&t, "\n");
        for (i = 0; i < npos; i++) {
            text_put(&t, "%zu,%s,%zu,%zu,%zu", i, name[i], s[i].N, s[i].d, s[i].K);
            for (k = 0; k < NC_METRIC_COUNT; k++) {
                text_put(&t, ",");
                put_value(&t, s[i].v[k], 0);
            }
            text_put(&t, ",");
            put_value(&t, s[i].cdnv, 0);
            for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) {
                text_put(&t, ",");
                put_value(&t, s[i].w_minor[k], 0);
                text_put(&t, ",");
                put_value(&t, s[i].h_minor[k], 0);
            }
            text_put(&t, "\n");
        }
    } else {
        text_put(&t, "global mean: %s; Sigma_B: %s; NC1 path: %s%s; minority: n_k < sqrt(max n min n)\n",
                 gm_names[o->global_mean], bw_names[o->between], nc1_names[o->nc1_path],
                 o->nc1_path == 1 ? " (nc1 left out)" : "");
        for (i = 0; i < npos; i++) {
            text_put(&t, "\n%s: N = %zu, d = %zu, K = %zu\n", name[i], s[i].N, s[i].d, s[i].K);
            for (k = 0; k < NC_METRIC_COUNT; k++)
                text_put(&t, "  %-22s %.6e\n", nc_metric_name((nc_metric)k), s[i].v[k]);
            text_put(&t, "  %-22s %.6e\n", "cdnv", s[i].cdnv);
            for (k = 0; k < NC_MINORITY_STAT_COUNT; k++)
                text_put(&t, "  %-22s classifier %.6e   means %.6e\n", mnames[k], s[i].w_minor[k], s[i].h_minor[k]);
            text_put(&t, "  %5s %8s %12s %12s %12s %9s\n", "class", "n", "|mean-muG|", "|w|", "variance", "accuracy");
            for (k = 0; k < s[i].K; k++)
                text_put(&t, "  %5zu %8zu %12.6g %12.6g %12.6g %9.4f\n", k, s[i].counts[k], s[i].mean_norm[k],
                         s[i].w_norm[k], s[i].var[k], s[i].acc[k]);
        }
    }
    if (o->per_class[0]) {
        text_put(&pc, "snapshot,class,n,mean_norm,classifier_norm,variance,accuracy\n");
        for (i = 0; i < npos; i++)
            for (k = 0; k < s[i].K; k++) {
                text_put(&pc, "%zu,%zu,%zu,", i, k, s[i].counts[k]);
                put_value(&pc, s[i].mean_norm[k], 0);
                text_put(&pc, ",");
                put_value(&pc, s[i].w_norm[k], 0);
                text_put(&pc, ",");
                put_value(&pc, s[i].var[k], 0);
                text_put(&pc, ",");
                put_value(&pc, s[i].acc[k], 0);
                text_put(&pc, "\n");
            }
        if (write_atomic(cmd, o->per_class, pc.s, pc.len)) goto done;
    }
    if (o->out[0]) {
        if (write_atomic(cmd, o->out, t.s, t.len)) goto done;
    } else {
        fwrite(t.s, 1, t.len, stdout);
    }
    rc = 0;
done:
    text_free(&t);
    text_free(&pc);
    return rc;
}

/* The command, on one rank (p: 0 of 1 serially). Usage errors (2) follow
 * from the arguments alone, the same on every rank. */
static int analyze_run(const par *p, char **argv, int argc, const char **shard_f, const char **shard_l,
                       size_t nshard)
{
    static const char *cmd = "analyze";
    const char *pos[256];
    size_t npos = 256, i, nsnap, done_snaps = 0;
    int help = 0, rc = 1;
    snap *s = NULL;
    char (*names)[CLI_PATH] = NULL;
    const char **name = NULL;
    analyze_opts oo;
    const analyze_opts *o = &oo;
    memset(&oo, 0, sizeof oo);
    oo.rtol = 1e-13;
    oo.threads = 1;
    if (flags_parse(cmd, argc, argv, 2, analyze_flags, &oo, NULL, NULL, pos, &npos, &help)) return 2;
    if (help) {
        if (p->rank == 0) print_help();
        return 0;
    }
    if (npos == 0 && nshard == 0)
        return cli_usage(cmd, "no snapshot given (feature files with --labels, run directories, or --shard pairs)");
    if (npos > 0 && nshard > 0)
        return cli_usage(cmd, "--shard: the shards form one data set; give no other snapshot (got %s)", pos[0]);
    if (nshard > 0 && o->labels[0])
        return cli_usage(cmd, "--labels: each --shard pair has its labels");
    if (o->csv && o->json) return cli_usage(cmd, "--csv and --json: choose one");
    if (nshard > 0 && (strchr(o->weights, ',') || strchr(o->bias, ',')))
        return cli_usage(cmd, "--weights, --bias: one file for the shards of one data set");
    if (o->weights[0] && strchr(o->weights, ',') && list_len(o->weights) != npos)
        return cli_usage(cmd, "--weights: %zu files for %zu snapshots", list_len(o->weights), npos);
    if (o->bias[0] && strchr(o->bias, ',') && list_len(o->bias) != npos)
        return cli_usage(cmd, "--bias: %zu files for %zu snapshots", list_len(o->bias), npos);
    if (p->size > 1 && (size_t)p->size != nshard)
        return cli_usage(cmd, "rank %d of %d: under mpirun -np %d, give exactly %d --shard pairs (one per rank); "
                         "got %zu%s", p->rank, p->size, p->size, p->size, nshard,
                         npos ? " and other snapshots (run the serial ncollapse for those)" : "");
    nsnap = nshard > 0 ? 1 : npos;
    s = (snap *)calloc(nsnap, sizeof *s);
    names = (char (*)[CLI_PATH])malloc(nsnap * sizeof *names);
    name = (const char **)malloc(nsnap * sizeof *name);
    if (!s || !names || !name) {
        cli_fail(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "");
        goto done;
    }
    for (i = 0; i < nsnap; i++) {
        struct stat sb;
        char f[CLI_PATH], l[CLI_PATH], w[CLI_PATH] = "", b[CLI_PATH] = "";
        const char *fp = f, *lp = l;
        source src;
        memset(&src, 0, sizeof src);
        if (nshard > 0) {
            snprintf(names[i], CLI_PATH, "%s (%zu shard%s)", shard_f[0], nshard, nshard == 1 ? "" : "s");
            src.nsh = nshard;
            src.f = shard_f;
            src.l = shard_l;
            memcpy(w, o->weights, sizeof w);
            memcpy(b, o->bias, sizeof b);
        } else if (stat(pos[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            snprintf(names[i], CLI_PATH, "%s", pos[i]);
            path_join(f, pos[i], "H.npy");
            path_join(l, pos[i], "labels.npy");
            path_join(w, pos[i], "P.npy");
            if (stat(w, &sb) != 0) path_join(w, pos[i], "W.npy");
            path_join(b, pos[i], "b.npy");
            if (stat(b, &sb) != 0) b[0] = '\0';
        } else {
            if (!o->labels[0]) {
                rc = cli_usage(cmd, "--labels: missing (needed for the feature file %s)", pos[i]);
                goto done;
            }
            snprintf(names[i], CLI_PATH, "%s", pos[i]);
            snprintf(f, sizeof f, "%s", pos[i]);
            memcpy(l, o->labels, sizeof l);
            if (o->weights[0]) list_item(o->weights, i, w);
            if (o->bias[0]) list_item(o->bias, i, b);
        }
        name[i] = names[i];
        if (nshard == 0) {
            src.nsh = 1;
            src.f = &fp;
            src.l = &lp;
        }
        src.w = w;
        src.b = b;
        if (analyze_one(cmd, o, p, &src, &s[i])) {
            done_snaps = i + 1;
            goto done;
        }
        done_snaps = i + 1;
    }
    rc = p->rank == 0 ? write_output(cmd, o, name, s, nsnap, nshard ? shard_f : NULL, shard_l) : 0;
done:
    for (i = 0; s && i < done_snaps; i++) free(s[i].counts);
    free(s);
    free(names);
    free(name);
    return rc;
}

int cmd_analyze(int argc, char **argv)
{
    const char **shard_f = NULL, **shard_l = NULL;
    char **args = NULL;
    size_t nshard = 0;
    int a, nargs = 0, rc;
    par p = {0, 1};
#ifdef NC_WITH_MPI
    MPI_Comm_rank(MPI_COMM_WORLD, &p.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p.size);
#endif
    /* --shard F.npy L.npy (two values) taken out before the flags */
    args = (char **)malloc((size_t)(argc + 1) * sizeof(char *));
    shard_f = (const char **)malloc((size_t)(argc + 1) * sizeof(char *));
    shard_l = (const char **)malloc((size_t)(argc + 1) * sizeof(char *));
    if (!args || !shard_f || !shard_l) {
        rc = cli_fail("analyze", "setup", NC_ERR_OUT_OF_MEMORY, "");
    } else {
        rc = 0;
        for (a = 0; a < argc && !rc; a++) {
            if (a >= 2 && strncmp(argv[a], "--shard", 7) == 0 && (argv[a][7] == '\0' || argv[a][7] == '=')) {
                if (argv[a][7] == '=' || a + 2 >= argc || strncmp(argv[a + 1], "--", 2) == 0 ||
                    strncmp(argv[a + 2], "--", 2) == 0)
                    rc = cli_usage("analyze", "--shard: expected two files, --shard FEATURES.npy LABELS.npy");
                else {
                    shard_f[nshard] = argv[a + 1];
                    shard_l[nshard++] = argv[a + 2];
                    a += 2;
                }
            } else {
                args[nargs++] = argv[a];
            }
        }
        args[nargs] = NULL;
        if (!rc) rc = analyze_run(&p, args, nargs, shard_f, shard_l, nshard);
    }
    free(args);
    free(shard_f);
    free(shard_l);
#ifdef NC_WITH_MPI
    /* usage errors are the same on every rank; a failure on one rank (a
     * file rank 0 could not write) is the failure of every rank */
    if (rc != 2 && par_agree(rc ? NC_ERR_IO : NC_SUCCESS) != NC_SUCCESS) rc = 1;
#endif
    return rc;
}

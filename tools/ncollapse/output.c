/*
 * output.c - what the commands of `ncollapse` share besides the flags:
 * atomic output files, the measurements of a state against its
 * prediction, and main(), which dispatches to the commands.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#ifdef NC_WITH_MPI
#include <mpi.h>
#endif

/* ---- text and files ----------------------------------------------------------- */
void text_put(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        char *s;
        while (cap < t->len + (size_t)n + 1) cap *= 2;
        s = (char *)realloc(t->s, cap);
        if (!s) {
            fputs("ncollapse: out of memory\n", stderr);
            exit(1);
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void text_free(text *t)
{
    free(t->s);
    t->s = NULL;
    t->len = t->cap = 0;
}

void json_num(text *t, double v)
{
    if (isfinite(v)) text_put(t, "%.17g", v);
    else text_put(t, "null");
}

int write_atomic(const char *cmd, const char *path, const char *s, size_t len)
{
    char tmp[CLI_PATH + 64], msg[CLI_PATH + 200];
    int fd;
    size_t done = 0;
    sigset_t block, old;
    /* a signal that ends the program waits until the file is complete or gone */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) goto fail;
    while (done < len) {
        ssize_t w = write(fd, s + done, len - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            close(fd);
            unlink(tmp);
            goto fail;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        goto fail;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
fail:
    snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
    sigprocmask(SIG_SETMASK, &old, NULL);
    return cli_fail(cmd, "writing", NC_ERR_IO, msg);
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    size_t cap = 0, n = 0;
    if (!f) return NULL;
    for (;;) {
        size_t r;
        if (n + 4097 > cap) {
            char *t;
            cap = cap ? 2 * cap : 65536;
            t = (char *)realloc(s, cap);
            if (!t) {
                free(s);
                fclose(f);
                errno = ENOMEM; /* not a missing file: the callers tell them apart */
                return NULL;
            }
            s = t;
        }
        r = fread(s + n, 1, 4096, f);
        n += r;
        if (r < 4096) break;
    }
    fclose(f);
    s[n] = '\0';
    if (len) *len = n;
    return s;
}

int make_dir(const char *cmd, const char *path)
{
    char msg[CLI_PATH + 200];
    struct stat sb;
    if (mkdir(path, 0755) == 0) return 0;
    if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return 0;
    snprintf(msg, sizeof msg, "cannot create the directory %s: %s", path,
             errno == EEXIST ? "a file of that name exists" : strerror(errno));
    return cli_fail(cmd, "output", NC_ERR_IO, msg);
}

void path_join(char *out, const char *dir, const char *name)
{
    snprintf(out, CLI_PATH, "%s/%s", dir, name);
}

int write_npy(const char *cmd, const char *path, const double *x, size_t rows, size_t cols)
{
    nc_npy_writer *w = NULL;
    nc_status st;
    if ((st = nc_npy_writer_create(&w)) != NC_SUCCESS) return cli_fail(cmd, path, st, "");
    if ((st = nc_npy_writer_begin(w, path, NC_NPY_FLOAT64, 2, rows, cols)) != NC_SUCCESS ||
        (st = nc_npy_writer_write_rows(w, x, rows, cols)) != NC_SUCCESS ||
        (st = nc_npy_writer_finish(w)) != NC_SUCCESS) {
        cli_fail(cmd, path, st, nc_npy_writer_last_error(w));
        nc_npy_writer_destroy(w);
        return 1;
    }
    nc_npy_writer_destroy(w);
    return 0;
}

int write_npy_labels(const char *cmd, const char *path, const int32_t *labels, size_t n)
{
    nc_npy_writer *w = NULL;
    nc_status st;
    if ((st = nc_npy_writer_create(&w)) != NC_SUCCESS) return cli_fail(cmd, path, st, "");
    if ((st = nc_npy_writer_begin(w, path, NC_NPY_INT32, 1, n, 1)) != NC_SUCCESS ||
        (st = nc_npy_writer_write_labels(w, labels, n)) != NC_SUCCESS ||
        (st = nc_npy_writer_finish(w)) != NC_SUCCESS) {
        cli_fail(cmd, path, st, nc_npy_writer_last_error(w));
        nc_npy_writer_destroy(w);
        return 1;
    }
    nc_npy_writer_destroy(w);
    return 0;
}

/* ---- geometry from Gram matrices ------------------------------------------------------ */
size_t cli_minority(size_t K, const size_t *counts, int *minority)
{
    size_t k, lo = counts[0], hi = counts[0], n = 0;
    double cut;
    for (k = 1; k < K; k++) {
        if (counts[k] < lo) lo = counts[k];
        if (counts[k] > hi) hi = counts[k];
    }
    cut = sqrt((double)lo * (double)hi);
    for (k = 0; k < K; k++) {
        minority[k] = lo < hi && (double)counts[k] < cut;
        n += (size_t)minority[k];
    }
    return n;
}

void gram_stats(size_t K, const double *G, const int *minority, double *cos_minor,
                double *cos_across, double *spread, double *max_abs_cos)
{
    size_t i, j, nm = 0, na = 0;
    double sm = 0, sa = 0, dmax = 0, nmax = 0, cmax = 0;
    for (i = 0; i < K; i++)
        if (G[i * K + i] > nmax) nmax = G[i * K + i];
    for (i = 0; i < K; i++)
        for (j = i + 1; j < K; j++) {
            double gi = G[i * K + i], gj = G[j * K + j], c;
            /* the cosine of a vector below 1e-6 of the largest is noise: undefined */
            c = (gi > 1e-12 * nmax && gj > 1e-12 * nmax) ? G[j * K + i] / sqrt(gi * gj) : NAN;
            if (!isnan(c) && fabs(c) > cmax) cmax = fabs(c);
            if (minority[i] && minority[j]) {
                double dd = gi + gj - 2 * G[j * K + i];
                if (!isnan(c)) {
                    sm += c;
                    nm++;
                }
                if (dd > dmax) dmax = dd;
            } else if (minority[i] != minority[j] && !isnan(c)) {
                sa += c;
                na++;
            }
        }
    *cos_minor = nm ? sm / (double)nm : NAN;
    *cos_across = na ? sa / (double)na : NAN;
    *spread = nmax > 0 ? sqrt(dmax / nmax) : NAN;
    *max_abs_cos = cmax;
}

/* Uncentred class means of the model's input features (d x K) and their Gram. */
static int model_grams(const char *cmd, nc_model *model, double *WW, double *HH, double *hn,
                       double *wn)
{
    size_t d = nc_model_dim(model), K = nc_model_num_classes(model), N = nc_model_num_samples(model), k;
    double *H = (double *)malloc(d * N * sizeof(double)), *M = (double *)malloc(d * K * sizeof(double)),
           *P = (double *)malloc(d * K * sizeof(double));
    int32_t *lab = (int32_t *)malloc(N * sizeof(int32_t));
    nc_status st = NC_ERR_OUT_OF_MEMORY;
    if (H && M && P && lab && (st = nc_model_get_H(model, H, d)) == NC_SUCCESS &&
        (st = nc_model_get_labels(model, lab)) == NC_SUCCESS &&
        (st = nc_model_get_product(model, P, d)) == NC_SUCCESS &&
        (st = nc_structure_class_means(d, K, N, H, d, lab, M, d, NULL)) == NC_SUCCESS &&
        (st = nc_structure_gram(d, K, M, d, NULL, 0, HH, K)) == NC_SUCCESS &&
        (st = nc_structure_gram(d, K, P, d, NULL, 0, WW, K)) == NC_SUCCESS)
        for (k = 0; k < K; k++) {
            hn[k] = sqrt(HH[k * K + k]);
            wn[k] = sqrt(WW[k * K + k]);
        }
    free(H);
    free(M);
    free(P);
    free(lab);
    if (st != NC_SUCCESS) return cli_fail(cmd, "measuring the state", st, "");
    return 0;
}

static void prediction_fill(nc_prediction *p, size_t K, const size_t *counts, measure *m,
                            double *WWp, double *HHp)
{
    int minority[CLI_MAX_K];
    size_t k;
    double unused;
    m->have_prediction = 1;
    snprintf(m->kind, sizeof m->kind, "%s", nc_prediction_get_kind(p) == NC_PREDICT_BALANCED_CE ? "balanced_ce"
             : nc_prediction_get_kind(p) == NC_PREDICT_BALANCED_MSE ? "balanced_mse"
             : nc_prediction_get_kind(p) == NC_PREDICT_HONG_LING_CE ? "hong_ling_ce"
             : nc_prediction_get_kind(p) == NC_PREDICT_DANG_RELU_CE ? "dang_relu_ce"
             : nc_prediction_get_kind(p) == NC_PREDICT_DEEP_LINEAR_MSE ? "deep_linear_mse"
                                                                    : "fixed_etf");
    nc_prediction_get_norms(p, m->w_norm_pred, m->h_norm_pred);
    if (nc_prediction_get_collapsed(p, m->collapsed_pred) != NC_SUCCESS)
        for (k = 0; k < K; k++) m->collapsed_pred[k] = -1;
    if (nc_prediction_get_thresholds(p, m->threshold) != NC_SUCCESS)
        for (k = 0; k < K; k++) m->threshold[k] = NAN;
    if (nc_prediction_get_critical_count(p, &m->critical_count) != NC_SUCCESS) m->critical_count = NAN;
    nc_prediction_get_classifier_gram(p, WWp, K);
    nc_prediction_get_feature_gram(p, HHp, K);
    nc_prediction_get_objective(p, &m->cmp[NC_COMPARE_PREDICTED_OBJECTIVE]);
    cli_minority(K, counts, minority);
    gram_stats(K, WWp, minority, &m->w_cos_minor[1], &unused, &m->w_spread[1], &unused);
    gram_stats(K, HHp, minority, &m->h_cos_minor[1], &m->h_cos_across[1], &unused,
               &m->h_max_abs_cos[1]);
}

static void measure_init(measure *m, size_t K)
{
    size_t k, i;
    memset(m, 0, sizeof *m);
    m->K = K;
    for (i = 0; i < NC_COMPARE_COUNT; i++) m->cmp[i] = NAN;
    for (k = 0; k < K; k++) {
        m->h_norm[k] = m->h_norm_pred[k] = m->w_norm[k] = m->w_norm_pred[k] = NAN;
        m->threshold[k] = NAN;
        m->collapsed_pred[k] = -1;
    }
    for (i = 0; i < 2; i++)
        m->w_cos_minor[i] = m->w_spread[i] = m->h_cos_across[i] = m->h_cos_minor[i] =
            m->h_max_abs_cos[i] = NAN;
    m->nc1 = m->nc2_etf_means = m->nc3 = m->critical_count = NAN;
    snprintf(m->kind, sizeof m->kind, "none");
}

int measure_model(const char *cmd, nc_model *model, double rtol, measure *m)
{
    size_t K = nc_model_num_classes(model), counts[CLI_MAX_K];
    double *WW = (double *)malloc(4 * K * K * sizeof(double)), *HH, *WWp, *HHp, unused;
    int minority[CLI_MAX_K];
    nc_prediction *p = NULL;
    nc_metrics *mt = NULL;
    nc_status st;
    if (!WW) return cli_fail(cmd, "measuring", NC_ERR_OUT_OF_MEMORY, "");
    HH = WW + K * K;
    WWp = HH + K * K;
    HHp = WWp + K * K;
    measure_init(m, K);
    nc_model_get_class_counts(model, counts);
    if (model_grams(cmd, model, WW, HH, m->h_norm, m->w_norm)) {
        free(WW);
        return 1;
    }
    cli_minority(K, counts, minority);
    gram_stats(K, WW, minority, &m->w_cos_minor[0], &unused, &m->w_spread[0], &unused);
    gram_stats(K, HH, minority, &m->h_cos_minor[0], &m->h_cos_across[0], &unused, &m->h_max_abs_cos[0]);
    if ((st = nc_metrics_create(&mt)) != NC_SUCCESS || (st = nc_metrics_compute(mt, model)) != NC_SUCCESS) {
        /* a state the metrics refuse is noted (null values); no memory is a failure */
        if (st == NC_ERR_OUT_OF_MEMORY) {
            cli_fail(cmd, "metrics", st, mt ? nc_metrics_last_error(mt) : nc_create_last_error());
            nc_metrics_destroy(mt);
            free(WW);
            return 1;
        }
        snprintf(m->note, sizeof m->note, "metrics: %s", mt ? nc_metrics_last_error(mt) : "");
    }
    if (mt) {
        nc_metrics_get(mt, NC_METRIC_NC1, &m->nc1);
        nc_metrics_get(mt, NC_METRIC_NC2_ETF_MEANS, &m->nc2_etf_means);
        nc_metrics_get(mt, NC_METRIC_NC3, &m->nc3);
        nc_metrics_destroy(mt);
    }
    st = nc_prediction_create_from_model(&p, model);
    if (st == NC_ERR_UNSUPPORTED) {
        snprintf(m->note, sizeof m->note, "no prediction: %s", nc_model_last_error(model));
    } else if (st != NC_SUCCESS) {
        free(WW);
        return cli_fail(cmd, "prediction", st, nc_model_last_error(model));
    } else {
        st = nc_prediction_compare(p, model, rtol, m->cmp, &m->verdict);
        if (st != NC_SUCCESS) {
            cli_fail(cmd, "comparison with the prediction", st, nc_prediction_last_error(p));
            nc_prediction_destroy(p);
            free(WW);
            return 1;
        }
        prediction_fill(p, K, counts, m, WWp, HHp);
        nc_prediction_destroy(p);
    }
    free(WW);
    return 0;
}

int measure_prediction(const char *cmd, const cfg *c, measure *m)
{
    nc_model *model = NULL;
    nc_prediction *p = NULL;
    nc_status st;
    size_t K, counts[CLI_MAX_K];
    double *G;
    cfg c0 = *c;
    int rc;
    c0.init_std = 0; /* no state is needed, and a fixed classifier keeps its values */
    if ((rc = cfg_model(cmd, &c0, &model)) != 0) return rc;
    K = nc_model_num_classes(model);
    nc_model_get_class_counts(model, counts);
    measure_init(m, K);
    if ((st = nc_prediction_create_from_model(&p, model)) != NC_SUCCESS) {
        cli_fail(cmd, "prediction", st, nc_model_last_error(model));
        nc_model_destroy(model);
        return 1;
    }
    nc_model_destroy(model);
    if ((st = nc_prediction_compute(p)) < 0) {
        cli_fail(cmd, "prediction", st, nc_prediction_last_error(p));
        nc_prediction_destroy(p);
        return 1;
    }
    G = (double *)malloc(2 * K * K * sizeof(double));
    if (!G) {
        nc_prediction_destroy(p);
        return cli_fail(cmd, "prediction", NC_ERR_OUT_OF_MEMORY, "");
    }
    prediction_fill(p, K, counts, m, G, G + K * K);
    free(G);
    nc_prediction_destroy(p);
    return 0;
}

/* ---- main ---------------------------------------------------------------------------- */
#ifdef NC_WITH_MPI
#define PROG "ncollapse-mpi"
#else
#define PROG "ncollapse"
#endif
static int usage_main(FILE *out)
{
    fprintf(out,
            "usage: " PROG " COMMAND [FLAGS]   (" PROG " COMMAND --help for its flags)\n"
#ifdef NC_WITH_MPI
            "  analyze   NC metrics of a data set dumped in shards, one --shard pair per rank\n"
            "            (mpirun -np P " PROG " analyze --shard F0.npy L0.npy ...)\n"
            "  train, predict, sweep: serial only (the ncollapse program)\n"
#else
            "  train     train an unconstrained feature model; history, state, checkpoint\n"
            "  predict   the closed-form optimum of a configuration; --compare a trained run\n"
            "  sweep     a grid over one or two flags, each point trained and predicted\n"
            "  analyze   NC metrics of features saved as .npy (snapshots, or the shards of one)\n"
#endif
            "  version   the program's and the library's version\n"
            "exit status: 0 success, 1 failure (the library's message), 2 bad usage\n");
    return out == stderr ? 2 : 0;
}

static int run_command(int argc, char **argv)
{
    if (argc < 2) return usage_main(stderr);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
        return usage_main(stdout);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf(PROG " %s (libncollapse %s)\n", NC_VERSION_STRING, nc_version_string());
        return 0;
    }
    if (strcmp(argv[1], "analyze") == 0) return cmd_analyze(argc, argv);
#ifdef NC_WITH_MPI
    if (strcmp(argv[1], "train") == 0 || strcmp(argv[1], "predict") == 0 || strcmp(argv[1], "sweep") == 0) {
        fprintf(stderr, PROG ": '%s' is serial only: run `ncollapse %s` (under mpirun, " PROG
                " runs analyze)\n", argv[1], argv[1]);
        return 2;
    }
#else
    if (strcmp(argv[1], "train") == 0) return cmd_train(argc, argv);
    if (strcmp(argv[1], "predict") == 0) return cmd_predict(argc, argv);
    if (strcmp(argv[1], "sweep") == 0) return cmd_sweep(argc, argv);
#endif
    fprintf(stderr, PROG ": unknown command '%s'\n", argv[1]);
    return usage_main(stderr);
}

int main(int argc, char **argv)
{
#ifdef NC_WITH_MPI
    /* ncollapse-mpi: every rank runs the command; analyze agrees on the
     * exit status across MPI_COMM_WORLD */
    int rc;
    MPI_Init(&argc, &argv);
    rc = run_command(argc, argv);
    MPI_Finalize();
    return rc;
#else
    return run_command(argc, argv);
#endif
}

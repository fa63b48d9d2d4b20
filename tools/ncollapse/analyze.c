/*
 * analyze.c - `ncollapse analyze`: the NC metrics of one or several feature
 * snapshots (a trajectory of dumps, or directories written by `train`),
 * with the CDNV, the minority-collapse indicators of the classifier and of
 * the class means, and per-class values; a table, --csv or --json.
 * Each snapshot is read whole into memory (tools/nc_analyze streams a
 * single data set of any size).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

typedef struct analyze_opts {
    char labels[CLI_PATH], weights[CLI_PATH], bias[CLI_PATH], out[CLI_PATH], per_class[CLI_PATH];
    size_t classes;
    int global_mean, between, csv, json;
    double rtol;
} analyze_opts;

static const char *const gm_names[] = {"sample", "class-avg", NULL};
static const char *const bw_names[] = {"uniform", "weighted", NULL};
#define AOFF(field) offsetof(analyze_opts, field)
static const flag analyze_flags[] = {
    {"labels", FLAG_STRING, AOFF(labels), 0, 0, 0, 0, NULL, "labels (N,) integers in [0, K), for feature files", 0},
    {"weights", FLAG_STRING, AOFF(weights), 0, 0, 0, 0, NULL,
     "classifier (K, d): one file for every snapshot, or one per snapshot separated by commas", 0},
    {"bias", FLAG_STRING, AOFF(bias), 0, 0, 0, 0, NULL, "bias (K,): one file, or one per snapshot", 0},
    {"classes", FLAG_SIZE, AOFF(classes), 2, CLI_MAX_K, 0, 0, NULL,
     "K (default: rows of W, else the largest label + 1)", 0},
    {"global-mean", FLAG_CHOICE, AOFF(global_mean), 0, 0, 0, 0, gm_names, "mu_G convention (default sample)", 0},
    {"between", FLAG_CHOICE, AOFF(between), 0, 0, 0, 0, bw_names, "Sigma_B weighting (default uniform)", 0},
    {"rtol", FLAG_DOUBLE, AOFF(rtol), 0, 1, 0, 1, NULL, "pseudo-inverse threshold of Sigma_B (default 1e-13)", 0},
    {"csv", FLAG_SWITCH, AOFF(csv), 0, 0, 0, 0, NULL, "one CSV row per snapshot", 0},
    {"json", FLAG_SWITCH, AOFF(json), 0, 0, 0, 0, NULL, "JSON, with the per-class values", 0},
    {"out", FLAG_STRING, AOFF(out), 0, 0, 0, 0, NULL, "write the output to this file (atomically)", 0},
    {"per-class", FLAG_STRING, AOFF(per_class), 0, 0, 0, 0, NULL,
     "also write the per-class CSV (snapshot, class, n, norms, variance, accuracy) to this file", 0},
    {NULL, FLAG_SWITCH, 0, 0, 0, 0, 0, NULL, NULL, 0}};

static void print_help(void)
{
    printf("usage: ncollapse analyze [FLAGS] --labels L.npy F1.npy [F2.npy ...]\n"
           "       ncollapse analyze [FLAGS] RUNDIR [RUNDIR ...]\n"
           "Every NC metric (nc_metrics), the mean CDNV, the minority-collapse indicators of the\n"
           "classifier rows and of the centred class means (mean cosine within the minority,\n"
           "across, spread; minority: n_k < sqrt(max n min n)), and per class the count, the\n"
           "norm of the centred mean, the classifier norm, the within-class variance and the\n"
           "accuracy, for each snapshot. A snapshot is an (N, d) float .npy of features with\n"
           "--labels, or a directory written by `ncollapse train` (H.npy, labels.npy, W.npy or\n"
           "P.npy, b.npy). Metrics needing the classifier are nan without one.\n\nFlags:\n");
    flags_help(stdout, analyze_flags);
}

/* Read a whole float array of shape (rows, cols) (a 1-D array is (rows, 1)). */
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

static int read_labels(const char *cmd, const char *path, int32_t **out, size_t *n)
{
    nc_npy_reader *r = NULL;
    nc_status st;
    size_t cols;
    *out = NULL;
    if ((st = nc_npy_reader_create(&r)) != NC_SUCCESS) return cli_fail(cmd, path, st, "");
    if ((st = nc_npy_reader_open(r, path)) != NC_SUCCESS) goto fail;
    nc_npy_reader_info(r, NULL, NULL, n, &cols);
    if (*n == 0 || cols != 1) {
        st = NC_ERR_SIZE_MISMATCH;
        goto fail;
    }
    if (!(*out = (int32_t *)malloc(*n * sizeof(int32_t)))) {
        st = NC_ERR_OUT_OF_MEMORY;
        goto fail;
    }
    if ((st = nc_npy_reader_read_labels(r, 0, *n, *out, CLI_MAX_K)) != NC_SUCCESS) goto fail;
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

typedef struct snap {
    size_t N, d, K, counts[CLI_MAX_K];
    double v[NC_METRIC_COUNT];
    double cdnv, w_minor[NC_MINORITY_STAT_COUNT], h_minor[NC_MINORITY_STAT_COUNT];
    double mean_norm[CLI_MAX_K], w_norm[CLI_MAX_K], var[CLI_MAX_K], acc[CLI_MAX_K];
    int have_w;
} snap;

static int analyze_one(const char *cmd, const analyze_opts *o, const char *fpath, const char *lpath,
                       const char *wpath, const char *bpath, snap *s)
{
    double *H = NULL, *W = NULL, *b = NULL, *Mn = NULL, *C = NULL;
    int32_t *lab = NULL;
    size_t N, d, nl, Kw = 0, cols, k, i, j;
    nc_metrics *m = NULL;
    nc_status st;
    int rc = 1, minority[CLI_MAX_K];
    char msg[3 * CLI_PATH + 200];
    memset(s, 0, sizeof *s);
    if (read_matrix(cmd, fpath, &H, &N, &d) || read_labels(cmd, lpath, &lab, &nl)) goto done;
    if (nl != N) {
        snprintf(msg, sizeof msg, "%s has %zu labels for the %zu rows of %s", lpath, nl, N, fpath);
        cli_fail(cmd, "labels", NC_ERR_SIZE_MISMATCH, msg);
        goto done;
    }
    if (wpath && wpath[0]) {
        if (read_matrix(cmd, wpath, &W, &Kw, &cols)) goto done;
        if (cols != d) {
            snprintf(msg, sizeof msg, "%s is (%zu, %zu); the features have d = %zu", wpath, Kw, cols, d);
            cli_fail(cmd, "--weights", NC_ERR_SIZE_MISMATCH, msg);
            goto done;
        }
    }
    s->K = o->classes ? o->classes : Kw;
    if (!s->K)
        for (i = 0; i < N; i++)
            if ((size_t)lab[i] + 1 > s->K) s->K = (size_t)lab[i] + 1;
    if (s->K < 2 || (Kw && Kw != s->K)) {
        snprintf(msg, sizeof msg, "K = %zu classes%s", s->K, Kw && Kw != s->K ? ", but W has another number of rows" : "");
        cli_fail(cmd, "classes", NC_ERR_SIZE_MISMATCH, msg);
        goto done;
    }
    if (bpath && bpath[0]) {
        size_t bk, bc;
        if (read_matrix(cmd, bpath, &b, &bk, &bc)) goto done;
        if (bk * bc != s->K) {
            snprintf(msg, sizeof msg, "%s holds %zu values for K = %zu", bpath, bk * bc, s->K);
            cli_fail(cmd, "--bias", NC_ERR_SIZE_MISMATCH, msg);
            goto done;
        }
    }
    s->N = N;
    s->d = d;
    s->have_w = W != NULL;
    if ((st = nc_metrics_create(&m)) != NC_SUCCESS ||
        (st = nc_metrics_set_global_mean(m, (nc_global_mean)o->global_mean)) != NC_SUCCESS ||
        (st = nc_metrics_set_between_weight(m, (nc_between_weight)o->between)) != NC_SUCCESS ||
        (st = nc_metrics_set_pinv_rtol(m, o->rtol)) != NC_SUCCESS ||
        (st = nc_metrics_compute_data(m, d, s->K, N, H, d, lab, W, d, b)) != NC_SUCCESS) {
        cli_fail(cmd, fpath, st, m ? nc_metrics_last_error(m) : "");
        goto done;
    }
    for (k = 0; k < NC_METRIC_COUNT; k++)
        if (nc_metrics_get(m, (nc_metric)k, &s->v[k]) != NC_SUCCESS) s->v[k] = NAN;
    Mn = (double *)malloc(2 * d * s->K * sizeof(double));
    if (!Mn) {
        cli_fail(cmd, fpath, NC_ERR_OUT_OF_MEMORY, "");
        goto done;
    }
    C = Mn + d * s->K;
    if ((st = nc_structure_class_means(d, s->K, N, H, d, lab, Mn, d, s->counts)) != NC_SUCCESS ||
        (st = nc_frame_center(d, s->K, Mn, d, o->global_mean == 0 ? s->counts : NULL, C, d)) != NC_SUCCESS ||
        (st = nc_frame_norms(d, s->K, C, d, s->mean_norm)) != NC_SUCCESS) {
        cli_fail(cmd, fpath, st, "class means");
        goto done;
    }
    if (nc_structure_cdnv(d, s->K, N, H, d, lab, &s->cdnv, NULL, 0) != NC_SUCCESS) s->cdnv = NAN;
    for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) s->w_minor[k] = s->h_minor[k] = NAN;
    if (cli_minority(s->K, s->counts, minority) > 0) {
        if (nc_structure_minority(d, s->K, C, d, minority, NULL, s->h_minor) != NC_SUCCESS)
            for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) s->h_minor[k] = NAN;
        if (W && nc_structure_minority(d, s->K, W, d, minority, NULL, s->w_minor) != NC_SUCCESS)
            for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) s->w_minor[k] = NAN;
    }
    for (k = 0; k < s->K; k++) {
        s->var[k] = 0;
        s->acc[k] = W ? 0 : NAN;
        s->w_norm[k] = NAN;
    }
    if (W) nc_frame_norms(d, s->K, W, d, s->w_norm);
    for (i = 0; i < N; i++) {
        const double *h = H + i * d, *mu = Mn + (size_t)lab[i] * d;
        double r = 0;
        for (j = 0; j < d; j++) r += (h[j] - mu[j]) * (h[j] - mu[j]);
        s->var[lab[i]] += r;
        if (W) {
            size_t best = 0;
            double bv = -INFINITY;
            for (k = 0; k < s->K; k++) {
                double z = b ? b[k] : 0;
                for (j = 0; j < d; j++) z += W[k * d + j] * h[j];
                if (z > bv) {
                    bv = z;
                    best = k;
                }
            }
            s->acc[lab[i]] += best == (size_t)lab[i];
        }
    }
    for (k = 0; k < s->K; k++) {
        s->var[k] /= (double)s->counts[k];
        if (W) s->acc[k] /= (double)s->counts[k];
    }
    rc = 0;
done:
    nc_metrics_destroy(m);
    free(H);
    free(W);
    free(b);
    free(lab);
    free(Mn);
    return rc;
}

static void put_value(text *t, double v, int json)
{
    if (json) json_num(t, v);
    else if (isnan(v)) text_put(t, "nan");
    else text_put(t, "%.17g", v);
}

int cmd_analyze(int argc, char **argv)
{
    static const char *cmd = "analyze";
    analyze_opts o;
    const char *pos[256];
    size_t npos = 256, i, k;
    int help = 0, rc = 1;
    snap *s = NULL;
    text t = {0}, pc = {0};
    static const char *mnames[NC_MINORITY_STAT_COUNT] = {"cos_major", "cos_minor", "cos_across", "spread"};
    memset(&o, 0, sizeof o);
    o.rtol = 1e-13;
    if (flags_parse(cmd, argc, argv, 2, analyze_flags, &o, NULL, NULL, pos, &npos, &help)) return 2;
    if (help) {
        print_help();
        return 0;
    }
    if (npos == 0) return cli_usage(cmd, "no snapshot given (feature files with --labels, or run directories)");
    if (o.csv && o.json) return cli_usage(cmd, "--csv and --json: choose one");
    if (o.weights[0] && strchr(o.weights, ',') && list_len(o.weights) != npos)
        return cli_usage(cmd, "--weights: %zu files for %zu snapshots", list_len(o.weights), npos);
    if (o.bias[0] && strchr(o.bias, ',') && list_len(o.bias) != npos)
        return cli_usage(cmd, "--bias: %zu files for %zu snapshots", list_len(o.bias), npos);
    s = (snap *)malloc(npos * sizeof *s);
    if (!s) return cli_fail(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "");
    for (i = 0; i < npos; i++) {
        struct stat sb;
        char f[CLI_PATH], l[CLI_PATH], w[CLI_PATH] = "", b[CLI_PATH] = "";
        if (stat(pos[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            path_join(f, pos[i], "H.npy");
            path_join(l, pos[i], "labels.npy");
            path_join(w, pos[i], "P.npy");
            if (stat(w, &sb) != 0) path_join(w, pos[i], "W.npy");
            path_join(b, pos[i], "b.npy");
            if (stat(b, &sb) != 0) b[0] = '\0';
        } else {
            if (!o.labels[0]) {
                rc = cli_usage(cmd, "--labels: missing (needed for the feature file %s)", pos[i]);
                goto done;
            }
            snprintf(f, sizeof f, "%s", pos[i]);
            snprintf(l, sizeof l, "%s", o.labels);
            if (o.weights[0]) list_item(o.weights, i, w);
            if (o.bias[0]) list_item(o.bias, i, b);
        }
        if (analyze_one(cmd, &o, f, l, w, b, &s[i])) goto done;
    }
    if (o.json) {
        text_put(&t, "{\n  \"global_mean\": \"%s\",\n  \"between\": \"%s\",\n  \"snapshots\": [",
                 gm_names[o.global_mean], bw_names[o.between]);
        for (i = 0; i < npos; i++) {
            text_put(&t, "%s\n    {\"source\": \"%s\", \"N\": %zu, \"d\": %zu, \"K\": %zu", i ? "," : "", pos[i],
                     s[i].N, s[i].d, s[i].K);
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
    } else if (o.csv) {
        text_put(&t, "snapshot,source,N,d,K");
        for (k = 0; k < NC_METRIC_COUNT; k++) text_put(&t, ",%s", nc_metric_name((nc_metric)k));
        text_put(&t, ",cdnv");
        for (k = 0; k < NC_MINORITY_STAT_COUNT; k++) text_put(&t, ",w_%s,h_%s", mnames[k], mnames[k]);
        text_put(&t, "\n");
        for (i = 0; i < npos; i++) {
            text_put(&t, "%zu,%s,%zu,%zu,%zu", i, pos[i], s[i].N, s[i].d, s[i].K);
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
        text_put(&t, "global mean: %s; Sigma_B: %s; minority: n_k < sqrt(max n min n)\n",
                 gm_names[o.global_mean], bw_names[o.between]);
        for (i = 0; i < npos; i++) {
            text_put(&t, "\n%s: N = %zu, d = %zu, K = %zu\n", pos[i], s[i].N, s[i].d, s[i].K);
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
    if (o.per_class[0]) {
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
        if (write_atomic(cmd, o.per_class, pc.s, pc.len)) goto done;
    }
    if (o.out[0]) {
        if (write_atomic(cmd, o.out, t.s, t.len)) goto done;
    } else {
        fwrite(t.s, 1, t.len, stdout);
    }
    rc = 0;
done:
    free(s);
    text_free(&t);
    text_free(&pc);
    return rc;
}

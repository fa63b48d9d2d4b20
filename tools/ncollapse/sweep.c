/*
 * sweep.c - `ncollapse sweep`: a grid over one or two flags of the
 * configuration; each point is trained (as `train` does, without files) and
 * compared with its prediction, and gives one CSV row. Points run in up to
 * -j child processes; each point's row is written atomically to
 * OUT/points/, so an interrupted sweep resumes with the points it has not
 * done, and OUT/sweep.csv is assembled in grid order at the end: the result
 * does not depend on -j or on the order in which points finish.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "cli.h"

#define MAX_VALUES 1000

typedef struct sweep_opts {
    char out[CLI_PATH];
    size_t jobs;
    int no_train, quiet;
} sweep_opts;

typedef struct axis {
    const flag *f;
    size_t n;
    char **values;
} axis;

#define SOFF(field) offsetof(sweep_opts, field)
static const flag sweep_flags[] = {
    {"out", FLAG_STRING, SOFF(out), 0, 0, 0, 0, NULL,
     "output directory: sweep.csv, plan, points/ (one row per point; kept for resuming)", 0},
    {"jobs", FLAG_SIZE, SOFF(jobs), 1, 256, 0, 0, NULL, "points run in parallel processes (-j; default 1)", 0},
    {"no-train", FLAG_SWITCH, SOFF(no_train), 0, 0, 0, 0, NULL,
     "predictions only (measured columns are nan): the curves of a figure", 0},
    {"quiet", FLAG_SWITCH, SOFF(quiet), 0, 0, 0, 0, NULL, "no progress lines on stderr", 0},
    {NULL, FLAG_SWITCH, 0, 0, 0, 0, 0, NULL, NULL, 0}};

static void print_help(void)
{
    printf("usage: ncollapse sweep --out DIR --grid NAME=SPEC [--grid NAME=SPEC] [-j N] [FLAGS]\n"
           "A grid over one or two flags of the configuration (NAME: a flag of train without\n"
           "the dashes: lambda, nb, rho, depth, dim, classes, focal-gamma, allnc-beta, ...).\n"
           "SPEC: v1,v2,... or LO:HI:COUNT (evenly spaced) or LO:HI:COUNT:log (geometric).\n"
           "Each point is trained as train does and compared with its prediction; DIR/sweep.csv\n"
           "has one row per point in grid order (the second grid varies fastest): the point's\n"
           "values, K, N, the stop, steps, measured and predicted objective, gap, the distances\n"
           "of P P^T, Hbar^T Hbar and P Hbar, the verdict, NC1, NC2 (ETF, means), NC3, the\n"
           "minority indicators of the classifier (w_*) and of the class means (h_*) measured and\n"
           "predicted, the critical count, and per class n, threshold, norms measured and\n"
           "predicted and the predicted collapse. Minority classes: n_k < sqrt(max n min n).\n"
           "A sweep started again on the same DIR and grid runs only the points not done.\n\n"
           "Flags:\n  -j N                   the same as --jobs N\n  --grid NAME=SPEC       an axis (at most two)\n");
    flags_help(stdout, sweep_flags);
    printf("\nModel and optimizer (the base of every point):\n");
    flags_help(stdout, cfg_flags);
}

static void free_axis(axis *a)
{
    size_t i;
    for (i = 0; i < a->n; i++) free(a->values[i]);
    free(a->values);
    a->values = NULL;
    a->n = 0;
}

static char *dup_str(const char *s)
{
    char *d = (char *)malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

/* Parse NAME=SPEC into an axis, every value checked by the flag's own parser. */
static int parse_axis(const char *cmd, const char *spec, const cfg *base, axis *a)
{
    char name[128], err[600], buf[64];
    const char *eq = strchr(spec, '='), *s;
    cfg probe;
    size_t i;
    memset(a, 0, sizeof *a);
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof name)
        return cli_usage(cmd, "--grid: expected NAME=SPEC, got '%s'", spec);
    snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
    a->f = flag_find(cfg_flags, name);
    if (!a->f || a->f->type == FLAG_STRING || a->f->type == FLAG_SWITCH || strcmp(name, "steps") == 0)
        return cli_usage(cmd, "--grid: '%s' is not a flag with a value a grid can vary", name);
    s = eq + 1;
    a->values = (char **)calloc(MAX_VALUES, sizeof(char *));
    if (!a->values) return cli_fail(cmd, "--grid", NC_ERR_OUT_OF_MEMORY, "");
    if (strchr(s, ':')) {
        double lo, hi;
        unsigned long n;
        char tail[16] = "";
        int got, logscale;
        got = sscanf(s, "%lf:%lf:%lu%15s", &lo, &hi, &n, tail);
        logscale = got == 4 && strcmp(tail, ":log") == 0;
        if (got < 3 || (got == 4 && !logscale) || n < 1 || n > MAX_VALUES || !isfinite(lo) ||
            !isfinite(hi) || (logscale && (lo <= 0 || hi <= 0)) || (n == 1 && lo != hi)) {
            free_axis(a);
            return cli_usage(cmd,
                             "--grid %s: expected LO:HI:COUNT or LO:HI:COUNT:log with COUNT in [1, %d] "
                             "(LO, HI > 0 for log), got '%s'", name, MAX_VALUES, s);
        }
        for (i = 0; i < n; i++) {
            double t = n > 1 ? (double)i / (double)(n - 1) : 0.0,
                   v = logscale ? exp(log(lo) + t * (log(hi) - log(lo))) : lo + t * (hi - lo);
            if (i == n - 1) v = hi;
            if (a->f->type == FLAG_SIZE) snprintf(buf, sizeof buf, "%.0f", floor(v + 0.5));
            else snprintf(buf, sizeof buf, "%.17g", v);
            a->values[a->n++] = dup_str(buf);
        }
    } else {
        const char *p = s;
        while (*p) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            if (a->n >= MAX_VALUES || len == 0 || len >= sizeof buf) {
                free_axis(a);
                return cli_usage(cmd, "--grid %s: expected 1 to %d values separated by commas, got '%s'",
                                 name, MAX_VALUES, s);
            }
            snprintf(buf, sizeof buf, "%.*s", (int)len, p);
            a->values[a->n++] = dup_str(buf);
            p = c ? c + 1 : p + len;
        }
        if (a->n == 0) {
            free_axis(a);
            return cli_usage(cmd, "--grid %s: no values", name);
        }
    }
    for (i = 0; i < a->n; i++)
        if (a->values[i] == NULL) {
            free_axis(a);
            return cli_fail(cmd, "--grid", NC_ERR_OUT_OF_MEMORY, name);
        }
    for (i = 0; i < a->n; i++) {
        probe = *base;
        if (flag_set(a->f, &probe, a->values[i], err, sizeof err)) {
            free_axis(a);
            return cli_usage(cmd, "--grid %s: %s", name, err);
        }
    }
    return 0;
}

static void put_row(text *t, const sweep_opts *so, const axis *ax, size_t naxes, size_t point,
                    const size_t *idx, size_t K, const size_t *counts, size_t Kmax, const char *stop,
                    size_t steps, const measure *m)
{
    size_t a, k, N = 0;
    const double *c = m->cmp;
    (void)so;
    for (k = 0; k < K; k++) N += counts[k];
    text_put(t, "%zu", point);
    for (a = 0; a < naxes; a++) text_put(t, ",%s", ax[a].values[idx[a]]);
    text_put(t, ",%zu,%zu,%s,%zu", K, N, stop, steps);
#define V(x) text_put(t, ",%.17g", (double)(x))
    V(c[NC_COMPARE_OBJECTIVE]);
    V(c[NC_COMPARE_PREDICTED_OBJECTIVE]);
    V(c[NC_COMPARE_OBJECTIVE_GAP]);
    V(c[NC_COMPARE_CLASSIFIER_GRAM]);
    V(c[NC_COMPARE_FEATURE_GRAM]);
    V(c[NC_COMPARE_LOGITS]);
    V(c[NC_COMPARE_COLLAPSE_AGREEMENT]);
    text_put(t, ",%s", !m->have_prediction ? "none" : isnan(c[NC_COMPARE_OBJECTIVE]) ? "predicted"
                       : m->verdict == NC_VERDICT_OPTIMUM ? "optimum"
                       : m->verdict == NC_VERDICT_ABOVE_PREDICTION ? "above"
                       : m->verdict == NC_VERDICT_BELOW_PREDICTION ? "below" : "geometry-differs");
    V(m->nc1);
    V(m->nc2_etf_means);
    V(m->nc3);
    V(m->w_cos_minor[0]);
    V(m->w_cos_minor[1]);
    V(m->w_spread[0]);
    V(m->w_spread[1]);
    V(m->h_cos_minor[0]);
    V(m->h_cos_minor[1]);
    V(m->h_cos_across[0]);
    V(m->h_cos_across[1]);
    V(m->h_max_abs_cos[0]);
    V(m->h_max_abs_cos[1]);
    V(m->critical_count);
    for (k = 0; k < Kmax; k++) {
        if (k < K) {
            text_put(t, ",%zu", counts[k]);
            V(m->threshold[k]);
            V(m->h_norm[k]);
            V(m->h_norm_pred[k]);
            V(m->w_norm[k]);
            V(m->w_norm_pred[k]);
            text_put(t, ",%d", m->collapsed_pred[k]);
        } else {
            text_put(t, ",nan,nan,nan,nan,nan,nan,nan");
        }
    }
#undef V
    text_put(t, "\n");
}

static void put_header(text *t, const axis *ax, size_t naxes, size_t Kmax)
{
    size_t a, k;
    text_put(t, "point");
    for (a = 0; a < naxes; a++) text_put(t, ",%s", ax[a].f->name);
    text_put(t, ",K,N,stop,steps,objective,predicted_objective,gap,dist_classifier,dist_features,"
                "dist_logits,collapse_agreement,verdict,nc1,nc2_etf_means,nc3,w_cos_minor,"
                "w_cos_minor_pred,w_spread,w_spread_pred,h_cos_minor,h_cos_minor_pred,h_cos_across,"
                "h_cos_across_pred,h_max_abs_cos,h_max_abs_cos_pred,critical_count");
    for (k = 0; k < Kmax; k++)
        text_put(t, ",n_%zu,threshold_%zu,h_norm_%zu,h_norm_pred_%zu,w_norm_%zu,w_norm_pred_%zu,"
                    "collapsed_pred_%zu", k, k, k, k, k, k, k);
    text_put(t, "\n");
}

/* Train (or predict) one point and write its row file. Runs in a child. */
static int run_point(const char *cmd, const sweep_opts *so, const cfg *pc, const axis *ax, size_t naxes,
                     size_t point, const size_t *idx, size_t Kmax, const char *path)
{
    measure *m = (measure *)malloc(sizeof *m);
    size_t K, counts[CLI_MAX_K], steps = 0;
    char err[600];
    const char *stop = "none";
    nc_status st = NC_SUCCESS;
    cfg c = *pc;
    text t = {0};
    int rc;
    if (!m) return cli_fail(cmd, "point", NC_ERR_OUT_OF_MEMORY, "");
    if (cfg_counts(&c, &K, counts, err, sizeof err)) {
        free(m);
        return cli_usage(cmd, "%s", err);
    }
    if (so->no_train) {
        rc = measure_prediction(cmd, &c, m);
    } else {
        train_opts to;
        memset(&to, 0, sizeof to);
        to.quiet = 1;
        to.no_files = 1;
        rc = train_run(cmd, &c, &to, m, &st, &steps);
        if (rc == 0 || st < 0) stop = nc_status_name(st);
        if (rc && st < 0 && st != NC_ERR_OUT_OF_MEMORY) {
            /* a failed run (diverged) is a result of the sweep: its row says so;
             * no memory is not a result (no row: a new start retries the point) */
            size_t k, i;
            memset(m, 0, sizeof *m);
            m->K = K;
            for (i = 0; i < NC_COMPARE_COUNT; i++) m->cmp[i] = NAN;
            for (k = 0; k < K; k++) {
                m->h_norm[k] = m->h_norm_pred[k] = m->w_norm[k] = m->w_norm_pred[k] = m->threshold[k] = NAN;
                m->collapsed_pred[k] = -1;
            }
            for (i = 0; i < 2; i++)
                m->w_cos_minor[i] = m->w_spread[i] = m->h_cos_across[i] = m->h_cos_minor[i] =
                    m->h_max_abs_cos[i] = NAN;
            m->nc1 = m->nc2_etf_means = m->nc3 = m->critical_count = NAN;
            rc = 0;
        }
    }
    if (rc == 0) {
        put_row(&t, so, ax, naxes, point, idx, K, counts, Kmax, stop, steps, m);
        rc = write_atomic(cmd, path, t.s, t.len);
        text_free(&t);
    }
    free(m);
    return rc;
}

static volatile sig_atomic_t stop_signal = 0;
static void on_signal(int sig)
{
    stop_signal = sig;
}

int cmd_sweep(int argc, char **argv)
{
    static const char *cmd = "sweep";
    cfg base;
    sweep_opts so;
    axis ax[2];
    size_t naxes = 0, npoints, p, Kmax = 2, running = 0, next = 0, failed = 0, npos = 0;
    const char *pos[1];
    char **args, dir[CLI_PATH], path[CLI_PATH], err[600];
    int help = 0, a, nargs = 0, rc = 1;
    pid_t *pids = NULL;
    size_t *pid_point = NULL;
    text plan = {0}, out = {0};
    struct sigaction sa;

    cfg_defaults(&base);
    memset(&so, 0, sizeof so);
    memset(ax, 0, sizeof ax);
    so.jobs = 1;
    /* -j N becomes --jobs N; the --grid values are collected, the rest parsed */
    args = (char **)calloc((size_t)argc + 1, sizeof(char *));
    if (!args) return cli_fail(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "");
    {
        const char *grids[3];
        size_t ng = 0;
        args[nargs++] = argv[0];
        args[nargs++] = argv[1];
        for (a = 2; a < argc; a++) {
            if (strcmp(argv[a], "--grid") == 0 || strncmp(argv[a], "--grid=", 7) == 0) {
                const char *v = argv[a][6] == '=' ? argv[a] + 7 : (a + 1 < argc ? argv[++a] : NULL);
                if (!v) {
                    free(args);
                    return cli_usage(cmd, "--grid: missing value");
                }
                if (ng >= 2) {
                    free(args);
                    return cli_usage(cmd, "--grid: at most two axes");
                }
                grids[ng++] = v;
            } else if (strcmp(argv[a], "-j") == 0) {
                args[nargs++] = (char *)"--jobs";
            } else if (strncmp(argv[a], "-j", 2) == 0 && argv[a][2] >= '0' && argv[a][2] <= '9') {
                args[nargs++] = (char *)"--jobs";
                args[nargs++] = argv[a] + 2;
            } else {
                args[nargs++] = argv[a];
            }
        }
        if (flags_parse(cmd, nargs, args, 2, sweep_flags, &so, cfg_flags, &base, pos, &npos, &help)) {
            free(args);
            return 2;
        }
        free(args);
        if (help) {
            print_help();
            return 0;
        }
        if (!so.out[0]) return cli_usage(cmd, "--out: missing (the directory the sweep writes)");
        if (ng == 0) return cli_usage(cmd, "--grid: missing (at least one axis NAME=SPEC)");
        for (naxes = 0; naxes < ng; naxes++) {
            const int bad = parse_axis(cmd, grids[naxes], &base, &ax[naxes]);
            if (bad) { /* 2 for bad usage, 1 for no memory */
                if (naxes) free_axis(&ax[0]);
                return bad;
            }
        }
        if (ng == 2 && ax[0].f == ax[1].f) {
            rc = cli_usage(cmd, "--grid: the two axes vary the same flag --%s", ax[0].f->name);
            goto done;
        }
    }
    npoints = ax[0].n * (naxes > 1 ? ax[1].n : 1);
    /* every point's configuration checked, and the widest K, before anything runs */
    for (p = 0; p < npoints; p++) {
        size_t idx[2] = {naxes > 1 ? p / ax[1].n : p, naxes > 1 ? p % ax[1].n : 0}, K, counts[CLI_MAX_K], x;
        cfg c = base;
        for (x = 0; x < naxes; x++) flag_set(ax[x].f, &c, ax[x].values[idx[x]], err, sizeof err);
        if (cfg_counts(&c, &K, counts, err, sizeof err)) {
            rc = cli_usage(cmd, "point %zu: %s", p, err);
            goto done;
        }
        if (K > Kmax) Kmax = K;
        text_put(&plan, "%zu", p);
        for (x = 0; x < naxes; x++) text_put(&plan, " --%s %s", ax[x].f->name, ax[x].values[idx[x]]);
        text_put(&plan, "\n");
    }
    /* the plan: the base configuration and the points; a sweep resumes only the same plan */
    {
        const flag *f;
        char v[CLI_PATH + 32], *old;
        text head = {0};
        for (f = cfg_flags; f->name; f++) {
            if (f == ax[0].f || (naxes > 1 && f == ax[1].f)) continue;
            flag_format(f, &base, v, sizeof v);
            text_put(&head, "--%s %s\n", f->name, v);
        }
        text_put(&head, "--no-train %s\n%s", so.no_train ? "on" : "off", plan.s);
        text_free(&plan);
        plan = head;
        if (make_dir(cmd, so.out)) goto done;
        path_join(dir, so.out, "points");
        if (make_dir(cmd, dir)) goto done;
        path_join(path, so.out, "plan");
        errno = 0;
        old = read_file(path, NULL);
        if (!old && errno == ENOMEM) {
            rc = cli_fail(cmd, "--out", NC_ERR_OUT_OF_MEMORY, path);
            goto done;
        }
        if (old && strcmp(old, plan.s) != 0) {
            free(old);
            rc = cli_usage(cmd, "--out: %s holds a sweep of another configuration or grid (see %s)", so.out, path);
            goto done;
        }
        free(old);
        if (write_atomic(cmd, path, plan.s, plan.len)) goto done;
    }
    /* leftovers of a process killed while writing (the rows themselves are atomic) */
    {
        DIR *dd = opendir(dir);
        struct dirent *e;
        while (dd && (e = readdir(dd)) != NULL)
            if (strstr(e->d_name, ".tmp.")) {
                path_join(path, dir, e->d_name);
                unlink(path);
            }
        if (dd) closedir(dd);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pids = (pid_t *)calloc(so.jobs, sizeof(pid_t));
    pid_point = (size_t *)calloc(so.jobs, sizeof(size_t));
    if (!pids || !pid_point) {
        rc = cli_fail(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "");
        goto done;
    }
    fflush(stdout);
    fflush(stderr);
    while ((next < npoints || running > 0) && !stop_signal) {
        size_t j;
        if (next < npoints && running < so.jobs) {
            char row[CLI_PATH], name[32];
            struct stat sb;
            size_t idx[2] = {naxes > 1 ? next / ax[1].n : next, naxes > 1 ? next % ax[1].n : 0}, x;
            cfg c = base;
            pid_t pid;
            snprintf(name, sizeof name, "%06zu.csv", next);
            path_join(row, dir, name);
            if (stat(row, &sb) == 0) { /* done by an earlier start */
                next++;
                continue;
            }
            for (x = 0; x < naxes; x++) flag_set(ax[x].f, &c, ax[x].values[idx[x]], err, sizeof err);
            pid = fork();
            if (pid < 0) {
                rc = cli_fail(cmd, "fork", NC_ERR_IO, strerror(errno));
                break;
            }
            if (pid == 0) {
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                _exit(run_point(cmd, &so, &c, ax, naxes, next, idx, Kmax, row) ? 1 : 0);
            }
            for (j = 0; j < so.jobs; j++)
                if (pids[j] == 0) {
                    pids[j] = pid;
                    pid_point[j] = next;
                    break;
                }
            running++;
            next++;
            continue;
        }
        {
            int status;
            pid_t pid = wait(&status);
            if (pid < 0) {
                if (errno == EINTR) continue;
                break;
            }
            for (j = 0; j < so.jobs; j++)
                if (pids[j] == pid) {
                    pids[j] = 0;
                    running--;
                    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        failed++;
                        fprintf(stderr, "ncollapse sweep: point %zu failed\n", pid_point[j]);
                    } else if (!so.quiet) {
                        fprintf(stderr, "ncollapse sweep: point %zu of %zu done\n", pid_point[j] + 1, npoints);
                    }
                }
        }
    }
    if (stop_signal) {
        size_t j;
        for (j = 0; j < so.jobs; j++)
            if (pids[j]) kill(pids[j], SIGTERM);
        while (wait(NULL) > 0 || errno == EINTR) {
        }
        fprintf(stderr, "ncollapse sweep: interrupted; the points done are kept in %s (run the same "
                        "command again to resume)\n", dir);
        rc = 1;
        goto done;
    }
    if (failed) {
        rc = cli_fail(cmd, "sweep", NC_ERR_IO, "some points failed (messages above); run again to retry them");
        goto done;
    }
    /* assemble in grid order */
    put_header(&out, ax, naxes, Kmax);
    for (p = 0; p < npoints; p++) {
        char row[CLI_PATH], name[32], *s;
        size_t len;
        snprintf(name, sizeof name, "%06zu.csv", p);
        path_join(row, dir, name);
        errno = 0;
        s = read_file(row, &len);
        if (!s || len == 0 || s[len - 1] != '\n') {
            const nc_status why = !s && errno == ENOMEM ? NC_ERR_OUT_OF_MEMORY : NC_ERR_IO;
            free(s);
            rc = cli_fail(cmd, "sweep", why, row);
            goto done;
        }
        text_put(&out, "%s", s);
        free(s);
    }
    path_join(path, so.out, "sweep.csv");
    if (write_atomic(cmd, path, out.s, out.len)) goto done;
    if (!so.quiet) fprintf(stderr, "ncollapse sweep: %zu points in %s\n", npoints, path);
    rc = 0;
done:
    free(pids);
    free(pid_point);
    text_free(&plan);
    text_free(&out);
    free_axis(&ax[0]);
    free_axis(&ax[1]);
    return rc;
}

/*
 * train.c - `ncollapse train`: a UFM from flags, trained; the metrics
 * history (CSV and JSON), the final state (.npy), a checkpoint that
 * --resume continues bit-identically (also from the checkpoints saved
 * during the run with --checkpoint-every), and a summary against the
 * prediction.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define TOFF(field) offsetof(train_opts, field)
static const flag train_flags[] = {
    {"out", FLAG_STRING, TOFF(out), 0, 0, 0, 0, NULL,
     "output directory (created): config, history.csv, history.json, W.npy, H.npy, labels.npy, "
     "b.npy (bias), P.npy (depth > 1), checkpoint, summary.json", 0},
    {"resume", FLAG_STRING, TOFF(resume), 0, 0, 0, 0, NULL,
     "continue the run saved in this directory up to --steps steps in all (writes there)", 0},
    {"checkpoint-every", FLAG_SIZE, TOFF(checkpoint_every), 1, 1e12, 0, 0, NULL,
     "also save config, history and checkpoint every N steps during the run (a multiple of the "
     "recording interval), so that --resume continues a run that was killed", 0},
    {"quiet", FLAG_SWITCH, TOFF(quiet), 0, 0, 0, 0, NULL, "print nothing on success", 0},
    {NULL, FLAG_SWITCH, 0, 0, 0, 0, 0, NULL, NULL, 0}};

static void print_help(void)
{
    printf("usage: ncollapse train --out DIR [FLAGS]\n"
           "       ncollapse train --resume DIR [--steps N] [--threads T] [--tol X] ...\n"
           "Train an unconstrained feature model: the class counts, the model and the optimizer\n"
           "come from the flags below (decays in the library's halves convention,\n"
           "(lambda/2)||.||^2, unless --no-halves). The metrics history has step 0, every\n"
           "--record-every steps and the final state, at every layer. --resume loads DIR/config\n"
           "and DIR/checkpoint and continues bit-identically (same thread count); flags of the\n"
           "model cannot change on resume. With --checkpoint-every N, DIR holds config,\n"
           "history.csv, history.json and checkpoint as of the last multiple of N steps while\n"
           "the run goes on (each file replaced atomically), so a killed run resumes from there.\n"
           "\nOutput:\n");
    flags_help(stdout, train_flags);
    printf("\nModel and optimizer:\n");
    flags_help(stdout, cfg_flags);
}

/* The saved configuration: one "--name value" per line. */
static int save_config(const char *cmd, const char *dir, const cfg *c)
{
    text t = {0};
    const flag *f;
    char path[CLI_PATH], v[CLI_PATH + 32];
    int rc;
    for (f = cfg_flags; f->name; f++) {
        /* unset numbers (nan: "not given") keep their default */
        if (f->type == FLAG_DOUBLE && isnan(*(const double *)(const void *)((const char *)c + f->offset)))
            continue;
        flag_format(f, c, v, sizeof v);
        text_put(&t, "--%s %s\n", f->name, v);
    }
    path_join(path, dir, "config");
    rc = write_atomic(cmd, path, t.s, t.len);
    text_free(&t);
    return rc;
}

/* The rows of the earlier part of a resumed run: CSV lines (and JSON row
 * lines) whose step is below `step`, in order. */
static void keep_rows(const char *old, int json, size_t step, text *out)
{
    const char *line = old, *nl;
    int header = !json;
    for (; line && *line; line = nl ? nl + 1 : NULL) {
        size_t len, s;
        nl = strchr(line, '\n');
        len = nl ? (size_t)(nl - line) : strlen(line);
        if (header) {
            header = 0;
            continue;
        }
        if (json) {
            const char *p = line;
            while (*p == ' ') p++;
            if (strncmp(p, "{\"step\": ", 9) != 0) continue;
            s = (size_t)strtoull(p + 9, NULL, 10);
            if (s >= step) continue;
            if (line[len - 1] == ',') len--;
            text_put(out, "%.*s,\n", (int)len, line);
        } else {
            s = (size_t)strtoull(line, NULL, 10);
            if (s < step) text_put(out, "%.*s\n", (int)len, line);
        }
    }
}

/* Write the history: the library's files, merged with the earlier rows on resume. */
static int save_history(const char *cmd, const char *dir, nc_history *h, const char *old_csv,
                        const char *old_json, size_t resumed_at)
{
    static const char *names[2] = {"history.csv", "history.json"};
    int json;
    for (json = 0; json < 2; json++) {
        char path[CLI_PATH], tmp[CLI_PATH + 64];
        const char *old = json ? old_json : old_csv;
        nc_status st;
        path_join(path, dir, names[json]);
        if (!old) {
            st = json ? nc_history_save_json(h, path) : nc_history_save_csv(h, path);
            if (st != NC_SUCCESS) return cli_fail(cmd, names[json], st, nc_history_last_error(h));
            continue;
        }
        snprintf(tmp, sizeof tmp, "%s/.%s.part.%ld", dir, names[json], (long)getpid());
        st = json ? nc_history_save_json(h, tmp) : nc_history_save_csv(h, tmp);
        if (st != NC_SUCCESS) return cli_fail(cmd, names[json], st, nc_history_last_error(h));
        {
            char *cur = read_file(tmp, NULL), *rows;
            text t = {0};
            int rc;
            unlink(tmp);
            if (!cur) return cli_fail(cmd, names[json], NC_ERR_IO, tmp);
            if (json) {
                /* header lines up to "rows": [, the old rows, the new rows */
                rows = strstr(cur, "\"rows\": [");
                if (!rows) {
                    free(cur);
                    return cli_fail(cmd, names[json], NC_ERR_FORMAT, "history JSON");
                }
                rows += strlen("\"rows\": [");
                text_put(&t, "%.*s\n", (int)(rows - cur), cur);
                keep_rows(old, 1, resumed_at, &t);
                text_put(&t, "%s", rows[0] == '\n' ? rows + 1 : rows);
            } else {
                char *nl = strchr(cur, '\n');
                text_put(&t, "%.*s\n", nl ? (int)(nl - cur) : (int)strlen(cur), cur);
                keep_rows(old, 0, resumed_at, &t);
                text_put(&t, "%s", nl ? nl + 1 : "");
            }
            rc = write_atomic(cmd, path, t.s, t.len);
            text_free(&t);
            free(cur);
            if (rc) return rc;
        }
    }
    return 0;
}

static int save_state(const char *cmd, const char *dir, nc_model *model)
{
    size_t d = nc_model_dim(model), K = nc_model_num_classes(model), N = nc_model_num_samples(model);
    double *H = (double *)malloc(d * N * sizeof(double)), *W = (double *)malloc(d * K * sizeof(double)),
           b[CLI_MAX_K];
    int32_t *lab = (int32_t *)malloc(N * sizeof(int32_t));
    char path[CLI_PATH];
    int rc = 1;
    if (!H || !W || !lab) {
        cli_fail(cmd, "state", NC_ERR_OUT_OF_MEMORY, "");
        goto done;
    }
    nc_model_get_H(model, H, d);
    nc_model_get_W(model, W, d);
    nc_model_get_labels(model, lab);
    path_join(path, dir, "H.npy");
    if (write_npy(cmd, path, H, N, d)) goto done;
    path_join(path, dir, "W.npy");
    if (write_npy(cmd, path, W, K, d)) goto done;
    path_join(path, dir, "labels.npy");
    if (write_npy_labels(cmd, path, lab, N)) goto done;
    if (nc_model_get_bias(model)) {
        nc_model_get_b(model, b);
        path_join(path, dir, "b.npy");
        if (write_npy(cmd, path, b, K, 1)) goto done;
    }
    if (nc_model_get_depth(model) > 1) {
        nc_model_get_product(model, W, d);
        path_join(path, dir, "P.npy");
        if (write_npy(cmd, path, W, K, d)) goto done;
    }
    rc = 0;
done:
    free(H);
    free(W);
    free(lab);
    return rc;
}

static void json_array(text *t, const char *name, const double *v, size_t K)
{
    size_t k;
    text_put(t, "  \"%s\": [", name);
    for (k = 0; k < K; k++) {
        if (k) text_put(t, ", ");
        json_num(t, v[k]);
    }
    text_put(t, "],\n");
}

static int save_summary(const char *cmd, const char *dir, const nc_optimizer *opt, nc_status stop,
                        const measure *m)
{
    text t = {0};
    char path[CLI_PATH];
    const char *info = nc_optimizer_stop_info(opt), *p;
    size_t k;
    int rc;
    text_put(&t, "{\n  \"stop\": \"%s\",\n  \"steps\": %zu,\n  \"objective\": ", nc_status_name(stop),
             nc_optimizer_iterations(opt));
    json_num(&t, nc_optimizer_objective(opt));
    text_put(&t, ",\n  \"gradient_norm\": ");
    json_num(&t, nc_optimizer_gradient_norm(opt));
    text_put(&t, ",\n  \"stop_info\": \"");
    for (p = info; *p; p++) {
        if (*p == '"' || *p == '\\') text_put(&t, "\\%c", *p);
        else if ((unsigned char)*p >= 32) text_put(&t, "%c", *p);
    }
    text_put(&t, "\",\n  \"prediction\": \"%s\",\n  \"verdict\": ", m->kind);
    if (m->have_prediction) text_put(&t, "\"%s\"", nc_verdict_name(m->verdict));
    else text_put(&t, "null");
    text_put(&t, ",\n  \"predicted_objective\": ");
    json_num(&t, m->cmp[NC_COMPARE_PREDICTED_OBJECTIVE]);
    text_put(&t, ",\n  \"objective_gap\": ");
    json_num(&t, m->cmp[NC_COMPARE_OBJECTIVE_GAP]);
    text_put(&t, ",\n  \"distance_classifier_gram\": ");
    json_num(&t, m->cmp[NC_COMPARE_CLASSIFIER_GRAM]);
    text_put(&t, ",\n  \"distance_feature_gram\": ");
    json_num(&t, m->cmp[NC_COMPARE_FEATURE_GRAM]);
    text_put(&t, ",\n  \"distance_logits\": ");
    json_num(&t, m->cmp[NC_COMPARE_LOGITS]);
    text_put(&t, ",\n  \"nc1\": ");
    json_num(&t, m->nc1);
    text_put(&t, ",\n");
    json_array(&t, "mean_norms", m->h_norm, m->K);
    json_array(&t, "mean_norms_predicted", m->h_norm_pred, m->K);
    json_array(&t, "classifier_norms", m->w_norm, m->K);
    json_array(&t, "classifier_norms_predicted", m->w_norm_pred, m->K);
    text_put(&t, "  \"collapsed_predicted\": [");
    for (k = 0; k < m->K; k++) text_put(&t, "%s%d", k ? ", " : "", m->collapsed_pred[k]);
    text_put(&t, "]\n}\n");
    path_join(path, dir, "summary.json");
    rc = write_atomic(cmd, path, t.s, t.len);
    text_free(&t);
    return rc;
}

/* The signals that end the program wait while files are replaced. */
static void block_signals(int block)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* What the progress callback needs to save a resumable state mid-run. */
typedef struct midrun {
    const char *cmd, *dir;
    const cfg *c;
    nc_model *model;
    nc_optimizer *opt;
    nc_history *hist;
    const char *old_csv, *old_json;
    size_t done, every;
    int saved_config, failed;
} midrun;

/* Every --checkpoint-every steps: the configuration (once), the history so
 * far, then the checkpoint, each replaced atomically. In this order a kill
 * between two files leaves a history at least as long as the checkpoint's
 * step, and --resume keeps only its rows before that step. The optimizer's
 * state after a step is complete (the run's transient counters are reset
 * by every run), so the resumed run continues bit-identically. */
static int save_midrun(const nc_model *model, size_t iteration, double objective,
                       double gradient_norm, void *user_data)
{
    midrun *r = (midrun *)user_data;
    char path[CLI_PATH];
    nc_status st;
    int rc = 0;
    (void)model;
    (void)objective;
    (void)gradient_norm;
    if (iteration % r->every != 0 || iteration >= r->c->steps) return 0; /* the end saves its own */
    block_signals(1);
    if (!r->saved_config) rc = save_config(r->cmd, r->dir, r->c);
    r->saved_config = rc == 0;
    if (rc == 0) rc = save_history(r->cmd, r->dir, r->hist, r->old_csv, r->old_json, r->done);
    if (rc == 0) {
        path_join(path, r->dir, "checkpoint");
        if ((st = nc_checkpoint_save(path, r->model, r->opt)) != NC_SUCCESS)
            rc = cli_fail(r->cmd, "--checkpoint-every", st, nc_model_last_error(r->model));
    }
    block_signals(0);
    r->failed = rc != 0;
    return r->failed; /* nonzero stops the run */
}

int train_run(const char *cmd, cfg *c, const train_opts *t, measure *m, nc_status *stop, size_t *steps)
{
    midrun mid;
    nc_model *model = NULL;
    nc_optimizer *opt = NULL;
    nc_history *hist = NULL;
    nc_prediction *pred = NULL;
    char *old_csv = NULL, *old_json = NULL, path[CLI_PATH];
    const char *dir = t->resume[0] ? t->resume : t->out;
    size_t done = 0, every;
    nc_status st;
    int rc = 1;

    if ((rc = cfg_model(cmd, c, &model)) != 0) return rc;
    rc = 1;
    if (cfg_optimizer(cmd, c, model, &opt)) goto out;
    if (t->resume[0]) {
        path_join(path, dir, "checkpoint");
        if ((st = nc_checkpoint_load(path, model, opt)) != NC_SUCCESS) {
            cli_fail(cmd, "--resume", st, nc_model_last_error(model));
            goto out;
        }
        done = nc_optimizer_iterations(opt);
        if (done >= c->steps) {
            rc = cli_usage(cmd, "--steps: the checkpoint in %s is at step %zu; expected a total above it",
                           dir, done);
            goto out;
        }
        /* the checkpoint restores the optimizer's options; these apply to the rest of the run */
        if ((st = nc_optimizer_set_max_iterations(opt, c->steps - done)) != NC_SUCCESS ||
            (st = nc_optimizer_set_gradient_tolerance(opt, c->tol)) != NC_SUCCESS ||
            (c->escape && (st = nc_optimizer_set_escape(opt, c->escape)) != NC_SUCCESS)) {
            cli_fail(cmd, "--resume", st, nc_optimizer_last_error(opt));
            goto out;
        }
        /* a missing history has no earlier rows; one that cannot be read is a failure */
        path_join(path, dir, "history.csv");
        errno = 0;
        old_csv = read_file(path, NULL);
        if (!old_csv && errno == ENOMEM) {
            cli_fail(cmd, "--resume", NC_ERR_OUT_OF_MEMORY, path);
            goto out;
        }
        path_join(path, dir, "history.json");
        old_json = read_file(path, NULL);
        if (!old_json && errno == ENOMEM) {
            cli_fail(cmd, "--resume", NC_ERR_OUT_OF_MEMORY, path);
            goto out;
        }
    }
    if (!t->no_files) {
        every = c->record_every ? c->record_every : (c->steps >= 10 ? c->steps / 10 : 1);
        if ((st = nc_history_create(&hist)) != NC_SUCCESS ||
            (st = nc_optimizer_set_recorder(opt, hist, every)) != NC_SUCCESS) {
            cli_fail(cmd, "history", st, opt ? nc_optimizer_last_error(opt) : "");
            goto out;
        }
        if (t->checkpoint_every) {
            /* A resumed run's first row is its starting step (L-BFGS records
             * it): on the recording grid it is the row the full run has. */
            if (t->checkpoint_every % every != 0) {
                rc = cli_usage(cmd, "--checkpoint-every: %zu is not a multiple of the recording "
                               "interval %zu (--record-every)", t->checkpoint_every, every);
                goto out;
            }
            if (!t->resume[0] && make_dir(cmd, dir)) goto out;
            memset(&mid, 0, sizeof mid);
            mid.cmd = cmd;
            mid.dir = dir;
            mid.c = c;
            mid.model = model;
            mid.opt = opt;
            mid.hist = hist;
            mid.old_csv = old_csv;
            mid.old_json = old_json;
            mid.done = done;
            mid.every = t->checkpoint_every;
            if ((st = nc_optimizer_set_callback(opt, save_midrun, &mid, 1)) != NC_SUCCESS) {
                cli_fail(cmd, "--checkpoint-every", st, nc_optimizer_last_error(opt));
                goto out;
            }
        }
    }
    st = nc_prediction_create_from_model(&pred, model);
    if (st == NC_SUCCESS) nc_optimizer_set_prediction(opt, pred);
    else if (st != NC_ERR_UNSUPPORTED) {
        cli_fail(cmd, "prediction", st, nc_model_last_error(model));
        goto out;
    }
    *stop = nc_optimizer_run(opt);
    *steps = nc_optimizer_iterations(opt);
    if (t->checkpoint_every && mid.failed) goto out; /* the callback said why */
    if (*stop < 0) {
        cli_fail(cmd, "run", *stop, nc_optimizer_last_error(opt));
        goto out;
    }
    if (measure_model(cmd, model, c->rtol, m)) goto out;
    if (!t->no_files) {
        /* a signal that ends the program waits until every file is complete or gone */
        block_signals(1);
        if (!t->resume[0] && !t->checkpoint_every && make_dir(cmd, dir)) goto out;
        if (save_config(cmd, dir, c)) goto out;
        if (save_history(cmd, dir, hist, old_csv, old_json, done)) goto out;
        if (save_state(cmd, dir, model)) goto out;
        /* the limit of the whole run, as an uninterrupted run saves it */
        nc_optimizer_set_max_iterations(opt, c->steps);
        path_join(path, dir, "checkpoint");
        if ((st = nc_checkpoint_save(path, model, opt)) != NC_SUCCESS) {
            cli_fail(cmd, "checkpoint", st, nc_model_last_error(model));
            goto out;
        }
        if (save_summary(cmd, dir, opt, *stop, m)) goto out;
    }
    if (!t->quiet) {
        size_t k;
        printf("%s\n", nc_optimizer_stop_info(opt));
        if (m->have_prediction)
            printf("prediction %s: F* %.10g, F %.10g, gap %.2e; distances P P^T %.2e, Hbar^T Hbar %.2e, "
                   "P Hbar %.2e: %s\n",
                   m->kind, m->cmp[NC_COMPARE_PREDICTED_OBJECTIVE], m->cmp[NC_COMPARE_OBJECTIVE],
                   m->cmp[NC_COMPARE_OBJECTIVE_GAP], m->cmp[NC_COMPARE_CLASSIFIER_GRAM],
                   m->cmp[NC_COMPARE_FEATURE_GRAM], m->cmp[NC_COMPARE_LOGITS], nc_verdict_name(m->verdict));
        else
            printf("%s\n", m->note);
        printf("%5s %12s %12s %12s %12s\n", "class", "|mean|", "predicted", "|w|", "predicted");
        for (k = 0; k < m->K; k++)
            printf("%5zu %12.6g %12.6g %12.6g %12.6g\n", k, m->h_norm[k], m->h_norm_pred[k], m->w_norm[k],
                   m->w_norm_pred[k]);
    }
    rc = 0;
out:
    block_signals(0);
    free(old_csv);
    free(old_json);
    nc_optimizer_destroy(opt);
    nc_prediction_destroy(pred);
    nc_history_destroy(hist);
    nc_model_destroy(model);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    static const char *cmd = "train";
    cfg c, saved;
    train_opts t;
    measure *m;
    const char *pos[1];
    size_t npos = 0, steps;
    int help = 0, a, rc;
    nc_status stop;
    cfg_defaults(&c);
    memset(&t, 0, sizeof t);
    /* --resume first: the saved configuration, then the command line over it */
    for (a = 2; a + 1 < argc; a++)
        if (strcmp(argv[a], "--resume") == 0) {
            if (strlen(argv[a + 1]) >= CLI_PATH) return cli_usage(cmd, "--resume: path too long");
            if ((rc = cfg_load(cmd, "--resume", argv[a + 1], &c)) != 0) return rc;
        }
    saved = c;
    if (flags_parse(cmd, argc, argv, 2, train_flags, &t, cfg_flags, &c, pos, &npos, &help)) return 2;
    if (help) {
        print_help();
        return 0;
    }
    if (t.resume[0]) {
        const flag *f;
        char v1[CLI_PATH + 32], v2[CLI_PATH + 32];
        if (t.out[0] && strcmp(t.out, t.resume) != 0)
            return cli_usage(cmd, "--out: a resumed run writes to its --resume directory");
        for (f = cfg_flags; f->name; f++) {
            if (!f->model) continue;
            flag_format(f, &saved, v1, sizeof v1);
            flag_format(f, &c, v2, sizeof v2);
            if (strcmp(v1, v2) != 0)
                return cli_usage(cmd, "--%s: cannot change on --resume (saved: %s)", f->name, v1);
        }
    } else if (!t.out[0]) {
        return cli_usage(cmd, "--out: missing (the directory the run writes)");
    }
    m = (measure *)malloc(sizeof *m);
    if (!m) return cli_fail(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "");
    rc = train_run(cmd, &c, &t, m, &stop, &steps);
    free(m);
    return rc;
}

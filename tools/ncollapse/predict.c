/*
 * predict.c - `ncollapse predict`: the closed-form optimum of a
 * configuration (F*, per-class norms, collapse thresholds, critical count,
 * collapse flags), or with --compare DIR the state a `train` run saved
 * against it.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct predict_opts {
    char compare[CLI_PATH];
    int json;
} predict_opts;

#define POFF(field) offsetof(predict_opts, field)
static const flag predict_flags[] = {
    {"compare", FLAG_STRING, POFF(compare), 0, 0, 0, 0, NULL,
     "compare the state saved by `ncollapse train --out DIR` (its configuration is used)", 0},
    {"json", FLAG_SWITCH, POFF(json), 0, 0, 0, 0, NULL, "JSON instead of a table", 0},
    {NULL, FLAG_SWITCH, 0, 0, 0, 0, 0, NULL, NULL, 0}};

static void print_help(void)
{
    printf("usage: ncollapse predict [FLAGS]\n"
           "       ncollapse predict --compare DIR [--rtol X] [--json]\n"
           "The global optimum of the UFM the flags describe, from the prediction that covers\n"
           "its options (balanced CE/MSE, Hong & Ling 2023, Dang et al. 2024 ReLU, Dang et al.\n"
           "2023 deep linear, Yang et al. 2022 fixed ETF): F*, per class the predicted norms of\n"
           "the class mean and the classifier row, the collapse threshold on lambda =\n"
           "sqrt(lambda_W lambda_H) and the collapse flag, and the critical count. With\n"
           "--compare, the distances of the trained state to it and the verdict.\n\nFlags:\n");
    flags_help(stdout, predict_flags);
    printf("\nModel (as for train; optimizer flags are accepted and ignored):\n");
    flags_help(stdout, cfg_flags);
}

static void print(const predict_opts *p, const measure *m, const size_t *counts, int compared)
{
    size_t k;
    if (p->json) {
        text t = {0};
        text_put(&t, "{\n  \"prediction\": \"%s\",\n  \"objective\": ", m->kind);
        json_num(&t, m->cmp[NC_COMPARE_PREDICTED_OBJECTIVE]);
        text_put(&t, ",\n  \"critical_count\": ");
        json_num(&t, m->critical_count);
        text_put(&t, ",\n  \"classes\": [");
        for (k = 0; k < m->K; k++) {
            text_put(&t, "%s\n    {\"n\": %zu, \"threshold\": ", k ? "," : "", counts[k]);
            json_num(&t, m->threshold[k]);
            text_put(&t, ", \"mean_norm\": ");
            json_num(&t, m->h_norm_pred[k]);
            text_put(&t, ", \"classifier_norm\": ");
            json_num(&t, m->w_norm_pred[k]);
            text_put(&t, ", \"collapsed\": %d", m->collapsed_pred[k]);
            if (compared) {
                text_put(&t, ", \"mean_norm_measured\": ");
                json_num(&t, m->h_norm[k]);
                text_put(&t, ", \"classifier_norm_measured\": ");
                json_num(&t, m->w_norm[k]);
            }
            text_put(&t, "}");
        }
        text_put(&t, "\n  ]");
        if (compared) {
            text_put(&t, ",\n  \"measured_objective\": ");
            json_num(&t, m->cmp[NC_COMPARE_OBJECTIVE]);
            text_put(&t, ",\n  \"objective_gap\": ");
            json_num(&t, m->cmp[NC_COMPARE_OBJECTIVE_GAP]);
            text_put(&t, ",\n  \"distance_classifier_gram\": ");
            json_num(&t, m->cmp[NC_COMPARE_CLASSIFIER_GRAM]);
            text_put(&t, ",\n  \"distance_feature_gram\": ");
            json_num(&t, m->cmp[NC_COMPARE_FEATURE_GRAM]);
            text_put(&t, ",\n  \"distance_logits\": ");
            json_num(&t, m->cmp[NC_COMPARE_LOGITS]);
            text_put(&t, ",\n  \"verdict\": \"%s\"", nc_verdict_name(m->verdict));
        }
        text_put(&t, "\n}\n");
        fwrite(t.s, 1, t.len, stdout);
        text_free(&t);
        return;
    }
    printf("prediction: %s\nF* = %.12g\ncritical count: %.6g (a class with n_k <= it collapses)\n",
           m->kind, m->cmp[NC_COMPARE_PREDICTED_OBJECTIVE], m->critical_count);
    printf("%5s %8s %12s %12s %12s %9s", "class", "n_k", "threshold", "|mean|", "|w|", "collapsed");
    if (compared) printf(" %12s %12s", "|mean| meas", "|w| meas");
    printf("\n");
    for (k = 0; k < m->K; k++) {
        printf("%5zu %8zu %12.6g %12.6g %12.6g %9s", k, counts[k], m->threshold[k], m->h_norm_pred[k],
               m->w_norm_pred[k], m->collapsed_pred[k] < 0 ? "n/a" : m->collapsed_pred[k] ? "yes" : "no");
        if (compared) printf(" %12.6g %12.6g", m->h_norm[k], m->w_norm[k]);
        printf("\n");
    }
    if (compared)
        printf("measured F = %.12g, gap %.2e; distances P P^T %.2e, Hbar^T Hbar %.2e, P Hbar %.2e: %s\n",
               m->cmp[NC_COMPARE_OBJECTIVE], m->cmp[NC_COMPARE_OBJECTIVE_GAP],
               m->cmp[NC_COMPARE_CLASSIFIER_GRAM], m->cmp[NC_COMPARE_FEATURE_GRAM],
               m->cmp[NC_COMPARE_LOGITS], nc_verdict_name(m->verdict));
}

int cmd_predict(int argc, char **argv)
{
    static const char *cmd = "predict";
    cfg c, saved;
    predict_opts p;
    measure *m;
    const char *pos[1];
    size_t npos = 0, K, counts[CLI_MAX_K];
    int help = 0, a, rc = 1;
    char err[600];
    cfg_defaults(&c);
    memset(&p, 0, sizeof p);
    for (a = 2; a + 1 < argc; a++)
        if (strcmp(argv[a], "--compare") == 0) {
            int bad;
            if (strlen(argv[a + 1]) >= CLI_PATH) return cli_usage(cmd, "--compare: path too long");
            bad = cfg_load(cmd, "--compare", argv[a + 1], &c);
            if (bad) return bad; /* 2 for a missing configuration, 1 for a failure */
        }
    saved = c;
    if (flags_parse(cmd, argc, argv, 2, predict_flags, &p, cfg_flags, &c, pos, &npos, &help)) return 2;
    if (help) {
        print_help();
        return 0;
    }
    if (cfg_counts(&c, &K, counts, err, sizeof err)) return cli_usage(cmd, "%s", err);
    m = (measure *)malloc(sizeof *m);
    if (!m) return cli_fail(cmd, "setup", NC_ERR_OUT_OF_MEMORY, "");
    if (p.compare[0]) {
        const flag *f;
        char v1[CLI_PATH + 32], v2[CLI_PATH + 32], path[CLI_PATH];
        nc_model *model = NULL;
        nc_status st;
        for (f = cfg_flags; f->name; f++) {
            if (!f->model) continue;
            flag_format(f, &saved, v1, sizeof v1);
            flag_format(f, &c, v2, sizeof v2);
            if (strcmp(v1, v2) != 0) {
                free(m);
                return cli_usage(cmd, "--%s: the configuration comes from --compare (saved: %s)", f->name, v1);
            }
        }
        if ((rc = cfg_model(cmd, &c, &model)) != 0) goto done;
        rc = 1;
        path_join(path, p.compare, "checkpoint");
        if ((st = nc_checkpoint_load(path, model, NULL)) != NC_SUCCESS) {
            cli_fail(cmd, "--compare", st, nc_model_last_error(model));
            nc_model_destroy(model);
            goto done;
        }
        rc = measure_model(cmd, model, c.rtol, m);
        nc_model_destroy(model);
        if (rc) goto done;
        if (!m->have_prediction) {
            rc = cli_fail(cmd, "prediction", NC_ERR_UNSUPPORTED, m->note);
            goto done;
        }
        print(&p, m, counts, 1);
    } else {
        if ((rc = measure_prediction(cmd, &c, m)) != 0) goto done;
        print(&p, m, counts, 0);
    }
    rc = 0;
done:
    free(m);
    return rc;
}

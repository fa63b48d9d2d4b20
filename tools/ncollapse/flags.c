/*
 * flags.c - the flag parser of `ncollapse` and the configuration of a run:
 * class counts (explicit or by scheme), the model, the optimizer. Every
 * value is checked against its range before anything runs.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define OFF(field) offsetof(cfg, field)

static const char *const scheme_names[] = {"balanced", "step", "long-tail", "counts", NULL};
static const char *const feature_names[] = {"free", "relu", NULL};
static const char *const classifier_names[] = {"learned", "etf", "orthogonal", NULL};
/* in the order of nc_loss */
static const char *const loss_names[] = {"ce", "mse", "label-smoothing", "focal", "weighted-ce",
                                         "logit-adjusted", "dot-regression", NULL};
/* in the order of nc_algorithm */
static const char *const optimizer_names[] = {"gd", "nesterov", "adam", "lbfgs", NULL};

#define BIG 1e300
const flag cfg_flags[] = {
    {"scheme", FLAG_CHOICE, OFF(scheme), 0, 0, 0, 0, scheme_names,
     "class counts: balanced (--classes, --n), step (--ka --na --kb --nb), long-tail (--classes, "
     "--n-max, --rho: n_k = n_max rho^(k/(K-1))), counts (--counts); default balanced", 1},
    {"counts", FLAG_STRING, OFF(counts), 0, 0, 0, 0, NULL,
     "explicit class counts, comma-separated (implies --scheme counts)", 1},
    {"classes", FLAG_SIZE, OFF(classes), 2, CLI_MAX_K, 0, 0, NULL, "K for balanced and long-tail (default 4)", 1},
    {"n", FLAG_SIZE, OFF(n), 1, 1e8, 0, 0, NULL, "samples per class, balanced (default 100)", 1},
    {"ka", FLAG_SIZE, OFF(ka), 1, CLI_MAX_K, 0, 0, NULL, "majority classes, step (default 5)", 1},
    {"na", FLAG_SIZE, OFF(na), 1, 1e8, 0, 0, NULL, "samples per majority class, step (default 500)", 1},
    {"kb", FLAG_SIZE, OFF(kb), 1, CLI_MAX_K, 0, 0, NULL, "minority classes, step (default 5)", 1},
    {"nb", FLAG_SIZE, OFF(nb), 1, 1e8, 0, 0, NULL, "samples per minority class, step (default 100)", 1},
    {"n-max", FLAG_SIZE, OFF(n_max), 1, 1e8, 0, 0, NULL, "largest class, long-tail (default 500)", 1},
    {"rho", FLAG_DOUBLE, OFF(rho), 0, 1, 1, 0, NULL, "imbalance ratio, long-tail (default 0.01)", 1},
    {"dim", FLAG_SIZE, OFF(dim), 1, 1e6, 0, 0, NULL, "feature dimension d (default 16)", 1},
    {"depth", FLAG_SIZE, OFF(depth), 1, 1024, 0, 0, NULL, "linear layers M (default 1)", 1},
    {"features", FLAG_CHOICE, OFF(features), 0, 0, 0, 0, feature_names,
     "free or relu (H >= 0); default free", 1},
    {"classifier", FLAG_CHOICE, OFF(classifier), 0, 0, 0, 0, classifier_names,
     "learned, or fixed to a simplex etf or an orthogonal frame; default learned", 1},
    {"classifier-norm", FLAG_DOUBLE, OFF(classifier_norm), 0, BIG, 1, 0, NULL,
     "row norm of a fixed classifier (default 1)", 1},
    {"loss", FLAG_CHOICE, OFF(loss), 0, 0, 0, 0, loss_names, "the loss (default ce)", 1},
    {"target-scale", FLAG_DOUBLE, OFF(target_scale), 0, BIG, 1, 0, NULL, "MSE target scale s (default 1)", 1},
    {"smoothing", FLAG_DOUBLE, OFF(smoothing), 0, 1, 0, 1, NULL, "label smoothing eps (default 0.1)", 1},
    {"focal-gamma", FLAG_DOUBLE, OFF(focal_gamma), 0, BIG, 0, 0, NULL, "focal gamma (default 2)", 1},
    {"tau", FLAG_DOUBLE, OFF(tau), -BIG, BIG, 0, 0, NULL, "logit-adjustment tau (default 1)", 1},
    {"dot-target", FLAG_DOUBLE, OFF(dot_target), 0, BIG, 1, 0, NULL, "dot-regression target c (default 1)", 1},
    {"bias", FLAG_SWITCH, OFF(bias), 0, 0, 0, 0, NULL, "learn a bias b (default: no bias)", 1},
    {"lambda", FLAG_DOUBLE, OFF(lambda), 0, BIG, 0, 0, NULL,
     "lambda = sqrt(lambda_W lambda_H): lambda_W = lambda r, lambda_H = lambda / r (default 5e-4)", 1},
    {"wh-ratio", FLAG_DOUBLE, OFF(wh_ratio), 0, BIG, 1, 0, NULL, "r of --lambda (default 1)", 1},
    {"lambda-w", FLAG_DOUBLE, OFF(lambda_w), 0, BIG, 0, 0, NULL, "lambda_W (overrides --lambda)", 1},
    {"lambda-h", FLAG_DOUBLE, OFF(lambda_h), 0, BIG, 0, 0, NULL, "lambda_H (overrides --lambda)", 1},
    {"lambda-b", FLAG_DOUBLE, OFF(lambda_b), 0, BIG, 0, 0, NULL, "lambda_b (default 0)", 1},
    {"no-halves", FLAG_SWITCH, OFF(no_halves), 0, 0, 0, 0, NULL,
     "the decays are in the papers' no-halves convention lambda ||.||^2 (doubled for the library)", 1},
    {"allnc-alpha", FLAG_DOUBLE, OFF(allnc_alpha), 0, BIG, 0, 0, NULL, "AllNC-style feature term (default 0)", 1},
    {"allnc-beta", FLAG_DOUBLE, OFF(allnc_beta), 0, BIG, 0, 0, NULL, "AllNC-style alignment term (default 0)", 1},
    {"init-std", FLAG_DOUBLE, OFF(init_std), 0, BIG, 0, 0, NULL, "initialisation N(0, std^2) (default 0.1)", 1},
    {"seed", FLAG_SIZE, OFF(seed), 0, 1e18, 0, 0, NULL, "seed of the initialisation (default 1)", 1},
    {"threads", FLAG_SIZE, OFF(threads), 1, 1024, 0, 0, NULL, "threads of the model's pass (default 1)", 0},
    {"optimizer", FLAG_CHOICE, OFF(optimizer), 0, 0, 0, 0, optimizer_names, "gd, nesterov, adam or lbfgs (default gd)", 1},
    {"lr", FLAG_DOUBLE, OFF(lr), 0, BIG, 1, 0, NULL, "learning rate (default 0.1; adam 1e-3)", 1},
    {"momentum", FLAG_DOUBLE, OFF(momentum), 0, 1, 0, 1, NULL, "momentum in [0, 1) (default 0; nesterov 0.9)", 1},
    {"adam-b1", FLAG_DOUBLE, OFF(adam_b1), 0, 1, 0, 1, NULL, "Adam beta1 (default 0.9)", 1},
    {"adam-b2", FLAG_DOUBLE, OFF(adam_b2), 0, 1, 1, 1, NULL, "Adam beta2 (default 0.999)", 1},
    {"adam-eps", FLAG_DOUBLE, OFF(adam_eps), 0, BIG, 1, 0, NULL, "Adam epsilon (default 1e-8)", 1},
    {"lbfgs-history", FLAG_SIZE, OFF(lbfgs_history), 1, 1000, 0, 0, NULL, "L-BFGS history (default 10)", 1},
    {"steps", FLAG_SIZE, OFF(steps), 1, 1e12, 0, 0, NULL, "total steps of the run (default 1000)", 0},
    {"tol", FLAG_DOUBLE, OFF(tol), 0, BIG, 0, 0, NULL, "stop at this gradient norm (default 0: off)", 0},
    {"escape", FLAG_SIZE, OFF(escape), 0, 1e6, 0, 0, NULL, "escapes from spurious points per run (default 0)", 0},
    {"record-every", FLAG_SIZE, OFF(record_every), 1, 1e12, 0, 0, NULL,
     "history row every N steps (default steps/10), plus step 0 and the end", 0},
    {"rtol", FLAG_DOUBLE, OFF(rtol), 0, 1, 1, 1, NULL,
     "relative tolerance of the comparison with the prediction (default 1e-6)", 0},
    {NULL, FLAG_SWITCH, 0, 0, 0, 0, 0, NULL, NULL, 0}};

void cfg_defaults(cfg *c)
{
    memset(c, 0, sizeof *c);
    c->scheme = SCHEME_BALANCED;
    c->classes = 4;
    c->n = 100;
    c->ka = 5;
    c->na = 500;
    c->kb = 5;
    c->nb = 100;
    c->n_max = 500;
    c->rho = 0.01;
    c->dim = 16;
    c->depth = 1;
    c->classifier_norm = 1;
    c->loss = NC_LOSS_CE;
    c->target_scale = 1;
    c->smoothing = 0.1;
    c->focal_gamma = 2;
    c->tau = 1;
    c->dot_target = 1;
    c->lambda = 5e-4;
    c->wh_ratio = 1;
    c->lambda_w = NAN;
    c->lambda_h = NAN;
    c->init_std = 0.1;
    c->seed = 1;
    c->threads = 1;
    c->optimizer = NC_OPT_GD;
    c->lr = NAN;
    c->momentum = NAN;
    c->adam_b1 = 0.9;
    c->adam_b2 = 0.999;
    c->adam_eps = 1e-8;
    c->lbfgs_history = 10;
    c->steps = 1000;
    c->record_every = 0;
    c->rtol = 1e-6;
}

const flag *flag_find(const flag *table, const char *name)
{
    const flag *f;
    for (f = table; f && f->name; f++)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static void range_text(const flag *f, char *buf, size_t len)
{
    if (f->type == FLAG_SIZE) {
        if (f->hi >= 1e12)
            snprintf(buf, len, "an integer >= %.0f", f->lo);
        else
            snprintf(buf, len, "an integer in [%.0f, %.0f]", f->lo, f->hi);
    } else if (f->type == FLAG_DOUBLE) {
        char lo[32], hi[32];
        if (f->lo <= -BIG) snprintf(lo, sizeof lo, "(-inf");
        else snprintf(lo, sizeof lo, "%c%g", f->lo_open ? '(' : '[', f->lo);
        if (f->hi >= BIG) snprintf(hi, sizeof hi, "inf)");
        else snprintf(hi, sizeof hi, "%g%c", f->hi, f->hi_open ? ')' : ']');
        snprintf(buf, len, "a finite number in %s, %s", lo, hi);
    } else if (f->type == FLAG_CHOICE) {
        size_t i, used = 0;
        used += (size_t)snprintf(buf, len, "one of ");
        for (i = 0; f->choices[i] && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", f->choices[i]);
    } else {
        snprintf(buf, len, "a string of at most %d characters", CLI_PATH - 1);
    }
}

int flag_set(const flag *f, void *opts, const char *value, char *err, size_t errlen)
{
    char *p = (char *)opts + f->offset, *end, range[256];
    range_text(f, range, sizeof range);
    switch (f->type) {
    case FLAG_SIZE: {
        unsigned long long v;
        const char *s = value;
        while (*s == ' ') s++;
        errno = 0;
        v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
        if (!(*s >= '0' && *s <= '9') || errno != 0 || *end != '\0' || (double)v < f->lo ||
            (double)v > f->hi) {
            snprintf(err, errlen, "--%s: expected %s, got '%s'", f->name, range, value);
            return 2;
        }
        *(size_t *)(void *)p = (size_t)v;
        return 0;
    }
    case FLAG_DOUBLE: {
        double v;
        errno = 0;
        v = strtod(value, &end);
        if (end == value || *end != '\0' || errno == ERANGE || !isfinite(v) || v < f->lo ||
            v > f->hi || (f->lo_open && v == f->lo) || (f->hi_open && v == f->hi)) {
            snprintf(err, errlen, "--%s: expected %s, got '%s'", f->name, range, value);
            return 2;
        }
        *(double *)(void *)p = v;
        return 0;
    }
    case FLAG_CHOICE: {
        int i;
        for (i = 0; f->choices[i]; i++)
            if (strcmp(f->choices[i], value) == 0) {
                *(int *)(void *)p = i;
                return 0;
            }
        snprintf(err, errlen, "--%s: expected %s, got '%s'", f->name, range, value);
        return 2;
    }
    case FLAG_STRING:
        if (strlen(value) >= CLI_PATH) {
            snprintf(err, errlen, "--%s: expected %s", f->name, range);
            return 2;
        }
        strcpy(p, value);
        return 0;
    case FLAG_SWITCH:
        if (strcmp(value, "1") == 0 || strcmp(value, "on") == 0) *(int *)(void *)p = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "off") == 0) *(int *)(void *)p = 0;
        else {
            snprintf(err, errlen, "--%s: takes no value (got '%s')", f->name, value);
            return 2;
        }
        return 0;
    }
    return 2;
}

void flag_format(const flag *f, const void *opts, char *buf, size_t len)
{
    const char *p = (const char *)opts + f->offset;
    switch (f->type) {
    case FLAG_SIZE: snprintf(buf, len, "%zu", *(const size_t *)(const void *)p); break;
    case FLAG_DOUBLE: snprintf(buf, len, "%.17g", *(const double *)(const void *)p); break;
    case FLAG_CHOICE: snprintf(buf, len, "%s", f->choices[*(const int *)(const void *)p]); break;
    case FLAG_STRING: snprintf(buf, len, "%s", p); break;
    case FLAG_SWITCH: snprintf(buf, len, "%s", *(const int *)(const void *)p ? "on" : "off"); break;
    }
}

void flags_help(FILE *out, const flag *table)
{
    const flag *f;
    char range[256], head[64];
    for (f = table; f->name; f++) {
        range_text(f, range, sizeof range);
        if (f->type == FLAG_SWITCH) snprintf(head, sizeof head, "--%s", f->name);
        else if (f->type == FLAG_CHOICE) snprintf(head, sizeof head, "--%s WORD", f->name);
        else if (f->type == FLAG_STRING) snprintf(head, sizeof head, "--%s TEXT", f->name);
        else snprintf(head, sizeof head, "--%s X", f->name);
        fprintf(out, "  %-22s %s\n", head, f->help);
        if (f->type != FLAG_SWITCH && f->type != FLAG_STRING)
            fprintf(out, "  %-22s   (%s)\n", "", range);
    }
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    char msg[2 * CLI_PATH];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one write: the lines of several processes (mpirun) do not interleave */
    fprintf(stderr, "ncollapse %s: %s (ncollapse %s --help lists the flags)\n", cmd, msg, cmd);
    return 2;
}

int cli_fail(const char *cmd, const char *what, nc_status st, const char *detail)
{
    fprintf(stderr, "ncollapse %s: %s: %s (%s)%s%s\n", cmd, what, nc_strerror(st), nc_status_name(st),
            detail && detail[0] ? ": " : "", detail ? detail : "");
    return 1;
}

int flags_parse(const char *cmd, int argc, char **argv, int first, const flag *t1, void *o1,
                const flag *t2, void *o2, const char **pos, size_t *npos, int *help)
{
    size_t max = *npos;
    int a;
    char err[600], name[128];
    *npos = 0;
    for (a = first; a < argc; a++) {
        const char *arg = argv[a], *eq, *value = NULL;
        const flag *f;
        void *o;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (arg[0] == '-' && arg[1] != '\0') return cli_usage(cmd, "unknown flag '%s'", arg);
            if (*npos >= max) return cli_usage(cmd, "unexpected argument '%s'", arg);
            pos[(*npos)++] = arg;
            continue;
        }
        eq = strchr(arg, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq ? (size_t)(eq - arg - 2) : strlen(arg + 2)), arg + 2);
        o = o1;
        f = flag_find(t1, name);
        if (!f && t2) {
            f = flag_find(t2, name);
            o = o2;
        }
        if (!f) return cli_usage(cmd, "unknown flag '--%s'", name);
        if (eq) value = eq + 1;
        else if (f->type == FLAG_SWITCH) value = "on";
        else if (a + 1 < argc) value = argv[++a];
        else return cli_usage(cmd, "--%s: missing value", name);
        if (flag_set(f, o, value, err, sizeof err)) return cli_usage(cmd, "%s", err);
        if (o == (void *)o1 && t1 == cfg_flags && strcmp(name, "counts") == 0)
            ((cfg *)o1)->scheme = SCHEME_COUNTS;
        if (o == (void *)o2 && t2 == cfg_flags && strcmp(name, "counts") == 0)
            ((cfg *)o2)->scheme = SCHEME_COUNTS;
    }
    return 0;
}

/* ---- counts and model ------------------------------------------------------------ */
int cfg_counts(const cfg *c, size_t *K, size_t *counts, char *err, size_t errlen)
{
    size_t k;
    switch (c->scheme) {
    case SCHEME_BALANCED:
        *K = c->classes;
        for (k = 0; k < *K; k++) counts[k] = c->n;
        return 0;
    case SCHEME_STEP:
        if (c->ka + c->kb > CLI_MAX_K) {
            snprintf(err, errlen, "--ka + --kb: at most %d classes, got %zu", CLI_MAX_K, c->ka + c->kb);
            return 2;
        }
        *K = c->ka + c->kb;
        for (k = 0; k < *K; k++) counts[k] = k < c->ka ? c->na : c->nb;
        return 0;
    case SCHEME_LONG_TAIL:
        *K = c->classes;
        for (k = 0; k < *K; k++) {
            double v = (double)c->n_max * pow(c->rho, (double)k / (double)(*K - 1));
            counts[k] = v < 1.5 ? 1 : (size_t)floor(v + 0.5);
        }
        return 0;
    default: {
        const char *s = c->counts;
        char *end;
        *K = 0;
        if (!*s) {
            snprintf(err, errlen, "--counts: expected at least two counts >= 1 separated by commas, got ''");
            return 2;
        }
        while (*s) {
            unsigned long long v;
            errno = 0;
            v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
            if (!(*s >= '0' && *s <= '9') || errno || v < 1 || v > 100000000ULL ||
                (*end != ',' && *end != '\0') || *K >= CLI_MAX_K) {
                snprintf(err, errlen,
                         "--counts: expected 2 to %d integers in [1, 100000000] separated by commas, got '%s'",
                         CLI_MAX_K, c->counts);
                return 2;
            }
            counts[(*K)++] = (size_t)v;
            s = *end ? end + 1 : end;
        }
        if (*K < 2) {
            snprintf(err, errlen, "--counts: expected at least two classes, got '%s'", c->counts);
            return 2;
        }
        return 0;
    }
    }
}

void cfg_decays(const cfg *c, double *lW, double *lH, double *lb)
{
    double f = c->no_halves ? 2.0 : 1.0;
    *lW = f * (isnan(c->lambda_w) ? c->lambda * c->wh_ratio : c->lambda_w);
    *lH = f * (isnan(c->lambda_h) ? c->lambda / c->wh_ratio : c->lambda_h);
    *lb = f * c->lambda_b;
}

#define TRY(call, what)                                                                           \
    do {                                                                                          \
        nc_status st_ = (call);                                                                   \
        if (st_ != NC_SUCCESS) {                                                                  \
            cli_fail(cmd, what, st_, nc_model_last_error(m));                                     \
            nc_model_destroy(m);                                                                  \
            return 1;                                                                             \
        }                                                                                         \
    } while (0)

int cfg_model(const char *cmd, const cfg *c, nc_model **model)
{
    size_t K, counts[CLI_MAX_K];
    double lW, lH, lb;
    char err[600];
    nc_model *m = NULL;
    nc_status st;
    *model = NULL;
    if (cfg_counts(c, &K, counts, err, sizeof err)) return cli_usage(cmd, "%s", err);
    cfg_decays(c, &lW, &lH, &lb);
    if ((st = nc_model_create_counts(&m, c->dim, K, counts)) != NC_SUCCESS)
        return cli_fail(cmd, "model", st, "");
    TRY(nc_model_set_loss(m, (nc_loss)c->loss), "--loss");
    TRY(nc_model_set_bias(m, c->bias), "--bias");
    TRY(nc_model_set_weight_decay(m, lW, lH, lb), "weight decays");
    TRY(nc_model_set_features(m, c->features ? NC_FEATURES_RELU : NC_FEATURES_FREE), "--features");
    TRY(nc_model_set_depth(m, c->depth), "--depth");
    TRY(nc_model_set_loss_parameter(m, NC_LOSS_PARAM_TARGET_SCALE, c->target_scale), "--target-scale");
    TRY(nc_model_set_loss_parameter(m, NC_LOSS_PARAM_SMOOTHING, c->smoothing), "--smoothing");
    TRY(nc_model_set_loss_parameter(m, NC_LOSS_PARAM_FOCAL_GAMMA, c->focal_gamma), "--focal-gamma");
    TRY(nc_model_set_loss_parameter(m, NC_LOSS_PARAM_LOGIT_TAU, c->tau), "--tau");
    TRY(nc_model_set_loss_parameter(m, NC_LOSS_PARAM_DOT_TARGET, c->dot_target), "--dot-target");
    TRY(nc_model_set_allnc(m, c->allnc_alpha, c->allnc_beta), "--allnc-alpha/--allnc-beta");
    if (c->classifier == CLS_ETF)
        TRY(nc_model_fix_classifier_etf(m, c->classifier_norm, (uint64_t)c->seed + 1000, NULL, 0),
            "--classifier etf");
    else if (c->classifier == CLS_ORTHOGONAL)
        TRY(nc_model_fix_classifier_orthogonal(m, c->classifier_norm, (uint64_t)c->seed + 1000, NULL, 0),
            "--classifier orthogonal");
    TRY(nc_model_set_threads(m, c->threads), "--threads");
    TRY(nc_model_init_gaussian(m, c->init_std, (uint64_t)c->seed), "initialisation");
    *model = m;
    return 0;
}

int cfg_optimizer(const char *cmd, const cfg *c, nc_model *model, nc_optimizer **opt)
{
    nc_optimizer *o = NULL;
    nc_status st;
    *opt = NULL;
    if ((st = nc_optimizer_create(&o, model, (nc_algorithm)c->optimizer)) != NC_SUCCESS)
        return cli_fail(cmd, "optimizer", st, "");
#define OTRY(call, what)                                                                          \
    if ((st = (call)) != NC_SUCCESS) {                                                            \
        cli_fail(cmd, what, st, nc_optimizer_last_error(o));                                      \
        nc_optimizer_destroy(o);                                                                  \
        return 1;                                                                                 \
    }
    if (!isnan(c->lr)) OTRY(nc_optimizer_set_learning_rate(o, c->lr), "--lr");
    if (!isnan(c->momentum)) OTRY(nc_optimizer_set_momentum(o, c->momentum), "--momentum");
    if (c->optimizer == NC_OPT_ADAM)
        OTRY(nc_optimizer_set_adam(o, c->adam_b1, c->adam_b2, c->adam_eps), "--adam-b1/--adam-b2/--adam-eps");
    if (c->optimizer == NC_OPT_LBFGS) OTRY(nc_optimizer_set_history(o, c->lbfgs_history), "--lbfgs-history");
    OTRY(nc_optimizer_set_max_iterations(o, c->steps), "--steps");
    OTRY(nc_optimizer_set_gradient_tolerance(o, c->tol), "--tol");
    if (c->escape) OTRY(nc_optimizer_set_escape(o, c->escape), "--escape");
#undef OTRY
    *opt = o;
    return 0;
}

int cfg_load(const char *cmd, const char *option, const char *dir, cfg *c)
{
    char path[CLI_PATH], err[600], *s, *line, *next;
    path_join(path, dir, "config");
    errno = 0;
    if (!(s = read_file(path, NULL)))
        return errno == ENOMEM ? cli_fail(cmd, option, NC_ERR_OUT_OF_MEMORY, path)
                               : cli_usage(cmd, "%s: no saved configuration %s", option, path);
    for (line = s; line && *line; line = next) {
        char *sp, *nl = strchr(line, '\n');
        const flag *f;
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        if (strncmp(line, "--", 2) != 0 || !(sp = strchr(line, ' '))) continue;
        *sp = '\0';
        if (!(f = flag_find(cfg_flags, line + 2)) || flag_set(f, c, sp + 1, err, sizeof err)) {
            free(s);
            return cli_fail(cmd, option, NC_ERR_FORMAT, path);
        }
    }
    free(s);
    return 0;
}

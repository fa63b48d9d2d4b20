/*
 * cli.h - what the subcommands of `ncollapse` share: the flag tables and
 * their parser, the configuration of a UFM run (class counts, model,
 * optimizer), building a model, an optimizer and a prediction from it, the
 * measurements a run reports, and atomic output files.
 *
 * Exit codes of every command: 0 success, 1 a failure of the library or of
 * a file (the message gives nc_strerror, the status name and the handle's
 * details), 2 bad usage (an unknown flag, a missing value, a value outside
 * its range; the message names the flag and the valid range).
 */
#ifndef NCOLLAPSE_CLI_H
#define NCOLLAPSE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ncollapse.h"

#define CLI_MAX_K 4096     /* classes a command accepts */
#define CLI_PATH 4096

/* ---- flags ---------------------------------------------------------------- */
typedef enum flag_type {
    FLAG_SIZE,   /* unsigned integer in [lo, hi] */
    FLAG_DOUBLE, /* finite number in [lo, hi] (open ends by lo_open / hi_open) */
    FLAG_CHOICE, /* one of choices[], stored as its index (int) */
    FLAG_STRING, /* a string of at most CLI_PATH - 1 characters */
    FLAG_SWITCH  /* no value: sets the int to 1 */
} flag_type;

typedef struct flag {
    const char *name; /* without the leading "--" */
    flag_type type;
    size_t offset; /* of the field in the options struct */
    double lo, hi;
    int lo_open, hi_open;
    const char *const *choices; /* NULL-terminated, FLAG_CHOICE */
    const char *help;
    int model; /* 1: part of the model's configuration (saved for --resume) */
} flag;

/* Set one flag from its text value; on error writes a message naming the
 * flag and the valid range to err and returns 2. */
int flag_set(const flag *f, void *opts, const char *value, char *err, size_t errlen);
/* Parse argv[first..argc) against up to two tables (t2 may be NULL).
 * Positional arguments go to pos (at most *npos on entry, count on exit);
 * "--help" sets *help. Returns 0, or 2 after printing the message. */
int flags_parse(const char *cmd, int argc, char **argv, int first, const flag *t1, void *o1,
                const flag *t2, void *o2, const char **pos, size_t *npos, int *help);
/* Find a flag by name (without "--") in a table; NULL if absent. */
const flag *flag_find(const flag *table, const char *name);
/* Write the table's help lines. */
void flags_help(FILE *out, const flag *table);
/* The value of a flag as text (%.17g for numbers), for saved configurations. */
void flag_format(const flag *f, const void *opts, char *buf, size_t len);

/* ---- the configuration of a run ----------------------------------------------- */
typedef struct cfg {
    /* class counts */
    int scheme; /* SCHEME_* */
    char counts[CLI_PATH];
    size_t classes, n, ka, na, kb, nb, n_max;
    double rho;
    /* model */
    size_t dim, depth;
    int features, classifier;
    double classifier_norm;
    int loss;
    double target_scale, smoothing, focal_gamma, tau, dot_target;
    int bias;
    double lambda, wh_ratio, lambda_w, lambda_h, lambda_b;
    int no_halves;
    double allnc_alpha, allnc_beta;
    double init_std;
    size_t seed, threads;
    /* optimizer */
    int optimizer;
    double lr, momentum, adam_b1, adam_b2, adam_eps;
    size_t lbfgs_history, steps;
    double tol;
    size_t escape, record_every;
    double rtol; /* of the comparison with the prediction */
} cfg;

enum { SCHEME_BALANCED = 0, SCHEME_STEP = 1, SCHEME_LONG_TAIL = 2, SCHEME_COUNTS = 3 };
enum { CLS_LEARNED = 0, CLS_ETF = 1, CLS_ORTHOGONAL = 2 };

extern const flag cfg_flags[];
void cfg_defaults(cfg *c);
/* Read the configuration a run saved in dir/config (the flags as "--name
 * value" lines) into c: 0, or 2 with a message naming option (--resume,
 * --compare). */
int cfg_load(const char *cmd, const char *option, const char *dir, cfg *c);
/* The class counts (K values into counts, K <= CLI_MAX_K). Returns 0 or 2
 * with a message naming the flag. */
int cfg_counts(const cfg *c, size_t *K, size_t *counts, char *err, size_t errlen);
/* The decays in the library's (halves) convention. */
void cfg_decays(const cfg *c, double *lW, double *lH, double *lb);
/* A model built and initialised from the configuration; 0, or 1 with a
 * message on stderr. */
int cfg_model(const char *cmd, const cfg *c, nc_model **model);
/* Its optimizer (options set, no recorder). */
int cfg_optimizer(const char *cmd, const cfg *c, nc_model *model, nc_optimizer **opt);

/* ---- reporting ---------------------------------------------------------------- */
/* Report a library failure (exit code 1). */
int cli_fail(const char *cmd, const char *what, nc_status st, const char *detail);
/* Usage error: message, then exit code 2. */
int cli_usage(const char *cmd, const char *fmt, ...);

/* Minority classes: n_k < sqrt(max n * min n) (none when all are equal). */
size_t cli_minority(size_t K, const size_t *counts, int *minority);
/* From a K x K Gram matrix (column-major, ld K) of K vectors (a vector
 * shorter than 1e-6 of the longest has no cosine): the mean
 * cosine over minority pairs, over (majority, minority) pairs, the spread
 * (largest distance between minority vectors over the largest norm) and the
 * largest |cosine| over all pairs. NaN where undefined. */
void gram_stats(size_t K, const double *G, const int *minority, double *cos_minor,
                double *cos_across, double *spread, double *max_abs_cos);

/* What a run measures against its prediction (prediction may be missing). */
typedef struct measure {
    size_t K;
    int have_prediction;
    nc_verdict verdict;
    double cmp[NC_COMPARE_COUNT];
    double nc1, nc2_etf_means, nc3;
    double h_norm[CLI_MAX_K], h_norm_pred[CLI_MAX_K];
    double w_norm[CLI_MAX_K], w_norm_pred[CLI_MAX_K];
    int collapsed_pred[CLI_MAX_K];
    double threshold[CLI_MAX_K]; /* NaN when the kind has none */
    double critical_count;
    /* classifier P P^T and class means Hbar^T Hbar: measured, predicted */
    double w_cos_minor[2], w_spread[2], h_cos_across[2], h_cos_minor[2], h_max_abs_cos[2];
    char kind[64];
    char note[256];
} measure;
/* Measure the model's state and compare it with the prediction built from
 * the model (when one covers it). Returns 0 or 1 with a message. */
int measure_model(const char *cmd, nc_model *model, double rtol, measure *m);
/* The prediction alone for a configuration (no training). */
int measure_prediction(const char *cmd, const cfg *c, measure *m);

/* ---- files -------------------------------------------------------------------- */
/* Write text atomically: path.tmp.<pid>, fsync, rename. Returns 0 or 1 with
 * a message. */
int write_atomic(const char *cmd, const char *path, const char *text, size_t len);
/* A growing text buffer. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;
void text_put(text *t, const char *fmt, ...);
void text_free(text *t);
/* Read a whole file (NUL-terminated); NULL if it cannot be read, with errno
 * ENOMEM when memory ran out. */
char *read_file(const char *path, size_t *len);
/* mkdir -p for one level (existing is fine). 0 or 1 with a message. */
int make_dir(const char *cmd, const char *path);
/* Join dir and name. */
void path_join(char *out, const char *dir, const char *name);
/* Write a d x n column-major matrix as an (n, d) float64 .npy atomically. */
int write_npy(const char *cmd, const char *path, const double *x, size_t rows, size_t cols);
int write_npy_labels(const char *cmd, const char *path, const int32_t *labels, size_t n);
/* The library's JSON string of a double: %.17g, null for NaN/Inf. */
void json_num(text *t, double v);

/* ---- the commands ---------------------------------------------------------------- */
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_analyze(int argc, char **argv);

/* A training run into an output directory (also used by sweep). */
typedef struct train_opts {
    char out[CLI_PATH];
    char resume[CLI_PATH];
    size_t checkpoint_every; /* 0: only at the end */
    int quiet;
    int no_files; /* sweep: measure only */
} train_opts;
int train_run(const char *cmd, cfg *c, const train_opts *t, measure *m, nc_status *stop,
              size_t *steps);

#endif

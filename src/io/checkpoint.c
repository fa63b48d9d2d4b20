/*
 * checkpoint.c - save and restore the full state of a model and optimizer.
 *
 * File: a serial.h image with magic "NCCKPT\r\n", format version 1, flag
 * bit 0 set when an optimizer section follows the model's and flag bit 1
 * when that section ends with L-BFGS's progress counters (written by every
 * save of an L-BFGS optimizer; files without it load with the counters
 * reset, as before they were saved); the payload is the model's fields,
 * then the optimizer's. serial.c holds the encoding,
 * the checksum and the atomic replace; this file holds the visitors, which
 * walk the fields in the same order in every mode (SIZE, WRITE, CHECK,
 * READ). A load that fails leaves the model and optimizer untouched: the
 * checksum and the CHECK visit run before anything is written.
 *
 * A shard of an MPI model (mpi/mpi_checkpoint.c, through checkpoint.h)
 * sets flag bit 2: the caller's shard section comes first in the payload.
 */
#include "optim/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/serial.h"

#define CKPT_HAS_OPTIMIZER 1u  /* flag bit */
#define CKPT_LBFGS_PROGRESS 2u /* flag bit */
#define CKPT_SHARD 4u          /* flag bit: a shard's section (mpi/) precedes the model's */

static const nc__ser_format ckpt_format = {
    "NCCKPT\r\n", 1u, CKPT_HAS_OPTIMIZER | CKPT_LBFGS_PROGRESS | CKPT_SHARD, "checkpoint"};

/* The loss parameters, in the order of nc_loss_parameter (the table in
 * loss/params.c), each as a double. CHECK and READ validate every stored
 * value by the check of nc_model_set_loss_parameter; READ assigns. */
static void visit_loss_params(nc__ser *s, nc_model *m)
{
    int p;
    for (p = 0; p < NC__LOSS_PARAM_COUNT && s->status == NC_SUCCESS; p++) {
        double v;
        uint64_t u;
        char what[NC_MSG_SIZE];
        nc_status st;
        memcpy(&u, &m->loss_ctx.param[p], 8);
        u = nc__ser_raw(s, u);
        if (s->mode != NC_SER_CHECK && s->mode != NC_SER_READ) continue;
        if (s->status != NC_SUCCESS) break;
        memcpy(&v, &u, 8);
        st = nc__loss_param_check((nc_loss_parameter)p, v, what);
        if (st != NC_SUCCESS)
            nc__ser_fail(s, st, what);
        else if (s->mode == NC_SER_READ)
            m->loss_ctx.param[p] = v;
    }
}

/* ---- the checks of stored arrays (nc__ser_f64s_checked): the model's
 * through the setters' checks (model.h), the optimizer's buffers, which no
 * setter takes, finite (and >= 0 for second moments). ---------------------- */

static nc_status check_class_weights(const double *x, size_t rows, size_t col0, size_t cols,
                                     const void *ctx, char *what)
{
    (void)col0;
    (void)cols;
    (void)ctx;
    return nc__model_check_class_weights(x, rows, what);
}

static nc_status check_layer(const double *x, size_t rows, size_t col0, size_t cols,
                             const void *ctx, char *what)
{
    return nc__model_check_layer(*(const size_t *)ctx, x, rows, col0, cols, rows, what);
}

static nc_status check_b(const double *x, size_t rows, size_t col0, size_t cols, const void *ctx,
                         char *what)
{
    (void)col0;
    (void)cols;
    (void)ctx;
    return nc__model_check_b(x, rows, what);
}

static nc_status check_H(const double *x, size_t rows, size_t col0, size_t cols, const void *ctx,
                         char *what)
{
    return nc__model_check_H(*(const nc_features *)ctx, x, rows, col0, cols, rows, what);
}

/* A buffer, named by ctx: finite. */
static nc_status check_finite(const double *x, size_t rows, size_t col0, size_t cols,
                              const void *ctx, char *what)
{
    size_t i;
    for (i = 0; i < rows * cols; i++)
        if (!nc__is_finite(x[i]))
            return nc__fail(what, NC_ERR_NON_FINITE, "%s[%zu] is %g, not finite",
                            (const char *)ctx, col0 * rows + i, x[i]);
    return NC_SUCCESS;
}

/* A buffer of second moments, named by ctx: finite and >= 0. */
static nc_status check_moment(const double *x, size_t rows, size_t col0, size_t cols,
                              const void *ctx, char *what)
{
    size_t i;
    const nc_status st = check_finite(x, rows, col0, cols, ctx, what);
    if (st != NC_SUCCESS) return st;
    for (i = 0; i < rows * cols; i++)
        if (x[i] < 0)
            return nc__fail(what, NC_ERR_INVALID_VALUE, "%s[%zu] is %g, not >= 0",
                            (const char *)ctx, col0 * rows + i, x[i]);
    return NC_SUCCESS;
}

/* The model: sizes and labels must match the target; every value is
 * checked in CHECK mode by the check its setter uses, and assigned in READ
 * mode. */
static void visit_model(nc__ser *s, nc_model *m)
{
    const size_t d = m->d, K = m->K;
    size_t i, l;
    int loss, bias, fixed;
    nc_features features;
    double lW, lH, lb, alpha, beta;
    char what[NC_MSG_SIZE];
    nc__ser_expect(s, m->d, "the feature dimension d differs");
    nc__ser_expect(s, m->K, "the number of classes K differs");
    nc__ser_expect(s, m->N, "the number of samples N differs");
    nc__ser_expect(s, m->depth, "the depth differs");
    for (i = 0; i < m->N && s->status == NC_SUCCESS; i++)
        nc__ser_expect(s, (uint64_t)(uint32_t)m->labels[i], "the labels differ");
    loss = nc__ser_enum_value(s, (int)m->loss, NC__LOSS_COUNT - 1, "unknown loss");
    features = (nc_features)nc__ser_enum_value(s, (int)m->features, NC_FEATURES_RELU,
                                               "unknown feature model");
    bias = nc__ser_enum_value(s, m->bias, 1, "the bias flag is not 0 or 1");
    fixed = nc__ser_enum_value(s, m->fixed, 1, "the fixed-classifier flag is not 0 or 1");
    visit_loss_params(s, m);
    lW = nc__ser_double_value(s, m->lambda_W);
    lH = nc__ser_double_value(s, m->lambda_H);
    lb = nc__ser_double_value(s, m->lambda_b);
    if (nc__ser_loading(s)) nc__ser_refuse(s, nc__model_check_decay(lW, lH, lb, what), what);
    alpha = nc__ser_double_value(s, m->alpha);
    beta = nc__ser_double_value(s, m->beta);
    if (nc__ser_loading(s)) nc__ser_refuse(s, nc__model_check_allnc(alpha, beta, what), what);
    if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) {
        m->loss = (nc_loss)loss;
        m->features = features;
        m->bias = bias;
        m->fixed = fixed;
        m->lambda_W = lW;
        m->lambda_H = lH;
        m->lambda_b = lb;
        m->alpha = alpha;
        m->beta = beta;
    }
    nc__ser_f64s_checked(s, m->class_weights, K, 1, check_class_weights, NULL);
    /* The small variables: W_1 .. W_{M-1} (d rows each), W_M (K rows), b. */
    for (l = 0; l < m->depth; l++)
        nc__ser_f64s_checked(s, m->small + l * d * d, d, l + 1 == m->depth ? K : d, check_layer, &l);
    nc__ser_f64s_checked(s, m->b, K, 1, check_b, NULL);
    nc__ser_f64s_checked(s, m->H, d, m->N, check_H, &features);
}

/* A learning rate of a block, by the setters' check. */
static double visit_lr(nc__ser *s, double lr, const char *block)
{
    char what[NC_MSG_SIZE], text[NC_MSG_SIZE];
    nc_status st;
    lr = nc__ser_double_value(s, lr);
    if (nc__ser_loading(s) && (st = nc__optim_check_lr(lr, what)) != NC_SUCCESS) {
        snprintf(text, sizeof text, "%s: %.200s", block, what);
        nc__ser_fail(s, st, text);
    }
    return lr;
}

/* The step counters are doubles in Adam's bias correction and the schedule:
 * at most 2^53, where every count is exact. */
#define CKPT_MAX_COUNT 9007199254740992.0

/* L-BFGS's no-progress counter and the lowest objective and gradient norm
 * it counts from, so that a resumed run stops where the uninterrupted one
 * does. Without them (older files) READ resets them as a fresh start would. */
static void visit_lbfgs_progress(nc__ser *s, nc_optimizer *o, int present)
{
    size_t stall = 0;
    double best_f = o->f, best_g = INFINITY;
    if (present) {
        stall = nc__ser_size_value(s, o->lbfgs_stall);
        best_f = nc__ser_double_value(s, o->lbfgs_best_f);
        best_g = nc__ser_double_value(s, o->lbfgs_best_g);
        if (nc__ser_loading(s) && stall >= NC_LBFGS_STALL)
            nc__ser_fail(s, NC_ERR_INVALID_VALUE,
                         "the L-BFGS no-progress counter is not below its limit");
        if (nc__ser_loading(s) && !nc__is_finite(best_f))
            nc__ser_fail(s, NC_ERR_NON_FINITE, "the L-BFGS lowest objective is not finite");
        if (nc__ser_loading(s) && !(best_g >= 0)) /* +Inf: no gradient norm yet */
            nc__ser_fail(s, NC_ERR_INVALID_VALUE, "the L-BFGS lowest gradient norm is NaN or < 0");
    }
    if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) {
        o->lbfgs_stall = stall;
        o->lbfgs_best_f = best_f; /* o->f was read before */
        o->lbfgs_best_g = best_g;
    }
}

/* *needs_vH (CHECK mode) tells the caller to allocate the momentum buffer of
 * H before READ, when the checkpoint has one and the target does not. The
 * hyper-parameters go through the setters' checks in CHECK mode; the state
 * (buffers, counters, L-BFGS's history) must be what a run can produce.
 * progress: the section ends with L-BFGS's progress counters (flag bit 1). */
static void visit_optimizer(nc__ser *s, nc_optimizer *o, int progress, int *needs_vH)
{
    const nc__rule_def *rule = o->rule_def; /* NULL for L-BFGS */
    int schedule, has_vH, buffers_valid, p;
    size_t period, max_iterations, iterations, evaluations;
    double lr_layers, lr_H, lr_b, hp[NC__PARAM_COUNT], sched_param, gtol, objective, gnorm;
    double norms[4];
    double *const norm_fields[4] = {&o->nvs2, &o->nss2, &o->nvH2, &o->nsH2};
    static const char *const norm_names[4] = {"|v_small|^2", "|s_small|^2", "|v_H|^2",
                                              "|s_H|^2"};
    char what[NC_MSG_SIZE];
    nc__ser_expect(s, (uint64_t)o->algorithm, "the optimizer's algorithm differs");
    nc__ser_expect(s, o->n_small, "the optimizer's variable count differs");
    nc__ser_expect(s, o->n_max, "the optimizer's variable count differs");
    if (o->algorithm == NC_OPT_LBFGS)
        nc__ser_expect(s, o->history, "the L-BFGS history size differs");
    else if (nc__ser_loading(s) && progress)
        nc__ser_fail(s, NC_ERR_FORMAT, "L-BFGS counters in the file of another algorithm");
    has_vH = nc__ser_flag(s, o->v_H != NULL);
    lr_layers = visit_lr(s, o->lr_layers, "learning rate of the layers");
    lr_H = visit_lr(s, o->lr_H, "learning rate of H");
    lr_b = visit_lr(s, o->lr_b, "learning rate of b");
    /* The rules' hyper-parameters (rule.h, nc__param): format 1's for every
     * algorithm, any later one for the rules that read it. */
    for (p = 0; p < NC__PARAM_COUNT; p++) {
        hp[p] = *nc__rule_param(&o->hp, (nc__param)p);
        if (p < NC__PARAM_FORMAT1 || (rule && (rule->params & NC__PARAM_BIT(p))))
            hp[p] = nc__ser_double_value(s, hp[p]);
    }
    if (nc__ser_loading(s))
        nc__ser_refuse(s, nc__optim_check_momentum(hp[NC__PARAM_MOMENTUM], what), what);
    if (nc__ser_loading(s))
        nc__ser_refuse(s, nc__optim_check_adam(hp[NC__PARAM_BETA1], hp[NC__PARAM_BETA2],
                                               hp[NC__PARAM_EPS], what), what);
    /* A rule that keeps v at this momentum needs v of H in the file. */
    if (nc__ser_loading(s) && rule && !has_vH &&
        (nc__rule_buffers(rule, hp[NC__PARAM_MOMENTUM]) & NC__RULE_V))
        nc__ser_fail(s, NC_ERR_FORMAT, "the momentum buffer of H is missing");
    if (needs_vH) *needs_vH = has_vH && !o->v_H;
    schedule = nc__ser_enum_value(s, (int)o->schedule, NC_SCHEDULE_COSINE, "unknown schedule");
    period = nc__ser_size_value(s, o->period);
    sched_param = nc__ser_double_value(s, o->sched_param);
    if (nc__ser_loading(s)) {
        nc__ser_refuse(s, nc__optim_check_schedule((nc_schedule)schedule, period, sched_param,
                                                   what), what);
        if (period == 0) /* the setter stores 1 for a constant schedule's 0 */
            nc__ser_fail(s, NC_ERR_INVALID_VALUE, "schedule period must be >= 1");
    }
    max_iterations = nc__ser_size_value(s, o->max_iterations);
    if (nc__ser_loading(s))
        nc__ser_refuse(s, nc__optim_check_max_iterations(max_iterations, what), what);
    gtol = nc__ser_double_value(s, o->gtol);
    if (nc__ser_loading(s)) nc__ser_refuse(s, nc__optim_check_tolerance(gtol, what), what);
    buffers_valid = nc__ser_enum_value(s, o->buffers_valid, 1, "the buffer flag is not 0 or 1");
    iterations = nc__ser_size_value(s, o->iterations);
    evaluations = nc__ser_size_value(s, o->evaluations);
    if (nc__ser_loading(s) && ((double)iterations > CKPT_MAX_COUNT ||
                               (double)evaluations > CKPT_MAX_COUNT))
        nc__ser_fail(s, NC_ERR_INVALID_VALUE, "the step or evaluation counter exceeds 2^53");
    objective = nc__ser_double_value(s, o->objective);
    gnorm = nc__ser_double_value(s, o->gradient_norm);
    /* NaN: not computed yet; +Inf: a pass that overflowed. */
    if (nc__ser_loading(s) && (objective == -INFINITY || gnorm < 0))
        nc__ser_fail(s, NC_ERR_INVALID_VALUE, "the objective is -Inf or the gradient norm < 0");
    for (p = 0; p < 4; p++) {
        norms[p] = nc__ser_double_value(s, *norm_fields[p]);
        if (nc__ser_loading(s) && !(nc__is_finite(norms[p]) && norms[p] >= 0)) {
            snprintf(what, sizeof what, "the buffer norm %s is %g, not finite and >= 0",
                     norm_names[p], norms[p]);
            nc__ser_fail(s, NC_ERR_INVALID_VALUE, what);
        }
    }
    if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) {
        o->lr_layers = lr_layers;
        o->lr_H = lr_H;
        o->lr_b = lr_b;
        for (p = 0; p < NC__PARAM_COUNT; p++) *nc__rule_param(&o->hp, (nc__param)p) = hp[p];
        o->schedule = (nc_schedule)schedule;
        o->period = period;
        o->sched_param = sched_param;
        o->max_iterations = max_iterations;
        o->gtol = gtol;
        o->buffers_valid = buffers_valid;
        o->iterations = iterations;
        o->evaluations = evaluations;
        o->objective = objective;
        o->gradient_norm = gnorm;
        for (p = 0; p < 4; p++) *norm_fields[p] = norms[p];
    }
    nc__ser_f64s_checked(s, o->v_small, o->n_small, 1, check_finite, "v_small");
    nc__ser_f64s_checked(s, o->s_small, o->n_small, 1, check_moment, "s_small");
    if (has_vH) nc__ser_f64s_checked(s, o->v_H, o->model->d, o->model->N, check_finite, "v_H");
    if (rule && (rule->buffers & NC__RULE_S))
        nc__ser_f64s_checked(s, o->s_H, o->model->d, o->model->N, check_moment, "s_H");
    if (o->algorithm == NC_OPT_LBFGS) {
        size_t len = nc__ser_size_value(s, o->hist_len), next = nc__ser_size_value(s, o->hist_next);
        int valid;
        double f;
        if (nc__ser_loading(s) && (len > o->history || next >= o->history))
            nc__ser_fail(s, NC_ERR_FORMAT, "L-BFGS history indices out of range");
        valid = nc__ser_enum_value(s, o->lbfgs_valid, 1, "the L-BFGS state flag is not 0 or 1");
        f = nc__ser_double_value(s, o->f);
        if (nc__ser_loading(s) && valid && !nc__is_finite(f))
            nc__ser_fail(s, NC_ERR_NON_FINITE, "the L-BFGS objective is not finite");
        if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) {
            o->hist_len = len;
            o->hist_next = next;
            o->lbfgs_valid = valid;
            o->f = f;
        }
        nc__ser_f64s_checked(s, o->S, o->n_max, o->history, check_finite, "L-BFGS S");
        nc__ser_f64s_checked(s, o->Y, o->n_max, o->history, check_finite, "L-BFGS Y");
        nc__ser_f64s_checked(s, o->rho, o->history, 1, check_finite, "L-BFGS rho");
        nc__ser_f64s_checked(s, o->x, o->n_max, 1, check_finite, "L-BFGS x");
        nc__ser_f64s_checked(s, o->g, o->n_max, 1, check_finite, "L-BFGS g");
        visit_lbfgs_progress(s, o, progress);
    }
}

/* What a checkpoint holds: a model and, optionally, its optimizer; a
 * shard's checkpoint starts with the shard's section. */
typedef struct ckpt {
    nc_model *m;
    nc_optimizer *o;
    int progress; /* CKPT_LBFGS_PROGRESS */
    nc__ser_visitor shard;
    void *shard_ctx;
} ckpt;

static void visit_ckpt(nc__ser *s, void *object)
{
    ckpt *c = (ckpt *)object;
    if (c->shard) c->shard(s, c->shard_ctx);
    visit_model(s, c->m);
    if (c->o) visit_optimizer(s, c->o, c->progress, NULL);
}

nc_status nc__checkpoint_save_shard(const char *path, nc_model *m, const nc_optimizer *opt,
                                    nc__ser_visitor shard, void *shard_ctx)
{
    ckpt c;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!path) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "checkpoint: path is NULL");
    if (opt && opt->model != m)
        return nc__fail(m->msg, NC_ERR_MISMATCH, "checkpoint: the optimizer belongs to another model");
    c.m = m;
    c.o = (nc_optimizer *)opt; /* the visitor only reads in WRITE mode */
    c.progress = opt && opt->algorithm == NC_OPT_LBFGS;
    c.shard = shard;
    c.shard_ctx = shard_ctx;
    return nc__ser_save(path, &ckpt_format,
                        (opt ? CKPT_HAS_OPTIMIZER : 0u) | (c.progress ? CKPT_LBFGS_PROGRESS : 0u) |
                            (shard ? CKPT_SHARD : 0u),
                        visit_ckpt, &c, m->msg);
}

NC_API nc_status nc_checkpoint_save(const char *path, nc_model *m, const nc_optimizer *opt)
{
    return nc__checkpoint_save_shard(path, m, opt, NULL, NULL);
}

nc_status nc__checkpoint_load_shard(const char *path, nc_model *m, nc_optimizer *o,
                                    nc__ser_visitor shard, void *shard_ctx, int check_only)
{
    unsigned char *image;
    size_t payload;
    uint32_t flags;
    int needs_vH = 0, progress;
    nc__ser s;
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!path) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "checkpoint: path is NULL");
    if (o && o->model != m)
        return nc__fail(m->msg, NC_ERR_MISMATCH, "checkpoint: the optimizer belongs to another model");
    st = nc__ser_open(path, &ckpt_format, &image, &payload, &flags, m->msg);
    if (st != NC_SUCCESS) return st;
#define LOAD_FAIL(code, ...)                          \
    do {                                              \
        free(image);                                  \
        return nc__fail(m->msg, code, __VA_ARGS__);   \
    } while (0)
    if (o && !(flags & CKPT_HAS_OPTIMIZER))
        LOAD_FAIL(NC_ERR_MISMATCH, "checkpoint: %.150s holds no optimizer state", path);
    if ((flags & CKPT_LBFGS_PROGRESS) && !(flags & CKPT_HAS_OPTIMIZER))
        LOAD_FAIL(NC_ERR_FORMAT, "checkpoint: %.150s has L-BFGS counters but no optimizer", path);
    progress = (flags & CKPT_LBFGS_PROGRESS) != 0;
    if (!shard != !(flags & CKPT_SHARD))
        LOAD_FAIL(NC_ERR_MISMATCH, shard ? "checkpoint: %.150s is not a shard's checkpoint"
                                         : "checkpoint: %.150s holds one rank's shard of an MPI "
                                           "model (nc_mpi_checkpoint_load)", path);

    /* CHECK everything, then READ: a failure cannot leave a half-loaded state. */
    nc__ser_begin(&s, NC_SER_CHECK, image, payload, &ckpt_format, m->msg);
    if (shard) shard(&s, shard_ctx);
    visit_model(&s, m);
    if (o) visit_optimizer(&s, o, progress, &needs_vH);
    if (s.status != NC_SUCCESS) {
        free(image);
        return s.status;
    }
    /* Without an optimizer to restore, the model's section may be followed
     * by one; otherwise the sections must fill the payload exactly. */
    if ((o || !(flags & CKPT_HAS_OPTIMIZER)) && s.pos != payload)
        LOAD_FAIL(NC_ERR_FORMAT, "checkpoint: payload length does not match its contents");
    if (check_only) {
        free(image);
        return NC_SUCCESS;
    }
    if (needs_vH) {
        o->v_H = nc__calloc_aligned(m->d, m->N);
        if (!o->v_H) LOAD_FAIL(NC_ERR_OUT_OF_MEMORY, "checkpoint: momentum buffer of H");
    }
#undef LOAD_FAIL
    nc__ser_begin(&s, NC_SER_READ, image, payload, &ckpt_format, m->msg);
    if (shard) shard(&s, shard_ctx);
    visit_model(&s, m);
    if (o) visit_optimizer(&s, o, progress, NULL);
    free(image);
    nc__model_update_product(m);
    m->version++;
    if (o) {
        o->norms_valid = 0;
        o->lbfgs_version = m->version;
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_checkpoint_load(const char *path, nc_model *m, nc_optimizer *o)
{
    return nc__checkpoint_load_shard(path, m, o, NULL, NULL, 0);
}

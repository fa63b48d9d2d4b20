/*
 * checkpoint.c - save and restore the full state of a model and optimizer.
 *
 * File: a serial.h image with magic "NCCKPT\r\n", format version 1 and flag
 * bit 0 set when an optimizer section follows the model's; the payload is
 * the model's fields, then the optimizer's. serial.c holds the encoding,
 * the checksum and the atomic replace; this file holds the visitors, which
 * walk the fields in the same order in every mode (SIZE, WRITE, CHECK,
 * READ). A load that fails leaves the model and optimizer untouched: the
 * checksum and the CHECK visit run before anything is written.
 */
#include "optim/optim.h"

#include <stdlib.h>
#include <string.h>

#include "io/serial.h"

#define CKPT_HAS_OPTIMIZER 1u /* flag bit */

static const nc__ser_format ckpt_format = {"NCCKPT\r\n", 1u, CKPT_HAS_OPTIMIZER, "checkpoint"};

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

static void visit_model(nc__ser *s, nc_model *m)
{
    size_t i;
    int loss = (int)m->loss, features = (int)m->features;
    nc__ser_expect(s, m->d, "the feature dimension d differs");
    nc__ser_expect(s, m->K, "the number of classes K differs");
    nc__ser_expect(s, m->N, "the number of samples N differs");
    nc__ser_expect(s, m->depth, "the depth differs");
    for (i = 0; i < m->N && s->status == NC_SUCCESS; i++)
        nc__ser_expect(s, (uint64_t)(uint32_t)m->labels[i], "the labels differ");
    nc__ser_enum(s, &loss, NC__LOSS_COUNT - 1, "unknown loss");
    nc__ser_enum(s, &features, NC_FEATURES_RELU, "unknown feature model");
    if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) {
        m->loss = (nc_loss)loss;
        m->features = (nc_features)features;
    }
    nc__ser_int(s, &m->bias);
    nc__ser_int(s, &m->fixed);
    visit_loss_params(s, m);
    nc__ser_double(s, &m->lambda_W);
    nc__ser_double(s, &m->lambda_H);
    nc__ser_double(s, &m->lambda_b);
    nc__ser_double(s, &m->alpha);
    nc__ser_double(s, &m->beta);
    nc__ser_f64s(s, m->class_weights, m->K);
    nc__ser_f64s(s, m->small, nc__model_small_size(m));
    nc__ser_f64s(s, m->H, m->d * m->N);
}

/* *needs_vH (CHECK mode) tells the caller to allocate the momentum buffer of
 * H before READ, when the checkpoint has one and the target does not. */
static void visit_optimizer(nc__ser *s, nc_optimizer *o, int *needs_vH)
{
    const size_t dN = o->model->d * o->model->N;
    const nc__rule_def *rule = o->rule_def; /* NULL for L-BFGS */
    int schedule = (int)o->schedule, has_vH, p;
    nc__ser_expect(s, (uint64_t)o->algorithm, "the optimizer's algorithm differs");
    nc__ser_expect(s, o->n_small, "the optimizer's variable count differs");
    nc__ser_expect(s, o->n_max, "the optimizer's variable count differs");
    if (o->algorithm == NC_OPT_LBFGS)
        nc__ser_expect(s, o->history, "the L-BFGS history size differs");
    has_vH = nc__ser_flag(s, o->v_H != NULL);
    if (needs_vH) *needs_vH = has_vH && !o->v_H;
    nc__ser_double(s, &o->lr_layers);
    nc__ser_double(s, &o->lr_H);
    nc__ser_double(s, &o->lr_b);
    /* The rules' hyper-parameters (rule.h, nc__param): format 1's for every
     * algorithm, any later one for the rules that read it. */
    for (p = 0; p < NC__PARAM_COUNT; p++)
        if (p < NC__PARAM_FORMAT1 || (rule && (rule->params & NC__PARAM_BIT(p))))
            nc__ser_double(s, nc__rule_param(&o->hp, (nc__param)p));
    nc__ser_enum(s, &schedule, NC_SCHEDULE_COSINE, "unknown schedule");
    if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) o->schedule = (nc_schedule)schedule;
    nc__ser_size(s, &o->period);
    nc__ser_double(s, &o->sched_param);
    nc__ser_size(s, &o->max_iterations);
    nc__ser_double(s, &o->gtol);
    nc__ser_int(s, &o->buffers_valid);
    nc__ser_size(s, &o->iterations);
    nc__ser_size(s, &o->evaluations);
    nc__ser_double(s, &o->objective);
    nc__ser_double(s, &o->gradient_norm);
    nc__ser_double(s, &o->nvs2);
    nc__ser_double(s, &o->nss2);
    nc__ser_double(s, &o->nvH2);
    nc__ser_double(s, &o->nsH2);
    nc__ser_f64s(s, o->v_small, o->n_small);
    nc__ser_f64s(s, o->s_small, o->n_small);
    if (has_vH) nc__ser_f64s(s, o->v_H, dN);
    if (rule && (rule->buffers & NC__RULE_S)) nc__ser_f64s(s, o->s_H, dN);
    if (o->algorithm == NC_OPT_LBFGS) {
        size_t len = o->hist_len, next = o->hist_next;
        nc__ser_size(s, &len);
        nc__ser_size(s, &next);
        if ((s->mode == NC_SER_CHECK || s->mode == NC_SER_READ) &&
            (len > o->history || next >= o->history))
            nc__ser_fail(s, NC_ERR_FORMAT, "L-BFGS history indices out of range");
        if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) {
            o->hist_len = len;
            o->hist_next = next;
        }
        nc__ser_int(s, &o->lbfgs_valid);
        nc__ser_double(s, &o->f);
        nc__ser_f64s(s, o->S, o->history * o->n_max);
        nc__ser_f64s(s, o->Y, o->history * o->n_max);
        nc__ser_f64s(s, o->rho, o->history);
        nc__ser_f64s(s, o->x, o->n_max);
        nc__ser_f64s(s, o->g, o->n_max);
    }
}

/* What a checkpoint holds: a model and, optionally, its optimizer. */
typedef struct ckpt {
    nc_model *m;
    nc_optimizer *o;
} ckpt;

static void visit_ckpt(nc__ser *s, void *object)
{
    ckpt *c = (ckpt *)object;
    visit_model(s, c->m);
    if (c->o) visit_optimizer(s, c->o, NULL);
}

NC_API nc_status nc_checkpoint_save(const char *path, nc_model *m, const nc_optimizer *opt)
{
    ckpt c;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!path) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "checkpoint: path is NULL");
    if (opt && opt->model != m)
        return nc__fail(m->msg, NC_ERR_MISMATCH, "checkpoint: the optimizer belongs to another model");
    c.m = m;
    c.o = (nc_optimizer *)opt; /* the visitor only reads in WRITE mode */
    return nc__ser_save(path, &ckpt_format, opt ? CKPT_HAS_OPTIMIZER : 0u, visit_ckpt, &c, m->msg);
}

NC_API nc_status nc_checkpoint_load(const char *path, nc_model *m, nc_optimizer *o)
{
    unsigned char *image;
    size_t payload;
    uint32_t flags;
    int needs_vH = 0;
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

    /* CHECK everything, then READ: a failure cannot leave a half-loaded state. */
    nc__ser_begin(&s, NC_SER_CHECK, image, payload, &ckpt_format, m->msg);
    visit_model(&s, m);
    if (o) visit_optimizer(&s, o, &needs_vH);
    if (s.status != NC_SUCCESS) {
        free(image);
        return s.status;
    }
    /* Without an optimizer to restore, the model's section may be followed
     * by one; otherwise the sections must fill the payload exactly. */
    if ((o || !(flags & CKPT_HAS_OPTIMIZER)) && s.pos != payload)
        LOAD_FAIL(NC_ERR_FORMAT, "checkpoint: payload length does not match its contents");
    if (needs_vH) {
        o->v_H = nc__calloc_aligned(m->d, m->N);
        if (!o->v_H) LOAD_FAIL(NC_ERR_OUT_OF_MEMORY, "checkpoint: momentum buffer of H");
    }
#undef LOAD_FAIL
    nc__ser_begin(&s, NC_SER_READ, image, payload, &ckpt_format, m->msg);
    visit_model(&s, m);
    if (o) visit_optimizer(&s, o, NULL);
    free(image);
    nc__model_update_product(m);
    m->version++;
    if (o) {
        o->norms_valid = 0;
        o->lbfgs_version = m->version;
    }
    return NC_SUCCESS;
}

/*
 * checkpoint.c - save and restore the full state of a model and optimizer.
 *
 * File: "NCCKPT\r\n" (8 bytes), format version (u32), flags (u32: bit 0 = an
 * optimizer section follows the model's), payload length (u64), payload,
 * FNV-1a 64 checksum of everything before it (u64). All integers and doubles
 * little-endian, so a checkpoint moves between machines.
 *
 * One visitor per object walks the fields in a fixed order for every mode:
 * SIZE (count bytes), WRITE (serialise), CHECK (read and compare the fields
 * that must match the target - sizes, labels, algorithm - without changing
 * anything) and READ (restore). Save and load therefore cannot drift apart,
 * and a load that fails leaves the model and optimizer untouched: the
 * checksum and CHECK pass run before anything is written.
 */
#define _POSIX_C_SOURCE 200809L
#include "nc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loss.h"

#define CKPT_MAGIC "NCCKPT\r\n"
#define CKPT_VERSION 1u
#define CKPT_HEADER 24u /* magic 8, version 4, flags 4, payload length 8 */

typedef enum ser_mode { SER_SIZE, SER_WRITE, SER_CHECK, SER_READ } ser_mode;

typedef struct ser {
    ser_mode mode;
    unsigned char *buf;
    size_t pos, cap;
    nc_status status; /* first failure */
    char *msg;
} ser;

static void ser_fail(ser *s, nc_status st, const char *what)
{
    if (s->status == NC_SUCCESS) {
        s->status = st;
        nc__fail(s->msg, st, "checkpoint: %s", what);
    }
}

static void put_u64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Read or write one raw u64. In WRITE mode v is written and returned; in
 * CHECK and READ modes the stored value is returned (nothing is assigned). */
static uint64_t ser_raw(ser *s, uint64_t v)
{
    if (s->status != NC_SUCCESS) return v;
    switch (s->mode) {
    case SER_SIZE: s->pos += 8; return v;
    case SER_WRITE: put_u64(s->buf + s->pos, v); s->pos += 8; return v;
    default:
        if (s->pos + 8 > s->cap) {
            ser_fail(s, NC_ERR_TRUNCATED, "payload ends early");
            return v;
        }
        v = get_u64(s->buf + s->pos);
        s->pos += 8;
        return v;
    }
}

/* A field that must equal the target's value (sizes, labels, algorithm). */
static void ser_expect(ser *s, uint64_t v, const char *what)
{
    const uint64_t r = ser_raw(s, v);
    if ((s->mode == SER_CHECK || s->mode == SER_READ) && r != v) ser_fail(s, NC_ERR_MISMATCH, what);
}

/* State fields: assigned in READ mode only. */
static void ser_size(ser *s, size_t *p)
{
    const uint64_t r = ser_raw(s, (uint64_t)*p);
    if (s->mode == SER_READ && s->status == NC_SUCCESS) *p = (size_t)r;
}
static void ser_int(ser *s, int *p)
{
    const uint64_t r = ser_raw(s, (uint64_t)(int64_t)*p);
    if (s->mode == SER_READ && s->status == NC_SUCCESS) *p = (int)(int64_t)r;
}
static void ser_double(ser *s, double *p)
{
    uint64_t u;
    memcpy(&u, p, 8);
    u = ser_raw(s, u);
    if (s->mode == SER_READ && s->status == NC_SUCCESS) memcpy(p, &u, 8);
}
/* An enum: checked against [0, max] in CHECK mode. */
static void ser_enum(ser *s, int *p, int max, const char *what)
{
    const uint64_t r = ser_raw(s, (uint64_t)*p);
    if (s->mode == SER_CHECK && r > (uint64_t)max) ser_fail(s, NC_ERR_FORMAT, what);
    if (s->mode == SER_READ && s->status == NC_SUCCESS) *p = (int)r;
}
/* A flag that decides what follows: the stored value in CHECK/READ modes. */
static int ser_flag(ser *s, int v) { return ser_raw(s, (uint64_t)(v != 0)) != 0; }

/* n doubles at x: written, skipped (CHECK) or restored (READ). */
static void ser_f64s(ser *s, double *x, size_t n)
{
    size_t i;
    if (s->status != NC_SUCCESS) return;
    if (s->mode == SER_SIZE) {
        s->pos += 8 * n;
        return;
    }
    if (s->mode != SER_WRITE && (s->cap - s->pos) / 8 < n) {
        ser_fail(s, NC_ERR_TRUNCATED, "payload ends early");
        return;
    }
    if (s->mode == SER_CHECK) {
        s->pos += 8 * n;
        return;
    }
    for (i = 0; i < n; i++) ser_double(s, x + i);
}

static void visit_model(ser *s, nc_model *m)
{
    size_t i;
    int loss = (int)m->loss, features = (int)m->features;
    ser_expect(s, m->d, "the feature dimension d differs");
    ser_expect(s, m->K, "the number of classes K differs");
    ser_expect(s, m->N, "the number of samples N differs");
    ser_expect(s, m->depth, "the depth differs");
    for (i = 0; i < m->N && s->status == NC_SUCCESS; i++)
        ser_expect(s, (uint64_t)(uint32_t)m->labels[i], "the labels differ");
    ser_enum(s, &loss, NC_LOSS_DOT_REGRESSION, "unknown loss");
    ser_enum(s, &features, NC_FEATURES_RELU, "unknown feature model");
    if (s->mode == SER_READ && s->status == NC_SUCCESS) {
        m->loss = (nc_loss)loss;
        m->features = (nc_features)features;
    }
    ser_int(s, &m->bias);
    ser_int(s, &m->fixed);
    ser_double(s, &m->loss_ctx.target_scale);
    ser_double(s, &m->loss_ctx.smoothing);
    ser_double(s, &m->loss_ctx.focal_gamma);
    ser_double(s, &m->loss_ctx.logit_tau);
    ser_double(s, &m->loss_ctx.dot_target);
    ser_double(s, &m->lambda_W);
    ser_double(s, &m->lambda_H);
    ser_double(s, &m->lambda_b);
    ser_double(s, &m->alpha);
    ser_double(s, &m->beta);
    ser_f64s(s, m->class_weights, m->K);
    ser_f64s(s, m->small, nc__model_small_size(m));
    ser_f64s(s, m->H, m->d * m->N);
}

/* *needs_vH (CHECK mode) tells the caller to allocate the momentum buffer of
 * H before READ, when the checkpoint has one and the target does not. */
static void visit_optimizer(ser *s, nc_optimizer *o, int *needs_vH)
{
    const size_t dN = o->model->d * o->model->N;
    int schedule = (int)o->schedule, has_vH;
    ser_expect(s, (uint64_t)o->algorithm, "the optimizer's algorithm differs");
    ser_expect(s, o->n_small, "the optimizer's variable count differs");
    ser_expect(s, o->n_max, "the optimizer's variable count differs");
    if (o->algorithm == NC_OPT_LBFGS) ser_expect(s, o->history, "the L-BFGS history size differs");
    has_vH = ser_flag(s, o->v_H != NULL);
    if (needs_vH) *needs_vH = has_vH && !o->v_H;
    ser_double(s, &o->lr_layers);
    ser_double(s, &o->lr_H);
    ser_double(s, &o->lr_b);
    ser_double(s, &o->momentum);
    ser_double(s, &o->beta1);
    ser_double(s, &o->beta2);
    ser_double(s, &o->eps);
    ser_enum(s, &schedule, NC_SCHEDULE_COSINE, "unknown schedule");
    if (s->mode == SER_READ && s->status == NC_SUCCESS) o->schedule = (nc_schedule)schedule;
    ser_size(s, &o->period);
    ser_double(s, &o->sched_param);
    ser_size(s, &o->max_iterations);
    ser_double(s, &o->gtol);
    ser_int(s, &o->buffers_valid);
    ser_size(s, &o->iterations);
    ser_size(s, &o->evaluations);
    ser_double(s, &o->objective);
    ser_double(s, &o->gradient_norm);
    ser_double(s, &o->nvs2);
    ser_double(s, &o->nss2);
    ser_double(s, &o->nvH2);
    ser_double(s, &o->nsH2);
    ser_f64s(s, o->v_small, o->n_small);
    ser_f64s(s, o->s_small, o->n_small);
    if (has_vH) ser_f64s(s, o->v_H, dN);
    if (o->algorithm == NC_OPT_ADAM) ser_f64s(s, o->s_H, dN);
    if (o->algorithm == NC_OPT_LBFGS) {
        size_t len = o->hist_len, next = o->hist_next;
        ser_size(s, &len);
        ser_size(s, &next);
        if ((s->mode == SER_CHECK || s->mode == SER_READ) && (len > o->history || next >= o->history))
            ser_fail(s, NC_ERR_FORMAT, "L-BFGS history indices out of range");
        if (s->mode == SER_READ && s->status == NC_SUCCESS) {
            o->hist_len = len;
            o->hist_next = next;
        }
        ser_int(s, &o->lbfgs_valid);
        ser_double(s, &o->f);
        ser_f64s(s, o->S, o->history * o->n_max);
        ser_f64s(s, o->Y, o->history * o->n_max);
        ser_f64s(s, o->rho, o->history);
        ser_f64s(s, o->x, o->n_max);
        ser_f64s(s, o->g, o->n_max);
    }
}

/* FNV-1a, 64 bit. */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

NC_API nc_status nc_checkpoint_save(const char *path, nc_model *m, const nc_optimizer *opt)
{
    ser s;
    unsigned char *buf;
    size_t payload, total, plen;
    char *tmp;
    int fd;
    FILE *f;
    nc_optimizer *o = (nc_optimizer *)opt; /* the visitor only reads in WRITE mode */
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!path) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "checkpoint: path is NULL");
    if (o && o->model != m)
        return nc__fail(m->msg, NC_ERR_MISMATCH, "checkpoint: the optimizer belongs to another model");
    memset(&s, 0, sizeof s);
    s.mode = SER_SIZE;
    s.msg = m->msg;
    visit_model(&s, m);
    if (o) visit_optimizer(&s, o, NULL);
    payload = s.pos;
    total = CKPT_HEADER + payload + 8;
    buf = (unsigned char *)malloc(total);
    if (!buf) return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "checkpoint: %zu bytes", total);
    memcpy(buf, CKPT_MAGIC, 8);
    put_u64(buf + 8, (uint64_t)CKPT_VERSION | ((uint64_t)(o != NULL) << 32));
    put_u64(buf + 16, payload);
    s.mode = SER_WRITE;
    s.buf = buf + CKPT_HEADER;
    s.pos = 0;
    s.cap = payload;
    visit_model(&s, m);
    if (o) visit_optimizer(&s, o, NULL);
    put_u64(buf + CKPT_HEADER + payload, fnv1a(buf, CKPT_HEADER + payload));

    /* Atomic replace: a temporary file in the same directory, synced, renamed. */
    plen = strlen(path);
    tmp = (char *)malloc(plen + 16);
    if (!tmp) {
        free(buf);
        return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "checkpoint: path");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    fd = mkstemp(tmp);
    if (fd < 0) {
        nc__fail(m->msg, NC_ERR_IO, "checkpoint: cannot create a temporary file beside %s: %s",
                 path, strerror(errno));
        free(tmp);
        free(buf);
        return NC_ERR_IO;
    }
    f = fdopen(fd, "wb");
    if (!f || fwrite(buf, 1, total, f) != total || fflush(f) != 0 || fsync(fileno(f)) != 0 ||
        fclose(f) != 0 || rename(tmp, path) != 0) {
        nc__fail(m->msg, NC_ERR_IO, "checkpoint: cannot write %s: %s", path, strerror(errno));
        if (!f) close(fd);
        unlink(tmp);
        free(tmp);
        free(buf);
        return NC_ERR_IO;
    }
    free(tmp);
    free(buf);
    return NC_SUCCESS;
}

NC_API nc_status nc_checkpoint_load(const char *path, nc_model *m, nc_optimizer *o)
{
    FILE *f;
    long len;
    unsigned char *buf;
    uint64_t payload, flags;
    ser s;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!path) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "checkpoint: path is NULL");
    if (o && o->model != m)
        return nc__fail(m->msg, NC_ERR_MISMATCH, "checkpoint: the optimizer belongs to another model");
    f = fopen(path, "rb");
    if (!f) return nc__fail(m->msg, NC_ERR_IO, "checkpoint: cannot open %s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return nc__fail(m->msg, NC_ERR_IO, "checkpoint: cannot size %s", path);
    }
    if ((size_t)len < CKPT_HEADER + 8) {
        unsigned char head[8] = {0};
        const size_t got = fread(head, 1, 8, f);
        fclose(f);
        return nc__fail(m->msg,
                        got == 8 && memcmp(head, CKPT_MAGIC, 8) == 0 ? NC_ERR_TRUNCATED : NC_ERR_FORMAT,
                        "checkpoint: %s is too short (%ld bytes) to be a checkpoint", path, len);
    }
    buf = (unsigned char *)malloc((size_t)len);
    if (!buf) {
        fclose(f);
        return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "checkpoint: %ld bytes", len);
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return nc__fail(m->msg, NC_ERR_IO, "checkpoint: cannot read %s", path);
    }
    fclose(f);
#define LOAD_FAIL(st, ...)                   \
    do {                                     \
        free(buf);                           \
        return nc__fail(m->msg, st, __VA_ARGS__); \
    } while (0)
    if (memcmp(buf, CKPT_MAGIC, 8) != 0) LOAD_FAIL(NC_ERR_FORMAT, "checkpoint: %s has no checkpoint magic", path);
    flags = get_u64(buf + 8);
    if ((flags & 0xffffffffu) != CKPT_VERSION)
        LOAD_FAIL(NC_ERR_FORMAT, "checkpoint: format version %u is not %u",
                  (unsigned)(flags & 0xffffffffu), CKPT_VERSION);
    payload = get_u64(buf + 16);
    if (payload > (uint64_t)len - CKPT_HEADER - 8)
        LOAD_FAIL(NC_ERR_TRUNCATED, "checkpoint: %s ends before its declared payload", path);
    if (payload < (uint64_t)len - CKPT_HEADER - 8)
        LOAD_FAIL(NC_ERR_FILE_SIZE, "checkpoint: %s has bytes after its checksum", path);
    if (fnv1a(buf, CKPT_HEADER + (size_t)payload) != get_u64(buf + CKPT_HEADER + payload))
        LOAD_FAIL(NC_ERR_CHECKSUM, "checkpoint: %s is corrupted (checksum)", path);
    if (o && !(flags >> 32 & 1))
        LOAD_FAIL(NC_ERR_MISMATCH, "checkpoint: %s holds no optimizer state", path);

    /* CHECK everything, then READ: a failure cannot leave a half-loaded state. */
    memset(&s, 0, sizeof s);
    s.mode = SER_CHECK;
    s.buf = buf + CKPT_HEADER;
    s.cap = (size_t)payload;
    s.msg = m->msg;
    visit_model(&s, m);
    {
        int needs_vH = 0;
        if (o) visit_optimizer(&s, o, &needs_vH);
        if (s.status != NC_SUCCESS) {
            free(buf);
            return s.status;
        }
        /* Without an optimizer to restore, the model's section may be followed
         * by one; otherwise the sections must fill the payload exactly. */
        if ((o || !(flags >> 32 & 1)) && s.pos != (size_t)payload)
            LOAD_FAIL(NC_ERR_FORMAT, "checkpoint: payload length does not match its contents");
        if (needs_vH) {
            o->v_H = (double *)calloc(m->d * m->N, sizeof(double));
            if (!o->v_H) LOAD_FAIL(NC_ERR_OUT_OF_MEMORY, "checkpoint: momentum buffer of H");
        }
    }
    s.mode = SER_READ;
    s.pos = 0;
    visit_model(&s, m);
    if (o) visit_optimizer(&s, o, NULL);
    free(buf);
#undef LOAD_FAIL
    nc__model_update_product(m);
    m->version++;
    if (o) {
        o->norms_valid = 0;
        o->lbfgs_version = m->version;
    }
    return NC_SUCCESS;
}

/*
 * model.c - the layered unconstrained feature model: state and options.
 * The column-blocked pass that evaluates objective and gradient (and, for
 * the first-order optimizers, updates H in the same pass) is in pass.c.
 *
 * Layout of the small variables (one contiguous vector, all row-major):
 *   [W_1 .. W_{M-1} (d x d each) | W_M (K x d) | b (K)]
 * m->W is the end-to-end classifier P = W_M ... W_1 (the same pointer as W_M
 * when M = 1), so the pass and the metrics never see the depth.
 */
#include "model/model.h"
#include "common/rng.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


size_t nc__model_small_size(const nc_model *m) { return m->n_hidden + m->d * m->K + m->K; }

/* Allocate the depth-dependent storage for depth M; on success the small
 * variables are zero except that W_M and b are copied from old_Wc/old_b. */
static nc_status set_layout(nc_model *m, size_t depth, const double *old_Wc, const double *old_b)
{
    const size_t d = m->d, K = m->K;
    size_t n_hidden, total, t;
    double *small, *gsmall, *P = NULL, *prefix = NULL, *sa = NULL, *sb = NULL;
    if (nc__mul_size(d, d, &t) || nc__mul_size(t, depth - 1, &n_hidden) ||
        n_hidden > SIZE_MAX - d * K - K)
        return NC_ERR_INVALID_SIZE;
    total = n_hidden + d * K + K;
    small = nc__alloc_doubles(total, 1);
    gsmall = nc__alloc_doubles(total, 1);
    if (depth > 1) {
        P = nc__alloc_doubles(d, K);
        prefix = nc__alloc_doubles(n_hidden, 1);
        sa = nc__alloc_doubles(d, d > K ? d : K);
        sb = nc__alloc_doubles(d, d > K ? d : K);
    }
    if (!small || !gsmall || (depth > 1 && (!P || !prefix || !sa || !sb))) {
        free(small); free(gsmall); free(P); free(prefix); free(sa); free(sb);
        return NC_ERR_OUT_OF_MEMORY;
    }
    if (old_Wc) memcpy(small + n_hidden, old_Wc, d * K * sizeof(double));
    if (old_b) memcpy(small + n_hidden + d * K, old_b, K * sizeof(double));
    if (m->depth > 1) free(m->W);
    free(m->small); free(m->gsmall); free(m->prefix); free(m->scratch_a); free(m->scratch_b);
    m->small = small;
    m->gsmall = gsmall;
    m->n_hidden = n_hidden;
    m->depth = depth;
    m->Wc = small + n_hidden;
    m->b = small + n_hidden + d * K;
    m->W = depth > 1 ? P : m->Wc;
    m->prefix = prefix;
    m->scratch_a = sa;
    m->scratch_b = sb;
    nc__model_update_product(m);
    return NC_SUCCESS;
}

/* Allocate a model for validated sizes. */
static nc_status model_alloc(nc_model **out, size_t d, size_t K, size_t N)
{
    nc_model *m;
    nc_status st;
    size_t nlab;
    *out = NULL;
    m = (nc_model *)calloc(1, sizeof *m);
    if (!m) return NC_ERR_OUT_OF_MEMORY;
    m->d = d;
    m->K = K;
    m->N = N;
    m->loss = NC_LOSS_CE;
    nc__loss_param_defaults(m->loss_ctx.param);
    m->isa = nc__isa_detect();
    if (nc__mul_size(N, sizeof(int32_t), &nlab)) goto oom;
    m->labels = (int32_t *)malloc(nlab ? nlab : 1);
    m->counts = (size_t *)calloc(K, sizeof(size_t));
    m->class_weights = nc__alloc_doubles(K, 1);
    m->log_prior = nc__alloc_doubles(K, 1);
    m->H = nc__calloc_aligned(d, N);
    m->means = nc__alloc_doubles(d, K);
    m->class_grad = nc__alloc_doubles(d, K);
    m->align_gP = nc__alloc_doubles(d, K);
    if (!m->labels || !m->counts || !m->class_weights || !m->log_prior || !m->H || !m->means ||
        !m->class_grad || !m->align_gP || nc__pass_set_threads(m, 1) != NC_SUCCESS)
        goto oom;
    st = set_layout(m, 1, NULL, NULL);
    if (st != NC_SUCCESS) {
        nc_model_destroy(m);
        return st;
    }
    m->loss_ctx.class_weights = m->class_weights;
    m->loss_ctx.log_prior = m->log_prior;
    *out = m;
    return NC_SUCCESS;
oom:
    nc_model_destroy(m);
    return NC_ERR_OUT_OF_MEMORY;
}

/* Counts are set: class weights 1 and the log prior log(n_k/N). */
static void init_class_data(nc_model *m)
{
    size_t k;
    for (k = 0; k < m->K; k++) {
        m->class_weights[k] = 1.0;
        m->log_prior[k] = log((double)m->counts[k] / (double)nc__model_total_samples(m));
    }
}

static nc_status check_sizes(size_t d, size_t K, size_t N)
{
    size_t t;
    if (d == 0 || K < 2 || N == 0) return NC_ERR_INVALID_SIZE;
    /* Labels are int32_t, BLAS takes int sizes (d, K and the d x K blocks
     * passed to daxpy), and the largest matrix must be addressable. */
    if (K > (size_t)INT32_MAX || d > (size_t)INT_MAX || nc__mul_size(d, K, &t) ||
        t > (size_t)INT_MAX || nc__mul_size(d, N, &t) || nc__mul_size(t, sizeof(double), &t) ||
        nc__mul_size(K, N, &t) || nc__mul_size(t, sizeof(double), &t))
        return NC_ERR_INVALID_SIZE;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_create(nc_model **model, size_t d, size_t K, size_t N,
                                 const int32_t *labels)
{
    nc_model *m;
    nc_status st;
    size_t i, k;
    nc__create_clear();
    if (!model) return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_model_create: model is NULL");
    *model = NULL;
    if (!labels) return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_model_create: labels is NULL");
    if ((st = check_sizes(d, K, N)) != NC_SUCCESS)
        return nc__create_fail(st, "nc_model_create: sizes d = %zu, K = %zu, N = %zu (need d >= 1, "
                               "K >= 2, N >= 1, and d K, d N, K N within reach)", d, K, N);
    for (i = 0; i < N; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= K)
            return nc__create_fail(NC_ERR_LABEL_OUT_OF_RANGE, "nc_model_create: label %ld of "
                                   "sample %zu is outside [0, K = %zu)", (long)labels[i], i, K);
    if ((st = model_alloc(&m, d, K, N)) != NC_SUCCESS)
        return nc__create_fail(st, "nc_model_create: no memory for d = %zu, K = %zu, N = %zu", d,
                               K, N);
    memcpy(m->labels, labels, N * sizeof(int32_t));
    for (i = 0; i < N; i++) m->counts[labels[i]]++;
    for (k = 0; k < K; k++)
        if (m->counts[k] == 0) {
            nc_model_destroy(m);
            return nc__create_fail(NC_ERR_EMPTY_CLASS, "nc_model_create: class %zu of K = %zu has "
                                   "no sample (every class in [0, K) needs one)", k, K);
        }
    init_class_data(m);
    *model = m;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_create_counts(nc_model **model, size_t d, size_t K, const size_t *counts)
{
    nc_model *m;
    nc_status st;
    size_t N = 0, k, i, pos = 0;
    nc__create_clear();
    if (!model) return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_model_create_counts: model is NULL");
    *model = NULL;
    if (!counts)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_model_create_counts: counts is NULL");
    if (K < 2 || d == 0)
        return nc__create_fail(NC_ERR_INVALID_SIZE, "nc_model_create_counts: d = %zu, K = %zu (need "
                               "d >= 1, K >= 2)", d, K);
    for (k = 0; k < K; k++) {
        if (counts[k] == 0)
            return nc__create_fail(NC_ERR_EMPTY_CLASS, "nc_model_create_counts: class %zu has no "
                                   "sample (counts[%zu] = 0)", k, k);
        if (counts[k] > SIZE_MAX - N)
            return nc__create_fail(NC_ERR_INVALID_SIZE, "nc_model_create_counts: the counts' sum "
                                   "overflows at class %zu", k);
        N += counts[k];
    }
    if ((st = check_sizes(d, K, N)) != NC_SUCCESS)
        return nc__create_fail(st, "nc_model_create_counts: sizes d = %zu, K = %zu, N = %zu are too "
                               "large", d, K, N);
    if ((st = model_alloc(&m, d, K, N)) != NC_SUCCESS)
        return nc__create_fail(st, "nc_model_create_counts: no memory for d = %zu, K = %zu, "
                               "N = %zu", d, K, N);
    for (k = 0; k < K; k++) {
        m->counts[k] = counts[k];
        for (i = 0; i < counts[k]; i++) m->labels[pos++] = (int32_t)k;
    }
    init_class_data(m);
    *model = m;
    return NC_SUCCESS;
}

nc_status nc__model_create_shard(nc_model **model, size_t d, size_t K, size_t N,
                                 const int32_t *labels, const size_t *counts_total,
                                 nc__shard *shard)
{
    nc_model *m;
    nc_status st;
    size_t i, k, total = 0;
    if (!model) return NC_ERR_NULL_ARGUMENT;
    *model = NULL;
    if (!labels || !counts_total || !shard) return NC_ERR_NULL_ARGUMENT;
    if ((st = check_sizes(d, K, N)) != NC_SUCCESS) return st;
    for (k = 0; k < K; k++) {
        if (counts_total[k] == 0) return NC_ERR_EMPTY_CLASS;
        if (counts_total[k] > SIZE_MAX - total) return NC_ERR_INVALID_SIZE;
        total += counts_total[k];
    }
    if (total < N || total != shard->N_total) return NC_ERR_SIZE_MISMATCH;
    for (i = 0; i < N; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= K) return NC_ERR_LABEL_OUT_OF_RANGE;
    if ((st = model_alloc(&m, d, K, N)) != NC_SUCCESS) return st;
    memcpy(m->labels, labels, N * sizeof(int32_t));
    memcpy(m->counts, counts_total, K * sizeof(size_t));
    m->shard = shard;
    /* the blocks of the global problem (choose_blocks reads N_total) */
    m->block = 0;
    if ((st = nc__pass_set_threads(m, 1)) != NC_SUCCESS) {
        m->shard = NULL;
        nc_model_destroy(m);
        return st;
    }
    init_class_data(m);
    *model = m;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_copy(nc_model **copy, const nc_model *src)
{
    nc_model *m;
    nc_status st;
    nc__create_clear();
    if (!copy) return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_model_copy: copy is NULL");
    *copy = NULL;
    if (!src) return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_model_copy: src is NULL");
    if (src->shard)  /* a shard's hooks are not copied */
        return nc__create_fail(NC_ERR_UNSUPPORTED, "nc_model_copy: the model is an MPI shard");
    if ((st = model_alloc(&m, src->d, src->K, src->N)) != NC_SUCCESS)
        return nc__create_fail(st, "nc_model_copy: no memory");
    if (src->depth > 1 && (st = set_layout(m, src->depth, NULL, NULL)) != NC_SUCCESS) {
        nc_model_destroy(m);
        return nc__create_fail(st, "nc_model_copy: no memory for %zu layers", src->depth);
    }
    memcpy(m->labels, src->labels, src->N * sizeof(int32_t));
    memcpy(m->counts, src->counts, src->K * sizeof(size_t));
    memcpy(m->class_weights, src->class_weights, src->K * sizeof(double));
    memcpy(m->log_prior, src->log_prior, src->K * sizeof(double));
    memcpy(m->small, src->small, nc__model_small_size(src) * sizeof(double));
    memcpy(m->H, src->H, src->d * src->N * sizeof(double));
    m->loss = src->loss;
    memcpy(m->loss_ctx.param, src->loss_ctx.param, sizeof m->loss_ctx.param);
    m->bias = src->bias;
    m->lambda_W = src->lambda_W;
    m->lambda_H = src->lambda_H;
    m->lambda_b = src->lambda_b;
    m->features = src->features;
    m->fixed = src->fixed;
    m->alpha = src->alpha;
    m->beta = src->beta;
    m->isa = src->isa;
    m->kernel = src->kernel;
    if (src->threads > 1 && (st = nc__pass_set_threads(m, src->threads)) != NC_SUCCESS) {
        nc_model_destroy(m);
        return nc__create_fail(st, "nc_model_copy: cannot start %zu threads", src->threads);
    }
    nc__model_update_product(m);
    *copy = m;
    return NC_SUCCESS;
}

NC_API void nc_model_destroy(nc_model *m)
{
    if (!m) return;
    if (m->depth > 1) free(m->W);
    free(m->small);
    free(m->gsmall);
    free(m->prefix);
    free(m->scratch_a);
    free(m->scratch_b);
    free(m->labels);
    free(m->counts);
    free(m->class_weights);
    free(m->log_prior);
    nc__free_aligned(m->H);
    nc__pass_free(m);
    free(m->means);
    free(m->class_grad);
    free(m->align_gP);
    if (m->shard && m->shard->destroy) m->shard->destroy(m->shard);
    free(m);
}

NC_API size_t nc_model_dim(const nc_model *m) { return m ? m->d : 0; }
NC_API size_t nc_model_num_classes(const nc_model *m) { return m ? m->K : 0; }
NC_API size_t nc_model_num_samples(const nc_model *m) { return m ? m->N : 0; }

NC_API nc_status nc_model_get_labels(const nc_model *m, int32_t *labels)
{
    if (!m || !labels) return NC_ERR_NULL_ARGUMENT;
    memcpy(labels, m->labels, m->N * sizeof(int32_t));
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_class_counts(const nc_model *m, size_t *counts)
{
    if (!m || !counts) return NC_ERR_NULL_ARGUMENT;
    memcpy(counts, m->counts, m->K * sizeof(size_t));
    return NC_SUCCESS;
}

/* ---- the one check of each value (model.h) ------------------------------------ */

nc_status nc__model_check_decay(double lW, double lH, double lb, char *msg)
{
    if (!nc__is_finite(lW) || !nc__is_finite(lH) || !nc__is_finite(lb))
        return nc__fail(msg, NC_ERR_NON_FINITE,
                        "weight decay (lambda_W, lambda_H, lambda_b) = (%g, %g, %g) is not finite",
                        lW, lH, lb);
    if (lW < 0 || lH < 0 || lb < 0)
        return nc__fail(msg, NC_ERR_INVALID_VALUE,
                        "negative weight decay (lambda_W, lambda_H, lambda_b) = (%g, %g, %g)", lW,
                        lH, lb);
    return NC_SUCCESS;
}

nc_status nc__model_check_allnc(double alpha, double beta, char *msg)
{
    if (!nc__is_finite(alpha) || !nc__is_finite(beta))
        return nc__fail(msg, NC_ERR_NON_FINITE, "AllNC weights (alpha, beta) = (%g, %g) are not "
                        "finite", alpha, beta);
    if (alpha < 0 || beta < 0)
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "negative AllNC weight (alpha, beta) = (%g, %g)",
                        alpha, beta);
    return NC_SUCCESS;
}

nc_status nc__model_check_class_weights(const double *w, size_t K, char *msg)
{
    size_t k;
    for (k = 0; k < K; k++) {
        if (!nc__is_finite(w[k]))
            return nc__fail(msg, NC_ERR_NON_FINITE, "class weight %zu is %g, not finite", k, w[k]);
        if (!(w[k] > 0))
            return nc__fail(msg, NC_ERR_INVALID_VALUE, "class weight %zu is %g, not > 0", k, w[k]);
    }
    return NC_SUCCESS;
}

nc_status nc__model_check_layer(size_t l, const double *A, size_t d, size_t row0, size_t rows,
                                size_t lda, char *msg)
{
    size_t r, c;
    /* Row r of the layer is column r of a d x rows column-major matrix. */
    if (nc__find_nonfinite(A, d, rows, lda, &c, &r))
        return nc__fail(msg, NC_ERR_NON_FINITE, "layer %zu has a NaN or Inf at row %zu, column %zu",
                        l, row0 + r, c);
    return NC_SUCCESS;
}

nc_status nc__model_check_b(const double *b, size_t K, char *msg)
{
    size_t r, c;
    if (nc__find_nonfinite(b, K, 1, K, &r, &c))
        return nc__fail(msg, NC_ERR_NON_FINITE, "b[%zu] is NaN or Inf", r);
    return NC_SUCCESS;
}

nc_status nc__model_check_H(nc_features f, const double *H, size_t d, size_t col0, size_t cols,
                            size_t ldh, char *msg)
{
    size_t i, j;
    if (nc__find_nonfinite(H, d, cols, ldh, &i, &j))
        return nc__fail(msg, NC_ERR_NON_FINITE, "H has a NaN or Inf at row %zu of column (sample) "
                        "%zu", i, col0 + j);
    if (f == NC_FEATURES_RELU)
        for (j = 0; j < cols; j++)
            for (i = 0; i < d; i++)
                if (H[j * ldh + i] < 0)
                    return nc__fail(msg, NC_ERR_INVALID_VALUE,
                                    "ReLU features need H >= 0: H is %g at row %zu of column "
                                    "(sample) %zu", H[j * ldh + i], i, col0 + j);
    return NC_SUCCESS;
}

/* ---- options ---------------------------------------------------------------- */

NC_API nc_status nc_model_set_loss(nc_model *m, nc_loss loss)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!nc__loss_lookup(loss))
        return nc__fail(m->msg, NC_ERR_INVALID_VALUE, "nc_model_set_loss: unknown loss %d",
                        (int)loss);
    m->loss = loss;
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_loss nc_model_get_loss(const nc_model *m) { return m ? m->loss : NC_LOSS_CE; }

/* Names, ranges and defaults of the parameters: the table in loss/params.c. */
NC_API nc_status nc_model_set_loss_parameter(nc_model *m, nc_loss_parameter p, double v)
{
    char what[NC_MSG_SIZE];
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    st = nc__loss_param_check(p, v, what);
    if (st != NC_SUCCESS) return nc__fail(m->msg, st, "nc_model_set_loss_parameter: %s", what);
    m->loss_ctx.param[p] = v;
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_loss_parameter(const nc_model *m, nc_loss_parameter p, double *v)
{
    if (!m || !v) return NC_ERR_NULL_ARGUMENT;
    if (!nc__loss_param_lookup(p)) return NC_ERR_INVALID_VALUE;
    *v = m->loss_ctx.param[p];
    return NC_SUCCESS;
}

NC_API nc_status nc_model_set_class_weights(nc_model *m, const double *w)
{
    char what[NC_MSG_SIZE];
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!w) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "nc_model_set_class_weights: NULL");
    if ((st = nc__model_check_class_weights(w, m->K, what)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_set_class_weights: %s", what);
    memcpy(m->class_weights, w, m->K * sizeof(double));
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_set_bias(nc_model *m, int enabled)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    m->bias = enabled != 0;
    m->version++;
    return NC_SUCCESS;
}

NC_API int nc_model_get_bias(const nc_model *m) { return m ? m->bias : 0; }

NC_API nc_status nc_model_set_weight_decay(nc_model *m, double lW, double lH, double lb)
{
    char what[NC_MSG_SIZE];
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__model_check_decay(lW, lH, lb, what)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_set_weight_decay: %s", what);
    m->lambda_W = lW;
    m->lambda_H = lH;
    m->lambda_b = lb;
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_weight_decay(const nc_model *m, double *lW, double *lH, double *lb)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (lW) *lW = m->lambda_W;
    if (lH) *lH = m->lambda_H;
    if (lb) *lb = m->lambda_b;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_set_features(nc_model *m, nc_features f)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (f != NC_FEATURES_FREE && f != NC_FEATURES_RELU)
        return nc__fail(m->msg, NC_ERR_INVALID_VALUE, "nc_model_set_features: unknown model %d",
                        (int)f);
    {
        char what[NC_MSG_SIZE];
        if (nc__model_check_H(f, m->H, m->d, 0, m->N, m->d, what) != NC_SUCCESS)
            return nc__fail(m->msg, NC_ERR_INVALID_VALUE,
                            "nc_model_set_features: %s; choose ReLU features before "
                            "initialising, or supply H >= 0", what);
    }
    m->features = f;
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_features nc_model_get_features(const nc_model *m)
{
    return m ? m->features : NC_FEATURES_FREE;
}

NC_API nc_status nc_model_set_depth(nc_model *m, size_t depth)
{
    nc_status st;
    double *Wc;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (depth == 0 || depth > 1024)
        return nc__fail(m->msg, NC_ERR_INVALID_VALUE, "nc_model_set_depth: depth %zu not in [1, 1024]",
                        depth);
    if (depth == m->depth) return NC_SUCCESS;
    /* Keep W_M and b across the new layout. */
    Wc = nc__alloc_doubles(m->d * m->K + m->K, 1);
    if (!Wc) return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "nc_model_set_depth: out of memory");
    memcpy(Wc, m->Wc, (m->d * m->K + m->K) * sizeof(double));
    st = set_layout(m, depth, Wc, Wc + m->d * m->K);
    free(Wc);
    if (st != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_set_depth: cannot allocate %zu layers", depth);
    m->version++;
    return NC_SUCCESS;
}

NC_API size_t nc_model_get_depth(const nc_model *m) { return m ? m->depth : 0; }

NC_API nc_status nc_model_set_threads(nc_model *m, size_t threads)
{
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (threads == 0 || threads > 1024)
        return nc__fail(m->msg, NC_ERR_INVALID_VALUE,
                        "nc_model_set_threads: %zu threads not in [1, 1024]", threads);
    if (threads == m->threads) return NC_SUCCESS;
    if ((st = nc__pass_set_threads(m, threads)) != NC_SUCCESS)
        return nc__fail(m->msg, st,
                        "nc_model_set_threads: cannot allocate the workspaces or start %zu threads",
                        threads);
    return NC_SUCCESS;
}

NC_API size_t nc_model_get_threads(const nc_model *m) { return m ? m->threads : 0; }

NC_API nc_status nc_model_set_allnc(nc_model *m, double alpha, double beta)
{
    char what[NC_MSG_SIZE];
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if ((st = nc__model_check_allnc(alpha, beta, what)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_set_allnc: %s", what);
    m->alpha = alpha;
    m->beta = beta;
    m->version++;
    return NC_SUCCESS;
}

/* ---- state ---------------------------------------------------------------- */

NC_API nc_status nc_model_init_gaussian(nc_model *m, double std, uint64_t seed)
{
    nc__rng rng;
    size_t i, n;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!isfinite(std))
        return nc__fail(m->msg, NC_ERR_NON_FINITE, "nc_model_init_gaussian: std is not finite");
    if (std < 0)
        return nc__fail(m->msg, NC_ERR_INVALID_VALUE, "nc_model_init_gaussian: std %g < 0", std);
    nc__rng_seed(&rng, seed);
    /* W_M row by row (skipped when fixed), then H column by column, then
     * W_1..W_{M-1}: with M = 1 the order of the draws is that of version 0.1. */
    n = m->d * m->K;
    if (!m->fixed)
        for (i = 0; i < n; i++) m->Wc[i] = std * nc__rng_normal(&rng);
    n = m->d * m->N;
    for (i = 0; i < n; i++) m->H[i] = std * nc__rng_normal(&rng);
    if (m->features == NC_FEATURES_RELU)
        for (i = 0; i < n; i++) m->H[i] = fabs(m->H[i]);
    for (i = 0; i < m->n_hidden; i++) m->small[i] = std * nc__rng_normal(&rng);
    memset(m->b, 0, m->K * sizeof(double));
    nc__model_update_product(m);
    m->version++;
    return NC_SUCCESS;
}

/* Copy a rows x cols matrix whose column j starts at src + j*lds. */
static void copy_strided(double *dst, size_t ldd, const double *src, size_t lds, size_t rows,
                         size_t cols)
{
    size_t j;
    for (j = 0; j < cols; j++) memcpy(dst + j * ldd, src + j * lds, rows * sizeof(double));
}

NC_API nc_status nc_model_set_layer(nc_model *m, size_t l, const double *A, size_t lda)
{
    size_t rows;
    char what[NC_MSG_SIZE];
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!A) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "nc_model_set_layer: NULL matrix");
    if (l >= m->depth)
        return nc__fail(m->msg, NC_ERR_INVALID_VALUE, "nc_model_set_layer: layer %zu >= depth %zu",
                        l, m->depth);
    rows = l == m->depth - 1 ? m->K : m->d;
    if ((st = nc__check_span(m->d, rows, lda)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_set_layer: lda %zu is %s for rows of d = %zu", lda,
                        lda < m->d ? "less than d" : "too large (the matrix's span overflows)",
                        m->d);
    if (l == m->depth - 1 && m->fixed)
        return nc__fail(m->msg, NC_ERR_UNSUPPORTED,
                        "the classifier is fixed: unfix it before setting it");
    if ((st = nc__model_check_layer(l, A, m->d, 0, rows, lda, what)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_set_layer: %s", what);
    copy_strided(m->small + l * m->d * m->d, m->d, A, lda, m->d, rows);
    nc__model_update_product(m);
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_layer(const nc_model *m, size_t l, double *A, size_t lda)
{
    if (!m || !A) return NC_ERR_NULL_ARGUMENT;
    if (l >= m->depth) return NC_ERR_INVALID_VALUE;
    {
        const nc_status st = nc__check_span(m->d, l == m->depth - 1 ? m->K : m->d, lda);
        if (st != NC_SUCCESS) return st;
    }
    copy_strided(A, lda, m->small + l * m->d * m->d, m->d, m->d,
                 l == m->depth - 1 ? m->K : m->d);
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_product(const nc_model *m, double *P, size_t ldp)
{
    if (!m || !P) return NC_ERR_NULL_ARGUMENT;
    if (nc__check_span(m->d, m->K, ldp) != NC_SUCCESS) return nc__check_span(m->d, m->K, ldp);
    copy_strided(P, ldp, m->W, m->d, m->d, m->K);
    return NC_SUCCESS;
}

NC_API nc_status nc_model_set_W(nc_model *m, const double *W, size_t ldw)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    return nc_model_set_layer(m, m->depth - 1, W, ldw);
}

NC_API nc_status nc_model_set_H(nc_model *m, const double *H, size_t ldh)
{
    char what[NC_MSG_SIZE];
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!H) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "nc_model_set_H: H is NULL");
    if ((st = nc__check_span(m->d, m->N, ldh)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_set_H: ldh %zu is %s for columns of d = %zu", ldh,
                        ldh < m->d ? "less than d" : "too large (the matrix's span overflows)",
                        m->d);
    if ((st = nc__model_check_H(m->features, H, m->d, 0, m->N, ldh, what)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_set_H: %s", what);
    copy_strided(m->H, m->d, H, ldh, m->d, m->N);
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_set_b(nc_model *m, const double *b)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!b) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "nc_model_set_b: b is NULL");
    {
        char what[NC_MSG_SIZE];
        const nc_status st = nc__model_check_b(b, m->K, what);
        if (st != NC_SUCCESS) return nc__fail(m->msg, st, "nc_model_set_b: %s", what);
    }
    memcpy(m->b, b, m->K * sizeof(double));
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_W(const nc_model *m, double *W, size_t ldw)
{
    if (!m || !W) return NC_ERR_NULL_ARGUMENT;
    if (nc__check_span(m->d, m->K, ldw) != NC_SUCCESS) return nc__check_span(m->d, m->K, ldw);
    copy_strided(W, ldw, m->Wc, m->d, m->d, m->K);
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_H(const nc_model *m, double *H, size_t ldh)
{
    if (!m || !H) return NC_ERR_NULL_ARGUMENT;
    if (nc__check_span(m->d, m->N, ldh) != NC_SUCCESS) return nc__check_span(m->d, m->N, ldh);
    copy_strided(H, ldh, m->H, m->d, m->d, m->N);
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_b(const nc_model *m, double *b)
{
    if (!m || !b) return NC_ERR_NULL_ARGUMENT;
    memcpy(b, m->b, m->K * sizeof(double));
    return NC_SUCCESS;
}

/* ---- fixed classifiers ------------------------------------------------------ */

NC_API nc_status nc_model_fix_classifier(nc_model *m, const double *W, size_t ldw)
{
    nc_status st;
    int was_fixed;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    /* set_W refuses a fixed classifier: lift the flag for the copy, and put
     * it back if the copy is refused, so a failure changes nothing. */
    was_fixed = m->fixed;
    m->fixed = 0;
    if ((st = nc_model_set_W(m, W, ldw)) != NC_SUCCESS) {
        m->fixed = was_fixed;
        return st;
    }
    m->fixed = 1;
    return NC_SUCCESS;
}

/* Orthonormal d x K columns into Q (ld d): copied from P after a check, or
 * from the QR factorisation of a Gaussian matrix drawn from seed. */
static nc_status orthonormal_columns(nc_model *m, double *Q, uint64_t seed, const double *P,
                                     size_t ldp)
{
    const size_t d = m->d, K = m->K;
    size_t i, j, k;
    if (P) {
        if (nc__check_span(d, K, ldp) != NC_SUCCESS)
            return nc__fail(m->msg, nc__check_span(d, K, ldp),
                            "fixed frame: ldp %zu is less than d %zu or too large", ldp, d);
        if (!nc__all_finite_mat(P, d, K, ldp))
            return nc__fail(m->msg, NC_ERR_NON_FINITE, "fixed frame: P has a NaN or Inf");
        copy_strided(Q, d, P, ldp, d, K);
        for (j = 0; j < K; j++)
            for (k = 0; k <= j; k++) {
                double s = 0;
                for (i = 0; i < d; i++) s += Q[j * d + i] * Q[k * d + i];
                if (fabs(s - (j == k ? 1.0 : 0.0)) > 1e-10)
                    return nc__fail(m->msg, NC_ERR_INVALID_VALUE,
                                    "fixed frame: columns %zu and %zu of P are not orthonormal "
                                    "(inner product %.3g)", j, k, s);
            }
    } else {
        nc__rng rng;
        double *tau = nc__alloc_doubles(K, 1);
        lapack_int info;
        if (!tau) return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "fixed frame: out of memory");
        nc__rng_seed(&rng, seed);
        for (i = 0; i < d * K; i++) Q[i] = nc__rng_normal(&rng);
        info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)K, Q, (lapack_int)d, tau);
        if (info == 0)
            info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)d, (lapack_int)K, (lapack_int)K, Q,
                                  (lapack_int)d, tau);
        free(tau);
        if (info != 0)
            return nc__fail(m->msg, NC_ERR_LAPACK, "fixed frame: QR failed (info %d)", (int)info);
    }
    return NC_SUCCESS;
}

static nc_status fix_frame(nc_model *m, double norm, uint64_t seed, const double *P, size_t ldp,
                           int etf)
{
    size_t d, K;
    double *Q;
    nc_status st;
    size_t i, k;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    d = m->d;
    K = m->K;
    if (!isfinite(norm)) return nc__fail(m->msg, NC_ERR_NON_FINITE, "fixed frame: norm not finite");
    if (!(norm > 0)) return nc__fail(m->msg, NC_ERR_INVALID_VALUE, "fixed frame: norm %g <= 0", norm);
    if (d < K)
        return nc__fail(m->msg, NC_ERR_INVALID_SIZE,
                        "fixed frame: needs d >= K (d = %zu, K = %zu)", d, K);
    Q = nc__alloc_doubles(d, K);
    if (!Q) return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "fixed frame: out of memory");
    if ((st = orthonormal_columns(m, Q, seed, P, ldp)) != NC_SUCCESS) {
        free(Q);
        return st;
    }
    if (etf) {
        /* w_k = norm sqrt(K/(K-1)) (q_k - qbar): unit rows, cosines -1/(K-1). */
        const double c = norm * sqrt((double)K / (double)(K - 1));
        for (i = 0; i < d; i++) {
            double mean = 0;
            for (k = 0; k < K; k++) mean += Q[k * d + i];
            mean /= (double)K;
            for (k = 0; k < K; k++) Q[k * d + i] = c * (Q[k * d + i] - mean);
        }
    } else {
        for (i = 0; i < d * K; i++) Q[i] *= norm;
    }
    /* Q (d x K column-major, column k = w_k) is W (K x d row-major). */
    st = nc_model_fix_classifier(m, Q, d);
    free(Q);
    return st;
}

NC_API nc_status nc_model_fix_classifier_etf(nc_model *m, double norm, uint64_t seed,
                                             const double *P, size_t ldp)
{
    return fix_frame(m, norm, seed, P, ldp, 1);
}

NC_API nc_status nc_model_fix_classifier_orthogonal(nc_model *m, double norm, uint64_t seed,
                                                    const double *P, size_t ldp)
{
    return fix_frame(m, norm, seed, P, ldp, 0);
}

NC_API nc_status nc_model_unfix_classifier(nc_model *m)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    m->fixed = 0;
    m->version++;
    return NC_SUCCESS;
}

NC_API int nc_model_classifier_is_fixed(const nc_model *m) { return m ? m->fixed : 0; }

/* ---- depth: products and back-propagation ----------------------------------- */

void nc__model_update_product(nc_model *m)
{
    const int d = (int)m->d, K = (int)m->K;
    size_t l;
    if (m->depth == 1) return;
    /* R_1 = W_1, R_l = W_l R_{l-1}; P = W_M R_{M-1} (all row-major). */
    memcpy(m->prefix, m->small, m->d * m->d * sizeof(double));
    for (l = 1; l + 1 < m->depth; l++)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0,
                    m->small + l * m->d * m->d, d, m->prefix + (l - 1) * m->d * m->d, d, 0.0,
                    m->prefix + l * m->d * m->d, d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, d, d, 1.0, m->Wc, d,
                m->prefix + (m->depth - 2) * m->d * m->d, d, 0.0, m->W, d);
}

/* ---- AllNC terms ------------------------------------------------------------ */

nc_status nc__model_prepare(nc_model *m)
{
    const size_t d = m->d, K = m->K, N = m->N;
    size_t i, k, j;
    double value = 0.0, extra2 = 0.0;
    memset(m->align_gP, 0, d * K * sizeof(double));
    memset(m->class_grad, 0, d * K * sizeof(double));
    m->allnc_align_value = 0.0;
    m->allnc_extra_bound = 0.0;
    if (m->alpha == 0.0 && m->beta == 0.0) return NC_SUCCESS;
    memset(m->means, 0, d * K * sizeof(double));
    for (i = 0; i < N; i++) {
        const double *h = m->H + i * d;
        double *mu = m->means + (size_t)m->labels[i] * d;
        for (j = 0; j < d; j++) mu[j] += h[j];
    }
    /* a shard: the sums of every shard's features, in shard order */
    if (m->shard) {
        const nc_status st = m->shard->sum(m->shard, m->means, d * K);
        if (st != NC_SUCCESS) return st;
    }
    for (k = 0; k < K; k++)
        for (j = 0; j < d; j++) m->means[k * d + j] /= (double)m->counts[k];
    if (m->beta > 0.0) {
        double *D = m->class_grad, *cbar = m->Gblock; /* Gblock holds >= d doubles */
        const double w = m->beta / (double)K;
        memset(cbar, 0, d * sizeof(double));
        for (k = 0; k < K; k++)
            for (j = 0; j < d; j++) cbar[j] += m->means[k * d + j] / (double)K;
        for (k = 0; k < K; k++) {
            const double *p = m->W + k * d, *mu = m->means + k * d;
            double np = 0, nc = 0, pc = 0, cs;
            for (j = 0; j < d; j++) {
                const double c = mu[j] - cbar[j];
                np += p[j] * p[j];
                nc += c * c;
                pc += p[j] * c;
            }
            np = sqrt(np);
            nc = sqrt(nc);
            if (np == 0.0 || nc == 0.0) continue; /* undefined cosine: no contribution */
            cs = pc / (np * nc);
            value += w * (1.0 - cs);
            for (j = 0; j < d; j++) {
                const double c = mu[j] - cbar[j];
                m->align_gP[k * d + j] = -w * (c / nc - cs * p[j] / np) / np;
                D[k * d + j] = -w * (p[j] / np - cs * c / nc) / nc;
            }
        }
        /* dT/dmu_j = D_j - mean_k D_k, spread over the n_j features of class j. */
        memset(cbar, 0, d * sizeof(double));
        for (k = 0; k < K; k++)
            for (j = 0; j < d; j++) cbar[j] += D[k * d + j] / (double)K;
        for (k = 0; k < K; k++) {
            double s = 0;
            for (j = 0; j < d; j++) {
                D[k * d + j] = (D[k * d + j] - cbar[j]) / (double)m->counts[k];
                s += D[k * d + j] * D[k * d + j];
            }
            extra2 += s * (double)m->counts[k];
        }
    }
    m->allnc_align_value = value;
    /* ||alpha/N (H - M_Y)|| <= alpha/N * 2||H|| is added by the optimizer's bound. */
    m->allnc_extra_bound = sqrt(extra2);
    return NC_SUCCESS;
}

nc_status nc__model_evaluate(nc_model *m, double *gH, size_t ldgh, nc__h_update *upd,
                             nc__pass_out *out)
{
    const nc_status st = nc__model_prepare(m);
    if (st != NC_SUCCESS) {
        out->objective = out->norm2_gsmall = out->norm2_gH = NAN;
        return st;
    }
    return nc__model_evaluate_prepared(m, gH, ldgh, upd, out);
}

NC_API nc_status nc_model_objective(nc_model *m, double *objective)
{
    return nc_model_gradient(m, objective, NULL, 0, NULL, 0, NULL);
}

NC_API nc_status nc_model_gradient(nc_model *m, double *objective, double *gW, size_t ldgw,
                                   double *gH, size_t ldgh, double *gb)
{
    nc__pass_out out;
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (gW && nc__check_span(m->d, m->K, ldgw) != NC_SUCCESS)
        return nc__fail(m->msg, nc__check_span(m->d, m->K, ldgw),
                        "nc_model_gradient: ldgw %zu is less than d %zu or too large", ldgw, m->d);
    if (gH && nc__check_span(m->d, m->N, ldgh) != NC_SUCCESS)
        return nc__fail(m->msg, nc__check_span(m->d, m->N, ldgh),
                        "nc_model_gradient: ldgh %zu is less than d %zu or too large", ldgh, m->d);
    if ((st = nc__model_evaluate(m, gH, ldgh, NULL, &out)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_gradient: the reductions over the shards: %s",
                        nc_strerror(st));
    if (objective) *objective = out.objective;
    if (gW) copy_strided(gW, ldgw, m->gsmall + m->n_hidden, m->d, m->d, m->K);
    if (gb) {
        if (m->bias)
            memcpy(gb, m->gsmall + m->n_hidden + m->d * m->K, m->K * sizeof(double));
        else
            memset(gb, 0, m->K * sizeof(double));
    }
    if (!isfinite(out.objective))
        return nc__fail(m->msg, NC_ERR_OVERFLOW,
                        "nc_model_gradient: the objective at this state overflowed");
    return NC_SUCCESS;
}

/* ---- all variables as one vector ----------------------------------------- */

NC_API size_t nc_model_num_variables(const nc_model *m)
{
    if (!m) return 0;
    return m->n_hidden + (m->fixed ? 0 : m->d * m->K) + m->d * m->N + (m->bias ? m->K : 0);
}

NC_API nc_status nc_model_get_variables(const nc_model *m, double *x)
{
    size_t n;
    if (!m || !x) return NC_ERR_NULL_ARGUMENT;
    n = m->n_hidden + (m->fixed ? 0 : m->d * m->K);
    memcpy(x, m->small, n * sizeof(double));
    memcpy(x + n, m->H, m->d * m->N * sizeof(double));
    if (m->bias) memcpy(x + n + m->d * m->N, m->b, m->K * sizeof(double));
    return NC_SUCCESS;
}

NC_API nc_status nc_model_set_variables(nc_model *m, const double *x)
{
    size_t n;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!x) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "nc_model_set_variables: NULL");
    if (!nc__all_finite(x, nc_model_num_variables(m)))
        return nc__fail(m->msg, NC_ERR_NON_FINITE, "nc_model_set_variables: NaN or Inf");
    n = m->n_hidden + (m->fixed ? 0 : m->d * m->K);
    {
        char what[NC_MSG_SIZE];
        const nc_status st = nc__model_check_H(m->features, x + n, m->d, 0, m->N, m->d, what);
        if (st != NC_SUCCESS) return nc__fail(m->msg, st, "nc_model_set_variables: %s", what);
    }
    memcpy(m->small, x, n * sizeof(double));
    memcpy(m->H, x + n, m->d * m->N * sizeof(double));
    if (m->bias) memcpy(m->b, x + n + m->d * m->N, m->K * sizeof(double));
    nc__model_update_product(m);
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_gradient_vector(nc_model *m, double *objective, double *g)
{
    nc__pass_out out;
    size_t n;
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    n = m->n_hidden + (m->fixed ? 0 : m->d * m->K);
    if ((st = nc__model_evaluate(m, g ? g + n : NULL, m->d, NULL, &out)) != NC_SUCCESS)
        return nc__fail(m->msg, st, "nc_model_gradient_vector: the reductions over the shards: %s",
                        nc_strerror(st));
    if (g) {
        memcpy(g, m->gsmall, n * sizeof(double));
        if (m->bias)
            memcpy(g + n + m->d * m->N, m->gsmall + m->n_hidden + m->d * m->K,
                   m->K * sizeof(double));
    }
    if (objective) *objective = out.objective;
    if (!isfinite(out.objective))
        return nc__fail(m->msg, NC_ERR_OVERFLOW, "nc_model_gradient_vector: overflow");
    return NC_SUCCESS;
}

NC_API const char *nc_model_last_error(const nc_model *m) { return m ? m->msg : ""; }

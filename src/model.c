/*
 * model.c - the unconstrained feature model: state, options, and the
 * column-blocked pass that evaluates objective and gradient (and, for the
 * optimizer, updates H in the same pass).
 */
#include "nc_internal.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"

/* Target bytes of one block of H: small enough that the block, its logits
 * and its gradient stay in L2 between the GEMMs that touch them. */
#define NC_BLOCK_BYTES (128u * 1024u)

static nc_status alloc_doubles(double **p, size_t a, size_t b)
{
    size_t n;
    *p = NULL;
    if (nc__mul_size(a, b, &n) || nc__mul_size(n, sizeof(double), &n)) return NC_ERR_OUT_OF_MEMORY;
    *p = (double *)calloc(n ? n / sizeof(double) : 1, sizeof(double));
    return *p ? NC_SUCCESS : NC_ERR_OUT_OF_MEMORY;
}

static size_t choose_block(size_t d, size_t K, size_t N)
{
    size_t per_col = (d + K) * sizeof(double);
    size_t block = NC_BLOCK_BYTES / (per_col ? per_col : 1);
    if (block < 16) block = 16;
    if (block > N) block = N;
    return block;
}

/* Allocate a model for sizes and counts already validated; labels copied. */
static nc_status model_alloc(nc_model **out, size_t d, size_t K, size_t N)
{
    nc_model *m;
    nc_status st = NC_SUCCESS;
    size_t nlab;
    *out = NULL;
    m = (nc_model *)calloc(1, sizeof *m);
    if (!m) return NC_ERR_OUT_OF_MEMORY;
    m->d = d;
    m->K = K;
    m->N = N;
    m->loss = NC_LOSS_CE;
    m->block = choose_block(d, K, N);
    if (nc__mul_size(N, sizeof(int32_t), &nlab)) st = NC_ERR_OUT_OF_MEMORY;
    if (st == NC_SUCCESS) {
        m->labels = (int32_t *)malloc(nlab ? nlab : 1);
        m->counts = (size_t *)calloc(K, sizeof(size_t));
        if (!m->labels || !m->counts) st = NC_ERR_OUT_OF_MEMORY;
    }
    if (st == NC_SUCCESS) st = alloc_doubles(&m->W, d, K);
    if (st == NC_SUCCESS) st = alloc_doubles(&m->H, d, N);
    if (st == NC_SUCCESS) st = alloc_doubles(&m->b, K, 1);
    if (st == NC_SUCCESS) st = alloc_doubles(&m->Zblock, K, m->block);
    if (st == NC_SUCCESS) st = alloc_doubles(&m->Gblock, d, m->block);
    if (st != NC_SUCCESS) {
        nc_model_destroy(m);
        return st;
    }
    *out = m;
    return NC_SUCCESS;
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
    if (!model) return NC_ERR_NULL_ARGUMENT;
    *model = NULL;
    if (!labels) return NC_ERR_NULL_ARGUMENT;
    if ((st = check_sizes(d, K, N)) != NC_SUCCESS) return st;
    for (i = 0; i < N; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= K) return NC_ERR_LABEL_OUT_OF_RANGE;
    if ((st = model_alloc(&m, d, K, N)) != NC_SUCCESS) return st;
    memcpy(m->labels, labels, N * sizeof(int32_t));
    for (i = 0; i < N; i++) m->counts[labels[i]]++;
    for (k = 0; k < K; k++)
        if (m->counts[k] == 0) {
            nc_model_destroy(m);
            return NC_ERR_EMPTY_CLASS;
        }
    *model = m;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_create_counts(nc_model **model, size_t d, size_t K, const size_t *counts)
{
    nc_model *m;
    nc_status st;
    size_t N = 0, k, i, pos = 0;
    if (!model) return NC_ERR_NULL_ARGUMENT;
    *model = NULL;
    if (!counts) return NC_ERR_NULL_ARGUMENT;
    if (K < 2 || d == 0) return NC_ERR_INVALID_SIZE;
    for (k = 0; k < K; k++) {
        if (counts[k] == 0) return NC_ERR_EMPTY_CLASS;
        if (counts[k] > SIZE_MAX - N) return NC_ERR_INVALID_SIZE;
        N += counts[k];
    }
    if ((st = check_sizes(d, K, N)) != NC_SUCCESS) return st;
    if ((st = model_alloc(&m, d, K, N)) != NC_SUCCESS) return st;
    for (k = 0; k < K; k++) {
        m->counts[k] = counts[k];
        for (i = 0; i < counts[k]; i++) m->labels[pos++] = (int32_t)k;
    }
    *model = m;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_copy(nc_model **copy, const nc_model *src)
{
    nc_model *m;
    nc_status st;
    if (!copy) return NC_ERR_NULL_ARGUMENT;
    *copy = NULL;
    if (!src) return NC_ERR_NULL_ARGUMENT;
    if ((st = model_alloc(&m, src->d, src->K, src->N)) != NC_SUCCESS) return st;
    memcpy(m->labels, src->labels, src->N * sizeof(int32_t));
    memcpy(m->counts, src->counts, src->K * sizeof(size_t));
    memcpy(m->W, src->W, src->d * src->K * sizeof(double));
    memcpy(m->H, src->H, src->d * src->N * sizeof(double));
    memcpy(m->b, src->b, src->K * sizeof(double));
    m->loss = src->loss;
    m->bias = src->bias;
    m->lambda_W = src->lambda_W;
    m->lambda_H = src->lambda_H;
    m->lambda_b = src->lambda_b;
    *copy = m;
    return NC_SUCCESS;
}

NC_API void nc_model_destroy(nc_model *m)
{
    if (!m) return;
    free(m->labels);
    free(m->counts);
    free(m->W);
    free(m->H);
    free(m->b);
    free(m->Zblock);
    free(m->Gblock);
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
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!isfinite(lW) || !isfinite(lH) || !isfinite(lb))
        return nc__fail(m->msg, NC_ERR_NON_FINITE, "nc_model_set_weight_decay: non-finite value");
    if (lW < 0 || lH < 0 || lb < 0)
        return nc__fail(m->msg, NC_ERR_INVALID_VALUE,
                        "nc_model_set_weight_decay: negative weight decay (%g, %g, %g)", lW, lH,
                        lb);
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
    /* W row by row, then H column by column: both are contiguous in memory. */
    n = m->d * m->K;
    for (i = 0; i < n; i++) m->W[i] = std * nc__rng_normal(&rng);
    n = m->d * m->N;
    for (i = 0; i < n; i++) m->H[i] = std * nc__rng_normal(&rng);
    memset(m->b, 0, m->K * sizeof(double));
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

NC_API nc_status nc_model_set_W(nc_model *m, const double *W, size_t ldw)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!W) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "nc_model_set_W: W is NULL");
    if (ldw < m->d)
        return nc__fail(m->msg, NC_ERR_SIZE_MISMATCH, "nc_model_set_W: ldw %zu < d %zu", ldw,
                        m->d);
    if (!nc__all_finite_mat(W, m->d, m->K, ldw))
        return nc__fail(m->msg, NC_ERR_NON_FINITE, "nc_model_set_W: W has a NaN or Inf");
    copy_strided(m->W, m->d, W, ldw, m->d, m->K);
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_set_H(nc_model *m, const double *H, size_t ldh)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!H) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "nc_model_set_H: H is NULL");
    if (ldh < m->d)
        return nc__fail(m->msg, NC_ERR_SIZE_MISMATCH, "nc_model_set_H: ldh %zu < d %zu", ldh,
                        m->d);
    if (!nc__all_finite_mat(H, m->d, m->N, ldh))
        return nc__fail(m->msg, NC_ERR_NON_FINITE, "nc_model_set_H: H has a NaN or Inf");
    copy_strided(m->H, m->d, H, ldh, m->d, m->N);
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_set_b(nc_model *m, const double *b)
{
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (!b) return nc__fail(m->msg, NC_ERR_NULL_ARGUMENT, "nc_model_set_b: b is NULL");
    if (!nc__all_finite(b, m->K))
        return nc__fail(m->msg, NC_ERR_NON_FINITE, "nc_model_set_b: b has a NaN or Inf");
    memcpy(m->b, b, m->K * sizeof(double));
    m->version++;
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_W(const nc_model *m, double *W, size_t ldw)
{
    if (!m || !W) return NC_ERR_NULL_ARGUMENT;
    if (ldw < m->d) return NC_ERR_SIZE_MISMATCH;
    copy_strided(W, ldw, m->W, m->d, m->d, m->K);
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_H(const nc_model *m, double *H, size_t ldh)
{
    if (!m || !H) return NC_ERR_NULL_ARGUMENT;
    if (ldh < m->d) return NC_ERR_SIZE_MISMATCH;
    copy_strided(H, ldh, m->H, m->d, m->d, m->N);
    return NC_SUCCESS;
}

NC_API nc_status nc_model_get_b(const nc_model *m, double *b)
{
    if (!m || !b) return NC_ERR_NULL_ARGUMENT;
    memcpy(b, m->b, m->K * sizeof(double));
    return NC_SUCCESS;
}

/* ---- the pass ------------------------------------------------------------ */

nc_status nc__model_pass(nc_model *m, double *gW, double *gb, double *gH, size_t ldgh,
                         nc__h_update *upd, nc__pass_out *out)
{
    const size_t d = m->d, K = m->K, N = m->N;
    const nc__loss_def *loss = nc__loss_lookup(m->loss);
    const double invN = 1.0 / (double)N;
    const double lH = m->lambda_H;
    nc__sum loss_sum = {0.0, 0.0}, h2 = {0.0, 0.0}, gh2 = {0.0, 0.0};
    nc__sum h2_new = {0.0, 0.0}, v2_new = {0.0, 0.0};
    size_t j0, i, k;

    memset(gW, 0, d * K * sizeof(double));
    memset(gb, 0, K * sizeof(double));

    for (j0 = 0; j0 < N; j0 += m->block) {
        const size_t nb = (N - j0 < m->block) ? N - j0 : m->block;
        double *Hj = m->H + j0 * d;
        double *Z = m->Zblock;
        double *G = gH ? gH + j0 * ldgh : m->Gblock;
        const size_t ldg = gH ? ldgh : d;
        double block_loss;

        /* Z = W H_j (+ b): column i holds the logits of sample j0 + i. */
        if (m->bias)
            for (i = 0; i < nb; i++) memcpy(Z + i * K, m->b, K * sizeof(double));
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)nb, (int)d, 1.0, m->W,
                    (int)d, Hj, (int)d, m->bias ? 1.0 : 0.0, Z, (int)K);

        /* Loss and dL/dZ (unscaled) in place. */
        block_loss = loss->value_grad(Z, K, nb, m->labels + j0);
        nc__sum_add(&loss_sum, block_loss);

        /* gW += H_j G_j^T / N (uses H_j before any update); gb += row sums. */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)d, (int)K, (int)nb, invN, Hj,
                    (int)d, Z, (int)K, 1.0, gW, (int)d);
        if (m->bias)
            for (i = 0; i < nb; i++)
                for (k = 0; k < K; k++) gb[k] += Z[i * K + k] * invN;

        /* G_j = W^T Z / N + lambda_H H_j. */
        for (i = 0; i < nb; i++) memcpy(G + i * ldg, Hj + i * d, d * sizeof(double));
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)nb, (int)K, invN,
                    m->W, (int)d, Z, (int)K, lH, G, (int)ldg);

        for (i = 0; i < nb; i++) {
            const double *g = G + i * ldg;
            double *h = Hj + i * d;
            double sh = 0.0, sg = 0.0;
            for (k = 0; k < d; k++) {
                sh += h[k] * h[k];
                sg += g[k] * g[k];
            }
            nc__sum_add(&h2, sh);
            nc__sum_add(&gh2, sg);
            if (upd) {
                double snew = 0.0, sv = 0.0;
                if (upd->velocity) {
                    double *v = upd->velocity + (j0 + i) * d;
                    for (k = 0; k < d; k++) {
                        v[k] = upd->momentum * v[k] + g[k];
                        h[k] -= upd->lr * v[k];
                        snew += h[k] * h[k];
                        sv += v[k] * v[k];
                    }
                } else {
                    for (k = 0; k < d; k++) {
                        h[k] -= upd->lr * g[k];
                        snew += h[k] * h[k];
                    }
                }
                nc__sum_add(&h2_new, snew);
                nc__sum_add(&v2_new, sv);
            }
        }
    }

    /* Weight-decay terms of the W and b gradients. */
    if (m->lambda_W != 0.0) cblas_daxpy((int)(d * K), m->lambda_W, m->W, 1, gW, 1);
    if (m->bias && m->lambda_b != 0.0) cblas_daxpy((int)K, m->lambda_b, m->b, 1, gb, 1);

    {
        const double w2 = nc__norm2(m->W, d * K);
        const double b2 = m->bias ? nc__norm2(m->b, K) : 0.0;
        nc__sum f = {0.0, 0.0};
        nc__sum_add(&f, nc__sum_value(&loss_sum) * invN);
        nc__sum_add(&f, 0.5 * m->lambda_W * w2);
        nc__sum_add(&f, 0.5 * lH * nc__sum_value(&h2));
        nc__sum_add(&f, 0.5 * m->lambda_b * b2);
        out->objective = nc__sum_value(&f);
        out->norm2_H = nc__sum_value(&h2);
        out->norm2_gH = nc__sum_value(&gh2);
        out->norm2_gW = nc__norm2(gW, d * K);
        out->norm2_gb = m->bias ? nc__norm2(gb, K) : 0.0;
    }
    if (upd) {
        upd->norm2_H_new = nc__sum_value(&h2_new);
        upd->norm2_v_new = nc__sum_value(&v2_new);
        m->version++;
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_model_objective(nc_model *m, double *objective)
{
    return nc_model_gradient(m, objective, NULL, 0, NULL, 0, NULL);
}

NC_API nc_status nc_model_gradient(nc_model *m, double *objective, double *gW, size_t ldgw,
                                   double *gH, size_t ldgh, double *gb)
{
    nc__pass_out out;
    double *gW_work = NULL, *gb_work = NULL;
    nc_status st;
    if (!m) return NC_ERR_NULL_ARGUMENT;
    if (gW && ldgw < m->d)
        return nc__fail(m->msg, NC_ERR_SIZE_MISMATCH, "nc_model_gradient: ldgw %zu < d %zu", ldgw,
                        m->d);
    if (gH && ldgh < m->d)
        return nc__fail(m->msg, NC_ERR_SIZE_MISMATCH, "nc_model_gradient: ldgh %zu < d %zu", ldgh,
                        m->d);
    /* The pass writes gW packed (ld d); a small K x d scratch is allocated
     * here, once per call (this is an API entry point, not an iteration). */
    st = alloc_doubles(&gW_work, m->d, m->K);
    if (st == NC_SUCCESS) st = alloc_doubles(&gb_work, m->K, 1);
    if (st != NC_SUCCESS) {
        free(gW_work);
        return nc__fail(m->msg, st, "nc_model_gradient: out of memory");
    }
    nc__model_pass(m, gW_work, gb_work, gH, ldgh, NULL, &out);
    if (objective) *objective = out.objective;
    if (gW) copy_strided(gW, ldgw, gW_work, m->d, m->d, m->K);
    if (gb) memcpy(gb, gb_work, m->K * sizeof(double));
    free(gW_work);
    free(gb_work);
    if (!isfinite(out.objective))
        return nc__fail(m->msg, NC_ERR_OVERFLOW,
                        "nc_model_gradient: the objective at this state overflowed");
    return NC_SUCCESS;
}

NC_API const char *nc_model_last_error(const nc_model *m) { return m ? m->msg : ""; }

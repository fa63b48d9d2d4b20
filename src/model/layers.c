/*
 * model/layers.c - what each layer of a deep linear model sees: the features
 * H_l = W_l ... W_1 H at layer l (H_0 = H) and the classifier above them,
 * C_l = W_M ... W_{l+1} (C_0 = P, C_{M-1} = W_M), so that C_l H_l = P H at
 * every l. The per-layer metrics measure (H_l, C_l) as the one-layer metrics
 * measure (H, P). The products are computed for each call, from the layers'
 * current values, with the same prefix order as the model's product P.
 */
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

#include <cblas.h>

/* R_l = W_l ... W_1 (d x d row-major) into R, by R_1 = W_1, R_j = W_j R_{j-1}
 * (the order of nc__model_update_product); work is d x d scratch. l >= 1. */
static void prefix_product(size_t d, const double *const *layers, size_t lda, size_t l, double *R,
                           double *work)
{
    size_t j, r;
    double *cur = (l % 2 == 1) ? R : work, *nxt = (l % 2 == 1) ? work : R;
    /* the last product lands in R: start in R when l - 1 products follow is even */
    for (r = 0; r < d; r++) memcpy(cur + r * d, layers[0] + r * lda, d * sizeof(double));
    for (j = 1; j < l; j++) {
        double *t;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0,
                    layers[j], (int)lda, cur, (int)d, 0.0, nxt, (int)d);
        t = cur;
        cur = nxt;
        nxt = t;
    }
}

nc_status nc__layer_features(size_t d, size_t N, const double *H, size_t ldh,
                             const double *const *layers, size_t lda, size_t l, double *Hl,
                             size_t ldo)
{
    double *R;
    size_t i;
    if (l == 0) {
        for (i = 0; i < N; i++) memcpy(Hl + i * ldo, H + i * ldh, d * sizeof(double));
        return NC_SUCCESS;
    }
    R = nc__alloc_doubles(2 * d, d);
    if (R == NULL) return NC_ERR_OUT_OF_MEMORY;
    prefix_product(d, layers, lda, l, R, R + d * d);
    /* Hl = R_l H: R_l row-major is R_l^T column-major */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)d, (int)N, (int)d, 1.0, R, (int)d, H,
                (int)ldh, 0.0, Hl, (int)ldo);
    free(R);
    return NC_SUCCESS;
}

nc_status nc__layer_classifier(size_t d, size_t K, const double *const *layers, size_t lda,
                               size_t depth, size_t l, double *C, size_t ldc)
{
    double *R;
    size_t r;
    if (l + 1 == depth) {
        for (r = 0; r < K; r++) memcpy(C + r * ldc, layers[depth - 1] + r * lda, d * sizeof(double));
        return NC_SUCCESS;
    }
    /* C_l = W_M R where R = W_{M-1} ... W_{l+1}, built upwards like P */
    R = nc__alloc_doubles(2 * d, d);
    if (R == NULL) return NC_ERR_OUT_OF_MEMORY;
    prefix_product(d, layers + l, lda, depth - 1 - l, R, R + d * d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)d, (int)d, 1.0,
                layers[depth - 1], (int)lda, R, (int)d, 0.0, C, (int)ldc);
    free(R);
    return NC_SUCCESS;
}

/* The model's layers as pointers W_1 .. W_M (row stride d). */
static const double **model_layers(const nc_model *m)
{
    const double **L = (const double **)malloc(m->depth * sizeof(*L));
    size_t l;
    if (L == NULL) return NULL;
    for (l = 0; l < m->depth; l++) L[l] = m->small + l * m->d * m->d;
    return L;
}

NC_API nc_status nc_model_get_layer_features(const nc_model *m, size_t layer, double *Hl,
                                             size_t ldh)
{
    const double **L;
    nc_status st;
    if (!m || !Hl) return NC_ERR_NULL_ARGUMENT;
    if (layer >= m->depth) return NC_ERR_INVALID_VALUE;
    st = nc__check_matrix(Hl, m->d, m->N, ldh, 0);
    if (st != NC_SUCCESS) return st;
    if ((L = model_layers(m)) == NULL) return NC_ERR_OUT_OF_MEMORY;
    st = nc__layer_features(m->d, m->N, m->H, m->d, L, m->d, layer, Hl, ldh);
    free((void *)L);
    return st;
}

NC_API nc_status nc_model_get_layer_classifier(const nc_model *m, size_t layer, double *C,
                                               size_t ldc)
{
    const double **L;
    nc_status st;
    size_t r;
    if (!m || !C) return NC_ERR_NULL_ARGUMENT;
    if (layer >= m->depth) return NC_ERR_INVALID_VALUE;
    st = nc__check_matrix(C, m->d, m->K, ldc, 0); /* K rows of d: the d x K frame */
    if (st != NC_SUCCESS) return st;
    if (layer == 0) { /* the model's own product P, bit for bit */
        for (r = 0; r < m->K; r++) memcpy(C + r * ldc, m->W + r * m->d, m->d * sizeof(double));
        return NC_SUCCESS;
    }
    if ((L = model_layers(m)) == NULL) return NC_ERR_OUT_OF_MEMORY;
    st = nc__layer_classifier(m->d, m->K, L, m->d, m->depth, layer, C, ldc);
    free((void *)L);
    return st;
}

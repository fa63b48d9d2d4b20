/*
 * metrics/layers.c - the NC metrics at every layer of a deep linear model
 * (Dang et al. 2023 report NC1-NC3 layer by layer): layer l is measured as
 * the features H_l = W_l ... W_1 H with the classifier C_l = W_M ... W_{l+1}
 * above them (model/layers.c), by the same code as nc_metrics_compute_data.
 * C_l H_l = P H, so NC4 and the accuracy are the same at every layer.
 */
#include "metrics/metrics.h"
#include "model/model.h"

#include <stdlib.h>

/* Metrics of (Hl, C, labels, b) into m; Hl and C are freed. */
static nc_status measure(nc_metrics *m, size_t d, size_t K, size_t N, double *Hl, double *C,
                         const int32_t *labels, const double *b)
{
    const nc_status st = nc_metrics_compute_data(m, d, K, N, Hl, d, labels, C, d, b);
    free(Hl);
    free(C);
    return st;
}

NC_API nc_status nc_metrics_compute_layer(nc_metrics *metrics, const nc_model *model, size_t layer)
{
    double *Hl, *C;
    nc_status st;
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (model == NULL) return nc__metrics_fail(metrics, NC_ERR_NULL_ARGUMENT, "model is NULL");
    if (layer >= nc_model_get_depth(model))
        return nc__metrics_fail(metrics, NC_ERR_INVALID_VALUE,
                                "layer is not below the model's depth");
    Hl = nc__alloc_doubles(model->d, model->N);
    C = nc__alloc_doubles(model->K, model->d);
    if (Hl == NULL || C == NULL) {
        free(Hl);
        free(C);
        return nc__metrics_fail(metrics, NC_ERR_OUT_OF_MEMORY, "no memory for the layer's features");
    }
    st = nc_model_get_layer_features(model, layer, Hl, model->d);
    if (st == NC_SUCCESS) st = nc_model_get_layer_classifier(model, layer, C, model->d);
    if (st != NC_SUCCESS) {
        free(Hl);
        free(C);
        return nc__metrics_fail(metrics, st, "the layer's features could not be formed");
    }
    return measure(metrics, model->d, model->K, model->N, Hl, C, model->labels,
                   model->bias ? model->b : NULL);
}

NC_API nc_status nc_metrics_compute_layer_data(nc_metrics *metrics, size_t d, size_t K, size_t N,
                                               const double *H, size_t ldh,
                                               const int32_t *labels, size_t depth,
                                               const double *const *layers, size_t lda,
                                               const double *b, size_t layer)
{
    double *Hl, *C;
    nc_status st;
    size_t l;
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (layers == NULL)
        return nc__metrics_fail(metrics, NC_ERR_NULL_ARGUMENT, "layers is NULL");
    if (depth == 0 || layer >= depth)
        return nc__metrics_fail(metrics, NC_ERR_INVALID_VALUE,
                                "need depth >= 1 and layer < depth");
    /* H, labels and b are checked by nc_metrics_compute_data; check the
     * layers here, each before it is read */
    st = nc__check_matrix(H, d, N, ldh, 1);
    if (st != NC_SUCCESS)
        return nc__metrics_fail(metrics, st, "H is NULL, of invalid size or not finite");
    for (l = 0; l < depth; l++) {
        st = nc__check_matrix(layers[l], d, l + 1 == depth ? K : d, lda, 1);
        if (st != NC_SUCCESS)
            return nc__metrics_fail(metrics, st,
                                    l + 1 == depth ? "the classifier W_M is NULL, of invalid "
                                                     "size or not finite (K rows of d, stride lda)"
                                                   : "a hidden layer is NULL, of invalid size or "
                                                     "not finite (d rows of d, stride lda)");
    }
    if (K < 2 || !nc__fits_int(K))
        return nc__metrics_fail(metrics, NC_ERR_INVALID_SIZE, "need K >= 2");
    Hl = nc__alloc_doubles(d, N);
    C = nc__alloc_doubles(K, d);
    if (Hl == NULL || C == NULL) {
        free(Hl);
        free(C);
        return nc__metrics_fail(metrics, NC_ERR_OUT_OF_MEMORY, "no memory for the layer's features");
    }
    st = nc__layer_features(d, N, H, ldh, layers, lda, layer, Hl, d);
    if (st == NC_SUCCESS) st = nc__layer_classifier(d, K, layers, lda, depth, layer, C, d);
    if (st != NC_SUCCESS) {
        free(Hl);
        free(C);
        return nc__metrics_fail(metrics, st, "no memory for the layer's products");
    }
    return measure(metrics, d, K, N, Hl, C, labels, b);
}

/*
 * mpi/mpi_stream.c - stream accumulators reduced across a communicator,
 * and the metrics of a shard model through them.
 *
 * Every rank sends its accumulator's state to every rank (MPI_Allgatherv);
 * each rank rebuilds the ranks' accumulators in a copy of its own and merges
 * them with nc_stream_merge in rank order. The same code on the same bits
 * gives every rank the same result, which is what one process merging the
 * ranks' accumulators in rank order holds. The state is O(d K + K^2) values
 * per rank, independent of the number of samples.
 */
#include "mpi_internal.h"
#include "metrics/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NC__HDR 6 /* d, K, pass, has_W, has_b, no_nc1 (the sizes of the state depend on them) */

/* counts, and in pass 2 the per-class NC4 counts */
static size_t n_sizes(const nc_stream *s) { return 6 + 2 * s->K + (s->pass == 2 ? 2 * s->K : 0); }

static size_t n_doubles(const nc_stream *s)
{
    size_t n = 2 + s->d * s->K;
    if (s->has_W) n += s->d * s->K + (s->has_b ? s->K : 0);
    if (s->pass == 2) n += s->d * s->q + 2 * s->q * s->q + 2 * s->K; /* + vs, vc */
    return n;
}

static void get_state(const nc_stream *s, unsigned long long *u, double *x)
{
    const size_t d = s->d, K = s->K, q = s->q;
    size_t k;
    u[0] = s->n1;
    u[1] = s->n2;
    u[2] = s->mismatches;
    u[3] = s->correct;
    u[4] = (unsigned long long)s->logits_ok;
    u[5] = 0;
    for (k = 0; k < K; k++) {
        u[6 + k] = s->counts[k];
        u[6 + K + k] = s->counts2[k];
    }
    *x++ = s->amax;
    *x++ = s->scale;
    memcpy(x, s->mu, d * K * sizeof(double));
    x += d * K;
    if (s->has_W) {
        memcpy(x, s->W, d * K * sizeof(double));
        x += d * K;
        if (s->has_b) {
            memcpy(x, s->b, K * sizeof(double));
            x += K;
        }
    }
    if (s->pass == 2) {
        memcpy(x, s->Q, d * q * sizeof(double));
        x += d * q;
        memcpy(x, s->Ss, q * q * sizeof(double));
        x += q * q;
        memcpy(x, s->Sc, q * q * sizeof(double));
        x += q * q;
        memcpy(x, s->vs, K * sizeof(double));
        x += K;
        memcpy(x, s->vc, K * sizeof(double));
        for (k = 0; k < K; k++) {
            u[6 + 2 * K + k] = s->cmis[k];
            u[6 + 3 * K + k] = s->ccor[k];
        }
    }
}

/* The inverse of get_state on a stream of the same d, K, pass and flags. */
static void set_state(nc_stream *s, const unsigned long long *u, const double *x)
{
    const size_t d = s->d, K = s->K, q = s->q;
    size_t k, i;
    s->n1 = (size_t)u[0];
    s->n2 = (size_t)u[1];
    s->mismatches = (size_t)u[2];
    s->correct = (size_t)u[3];
    s->logits_ok = (int)u[4];
    for (k = 0; k < K; k++) {
        s->counts[k] = (size_t)u[6 + k];
        s->counts2[k] = (size_t)u[6 + K + k];
    }
    s->amax = *x++;
    s->scale = *x++;
    memcpy(s->mu, x, d * K * sizeof(double));
    x += d * K;
    if (s->has_W) {
        memcpy(s->W, x, d * K * sizeof(double));
        x += d * K;
        if (s->has_b) {
            memcpy(s->b, x, K * sizeof(double));
            x += K;
        }
    }
    if (s->pass == 2) {
        memcpy(s->Q, x, d * q * sizeof(double));
        x += d * q;
        memcpy(s->Ss, x, q * q * sizeof(double));
        x += q * q;
        memcpy(s->Sc, x, q * q * sizeof(double));
        for (i = 0; i < q * q; i++) s->Sv[i] = s->Ss[i] + s->Sc[i];
        x += q * q;
        memcpy(s->vs, x, K * sizeof(double));
        x += K;
        memcpy(s->vc, x, K * sizeof(double));
        for (k = 0; k < K; k++) {
            s->cmis[k] = (size_t)u[6 + 2 * K + k];
            s->ccor[k] = (size_t)u[6 + 3 * K + k];
        }
    }
}

NC_API nc_status nc_mpi_stream_reduce(nc_stream *stream, MPI_Comm comm)
{
    static const char *const field[NC__HDR] = {"d", "K", "the pass", "the classifier flag",
                                               "the bias flag", "the no-NC1 flag"};
    int rank, size, r, j;
    unsigned long long hdr[NC__HDR], *hdrs = NULL, *us = NULL;
    double *xs = NULL;
    nc_stream *acc = NULL, *other = NULL;
    size_t nu, nx;
    nc_status st = NC_SUCCESS;
    char msg[NC_MPI_MESSAGE_SIZE] = "";

    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        return NC_ERR_IO;
    if ((st = nc__mpi_agree(comm, stream ? NC_SUCCESS : NC_ERR_NULL_ARGUMENT)) != NC_SUCCESS)
        return st;
    stream->msg[0] = '\0';
    hdr[0] = stream->d, hdr[1] = stream->K, hdr[2] = (unsigned long long)stream->pass;
    hdr[3] = (unsigned long long)stream->has_W, hdr[4] = (unsigned long long)stream->has_b;
    hdr[5] = (unsigned long long)stream->no_nc1;
    hdrs = (unsigned long long *)calloc((size_t)size * NC__HDR, sizeof *hdrs);
    if ((st = nc__mpi_agree(comm, hdrs ? NC_SUCCESS : NC_ERR_OUT_OF_MEMORY)) != NC_SUCCESS)
        goto done;
    if ((st = NC__MPI_OK(MPI_Allgather(hdr, NC__HDR, MPI_UNSIGNED_LONG_LONG, hdrs, NC__HDR,
                                       MPI_UNSIGNED_LONG_LONG, comm))) != NC_SUCCESS)
        goto done;
    for (r = 1; r < size && st == NC_SUCCESS; r++)
        for (j = 0; j < NC__HDR; j++)
            if (hdrs[r * NC__HDR + j] != hdrs[j]) {
                snprintf(msg, sizeof msg, "mismatched streams: %s is %llu on rank 0 but %llu on "
                         "rank %d", field[j], hdrs[j], hdrs[r * NC__HDR + j], r);
                st = j < 2 ? NC_ERR_SIZE_MISMATCH : NC_ERR_INVALID_VALUE;
                break;
            }
    if (st != NC_SUCCESS) goto done;

    nu = n_sizes(stream);
    nx = n_doubles(stream);
    us = (unsigned long long *)calloc((size_t)size * nu, sizeof *us);
    xs = (double *)calloc((size_t)size * nx, sizeof *xs);
    st = us && xs ? NC_SUCCESS : NC_ERR_OUT_OF_MEMORY;
    if (st == NC_SUCCESS) st = nc_stream_copy(&acc, stream);
    if (st == NC_SUCCESS) st = nc_stream_copy(&other, stream);
    if ((st = nc__mpi_agree(comm, st)) != NC_SUCCESS) {
        snprintf(msg, sizeof msg, "nc_mpi_stream_reduce: %s on some rank", nc_strerror(st));
        goto done;
    }
    get_state(stream, us + (size_t)rank * nu, xs + (size_t)rank * nx);
    if ((st = NC__MPI_OK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, us, (int)nu,
                                       MPI_UNSIGNED_LONG_LONG, comm))) != NC_SUCCESS ||
        (st = NC__MPI_OK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, xs, (int)nx, MPI_DOUBLE,
                                       comm))) != NC_SUCCESS)
        goto done;
    /* the same merges on the same bits on every rank: the same result */
    set_state(acc, us, xs);
    for (r = 1; r < size; r++) {
        set_state(other, us + (size_t)r * nu, xs + (size_t)r * nx);
        if ((st = nc_stream_merge(acc, other)) != NC_SUCCESS) {
            snprintf(msg, sizeof msg, "merging the stream of rank %d: %s", r,
                     nc_stream_last_error(acc));
            goto done;
        }
    }
    get_state(acc, us, xs);
    set_state(stream, us, xs);
done:
    if (stream && msg[0]) snprintf(stream->msg, sizeof stream->msg, "%s", msg);
    nc_stream_destroy(acc);
    nc_stream_destroy(other);
    free(hdrs);
    free(us);
    free(xs);
    return st;
}

/* The metrics of layer `layer` of the global problem from the shards: the
 * layer's features of this rank's columns (H itself at layer 0) and the
 * classifier above them (P at layer 0), two streamed passes reduced across
 * the ranks. Every rank gets the same values and status. */
nc_status nc__mpi_shard_metrics(nc__shard *base, nc_metrics *metrics, const nc_model *model,
                                size_t layer)
{
    nc__mpi_shard *sh = (nc__mpi_shard *)base;
    nc_stream *s = NULL;
    double *Hl = NULL, *C = NULL;
    const double *H = model->H, *W = model->W;
    nc_status st = metrics ? NC_SUCCESS : NC_ERR_NULL_ARGUMENT;
    if (st == NC_SUCCESS && layer >= model->depth) st = NC_ERR_INVALID_VALUE;
    if (st == NC_SUCCESS && layer > 0) {
        Hl = (double *)malloc(model->d * model->N * sizeof(double));
        C = (double *)malloc(model->K * model->d * sizeof(double));
        st = Hl && C ? NC_SUCCESS : NC_ERR_OUT_OF_MEMORY;
        if (st == NC_SUCCESS) st = nc_model_get_layer_features(model, layer, Hl, model->d);
        if (st == NC_SUCCESS) st = nc_model_get_layer_classifier(model, layer, C, model->d);
        H = Hl;
        W = C;
    }
    if (st == NC_SUCCESS) st = nc_stream_create(&s, model->d, model->K);
    /* a handle without NC1: streams without its scatter (the same other bits) */
    if (st == NC_SUCCESS && nc__metrics_nc1_path(metrics) == NC_NC1_PATH_NONE)
        st = nc_stream_set_nc1_path(s, NC_NC1_PATH_NONE);
    if (st == NC_SUCCESS) st = nc_stream_set_classifier(s, W, model->d, model->bias ? model->b : NULL);
    if (st == NC_SUCCESS) st = nc_stream_add(s, model->N, H, model->d, model->labels);
    if ((st = nc__mpi_agree(sh->comm, st)) != NC_SUCCESS) goto done;
    if ((st = nc_mpi_stream_reduce(s, sh->comm)) != NC_SUCCESS) goto done;
    st = nc_stream_next_pass(s);
    if (st == NC_SUCCESS) st = nc_stream_add(s, model->N, H, model->d, model->labels);
    if ((st = nc__mpi_agree(sh->comm, st)) != NC_SUCCESS) goto done;
    if ((st = nc_mpi_stream_reduce(s, sh->comm)) != NC_SUCCESS) goto done;
    {
        /* local, and it may fail on one rank alone (no memory): agreed */
        const nc_status mine = nc_metrics_compute_stream(metrics, s);
        st = nc__mpi_agree(sh->comm, mine);
        if (st != NC_SUCCESS && mine == NC_SUCCESS) /* no values here either */
            nc__metrics_fail(metrics, st, "nc_mpi_metrics_compute: the metrics failed on another rank");
    }
done:
    nc_stream_destroy(s);
    free(Hl);
    free(C);
    return st;
}

NC_API nc_status nc_mpi_metrics_compute(nc_metrics *metrics, nc_model *model)
{
    if (!model || !model->shard) return NC_ERR_NULL_ARGUMENT; /* no communicator to agree on */
    return nc__mpi_shard_metrics(model->shard, metrics, model, 0);
}

/*
 * mpi/mpi_checkpoint.c - checkpoints of shard models: one file per rank,
 * "<path>.rank<r>", each the serial checkpoint of the rank's model and
 * optimizer (io/checkpoint.c: the shard's columns of H, labels and
 * optimizer buffers, and the replicated W, b, layers, options, counters
 * and small buffers) preceded by a shard section: the number of ranks, the
 * rank, the shard's offset and size, N, K, the global class counts and the
 * save's token (the same in every file of one save).
 *
 * A load first checks every rank's file without changing anything, agrees
 * on the outcome (the failure of the lowest failing rank, with its message,
 * on every rank), compares the tokens, and only then reads.
 */
#include "mpi_internal.h"

#include "io/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct shard_ckpt {
    nc__mpi_shard *sh;
    const nc_model *m;
    uint64_t token; /* WRITE: written; CHECK, READ: the file's */
} shard_ckpt;

static void visit_shard(nc__ser *s, void *ctx)
{
    shard_ckpt *c = (shard_ckpt *)ctx;
    const nc_model *m = c->m;
    const uint64_t ranks = nc__ser_raw(s, (uint64_t)c->sh->size);
    const uint64_t rank = nc__ser_raw(s, (uint64_t)c->sh->rank);
    char what[NC_MSG_SIZE];
    size_t k;
    if (nc__ser_loading(s) && ranks != (uint64_t)c->sh->size) {
        snprintf(what, sizeof what, "saved by %llu ranks, loaded by %d: resume on as many ranks",
                 (unsigned long long)ranks, c->sh->size);
        nc__ser_fail(s, NC_ERR_MISMATCH, what);
    }
    if (nc__ser_loading(s) && rank != (uint64_t)c->sh->rank) {
        snprintf(what, sizeof what, "the file of rank %llu, loaded by rank %d",
                 (unsigned long long)rank, c->sh->rank);
        nc__ser_fail(s, NC_ERR_MISMATCH, what);
    }
    nc__ser_expect(s, c->sh->offset, "the shard's first sample (offset) differs");
    nc__ser_expect(s, m->N, "the shard's number of samples differs");
    nc__ser_expect(s, m->shard->N_total, "the global number of samples N differs");
    nc__ser_expect(s, m->K, "the number of classes K differs");
    for (k = 0; k < m->K && s->status == NC_SUCCESS; k++)
        nc__ser_expect(s, m->counts[k], "the global class counts differ");
    c->token = nc__ser_raw(s, c->token);
}

/* The same status on every rank: that of the lowest rank that failed, and
 * its message ("rank r: ...") in msg (NC_MSG_SIZE) on every rank. */
static nc_status agree_named(nc__mpi_shard *sh, nc_status st, char *msg)
{
    int *all = (int *)malloc((size_t)sh->size * sizeof(int)), mine = (int)st, r, first = -1;
    char text[NC_MSG_SIZE];
    if (!all) return nc__mpi_agree(sh->comm, NC_ERR_OUT_OF_MEMORY);
    if (MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, sh->comm) != MPI_SUCCESS) {
        free(all);
        return NC_ERR_IO;
    }
    for (r = 0; r < sh->size && first < 0; r++)
        if (all[r] != (int)NC_SUCCESS) first = r;
    if (first < 0) {
        free(all);
        return NC_SUCCESS;
    }
    st = (nc_status)all[first];
    free(all);
    if (sh->rank == first) snprintf(text, sizeof text, "rank %d: %.230s", first, msg);
    if (MPI_Bcast(text, (int)sizeof text, MPI_CHAR, first, sh->comm) != MPI_SUCCESS) return NC_ERR_IO;
    text[sizeof text - 1] = '\0';
    memcpy(msg, text, sizeof text);
    return st;
}

/* "<path>.rank<r>" (free it), NULL without memory. */
static char *rank_path(const char *path, int rank)
{
    const size_t n = strlen(path) + 32;
    char *p = (char *)malloc(n);
    if (p) snprintf(p, n, "%s.rank%d", path, rank);
    return p;
}

/* A shard model, else no communicator to agree on: NC_ERR_UNSUPPORTED,
 * local. */
static nc_status entry(nc_model *model, const char *who)
{
    if (!model) return NC_ERR_NULL_ARGUMENT;
    if (!model->shard)
        return nc__fail(model->msg, NC_ERR_UNSUPPORTED, "%s: the model is not a shard "
                        "(nc_checkpoint_save and nc_checkpoint_load take a whole model)", who);
    return NC_SUCCESS;
}

NC_API nc_status nc_mpi_checkpoint_save(const char *path, nc_model *model,
                                        const nc_optimizer *optimizer)
{
    nc__mpi_shard *sh;
    shard_ckpt c;
    char *file = NULL;
    nc_status st = entry(model, "nc_mpi_checkpoint_save");
    if (st != NC_SUCCESS) return st;
    sh = (nc__mpi_shard *)model->shard;
    model->msg[0] = '\0';
    if (!path)
        st = nc__fail(model->msg, NC_ERR_NULL_ARGUMENT, "nc_mpi_checkpoint_save: path is NULL");
    else if (optimizer && optimizer->model != model)
        st = nc__fail(model->msg, NC_ERR_MISMATCH,
                      "nc_mpi_checkpoint_save: the optimizer belongs to another model");
    else if (!(file = rank_path(path, sh->rank)))
        st = nc__fail(model->msg, NC_ERR_OUT_OF_MEMORY, "nc_mpi_checkpoint_save: no memory");
    if ((st = agree_named(sh, st, model->msg)) != NC_SUCCESS) goto done;
    /* the save's token: rank 0's clock, process and state, the same in every file */
    c.sh = sh;
    c.m = model;
    c.token = 0;
    if (sh->rank == 0) {
        uint64_t seed[4];
        seed[0] = (uint64_t)time(NULL);
        seed[1] = (uint64_t)clock();
        seed[2] = (uint64_t)getpid();
        seed[3] = optimizer ? (uint64_t)optimizer->iterations : 0u;
        c.token = nc__fnv1a((const unsigned char *)seed, sizeof seed) ^
                  nc__fnv1a((const unsigned char *)model->small,
                            (model->n_hidden + model->d * model->K) * sizeof(double));
    }
    if ((st = NC__MPI_OK(MPI_Bcast(&c.token, 1, MPI_UINT64_T, 0, sh->comm))) != NC_SUCCESS)
        goto done;
    st = nc__checkpoint_save_shard(file, model, optimizer, visit_shard, &c);
    st = agree_named(sh, st, model->msg);
done:
    free(file);
    return st;
}

NC_API nc_status nc_mpi_checkpoint_load(const char *path, nc_model *model, nc_optimizer *optimizer)
{
    nc__mpi_shard *sh;
    shard_ckpt c;
    char *file = NULL;
    uint64_t *tokens = NULL;
    int r;
    nc_status st = entry(model, "nc_mpi_checkpoint_load");
    if (st != NC_SUCCESS) return st;
    sh = (nc__mpi_shard *)model->shard;
    model->msg[0] = '\0';
    c.sh = sh;
    c.m = model;
    c.token = 0;
    if (!path)
        st = nc__fail(model->msg, NC_ERR_NULL_ARGUMENT, "nc_mpi_checkpoint_load: path is NULL");
    else if (!(file = rank_path(path, sh->rank)) ||
             !(tokens = (uint64_t *)malloc((size_t)sh->size * sizeof *tokens)))
        st = nc__fail(model->msg, NC_ERR_OUT_OF_MEMORY, "nc_mpi_checkpoint_load: no memory");
    else /* the optimizer's model is checked there */
        st = nc__checkpoint_load_shard(file, model, optimizer, visit_shard, &c, 1);
    if ((st = agree_named(sh, st, model->msg)) != NC_SUCCESS) goto done;
    /* every file of one save */
    if ((st = NC__MPI_OK(MPI_Allgather(&c.token, 1, MPI_UINT64_T, tokens, 1, MPI_UINT64_T,
                                       sh->comm))) != NC_SUCCESS)
        goto done;
    for (r = 1; r < sh->size; r++)
        if (tokens[r] != tokens[0]) {
            st = nc__fail(model->msg, NC_ERR_MISMATCH, "nc_mpi_checkpoint_load: the files of "
                          "rank 0 and rank %d are from different saves of %.150s", r, path);
            goto done;
        }
    /* every rank's file is valid and of the same save: read (a failure now,
     * such as no memory for a buffer, leaves the ranks in different states) */
    st = nc__checkpoint_load_shard(file, model, optimizer, visit_shard, &c, 0);
    st = agree_named(sh, st, model->msg);
done:
    free(file);
    free(tokens);
    return st;
}

/*
 * mpi/mpi_internal.h - what the sources of libncollapse_mpi share: the
 * shard of a model (model/model.h's nc__shard hooks implemented on a
 * communicator) and the collective helpers. Private; never installed.
 */
#ifndef NC_MPI_INTERNAL_H
#define NC_MPI_INTERNAL_H

#include "ncollapse_mpi.h"
#include "model/model.h"

typedef struct nc__mpi_shard {
    nc__shard base; /* first: the model's hooks see a nc__shard * */
    MPI_Comm comm;  /* the library's duplicate of the caller's communicator */
    int rank, size;
    size_t offset;  /* the shard's first sample in the global problem */
    /* Buffers of the reductions, grown on demand (the first step) and kept. */
    double *buf_a, *buf_b, *buf_c;
    size_t cap_a, cap_b, cap_c;
    size_t parts; /* parts of all ranks, found by the reserve before each merge */
    int *counts;                       /* parts of each rank */
    int *scounts, *sdispls, *rcounts, *rdispls; /* size each */
} nc__mpi_shard;

/* NC_ERR_IO unless MPI_SUCCESS. */
#define NC__MPI_OK(call) ((call) == MPI_SUCCESS ? NC_SUCCESS : NC_ERR_IO)

/* The lowest status of the ranks (MPI failure: NC_ERR_IO). */
nc_status nc__mpi_agree(MPI_Comm comm, nc_status st);
/* Grow *buf to n doubles (contents not kept); 0 on success. */
int nc__mpi_reserve(double **buf, size_t *cap, size_t n);
/* The shard's metrics hook (nc__shard.metrics, mpi_stream.c). */
nc_status nc__mpi_shard_metrics(nc__shard *base, nc_metrics *metrics, const nc_model *model,
                                size_t layer);

#endif /* NC_MPI_INTERNAL_H */

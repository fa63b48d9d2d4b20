/*
 * mpi_harness.h - the summary of a test program run on several ranks: the
 * checks of every rank are counted (harness.h counts each rank's own), rank
 * 0 prints one line "<program> (np R): N passed, M failed", and every rank
 * exits with the same code.
 */
#ifndef NC_TEST_MPI_HARNESS_H
#define NC_TEST_MPI_HARNESS_H

#include <mpi.h>

#include "../harness.h"

static inline int nc_test_mpi_summary(const char *program, MPI_Comm comm)
{
    int mine[2], all[2], rank, size;
    mine[0] = nc_test_passed_;
    mine[1] = nc_test_failed_;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    MPI_Allreduce(mine, all, 2, MPI_INT, MPI_SUM, comm);
    if (rank == 0) {
        printf("%s (np %d): %d passed, %d failed\n", program, size, all[0], all[1]);
        if (all[0] + all[1] == 0) fprintf(stderr, "%s: no checks ran\n", program);
    }
    return (all[1] || all[0] + all[1] == 0) ? 1 : 0;
}

#endif

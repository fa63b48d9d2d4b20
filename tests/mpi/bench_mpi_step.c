/*
 * bench_mpi_step.c - seconds per gradient-descent step of a shard model
 * at (K, d, N) = (10, 512, 200000) and (100, 512, 200000):
 *   --serial  the serial library (one thread) and the memory bandwidth
 *             bound of the step (H read and written once);
 *   default   strong scaling (N split over the ranks) and weak scaling
 *             (N per rank), the step's time the slowest rank's, and the
 *             reduction of the pass alone (the merge of gP, gb and the sums).
 * Run by `make bench-mpi` on 1 and 2 ranks (OPENBLAS_NUM_THREADS=1).
 */
#include "ncollapse_mpi.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 512, NTOTAL = 200000, STEPS = 8 };

static double now(void) { return MPI_Wtime(); }

/* Read and write n doubles once (the traffic of a GD step's pass). */
static double bandwidth_bound(size_t n)
{
    double *x = (double *)malloc(n * sizeof(double)), t, best = 1e30;
    size_t i, r;
    for (i = 0; i < n; i++) x[i] = 1.0;
    for (r = 0; r < 3; r++) {
        t = now();
        for (i = 0; i < n; i++) x[i] = 0.999 * x[i];
        t = now() - t;
        if (t < best) best = t;
    }
    free(x);
    return best;
}

static double serial_step(size_t K)
{
    size_t counts[100], k;
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    double t, best = 1e30;
    int s;
    for (k = 0; k < K; k++) counts[k] = NTOTAL / K;
    nc_model_create_counts(&m, D, K, counts);
    nc_model_init_gaussian(m, 0.1, 1);
    nc_optimizer_create(&o, m, NC_OPT_GD);
    nc_optimizer_step(o);
    for (s = 0; s < STEPS; s++) {
        t = now();
        nc_optimizer_step(o);
        t = now() - t;
        if (t < best) best = t;
    }
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return best;
}

/* The slowest rank's best time of a step and of the reduction alone. */
static void shard_step(MPI_Comm comm, size_t K, size_t n, double *step, double *reduce)
{
    int32_t *labels = (int32_t *)calloc(n ? n : 1, sizeof(int32_t));
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    double t, best = 1e30, rbest = 1e30, gb[100];
    nc__sum sums[7];
    size_t i;
    int s;
    for (i = 0; i < n; i++) labels[i] = (int32_t)(i % K);
    if (nc_mpi_model_create(&m, comm, D, K, n, labels, NULL, 0) != NC_SUCCESS) MPI_Abort(comm, 1);
    for (i = 0; i < D * n; i++) m->H[i] = 0.01 * (double)(i % 7);
    nc_optimizer_create(&o, m, NC_OPT_GD);
    nc_optimizer_step(o);
    for (s = 0; s < STEPS; s++) {
        MPI_Barrier(comm);
        t = now();
        nc_optimizer_step(o);
        t = now() - t;
        MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, comm);
        if (t < best) best = t;
    }
    for (s = 0; s < 20; s++) {
        MPI_Barrier(comm);
        t = now();
        m->shard->merge(m->shard, m, 1, gb, sums);
        t = now() - t;
        MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, comm);
        if (t < rbest) rbest = t;
    }
    *step = best;
    *reduce = rbest;
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    free(labels);
}

int main(int argc, char **argv)
{
    static const size_t Ks[2] = {10, 100};
    int rank, size, k;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc > 1 && strcmp(argv[1], "--serial") == 0) {
        const double bw = bandwidth_bound((size_t)D * NTOTAL);
        printf("bench_mpi_step: serial library, 1 thread; bandwidth bound of a step (H read and "
               "written once, %.2f GB): %.4f s\n", 2.0 * D * NTOTAL * 8 / 1e9, bw);
        for (k = 0; k < 2; k++)
            printf("  K %3zu, d %d, N %d: serial step %.4f s (%.2fx the bandwidth bound)\n", Ks[k],
                   D, NTOTAL, serial_step(Ks[k]), serial_step(Ks[k]) / bw);
        MPI_Finalize();
        return 0;
    }
    for (k = 0; k < 2; k++) {
        double st, rs, wt, rw;
        const size_t n_strong = NTOTAL / (size_t)size + ((size_t)rank < NTOTAL % (size_t)size);
        shard_step(MPI_COMM_WORLD, Ks[k], n_strong, &st, &rs);
        shard_step(MPI_COMM_WORLD, Ks[k], NTOTAL, &wt, &rw);
        if (rank == 0)
            printf("  np %d, K %3zu, d %d: strong (N %d) step %.4f s, reduction %.6f s (%.1f%%); "
                   "weak (N %d per rank) step %.4f s; reduction bytes per rank per step %.0f\n",
                   size, Ks[k], D, NTOTAL, st, rs, 100.0 * rs / st, NTOTAL, wt,
                   2.0 * (double)(D * Ks[k] + Ks[k] + 14) * 8.0 * (size - 1) / size);
    }
    MPI_Finalize();
    return 0;
}

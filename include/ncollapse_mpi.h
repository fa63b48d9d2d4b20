/*
 * ncollapse_mpi.h - libncollapse_mpi: data-parallel unconstrained feature
 * models and sharded metrics on MPI, layered on libncollapse (ncollapse.h)
 * as FFTW's fftw3-mpi.h is on fftw3.h. Link with -lncollapse_mpi
 * -lncollapse and the MPI library (pkg-config ncollapse-mpi).
 *
 * Every function takes the communicator as an argument; the library never
 * uses MPI_COMM_WORLD and never calls MPI_Init or MPI_Finalize. It calls
 * MPI only from the thread that calls it (the model's worker threads never
 * do), so MPI_THREAD_FUNNELED is enough; MPI_THREAD_SINGLE is enough when
 * every model runs with one thread (nc_model_set_threads). Functions marked
 * "collective" must be called by every rank of the communicator, in the same
 * order, with the arguments the comment says must agree.
 *
 * Data-parallel model. Each rank holds a shard of the samples: its columns
 * of H and their labels. The class counts are global, and the layers, W and
 * b are replicated: every rank holds the same values and must make the same
 * calls on them (setters with the same values on every rank). The objective,
 * the gradients of the layers and of b, the gradient norm and every test of
 * the optimizers are reduced across the ranks, so nc_model_gradient,
 * nc_optimizer_step and nc_optimizer_run (GD, momentum, Nesterov, Adam,
 * L-BFGS and projected L-BFGS) give every rank the same values, and each
 * rank's H follows its columns of the one-process run. On a shard model the
 * nc_ functions that evaluate, step or measure the model
 * (nc_model_objective, nc_model_gradient, nc_model_gradient_vector,
 * nc_optimizer_step, nc_optimizer_run, nc_history_record,
 * nc_curvature_compute, nc_prediction_compare) are collective and work on
 * the global problem: a run's metrics history, the second-order check of
 * its stops, its escapes and its comparison with a prediction give every
 * rank the same values (docs/mpi.md says how close to the serial ones);
 * the others are local.
 *
 * Reproducibility. The pass over H is split into parts (the model's threads,
 * nc_model_set_threads); the partial sums of every part are added in global
 * part order, as the serial library adds its threads' partial sums. When the
 * shards are the parts of nc_mpi_partition, a run on R ranks with t threads
 * each is bit-identical to any other sharding of the same R t parts and,
 * for the first-order methods, to the serial library with R t threads (see
 * docs/mpi.md for what is measured). Other shardings agree to rounding.
 *
 * Errors. A collective function returns the same status on every rank: a
 * failure on one rank (a refused argument, no memory) is reported on every
 * rank, and no rank is left waiting in a collective. Mismatched shards (d,
 * K, the options that must agree) are detected at creation and named in the
 * message. MPI's own failures follow the communicator's error handler
 * (MPI_ERRORS_ARE_FATAL by default); with MPI_ERRORS_RETURN a failed MPI
 * call returns NC_ERR_IO.
 */
#ifndef NCOLLAPSE_MPI_H
#define NCOLLAPSE_MPI_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "ncollapse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the message buffers of nc_mpi_model_create, including the NUL. */
#define NC_MPI_MESSAGE_SIZE 256

/* The library's version (that of libncollapse it was built with). */
NC_API const char *nc_mpi_version_string(void);

/*
 * The worst status of all ranks: the lowest value (a failure, if any rank
 * failed). Collective. Use it after local calls whose failure on one rank
 * must stop every rank (nc_optimizer_create, nc_optimizer_set_momentum, a
 * setter given data that one rank may refuse).
 */
NC_API nc_status nc_mpi_agree(MPI_Comm comm, nc_status status);

/*
 * This rank's shard of N samples: the samples are split into parts, one
 * per thread of every rank (`threads` on this rank, >= 1; the ranks may
 * differ), N / parts each and one more for the first N % parts, in rank
 * order; *offset is the first sample of this rank and *count its number.
 * Collective (N must agree). NC_ERR_INVALID_SIZE if a rank would get no
 * sample (N < number of parts) or threads == 0; NC_ERR_SIZE_MISMATCH if the
 * ranks pass different N.
 */
NC_API nc_status nc_mpi_partition(MPI_Comm comm, size_t N, size_t threads, size_t *offset,
                                  size_t *count);

/*
 * Create a model that holds this rank's shard of a global problem: d and K
 * (the same on every rank), the shard's n samples and their labels (int32_t
 * in [0, K); a class may be absent from a shard, but every class must have a
 * sample on some rank). The global class counts and N are the sums over
 * the ranks; this rank's first sample is the sum of the n of the ranks
 * before it. The model copies comm (MPI_Comm_dup): the communicator may be
 * freed after this call, but the model must be destroyed (nc_model_destroy,
 * collective for a shard) before MPI_Finalize.
 *
 * The model starts as nc_model_create's (H = 0, W = 0, CE, no bias, ...);
 * every option and the replicated variables must then be set identically
 * on every rank. nc_model_copy refuses a shard (NC_ERR_UNSUPPORTED).
 * AllNC terms work on shards (their class means are reduced too).
 *
 * Collective. An empty shard (n == 0) is refused: NC_ERR_INVALID_SIZE on
 * every rank. Different d or K: NC_ERR_SIZE_MISMATCH; a class without a
 * sample anywhere: NC_ERR_EMPTY_CLASS; a label outside [0, K) on any rank:
 * NC_ERR_LABEL_OUT_OF_RANGE. The same status on every rank, *model = NULL
 * on failure, and when `message` is not NULL it receives up to message_size
 * bytes (NC_MPI_MESSAGE_SIZE is enough) naming the rank and the value.
 */
NC_API nc_status nc_mpi_model_create(nc_model **model, MPI_Comm comm, size_t d, size_t K, size_t n,
                                     const int32_t *labels, char *message, size_t message_size);

/* Whether the model is a shard (1) or a whole problem (0, also for NULL). */
NC_API int nc_mpi_model_is_shard(const nc_model *model);
/* The shard's first sample in the global problem (0 for a serial model). */
NC_API size_t nc_mpi_model_offset(const nc_model *model);
/* Samples of the global problem (nc_model_num_samples for a serial model;
 * nc_model_num_samples of a shard is its own n). */
NC_API size_t nc_mpi_model_total_samples(const nc_model *model);

/*
 * nc_model_init_gaussian of the global problem: every rank draws the whole
 * sequence of the serial call with the same seed (O(d N) draws per rank)
 * and keeps its columns of H, so the state equals the serial model's.
 * Collective (std and seed must agree; the status is agreed).
 */
NC_API nc_status nc_mpi_model_init_gaussian(nc_model *model, double std, uint64_t seed);

/*
 * Merge the stream accumulators of every rank (nc_stream_merge in rank
 * order), so that every rank holds the accumulator of all the samples, bit
 * for bit what one process merging the ranks' accumulators in rank order
 * holds. Use it after each pass: pass 1 on the shards, nc_mpi_stream_reduce,
 * nc_stream_next_pass, pass 2 on the shards, nc_mpi_stream_reduce, then
 * nc_metrics_compute_stream on any rank. The streams must agree on d, K,
 * the pass, the classifier and the NC1 path (nc_stream_set_nc1_path), and
 * in pass 2 on the pass-1 state (which the reduce after pass 1 ensures).
 * Collective; on failure every rank gets the same status, its stream is
 * unchanged, and nc_stream_last_error names the rank and what differs.
 */
NC_API nc_status nc_mpi_stream_reduce(nc_stream *stream, MPI_Comm comm);

/*
 * The metrics of a shard model (nc_metrics_compute of the global problem):
 * two streamed passes over each rank's H with the model's classifier (the
 * product P and b), reduced across the ranks. Every rank gets the same
 * values. They equal the serial nc_metrics_compute to rounding (about
 * 1e-14 relative), as nc_metrics_compute_stream does. A handle at
 * NC_NC1_PATH_NONE streams without NC1's scatter. Collective.
 */
NC_API nc_status nc_mpi_metrics_compute(nc_metrics *metrics, nc_model *model);

/*
 * Checkpoints of a shard model. nc_mpi_checkpoint_save writes one file per
 * rank, "<path>.rank<r>" (r the rank in the model's communicator): the
 * serial checkpoint (nc_checkpoint_save) of the rank's model and, when
 * optimizer != NULL, optimizer - its columns of H, labels and optimizer
 * buffers of its shard, and the replicated W, b, layers, options, counters
 * and small buffers - preceded by the shard's place: the number of ranks,
 * the rank, its first sample and count, N, K, the global class counts and
 * a token that is the same in every file of one save. Each file is
 * replaced atomically, but the set is not: a crash during a save may leave
 * files of two saves, which a load refuses. Files "<path>.rank<r>" of
 * ranks beyond the communicator's (from an earlier save on more ranks)
 * are left alone. Collective; NC_ERR_IO, NC_ERR_OUT_OF_MEMORY,
 * NC_ERR_MISMATCH (an optimizer of another model), the same on every rank.
 *
 * nc_mpi_checkpoint_load restores such a set into a shard model (and
 * optimizer) created as the saved one: the same number of ranks, the same
 * shard on each rank (offset, count, labels), the same algorithm; every
 * option and all state come from the files. A resumed run continues bit
 * for bit as the uninterrupted one. Every rank first checks its file
 * without changing anything; on any failure every rank returns the status
 * of the lowest rank that failed, and nc_model_last_error on every rank
 * gives that rank's message ("rank 2: checkpoint: ..."), with nothing
 * changed: a different number of ranks (NC_ERR_MISMATCH, "saved by 2
 * ranks, loaded by 3"), another shard or problem (NC_ERR_MISMATCH: offset,
 * count, N, K, class counts, labels, sizes), files of different saves
 * (NC_ERR_MISMATCH), a missing file (NC_ERR_IO), a serial checkpoint
 * (NC_ERR_MISMATCH), and every refusal of nc_checkpoint_load (format,
 * checksum, values). nc_checkpoint_load refuses a shard's file. Collective.
 *
 * Both return NC_ERR_UNSUPPORTED (local, no communication) for a model that
 * is not a shard, NC_ERR_NULL_ARGUMENT for a NULL model.
 */
NC_API nc_status nc_mpi_checkpoint_save(const char *path, nc_model *model,
                                        const nc_optimizer *optimizer);
NC_API nc_status nc_mpi_checkpoint_load(const char *path, nc_model *model,
                                        nc_optimizer *optimizer);

#ifdef __cplusplus
}
#endif

#endif /* NCOLLAPSE_MPI_H */

/*
 * io/checkpoint.h - the checkpoint of a shard of an MPI model (mpi/): the
 * serial checkpoint (checkpoint.c) with a section of the caller's before
 * the model's, marked by a flag bit. Never installed; nothing public
 * depends on it.
 */
#ifndef NC_CHECKPOINT_H
#define NC_CHECKPOINT_H

#include "io/serial.h"
#include "optim/optim.h"

/* nc_checkpoint_save with the section `shard` (a visitor of shard_ctx,
 * walked in every mode before the model's fields); shard == NULL is
 * nc_checkpoint_save itself. */
nc_status nc__checkpoint_save_shard(const char *path, nc_model *m, const nc_optimizer *opt,
                                    nc__ser_visitor shard, void *shard_ctx);
/* nc_checkpoint_load of such a file: the shard's section is visited in
 * CHECK mode (where it refuses what does not match) and in READ mode.
 * With check_only, stop after the CHECK visit: NC_SUCCESS when the load
 * would succeed, nothing changed. A file with a shard's section is refused
 * without `shard`, and one without with it (NC_ERR_MISMATCH). */
nc_status nc__checkpoint_load_shard(const char *path, nc_model *m, nc_optimizer *o,
                                    nc__ser_visitor shard, void *shard_ctx, int check_only);

#endif /* NC_CHECKPOINT_H */

/* common/threads.h - the worker threads of a model's pass. */
#ifndef NC_THREADS_H
#define NC_THREADS_H

#include "common/common.h"

/* Worker threads: nc__pool_run calls fn(ctx, t) for t = 0..threads-1, part 0
 * on the calling thread, and returns when all are done. */
typedef struct nc__pool nc__pool;
nc_status nc__pool_create(nc__pool **pool, size_t threads);
void nc__pool_run(nc__pool *pool, void (*fn)(void *ctx, size_t part), void *ctx);
void nc__pool_destroy(nc__pool *pool);
/* Within a job: the value of *counter, incremented, under the pool's lock
 * (pool NULL: no lock). Parts that take work items this way share them out
 * by speed; what an item computes must not depend on which part takes it. */
size_t nc__pool_take(nc__pool *pool, size_t *counter);

#endif /* NC_THREADS_H */

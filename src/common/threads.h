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

#endif /* NC_THREADS_H */

/*
 * threads.c - a model's worker threads for the pass.
 *
 * threads - 1 workers are created by nc_model_set_threads and joined by
 * nc_model_set_threads / nc_model_destroy; between passes they sleep on a
 * condition variable (no spinning: on machines whose hardware threads share
 * a core a spinning waiter would steal the cycles of the working one). The
 * calling thread always runs part 0. Which thread runs which part is fixed,
 * and nothing a part computes depends on timing, so results depend only on
 * the number of parts. Parts may also take work items from a shared counter
 * (nc__pool_take), when an item's result does not depend on its taker.
 *
 * Without POSIX threads (define NC_NO_THREADS) the parts run one after the
 * other on the calling thread, with the same results.
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "common/threads.h"

#include <stdlib.h>

#if !defined(NC_NO_THREADS)
#include <pthread.h>
#include <signal.h>

struct nc__worker {
    struct nc__pool *pool;
    size_t part;
};

struct nc__pool {
    size_t workers; /* threads - 1 */
    size_t started;
    pthread_t *tid;
    struct nc__worker *w;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation; /* one per job */
    size_t pending;           /* workers still running the current job */
    int quit;
    void (*fn)(void *, size_t);
    void *ctx;
};

static void *worker_main(void *arg)
{
    struct nc__worker *w = (struct nc__worker *)arg;
    struct nc__pool *p = w->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        void (*fn)(void *, size_t);
        void *ctx;
        while (p->generation == seen && !p->quit) pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit) break;
        seen = p->generation;
        fn = p->fn;
        ctx = p->ctx;
        pthread_mutex_unlock(&p->lock);
        fn(ctx, w->part);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void nc__pool_destroy(nc__pool *p)
{
    size_t i;
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->started; i++) pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->tid);
    free(p->w);
    free(p);
}

nc_status nc__pool_create(nc__pool **out, size_t threads)
{
    nc__pool *p;
    sigset_t all, old;
    size_t i;
    int ok = 1;
    *out = NULL;
    if (threads <= 1) return NC_SUCCESS;
    p = (nc__pool *)calloc(1, sizeof *p);
    if (!p) return NC_ERR_OUT_OF_MEMORY;
    p->workers = threads - 1;
    p->tid = (pthread_t *)calloc(p->workers, sizeof *p->tid);
    p->w = (struct nc__worker *)calloc(p->workers, sizeof *p->w);
    if (!p->tid || !p->w) {
        free(p->tid);
        free(p->w);
        free(p);
        return NC_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    /* Workers never handle the program's signals. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 0; i < p->workers && ok; i++) {
        p->w[i].pool = p;
        p->w[i].part = i + 1;
        if (pthread_create(&p->tid[i], NULL, worker_main, &p->w[i]) == 0)
            p->started++;
        else
            ok = 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) {
        nc__pool_destroy(p);
        return NC_ERR_OUT_OF_MEMORY;
    }
    *out = p;
    return NC_SUCCESS;
}

void nc__pool_run(nc__pool *p, void (*fn)(void *, size_t), void *ctx)
{
    if (!p) {
        fn(ctx, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->workers;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    fn(ctx, 0);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

size_t nc__pool_take(nc__pool *p, size_t *counter)
{
    size_t v;
    if (!p) return (*counter)++;
    pthread_mutex_lock(&p->lock);
    v = (*counter)++;
    pthread_mutex_unlock(&p->lock);
    return v;
}

#else /* NC_NO_THREADS */

struct nc__pool {
    size_t threads;
};

nc_status nc__pool_create(nc__pool **out, size_t threads)
{
    *out = NULL;
    if (threads <= 1) return NC_SUCCESS;
    *out = (nc__pool *)malloc(sizeof **out);
    if (!*out) return NC_ERR_OUT_OF_MEMORY;
    (*out)->threads = threads;
    return NC_SUCCESS;
}

void nc__pool_run(nc__pool *p, void (*fn)(void *, size_t), void *ctx)
{
    size_t t;
    for (t = 0; t < (p ? p->threads : 1); t++) fn(ctx, t);
}

size_t nc__pool_take(nc__pool *p, size_t *counter)
{
    (void)p;
    return (*counter)++;
}

void nc__pool_destroy(nc__pool *p) { free(p); }

#endif

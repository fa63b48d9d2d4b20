/*
 * mpi/mpi_model.c - shard models: creation on a communicator, the hooks
 * through which the serial pass and optimizers reduce across the ranks,
 * the partition of the samples and the Gaussian initialisation.
 *
 * The merge of the pass (the hook `merge`): each part (a thread of a rank)
 * has a vector [gP (d K) | gb (K) | 7 compensated sums (14)]. The vector is
 * cut into one segment per rank (the sums always in the last one); every
 * rank sends each segment of each of its parts to the segment's rank
 * (MPI_Alltoallv), which adds the parts in global part order exactly as the
 * serial pass adds its threads (gP_0 + gP_1 + ..., the sums by Neumaier
 * merges), and every rank gathers the merged segments (MPI_Allgatherv).
 * That is the traffic of a ring allreduce, about 2 (d K + K) doubles per
 * rank, with a reduction order that does not depend on the sharding.
 */
#include "mpi_internal.h"

#include "common/rng.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nc_status nc__mpi_agree(MPI_Comm comm, nc_status st)
{
    int in = (int)st, out = (int)st;
    if (MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return NC_ERR_IO;
    return (nc_status)out;
}

int nc__mpi_reserve(double **buf, size_t *cap, size_t n)
{
    double *p;
    if (n <= *cap) return 0;
    p = (double *)realloc(*buf, (n ? n : 1) * sizeof(double));
    if (!p) return 1;
    *buf = p;
    *cap = n;
    return 0;
}

NC_API nc_status nc_mpi_agree(MPI_Comm comm, nc_status status)
{
    return nc__mpi_agree(comm, status);
}

NC_API const char *nc_mpi_version_string(void) { return NC_VERSION_STRING; }

/* ---- hooks -------------------------------------------------------------------- */

#define NC__SUMS 7
#define NC__SUM_VALUES (2 * NC__SUMS)

/* The local number of parts of every rank into sh->counts; their sum. */
static nc_status parts_of_ranks(nc__mpi_shard *sh, size_t nparts, size_t *total)
{
    int p = (int)nparts, r;
    if (MPI_Allgather(&p, 1, MPI_INT, sh->counts, 1, MPI_INT, sh->comm) != MPI_SUCCESS)
        return NC_ERR_IO;
    *total = 0;
    for (r = 0; r < sh->size; r++) *total += (size_t)sh->counts[r];
    return NC_SUCCESS;
}

/* Segment s of [0, len) with the tail of `extra` values in the last one. */
static void segment(size_t len, size_t extra, int s, int R, size_t *lo, size_t *hi)
{
    *lo = len * (size_t)s / (size_t)R;
    *hi = len * (size_t)(s + 1) / (size_t)R;
    if (s == R - 1) *hi += extra;
}

/* The merge's buffers for the model's thread count, before the pass (a
 * failure agreed on every rank leaves the state unchanged); the parts of
 * every rank, which the merge then uses, into sh->parts. */
static nc_status shard_reserve(nc__shard *base, nc_model *m)
{
    nc__mpi_shard *sh = (nc__mpi_shard *)base;
    const size_t len = m->d * m->K + m->K, V = len + NC__SUM_VALUES;
    size_t P = 0;
    nc_status st;
    if ((st = parts_of_ranks(sh, m->threads, &P)) != NC_SUCCESS) return st;
    st = (nc__mpi_reserve(&sh->buf_a, &sh->cap_a, m->threads * V) ||
          nc__mpi_reserve(&sh->buf_b, &sh->cap_b, P * (len / (size_t)sh->size + 1 + NC__SUM_VALUES)) ||
          nc__mpi_reserve(&sh->buf_c, &sh->cap_c, V))
             ? NC_ERR_OUT_OF_MEMORY
             : NC_SUCCESS;
    if ((st = nc__mpi_agree(sh->comm, st)) != NC_SUCCESS) return st;
    sh->parts = P;
    return NC_SUCCESS;
}

static nc_status shard_merge(nc__shard *base, nc_model *m, int need_gP, double *gb, nc__sum sums[7])
{
    nc__mpi_shard *sh = (nc__mpi_shard *)base;
    const size_t dK = m->d * m->K, K = m->K, len = dK + K;
    const int R = sh->size;
    const size_t P = sh->parts; /* shard_reserve, called by the pass before it */
    size_t t, i, lo, hi, mylo, myhi, seg, p;
    int r, s;
    double *send, *recv, *merged;
    nc_status st;

    segment(len, NC__SUM_VALUES, sh->rank, R, &mylo, &myhi);
    seg = myhi - mylo;
    send = sh->buf_a;
    recv = sh->buf_b;
    merged = sh->buf_c;

    /* pack: by destination rank, then by local part */
    p = 0;
    for (s = 0; s < R; s++) {
        segment(len, NC__SUM_VALUES, s, R, &lo, &hi);
        sh->sdispls[s] = (int)p;
        for (t = 0; t < m->threads; t++) {
            const nc__pass_ws *w = &m->ws[t];
            const nc__sum *ps[NC__SUMS];
            ps[0] = &w->loss, ps[1] = &w->h2, ps[2] = &w->gh2, ps[3] = &w->nc1;
            ps[4] = &w->h2_new, ps[5] = &w->v2_new, ps[6] = &w->s2_new;
            for (i = lo; i < hi; i++) {
                double v;
                if (i < dK)
                    v = need_gP ? w->gP[i] : 0.0;
                else if (i < len)
                    v = w->gb[i - dK];
                else
                    v = (i - len) % 2 ? ps[(i - len) / 2]->c : ps[(i - len) / 2]->s;
                send[p++] = v;
            }
        }
        sh->scounts[s] = (int)(p - (size_t)sh->sdispls[s]);
    }
    /* receive: from every rank its parts' copies of my segment, which
     * arrive in global part order */
    p = 0;
    for (r = 0; r < R; r++) {
        sh->rdispls[r] = (int)p;
        sh->rcounts[r] = sh->counts[r] * (int)seg;
        p += (size_t)sh->rcounts[r];
    }
    st = NC__MPI_OK(MPI_Alltoallv(send, sh->scounts, sh->sdispls, MPI_DOUBLE, recv, sh->rcounts,
                                  sh->rdispls, MPI_DOUBLE, sh->comm));
    if ((st = nc__mpi_agree(sh->comm, st)) != NC_SUCCESS) return st;
    /* add the parts in global part order (recv is in that order) */
    for (i = 0; i < seg; i++) {
        const size_t gi = mylo + i;
        if (gi < len) {
            double acc = recv[i];
            for (p = 1; p < P; p++) acc += recv[p * seg + i];
            merged[i] = acc;
        }
    }
    if (myhi > len) { /* the sums: Neumaier merges of (s, c) in part order */
        size_t j;
        for (j = 0; j < NC__SUMS; j++) {
            nc__sum acc = {0.0, 0.0};
            for (p = 0; p < P; p++) {
                nc__sum_add(&acc, recv[p * seg + (len - mylo) + 2 * j]);
                nc__sum_add(&acc, recv[p * seg + (len - mylo) + 2 * j + 1]);
            }
            merged[len - mylo + 2 * j] = acc.s;
            merged[len - mylo + 2 * j + 1] = acc.c;
        }
    }
    /* every rank gets every merged segment */
    for (r = 0; r < R; r++) {
        segment(len, NC__SUM_VALUES, r, R, &lo, &hi);
        sh->rcounts[r] = (int)(hi - lo);
        sh->rdispls[r] = (int)lo;
    }
    memmove(send, merged, seg * sizeof(double));
    st = NC__MPI_OK(MPI_Allgatherv(send, (int)seg, MPI_DOUBLE, merged, sh->rcounts, sh->rdispls,
                                   MPI_DOUBLE, sh->comm));
    if (st != NC_SUCCESS) return st;
    if (need_gP) memcpy(m->gP, merged, dK * sizeof(double));
    memcpy(gb, merged + dK, K * sizeof(double));
    for (i = 0; i < NC__SUMS; i++) {
        sums[i].s = merged[len + 2 * i];
        sums[i].c = merged[len + 2 * i + 1];
    }
    return NC_SUCCESS;
}

static const double *shard_gather_parts(nc__shard *base, const double *local, size_t nparts,
                                        size_t nvals, size_t *parts_total)
{
    nc__mpi_shard *sh = (nc__mpi_shard *)base;
    size_t P = 0, p = 0;
    int r;
    nc_status st = parts_of_ranks(sh, nparts, &P);
    if (st != NC_SUCCESS) return NULL;
    st = nc__mpi_reserve(&sh->buf_c, &sh->cap_c, P * nvals) ? NC_ERR_OUT_OF_MEMORY : NC_SUCCESS;
    if (nc__mpi_agree(sh->comm, st) != NC_SUCCESS) return NULL;
    for (r = 0; r < sh->size; r++) {
        sh->rcounts[r] = sh->counts[r] * (int)nvals;
        sh->rdispls[r] = (int)p;
        p += (size_t)sh->rcounts[r];
    }
    if (MPI_Allgatherv(local, (int)(nparts * nvals), MPI_DOUBLE, sh->buf_c, sh->rcounts,
                       sh->rdispls, MPI_DOUBLE, sh->comm) != MPI_SUCCESS)
        return NULL;
    *parts_total = P;
    return sh->buf_c;
}

static nc_status shard_sum(nc__shard *base, double *x, size_t n)
{
    nc__mpi_shard *sh = (nc__mpi_shard *)base;
    const size_t R = (size_t)sh->size;
    size_t r, i;
    nc_status st;
    st = nc__mpi_reserve(&sh->buf_c, &sh->cap_c, R * n) ? NC_ERR_OUT_OF_MEMORY : NC_SUCCESS;
    if ((st = nc__mpi_agree(sh->comm, st)) != NC_SUCCESS) return st;
    if (n > (size_t)INT_MAX) return NC_ERR_INVALID_SIZE;
    if (MPI_Allgather(x, (int)n, MPI_DOUBLE, sh->buf_c, (int)n, MPI_DOUBLE, sh->comm) !=
        MPI_SUCCESS)
        return NC_ERR_IO;
    for (i = 0; i < n; i++) {
        double acc = sh->buf_c[i];
        for (r = 1; r < R; r++) acc += sh->buf_c[r * n + i];
        x[i] = acc;
    }
    return NC_SUCCESS;
}

static nc_status shard_max(nc__shard *base, double *x, size_t n)
{
    nc__mpi_shard *sh = (nc__mpi_shard *)base;
    if (n > (size_t)INT_MAX) return NC_ERR_INVALID_SIZE;
    return NC__MPI_OK(MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_MAX, sh->comm));
}

static nc_status shard_agree(nc__shard *base, nc_status st)
{
    return nc__mpi_agree(((nc__mpi_shard *)base)->comm, st);
}

static void shard_destroy(nc__shard *base)
{
    nc__mpi_shard *sh = (nc__mpi_shard *)base;
    int finalized = 0;
    if (!sh) return;
    MPI_Finalized(&finalized);
    if (!finalized && sh->comm != MPI_COMM_NULL) MPI_Comm_free(&sh->comm);
    free(sh->buf_a);
    free(sh->buf_b);
    free(sh->buf_c);
    free(sh->counts);
    free(sh->scounts);
    free(sh->sdispls);
    free(sh->rcounts);
    free(sh->rdispls);
    free(sh);
}

/* ---- creation ------------------------------------------------------------------ */

static void say(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!msg || cap == 0) return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* Gather one unsigned long long per rank into all (size values). */
static nc_status gather_u64(MPI_Comm comm, unsigned long long v, unsigned long long *all)
{
    return NC__MPI_OK(MPI_Allgather(&v, 1, MPI_UNSIGNED_LONG_LONG, all, 1,
                                    MPI_UNSIGNED_LONG_LONG, comm));
}

NC_API nc_status nc_mpi_model_create(nc_model **model, MPI_Comm comm, size_t d, size_t K, size_t n,
                                     const int32_t *labels, char *message, size_t message_size)
{
    int rank = 0, size = 0, r, bad_rank = -1;
    unsigned long long *all = NULL, *counts_ll = NULL, *local_counts = NULL;
    size_t *counts = NULL, total = 0, offset = 0, i, k;
    nc__mpi_shard *sh = NULL;
    nc_model *m = NULL;
    nc_status st = NC_SUCCESS;

    say(message, message_size, "%s", "");
    if (model) *model = NULL;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        return NC_ERR_IO;
    all = (unsigned long long *)calloc((size_t)size, sizeof *all);
    local_counts = (unsigned long long *)calloc(K ? K : 1, sizeof *local_counts);
    counts_ll = (unsigned long long *)calloc(K ? K : 1, sizeof *counts_ll);
    counts = (size_t *)calloc(K ? K : 1, sizeof *counts);
    if (!all || !local_counts || !counts_ll || !counts) st = NC_ERR_OUT_OF_MEMORY;
    else if (!model || (!labels && n > 0)) st = NC_ERR_NULL_ARGUMENT;
    if ((st = nc__mpi_agree(comm, st)) != NC_SUCCESS) {
        say(message, message_size, "nc_mpi_model_create: %s on some rank", nc_strerror(st));
        goto done;
    }

    /* d and K: the same on every rank, named if not */
    if ((st = gather_u64(comm, (unsigned long long)d, all)) != NC_SUCCESS) goto done;
    for (r = 1; r < size; r++)
        if (all[r] != all[0]) {
            say(message, message_size, "mismatched shards: d = %llu on rank 0 but %llu on rank %d",
                all[0], all[r], r);
            st = NC_ERR_SIZE_MISMATCH;
            goto done;
        }
    if ((st = gather_u64(comm, (unsigned long long)K, all)) != NC_SUCCESS) goto done;
    for (r = 1; r < size; r++)
        if (all[r] != all[0]) {
            say(message, message_size, "mismatched shards: K = %llu on rank 0 but %llu on rank %d",
                all[0], all[r], r);
            st = NC_ERR_SIZE_MISMATCH;
            goto done;
        }
    /* n: no empty shard; the offset and N */
    if ((st = gather_u64(comm, (unsigned long long)n, all)) != NC_SUCCESS) goto done;
    for (r = 0; r < size; r++) {
        if (all[r] == 0 && bad_rank < 0) bad_rank = r;
        if (r < rank) offset += (size_t)all[r];
        if (all[r] > SIZE_MAX - total) {
            st = NC_ERR_INVALID_SIZE;
            say(message, message_size, "the total number of samples overflows size_t");
            goto done;
        }
        total += (size_t)all[r];
    }
    if (bad_rank >= 0) {
        say(message, message_size, "rank %d holds an empty shard (n = 0): every rank needs a sample",
            bad_rank);
        st = NC_ERR_INVALID_SIZE;
        goto done;
    }
    if (d == 0 || K < 2) {
        say(message, message_size, "d = %zu, K = %zu: need d >= 1 and K >= 2", d, K);
        st = NC_ERR_INVALID_SIZE;
        goto done;
    }
    /* labels: in range on every rank, then the global counts */
    st = NC_SUCCESS;
    for (i = 0; i < n; i++) {
        if (labels[i] < 0 || (size_t)labels[i] >= K) {
            st = NC_ERR_LABEL_OUT_OF_RANGE;
            break;
        }
        local_counts[labels[i]]++;
    }
    if ((st = gather_u64(comm, (unsigned long long)(st == NC_SUCCESS ? 0 : i + 1), all)) !=
        NC_SUCCESS)
        goto done;
    for (r = 0; r < size; r++)
        if (all[r]) {
            say(message, message_size, "rank %d: label %llu of its shard is outside [0, %zu)", r,
                all[r] - 1, K);
            st = NC_ERR_LABEL_OUT_OF_RANGE;
            goto done;
        }
    if ((st = NC__MPI_OK(MPI_Allreduce(local_counts, counts_ll, (int)K, MPI_UNSIGNED_LONG_LONG,
                                       MPI_SUM, comm))) != NC_SUCCESS)
        goto done;
    for (k = 0; k < K; k++) {
        counts[k] = (size_t)counts_ll[k];
        if (counts[k] == 0) {
            say(message, message_size, "class %zu has no sample on any rank", k);
            st = NC_ERR_EMPTY_CLASS;
            goto done;
        }
    }

    /* the shard and the model, then the status agreed on */
    sh = (nc__mpi_shard *)calloc(1, sizeof *sh);
    if (sh) {
        sh->counts = (int *)calloc((size_t)size, sizeof(int));
        sh->scounts = (int *)calloc((size_t)size, sizeof(int));
        sh->sdispls = (int *)calloc((size_t)size, sizeof(int));
        sh->rcounts = (int *)calloc((size_t)size, sizeof(int));
        sh->rdispls = (int *)calloc((size_t)size, sizeof(int));
    }
    st = (sh && sh->counts && sh->scounts && sh->sdispls && sh->rcounts && sh->rdispls) ? NC_SUCCESS
                                                                       : NC_ERR_OUT_OF_MEMORY;
    if (sh) {
        sh->comm = MPI_COMM_NULL;
        sh->rank = rank;
        sh->size = size;
        sh->offset = offset;
        sh->base.N_total = total;
        sh->base.index = rank;
        sh->base.merge = shard_merge;
        sh->base.reserve = shard_reserve;
        sh->base.gather_parts = shard_gather_parts;
        sh->base.sum = shard_sum;
        sh->base.max = shard_max;
        sh->base.agree = shard_agree;
        sh->base.metrics = nc__mpi_shard_metrics;
        sh->base.destroy = shard_destroy;
    }
    if (st == NC_SUCCESS) st = nc__model_create_shard(&m, d, K, n, labels, counts, &sh->base);
    if ((st = nc__mpi_agree(comm, st)) != NC_SUCCESS) {
        say(message, message_size, "nc_mpi_model_create: %s on some rank", nc_strerror(st));
        if (m)
            nc_model_destroy(m); /* frees the shard (its comm is still MPI_COMM_NULL) */
        else if (sh)
            shard_destroy(&sh->base);
        m = NULL;
        goto done;
    }
    if (MPI_Comm_dup(comm, &sh->comm) != MPI_SUCCESS) {
        sh->comm = MPI_COMM_NULL;
        nc_model_destroy(m);
        m = NULL;
        st = NC_ERR_IO;
        goto done;
    }
    *model = m;
done:
    free(all);
    free(local_counts);
    free(counts_ll);
    free(counts);
    return st;
}

NC_API int nc_mpi_model_is_shard(const nc_model *model) { return model && model->shard ? 1 : 0; }

NC_API size_t nc_mpi_model_offset(const nc_model *model)
{
    return model && model->shard ? ((const nc__mpi_shard *)model->shard)->offset : 0;
}

NC_API size_t nc_mpi_model_total_samples(const nc_model *model)
{
    return model ? nc__model_total_samples(model) : 0;
}

NC_API nc_status nc_mpi_partition(MPI_Comm comm, size_t N, size_t threads, size_t *offset,
                                  size_t *count)
{
    int rank, size, r;
    unsigned long long pair[2], *all;
    size_t P = 0, first = 0, q, rem;
    nc_status st = NC_SUCCESS;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        return NC_ERR_IO;
    all = (unsigned long long *)calloc(2 * (size_t)size, sizeof *all);
    if (!all) st = NC_ERR_OUT_OF_MEMORY;
    else if (!offset || !count) st = NC_ERR_NULL_ARGUMENT;
    if ((st = nc__mpi_agree(comm, st)) != NC_SUCCESS) {
        free(all);
        return st;
    }
    pair[0] = (unsigned long long)N;
    pair[1] = (unsigned long long)threads;
    if (MPI_Allgather(pair, 2, MPI_UNSIGNED_LONG_LONG, all, 2, MPI_UNSIGNED_LONG_LONG, comm) !=
        MPI_SUCCESS) {
        free(all);
        return NC_ERR_IO;
    }
    for (r = 0; r < size; r++) {
        if (all[2 * r] != (unsigned long long)N) st = NC_ERR_SIZE_MISMATCH;
        if (all[2 * r + 1] == 0) st = st == NC_SUCCESS ? NC_ERR_INVALID_SIZE : st;
        if (r < rank) first += (size_t)all[2 * r + 1];
        P += (size_t)all[2 * r + 1];
    }
    free(all);
    if (st == NC_SUCCESS && N < P) st = NC_ERR_INVALID_SIZE;
    if (st != NC_SUCCESS) return st; /* the same on every rank: every rank saw all values */
    q = N / P;
    rem = N % P;
    /* parts [first, first + threads): part t starts at q t + min(t, rem) */
    *offset = q * first + (first < rem ? first : rem);
    {
        const size_t last = first + threads;
        *count = q * last + (last < rem ? last : rem) - *offset;
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_mpi_model_init_gaussian(nc_model *m, double std, uint64_t seed)
{
    nc__rng rng;
    nc__mpi_shard *sh;
    size_t i, n, lo, hi;
    nc_status st = NC_SUCCESS;
    if (!m || !m->shard) return NC_ERR_NULL_ARGUMENT; /* not collective: no shard, no comm */
    sh = (nc__mpi_shard *)m->shard;
    if (!isfinite(std)) st = NC_ERR_NON_FINITE;
    else if (std < 0) st = NC_ERR_INVALID_VALUE;
    if ((st = nc__mpi_agree(sh->comm, st)) != NC_SUCCESS) return st;
    /* the serial order of the draws: W_M (unless fixed), H, W_1 .. W_{M-1} */
    nc__rng_seed(&rng, seed);
    n = m->d * m->K;
    if (!m->fixed)
        for (i = 0; i < n; i++) m->Wc[i] = std * nc__rng_normal(&rng);
    lo = sh->offset * m->d;
    hi = lo + m->d * m->N;
    n = m->d * m->shard->N_total;
    for (i = 0; i < n; i++) {
        const double v = std * nc__rng_normal(&rng);
        if (i >= lo && i < hi) m->H[i - lo] = m->features == NC_FEATURES_RELU ? fabs(v) : v;
    }
    for (i = 0; i < m->n_hidden; i++) m->small[i] = std * nc__rng_normal(&rng);
    memset(m->b, 0, m->K * sizeof(double));
    nc__model_update_product(m);
    m->version++;
    return NC_SUCCESS;
}

/*
 * io/stream_file.c - nc_stream_save and nc_stream_load: a stream
 * accumulator (metrics/stream.c) through a versioned, checksummed file
 * (io/serial.h), validated on load.
 */
#include "metrics/metrics.h"
#include "io/serial.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- files -------------------------------------------------------------------- */

/*
 * A serial.h image: magic "NCSTRM\r\n", format version 3, flags below. The
 * payload: d, K, pass, has_W, has_b, W (d K, if has_W), b (K, if has_b), n1,
 * counts (K), amax, scale, mu (d K); in pass 2 also Q (d q), munrm (K), Wp
 * (d K) and bp (K) if has_W, zalpha, n2, counts2 (K), Ss and Sc (q q each),
 * mismatches, correct, logits_ok, and (format 2 on) the per-class sums of
 * ||x||^2 with their compensation (K each) and the per-class NC4 and
 * accuracy counts (K each). Format 1 files, without the per-class fields, are
 * refused. Sv = Ss + Sc is recomputed on load; the
 * workspace is not state.
 */
/* Version 3: the d x d scatter (q = d) from K >= 0.414 d on (version 2: K >= d).
 * Flag 1: no within-class scatter (NC_NC1_PATH_NONE; q = 0, so Q, Ss and Sc
 * are empty). Files without it are those of version 3 before the flag. */
#define NC_STREAM_FLAG_NO_NC1 1u
static const nc__ser_format stream_format = {"NCSTRM\r\n", 3u, NC_STREAM_FLAG_NO_NC1,
                                             "stream file"};

static void visit_stream(nc__ser *z, void *object)
{
    nc_stream *s = (nc_stream *)object;
    const size_t d = s->d, K = s->K, q = s->q;
    nc__ser_expect(z, d, "the feature dimension d differs");
    nc__ser_expect(z, K, "the number of classes K differs");
    /* In READ mode these assign s, so what follows depends on the file. */
    nc__ser_enum(z, &s->pass, 2, "the pass is not 1 or 2");
    nc__ser_enum(z, &s->has_W, 1, "the classifier flag is not 0 or 1");
    nc__ser_enum(z, &s->has_b, 1, "the bias flag is not 0 or 1");
    if (z->status == NC_SUCCESS && s->has_b && !s->has_W) {
        nc__ser_fail(z, NC_ERR_FORMAT, "a bias without a classifier");
        return;
    }
    if (z->status == NC_SUCCESS && s->has_W && !nc__stream_classifier_memory(s)) {
        nc__ser_fail(z, NC_ERR_OUT_OF_MEMORY, "no memory for the classifier");
        return;
    }
    if (s->has_W) nc__ser_f64s(z, s->W, d * K);
    if (s->has_b) nc__ser_f64s(z, s->b, K);
    nc__ser_size(z, &s->n1);
    nc__ser_sizes(z, s->counts, K);
    nc__ser_double(z, &s->amax);
    nc__ser_double(z, &s->scale);
    nc__ser_f64s(z, s->mu, d * K);
    if (s->pass != 2) return;
    nc__ser_f64s(z, s->Q, d * q);
    nc__ser_f64s(z, s->munrm, K);
    if (s->has_W) {
        nc__ser_f64s(z, s->Wp, d * K);
        nc__ser_f64s(z, s->bp, K);
    }
    nc__ser_double(z, &s->zalpha);
    nc__ser_size(z, &s->n2);
    nc__ser_sizes(z, s->counts2, K);
    nc__ser_f64s(z, s->Ss, q * q);
    nc__ser_f64s(z, s->Sc, q * q);
    nc__ser_size(z, &s->mismatches);
    nc__ser_size(z, &s->correct);
    nc__ser_enum(z, &s->logits_ok, 1, "the logits flag is not 0 or 1");
    nc__ser_f64s(z, s->vs, K);
    nc__ser_f64s(z, s->vc, K);
    nc__ser_sizes(z, s->cmis, K);
    nc__ser_sizes(z, s->ccor, K);
}

/* Sum of n counts into *sum; 0 if it overflows. */
static int sum_counts(const size_t *c, size_t n, size_t *sum)
{
    size_t k;
    *sum = 0;
    for (k = 0; k < n; k++) {
        if (c[k] > SIZE_MAX - *sum) return 0;
        *sum += c[k];
    }
    return 1;
}

/* The invariants the other functions keep, checked on a stream read from a
 * file (the checksum catches corruption, not a file written by other code):
 * NULL, or what is wrong. */
static const char *state_error(const nc_stream *s)
{
    const size_t d = s->d, K = s->K, q = s->q;
    size_t k, n;
    if (s->pass < 1) return "the pass is not 1 or 2";
    if (s->has_b && !s->has_W) return "a bias without a classifier";
    if (s->has_W && (!nc__all_finite(s->W, d * K) || !nc__all_finite(s->b, K)))
        return "the classifier is not finite";
    if (!sum_counts(s->counts, K, &n) || n != s->n1)
        return "the class counts do not add up to the number of samples";
    if (!(s->amax >= 0.0 && s->amax <= DBL_MAX) || s->scale != nc__pow2_scale(s->amax))
        return "the scale does not match the largest |h|";
    if (!nc__all_finite(s->mu, d * K)) return "the class means are not finite";
    if (s->pass == 1) return NULL;
    for (k = 0; k < K; k++) {
        if (s->counts[k] == 0) return "a class has no samples in pass 1";
        if (s->counts2[k] > s->counts[k]) return "pass 2 has more samples of a class than pass 1";
    }
    if (!sum_counts(s->counts2, K, &n) || n != s->n2)
        return "the pass-2 class counts do not add up to the number of samples";
    if (s->mismatches > s->n2 || s->correct > s->n2) return "the NC4 counts exceed the samples";
    for (k = 0; k < K; k++)
        if (s->cmis[k] > s->counts2[k] || s->ccor[k] > s->counts2[k])
            return "the per-class NC4 counts exceed the samples";
    if (!nc__all_finite(s->vs, K) || !nc__all_finite(s->vc, K))
        return "the per-class sums are not finite";
    for (k = 0; k < K; k++) /* sums of squares */
        if (!(s->vs[k] + s->vc[k] >= 0.0)) return "a per-class sum of squares is negative";
    if (!nc__all_finite(s->Q, d * q) || !nc__all_finite(s->munrm, K) ||
        !nc__all_finite(s->Ss, q * q) || !nc__all_finite(s->Sc, q * q) ||
        !(s->zalpha > 0.0 && s->zalpha <= DBL_MAX) ||
        (s->has_W && (!nc__all_finite(s->Wp, d * K) || !nc__all_finite(s->bp, K))))
        return "the pass-2 state is not finite";
    return NULL;
}

NC_API nc_status nc_stream_save(const char *path, nc_stream *stream)
{
    if (stream == NULL) return NC_ERR_NULL_ARGUMENT;
    stream->msg[0] = '\0';
    if (path == NULL)
        return nc__fail(stream->msg, NC_ERR_NULL_ARGUMENT, "stream file: path is NULL");
    return nc__ser_save(path, &stream_format, stream->no_nc1 ? NC_STREAM_FLAG_NO_NC1 : 0u,
                        visit_stream, stream, stream->msg);
}

NC_API nc_status nc_stream_load(const char *path, nc_stream *stream)
{
    nc_stream *s = stream, *t = NULL, old;
    unsigned char *image;
    size_t payload, i;
    uint32_t flags;
    nc__ser z;
    nc_status st;
    const char *bad;
    if (s == NULL) return NC_ERR_NULL_ARGUMENT;
    s->msg[0] = '\0';
    if (path == NULL) return nc__fail(s->msg, NC_ERR_NULL_ARGUMENT, "stream file: path is NULL");
    st = nc__ser_open(path, &stream_format, &image, &payload, &flags, s->msg);
    if (st != NC_SUCCESS) return st;
    /* READ into a fresh stream of the same sizes and the file's NC1 path;
     * s changes only once the whole file has been read and checked. */
    st = nc__stream_new_into(&t, s->d, s->K, (flags & NC_STREAM_FLAG_NO_NC1) != 0, s->msg);
    if (st != NC_SUCCESS) {
        free(image);
        return nc__fail(s->msg, st, "stream file: no memory to read %.150s", path);
    }
    nc__ser_begin(&z, NC_SER_READ, image, payload, &stream_format, s->msg);
    visit_stream(&z, t);
    free(image);
    st = z.status;
    if (st == NC_SUCCESS && z.pos != payload)
        st = nc__fail(s->msg, NC_ERR_FORMAT, "stream file: payload length does not match its "
                      "contents");
    if (st == NC_SUCCESS && (bad = state_error(t)) != NULL)
        st = nc__fail(s->msg, NC_ERR_FORMAT, "stream file: %.150s: %s", path, bad);
    if (st == NC_SUCCESS && t->pass < s->pass)
        st = nc__fail(s->msg, NC_ERR_MISMATCH, "stream file: %.150s holds a stream in pass %d, "
                      "this one is in pass %d (a stream never goes back a pass)", path, t->pass,
                      s->pass);
    if (st != NC_SUCCESS) {
        nc_stream_destroy(t);
        return st;
    }
    for (i = 0; i < t->q * t->q; i++) t->Sv[i] = t->Ss[i] + t->Sc[i];
    /* Swap whole handles: s takes the state read (its arrays point into its
     * new memory), t the old state, which is freed. */
    old = *s;
    *s = *t;
    *t = old;
    /* The threads and their scratch stay with the handle. */
    t->threads = s->threads;
    t->pool = s->pool;
    t->part = s->part;
    t->pmem = s->pmem;
    t->pcnt = s->pcnt;
    s->threads = old.threads;
    s->pool = old.pool;
    s->part = old.part;
    s->pmem = old.pmem;
    s->pcnt = old.pcnt;
    s->part[0].Z = s->Z;
    s->part[0].IP = s->IP;
    s->msg[0] = '\0';
    nc_stream_destroy(t);
    return NC_SUCCESS;
}

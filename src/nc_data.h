/*
 * nc_data.h - private definitions of the data layer (.npy files, streaming
 * metrics) and the parts of metrics.c that the streaming code shares.
 * Never installed; nothing public depends on it.
 */
#ifndef NC_DATA_H
#define NC_DATA_H

#include "nc_internal.h"

/* ---- .npy header ------------------------------------------------------------ */

/* Largest header text accepted (NumPy itself refuses more than 10000 bytes
 * by default; version 2.0 allows up to 4 GiB, which no real file needs). */
#define NC_NPY_MAX_HEADER ((size_t)1 << 20)

typedef struct nc__npy_header {
    unsigned version;       /* format major version: 1, 2 or 3 */
    size_t data_offset;     /* bytes before the data: magic, version, length, text */
    nc_npy_dtype dtype;
    size_t itemsize;        /* bytes per element */
    int big_endian;         /* byte order of the data (0 for 1-byte types) */
    int fortran_order;
    size_t ndim;            /* 1 or 2 */
    size_t rows, cols;      /* shape[0], and shape[1] (1 when ndim == 1) */
    uint64_t data_bytes;    /* rows * cols * itemsize, checked for overflow */
} nc__npy_header;

/*
 * Parse the start of a .npy file held in buf[0 .. len). On NC_SUCCESS, *h
 * describes the array. If buf is too short to hold the whole header,
 * returns NC_ERR_TRUNCATED and sets *needed to the number of bytes the
 * header needs (0 if even the fixed prefix is incomplete: then 12 bytes
 * suffice to learn it). Other failures: NC_ERR_FORMAT (magic, version,
 * header syntax, keys), NC_ERR_DTYPE, NC_ERR_UNSUPPORTED (ndim other than
 * 1 or 2), NC_ERR_INVALID_SIZE (byte count overflows). msg (NC_MSG_SIZE)
 * receives the details; it may be NULL. Never reads past buf[len - 1].
 */
nc_status nc__npy_parse_header(const unsigned char *buf, size_t len, nc__npy_header *h,
                               size_t *needed, char *msg);

/* ---- metrics shared with the streaming accumulators -------------------------- */

/* nc__pow2_scale and nc__amax_mat are in nc_internal.h (util.c). */

/*
 * Class means of a batch of n columns of H (ld ldh) scaled by s, in two
 * passes (the sum divided by the count, then the mean residual added back),
 * exactly as nc_metrics_compute_data does: counts (K) receive the class
 * counts, mu (d x K, ld d) the means of the scaled columns (0 for an empty
 * class), resid (d x K) is scratch. Labels must be valid.
 */
void nc__class_means(size_t d, size_t K, size_t n, const double *H, size_t ldh,
                     const int32_t *labels, double s, size_t *counts, double *mu, double *resid);

/*
 * W (K x d row-major, ld ldw) and b (K values, or NULL) scaled for the
 * logits as nc_metrics does: Wp (d x K column-major, ld d) = sW W^T,
 * bp = sZ b (zeros if b is NULL), *zalpha = sZ / sW, where sW brings
 * max|W| and sZ brings max(|W|, |b|) into [1/2, 1). Wp h zalpha + bp is then
 * sZ (W h + b).
 */
void nc__scale_classifier(size_t d, size_t K, const double *W, size_t ldw, const double *b,
                          double *Wp, double *bp, double *zalpha);

/*
 * NC4 and accuracy counts of a block of nb samples: Hraw the unscaled
 * columns (ld ldh), xh the same columns scaled by sH (d x nb, ld d), mu the
 * scaled class means (d x K) and munrm their norms, Wp, bp, zalpha from
 * nc__scale_classifier. Z and IP are K x nb scratch. Adds to *mismatches and
 * *correct; returns 0 if a logit overflowed (the counts are then invalid).
 */
int nc__nc4_block(size_t d, size_t K, size_t nb, const double *Hraw, size_t ldh,
                  const int32_t *labels, const double *xh, const double *mu,
                  const double *munrm, const double *Wp, const double *bp, double zalpha,
                  double *Z, double *IP, size_t *mismatches, size_t *correct);

/*
 * Everything the metrics need once the features have been summarised:
 * class counts and scaled means, the classifier, the within-class scatter
 * projected on an orthonormal basis Q of (at least) the span of the centred
 * means, and the NC4 / accuracy counts. The streaming accumulators hand this
 * to nc__metrics_from_summary, which shares every formula with
 * nc_metrics_compute_data.
 */
typedef struct nc__summary {
    size_t d, K, N;
    const size_t *counts; /* K, each >= 1, summing to N */
    const double *mu;     /* d x K class means of the features scaled by a power of two */
    const double *W;      /* K x d row-major (ld ldw), or NULL */
    size_t ldw;
    const double *b;      /* K values, or NULL */
    const double *Q;      /* d x q, ld d, orthonormal columns */
    size_t q;
    const double *S;      /* q x q, ld q: sum_i Q^T x_i x_i^T Q, x_i = scaled h_i - mu_{y_i} */
    int logits_ok;        /* 0 if a logit overflowed during the pass */
    size_t mismatches, correct;
} nc__summary;

/* Make every metric of the handle unavailable and record message. */
nc_status nc__metrics_fail(nc_metrics *m, nc_status status, const char *message);
/* Fill the handle's results from a summary (sizes already validated). */
nc_status nc__metrics_from_summary(nc_metrics *m, const nc__summary *s);

#endif /* NC_DATA_H */

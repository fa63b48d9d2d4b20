/*
 * metrics/metrics.h - what the in-memory metrics (metrics.c) share with the
 * streaming accumulators (stream.c), and the stream handle, whose files
 * io/stream_file.c reads and writes.
 * Never installed; nothing public depends on it.
 */
#ifndef NC_METRICS_H
#define NC_METRICS_H

#include "common/common.h"
#include "common/sum.h"

/* ---- metrics shared with the streaming accumulators -------------------------- */

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

/* ---- the streaming accumulator (stream.c; its files: io/stream_file.c) ---------- */

struct nc_stream {
    size_t d, K, q, block;
    int pass;

    /* Classifier (K x d row-major, ld d) and bias; copies. */
    int has_W, has_b;
    double *W, *b;

    /* Pass 1. */
    size_t n1;
    size_t *counts; /* K */
    double amax;    /* largest |h| seen */
    double scale;   /* nc__pow2_scale(amax): the units of mu */
    double *mu;     /* d x K class means of the scaled features */

    /* Frozen by nc_stream_next_pass. */
    double *Q;      /* d x q orthonormal basis of the span of the centred means */
    double *munrm;  /* K norms of the scaled means */
    double *Wp, *bp; /* scaled classifier (nc__scale_classifier) */
    double zalpha;

    /* Pass 2. */
    size_t n2;
    size_t *counts2; /* K */
    double *Ss, *Sc, *Sv; /* q x q: compensated sum, its compensation, their sum */
    size_t mismatches, correct;
    int logits_ok;

    /* Workspace (no allocation after creation). */
    size_t *bcounts; /* K */
    double *bmu, *bres; /* d x K each */
    double *tmpH, *tmpX; /* d x block */
    double *P;           /* q x block */
    double *Sb;          /* q x q */
    double *Z, *IP;      /* K x block */
    double *svdw;
    size_t lwork;

    double *mem; /* every double array above lives here */
    size_t mem_doubles;
    size_t *smem; /* every size_t array above */

    char msg[NC_MSG_SIZE];
};

#endif /* NC_METRICS_H */

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
#include "common/threads.h"

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
 * columns (ld ldh; or, with ldh == 0, NULL and the logits are taken from xh
 * with zalpha already divided by the features' scale), xh the same columns scaled by sH (d x nb, ld d), mu the
 * scaled class means (d x K) and munrm their norms, Wp, bp, zalpha from
 * nc__scale_classifier. Z and IP are K x nb scratch. Adds to *mismatches and
 * *correct, and per class to cls_mismatches and cls_correct (K each; may be
 * NULL); returns 0 if a logit overflowed (the counts are then invalid).
 */
int nc__nc4_block(size_t d, size_t K, size_t nb, const double *Hraw, size_t ldh,
                  const int32_t *labels, const double *xh, const double *mu,
                  const double *munrm, const double *Wp, const double *bp, double zalpha,
                  double *Z, double *IP, size_t *mismatches, size_t *correct,
                  size_t *cls_mismatches, size_t *cls_correct);

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
    const double *S;      /* q x q, ld q: sum_i Q^T x_i x_i^T Q, x_i = scaled h_i - mu_{y_i};
                           * NULL: no scatter (NC_NC1_PATH_NONE), no NC1 */
    int logits_ok;        /* 0 if a logit overflowed during the pass */
    size_t mismatches, correct;
    double scale;         /* the power of two the features were scaled by */
    const double *vsum;   /* K: sum over class k of ||x_i||^2 (scaled units) */
    const size_t *cls_mismatches, *cls_correct; /* K each (with W), or NULL */
    nc__pool *pool;       /* threads of the tiled pass when the metrics handle has none */
    size_t threads;       /* (0: one) */
} nc__summary;
/* S holds its upper triangle. If Q is NULL, S is the d x d scatter
 * sum_i x_i x_i^T itself (q = d), as the stream accumulates it when that is
 * the cheaper (nc__stream_uses_dxd). */

/* ---- the upper triangle of A A^T in BLAS calls (syrk_plan.c) ------------------- */

/* One call: rows r0 .. r0+nr-1 and columns c0 .. c0+nc-1 of the upper
 * triangle, a DSYRK when r0 == c0 (then nr == nc), a DGEMM otherwise. */
typedef struct nc__syrk_call {
    size_t r0, nr, c0, nc;
} nc__syrk_call;
/* The side T of the blocks for an n x n triangle: n in the fewest blocks of
 * at most cap (a multiple of 8), T a multiple of 8. */
size_t nc__syrk_side(size_t n, size_t cap);
/* The number of calls for side n and blocks of side T, and call i of them
 * (i < that number), about largest first. The list depends on n and T
 * alone; its calls cover every entry of the upper triangle once. */
size_t nc__syrk_calls(size_t n, size_t T);
nc__syrk_call nc__syrk_call_at(size_t n, size_t T, size_t i);
/* Run call c over k columns: C = A A^T (upper triangle) when c is a DSYRK,
 * else C = A B^T, where A holds the call's rows (c.nr x k, ld lda), B its
 * columns' rows (c.nc x k, ld ldb; unused by a DSYRK) and C its entry
 * (r0, c0) of the output (ld ldc). */
void nc__syrk_call_run(nc__syrk_call c, size_t k, const double *A, size_t lda, const double *B,
                       size_t ldb, double *C, size_t ldc);

/* ---- the tiled pairwise metrics (pairs.c) --------------------------------------- */

/* Count, mean and sum of squared deviations of a set of values. */
typedef struct nc__moments {
    double n, mean, m2;
} nc__moments;
/* Two-pass moments of x[0..n). */
void nc__moments_of(const double *x, size_t n, nc__moments *out);
/* a <- a merged with b (Chan's update). */
void nc__moments_merge(nc__moments *a, const nc__moments *b);

typedef struct nc__pairs_in {
    size_t d, K, tile;
    const double *mbar, *nrmM; /* d x K scaled centred means, their K norms */
    const double *V;           /* K within-class variances (scaled units) */
    const double *Wp, *nrmW;   /* d x K scaled W and row norms, or NULL */
    int means_ok, cols_ok, w_ok, rows_ok;
    int want_etf_means, want_etf_w, want_etf_wm;
    double gnM, gnW, gnWM;       /* Frobenius norms of the whole Grams */
    double etf_diag, etf_off;    /* entries of (I - J/K)/sqrt(K-1) */
    double shift;                /* 1/(K-1) */
} nc__pairs_in;

typedef struct nc__pairs_out {
    double etf_means, etf_w, etf_wm; /* the ETF distances (when wanted) */
    double abs_means, abs_w;         /* sums over pairs of |cos + 1/(K-1)| */
    nc__moments cos_means, cos_w, log_energy, riesz, cdnv;
    int zero_u, zero_mu; /* two unit vectors, or two means, coincide */
} nc__pairs_out;

/* Run the tiled pass on `threads` parts of pool (NULL: one), and side(side_ctx)
 * (unless side is NULL) once on one of them alongside: side must not touch
 * what the pass reads. side runs even when the pass fails. */
nc_status nc__pairs_run(const nc__pairs_in *in, nc__pool *pool, size_t threads,
                        void (*side)(void *ctx), void *side_ctx, nc__pairs_out *out);

/* The per-class table of the last compute: K rows of NC_CLASS_STAT_COUNT
 * values (NaN where unavailable), or NULL before a compute. */
const double *nc__metrics_classes(const nc_metrics *m, size_t *K);
char *nc__metrics_msg(nc_metrics *m);
/* The handle's NC1 path (nc_metrics_set_nc1_path). */
nc_nc1_path nc__metrics_nc1_path(const nc_metrics *m);

/* Make every metric of the handle unavailable and record message. */
nc_status nc__metrics_fail(nc_metrics *m, nc_status status, const char *message);
/* Fill the handle's results from a summary (sizes already validated). */
nc_status nc__metrics_from_summary(nc_metrics *m, const nc__summary *s);

/* ---- the streaming accumulator (stream.c; its files: io/stream_file.c) ---------- */

/* What one part (thread) of a batch computes on its own. */
typedef struct nc__stream_part {
    double amax;   /* largest |h| of its rows of the batch */
    int bad;       /* a NaN or Inf seen */
    int logits_ok; /* no logit overflowed */
    size_t mismatches, correct;
    double *Z, *IP;      /* K x block scratch of NC4 */
    size_t *cmis, *ccor; /* K each */
} nc__stream_part;

/* Width of the column chunks of the pass-2 projection, and the largest
 * side of the blocks of its scatter (nc_stream.tile): fixed by the sizes
 * alone, so that every entry comes from the same BLAS call whatever the
 * number of threads (the scatter's calls are nc__syrk_call_at's). */
#define NC_STREAM_STRIP 64
#define NC_STREAM_TILE 384
/* The most threads a stream runs (nc_stream_set_threads). */
#define NC_STREAM_MAX_THREADS 1024

struct nc_stream {
    size_t d, K, q, block;
    size_t sblock; /* columns per pass-2 block (block, or more for the d x d scatter) */
    size_t tile;   /* side of the scatter's blocks: nc__syrk_side(q, NC_STREAM_TILE) */
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
    double *Q;      /* d x q orthonormal basis of the span of the centred means
                     * (zero and unused with the d x d scatter) */
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

    /* Pass 2, per class: sums of ||x||^2 (compensated) and NC4 counts. */
    double *vs, *vc;             /* K each */
    size_t *cmis, *ccor;         /* K each */
    int raw_scatter;             /* S is the d x d scatter (K >= d): Q unused in pass 2 */
    int no_nc1;                  /* NC_NC1_PATH_NONE: no scatter at all (q = 0) */

    /* Threads (nc_stream_set_threads): parts of a batch's work, and what
     * each part keeps apart from the others until the parts are merged. */
    size_t threads;              /* >= 1 */
    nc__pool *pool;              /* threads - 1 workers, or NULL */
    struct nc__stream_part *part; /* threads */
    double *pmem;                /* Z and IP of parts 1.. (part 0 uses Z, IP) */
    size_t *pcnt;                /* 2 K per part: NC4 mismatches and correct per class */

    double *cmem; /* W, b, Wp, bp: allocated when a classifier is set */
    double *mem; /* every other double array above lives here */
    size_t mem_doubles;
    size_t *smem; /* every size_t array above */

    char msg[NC_MSG_SIZE];
};

/* A stream of d, K in pass 1 (nc_stream_create's), with no within-class
 * scatter if no_nc1; failures as nc_stream_create's. */
nc_status nc__stream_new(nc_stream **stream, size_t d, size_t K, int no_nc1);
/* The same, with a failure's reason in msg (a stream's message buffer)
 * instead of nc_create_last_error, which keeps the caller's reason. */
nc_status nc__stream_new_into(nc_stream **stream, size_t d, size_t K, int no_nc1, char *msg);
/* Give s `threads` parts (and a pool of threads - 1 workers); on failure s
 * keeps its previous threads. */
nc_status nc__stream_threads(nc_stream *s, size_t threads);
/* Whether the stream of d, K accumulates the d x d scatter (else the scatter
 * projected on the span of the centred means): the cheaper of the two. */
int nc__stream_uses_dxd(size_t d, size_t K);

/* Allocate the classifier arrays of s if it has none; 0 if memory is short. */
int nc__stream_classifier_memory(nc_stream *s);

#endif /* NC_METRICS_H */

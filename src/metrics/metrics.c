/*
 * metrics.c - the NC1-NC4 measures of neural collapse ("Metrics" in ncollapse.h).
 *
 * Choices this file makes beyond the header (docs/API.md should repeat them):
 *
 *  - Scaling. H is multiplied by a power of two (exact) so that its largest
 *    entry lies in [1/2, 1), and so is W; the logits W h + b are scaled by
 *    the power of two that brings max(|W|, |b|) there. Every metric is
 *    invariant under these scalings (NC4 and accuracy compare logits of the
 *    same sample, all scaled by the same factor), and they keep squared norms,
 *    Gram matrices and distances far from overflow and underflow, so data
 *    of magnitude 1e-300 or 1e300 gives the same numbers as data of magnitude 1.
 *  - Class means are computed in two passes: the sum divided by n_k, then the
 *    mean of the residuals added back, which removes most of the rounding of
 *    the first pass.
 *  - NC1 uses the thin SVD F = Mbar diag(sqrt(c_k)) = U S V^T, so that
 *    Sigma_B = U S^2 U^T, and keeps the directions with s_r^2 > rtol s_1^2.
 *    Then NC1 = (1/(K N)) sum_i sum_r ((u_r . (h_i - mu_{y_i})) / s_r)^2: cost
 *    O(N d r), no d x d matrix (when r >= 5 d / 8 the d x d scatter, one
 *    DSYRK per block, is cheaper and is used instead: nc1_uses_dxd). Columns
 *    of H are processed in blocks of B
 *    (d B and K B doubles of about 256 KB each, in the workspace); h_i - mu_{y_i}
 *    is formed before projecting, which keeps precision for nearly collapsed
 *    features. Squares are summed per direction r with the Neumaier
 *    accumulator, into srr[r] = u_r^T (sum_i x_i x_i^T) u_r; the final step
 *    NC1 = (1/(K N)) sum_r srr[r] / s_r^2 is shared with the streaming
 *    accumulators (stream.c), which obtain srr from the scatter projected on
 *    a basis of the span of the centred means (nc__metrics_from_summary).
 *  - Degenerate geometry never yields a silent NaN: the affected metrics are
 *    made unavailable (nc_metrics_get returns NC_ERR_UNAVAILABLE) and
 *    nc_metrics_last_error says why, while nc_metrics_compute still returns
 *    NC_SUCCESS with every other metric set. The cases:
 *      * all centred class means are zero to rounding (max_k ||mu_k - mu_G|| <=
 *        32 eps max_k ||mu_k||: they are then rounding noise, and Sigma_B = 0):
 *        NC1, every NC2 of the means, NC3 and NC3 (W Mbar) are unavailable;
 *      * one centred mean is zero to rounding (same test): its cosines are
 *        undefined, so the equiangle and max-angle measures of the means are;
 *      * a row of W is exactly zero: equiangle and max-angle of W unavailable;
 *      * W = 0: in addition equinorm and ETF of W, NC3 and NC3 (W Mbar);
 *      * W Mbar is zero to rounding (||W Mbar||_F <= 2 (d+2) eps ||W||_F
 *        ||Mbar||_F, e.g. W orthogonal to the means): NC3 (W Mbar);
 *      * a logit overflows (only if d max|h| exceeds about 1e308): NC4 and
 *        accuracy; an NC1 that overflows (rtol = 0 with a subnormal s_r): NC1.
 *  - K == 2 has a single pair of classes: the standard deviation of one
 *    cosine is defined as 0 (the n-1 denominator would give 0/0).
 *  - NC4: the logits come from one dgemm per block. The nearest class mean
 *    is the argmin of the squared distances computed directly,
 *    sum_t (h_t - mu_kt)^2, with ties to the smallest index. To avoid the
 *    direct O(d) sum for every class, the expansion ||h||^2 - 2 mu_k.h +
 *    ||mu_k||^2 (from one dgemm) screens the classes: a class is evaluated
 *    directly only if its expansion is within a rigorous rounding bound,
 *    4 (d+4) eps (||h|| + ||mu_k||)^2, of the smallest. The result is exactly
 *    the argmin of the direct distances. Argmax ties also go to the smallest
 *    index.
 *  - Messages: every compute clears the handle's message first, so after a
 *    compute it describes that compute (a failure, or the unavailable metrics).
 *    A failed compute leaves every metric unavailable.
 *  - nc_metrics_get stores NaN in *value when it returns NC_ERR_UNAVAILABLE.
 *  - With W == NULL, ldw and b are ignored. BLAS and LAPACK take int sizes,
 *    so d, K, ldh and ldw must be at most INT_MAX (NC_ERR_INVALID_SIZE
 *    otherwise); N is only limited by size_t.
 */
#include "metrics/metrics.h"
#include "model/model.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

struct nc_metrics {
    /* Conventions. */
    nc_global_mean global_mean;
    nc_between_weight between_weight;
    double pinv_rtol;
    nc_nc1_path nc1_path;

    /* Workspace: grows to the largest problem seen, never shrinks. */
    double *work;
    size_t work_cap; /* doubles */
    size_t *counts;  /* class counts of the current problem */
    size_t counts_cap;
    size_t *ccnt;    /* 2 K: per-class NC4 mismatches and correct decisions */
    double *vacc;    /* 2 K: per-class compensated sums of ||x||^2 */

    /* Tiles and threads of the pairwise pass. */
    size_t tile;     /* 0: automatic */
    size_t threads;  /* 0: the model's, or 1 */
    nc__pool *pool;  /* threads - 1 workers of the handle, or NULL */

    /* Per-class results of the last compute: cls_K rows of NC_CLASS_STAT_COUNT. */
    double *cls;
    size_t cls_cap, cls_K;
    unsigned char cls_available[NC_CLASS_STAT_COUNT];

    /* Results of the last compute. */
    double value[NC_METRIC_COUNT];
    unsigned char available[NC_METRIC_COUNT];

    char msg[NC_MSG_SIZE];
};

/* One name per metric, in the enum's order (nc_metric_name). */
static const char *const metric_names[] = {
    "nc1",
    "nc2_equinorm_means",
    "nc2_equinorm_w",
    "nc2_equiangle_means",
    "nc2_equiangle_w",
    "nc2_maxangle_means",
    "nc2_maxangle_w",
    "nc2_etf_means",
    "nc2_etf_w",
    "nc3",
    "nc3_wm_etf",
    "nc4",
    "accuracy",
    "nc1_trace_ratio",
    "nc1_cdnv_mean",
    "nc1_cdnv_cov",
    "gnc2_log_mean",
    "gnc2_log_var",
    "gnc2_riesz_mean",
    "gnc2_riesz_var",
    "unc3",
    "nc2_lognorm_means",
    "nc2_lognorm_w",
    "interference_means",
    "interference_w",
};

static const char *const class_stat_names[] = {
    "count", "mean_norm", "w_norm", "variance", "nc4", "accuracy", "duality",
};
typedef char nc__class_names_complete[sizeof class_stat_names / sizeof class_stat_names[0] ==
                                              NC_CLASS_STAT_COUNT ? 1 : -1];

/* K above which the automatic choice (tile 0) uses tiles, and their size. */
#define NC_METRICS_UNTILED_MAX_K 2048
#define NC_METRICS_DEFAULT_TILE 384
/* A metric added to the enum without a name here fails to compile. */
typedef char nc__metric_names_complete[sizeof metric_names / sizeof metric_names[0] ==
                                               NC_METRIC_COUNT ? 1 : -1];

/* Target of a block of columns: B columns of d doubles make about 256 KB. */
#define NC_METRICS_BLOCK_DOUBLES 32768

/* ---- small helpers --------------------------------------------------------- */



/* Append a note to a message buffer (NC_MSG_SIZE), "; "-separated,
 * truncated to fit. */
static void note_to(char *msg, const char *text)
{
    size_t len = strlen(msg);
    size_t i;
    if (len > 0 && len + 2 < NC_MSG_SIZE) {
        msg[len++] = ';';
        msg[len++] = ' ';
    }
    for (i = 0; text[i] != '\0' && len + 1 < NC_MSG_SIZE; i++) msg[len++] = text[i];
    msg[len] = '\0';
}

/* Append a note to the handle's message. */
static void note(nc_metrics *m, const char *text) { note_to(m->msg, text); }

static void set_value(nc_metrics *m, nc_metric which, double v)
{
    m->value[which] = v;
    m->available[which] = 1;
}

static double frob(const double *x, size_t n) { return sqrt(nc__norm2(x, n)); }

/* std (n-1 denominator) / mean of K values; the caller ensures mean > 0. */
static double std_over_mean(const double *x, size_t K)
{
    nc__sum s = {0.0, 0.0}, v = {0.0, 0.0};
    double mean;
    size_t k;
    for (k = 0; k < K; k++) nc__sum_add(&s, x[k]);
    mean = nc__sum_value(&s) / (double)K;
    for (k = 0; k < K; k++) nc__sum_add(&v, (x[k] - mean) * (x[k] - mean));
    return sqrt(nc__sum_value(&v) / (double)(K - 1)) / mean;
}

/* From the K x K matrix C of cosines (column-major, strict upper triangle
 * read): std (n-1 denominator; 0 for K == 2) and mean |cos + 1/(K-1)| over
 * the K(K-1)/2 distinct pairs. */
static void cosine_stats(const double *C, size_t K, double *equiangle, double *maxangle)
{
    nc__sum s = {0.0, 0.0}, v = {0.0, 0.0}, a = {0.0, 0.0};
    const double npairs = 0.5 * (double)K * (double)(K - 1);
    const double shift = 1.0 / (double)(K - 1);
    double mean;
    size_t j, k;
    for (k = 1; k < K; k++)
        for (j = 0; j < k; j++) {
            nc__sum_add(&s, C[j + k * K]);
            nc__sum_add(&a, fabs(C[j + k * K] + shift));
        }
    mean = nc__sum_value(&s) / npairs;
    for (k = 1; k < K; k++)
        for (j = 0; j < k; j++) {
            const double dev = C[j + k * K] - mean;
            nc__sum_add(&v, dev * dev);
        }
    *equiangle = K == 2 ? 0.0 : sqrt(nc__sum_value(&v) / (npairs - 1.0));
    *maxangle = nc__sum_value(&a) / npairs;
}

/* || G/||G||_F - (I - J/K)/sqrt(K-1) ||_F for a K x K matrix G with
 * ||G||_F = gnorm > 0. */
static double etf_distance(const double *G, size_t K, double gnorm)
{
    const double r = sqrt((double)(K - 1));
    const double diag = (1.0 - 1.0 / (double)K) / r;
    const double off = -1.0 / ((double)K * r);
    nc__sum s = {0.0, 0.0};
    size_t j, k;
    for (k = 0; k < K; k++)
        for (j = 0; j < K; j++) {
            const double dev = G[j + k * K] / gnorm - (j == k ? diag : off);
            nc__sum_add(&s, dev * dev);
        }
    return sqrt(nc__sum_value(&s));
}

/* G = A^T B for d x K column-major A, B with leading dimension d. */
static void gram(const double *A, const double *B, size_t d, size_t K, double *G)
{
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)K, (int)d, 1.0, A, (int)d,
                B, (int)d, 0.0, G, (int)K);
}

/* Columns of A (d x K, ld d) divided by their norms into Out. */
static void normalize_columns(const double *A, const double *norms, size_t d, size_t K,
                              double *Out)
{
    size_t k, t;
    for (k = 0; k < K; k++) {
        const double inv = 1.0 / norms[k];
        for (t = 0; t < d; t++) Out[k * d + t] = A[k * d + t] * inv;
    }
}

static double sqdist(const double *a, const double *b, size_t d)
{
    double s = 0.0;
    size_t t;
    for (t = 0; t < d; t++) {
        const double e = a[t] - b[t];
        s += e * e;
    }
    return s;
}

/* ---- workspace ---------------------------------------------------------------- */

/* Columns per block of the QR of the wide SVD (svd_centred_means). */
static size_t qr_block(size_t d) { return d < 128 ? d : 128; }

/* Pointers into the workspace for one problem. */
typedef struct layout {
    size_t p;     /* min(d, K): number of singular values */
    size_t block; /* columns per block */
    size_t lwork; /* LAPACK's workspace for the SVD of the centred means */
    int wide_qr;  /* that SVD as a QR and a d x d SVD (svd_centred_means) */
    double *mu;   /* d x K class means (scaled) */
    double *mbar; /* d x K centred means */
    double *T;    /* d x K scratch: residuals, normalised vectors, then F and U */
    double *Wp;   /* d x K scaled copy of W (column k = w_k) */
    double *G;    /* K x K Gram matrices (untiled only) */
    int untiled;  /* the NC2/NC3 metrics from whole K x K Grams */
    double *s;    /* p singular values */
    double *bp;   /* K scaled bias */
    double *nrmM; /* K norms of the centred means */
    double *nrmW; /* K norms of the rows of W */
    double *munrm; /* K norms of the (uncentred) means */
    double *V;     /* K within-class variances (scaled), for the tiled pass */
    double *tmpH; /* d x block scaled features */
    double *tmpX; /* d x block features minus their class means */
    double *P;    /* p x block projections */
    double *Z;    /* K x block logits */
    double *IP;   /* K x block inner products mu_k . h_i */
    double *acc;  /* 2 p: Neumaier sums (value, compensation) of the projected scatter */
    double *srr;  /* p: u_r^T (sum_i x_i x_i^T) u_r, r < rank */
    double *A;    /* q x rank (q <= d, rank <= p): Q^T U, or U, of a summary */
    double *B;    /* q x rank: S A */
    double *lwk;  /* lwork */
} layout;

static nc_status prepare_workspace(nc_metrics *m, size_t d, size_t K, size_t N, int have_W,
                                   int own_mu, int nc1, layout *L)
{
    size_t need = 0, big = d > K ? d : K;
    const size_t nG = L->untiled ? K : 0, nW = have_W ? d : 0, nmu = own_mu ? d : 0;
    /* Without NC1 (nc1 = 0: NC_NC1_PATH_NONE, or a stream without its
     * scatter) no SVD of the centred means runs: no LAPACK workspace, no R^T,
     * V^T, A or B (about 1.1 GB at d = 4096). */
    const size_t p = d < K ? d : K, nA = nc1 ? p : 0;
    double wq = 0.0, dummy = 0.0;
    lapack_int info;
    double *w;

    L->p = p;
    L->block = NC_METRICS_BLOCK_DOUBLES / big;
    if (L->block < 1) L->block = 1;
    if (L->block > N) L->block = N;

    /* The wide SVD (svd_centred_means) when LAPACK's 32-bit sizes allow
     * dgesdd's square workspace (at least 5 d^2 + 7 d: d up to about 20700);
     * beyond, dgesvd on F as for K <= d. */
    L->wide_qr = nc1 && K > d &&
                 5.0 * (double)d * (double)d + 7.0 * (double)d +
                         (double)qr_block(d) * (double)d <= (double)INT_MAX;
    if (!nc1) {
        wq = 1.0;
    } else if (L->wide_qr) {
        /* QR of F^T in blocks of nb columns, then the d x d SVD of R^T,
         * which needs R^T and V^T (d x d each) and 8 d integers. */
        const double nbd = (double)qr_block(d) * (double)d;
        double wsvd = 0.0;
        lapack_int idummy = 0;
        info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'O', (lapack_int)d, (lapack_int)d, &dummy,
                                   (lapack_int)d, &dummy, &dummy, (lapack_int)d, &dummy,
                                   (lapack_int)d, &wsvd, -1, &idummy);
        if (info != 0)
            return nc__fail(m->msg, NC_ERR_LAPACK, "SVD workspace query failed (info %d)",
                            (int)info);
        /* LAPACK's work: the SVD's, or the QR's nb x d; only it is passed
         * to LAPACK, so only it must fit its sizes (checked below). */
        wq = wsvd > nbd ? wsvd : nbd;
        if (!(wq >= 1.0)) wq = 1.0;
    } else {
        /* dgesvd of F (jobu = 'O': U overwrites F). */
        info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'O', 'N', (lapack_int)d, (lapack_int)K,
                                   &dummy, (lapack_int)d, &dummy, &dummy, 1, &dummy, 1, &wq, -1);
        if (info != 0)
            return nc__fail(m->msg, NC_ERR_LAPACK, "dgesvd workspace query failed (info %d)",
                            (int)info);
        if (!(wq >= 1.0)) wq = 1.0;
    }
    if (wq > (double)INT_MAX)
        return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "SVD workspace of %g doubles is too large",
                        wq);
    L->lwork = (size_t)wq;
    if (L->wide_qr) { /* + the QR's T (nb x d), R^T and V^T (2 d^2), 8 d lapack_int */
        size_t extra = 0;
        if (nc__size_mad(&extra, qr_block(d) + 8, d) || nc__size_mad(&extra, 2 * d, d) ||
            extra > SIZE_MAX - L->lwork)
            return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "SVD workspace of d = %zu overflows", d);
        L->lwork += extra;
    }

    if (nc__size_mad(&need, 2 * d + nW + nmu, K) || nc__size_mad(&need, nG, K) ||
        nc__size_mad(&need, 1, L->p) || nc__size_mad(&need, 5, K) ||
        nc__size_mad(&need, 2 * d + L->p + 2 * K, L->block) || nc__size_mad(&need, 3, L->p) ||
        nc__size_mad(&need, nA, 2 * d) || nc__size_mad(&need, 1, L->lwork))
        return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY,
                        "workspace size overflows size_t (d = %lu, K = %lu)", (unsigned long)d,
                        (unsigned long)K);
    if (need > SIZE_MAX / sizeof(double))
        return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "workspace size overflows size_t");
    if (need > m->work_cap) {
        double *nw = (double *)realloc(m->work, need * sizeof(double));
        if (nw == NULL)
            return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY,
                            "cannot allocate a workspace of %lu doubles", (unsigned long)need);
        m->work = nw;
        m->work_cap = need;
    }

    w = m->work;
    if (own_mu) {
        L->mu = w;
        w += d * K;
    }
    L->mbar = w;
    w += d * K;
    L->T = w;
    w += d * K;
    L->Wp = have_W ? w : NULL;
    w += nW * K;
    L->G = L->untiled ? w : NULL;
    w += nG * K;
    L->s = w;
    w += L->p;
    L->bp = w;
    w += K;
    L->nrmM = w;
    w += K;
    L->nrmW = w;
    w += K;
    L->munrm = w;
    w += K;
    L->V = w;
    w += K;
    L->tmpH = w;
    w += d * L->block;
    L->tmpX = w;
    w += d * L->block;
    L->P = w;
    w += L->p * L->block;
    L->Z = w;
    w += K * L->block;
    L->IP = w;
    w += K * L->block;
    L->acc = w;
    w += 2 * L->p;
    L->srr = w;
    w += L->p;
    L->A = w;
    w += d * nA;
    L->B = w;
    w += d * nA;
    L->lwk = w;
    return NC_SUCCESS;
}

/* ---- pieces shared with the streaming accumulators (nc_data.h) ------------------ */

void nc__class_means(size_t d, size_t K, size_t n, const double *H, size_t ldh,
                     const int32_t *labels, double s, size_t *counts, double *mu, double *resid)
{
    size_t i, k, t;
    for (k = 0; k < K; k++) counts[k] = 0;
    memset(mu, 0, d * K * sizeof(double));
    for (i = 0; i < n; i++) {
        const double *h = H + i * ldh;
        double *muk = mu + (size_t)labels[i] * d;
        counts[labels[i]]++;
        for (t = 0; t < d; t++) muk[t] += s * h[t];
    }
    for (k = 0; k < K; k++) {
        const double c = (double)counts[k];
        if (counts[k] > 0)
            for (t = 0; t < d; t++) mu[k * d + t] /= c;
    }
    /* Second pass: the mean residual removes most of the first pass's rounding. */
    memset(resid, 0, d * K * sizeof(double));
    for (i = 0; i < n; i++) {
        const double *h = H + i * ldh;
        const size_t y = (size_t)labels[i];
        const double *muk = mu + y * d;
        double *r = resid + y * d;
        for (t = 0; t < d; t++) r[t] += s * h[t] - muk[t];
    }
    for (k = 0; k < K; k++) {
        const double c = (double)counts[k];
        if (counts[k] > 0)
            for (t = 0; t < d; t++) mu[k * d + t] += resid[k * d + t] / c;
    }
}

void nc__scale_classifier(size_t d, size_t K, const double *W, size_t ldw, const double *b,
                          double *Wp, double *bp, double *zalpha)
{
    size_t k, t;
    const double aW = nc__amax_mat(W, d, K, ldw);
    const double ab = b != NULL ? nc__amax_mat(b, K, 1, K) : 0.0;
    const double aZ = ab > aW ? ab : aW;
    /* W alone is scaled by sW for its geometry; the logits z = W h + b
     * are scaled by sZ (from W and b together): z sZ = zalpha (W sW) h
     * + b sZ with zalpha = sZ / sW <= 1, a power of two. */
    const double sW = nc__pow2_scale(aW), sZ = nc__pow2_scale(aZ);
    *zalpha = sZ / sW;
    for (k = 0; k < K; k++) {
        for (t = 0; t < d; t++) Wp[k * d + t] = sW * W[k * ldw + t];
        bp[k] = b != NULL ? sZ * b[k] : 0.0;
    }
}

int nc__nc4_block(size_t d, size_t K, size_t nb, const double *Hraw, size_t ldh,
                  const int32_t *labels, const double *xh, const double *mu,
                  const double *munrm, const double *Wp, const double *bp, double zalpha,
                  double *Z, double *IP, size_t *mismatches, size_t *correct,
                  size_t *cls_mismatches, size_t *cls_correct)
{
    const double ctol = 4.0 * (double)(d + 4) * DBL_EPSILON;
    const double atol = 4.0 * (double)(d + 4) * DBL_MIN;
    size_t j, k;
    if (ldh > 0)
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)nb, (int)d, zalpha, Wp,
                    (int)d, Hraw, (int)ldh, 0.0, Z, (int)K);
    else
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)nb, (int)d, zalpha, Wp,
                    (int)d, xh, (int)d, 0.0, Z, (int)K);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)nb, (int)d, 1.0, mu,
                (int)d, xh, (int)d, 0.0, IP, (int)K);
    for (j = 0; j < nb; j++) {
        const double *z = Z + j * K;
        const double *ip = IP + j * K;
        const double *h = xh + j * d;
        const double hn2 = cblas_ddot((int)d, h, 1, h, 1);
        const double hn = sqrt(hn2);
        size_t pred = 0, nearest = 0;
        double zbest = 0.0, upper = 0.0, ebest = 0.0;
        int have = 0;
        /* Classifier decision: first maximum. */
        for (k = 0; k < K; k++) {
            const double zk = z[k] + bp[k];
            if (!nc__is_finite(zk)) return 0;
            if (k == 0 || zk > zbest) {
                zbest = zk;
                pred = k;
            }
        }
        /* Nearest mean: screen with the expansion, decide with direct
         * distances (see the top of the file). */
        for (k = 0; k < K; k++) {
            const double a = hn2 - 2.0 * ip[k] + munrm[k] * munrm[k];
            const double s = hn + munrm[k];
            const double hi = a + ctol * s * s + atol;
            if (k == 0 || hi < upper) upper = hi;
        }
        for (k = 0; k < K; k++) {
            const double a = hn2 - 2.0 * ip[k] + munrm[k] * munrm[k];
            const double s = hn + munrm[k];
            if (a - ctol * s * s - atol <= upper) {
                const double e = sqdist(h, mu + k * d, d);
                if (!have || e < ebest) {
                    ebest = e;
                    nearest = k;
                    have = 1;
                }
            }
        }
        if (pred != nearest) {
            (*mismatches)++;
            if (cls_mismatches != NULL) cls_mismatches[labels[j]]++;
        }
        if (pred == (size_t)labels[j]) {
            (*correct)++;
            if (cls_correct != NULL) cls_correct[labels[j]]++;
        }
    }
    return 1;
}

/* ---- the computation ---------------------------------------------------------- */

/* What the geometry step leaves for the pass over H and the final step. */
typedef struct geom {
    int nc1_ok;    /* the SVD has a positive s_1: U (in L->T) and s are usable */
    size_t rank;   /* directions kept by the pseudo-inverse */
    double zalpha; /* logits scale of W (see nc__scale_classifier) */
    int means_ok;  /* some centred mean is not rounding noise */
    int cols_ok;   /* no centred mean is */
    int w_ok;      /* W != 0 */
    int rows_ok;   /* no row of W is zero */
    double normMF, normWF;
} geom;

/* sqrt(c_k), the weight of class k in Sigma_B: 1/K or n_k/N. */
static double between_weight_sqrt(const nc_metrics *m, size_t K, size_t N, size_t count)
{
    return sqrt(m->between_weight == NC_BETWEEN_UNIFORM ? 1.0 / (double)K
                                                        : (double)count / (double)N);
}

/*
 * The left singular vectors U (d x p, into L->T, ld d) and the singular
 * values (L->s) of F = Mbar diag(sqrt(c_k)), c_k the between-class weights.
 * Tall (K <= d), or d too large for dgesdd's 32-bit workspace
 * (L->wide_qr = 0): dgesvd of F. Wide (K > d): F^T = Q R (dgeqrt on the
 * contiguous columns of F^T), then F = R^T Q^T has the singular values and
 * left singular vectors of the d x d R^T (dgesdd). dgesvd would reduce the
 * wide F by an LQ along its strided rows, 3x slower at K = 32768, d = 768.
 * dgeqrt with blocks of qr_block(d) columns: dgeqrf's blocks of 32 spend
 * longer in their column-by-column panels (1.68 s against 1.30 s at
 * 32768 x 768).
 */
static nc_status svd_centred_means(const nc_metrics *m, size_t d, size_t K, size_t N,
                                   const size_t *counts, layout *L, char *msg)
{
    lapack_int info;
    double dummy = 0.0;
    size_t k, t;
    if (!L->wide_qr) {
        for (k = 0; k < K; k++) {
            const double c = between_weight_sqrt(m, K, N, counts[k]);
            for (t = 0; t < d; t++) L->T[k * d + t] = c * L->mbar[k * d + t];
        }
        info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'O', 'N', (lapack_int)d, (lapack_int)K,
                                   L->T, (lapack_int)d, L->s, &dummy, 1, &dummy, 1, L->lwk,
                                   (lapack_int)L->lwork);
        if (info != 0)
            return nc__fail(msg, NC_ERR_LAPACK, "dgesvd of the centred means failed (info %d)",
                            (int)info);
        return NC_SUCCESS;
    } else {
        /* lwk: the QR's T (nb x d), R^T (d x d), V^T (d x d), 8 d integers,
         * LAPACK's work. */
        const size_t nb = qr_block(d);
        double *Tq = L->lwk, *Rt = Tq + nb * d, *Vt = Rt + d * d;
        lapack_int *iw = (lapack_int *)(void *)(Vt + d * d);
        double *work = Vt + d * d + 8 * d;
        const lapack_int lw = (lapack_int)(L->lwork - nb * d - 8 * d - 2 * d * d);
        const size_t B = 64; /* transpose in 64 x 64 blocks */
        size_t k0, t0;
        for (k0 = 0; k0 < K; k0 += B)
            for (t0 = 0; t0 < d; t0 += B) {
                const size_t k1 = k0 + B < K ? k0 + B : K, t1 = t0 + B < d ? t0 + B : d;
                for (k = k0; k < k1; k++) {
                    const double c = between_weight_sqrt(m, K, N, counts[k]);
                    for (t = t0; t < t1; t++) L->T[k + t * K] = c * L->mbar[k * d + t];
                }
            }
        info = LAPACKE_dgeqrt_work(LAPACK_COL_MAJOR, (lapack_int)K, (lapack_int)d,
                                   (lapack_int)nb, L->T, (lapack_int)K, Tq, (lapack_int)nb, work);
        if (info != 0)
            return nc__fail(msg, NC_ERR_LAPACK, "QR of the centred means failed (info %d)",
                            (int)info);
        for (t = 0; t < d; t++) /* Rt = R^T, lower triangular */
            for (k = 0; k < d; k++) Rt[k + t * d] = k >= t ? L->T[t + k * K] : 0.0;
        info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'O', (lapack_int)d, (lapack_int)d, Rt,
                                   (lapack_int)d, L->s, &dummy, (lapack_int)d, Vt, (lapack_int)d,
                                   work, lw, iw);
        if (info != 0)
            return nc__fail(msg, NC_ERR_LAPACK, "SVD of the centred means failed (info %d)",
                            (int)info);
        memcpy(L->T, Rt, d * d * sizeof(double)); /* U, d x d */
        return NC_SUCCESS;
    }
}

/*
 * From the class counts and the scaled means in L->mu (and W, b): the global
 * mean and centred means, every NC2 and NC3 metric (in tiles later unless
 * L->untiled), the scaled classifier (L->Wp, L->bp) and the norms of the
 * means (L->munrm). NC1's SVD is nc1_basis.
 */
static nc_status metrics_geometry(nc_metrics *m, layout *L, size_t d, size_t K, size_t N,
                                  const size_t *counts, const double *W, size_t ldw,
                                  const double *b, geom *g)
{
    size_t k, t;
    double scale_mu, tau, maxM, normMF = 0.0;
    int means_ok, cols_ok;

    memset(g, 0, sizeof *g);
    g->zalpha = 1.0;

    /* ---- global mean and centred means ---- */
    {
        double *muG = L->T; /* d values of scratch */
        for (t = 0; t < d; t++) muG[t] = 0.0;
        for (k = 0; k < K; k++) {
            const double c = m->global_mean == NC_GLOBAL_MEAN_SAMPLE
                                 ? (double)counts[k] / (double)N
                                 : 1.0 / (double)K;
            for (t = 0; t < d; t++) muG[t] += c * L->mu[k * d + t];
        }
        for (k = 0; k < K; k++)
            for (t = 0; t < d; t++) L->mbar[k * d + t] = L->mu[k * d + t] - muG[t];
    }
    scale_mu = 0.0;
    maxM = 0.0;
    cols_ok = 1;
    for (k = 0; k < K; k++) {
        L->munrm[k] = cblas_dnrm2((int)d, L->mu + k * d, 1);
        L->nrmM[k] = cblas_dnrm2((int)d, L->mbar + k * d, 1);
        if (L->munrm[k] > scale_mu) scale_mu = L->munrm[k];
        if (L->nrmM[k] > maxM) maxM = L->nrmM[k];
    }
    /* Centred means this small are the rounding noise of the means. */
    tau = 32.0 * DBL_EPSILON * scale_mu;
    means_ok = maxM > tau;
    for (k = 0; k < K; k++)
        if (!(L->nrmM[k] > tau)) cols_ok = 0;
    g->means_ok = means_ok;
    g->cols_ok = means_ok && cols_ok;

    /* ---- NC2 of the means ---- */
    if (means_ok) normMF = frob(L->mbar, d * K);
    g->normMF = normMF;
    if (means_ok && !L->untiled) {
        set_value(m, NC_METRIC_NC2_EQUINORM_MEANS, std_over_mean(L->nrmM, K));
        if (!cols_ok)
            note(m, "a centred class mean is zero: equiangle/max-angle of the means unavailable");
    } else if (means_ok) {
        double gn;
        set_value(m, NC_METRIC_NC2_EQUINORM_MEANS, std_over_mean(L->nrmM, K));
        gram(L->mbar, L->mbar, d, K, L->G);
        gn = frob(L->G, K * K);
        if (gn > 0.0) set_value(m, NC_METRIC_NC2_ETF_MEANS, etf_distance(L->G, K, gn));
        if (cols_ok) {
            double ea, ma;
            normalize_columns(L->mbar, L->nrmM, d, K, L->T);
            gram(L->T, L->T, d, K, L->G);
            cosine_stats(L->G, K, &ea, &ma);
            set_value(m, NC_METRIC_NC2_EQUIANGLE_MEANS, ea);
            set_value(m, NC_METRIC_NC2_MAXANGLE_MEANS, ma);
        } else {
            note(m, "a centred class mean is zero: equiangle/max-angle of the means unavailable");
        }
    } else {
        note(m, "all class means coincide (Sigma_B = 0): NC1, NC2 of the means, NC3 and "
                "NC3 (W Mbar) unavailable");
    }

    /* ---- metrics of W ---- */
    if (W != NULL) {
        double normWF;
        int rows_ok = 1;
        nc__scale_classifier(d, K, W, ldw, b, L->Wp, L->bp, &g->zalpha);
        for (k = 0; k < K; k++) {
            L->nrmW[k] = cblas_dnrm2((int)d, L->Wp + k * d, 1);
            if (!(L->nrmW[k] > 0.0)) rows_ok = 0;
        }
        normWF = frob(L->Wp, d * K);
        g->normWF = normWF;
        g->w_ok = normWF > 0.0;
        g->rows_ok = rows_ok;
        if (normWF > 0.0 && !L->untiled) {
            set_value(m, NC_METRIC_NC2_EQUINORM_W, std_over_mean(L->nrmW, K));
            if (!rows_ok) note(m, "a row of W is zero: equiangle/max-angle of W unavailable");
            if (means_ok) {
                nc__sum s = {0.0, 0.0};
                const size_t n = d * K;
                for (t = 0; t < n; t++) {
                    const double dev = L->Wp[t] / normWF - L->mbar[t] / normMF;
                    nc__sum_add(&s, dev * dev);
                }
                set_value(m, NC_METRIC_NC3, nc__sum_value(&s));
            }
        } else if (normWF > 0.0) {
            set_value(m, NC_METRIC_NC2_EQUINORM_W, std_over_mean(L->nrmW, K));
            gram(L->Wp, L->Wp, d, K, L->G);
            set_value(m, NC_METRIC_NC2_ETF_W, etf_distance(L->G, K, frob(L->G, K * K)));
            if (rows_ok) {
                double ea, ma;
                normalize_columns(L->Wp, L->nrmW, d, K, L->T);
                gram(L->T, L->T, d, K, L->G);
                cosine_stats(L->G, K, &ea, &ma);
                set_value(m, NC_METRIC_NC2_EQUIANGLE_W, ea);
                set_value(m, NC_METRIC_NC2_MAXANGLE_W, ma);
            } else {
                note(m, "a row of W is zero: equiangle/max-angle of W unavailable");
            }
            if (means_ok) {
                nc__sum s = {0.0, 0.0};
                double gn;
                const size_t n = d * K;
                for (t = 0; t < n; t++) {
                    const double dev = L->Wp[t] / normWF - L->mbar[t] / normMF;
                    nc__sum_add(&s, dev * dev);
                }
                set_value(m, NC_METRIC_NC3, nc__sum_value(&s));
                gram(L->Wp, L->mbar, d, K, L->G); /* (W Mbar)_{jk} = w_j . mbar_k */
                gn = frob(L->G, K * K);
                if (gn > 2.0 * (double)(d + 2) * DBL_EPSILON * normWF * normMF)
                    set_value(m, NC_METRIC_NC3_WM_ETF, etf_distance(L->G, K, gn));
                else
                    note(m, "W Mbar is zero: NC3 (W Mbar) unavailable");
            }
        } else {
            note(m, "W is zero: NC2 of W, NC3 and NC3 (W Mbar) unavailable");
        }
    }

    return NC_SUCCESS;
}

/*
 * After metrics_geometry: the thin SVD of F = Mbar diag(sqrt(c_k)) for NC1,
 * U in L->T and s in L->s, and the rank kept. Reads L->mbar; writes L->T,
 * L->s, L->lwk, g's NC1 fields and msg (its note, or its failure) only, so
 * that it can run alongside the tiled pass.
 */
static nc_status nc1_basis(const nc_metrics *m, layout *L, size_t d, size_t K, size_t N,
                           const size_t *counts, geom *g, char *msg)
{
    nc_status st;
    if (!g->means_ok) return NC_SUCCESS;
    st = svd_centred_means(m, d, K, N, counts, L, msg);
    if (st != NC_SUCCESS) return st;
    if (L->s[0] > 0.0) {
        size_t rank;
        for (rank = 0; rank < L->p; rank++) {
            const double ratio = L->s[rank] / L->s[0];
            if (!(ratio * ratio > m->pinv_rtol)) break;
        }
        g->rank = rank;
        g->nc1_ok = 1;
    } else {
        note_to(msg, "Sigma_B = 0: NC1 unavailable");
    }
    return NC_SUCCESS;
}

/*
 * srr[r] = a_r^T S a_r for the rank columns a_r of A (n x rank, ld n), S the
 * upper triangle of a positive semi-definite n x n matrix (ld n); B (n x
 * rank) is scratch. A negative value is rounding, and is made 0.
 */
static void srr_from_scatter(size_t n, size_t rank, const double *S, const double *A, double *B,
                             double *srr)
{
    size_t r, j;
    cblas_dsymm(CblasColMajor, CblasLeft, CblasUpper, (int)n, (int)rank, 1.0, S, (int)n, A,
                (int)n, 0.0, B, (int)n);
    for (r = 0; r < rank; r++) {
        nc__sum a = {0.0, 0.0};
        for (j = 0; j < n; j++) nc__sum_add(&a, A[j + r * n] * B[j + r * n]);
        srr[r] = nc__sum_value(&a) > 0.0 ? nc__sum_value(&a) : 0.0;
    }
}

/*
 * Whether NC1 of the in-memory path goes through the d x d within-class
 * scatter (one DSYRK per block, d^2 / 2 multiply-adds per sample) rather
 * than the projections on the rank kept directions (d rank multiply-adds
 * and rank compensated additions per sample): with NC_NC1_PATH_AUTO, when
 * 8 rank >= 5 d, the crossover measured in docs/performance.md.
 */
static int nc1_uses_dxd(const nc_metrics *m, size_t d, size_t rank)
{
    if (m->nc1_path == NC_NC1_PATH_PROJECTED) return 0;
    if (m->nc1_path == NC_NC1_PATH_SCATTER) return 1;
    return 8.0 * (double)rank >= 5.0 * (double)d;
}

/* The d x d path's buffers: sb residual columns, the compensated upper
 * triangle, one block's scatter, and A, B for srr_from_scatter. */
typedef struct dxd_acc {
    size_t d, sb, nx;
    double *X, *Ss, *Sc, *Sb, *A, *B;
} dxd_acc;

static int dxd_init(dxd_acc *x, size_t d, size_t rank, size_t block, size_t N)
{
    size_t need = 0;
    memset(x, 0, sizeof *x);
    x->d = d;
    x->sb = 524288 / d;
    if (x->sb < block) x->sb = block;
    if (x->sb > N) x->sb = N;
    if (nc__size_mad(&need, d, x->sb) || nc__size_mad(&need, 3 * d, d) ||
        nc__size_mad(&need, 2 * d, rank) || need > SIZE_MAX / sizeof(double))
        return 0;
    x->X = (double *)calloc(need, sizeof(double));
    if (x->X == NULL) return 0;
    x->Ss = x->X + d * x->sb;
    x->Sc = x->Ss + d * d;
    x->Sb = x->Sc + d * d;
    x->A = x->Sb + d * d;
    x->B = x->A + d * rank;
    return 1;
}

/* Add the buffered columns' scatter to the compensated sum. */
static void dxd_flush(dxd_acc *x)
{
    const size_t d = x->d;
    size_t a, b;
    if (x->nx == 0) return;
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)d, (int)x->nx, 1.0, x->X, (int)d,
                0.0, x->Sb, (int)d);
    for (b = 0; b < d; b++)
        for (a = 0; a <= b; a++) {
            nc__sum acc;
            acc.s = x->Ss[a + b * d];
            acc.c = x->Sc[a + b * d];
            nc__sum_add(&acc, x->Sb[a + b * d]);
            x->Ss[a + b * d] = acc.s;
            x->Sc[a + b * d] = acc.c;
        }
    x->nx = 0;
}

/* Buffer nb residual columns (d x nb), flushing when the buffer is full. */
static void dxd_add(dxd_acc *x, const double *X, size_t nb)
{
    if (x->nx + nb > x->sb) dxd_flush(x);
    memcpy(x->X + x->nx * x->d, X, nb * x->d * sizeof(double));
    x->nx += nb;
}

/*
 * The last step, shared by both paths: NC1 = (1/(K N)) sum_r srr[r] / s_r^2,
 * where srr[r] = u_r^T (sum_i x_i x_i^T) u_r is the within-class scatter along
 * the r-th kept direction; NC4 and accuracy from their counts.
 */
static void metrics_finish(nc_metrics *m, const layout *L, const geom *g, size_t K, size_t N,
                           int have_W, int logits_ok, size_t mismatches, size_t correct)
{
    if (g->nc1_ok) {
        nc__sum acc = {0.0, 0.0};
        double v;
        size_t r;
        for (r = 0; r < g->rank; r++) nc__sum_add(&acc, L->srr[r] / L->s[r] / L->s[r]);
        v = nc__sum_value(&acc) / (double)N / (double)K;
        if (nc__is_finite(v))
            set_value(m, NC_METRIC_NC1, v);
        else
            note(m, "NC1 overflowed (Sigma_B nearly singular with rtol = 0): NC1 unavailable");
    }
    if (have_W) {
        if (logits_ok) {
            set_value(m, NC_METRIC_NC4, (double)mismatches / (double)N);
            set_value(m, NC_METRIC_ACCURACY, (double)correct / (double)N);
        } else {
            note(m, "a logit overflowed: NC4 and accuracy unavailable");
        }
    }
}


/* ||A^T B||_F through A^T B itself (B NULL: A^T A), for d x K frames with
 * K < d (then smaller than the frames). Returns -1 if memory is short. */
static double gram_fro_small(const double *A, const double *B, size_t d, size_t K)
{
    nc__sum acc = {0.0, 0.0};
    size_t i;
    double *G = nc__alloc_doubles(K, K);
    if (G == NULL) return -1.0;
    gram(A, B != NULL ? B : A, d, K, G);
    for (i = 0; i < K * K; i++) nc__sum_add(&acc, G[i] * G[i]);
    free(G);
    return sqrt(nc__sum_value(&acc));
}

/*
 * The d x d Grams of gram_norms: the upper triangle of A A^T of each frame
 * in nc__syrk_call_at's calls, numbered frame by frame; a part takes them
 * until none is left. Each call reads its rows of A over all K columns, so
 * fewer, larger calls do better here than in pass 2's scatter (which sees
 * blocks of about 2048 samples at a time): at d = 768, K = 32768 (OpenBLAS
 * 0.3.21, Zen 4), blocks of at most 768 (one 384 x 384 DGEMM and two
 * 384-row DSYRKs) take 0.43-0.45 s on one thread and 0.24 s on two,
 * blocks of 384 (eight calls) 0.47 and 0.24-0.25 s, unsplit blocks of 192
 * (ten calls) 0.50 and 0.245 s; one DSYRK of 768, 0.40 s, cannot be
 * shared.
 */
#define NC_GRAM_SIDE 768

typedef struct gram_job {
    const double *A[2]; /* d x K frames (ld d) */
    double *S[2];       /* the upper triangles of A A^T (d x d) */
    size_t n, d, K, T;  /* frames; side of the blocks */
    size_t taken;       /* calls handed out (nc__pool_take) */
    nc__pool *pool;
} gram_job;

static void gram_part(void *ctx, size_t part)
{
    gram_job *j = (gram_job *)ctx;
    const size_t d = j->d, per = nc__syrk_calls(d, j->T);
    (void)part;
    for (;;) {
        const size_t i = nc__pool_take(j->pool, &j->taken);
        nc__syrk_call c;
        size_t f;
        if (i >= j->n * per) break;
        f = i / per;
        c = nc__syrk_call_at(d, j->T, i % per);
        nc__syrk_call_run(c, j->K, j->A[f] + c.r0, d, j->A[f] + c.c0, d,
                          j->S[f] + c.r0 + c.c0 * d, d);
    }
}

/* <SA, SB> over two d x d upper triangles (each off-diagonal entry twice). */
static double upper_inner(const double *SA, const double *SB, size_t d)
{
    nc__sum acc = {0.0, 0.0};
    size_t i, j;
    for (j = 0; j < d; j++) {
        for (i = 0; i < j; i++) nc__sum_add(&acc, 2.0 * (SA[i + j * d] * SB[i + j * d]));
        nc__sum_add(&acc, SA[j + j * d] * SB[j + j * d]);
    }
    return nc__sum_value(&acc);
}

/*
 * The Frobenius norms of the whole Grams the ETF distances divide by, those
 * wanted: ||M^T M||_F, ||W^T W||_F and ||W^T M||_F (M, W d x K). When d <= K
 * without a K x K matrix: from the d x d M M^T and W W^T (||W^T M||_F^2 =
 * <W W^T, M M^T>), each computed once, in blocks on the pool's threads.
 * Returns 0, or -1 if memory is short.
 */
static int gram_norms(const double *M, const double *W, size_t d, size_t K, int wantM, int wantW,
                      int wantWM, nc__pool *pool, double *gnM, double *gnW, double *gnWM)
{
    gram_job j;
    double *S, *SM = NULL, *SW = NULL;
    if (d > K) {
        if (wantM && (*gnM = gram_fro_small(M, NULL, d, K)) < 0.0) return -1;
        if (wantW && (*gnW = gram_fro_small(W, NULL, d, K)) < 0.0) return -1;
        if (wantWM && (*gnWM = gram_fro_small(W, M, d, K)) < 0.0) return -1;
        return 0;
    }
    memset(&j, 0, sizeof j);
    if (wantM || wantWM) j.A[j.n++] = M;
    if (wantW || wantWM) j.A[j.n++] = W;
    if (j.n == 0) return 0;
    S = nc__alloc_doubles(d, j.n * d);
    if (S == NULL) return -1;
    j.S[0] = S;
    j.S[1] = S + d * d;
    SM = wantM || wantWM ? j.S[0] : NULL;
    SW = wantW || wantWM ? j.S[j.n - 1] : NULL;
    j.d = d;
    j.K = K;
    j.T = nc__syrk_side(d, NC_GRAM_SIDE);
    j.pool = pool;
    nc__pool_run(pool, gram_part, &j);
    if (wantM) *gnM = sqrt(upper_inner(SM, SM, d));
    if (wantW) *gnW = sqrt(upper_inner(SW, SW, d));
    if (wantWM) *gnWM = sqrt(upper_inner(SW, SM, d));
    free(S);
    return 0;
}

/* std (n-1 denominator; 0 for one value) of moments. */
static double moments_std(const nc__moments *mo)
{
    return mo->n > 1.0 ? sqrt(mo->m2 / (mo->n - 1.0)) : 0.0;
}

/*
 * After the pass over the features (vsum: K sums of ||x||^2 in scaled
 * units): the pairwise metrics (every one in tiles, or only the new ones
 * when the K x K Grams were kept), the other new metrics and the per-class
 * table. side(side_ctx), unless side is NULL, runs alongside the tiled pass
 * (nc__pairs_run), or not at all if this fails before it.
 */
static nc_status metrics_pairs(nc_metrics *m, const layout *L, const geom *g, size_t d, size_t K,
                               size_t N, const size_t *counts, const double *vsum, double scale,
                               const double *W, size_t ldw, nc__pool *pool, size_t threads,
                               int logits_ok, const size_t *cmis, const size_t *ccor,
                               void (*side)(void *ctx), void *side_ctx)
{
    nc__pairs_in in;
    nc__pairs_out out;
    double *V, *cls;
    const int have_W = W != NULL;
    size_t k, c;
    nc_status st;

    /* Per-class table first (its variance column is V in the features' units). */
    if (K > m->cls_cap) {
        double *nc = (double *)realloc(m->cls, K * NC_CLASS_STAT_COUNT * sizeof(double));
        if (nc == NULL)
            return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "cannot allocate the per-class table");
        m->cls = nc;
        m->cls_cap = K;
    }
    cls = m->cls;
    m->cls_K = K;
    for (c = 0; c < NC_CLASS_STAT_COUNT; c++) m->cls_available[c] = 0;
    for (k = 0; k < K * NC_CLASS_STAT_COUNT; k++) cls[k] = NAN;
    V = L->V;
    for (k = 0; k < K; k++) {
        double *row = cls + k * NC_CLASS_STAT_COUNT;
        V[k] = vsum[k] / (double)counts[k];
        row[NC_CLASS_COUNT] = (double)counts[k];
        row[NC_CLASS_VARIANCE] = V[k] / scale / scale;
        if (g->means_ok) row[NC_CLASS_MEAN_NORM] = L->nrmM[k] / scale;
        if (have_W) {
            row[NC_CLASS_W_NORM] = cblas_dnrm2((int)d, W + k * ldw, 1);
            if (logits_ok && cmis != NULL) {
                row[NC_CLASS_NC4] = (double)cmis[k] / (double)counts[k];
                row[NC_CLASS_ACCURACY] = (double)ccor[k] / (double)counts[k];
            }
            if (g->cols_ok && g->rows_ok)
                row[NC_CLASS_DUALITY] = cblas_ddot((int)d, L->Wp + k * d, 1, L->mbar + k * d, 1) /
                                        (L->nrmW[k] * L->nrmM[k]);
        }
    }
    m->cls_available[NC_CLASS_COUNT] = 1;
    m->cls_available[NC_CLASS_VARIANCE] = 1;
    m->cls_available[NC_CLASS_MEAN_NORM] = (unsigned char)g->means_ok;
    if (have_W) {
        m->cls_available[NC_CLASS_W_NORM] = 1;
        m->cls_available[NC_CLASS_NC4] = (unsigned char)(logits_ok && cmis != NULL);
        m->cls_available[NC_CLASS_ACCURACY] = (unsigned char)(logits_ok && cmis != NULL);
        m->cls_available[NC_CLASS_DUALITY] = (unsigned char)(g->cols_ok && g->rows_ok);
    }

    /* ---- metrics of the K values ---- */
    if (g->means_ok) {
        nc__sum tw = {0.0, 0.0}, tb = {0.0, 0.0};
        double v;
        for (k = 0; k < K; k++) {
            const double ck = m->between_weight == NC_BETWEEN_UNIFORM
                                  ? 1.0 / (double)K
                                  : (double)counts[k] / (double)N;
            nc__sum_add(&tw, vsum[k]);
            nc__sum_add(&tb, ck * L->nrmM[k] * L->nrmM[k]);
        }
        v = nc__sum_value(&tw) / (double)N / nc__sum_value(&tb);
        if (nc__is_finite(v)) set_value(m, NC_METRIC_NC1_TRACE_RATIO, v);
    }
    if (g->cols_ok) {
        nc__moments mo;
        double *lg = (double *)malloc(K * sizeof(double));
        if (lg == NULL) return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "no memory for K values");
        for (k = 0; k < K; k++) lg[k] = log(L->nrmM[k]);
        nc__moments_of(lg, K, &mo);
        set_value(m, NC_METRIC_NC2_LOGNORM_MEANS, moments_std(&mo));
        if (have_W && g->rows_ok) {
            for (k = 0; k < K; k++) lg[k] = cls[k * NC_CLASS_STAT_COUNT + NC_CLASS_DUALITY];
            nc__moments_of(lg, K, &mo);
            if (mo.mean != 0.0)
                set_value(m, NC_METRIC_UNC3, moments_std(&mo) / fabs(mo.mean));
            else
                note(m, "the mean of cos(w_k, mu_k - mu_G) is zero: UNC3 unavailable");
        }
        free(lg);
    }
    if (have_W && g->w_ok && g->rows_ok) {
        nc__moments mo;
        double *lg = (double *)malloc(K * sizeof(double));
        if (lg == NULL) return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "no memory for K values");
        for (k = 0; k < K; k++) lg[k] = log(L->nrmW[k]);
        nc__moments_of(lg, K, &mo);
        set_value(m, NC_METRIC_NC2_LOGNORM_W, moments_std(&mo));
        free(lg);
    }

    /* ---- the tiled pass ---- */
    memset(&in, 0, sizeof in);
    in.d = d;
    in.K = K;
    in.tile = m->tile > 0 ? m->tile : NC_METRICS_DEFAULT_TILE;
    if (in.tile > K) in.tile = K;
    in.mbar = L->mbar;
    in.nrmM = L->nrmM;
    in.V = V;
    in.Wp = have_W ? L->Wp : NULL;
    in.nrmW = L->nrmW;
    in.means_ok = g->means_ok;
    in.cols_ok = g->cols_ok;
    in.w_ok = g->w_ok;
    in.rows_ok = g->rows_ok;
    in.etf_diag = (1.0 - 1.0 / (double)K) / sqrt((double)(K - 1));
    in.etf_off = -1.0 / ((double)K * sqrt((double)(K - 1)));
    in.shift = 1.0 / (double)(K - 1);
    if (!L->untiled) {
        in.want_etf_means = g->means_ok;
        in.want_etf_w = have_W && g->w_ok;
        in.want_etf_wm = have_W && g->w_ok && g->means_ok;
        if (gram_norms(L->mbar, L->Wp, d, K, in.want_etf_means, in.want_etf_w, in.want_etf_wm,
                       threads > 1 ? pool : NULL, &in.gnM, &in.gnW, &in.gnWM) != 0)
            return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "no memory for the Gram norms");
        if (in.want_etf_means && !(in.gnM > 0.0)) in.want_etf_means = 0;
        if (in.want_etf_wm &&
            !(in.gnWM > 2.0 * (double)(d + 2) * DBL_EPSILON * g->normWF * g->normMF)) {
            in.want_etf_wm = 0;
            note(m, "W Mbar is zero: NC3 (W Mbar) unavailable");
        }
    }
    st = nc__pairs_run(&in, pool, threads, side, side_ctx, &out);
    if (st != NC_SUCCESS)
        return nc__fail(m->msg, st, "no memory for the tiles of the pairwise metrics");
    {
        const double npairs = 0.5 * (double)K * (double)(K - 1);
        if (in.want_etf_means) set_value(m, NC_METRIC_NC2_ETF_MEANS, out.etf_means);
        if (in.want_etf_w) set_value(m, NC_METRIC_NC2_ETF_W, out.etf_w);
        if (in.want_etf_wm) set_value(m, NC_METRIC_NC3_WM_ETF, out.etf_wm);
        if (g->cols_ok) {
            if (!L->untiled) {
                set_value(m, NC_METRIC_NC2_EQUIANGLE_MEANS, moments_std(&out.cos_means));
                set_value(m, NC_METRIC_NC2_MAXANGLE_MEANS, out.abs_means / npairs);
            }
            set_value(m, NC_METRIC_INTERFERENCE_MEANS, out.cos_means.mean);
            if (out.zero_u) {
                note(m, "two centred class means have the same direction: GNC2 unavailable");
            } else {
                set_value(m, NC_METRIC_GNC2_LOG_MEAN, out.log_energy.mean);
                set_value(m, NC_METRIC_GNC2_LOG_VAR,
                          moments_std(&out.log_energy) * moments_std(&out.log_energy));
                set_value(m, NC_METRIC_GNC2_RIESZ_MEAN, out.riesz.mean);
                set_value(m, NC_METRIC_GNC2_RIESZ_VAR,
                          moments_std(&out.riesz) * moments_std(&out.riesz));
            }
        }
        if (have_W && g->w_ok && g->rows_ok) {
            if (!L->untiled) {
                set_value(m, NC_METRIC_NC2_EQUIANGLE_W, moments_std(&out.cos_w));
                set_value(m, NC_METRIC_NC2_MAXANGLE_W, out.abs_w / npairs);
            }
            set_value(m, NC_METRIC_INTERFERENCE_W, out.cos_w.mean);
        }
        if (g->means_ok) {
            if (out.zero_mu) {
                note(m, "two class means coincide: CDNV unavailable");
            } else if (nc__is_finite(out.cdnv.mean) && nc__is_finite(out.cdnv.m2)) {
                set_value(m, NC_METRIC_NC1_CDNV_MEAN, out.cdnv.mean);
                if (out.cdnv.mean > 0.0)
                    set_value(m, NC_METRIC_NC1_CDNV_COV, moments_std(&out.cdnv) / out.cdnv.mean);
            }
        }
    }
    return NC_SUCCESS;
}

static void fail_all(nc_metrics *m)
{
    size_t k;
    for (k = 0; k < NC_METRIC_COUNT; k++) m->available[k] = 0;
    for (k = 0; k < NC_CLASS_STAT_COUNT; k++) m->cls_available[k] = 0;
    m->cls_K = 0;
}

/* Whether the NC2/NC3 metrics keep whole K x K Grams. */
static int use_untiled(const nc_metrics *m, size_t K)
{
    return m->tile == 0 && K <= NC_METRICS_UNTILED_MAX_K;
}

/* Grow the per-class arrays (counts, NC4 counts, variance sums) to K. */
static nc_status class_arrays(nc_metrics *m, size_t K)
{
    size_t bytes;
    if (K <= m->counts_cap) return NC_SUCCESS;
    if (nc__mul_size(K, 3 * sizeof(size_t) + 2 * sizeof(double), &bytes))
        return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "K = %lu is too large", (unsigned long)K);
    free(m->counts);
    free(m->vacc);
    m->counts = (size_t *)malloc(3 * K * sizeof(size_t));
    m->vacc = (double *)malloc(2 * K * sizeof(double));
    if (m->counts == NULL || m->vacc == NULL) {
        free(m->counts);
        free(m->vacc);
        m->counts = NULL;
        m->vacc = NULL;
        m->ccnt = NULL;
        m->counts_cap = 0;
        return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "cannot allocate %lu class counts",
                        (unsigned long)K);
    }
    m->ccnt = m->counts + K;
    m->counts_cap = K;
    return NC_SUCCESS;
}

static nc_status compute_impl(nc_metrics *m, size_t d, size_t K, size_t N, const double *H,
                              size_t ldh, const int32_t *labels, const double *W, size_t ldw,
                              const double *b, nc__pool *pool, size_t threads)
{
    layout L;
    geom g;
    size_t i, j, k, t, i0, r;
    size_t *counts;
    double sH;
    int logits_ok = 1;
    size_t mismatches = 0, correct = 0;
    nc_status st;
    dxd_acc X;
    int dxd;

    memset(&L, 0, sizeof L);
    /* ---- validation ---- */
    if (d == 0 || N == 0 || K < 2)
        return nc__fail(m->msg, NC_ERR_INVALID_SIZE,
                        "need d >= 1, N >= 1 and K >= 2 (got d = %lu, K = %lu, N = %lu)",
                        (unsigned long)d, (unsigned long)K, (unsigned long)N);
    if (!nc__fits_int(d) || !nc__fits_int(K))
        return nc__fail(m->msg, NC_ERR_INVALID_SIZE, "d and K must be at most %d", INT_MAX);
    if (ldh < d)
        return nc__fail(m->msg, NC_ERR_SIZE_MISMATCH, "ldh = %lu is smaller than d = %lu",
                        (unsigned long)ldh, (unsigned long)d);
    if (W != NULL && ldw < d)
        return nc__fail(m->msg, NC_ERR_SIZE_MISMATCH, "ldw = %lu is smaller than d = %lu",
                        (unsigned long)ldw, (unsigned long)d);
    if (!nc__fits_int(ldh) || (W != NULL && !nc__fits_int(ldw)))
        return nc__fail(m->msg, NC_ERR_INVALID_SIZE, "ldh and ldw must be at most %d", INT_MAX);
    {
        /* Index arithmetic on H and W must not overflow. */
        size_t extH = d, extW = d;
        if (nc__size_mad(&extH, N - 1, ldh) || (W != NULL && nc__size_mad(&extW, K - 1, ldw)))
            return nc__fail(m->msg, NC_ERR_INVALID_SIZE, "H or W is too large to index");
    }

    /* The workspace first: a K so large that the K x d means cannot be held
     * is refused here, before anything of size K is touched. */
    L.untiled = use_untiled(m, K);
    st = prepare_workspace(m, d, K, N, W != NULL, 1, m->nc1_path != NC_NC1_PATH_NONE, &L);
    if (st != NC_SUCCESS) return st;
    st = class_arrays(m, K);
    if (st != NC_SUCCESS) return st;
    counts = m->counts;
    for (k = 0; k < K; k++) counts[k] = 0;
    for (i = 0; i < N; i++) {
        const int32_t y = labels[i];
        if (y < 0 || (size_t)y >= K)
            return nc__fail(m->msg, NC_ERR_LABEL_OUT_OF_RANGE,
                            "label %ld of sample %lu is outside [0, %lu)", (long)y,
                            (unsigned long)i, (unsigned long)K);
        counts[y]++;
    }
    for (k = 0; k < K; k++)
        if (counts[k] == 0) {
            size_t present = 0, top = 0, kk;
            for (kk = 0; kk < K; kk++)
                if (counts[kk] > 0) {
                    present++;
                    top = kk;
                }
            return nc__fail(m->msg, NC_ERR_EMPTY_CLASS,
                            "class %lu has no samples: K = %lu, and the labels use %lu of the "
                            "classes 0..%lu (largest label %lu); every class in [0, K) needs a "
                            "sample, so pass the K the labels were made for",
                            (unsigned long)k, (unsigned long)K, (unsigned long)present,
                            (unsigned long)(K - 1), (unsigned long)top);
        }

    {
        size_t row, col;
        if (nc__find_nonfinite(H, d, N, ldh, &row, &col))
            return nc__fail(m->msg, NC_ERR_NON_FINITE, "H has a NaN or Inf at row %lu of column "
                            "(sample) %lu", (unsigned long)row, (unsigned long)col);
        if (W != NULL && nc__find_nonfinite(W, d, K, ldw, &row, &col))
            return nc__fail(m->msg, NC_ERR_NON_FINITE, "W has a NaN or Inf at row %lu of column "
                            "(class) %lu", (unsigned long)row, (unsigned long)col);
        if (W != NULL && b != NULL && nc__find_nonfinite(b, K, 1, K, &row, &col))
            return nc__fail(m->msg, NC_ERR_NON_FINITE, "b[%lu] is NaN or Inf", (unsigned long)row);
    }

    /* ---- class means of the scaled features, in two passes ---- */
    sH = nc__pow2_scale(nc__amax_mat(H, d, N, ldh));
    nc__class_means(d, K, N, H, ldh, labels, sH, counts, L.mu, L.T);

    st = metrics_geometry(m, &L, d, K, N, counts, W, ldw, b, &g);
    if (st == NC_SUCCESS && m->nc1_path != NC_NC1_PATH_NONE)
        st = nc1_basis(m, &L, d, K, N, counts, &g, m->msg);
    if (st != NC_SUCCESS) return st;

    /* ---- the NC1 path: projections on the kept directions, or the d x d
     * scatter (falling back to the projections if its memory is short,
     * unless it was asked for) ---- */
    dxd = g.nc1_ok && g.rank > 0 && nc1_uses_dxd(m, d, g.rank);
    if (dxd && !dxd_init(&X, d, g.rank, L.block, N)) {
        if (m->nc1_path == NC_NC1_PATH_SCATTER)
            return nc__fail(m->msg, NC_ERR_OUT_OF_MEMORY, "no memory for the %lu x %lu "
                            "within-class scatter of NC1", (unsigned long)d, (unsigned long)d);
        dxd = 0;
    }

    /* ---- one pass over H in column blocks: NC1, NC4, accuracy, V_k ---- */
    for (r = 0; r < 2 * L.p; r++) L.acc[r] = 0.0;
    for (k = 0; k < 2 * K; k++) {
        m->vacc[k] = 0.0;
        m->ccnt[k] = 0;
    }
    {
        for (i0 = 0; i0 < N; i0 += L.block) {
            const size_t nb = N - i0 < L.block ? N - i0 : L.block;
            for (j = 0; j < nb; j++) {
                const double *h = H + (i0 + j) * ldh;
                const double *mu = L.mu + (size_t)labels[i0 + j] * d;
                double *xh = L.tmpH + j * d;
                double *xx = L.tmpX + j * d;
                nc__sum v;
                v.s = m->vacc[2 * (size_t)labels[i0 + j]];
                v.c = m->vacc[2 * (size_t)labels[i0 + j] + 1];
                for (t = 0; t < d; t++) {
                    xh[t] = sH * h[t];
                    xx[t] = xh[t] - mu[t];
                    nc__sum_add(&v, xx[t] * xx[t]);
                }
                m->vacc[2 * (size_t)labels[i0 + j]] = v.s;
                m->vacc[2 * (size_t)labels[i0 + j] + 1] = v.c;
            }
            if (dxd) {
                dxd_add(&X, L.tmpX, nb);
            } else if (g.nc1_ok && g.rank > 0) {
                const size_t rank = g.rank;
                cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)rank, (int)nb, (int)d,
                            1.0, L.T, (int)d, L.tmpX, (int)d, 0.0, L.P, (int)rank);
                for (r = 0; r < rank; r++) {
                    nc__sum a;
                    a.s = L.acc[2 * r];
                    a.c = L.acc[2 * r + 1];
                    for (j = 0; j < nb; j++) {
                        const double v = L.P[r + j * rank];
                        nc__sum_add(&a, v * v);
                    }
                    L.acc[2 * r] = a.s;
                    L.acc[2 * r + 1] = a.c;
                }
            }
            if (W != NULL && logits_ok)
                logits_ok = nc__nc4_block(d, K, nb, H + i0 * ldh, ldh, labels + i0, L.tmpH, L.mu,
                                          L.munrm, L.Wp, L.bp, g.zalpha, L.Z, L.IP, &mismatches,
                                          &correct, m->ccnt, m->ccnt + K);
        }
    }
    if (dxd) {
        const size_t n2 = d * d;
        dxd_flush(&X);
        for (i = 0; i < n2; i++) X.Ss[i] += X.Sc[i];
        memcpy(X.A, L.T, d * g.rank * sizeof(double));
        srr_from_scatter(d, g.rank, X.Ss, X.A, X.B, L.srr);
        free(X.X);
    } else {
        for (r = 0; r < g.rank; r++) L.srr[r] = L.acc[2 * r] + L.acc[2 * r + 1];
    }
    metrics_finish(m, &L, &g, K, N, W != NULL, logits_ok, mismatches, correct);
    for (k = 0; k < K; k++) m->vacc[k] = m->vacc[2 * k] + m->vacc[2 * k + 1];
    return metrics_pairs(m, &L, &g, d, K, N, counts, m->vacc, sH, W, ldw, pool, threads,
                         logits_ok, m->ccnt, m->ccnt + K, NULL, NULL);
}

nc_status nc__metrics_fail(nc_metrics *m, nc_status status, const char *message)
{
    fail_all(m);
    return nc__fail(m->msg, status, "%s", message);
}

/* NC1 of a summary: the SVD of the centred means (nc1_basis) and u_r^T S u_r
 * of the kept directions, the side task of the tiled pass: the longest
 * serial step of a summary's metrics (about 1.6 s at K = 32768, d = 768)
 * runs while other threads take tiles. Its note or failure goes to msg, put
 * in its place among the notes afterwards. */
typedef struct summary_nc1_job {
    const nc_metrics *m;
    layout *L;
    geom *g;
    const nc__summary *sm;
    nc_status st;
    char msg[NC_MSG_SIZE];
} summary_nc1_job;

static void summary_nc1(void *ctx)
{
    summary_nc1_job *j = (summary_nc1_job *)ctx;
    const nc__summary *sm = j->sm;
    layout *L = j->L;
    const size_t d = sm->d, q = sm->q;
    j->st = nc1_basis(j->m, L, d, sm->K, sm->N, sm->counts, j->g, j->msg);
    if (j->st != NC_SUCCESS) return;
    if (j->g->nc1_ok && j->g->rank > 0) {
        /* The kept directions u_r lie in the span of the centred means, which
         * Q spans: u_r = Q a_r with A = Q^T U, so that
         * u_r^T (sum_i x_i x_i^T) u_r = a_r^T S a_r. */
        const size_t rank = j->g->rank;
        if (sm->Q != NULL)
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)q, (int)rank, (int)d, 1.0,
                        sm->Q, (int)d, L->T, (int)d, 0.0, L->A, (int)q);
        else /* S is the d x d scatter: u_r^T S u_r directly. */
            memcpy(L->A, L->T, d * rank * sizeof(double));
        srr_from_scatter(sm->Q != NULL ? q : d, rank, sm->S, L->A, L->B, L->srr);
    }
}

nc_status nc__metrics_from_summary(nc_metrics *m, const nc__summary *sm)
{
    layout L;
    geom g;
    nc_status st;
    summary_nc1_job nc1;
    size_t pre;
    int with_nc1;
    const size_t d = sm->d, K = sm->K;

    fail_all(m);
    m->msg[0] = '\0';
    memset(&L, 0, sizeof L);
    L.untiled = use_untiled(m, K);
    /* No NC1 without a scatter, or when the handle asks for none. */
    with_nc1 = sm->S != NULL && m->nc1_path != NC_NC1_PATH_NONE;
    st = prepare_workspace(m, d, K, 1, sm->W != NULL, 0, with_nc1, &L);
    if (st != NC_SUCCESS) return st;
    L.mu = (double *)(size_t)sm->mu; /* read only */
    st = metrics_geometry(m, &L, d, K, sm->N, sm->counts, sm->W, sm->ldw, sm->b, &g);
    if (st != NC_SUCCESS) {
        fail_all(m);
        return st;
    }
    nc1.m = m;
    nc1.L = &L;
    nc1.g = &g;
    nc1.sm = sm;
    nc1.st = NC_SUCCESS;
    nc1.msg[0] = '\0';
    pre = strlen(m->msg);
    st = metrics_pairs(m, &L, &g, d, K, sm->N, sm->counts, sm->vsum, sm->scale, sm->W, sm->ldw,
                       m->threads > 0 ? m->pool : sm->pool,
                       m->threads > 0 ? m->threads : sm->threads > 0 ? sm->threads : 1,
                       sm->logits_ok, sm->cls_mismatches, sm->cls_correct,
                       with_nc1 ? summary_nc1 : NULL, with_nc1 ? &nc1 : NULL);
    if (st == NC_SUCCESS && nc1.st != NC_SUCCESS) {
        st = nc1.st;
        memcpy(m->msg, nc1.msg, NC_MSG_SIZE);
    }
    if (st != NC_SUCCESS) {
        fail_all(m);
        return st;
    }
    {
        /* The notes in the order of the in-memory path: geometry's, NC1's
         * and metrics_finish's, then the pairwise pass's (appended after
         * the first, "; "-separated: one note re-adds them alike). */
        char pairs_notes[NC_MSG_SIZE];
        const char *p = m->msg + pre;
        if (pre > 0 && p[0] == ';' && p[1] == ' ') p += 2;
        memcpy(pairs_notes, p, strlen(p) + 1);
        m->msg[pre] = '\0';
        if (nc1.msg[0] != '\0') note(m, nc1.msg);
        metrics_finish(m, &L, &g, K, sm->N, sm->W != NULL, sm->logits_ok, sm->mismatches,
                       sm->correct);
        if (pairs_notes[0] != '\0') note(m, pairs_notes);
    }
    return NC_SUCCESS;
}

const double *nc__metrics_classes(const nc_metrics *m, size_t *K)
{
    *K = m->cls_K;
    return m->cls_K > 0 ? m->cls : NULL;
}

char *nc__metrics_msg(nc_metrics *m) { return m->msg; }

nc_nc1_path nc__metrics_nc1_path(const nc_metrics *m) { return m->nc1_path; }

/* ---- public functions ---------------------------------------------------------- */

NC_API nc_status nc_metrics_create(nc_metrics **metrics)
{
    nc_metrics *m;
    nc__create_clear();
    if (metrics == NULL)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_metrics_create: metrics is NULL");
    *metrics = NULL;
    m = (nc_metrics *)calloc(1, sizeof *m);
    if (m == NULL) return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_metrics_create: no memory");
    m->global_mean = NC_GLOBAL_MEAN_SAMPLE;
    m->between_weight = NC_BETWEEN_UNIFORM;
    m->pinv_rtol = 1e-13;
    m->work = NULL;
    m->work_cap = 0;
    m->counts = NULL;
    m->counts_cap = 0;
    m->msg[0] = '\0';
    *metrics = m;
    return NC_SUCCESS;
}

NC_API void nc_metrics_destroy(nc_metrics *metrics)
{
    if (metrics == NULL) return;
    free(metrics->work);
    free(metrics->counts);
    free(metrics->vacc);
    free(metrics->cls);
    nc__pool_destroy(metrics->pool);
    free(metrics);
}

NC_API nc_status nc_metrics_set_global_mean(nc_metrics *metrics, nc_global_mean convention)
{
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (convention != NC_GLOBAL_MEAN_SAMPLE && convention != NC_GLOBAL_MEAN_CLASS_AVG)
        return nc__fail(metrics->msg, NC_ERR_INVALID_VALUE,
                        "unknown global mean convention %d", (int)convention);
    metrics->global_mean = convention;
    return NC_SUCCESS;
}

NC_API nc_status nc_metrics_set_between_weight(nc_metrics *metrics, nc_between_weight weighting)
{
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (weighting != NC_BETWEEN_UNIFORM && weighting != NC_BETWEEN_WEIGHTED)
        return nc__fail(metrics->msg, NC_ERR_INVALID_VALUE,
                        "unknown between-class weighting %d", (int)weighting);
    metrics->between_weight = weighting;
    return NC_SUCCESS;
}

NC_API nc_status nc_metrics_set_pinv_rtol(nc_metrics *metrics, double rtol)
{
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (!nc__is_finite(rtol) || rtol < 0.0 || rtol >= 1.0)
        return nc__fail(metrics->msg, NC_ERR_INVALID_VALUE,
                        "pseudo-inverse rtol must be finite and in [0, 1) (got %g)", rtol);
    metrics->pinv_rtol = rtol;
    return NC_SUCCESS;
}

NC_API nc_status nc_metrics_set_nc1_path(nc_metrics *metrics, nc_nc1_path path)
{
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    metrics->msg[0] = '\0';
    if ((int)path < (int)NC_NC1_PATH_AUTO || (int)path > (int)NC_NC1_PATH_NONE)
        return nc__fail(metrics->msg, NC_ERR_INVALID_VALUE, "unknown NC1 path %d", (int)path);
    metrics->nc1_path = path;
    return NC_SUCCESS;
}

NC_API nc_status nc_metrics_set_tile(nc_metrics *metrics, size_t tile)
{
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (tile > 65536)
        return nc__fail(metrics->msg, NC_ERR_INVALID_VALUE, "tile %lu is above 65536",
                        (unsigned long)tile);
    metrics->tile = tile;
    return NC_SUCCESS;
}

NC_API nc_status nc_metrics_set_threads(nc_metrics *metrics, size_t threads)
{
    nc__pool *pool = NULL;
    nc_status st;
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (threads < 1 || threads > 1024)
        return nc__fail(metrics->msg, NC_ERR_INVALID_VALUE, "threads must be in [1, 1024] (got "
                        "%lu)", (unsigned long)threads);
    st = nc__pool_create(&pool, threads);
    if (st != NC_SUCCESS)
        return nc__fail(metrics->msg, st, "cannot start %lu threads", (unsigned long)threads);
    nc__pool_destroy(metrics->pool);
    metrics->pool = pool;
    metrics->threads = threads;
    return NC_SUCCESS;
}

static nc_status compute_data_on(nc_metrics *metrics, size_t d, size_t K, size_t N,
                                 const double *H, size_t ldh, const int32_t *labels,
                                 const double *W, size_t ldw, const double *b, nc__pool *pool,
                                 size_t threads);

NC_API nc_status nc_metrics_compute_data(nc_metrics *metrics, size_t d, size_t K, size_t N,
                                         const double *H, size_t ldh, const int32_t *labels,
                                         const double *W, size_t ldw, const double *b)
{
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    return compute_data_on(metrics, d, K, N, H, ldh, labels, W, ldw, b, metrics->pool,
                           metrics->threads > 0 ? metrics->threads : 1);
}

static nc_status compute_data_on(nc_metrics *metrics, size_t d, size_t K, size_t N,
                                 const double *H, size_t ldh, const int32_t *labels,
                                 const double *W, size_t ldw, const double *b, nc__pool *pool,
                                 size_t threads)
{
    nc_status st;
    size_t k;
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    fail_all(metrics);
    metrics->msg[0] = '\0';
    if (H == NULL || labels == NULL)
        return nc__fail(metrics->msg, NC_ERR_NULL_ARGUMENT, "%s is NULL",
                        H == NULL ? "H" : "labels");
    st = compute_impl(metrics, d, K, N, H, ldh, labels, W, ldw, W != NULL ? b : NULL, pool,
                      threads);
    if (st != NC_SUCCESS) fail_all(metrics);
    (void)k;
    return st;
}

NC_API nc_status nc_metrics_compute(nc_metrics *metrics, const nc_model *model)
{
    size_t k;
    if (metrics == NULL) return NC_ERR_NULL_ARGUMENT;
    if (model == NULL) {
        for (k = 0; k < NC_METRIC_COUNT; k++) metrics->available[k] = 0;
        return nc__fail(metrics->msg, NC_ERR_NULL_ARGUMENT, "model is NULL");
    }
    if (model->W == NULL) {
        for (k = 0; k < NC_METRIC_COUNT; k++) metrics->available[k] = 0;
        return nc__fail(metrics->msg, NC_ERR_NULL_ARGUMENT, "the model has no W");
    }
    if (metrics->threads > 0)
        return compute_data_on(metrics, model->d, model->K, model->N, model->H, model->d,
                               model->labels, model->W, model->d, model->bias ? model->b : NULL,
                               metrics->pool, metrics->threads);
    return compute_data_on(metrics, model->d, model->K, model->N, model->H, model->d,
                           model->labels, model->W, model->d, model->bias ? model->b : NULL,
                           model->pool, model->threads);
}

NC_API nc_status nc_metrics_get(const nc_metrics *metrics, nc_metric metric, double *value)
{
    if (metrics == NULL || value == NULL) return NC_ERR_NULL_ARGUMENT;
    if ((int)metric < 0 || (int)metric >= (int)NC_METRIC_COUNT) return NC_ERR_INVALID_VALUE;
    if (!metrics->available[metric]) {
        *value = NAN;
        return NC_ERR_UNAVAILABLE;
    }
    *value = metrics->value[metric];
    return NC_SUCCESS;
}

NC_API const char *nc_metric_name(nc_metric metric)
{
    if ((int)metric < 0 || (int)metric >= (int)NC_METRIC_COUNT) return "unknown";
    return metric_names[metric];
}

NC_API const char *nc_class_stat_name(nc_class_stat stat)
{
    if ((int)stat < 0 || (int)stat >= (int)NC_CLASS_STAT_COUNT) return "unknown";
    return class_stat_names[stat];
}

NC_API nc_status nc_metrics_get_class(const nc_metrics *metrics, nc_class_stat stat, size_t K,
                                      double *values)
{
    size_t k;
    if (metrics == NULL || values == NULL) return NC_ERR_NULL_ARGUMENT;
    if ((int)stat < 0 || (int)stat >= (int)NC_CLASS_STAT_COUNT) return NC_ERR_INVALID_VALUE;
    if (metrics->cls_K == 0 || !metrics->cls_available[stat]) return NC_ERR_UNAVAILABLE;
    if (K != metrics->cls_K) return NC_ERR_SIZE_MISMATCH;
    for (k = 0; k < K; k++) values[k] = metrics->cls[k * NC_CLASS_STAT_COUNT + stat];
    return NC_SUCCESS;
}

NC_API const char *nc_metrics_last_error(const nc_metrics *metrics)
{
    return metrics != NULL ? metrics->msg : "";
}

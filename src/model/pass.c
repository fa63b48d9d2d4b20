/*
 * pass.c - the column-blocked pass that evaluates objective and gradient
 * and, for the first-order optimizers, updates H in the same sweep.
 *
 * H is split into `threads` contiguous ranges of columns, one per thread;
 * each range is processed block by block. For one block H_j:
 *   Z   = P^T H_j (+ b)                  logits, K x nb
 *   Z   = dL/dZ / N                      the loss, then one scaling
 *   gP += H_j Z^T,  gb += Z 1            partial gradients of the thread
 *   G_j = P Z + lambda_H H_j (+ AllNC)   then the rule updates H_j (v, s) in
 *                                        place, column by column
 * so that H is read once and written once per step. The block's
 * contribution to gP is taken before H_j changes, so the fused step equals
 * the simultaneous one.
 *
 * Two implementations of the three products:
 *  - fused small-K kernels (pass_kernel.c): register-blocked, with the block
 *    hot in L1/L2; G is produced a few columns at a time into a tiny
 *    scratch and finished right away;
 *  - BLAS-3 (large K): the products are compute-bound and OpenBLAS's DGEMM
 *    is the better kernel; blocks are larger so that its calls are efficient.
 * The per-column finish (gradient, norms, update rule) is the same
 * vectorised kernel in both.
 *
 * Threads own partial gP / gb / sums, added in thread order at the end: a
 * run is bit-identical for a given thread count.
 */
#include "model/model.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>


/* The fused kernels are not blocked over P: each group of a few columns
 * streams all of P (and each block all of gP), so they need P to stay in
 * L2: K d <= NC_FUSED_MAX_KD (at K = 1000, d = 1024 they run at 2x the time
 * of BLAS-3). Within that, up to NC_FUSED_MAX_K_* classes: measured against
 * OpenBLAS 0.3.21's DGEMM at d = 512 (docs/performance.md), the AVX-512
 * kernels win up to K = 200 (1.3x), the AVX2 ones up to K = 10 (1.4x) and
 * lose from K = 16 (0.93x). */
#define NC_FUSED_MAX_KD (64u * 1024u)
#define NC_FUSED_MAX_K_AVX512 1024
#define NC_FUSED_MAX_K_OTHER 12
/* The small-d path (features transposed per block, vectorised across
 * columns) is chosen up to d = NC_SMALL_MAX_D and K = NC_SMALL_MAX_K, where
 * it measured faster than the fused kernels (docs/performance.md, K = 4,
 * 10, 100): d <= 24 1.1-2.8x; d < 48 not a multiple of 8 1.1-1.8x (the
 * fused kernels do those last rows one at a time); d = 32 and 40, since its
 * 4 x 4 register tiles, 1.2-1.3x at K = 4 and 10 and
 * 1.5-1.8x at K = 100 with AVX-512, 1.0-1.7x with AVX2. At d = 48-64 the
 * two are within 1.2x either way, at d = 96 the fused kernels win at small K. */
#define NC_SMALL_MAX_D 47
/* Doubles of transposed logits and scratch per thread for column_loss_t. */
#define NC_COLUMN_LOSS_T_MAX 65536
#define NC_SMALL_MAX_K 1024
/* Target bytes of a block of H for the fused kernels (stays in L2 across
 * its three sweeps) and for the BLAS-3 path (large enough for DGEMM). */
#define NC_FUSED_BLOCK_BYTES (256u * 1024u)
#define NC_BLAS_BLOCK_BYTES (8u * 1024u * 1024u)
/* Below this many multiply-adds per product (K d N) the parts run one
 * after the other on the calling thread: waking threads would cost more. */
#define NC_PARALLEL_MIN_WORK (1u << 20)
#define NC_MAX_THREADS 1024
/* Up to this many classes the fused kernels also bring in the next block of
 * H and the block's optimizer buffers while they compute (nc__pf): at K = 10,
 * d = 512 a momentum step takes 12% less time; from K = 50 the arithmetic
 * hides memory and the prefetch instructions cost 3-7%
 * (docs/performance.md). */
#define NC_PREFETCH_MAX_K 32

static size_t clamp(size_t x, size_t lo, size_t hi) { return x < lo ? lo : x > hi ? hi : x; }

static void choose_blocks(nc_model *m)
{
    const size_t per_col = (m->d + m->K) * sizeof(double);
    m->block = clamp(NC_BLAS_BLOCK_BYTES / per_col, 64, 2048);
    m->block_fused = clamp(NC_FUSED_BLOCK_BYTES / per_col, 8, 1024);
    m->block_fused -= m->block_fused % 4; /* whole column groups of the kernels */
    m->parallel_min = NC_PARALLEL_MIN_WORK;
    /* a shard takes the global problem's blocks: the blocks of a part, and
     * so its sums, do not depend on how the samples are sharded */
    if (m->block > nc__model_total_samples(m)) m->block = nc__model_total_samples(m);
    if (m->block_fused > nc__model_total_samples(m))
        m->block_fused = nc__model_total_samples(m);
}

/* The fused column path runs the loss on the block transposed too (its
 * value_grad_t: vectorised across samples, where the column form loops over
 * each sample's K logits in scalar code; at (10, 64, 5000) the column CE
 * loss was a quarter of the step) when the K x ldt rows stay small. */
static int column_loss_t(const nc_model *m, size_t ldt)
{
    return (m->K + 4) * ldt <= NC_COLUMN_LOSS_T_MAX;
}

static void free_ws(nc__pass_ws *ws, size_t threads, double *keep_gP)
{
    size_t t;
    if (!ws) return;
    for (t = 0; t < threads; t++) {
        free(ws[t].Z);
        free(ws[t].G);
        if (ws[t].gP != keep_gP) free(ws[t].gP);
        free(ws[t].gb_mem);
        nc__free_aligned(ws[t].T);
    }
    free(ws);
}

void nc__pass_free(nc_model *m)
{
    free(m->Ppack);
    m->Ppack = NULL;
    nc__pool_destroy(m->pool);
    free_ws(m->ws, m->threads, NULL);
    m->pool = NULL;
    m->ws = NULL;
    m->Zblock = m->Gblock = m->gP = NULL;
}

nc_status nc__pass_set_threads(nc_model *m, size_t threads)
{
    nc__pass_ws *ws;
    nc__pool *pool = NULL;
    double *Ppack;
    size_t t, zcols, gcols, rows_T;
    nc_status st;
    if (threads == 0 || threads > NC_MAX_THREADS) return NC_ERR_INVALID_VALUE;
    if (!m->block) choose_blocks(m);
    zcols = m->block > m->block_fused ? m->block : m->block_fused;
    gcols = m->block > m->block_fused ? m->block : m->block_fused;
    if (gcols < 8) gcols = 8;
    Ppack = nc__alloc_doubles(m->d, m->K);
    ws = (nc__pass_ws *)calloc(threads, sizeof *ws);
    if (!ws || !Ppack) {
        free(ws);
        free(Ppack);
        return NC_ERR_OUT_OF_MEMORY;
    }
    for (t = 0; t < threads; t++) {
        ws[t].Z = nc__alloc_doubles(m->K, zcols);
        ws[t].G = nc__alloc_doubles(m->d, gcols);
        ws[t].gP = nc__alloc_doubles(m->d, m->K);
        /* 64 bytes of padding on both sides: no other thread's data shares
         * the cache lines that this thread adds to at every block. */
        ws[t].gb_mem = nc__alloc_doubles(m->K + 16, 1);
        ws[t].gb = ws[t].gb_mem ? ws[t].gb_mem + 8 : NULL;
        ws[t].ldt = NC__SMALL_ROUND(m->block_fused);
        /* rows 512 bytes apart would share L1 sets: the transposes write d
         * of them at once (d = 16 was 2.5x slower with ldt = 1024) */
        if (ws[t].ldt % 64 == 0) ws[t].ldt += NC__SMALL_PAD;
        /* rows of T: the small-d path's Ht, Zt, Gt and scratch, or the
         * column path's transposed logits and scratch, or none */
        rows_T = m->d <= NC_SMALL_MAX_D ? 2 * m->d + m->K + 4
                 : column_loss_t(m, ws[t].ldt) ? m->K + 4 : 0;
        ws[t].T = rows_T ? nc__calloc_aligned(rows_T, ws[t].ldt) : NULL;
        if (!ws[t].Z || !ws[t].G || !ws[t].gP || !ws[t].gb || (rows_T && !ws[t].T)) {
            free_ws(ws, threads, NULL);
            free(Ppack);
            return NC_ERR_OUT_OF_MEMORY;
        }
    }
    if ((st = nc__pool_create(&pool, threads)) != NC_SUCCESS) {
        free_ws(ws, threads, NULL);
        free(Ppack);
        return st;
    }
    nc__pass_free(m);
    m->Ppack = Ppack;
    m->ws = ws;
    m->pool = pool;
    m->threads = threads;
    m->Zblock = ws[0].Z;
    m->Gblock = ws[0].G;
    m->gP = ws[0].gP;
    return NC_SUCCESS;
}

nc_status nc__model_set_kernel(nc_model *m, int kernel, nc__isa isa)
{
    if (kernel < NC__KERNEL_AUTO || kernel > NC__KERNEL_SMALL || !nc__isa_supported(isa) ||
        (kernel == NC__KERNEL_SMALL && m->d > NC_SMALL_MAX_D))
        return NC_ERR_UNSUPPORTED;
    m->kernel = kernel;
    m->isa = isa;
    return NC_SUCCESS;
}

nc_status nc__model_set_blocks(nc_model *m, size_t block, size_t block_fused, size_t parallel_min)
{
    if (block) m->block = block < m->N ? block : m->N;
    if (block_fused) m->block_fused = block_fused < m->N ? block_fused : m->N;
    m->parallel_min = parallel_min;
    return nc__pass_set_threads(m, m->threads);
}

int nc__model_path(const nc_model *m)
{
    if (m->kernel != NC__KERNEL_AUTO) return m->kernel;
    if (m->K <= NC_SMALL_MAX_K && m->d <= NC_SMALL_MAX_D) return NC__KERNEL_SMALL;
    if (m->K * m->d <= NC_FUSED_MAX_KD &&
        m->K <= (m->isa == NC__ISA_AVX512 ? NC_FUSED_MAX_K_AVX512 : NC_FUSED_MAX_K_OTHER))
        return NC__KERNEL_FUSED;
    return NC__KERNEL_BLAS;
}

/* ---- depth: back-propagation of gP through the layers ----------------------- */

/* Gradients of the layers from gP (K x d row-major) into m->gsmall:
 * dW_M = gP R_{M-1}^T, and with Q_{M-1} = W_M^T gP, Q_{l-1} = W_l^T Q_l:
 * dW_l = Q_l R_{l-1}^T (dW_1 = Q_1). */
static void backprop_layers(nc_model *m, const double *gP)
{
    const int d = (int)m->d, K = (int)m->K;
    const size_t dd = m->d * m->d;
    double *Q = m->scratch_a, *T = m->scratch_b;
    size_t l;
    if (m->depth == 1) {
        memcpy(m->gsmall, gP, m->d * m->K * sizeof(double));
        return;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, d, d, 1.0, gP, d,
                m->prefix + (m->depth - 2) * dd, d, 0.0, m->gsmall + m->n_hidden, d);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, K, 1.0, m->Wc, d, gP, d, 0.0, Q, d);
    for (l = m->depth - 1; l >= 1; l--) { /* layer index l-1 is W_l */
        double *gl = m->gsmall + (l - 1) * dd;
        if (l == 1)
            memcpy(gl, Q, dd * sizeof(double));
        else {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, d, d, 1.0, Q, d,
                        m->prefix + (l - 2) * dd, d, 0.0, gl, d);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, d, 1.0,
                        m->small + (l - 1) * dd, d, Q, d, 0.0, T, d);
            memcpy(Q, T, dd * sizeof(double));
        }
    }
}

/* ---- one thread's part -------------------------------------------------------- */

typedef struct pass_job {
    nc_model *m;
    const nc__kernels *kern;
    const nc__loss_def *loss;
    nc__loss_ctx loss_ctx; /* the model's, with the kernels' exp and log1p */
    int path, fused, need_gP, allnc;
    double invN;
    double *gH;
    size_t ldgh;
    double *v, *s; /* d x N buffers of the rule, or NULL */
    nc__col_args args;
} pass_job;

/* Columns [i, i + n) with their gradient G (ld ldg): finish and add the
 * group's sums to the thread's compensated sums. */
static void finish_columns(const pass_job *job, nc__pass_ws *ws, size_t i, size_t n, double *G,
                           size_t ldg)
{
    const nc_model *m = job->m;
    const size_t d = m->d;
    double out[6];
    job->kern->columns(&job->args, n, m->H + i * d, G, ldg, job->v ? job->v + i * d : NULL,
                       job->s ? job->s + i * d : NULL, m->labels + i, out);
    if (job->allnc) nc__sum_add(&ws->nc1, out[0]);
    nc__sum_add(&ws->h2, out[1]);
    nc__sum_add(&ws->gh2, out[2]);
    if (job->args.rule) {
        nc__sum_add(&ws->h2_new, out[3]);
        nc__sum_add(&ws->v2_new, out[4]);
        nc__sum_add(&ws->s2_new, out[5]);
    }
}

/* The bytes of columns [i, i + n) of X (ld d) as a prefetch range; an empty
 * one becomes a line of `hot` (already in cache), as the kernels need len > 0. */
static nc__pf pf_columns(const double *X, size_t d, size_t i, size_t n, const double *hot)
{
    nc__pf r;
    r.base = (const char *)(n ? X + i * d : hot);
    r.len = n ? n * d * sizeof(double) : sizeof(double);
    return r;
}

/* Part [a, b) of n of a range (in bytes; whole lines do not matter). */
static nc__pf pf_part(nc__pf r, size_t a, size_t b, size_t n, const double *hot)
{
    const size_t lo = r.len / n * a + r.len % n * a / n, hi = r.len / n * b + r.len % n * b / n;
    if (hi <= lo) return pf_columns(hot, 0, 0, 0, hot);
    r.base += lo;
    r.len = hi - lo;
    return r;
}

/* dL/dZ / N in place and gb += its row sums, on a block in the usual layout. */
static void scale_block(const pass_job *job, nc__pass_ws *ws, double *Z, size_t nb)
{
    const size_t K = job->m->K;
    const double invN = job->invN; /* a local: Z may not alias it */
    size_t i, k;
    for (i = 0; i < K * nb; i++) Z[i] *= invN;
    if (job->m->bias)
        for (i = 0; i < nb; i++)
            for (k = 0; k < K; k++) ws->gb[k] += Z[i * K + k];
}

/* The small-d path writes G straight from the transposed rows (t_product,
 * which reads the packed P) where d is a multiple of the vector width: no
 * scalar rows of P are left over there. */
static int small_uses_product(size_t d, const nc__kernels *kern) { return d % kern->width == 0; }

/* One block of the small-d path: H_j transposed once, the logits, the loss
 * (where it has a transposed form) and the feature gradient as row
 * operations (no horizontal sums), then the usual column finish. Columns
 * nb..n of the transposed rows are zeros: they add nothing to gP. */
static void small_block(const pass_job *job, nc__pass_ws *ws, size_t j0, size_t nb)
{
    nc_model *m = job->m;
    const size_t d = m->d, K = m->K, ldt = ws->ldt;
    const size_t n = NC__SMALL_ROUND(nb);
    double *Ht = ws->T, *Zt = Ht + d * ldt, *Gt = Zt + K * ldt, *Z = ws->Z;
    double *G = job->gH ? job->gH + j0 * job->ldgh : ws->G;
    const size_t ldg = job->gH ? job->ldgh : d;
    size_t k;

    job->kern->transpose(m->H + j0 * d, d, d, nb, Ht, ldt);
    for (k = 0; k < d; k++) memset(Ht + k * ldt + nb, 0, (n - nb) * sizeof(double));
    job->kern->t_gemm(K, d, n, m->W, d, 1, Ht, ldt, m->bias ? m->b : NULL, Zt);

    /* The loss on the transposed block where it has that form (CE family,
     * MSE: the same operations per sample), else on a copy in the usual
     * layout. Then dL/dZ / N and gb (with the transposed loss, gb's sum runs
     * in vector lanes: a chain of nb additions per class took 12% of a
     * (4, 8, 400) step with bias). */
    if (job->loss->value_grad_t) {
        nc__sum_add(&ws->loss, job->loss->value_grad_t(&job->loss_ctx, Zt, ldt, K, nb,
                                                      m->labels + j0, Gt + d * ldt));
        job->kern->t_scale(K, nb, Zt, ldt, job->invN, m->bias ? ws->gb : NULL);
    } else {
        job->kern->transpose(Zt, ldt, nb, K, Z, K);
        nc__sum_add(&ws->loss, job->loss->value_grad(&job->loss_ctx, Z, K, nb, m->labels + j0));
        scale_block(job, ws, Z, nb);
        job->kern->transpose(Z, K, K, nb, Zt, ldt);
    }
    for (k = 0; k < K; k++) memset(Zt + k * ldt + nb, 0, (n - nb) * sizeof(double));
    if (job->need_gP) job->kern->t_rank(d, K, n, Ht, Zt, ldt, ws->gP);
    if (small_uses_product(d, job->kern)) {
        /* G = P Z straight from the transposed rows into columns, vectorised
         * along d: no transpose back (d = 16: 20% faster per step). */
        job->kern->t_product(d, K, nb, m->Ppack, Zt, ldt, G, ldg);
    } else {
        /* P's last rows would be scalar there: rows of G, then transposed */
        job->kern->t_gemm(d, K, n, m->W, 1, d, Zt, ldt, NULL, Gt);
        job->kern->transpose(Gt, ldt, nb, d, G, ldg);
    }
    finish_columns(job, ws, j0, nb, G, ldg);
}

static void pass_part(void *ctx, size_t t)
{
    const pass_job *job = (const pass_job *)ctx;
    nc_model *m = job->m;
    /* The sums are updated at every group of columns: keep them in this
     * thread's own copy (on its stack) and store them once at the end, not
     * in m->ws[], where neighbouring threads' sums share cache lines. */
    nc__pass_ws local = m->ws[t], *ws = &local;
    const size_t d = m->d, K = m->K, N = m->N, T = m->threads;
    const size_t c0 = N / T * t + (t < N % T ? t : N % T);
    const size_t c1 = c0 + N / T + (t < N % T ? 1 : 0);
    const size_t block = job->fused ? m->block_fused : m->block;
    const double *P = m->W;
    const nc__sum zero = {0.0, 0.0};
    size_t j0, i;

    ws->loss = ws->h2 = ws->gh2 = ws->nc1 = ws->h2_new = ws->v2_new = ws->s2_new = zero;
    if (job->need_gP) memset(ws->gP, 0, d * K * sizeof(double));
    memset(ws->gb, 0, K * sizeof(double));

    for (j0 = c0; j0 < c1; j0 += block) {
        const size_t nb = c1 - j0 < block ? c1 - j0 : block;
        double *Hj = m->H + j0 * d;
        double *Z = ws->Z;
        nc__pf pf_logits = {NULL, 0}, pf_rank = {NULL, 0}, pf_product = {NULL, 0};
        const nc__pf *pfl = NULL, *pfr = NULL, *pfp = NULL;

        if (job->path == NC__KERNEL_SMALL) {
            small_block(job, ws, j0, nb);
            continue;
        }

        /* What memory brings in while this block computes (nc__pf): the
         * block's optimizer buffers, needed by its finish, during the logits
         * (and the rank update, for Adam's second buffer); then the next
         * block of H. GD: the next block over all three products. */
        if (job->fused && K <= NC_PREFETCH_MAX_K) {
            const size_t nn = j0 + nb < c1 ? (c1 - j0 - nb < block ? c1 - j0 - nb : block) : 0;
            const nc__pf next = pf_columns(m->H, d, j0 + nb, nn, Hj);
            if (job->v) {
                pf_logits = pf_columns(job->v, d, j0, nb, Hj);
                if (job->s) {
                    pf_rank = pf_columns(job->s, d, j0, nb, Hj);
                    pf_product = next;
                } else {
                    pf_rank = pf_part(next, 0, 1, 2, Hj);
                    pf_product = pf_part(next, 1, 2, 2, Hj);
                }
            } else {
                pf_logits = pf_part(next, 0, 1, 3, Hj);
                pf_rank = pf_part(next, 1, 2, 3, Hj);
                pf_product = pf_part(next, 2, 3, 3, Hj);
            }
            pfl = &pf_logits;
            pfr = &pf_rank;
            pfp = &pf_product;
        }

        /* Z = P^T H_j (+ b): column i holds the logits of sample j0 + i. */
        if (job->fused)
            job->kern->logits(d, K, nb, m->Ppack, P, Hj, d, m->bias ? m->b : NULL, Z, pfl);
        else {
            if (m->bias)
                for (i = 0; i < nb; i++) memcpy(Z + i * K, m->b, K * sizeof(double));
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)nb, (int)d, 1.0, P,
                        (int)d, Hj, (int)d, m->bias ? 1.0 : 0.0, Z, (int)K);
        }

        /* Loss and dL/dZ in place, then dL/dZ / N: the gradients of the
         * objective are plain products with it. */
        if (job->fused && ws->T && job->loss->value_grad_t) {
            /* the loss on the block transposed, then back: the values and
             * dL/dZ bit-identical to value_grad; gb is summed in vector
             * lanes by t_scale (another order than scale_block's) */
            const size_t ldt = ws->ldt, n = NC__SMALL_ROUND(nb);
            double *Zt = ws->T;
            job->kern->transpose(Z, K, K, nb, Zt, ldt);
            for (i = 0; i < K; i++) memset(Zt + i * ldt + nb, 0, (n - nb) * sizeof(double));
            nc__sum_add(&ws->loss, job->loss->value_grad_t(&job->loss_ctx, Zt, ldt, K, nb,
                                                          m->labels + j0, Zt + K * ldt));
            job->kern->t_scale(K, nb, Zt, ldt, job->invN, m->bias ? ws->gb : NULL);
            job->kern->transpose(Zt, ldt, nb, K, Z, K);
        } else {
            nc__sum_add(&ws->loss, job->loss->value_grad(&job->loss_ctx, Z, K, nb, m->labels + j0));
            scale_block(job, ws, Z, nb);
        }

        /* gP += H_j Z^T (before any update of H_j). */
        if (job->need_gP) {
            if (job->fused)
                job->kern->rank_update(d, K, nb, Hj, d, Z, ws->gP, pfr);
            else
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)d, (int)K, (int)nb, 1.0,
                            Hj, (int)d, Z, (int)K, 1.0, ws->gP, (int)d);
        }

        /* G_j = P Z, finished (and H_j updated) column by column. */
        if (job->fused) {
            const size_t step = job->kern->cols;
            for (i = 0; i < nb; i += step) {
                const size_t nc = nb - i < step ? nb - i : step;
                double *G = job->gH ? job->gH + (j0 + i) * job->ldgh : ws->G;
                const size_t ldg = job->gH ? job->ldgh : d;
                const nc__pf pf = pfp ? pf_part(pf_product, i, i + nc, nb, Hj) : pf_product;
                job->kern->product(d, K, nc, m->Ppack, P, Z + i * K, G, ldg, pfp ? &pf : NULL);
                finish_columns(job, ws, j0 + i, nc, G, ldg);
            }
        } else {
            double *G = job->gH ? job->gH + j0 * job->ldgh : ws->G;
            const size_t ldg = job->gH ? job->ldgh : d;
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)nb, (int)K, 1.0, P,
                        (int)d, Z, (int)K, 0.0, G, (int)ldg);
            for (i = 0; i < nb; i += 8)
                finish_columns(job, ws, j0 + i, nb - i < 8 ? nb - i : 8, G + i * ldg, ldg);
        }
    }
    m->ws[t] = local;
}

/* ---- the pass ------------------------------------------------------------ */

/* Pp: for each vector of w rows of P (d x K, ld d), its K x w entries
 * contiguous (row-major K x w); rows beyond the last whole vector are not
 * copied (the kernels read them from P). */
static void pack_P(const double *P, size_t d, size_t K, size_t w, double *Pp)
{
    const size_t nvec = d / w;
    size_t v, k, l;
    for (v = 0; v < nvec; v++)
        for (k = 0; k < K; k++)
            for (l = 0; l < w; l++) Pp[(v * K + k) * w + l] = P[k * d + v * w + l];
}

/* y += a x. A loop rather than cblas_daxpy: a level-1 call of d K elements
 * would wake a multi-threaded BLAS's thread pool at every step, whose
 * spinning threads then compete with the pass's own. */
static void axpy(size_t n, double a, const double *x, double *y)
{
    size_t i;
    for (i = 0; i < n; i++) y[i] += a * x[i];
}

static void sum_merge(nc__sum *acc, const nc__sum *part)
{
    nc__sum_add(acc, part->s);
    nc__sum_add(acc, part->c);
}

nc_status nc__model_evaluate_prepared(nc_model *m, double *gH, size_t ldgh, nc__h_update *upd,
                                      nc__pass_out *out)
{
    const size_t d = m->d, K = m->K, dK = m->d * m->K, T = m->threads;
    const double invN = 1.0 / (double)nc__model_total_samples(m);
    const double lH = m->lambda_H, alpha = m->alpha;
    const int allnc = m->alpha > 0.0 || m->beta > 0.0;
    double *gb = m->gsmall + m->n_hidden + dK;
    nc__sum loss_sum = {0.0, 0.0}, h2 = {0.0, 0.0}, gh2 = {0.0, 0.0}, nc1 = {0.0, 0.0};
    nc__sum h2_new = {0.0, 0.0}, v2_new = {0.0, 0.0}, s2_new = {0.0, 0.0};
    pass_job job;
    size_t t, i, k, T_merge = T;

    if (m->shard) { /* the merge's buffers, before anything changes */
        const nc_status st = m->shard->reserve(m->shard, m);
        if (st != NC_SUCCESS) {
            out->objective = out->norm2_gsmall = out->norm2_gH = NAN;
            return st;
        }
    }
    job.m = m;
    job.kern = nc__kernels_get(m->isa);
    job.loss_ctx = m->loss_ctx;
    job.loss_ctx.vexp = job.kern->vexp;
    job.loss_ctx.vlog1p = job.kern->vlog1p;
    job.loss_ctx.t_ce = job.kern->t_ce;
    job.loss_ctx.t_mse = job.kern->t_mse;
    job.loss = nc__loss_lookup(m->loss);
    job.path = nc__model_path(m);
    job.fused = job.path != NC__KERNEL_BLAS; /* the block size and the packed P */
    job.need_gP = !(m->depth == 1 && m->fixed);
    job.allnc = allnc;
    job.invN = invN;
    job.gH = gH;
    job.ldgh = ldgh;
    job.v = upd ? upd->v : NULL;
    job.s = upd ? upd->s : NULL;
    job.args.d = d;
    job.args.lH = lH;
    job.args.a_inv = alpha * invN;
    job.args.means = allnc ? m->means : NULL;
    job.args.class_grad = allnc ? m->class_grad : NULL;
    job.args.relu = m->features == NC_FEATURES_RELU;
    job.args.store_g = gH != NULL;
    job.args.rule = upd ? &upd->rule : NULL;

    if (job.path == NC__KERNEL_FUSED ||
        (job.path == NC__KERNEL_SMALL && small_uses_product(d, job.kern)))
        pack_P(m->W, d, K, job.kern->width, m->Ppack);
    if (T > 1 && (double)K * (double)d * (double)m->N >= (double)m->parallel_min)
        nc__pool_run(m->pool, pass_part, &job);
    else
        for (t = 0; t < T; t++) pass_part(&job, t);

    /* Thread order, always: bit-identical for a given thread count. A shard
     * merges the parts of every shard in global part order instead. */
    if (m->shard) {
        nc__sum sums[7];
        nc_status st = m->shard->merge(m->shard, m, job.need_gP, gb, sums);
        if (st != NC_SUCCESS) return st;
        loss_sum = sums[0], h2 = sums[1], gh2 = sums[2], nc1 = sums[3];
        h2_new = sums[4], v2_new = sums[5], s2_new = sums[6];
        T_merge = 0;
    }
    for (t = 0; t < T_merge; t++) {
        const nc__pass_ws *w = &m->ws[t];
        if (t > 0 && job.need_gP)
            for (i = 0; i < dK; i++) m->gP[i] += w->gP[i];
        for (k = 0; k < K; k++) gb[k] = t > 0 ? gb[k] + w->gb[k] : w->gb[k];
        sum_merge(&loss_sum, &w->loss);
        sum_merge(&h2, &w->h2);
        sum_merge(&gh2, &w->gh2);
        sum_merge(&nc1, &w->nc1);
        sum_merge(&h2_new, &w->h2_new);
        sum_merge(&v2_new, &w->v2_new);
        sum_merge(&s2_new, &w->s2_new);
    }
    if (!job.need_gP) memset(m->gP, 0, dK * sizeof(double));

    /* Small variables: back-propagate gP through the layers, add decay. */
    if (m->beta > 0.0) axpy(dK, 1.0, m->align_gP, m->gP);
    if (job.need_gP) backprop_layers(m, m->gP);
    if (m->fixed) memset(m->gsmall + m->n_hidden, 0, dK * sizeof(double));
    {
        double w2 = 0.0, b2 = 0.0;
        if (m->lambda_W != 0.0) {
            axpy(m->n_hidden, m->lambda_W, m->small, m->gsmall);
            if (!m->fixed) axpy(dK, m->lambda_W, m->Wc, m->gsmall + m->n_hidden);
        }
        w2 = nc__norm2(m->small, m->n_hidden) + (m->fixed ? 0.0 : nc__norm2(m->Wc, dK));
        if (m->bias) {
            if (m->lambda_b != 0.0) axpy(K, m->lambda_b, m->b, gb);
            b2 = nc__norm2(m->b, K);
        }
        {
            nc__sum f = {0.0, 0.0};
            nc__sum_add(&f, nc__sum_value(&loss_sum) * invN);
            nc__sum_add(&f, 0.5 * m->lambda_W * w2);
            nc__sum_add(&f, 0.5 * lH * nc__sum_value(&h2));
            if (m->bias) nc__sum_add(&f, 0.5 * m->lambda_b * b2);
            if (allnc) {
                nc__sum_add(&f, 0.5 * alpha * invN * nc__sum_value(&nc1));
                nc__sum_add(&f, m->allnc_align_value);
            }
            out->objective = nc__sum_value(&f);
        }
        out->norm2_H = nc__sum_value(&h2);
        out->norm2_gH = nc__sum_value(&gh2);
        out->norm2_gsmall = nc__norm2(m->gsmall, m->n_hidden) +
                            (m->fixed ? 0.0 : nc__norm2(m->gsmall + m->n_hidden, dK)) +
                            (m->bias ? nc__norm2(gb, K) : 0.0);
    }
    if (upd) {
        upd->norm2_H_new = nc__sum_value(&h2_new);
        upd->norm2_v_new = nc__sum_value(&v2_new);
        upd->norm2_s_new = nc__sum_value(&s2_new);
        m->version++;
    }
    return NC_SUCCESS;
}

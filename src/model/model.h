/*
 * model/model.h - the model handle (struct nc_model) and the pass over H
 * that evaluates it (pass.c): objective, gradients and the fused step.
 */
#ifndef NC_MODEL_H
#define NC_MODEL_H

#include "common/common.h"
#include "common/sum.h"
#include "common/threads.h"
#include "kernels/kernels.h"
#include "kernels/rule.h"
#include "loss/loss.h"

/* One thread's workspace and partial results of a pass. */
typedef struct nc__pass_ws {
    double *Z;  /* K x max(block, block_fused): logits, then dL/dZ / N */
    double *G;  /* d x max(block, 8): feature gradient of a block (unless written to gH) */
    double *gP; /* d x K partial gradient of P (thread 0: the model's gP) */
    double *gb; /* K partial gradient of b, on cache lines of its own (gb_mem + 8) */
    double *gb_mem;
    double *T;  /* small-d path: Ht (d x ldt), Zt (K x ldt), Gt (d x ldt), transposed; 4 ldt scratch */
    size_t ldt; /* block_fused rounded up to NC__SMALL_PAD */
    nc__sum loss, h2, gh2, nc1, h2_new, v2_new, s2_new; /* written once, at the end of a part */
} nc__pass_ws;

/* Which implementation the pass uses (tests and benchmarks may force one). */
enum { NC__KERNEL_AUTO = 0, NC__KERNEL_FUSED = 1, NC__KERNEL_BLAS = 2, NC__KERNEL_SMALL = 3 };

/* ---- shards of a global problem (the MPI library, mpi/) ------------------ */
/* A model that holds a shard of the samples of a global problem: its own
 * columns of H and their labels, the global class counts, and the layers
 * and b replicated. The pass divides by the global N, and the per-part
 * partial results (m->ws[0 .. threads)) are combined by `merge` across
 * every shard in global part order, so that every shard gets the same bits.
 * The sums over H outside the pass go through `sum` and `max`; `agree`
 * turns a status of one shard into the same status on every shard. A
 * serial model has shard == NULL. The shard is owned by the model
 * (`destroy`, called by nc_model_destroy). */
typedef struct nc__shard nc__shard;
struct nc__shard {
    size_t N_total; /* samples of all shards */
    int index;      /* this shard's place in the shard order (its rank) */
    /* gP (d x K, into m->gP, when need_gP), gb (K) and the seven sums of the
     * parts (loss, h2, gh2, nc1, h2_new, v2_new, s2_new), merged in global
     * part order exactly as the serial pass merges its threads. */
    nc_status (*merge)(nc__shard *s, nc_model *m, int need_gP, double *gb, nc__sum sums[7]);
    /* The buffers of the next merge (for the model's thread count),
     * allocated before a pass changes anything, the status agreed on every
     * shard (NC_ERR_OUT_OF_MEMORY everywhere if one lacks memory); every
     * pass calls it first, and merge then allocates nothing. */
    nc_status (*reserve)(nc__shard *s, nc_model *m);
    /* The values of each part (nvals <= 4 per part; the nparts local parts'
     * values in `local`, nparts x nvals) of every shard, in global part
     * order: an array of *parts_total x nvals owned by the shard, valid
     * until its next call, or NULL on failure. */
    const double *(*gather_parts)(nc__shard *s, const double *local, size_t nparts, size_t nvals,
                                  size_t *parts_total);
    /* Elementwise sum over the shards in shard order, in place (same bits
     * everywhere). */
    nc_status (*sum)(nc__shard *s, double *x, size_t n);
    /* Elementwise maximum over the shards, in place (same bits everywhere). */
    nc_status (*max)(nc__shard *s, double *x, size_t n);
    /* The worst status of all shards (the lowest failure, else the status). */
    nc_status (*agree)(nc__shard *s, nc_status st);
    /* The metrics of layer `layer` of the global problem (layer 0: those of
     * nc_metrics_compute, else nc_metrics_compute_layer's) into metrics,
     * with its conventions: the same values and status on every shard. */
    nc_status (*metrics)(nc__shard *s, nc_metrics *metrics, const nc_model *m, size_t layer);
    void (*destroy)(nc__shard *s);
};

/* ---- model ---------------------------------------------------------------- */
struct nc_model {
    size_t d, K, N;
    int32_t *labels; /* N */
    size_t *counts;  /* K */
    nc_loss loss;
    nc__loss_ctx loss_ctx;
    double *class_weights, *log_prior; /* K each, owned; pointed to by loss_ctx */
    int bias;
    double lambda_W, lambda_H, lambda_b;
    nc_features features;
    size_t depth;
    int fixed;          /* classifier W_M is not a variable */
    double alpha, beta; /* AllNC terms */

    /* Small variables, contiguous: [W_1 .. W_{M-1} | W_M | b], all row-major.
     * n_hidden = (M-1) d^2. gsmall has the same layout (gradient). */
    double *small, *gsmall;
    size_t n_hidden;
    double *Wc; /* small + n_hidden: the classifier layer W_M (K x d) */
    double *b;  /* small + n_hidden + d K */
    /* The end-to-end classifier P = W_M ... W_1, K x d row-major (== d x K
     * column-major, ld d: column k is the row p_k). Equal to Wc when M == 1
     * (same pointer); kept up to date by every change of the layers. */
    double *W;
    double *H; /* d x N column-major (ld d) */
    /* Incremented by every change of state or options, so that an optimizer
     * can tell that cached norms are stale. */
    uint64_t version;

    /* Depth workspace (M >= 2): prefix products R_m = W_m ... W_1 for
     * m = 1..M-1 (d x d each), and two d x d scratch matrices. */
    double *prefix, *scratch_a, *scratch_b;
    /* AllNC workspace (d x K each): class means, the per-class vector added
     * to the gradient of every feature of the class, and the gradient of the
     * alignment term with respect to P. Filled by nc__model_prepare. */
    double *means, *class_grad, *align_gP;
    double allnc_align_value;   /* the alignment term at the prepared state */
    double allnc_extra_bound;   /* bound on the Frobenius norm it adds to gH */

    /* Workspace of the pass (allocated when the sizes are fixed, and again
     * by nc_model_set_threads). */
    size_t block;       /* columns per block of the BLAS-3 path */
    size_t block_fused; /* columns per block of the fused small-K and small-d kernels */
    size_t parallel_min; /* K d N below which the parts run on the calling thread */
    double *Zblock;     /* == ws[0].Z */
    double *Gblock;     /* == ws[0].G (nc__model_prepare borrows it, >= d doubles) */
    double *gP;         /* d x K column-major: gradient of the product P (== ws[0].gP) */
    double *Ppack;      /* d x K: P packed for the fused kernels */
    size_t threads;     /* >= 1 */
    nc__pass_ws *ws;    /* threads workspaces */
    nc__pool *pool;     /* threads - 1 workers; NULL when threads == 1 */
    nc__isa isa;        /* kernels' instruction set (detected at creation) */
    int kernel;         /* NC__KERNEL_*: AUTO picks fused for small K */

    nc__shard *shard; /* NULL: the model is the whole problem (see above) */

    char msg[NC_MSG_SIZE];
};

/* Create a shard of a global problem: d, K, the shard's N and labels (any
 * class may be absent), the global counts (each > 0; their sum N_total >= N)
 * and the shard's hooks, which the model owns from a successful return (on
 * failure the caller keeps them). Used by the MPI library. */
nc_status nc__model_create_shard(nc_model **model, size_t d, size_t K, size_t N,
                                 const int32_t *labels, const size_t *counts_total,
                                 nc__shard *shard);
/* The number of samples of the global problem (N for a serial model). */
static inline size_t nc__model_total_samples(const nc_model *m)
{
    return m->shard ? m->shard->N_total : m->N;
}

/* Optional in-pass update of H (the fused gradient step). */
typedef struct nc__h_update {
    nc__rule rule;
    double *v, *s; /* d x N buffers the rule needs, else NULL */
    /* Outputs: squared norms of the new H and of the new v and s. */
    double norm2_H_new, norm2_v_new, norm2_s_new;
} nc__h_update;

/* Results of a pass. */
typedef struct nc__pass_out {
    double objective; /* full objective at the state the pass started from */
    double norm2_H;   /* ||H||^2 at the start */
    double norm2_gH;  /* ||gH||^2 (projected gradient for ReLU features) */
    double norm2_gsmall; /* squared norm of the gradient of the small variables
                            that are variables (excludes a fixed classifier, and
                            b when the bias is off) */
} nc__pass_out;

/*
 * Evaluate at the current state: objective, the gradient of the small
 * variables into m->gsmall, the gradient of H into gH (d x N, ld ldgh) if
 * gH != NULL, and, if upd != NULL, update H in place block by block after
 * the block's contribution to the other gradients was accumulated (so the
 * fused step equals the simultaneous step).
 */
nc_status nc__model_evaluate(nc_model *m, double *gH, size_t ldgh, nc__h_update *upd,
                             nc__pass_out *out);
/* AllNC terms: class means and the gradient pieces at the current state.
 * nc__model_evaluate calls it itself unless told the state is prepared.
 * Fails only on a shard (the sum of the class means over the shards). */
nc_status nc__model_prepare(nc_model *m);
/* Like nc__model_evaluate, but trusts a preceding nc__model_prepare. On a
 * shard, a failure of the reductions (agreed on every shard) returns before
 * anything changed when it is the reservation of their buffers; *out is
 * then NaN. A serial model never fails. */
nc_status nc__model_evaluate_prepared(nc_model *m, double *gH, size_t ldgh, nc__h_update *upd,
                                      nc__pass_out *out);
/* Workspaces (and worker threads) for the given thread count; on failure
 * the model keeps its previous ones. nc__pass_free releases them. */
nc_status nc__pass_set_threads(nc_model *m, size_t threads);
void nc__pass_free(nc_model *m);
/* Tests and benchmarks: force the BLAS-3 or fused path and an instruction set
 * (NC_ERR_UNSUPPORTED if this CPU lacks it). */
nc_status nc__model_set_kernel(nc_model *m, int kernel, nc__isa isa);
/* Tests: block sizes (columns, 0 keeps) and the K d N below which the parts
 * run on the calling thread; reallocates the workspaces. */
nc_status nc__model_set_blocks(nc_model *m, size_t block, size_t block_fused, size_t parallel_min);
/* Whether the pass at the current options uses the fused kernels. */
/* The path of the pass: NC__KERNEL_FUSED, _BLAS or _SMALL (small d). */
int nc__model_path(const nc_model *m);
/* Columns of a transposed block are padded to a multiple of this (the
 * widest vector), with zeros. */
/* Recompute the product P after the layers changed (no-op for M == 1). */
void nc__model_update_product(nc_model *m);
/* Number of small variables: [hidden layers][classifier unless fixed][b if bias]
 * are the ranges [0, n_hidden), [n_hidden, n_hidden + dK), [.., + K). */
size_t nc__model_small_size(const nc_model *m);

/* ---- the one check of each value (model.c) ----------------------------------
 * Used by the setters and by the checkpoint loader alike (io/checkpoint.c),
 * so that what a setter refuses a checkpoint cannot bring in. Each writes
 * what is wrong, without a prefix, to msg (NC_MSG_SIZE) and returns the
 * status (NC_ERR_NON_FINITE, NC_ERR_INVALID_VALUE), or NC_SUCCESS. */
/* Weight decays lambda_W, lambda_H, lambda_b: finite, >= 0. */
nc_status nc__model_check_decay(double lW, double lH, double lb, char *msg);
/* AllNC weights alpha, beta: finite, >= 0. */
nc_status nc__model_check_allnc(double alpha, double beta, char *msg);
/* K class weights: finite, > 0. */
nc_status nc__model_check_class_weights(const double *w, size_t K, char *msg);
/* Rows row0 .. row0 + rows - 1 of layer l (0-based; W_M is the classifier),
 * d entries each, the first at A, the next lda further: finite. */
nc_status nc__model_check_layer(size_t l, const double *A, size_t d, size_t row0, size_t rows,
                                size_t lda, char *msg);
/* The bias b (K): finite. */
nc_status nc__model_check_b(const double *b, size_t K, char *msg);
/* Columns col0 .. col0 + cols - 1 of H, the first at H, each of d entries
 * (ld ldh): finite, and >= 0 under ReLU features. Messages give the row
 * and the column (sample) counted from 0 in the whole H. */
nc_status nc__model_check_H(nc_features f, const double *H, size_t d, size_t col0, size_t cols,
                            size_t ldh, char *msg);

/* ---- what each layer of a deep model sees (layers.c) ----------------------- */
/* layers[0..depth) are W_1 .. W_M, row-major with row stride lda (W_M: K
 * rows). Sizes are checked by the caller (BLAS int range). */
/* Hl (d x N, ld ldo) = W_l ... W_1 H (H itself for l = 0). */
nc_status nc__layer_features(size_t d, size_t N, const double *H, size_t ldh,
                             const double *const *layers, size_t lda, size_t l, double *Hl,
                             size_t ldo);
/* C (K x d row-major, ld ldc) = W_M ... W_{l+1} (W_M for l = M - 1). */
nc_status nc__layer_classifier(size_t d, size_t K, const double *const *layers, size_t lda,
                               size_t depth, size_t l, double *C, size_t ldc);

#endif /* NC_MODEL_H */

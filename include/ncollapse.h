/*
 * ncollapse.h - public interface of libncollapse, a library for studying
 * neural collapse (NC): simulate unconstrained feature models (UFM) and
 * measure collapse on features of real networks.
 *
 * This header is the contract. Every public function is declared here with
 * its documentation; docs/API.md is the same reference in long form.
 *
 * Conventions used throughout (see docs/DESIGN.md):
 *  - Sizes: d = feature dimension, K = number of classes, N = number of
 *    samples. All sizes are size_t; every size must be >= 1 (K >= 2).
 *  - Features H are a d x N matrix stored column-major: column i (the
 *    feature of sample i) is H[i*ldh .. i*ldh + d-1], ldh >= d. With
 *    ldh == d this is byte for byte a NumPy / PyTorch (N, d) C-ordered
 *    float64 array, so dumped features need no transposition.
 *  - Classifier W is K x d stored row-major: row k (the classifier vector
 *    w_k) is W[k*ldw .. k*ldw + d-1], ldw >= d. With ldw == d this is a
 *    PyTorch nn.Linear(d, K).weight of shape (K, d), C-ordered.
 *  - Bias b is a vector of K doubles. Labels are int32_t in [0, K).
 *  - Weight decay uses the "halves" convention:
 *        F = (1/N) sum_i loss(W h_i + b, y_i)
 *            + (lambda_W/2)||W||_F^2 + (lambda_H/2)||H||_F^2 + (lambda_b/2)||b||^2.
 *    Papers written without the halves (e.g. Hong & Ling 2023) use
 *    lambda' ||.||^2: pass lambda = 2 lambda'.
 *  - Ownership: setters copy their input; analysis functions borrow input
 *    arrays only for the duration of the call; getters copy into caller
 *    buffers of documented size; strings returned belong to the library.
 *  - Threads: the library has no mutable global state. A handle may be used
 *    by one thread at a time; different handles may be used concurrently.
 *    The library never changes the BLAS thread count.
 *  - Errors: every fallible function returns an nc_status. The library never
 *    prints, aborts or exits. Handles keep a message describing their last
 *    failure (nc_model_last_error, ...).
 */
#ifndef NCOLLAPSE_H
#define NCOLLAPSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions ----------------------------------------------------------- */
#define NC_VERSION_MAJOR 0
#define NC_VERSION_MINOR 1
#define NC_VERSION_PATCH 0
#define NC_VERSION_NUMBER \
    (NC_VERSION_MAJOR * 10000 + NC_VERSION_MINOR * 100 + NC_VERSION_PATCH)
#define NC_VERSION_STRING "0.1.0"

/* ---- visibility / deprecation -------------------------------------------- */
#if defined(NC_BUILDING_LIBRARY) && defined(__GNUC__)
#define NC_API __attribute__((visibility("default")))
#else
#define NC_API
#endif

#if defined(__GNUC__)
#define NC_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define NC_DEPRECATED(msg)
#endif

/* ---- status codes -------------------------------------------------------- */
/*
 * One list yields the enum and the message table. Zero is success, positive
 * values are reasons for a successful stop of an optimizer run, negative
 * values are failures. Values are pinned forever: new codes get new numbers.
 */
#define NC_STATUS_LIST(X)                                                                   \
    X(NC_SUCCESS, 0, "success")                                                             \
    X(NC_STOP_MAX_ITERATIONS, 1, "stopped: maximum number of iterations reached")           \
    X(NC_STOP_GRADIENT_TOLERANCE, 2, "stopped: gradient norm reached the tolerance")        \
    X(NC_STOP_CALLBACK, 3, "stopped: the progress callback asked to stop")                  \
    X(NC_ERR_NULL_ARGUMENT, -1, "a required pointer argument is NULL")                      \
    X(NC_ERR_INVALID_SIZE, -2, "a size is zero, too small or too large")                    \
    X(NC_ERR_SIZE_MISMATCH, -3, "array sizes or leading dimensions do not match")           \
    X(NC_ERR_LABEL_OUT_OF_RANGE, -4, "a class label is outside [0, K)")                     \
    X(NC_ERR_EMPTY_CLASS, -5, "a class has no samples")                                     \
    X(NC_ERR_NON_FINITE, -6, "an input value is NaN or infinite")                           \
    X(NC_ERR_INVALID_VALUE, -7, "a parameter value is outside its valid range")             \
    X(NC_ERR_DIVERGED, -8, "the run diverged; the model holds its last finite iterate")     \
    X(NC_ERR_OUT_OF_MEMORY, -9, "out of memory")                                            \
    X(NC_ERR_LAPACK, -10, "a LAPACK routine failed")                                        \
    X(NC_ERR_UNAVAILABLE, -11, "the value is not available from the data given")            \
    X(NC_ERR_UNSUPPORTED, -12, "the combination of options is not supported")             \
    X(NC_ERR_OVERFLOW, -13, "a computed value overflowed the range of double")

typedef enum nc_status {
#define NC_STATUS_ENUM_ENTRY(name, value, message) name = value,
    NC_STATUS_LIST(NC_STATUS_ENUM_ENTRY)
#undef NC_STATUS_ENUM_ENTRY
    NC_STATUS_END_ /* not a status; keeps the list's trailing comma legal in C89 compilers */
} nc_status;

/* Static, never-NULL description of a status code (also for unknown codes). */
NC_API const char *nc_strerror(nc_status status);
/* Name of the status code ("NC_ERR_DIVERGED"), or "NC_UNKNOWN_STATUS". */
NC_API const char *nc_status_name(nc_status status);
/* Runtime version: NC_VERSION_STRING and NC_VERSION_NUMBER of the library
 * actually linked, which may differ from the header compiled against. */
NC_API const char *nc_version_string(void);
NC_API unsigned nc_version_number(void);

/* ======================================================================== */
/* Model: the unconstrained feature model                                   */
/* ======================================================================== */
/*
 * An nc_model holds the free variables W (K x d), H (d x N) and b (K), the
 * class labels, the loss and the weight decays, plus the workspace needed to
 * evaluate the objective and gradient (allocated once, at creation).
 * One model per thread at a time.
 */
typedef struct nc_model nc_model;

typedef enum nc_loss {
    /* Softmax cross-entropy: log sum_j exp(z_j) - z_y, computed with the
     * maximum subtracted and log1p, accurate down to losses of 1e-300. */
    NC_LOSS_CE = 0,
    /* Squared error to the one-hot target: (1/2) ||z - e_y||^2. */
    NC_LOSS_MSE = 1
} nc_loss;

/*
 * Create a model for N samples with the given labels (each in [0, K), every
 * class non-empty), feature dimension d >= 1 and K >= 2 classes. labels is
 * copied. Defaults: loss CE, no bias, all weight decays 0, W = H = b = 0.
 * On failure *model is set to NULL and the status says why
 * (NC_ERR_NULL_ARGUMENT, NC_ERR_INVALID_SIZE, NC_ERR_LABEL_OUT_OF_RANGE,
 * NC_ERR_EMPTY_CLASS, NC_ERR_OUT_OF_MEMORY).
 */
NC_API nc_status nc_model_create(nc_model **model, size_t d, size_t K, size_t N,
                                 const int32_t *labels);
/* Same from class counts: counts[k] >= 1 samples of class k, samples sorted
 * by class (the first counts[0] samples are class 0, and so on). */
NC_API nc_status nc_model_create_counts(nc_model **model, size_t d, size_t K,
                                        const size_t *counts);
/* Deep copy (state, options and labels; the workspace is new). */
NC_API nc_status nc_model_copy(nc_model **copy, const nc_model *model);
/* Free everything; accepts NULL. */
NC_API void nc_model_destroy(nc_model *model);

/* Sizes (0 for a NULL model). */
NC_API size_t nc_model_dim(const nc_model *model);
NC_API size_t nc_model_num_classes(const nc_model *model);
NC_API size_t nc_model_num_samples(const nc_model *model);
/* Copy the labels (N entries) or class counts (K entries) out. */
NC_API nc_status nc_model_get_labels(const nc_model *model, int32_t *labels);
NC_API nc_status nc_model_get_class_counts(const nc_model *model, size_t *counts);

/* Options. Weight decays must be finite and >= 0. */
NC_API nc_status nc_model_set_loss(nc_model *model, nc_loss loss);
NC_API nc_loss nc_model_get_loss(const nc_model *model);
/* Enable (nonzero) or disable (0) the bias b. Disabling keeps b's values
 * stored but excludes them from logits, objective and gradient. */
NC_API nc_status nc_model_set_bias(nc_model *model, int enabled);
NC_API int nc_model_get_bias(const nc_model *model);
NC_API nc_status nc_model_set_weight_decay(nc_model *model, double lambda_W, double lambda_H,
                                           double lambda_b);
NC_API nc_status nc_model_get_weight_decay(const nc_model *model, double *lambda_W,
                                           double *lambda_H, double *lambda_b);

/*
 * Initialise W and H with independent N(0, std^2) entries from a generator
 * seeded by seed (xoshiro256** with splitmix64 seeding, normals by the polar
 * method; W row by row first, then H column by column); b = 0. The same seed
 * gives bit-identical values with the same build. std must be finite >= 0.
 */
NC_API nc_status nc_model_init_gaussian(nc_model *model, double std, uint64_t seed);

/* Copy state in. W: K x d row-major with row stride ldw >= d; H: d x N
 * column-major with column stride ldh >= d; b: K values. Every value must be
 * finite (NC_ERR_NON_FINITE otherwise, and the model is left unchanged). */
NC_API nc_status nc_model_set_W(nc_model *model, const double *W, size_t ldw);
NC_API nc_status nc_model_set_H(nc_model *model, const double *H, size_t ldh);
NC_API nc_status nc_model_set_b(nc_model *model, const double *b);
/* Copy state out, same layouts. */
NC_API nc_status nc_model_get_W(const nc_model *model, double *W, size_t ldw);
NC_API nc_status nc_model_get_H(const nc_model *model, double *H, size_t ldh);
NC_API nc_status nc_model_get_b(const nc_model *model, double *b);

/* Objective F at the current state (see the convention at the top). */
NC_API nc_status nc_model_objective(nc_model *model, double *objective);
/*
 * Objective and full gradient at the current state. gW: K x d row-major
 * (stride ldgw >= d), gH: d x N column-major (stride ldgh >= d), gb: K values
 * (zeros when the bias is disabled). Any of objective, gW, gH, gb may be NULL
 * when not wanted (its stride is then ignored).
 */
NC_API nc_status nc_model_gradient(nc_model *model, double *objective, double *gW, size_t ldgw,
                                   double *gH, size_t ldgh, double *gb);

/* Message describing the last failure on this model ("" if none). */
NC_API const char *nc_model_last_error(const nc_model *model);

/* ======================================================================== */
/* Optimizer: full-batch gradient descent with heavy-ball momentum          */
/* ======================================================================== */
/*
 * Update rule (PyTorch SGD convention, dampening 0): for each block of
 * variables x in {W, H, b} with gradient g of the objective (weight decay
 * included),
 *     v <- mu v + g        (v starts at 0)
 *     x <- x - lr v
 * with lr = learning rate (lr_H for the features H if set) and mu = momentum.
 *
 * Each step makes one pass over H in column blocks: it evaluates the
 * objective and gradient at the current iterate x_t and moves H, W and b to
 * x_{t+1}. The objective and gradient norm recorded by a step therefore
 * belong to x_t, the iterate at which the step started. nc_optimizer_run
 * ends with one evaluation of the final iterate, so after run() they belong
 * to the state the model holds.
 *
 * Divergence: before each step the optimizer bounds, from the norms of the
 * state and of the momentum buffers, every value the step can produce. If a
 * bound exceeds 1e140 (beyond which the objective or the next iterate could
 * overflow), the step is not taken and NC_ERR_DIVERGED is returned: the model
 * and the optimizer keep their last iterate, which is finite and whose
 * objective is finite.
 *
 * The optimizer borrows the model: the model must outlive it, and must not be
 * used by another thread while the optimizer runs. Changing the model's state
 * with a setter between steps is allowed (the momentum buffers are kept).
 */
typedef struct nc_optimizer nc_optimizer;

typedef enum nc_algorithm {
    NC_OPT_GD = 0 /* gradient descent, optional heavy-ball momentum */
} nc_algorithm;

/*
 * Progress callback of nc_optimizer_run, called after every `every`-th step
 * (iteration = steps taken so far; objective and gradient_norm are those of
 * the iterate at which that step started, see above) and once more when the
 * run stops by its iteration limit or tolerance (then they are those of the
 * final state the model holds). The callback may read the model (e.g.
 * compute metrics). Return 0 to continue, nonzero to stop the run with
 * NC_STOP_CALLBACK (the return value of the final call is ignored).
 */
typedef int (*nc_progress_fn)(const nc_model *model, size_t iteration, double objective,
                              double gradient_norm, void *user_data);

/* Create for a model (borrowed). Allocates the momentum buffers.
 * Defaults: learning rate 0.1, momentum 0, maximum 10000 iterations,
 * gradient tolerance 0 (off), no callback. */
NC_API nc_status nc_optimizer_create(nc_optimizer **optimizer, nc_model *model,
                                     nc_algorithm algorithm);
/* Free; accepts NULL. Does not free the model. */
NC_API void nc_optimizer_destroy(nc_optimizer *optimizer);

/* Learning rate for W, b and (unless set separately) H: finite, > 0. */
NC_API nc_status nc_optimizer_set_learning_rate(nc_optimizer *optimizer, double lr);
/* Separate learning rate for the features H: finite, > 0. */
NC_API nc_status nc_optimizer_set_feature_learning_rate(nc_optimizer *optimizer, double lr_H);
/* Heavy-ball momentum mu in [0, 1). */
NC_API nc_status nc_optimizer_set_momentum(nc_optimizer *optimizer, double momentum);
/* Maximum number of steps a call to nc_optimizer_run may take (>= 1). */
NC_API nc_status nc_optimizer_set_max_iterations(nc_optimizer *optimizer, size_t max_iterations);
/* Stop when the Euclidean norm of the full gradient (W, H and, with bias, b)
 * is <= tol (finite, >= 0; 0 disables the test). */
NC_API nc_status nc_optimizer_set_gradient_tolerance(nc_optimizer *optimizer, double tol);
/* Progress callback every `every` >= 1 steps; fn NULL removes it. */
NC_API nc_status nc_optimizer_set_callback(nc_optimizer *optimizer, nc_progress_fn fn,
                                           void *user_data, size_t every);

/* One step. Returns NC_SUCCESS, NC_ERR_DIVERGED (nothing changed) or an
 * error. Does not apply the stopping tests and does not call the callback. */
NC_API nc_status nc_optimizer_step(nc_optimizer *optimizer);
/*
 * Run until a stopping test holds: NC_STOP_MAX_ITERATIONS after
 * max_iterations steps in this call, NC_STOP_GRADIENT_TOLERANCE when the
 * gradient norm of the model's final state is <= tol, NC_STOP_CALLBACK, or a
 * failure (NC_ERR_DIVERGED: the model holds its last finite iterate).
 */
NC_API nc_status nc_optimizer_run(nc_optimizer *optimizer);
/* Zero the momentum buffers and the step counter (e.g. after changing the
 * model's state by hand). */
NC_API nc_status nc_optimizer_reset(nc_optimizer *optimizer);

/* Steps taken since creation or reset. */
NC_API size_t nc_optimizer_iterations(const nc_optimizer *optimizer);
/* Objective and gradient norm last recorded (see the update rule above);
 * NaN before the first step. */
NC_API double nc_optimizer_objective(const nc_optimizer *optimizer);
NC_API double nc_optimizer_gradient_norm(const nc_optimizer *optimizer);
/* Message describing the last failure on this optimizer ("" if none). */
NC_API const char *nc_optimizer_last_error(const nc_optimizer *optimizer);

/* ======================================================================== */
/* Metrics: NC1-NC4                                                          */
/* ======================================================================== */
/*
 * An nc_metrics handle holds the measurement conventions, a workspace that
 * grows to the largest problem seen, and the results of the last compute.
 *
 * Definitions (mu_k = class means, mu_G = global mean per the convention
 * below, Mbar = [mu_1 - mu_G, ..., mu_K - mu_G] (d x K), ETF target
 * T = (I - J/K)/sqrt(K-1), J = all ones):
 *  NC1             tr(Sigma_W Sigma_B^+)/K with
 *                  Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T and
 *                  Sigma_B = sum_k c_k (mu_k - mu_G)(mu_k - mu_G)^T, c_k = 1/K
 *                  (class-uniform) or n_k/N (weighted). Computed in O(N d K)
 *                  on the span of the centred means, never forming d x d
 *                  matrices. The pseudo-inverse drops eigenvalues of Sigma_B
 *                  <= rtol * (largest eigenvalue).
 *  NC2 equinorm    std/mean of ||mu_k - mu_G|| (means) or ||w_k|| (W);
 *                  std with the n-1 denominator over the K values.
 *  NC2 equiangle   std (n-1 denominator) of the cosines of the K(K-1)/2
 *                  distinct pairs of centred means (or of rows of W).
 *  NC2 max-angle   mean over pairs of |cos + 1/(K-1)|.
 *  NC2 ETF         || G/||G||_F - T ||_F with G the Gram matrix of the
 *                  centred means (Mbar^T Mbar) or W W^T.
 *  NC3             || W^T/||W||_F - Mbar/||Mbar||_F ||_F^2.
 *  NC3 (W Mbar)    || W Mbar/||W Mbar||_F - T ||_F.
 *  NC4             fraction of samples whose classifier decision
 *                  argmax_k (w_k.h_i + b_k) differs from the nearest class
 *                  mean argmin_k ||h_i - mu_k|| (ties: the smallest index).
 *  accuracy        fraction of samples with argmax_k (w_k.h_i + b_k) = y_i.
 * Metrics that need W (or b) are NC_ERR_UNAVAILABLE when none was given.
 */
typedef struct nc_metrics nc_metrics;

typedef enum nc_metric {
    NC_METRIC_NC1 = 0,
    NC_METRIC_NC2_EQUINORM_MEANS = 1,
    NC_METRIC_NC2_EQUINORM_W = 2,
    NC_METRIC_NC2_EQUIANGLE_MEANS = 3,
    NC_METRIC_NC2_EQUIANGLE_W = 4,
    NC_METRIC_NC2_MAXANGLE_MEANS = 5,
    NC_METRIC_NC2_MAXANGLE_W = 6,
    NC_METRIC_NC2_ETF_MEANS = 7,
    NC_METRIC_NC2_ETF_W = 8,
    NC_METRIC_NC3 = 9,
    NC_METRIC_NC3_WM_ETF = 10,
    NC_METRIC_NC4 = 11,
    NC_METRIC_ACCURACY = 12,
    NC_METRIC_COUNT = 13 /* number of metrics; not a metric */
} nc_metric;

/* Global mean convention. */
typedef enum nc_global_mean {
    NC_GLOBAL_MEAN_SAMPLE = 0,    /* mu_G = (1/N) sum_i h_i (default; most public codes) */
    NC_GLOBAL_MEAN_CLASS_AVG = 1  /* mu_G = (1/K) sum_k mu_k: centre of an exact ETF under imbalance */
} nc_global_mean;

/* Between-class covariance weighting. */
typedef enum nc_between_weight {
    NC_BETWEEN_UNIFORM = 0,  /* c_k = 1/K (default; Papyan et al. 2020) */
    NC_BETWEEN_WEIGHTED = 1  /* c_k = n_k/N (Hong & Ling 2023) */
} nc_between_weight;

/* Create with default conventions: NC_GLOBAL_MEAN_SAMPLE, NC_BETWEEN_UNIFORM,
 * pseudo-inverse rtol = 1e-13 (relative to the largest eigenvalue). */
NC_API nc_status nc_metrics_create(nc_metrics **metrics);
/* Free; accepts NULL. */
NC_API void nc_metrics_destroy(nc_metrics *metrics);

NC_API nc_status nc_metrics_set_global_mean(nc_metrics *metrics, nc_global_mean convention);
NC_API nc_status nc_metrics_set_between_weight(nc_metrics *metrics, nc_between_weight weighting);
/* Relative eigenvalue threshold of the pseudo-inverse of Sigma_B: finite, in [0, 1). */
NC_API nc_status nc_metrics_set_pinv_rtol(nc_metrics *metrics, double rtol);

/* Compute every metric from a model's current state (W, H, labels, and b
 * when the model's bias is enabled). */
NC_API nc_status nc_metrics_compute(nc_metrics *metrics, const nc_model *model);
/*
 * Compute from caller arrays (borrowed for the call): H d x N column-major
 * with stride ldh >= d, labels (N values in [0, K), every class non-empty),
 * optional W (K x d row-major, stride ldw >= d; NULL if none) and optional b
 * (K values; NULL means no bias). All values must be finite.
 */
NC_API nc_status nc_metrics_compute_data(nc_metrics *metrics, size_t d, size_t K, size_t N,
                                         const double *H, size_t ldh, const int32_t *labels,
                                         const double *W, size_t ldw, const double *b);
/* One result of the last compute. NC_ERR_UNAVAILABLE if it needs W that was
 * not given, or if nothing was computed yet. */
NC_API nc_status nc_metrics_get(const nc_metrics *metrics, nc_metric metric, double *value);
/* Short stable name ("nc1", "nc2_equinorm_means", ...); "unknown" otherwise. */
NC_API const char *nc_metric_name(nc_metric metric);
/* Message describing the last failure on this handle ("" if none). */
NC_API const char *nc_metrics_last_error(const nc_metrics *metrics);

/* ======================================================================== */
/* Analysis: frames, alignment, structure metrics, closed-form predictions  */
/* ======================================================================== */
/* @@ANALYSIS-SECTION@@ (declarations of the analysis layer go above this line) */

/* ======================================================================== */
/* Data: .npy files and streaming metrics                                    */
/* ======================================================================== */
/* @@DATA-SECTION@@ (declarations of the data layer go above this line) */

#ifdef __cplusplus
}
#endif

#endif /* NCOLLAPSE_H */

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
    X(NC_STOP_NO_PROGRESS, 4, "stopped: no step decreases the objective at this precision")  \
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
    X(NC_ERR_OVERFLOW, -13, "a computed value overflowed the range of double")             \
    X(NC_ERR_IO, -14, "a file could not be opened, read, written or renamed")              \
    X(NC_ERR_FORMAT, -15, "the file is not in a valid format (magic, version or header)")  \
    X(NC_ERR_TRUNCATED, -16, "the file ends before the data its header declares")          \
    X(NC_ERR_FILE_SIZE, -17, "the file holds more bytes than its header declares")         \
    X(NC_ERR_DTYPE, -18, "the data type of the file is not supported for this use")        \
    X(NC_ERR_CHECKSUM, -19, "the file's checksum does not match its contents")             \
    X(NC_ERR_MISMATCH, -20, "the file was saved from an object of other sizes, kind or pass")

typedef enum nc_status {
#define NC_STATUS_ENUM_ENTRY(name, value, message) name = value,
    NC_STATUS_LIST(NC_STATUS_ENUM_ENTRY)
#undef NC_STATUS_ENUM_ENTRY
} nc_status;

/* Static, never-NULL description of a status code (also for unknown codes). */
NC_API const char *nc_strerror(nc_status status);
/* Name of the status code ("NC_ERR_DIVERGED"), or "NC_UNKNOWN_STATUS". */
NC_API const char *nc_status_name(nc_status status);
/* Why the calling thread's last *_create call (or nc_model_copy) failed,
 * with the values involved; "" after one that succeeded. Per thread: a
 * failed create has no handle to hold its message. Valid until the
 * thread's next call of a create (some library calls create handles
 * internally, e.g. nc_stream_load). nc_prediction_create_from_model reports
 * in the model's message instead. */
NC_API const char *nc_create_last_error(void);
/* Runtime version: NC_VERSION_STRING and NC_VERSION_NUMBER of the library
 * actually linked, which may differ from the header compiled against. */
NC_API const char *nc_version_string(void);
NC_API unsigned nc_version_number(void);

/* ======================================================================== */
/* Model: the unconstrained feature model                                   */
/* ======================================================================== */
/*
 * An nc_model holds the free variables, the class labels, the loss and the
 * weight decays, plus the workspace needed to evaluate the objective and
 * gradient (allocated once, when the sizes are fixed). It is layered:
 *   feature model   free features H, or ReLU-constrained H >= 0;
 *                   depth M >= 1 of linear layers between H and the logits:
 *                   logits = W_M ... W_2 W_1 h + b, with W_1..W_{M-1} d x d
 *                   and W_M = W the K x d classifier (M = 1: logits W h + b);
 *   classifier      learned, or fixed (simplex ETF, orthogonal frame, or any
 *                   matrix supplied), with or without bias;
 *   loss            one of nc_loss, with its parameters.
 * Weight decay: (lambda_W/2) sum_m ||W_m||_F^2 (a fixed classifier is not a
 * variable and carries no decay) + (lambda_H/2)||H||^2 + (lambda_b/2)||b||^2.
 * One model per thread at a time.
 */
typedef struct nc_model nc_model;

/* Losses of the logits z of one sample with label y (one file each in src/loss/).
 * The objective averages them over the N samples. */
typedef enum nc_loss {
    /* Softmax cross-entropy: log sum_j exp(z_j) - z_y, computed with the
     * maximum subtracted and log1p, accurate down to losses of 1e-300. */
    NC_LOSS_CE = 0,
    /* Squared error to the scaled one-hot target: (1/2) ||z - s e_y||^2,
     * s = NC_LOSS_PARAM_TARGET_SCALE (default 1). */
    NC_LOSS_MSE = 1,
    /* Cross-entropy against the smoothed target (1 - eps) e_y + eps/K,
     * eps = NC_LOSS_PARAM_SMOOTHING (default 0.1). */
    NC_LOSS_LABEL_SMOOTHING = 2,
    /* Focal loss -(1 - p_y)^gamma log p_y, p = softmax(z),
     * gamma = NC_LOSS_PARAM_FOCAL_GAMMA (default 2; 0 is CE). */
    NC_LOSS_FOCAL = 3,
    /* Class-weighted CE: c_y CE(z, y), c = nc_model_set_class_weights
     * (default all 1). */
    NC_LOSS_WEIGHTED_CE = 4,
    /* Logit-adjusted CE (Menon et al. 2021): CE(z + tau log pi, y) with
     * pi_k = n_k/N, tau = NC_LOSS_PARAM_LOGIT_TAU (default 1). */
    NC_LOSS_LOGIT_ADJUSTED = 5,
    /* Dot-regression (Yang et al. 2022): (z_y - c)^2 / (2c), the form of
     * their theory with z_y = w_y.h and c = sqrt(E_W E_H) =
     * NC_LOSS_PARAM_DOT_TARGET (default 1). A function of the logits only,
     * so it has a true gradient; their published code's variant with
     * ||h|| held constant in the gradient is not a gradient of any objective. */
    NC_LOSS_DOT_REGRESSION = 6
} nc_loss;

/* Parameters of the losses (each used by the loss named beside it). */
typedef enum nc_loss_parameter {
    NC_LOSS_PARAM_TARGET_SCALE = 0, /* MSE: s > 0 */
    NC_LOSS_PARAM_SMOOTHING = 1,    /* label smoothing: eps in [0, 1) */
    NC_LOSS_PARAM_FOCAL_GAMMA = 2,  /* focal: gamma >= 0 */
    NC_LOSS_PARAM_LOGIT_TAU = 3,    /* logit adjustment: any finite tau */
    NC_LOSS_PARAM_DOT_TARGET = 4    /* dot-regression: c > 0 */
} nc_loss_parameter;

/* Feature models. */
typedef enum nc_features {
    NC_FEATURES_FREE = 0, /* H unconstrained (default) */
    NC_FEATURES_RELU = 1  /* H >= 0 (Dang et al. 2024): optimality is the KKT residual */
} nc_features;

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
 * Initialise the variables with independent N(0, std^2) entries from a
 * generator seeded by seed (xoshiro256** with splitmix64 seeding, normals by
 * the polar method), drawn in this order: the classifier W_M row by row
 * (skipped when the classifier is fixed: it keeps its values), then H column
 * by column (|N(0, std^2)| for ReLU features), then the hidden layers
 * W_1..W_{M-1}; b = 0. The same seed gives bit-identical values with the
 * same build. std must be finite >= 0.
 */
NC_API nc_status nc_model_init_gaussian(nc_model *model, double std, uint64_t seed);

/* Copy state in. W is the classifier W_M (the last layer; W itself for
 * depth 1): K x d row-major with row stride ldw >= d (NC_ERR_UNSUPPORTED
 * while the classifier is fixed); H: d x N
 * column-major with column stride ldh >= d; b: K values. Every value must be
 * finite (NC_ERR_NON_FINITE otherwise, and the model is left unchanged). */
NC_API nc_status nc_model_set_W(nc_model *model, const double *W, size_t ldw);
NC_API nc_status nc_model_set_H(nc_model *model, const double *H, size_t ldh);
NC_API nc_status nc_model_set_b(nc_model *model, const double *b);
/* Copy state out, same layouts (W is W_M; nc_model_get_product gives P). */
NC_API nc_status nc_model_get_W(const nc_model *model, double *W, size_t ldw);
NC_API nc_status nc_model_get_H(const nc_model *model, double *H, size_t ldh);
NC_API nc_status nc_model_get_b(const nc_model *model, double *b);

/* ---- layered model: feature model, depth, classifier, loss parameters ---- */

/* Feature model. Switching to NC_FEATURES_RELU requires H >= 0 (the default
 * H = 0 qualifies; otherwise NC_ERR_INVALID_VALUE). With ReLU features,
 * nc_model_set_H rejects negative entries and nc_model_init_gaussian draws
 * |N(0, std^2)|. */
NC_API nc_status nc_model_set_features(nc_model *model, nc_features features);
NC_API nc_features nc_model_get_features(const nc_model *model);

/*
 * Depth M in [1, 1024] (Dang et al. 2023's deep linear UFM for M >= 2;
 * NC_ERR_INVALID_VALUE outside). Layers
 * W_1..W_{M-1} are d x d and become 0 (use nc_model_set_layer or
 * nc_model_init_gaussian); W_M keeps the classifier's values. Reallocates
 * the model's workspace (NC_ERR_OUT_OF_MEMORY leaves the model unchanged).
 */
NC_API nc_status nc_model_set_depth(nc_model *model, size_t depth);
NC_API size_t nc_model_get_depth(const nc_model *model);
/*
 * Layer l in [0, M): layer l is W_{l+1}, stored row-major (out x in, like a
 * PyTorch nn.Linear weight) with row stride lda >= d: d x d for l < M-1, and
 * K x d for l = M-1 (the classifier, same as nc_model_set_W). Setting the
 * classifier layer of a fixed classifier is NC_ERR_UNSUPPORTED.
 */
NC_API nc_status nc_model_set_layer(nc_model *model, size_t layer, const double *A, size_t lda);
NC_API nc_status nc_model_get_layer(const nc_model *model, size_t layer, double *A, size_t lda);
/* The end-to-end classifier P = W_M ... W_1 (K x d row-major, stride ldp >= d);
 * logits are P h + b. For M = 1, P = W. Metrics of a model use P. */
NC_API nc_status nc_model_get_product(const nc_model *model, double *P, size_t ldp);
/*
 * What layer l in [0, M) sees (Dang et al. 2023 measure NC at every layer):
 * its features H_l = W_l ... W_1 H (H_0 = H), d x N column-major with column
 * stride ldh >= d, and the classifier above them, C_l = W_M ... W_{l+1}
 * (C_0 = P, C_{M-1} = W_M), K x d row-major with row stride ldc >= d; C_l H_l
 * = P H at every l. Computed from the layers' current values at each call
 * (O(l d^3 + d^2 N) and O((M - l) d^3 + K d^2)). NC_ERR_INVALID_VALUE for
 * layer >= M, NC_ERR_SIZE_MISMATCH for a short stride, NC_ERR_OUT_OF_MEMORY.
 */
NC_API nc_status nc_model_get_layer_features(const nc_model *model, size_t layer, double *Hl,
                                             size_t ldh);
NC_API nc_status nc_model_get_layer_classifier(const nc_model *model, size_t layer, double *C,
                                               size_t ldc);

/*
 * Fix the classifier (the last layer W_M): it is no longer a variable, has
 * no gradient and no weight decay.
 *  - nc_model_fix_classifier: any K x d matrix (row stride ldw >= d).
 *  - nc_model_fix_classifier_etf: rows w_k = norm * sqrt(K/(K-1)) (p_k - pbar)
 *    (Yang et al. 2022's sqrt(K/(K-1)) P (I - J/K), transposed), a simplex
 *    ETF with ||w_k|| = norm and cosines -1/(K-1).
 *  - nc_model_fix_classifier_orthogonal: rows w_k = norm * p_k.
 *   P is d x K column-major with orthonormal columns (stride ldp >= d;
 *   checked to 1e-10, NC_ERR_INVALID_VALUE otherwise), or NULL to draw one
 *   from seed (the Q factor of LAPACK's QR of a Gaussian matrix, without
 *   sign normalisation: not the same frame as nc_frame_random_orthogonal).
 * A call that fails leaves the classifier, and whether it is fixed, unchanged. Both need d >= K
 *   (NC_ERR_INVALID_SIZE), norm finite > 0.
 * nc_model_unfix_classifier makes W_M a variable again, keeping its values.
 */
NC_API nc_status nc_model_fix_classifier(nc_model *model, const double *W, size_t ldw);
NC_API nc_status nc_model_fix_classifier_etf(nc_model *model, double norm, uint64_t seed,
                                             const double *P, size_t ldp);
NC_API nc_status nc_model_fix_classifier_orthogonal(nc_model *model, double norm, uint64_t seed,
                                                    const double *P, size_t ldp);
NC_API nc_status nc_model_unfix_classifier(nc_model *model);
NC_API int nc_model_classifier_is_fixed(const nc_model *model);

/* A loss parameter (see nc_loss_parameter for ranges; NC_ERR_INVALID_VALUE
 * outside them, NC_ERR_NON_FINITE for NaN or Inf). Parameters persist across
 * nc_model_set_loss. */
NC_API nc_status nc_model_set_loss_parameter(nc_model *model, nc_loss_parameter parameter,
                                             double value);
NC_API nc_status nc_model_get_loss_parameter(const nc_model *model, nc_loss_parameter parameter,
                                             double *value);
/* Class weights c_k > 0 of NC_LOSS_WEIGHTED_CE (K values, copied). */
NC_API nc_status nc_model_set_class_weights(nc_model *model, const double *weights);

/*
 * AllNC-style terms on the UFM. This is the library's own construction,
 * after Zhang et al. 2024 (arXiv 2408.07253), who give no formulas we could
 * use. Added to the objective:
 *   (alpha / (2N)) sum_i ||h_i - mu_{y_i}||^2              pulls features to class means (NC1)
 *   (beta / K) sum_k (1 - cos(w_k, mu_k - mubar))         aligns classifier rows with the
 *                                                         centred means (NC2/NC3),
 * where mu_k are the class means of H, mubar = (1/K) sum_k mu_k (the centre of
 * an ETF under imbalance) and w_k the rows of the end-to-end classifier P.
 * alpha, beta >= 0 (0 disables a term; default both 0). The gradient of the
 * cosine term is undefined where w_k or mu_k - mubar is 0: such a class
 * contributes 0 to the term and its gradient. Costs one extra read of H per
 * evaluation (the class means).
 */
NC_API nc_status nc_model_set_allnc(nc_model *model, double alpha, double beta);

/* ---- threads ---------------------------------------------------------------- */
/*
 * Number of threads of the model's pass (objective, gradient and the fused
 * first-order step), in [1, 1024]; default 1. The N columns of H are split
 * into `threads` contiguous ranges, each with its own partial gradients,
 * added in a fixed order: a run is bit-identical for a given thread count
 * (different counts may differ in the last bits). threads - 1 worker threads
 * are started here and sleep between passes; they are joined by the next
 * call and by nc_model_destroy. Copies (nc_model_copy) get their own.
 * Small problems (K d N < 2^20) run the parts on the calling thread.
 * BLAS: the library never changes the BLAS thread count. With threads > 1
 * run OpenBLAS single-threaded (OPENBLAS_NUM_THREADS=1 in the environment,
 * or openblas_set_num_threads(1)): large-K models (BLAS-3 path) call DGEMM
 * from every worker, and a multi-threaded BLAS would start threads x
 * BLAS-threads threads, oversubscribing the cores. Results stay correct but
 * slower. See docs/performance.md.
 * NC_ERR_INVALID_VALUE outside [1, 1024]; NC_ERR_OUT_OF_MEMORY if the
 * workspaces or threads cannot be created (the model keeps its old count).
 */
NC_API nc_status nc_model_set_threads(nc_model *model, size_t threads);
NC_API size_t nc_model_get_threads(const nc_model *model);

/* ---- all variables as one vector (for external optimizers) ---------------- */
/*
 * Order: the learned layers W_1..W_{M-1} (row-major d x d each), the
 * classifier W_M (row-major K x d) unless fixed, then H (column-major d x N),
 * then b when the bias is enabled.
 */
NC_API size_t nc_model_num_variables(const nc_model *model);
NC_API nc_status nc_model_get_variables(const nc_model *model, double *x);
/* Checks finiteness (and H >= 0 for ReLU features) before changing anything. */
NC_API nc_status nc_model_set_variables(nc_model *model, const double *x);
/* Objective and gradient in the same order (gradient may be NULL). */
NC_API nc_status nc_model_gradient_vector(nc_model *model, double *objective, double *gradient);

/* Objective F at the current state (see the convention at the top). */
NC_API nc_status nc_model_objective(nc_model *model, double *objective);
/*
 * Objective and gradient at the current state. gW is the gradient of the
 * classifier W_M (zeros when it is fixed; the hidden layers' gradients are in
 * nc_model_gradient_vector): K x d row-major
 * (stride ldgw >= d), gH: d x N column-major (stride ldgh >= d), gb: K values
 * (zeros when the bias is disabled). Any of objective, gW, gH, gb may be NULL
 * when not wanted (its stride is then ignored).
 */
NC_API nc_status nc_model_gradient(nc_model *model, double *objective, double *gW, size_t ldgw,
                                   double *gH, size_t ldgh, double *gb);

/* Message describing the last failure on this model ("" if none). */
NC_API const char *nc_model_last_error(const nc_model *model);

/* ======================================================================== */
/* Optimizers                                                               */
/* ======================================================================== */
/*
 * First-order methods (NC_OPT_GD, NC_OPT_NESTEROV, NC_OPT_ADAM) follow
 * PyTorch's conventions (dampening 0), for each variable x with gradient g
 * of the objective (weight decay included) and learning rate lr of its block:
 *   GD (heavy ball)  v <- mu v + g;  x <- x - lr v        (v starts at 0; mu = 0: plain GD)
 *   Nesterov         v <- mu v + g;  x <- x - lr (g + mu v)
 *   Adam             v <- b1 v + (1-b1) g;  s <- b2 s + (1-b2) g^2;
 *                    x <- x - lr (v/(1-b1^t)) / (sqrt(s/(1-b2^t)) + eps)
 * With ReLU features the new H is projected onto H >= 0 after each step.
 * Each step is one pass over H in column blocks: it evaluates the objective
 * and gradient at the current iterate x_t and moves H to x_{t+1} in the
 * same pass, then updates the small variables (layers, b). The objective and
 * gradient norm recorded by such a step belong to x_t, the iterate at which
 * the step started. nc_optimizer_run ends with one evaluation of the final
 * iterate (except after a failure), so after run() they belong to the state
 * the model holds.
 *
 * NC_OPT_LBFGS: limited-memory BFGS (history 10 by default) with a line
 * search for the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9), accepting
 * near the limit of the arithmetic the approximate Wolfe conditions of Hager
 * and Zhang (objective within 1e-12 relative of the start and the curvature
 * condition). With ReLU features it is a projected method that keeps the
 * iterate feasible: variables at the bound whose gradient pushes outwards are
 * held fixed, the direction is restricted to the others, and the step is a
 * projected backtracking search. Its recorded values always belong to the
 * state the model holds. It keeps 2 x history + 5 vectors of all variables
 * (and a byte mask for ReLU). Schedules do not apply to it.
 *
 * Gradient norm: the Euclidean norm over all variables (a fixed classifier
 * is not a variable; b only with the bias); with ReLU features the KKT
 * residual, in which a component with h = 0 and g > 0 counts as 0.
 *
 * Divergence (first-order methods): before each step the optimizer bounds
 * every value the step can produce from the actual state (the end-to-end
 * classifier P, the norms of each layer, of H, b and the optimizer's
 * buffers). If every bound is below 1e100 the step is taken. If not, and the
 * current state's own logits and gradients are below it, the step is staged:
 * the mutable state is copied, the step taken, and the new state checked
 * exactly (every value finite, logits bounded by ||P'|| ||H'|| + ||b'|| <=
 * 1e100); a failing step is undone. Otherwise, or when the check fails,
 * NC_ERR_DIVERGED is returned: the model and the optimizer keep their last
 * iterate, which is finite and whose objective is finite; the recorded
 * values then belong to the iterate before it. (A staged step costs a copy
 * of H and its buffers; nc_optimizer_staged_steps counts them.) L-BFGS
 * treats an overflowing trial point as too long a step and never leaves the
 * model on one.
 *
 * The optimizer borrows the model: the model must outlive it, and must not be
 * used by another thread while the optimizer runs. Changing the model's state
 * or options between steps is allowed: the first-order methods keep their
 * buffers (nc_optimizer_reset clears them), L-BFGS restarts its history from
 * the new state. Changing the depth is not (NC_ERR_UNSUPPORTED: create a new
 * optimizer).
 */
typedef struct nc_optimizer nc_optimizer;

typedef enum nc_algorithm {
    NC_OPT_GD = 0,       /* gradient descent, optional heavy-ball momentum */
    NC_OPT_NESTEROV = 1, /* Nesterov momentum (momentum default 0.9) */
    NC_OPT_ADAM = 2,     /* Adam (default lr 1e-3, b1 0.9, b2 0.999, eps 1e-8) */
    NC_OPT_LBFGS = 3     /* L-BFGS with a strong Wolfe line search (projected for ReLU) */
} nc_algorithm;

/* Blocks of variables that can have their own learning rate. */
typedef enum nc_block {
    NC_BLOCK_LAYERS = 0,   /* W_1..W_M */
    NC_BLOCK_FEATURES = 1, /* H */
    NC_BLOCK_BIAS = 2      /* b */
} nc_block;

/* Learning-rate schedules of the first-order methods, as a factor f(t) of
 * the learning rates at step t = 0, 1, ...:
 *   NC_SCHEDULE_CONSTANT  f = 1
 *   NC_SCHEDULE_STEP      f = gamma^floor(t / period)                  (gamma in (0, 1])
 *   NC_SCHEDULE_COSINE    f = r + (1 - r)(1 + cos(pi min(t, T)/T))/2   (T = period, r = floor in [0, 1])
 */
typedef enum nc_schedule {
    NC_SCHEDULE_CONSTANT = 0,
    NC_SCHEDULE_STEP = 1,
    NC_SCHEDULE_COSINE = 2
} nc_schedule;

/*
 * Progress callback of nc_optimizer_run, called after every `every`-th step
 * (iteration = steps taken so far; objective and gradient_norm as recorded
 * by that step, see above), except that the call for the last step of a run
 * that stops by its iteration limit or tolerance is made after the final
 * evaluation, with the values of the final state. The callback may read the
 * model (e.g. compute metrics) and save a checkpoint of the model and the
 * running optimizer (nc_checkpoint_save), which resumes bit-identically.
 * Return 0 to continue, nonzero to stop the run with NC_STOP_CALLBACK (the
 * return value of the final call is ignored).
 */
typedef int (*nc_progress_fn)(const nc_model *model, size_t iteration, double objective,
                              double gradient_norm, void *user_data);

/* Create for a model (borrowed). Allocates the buffers the algorithm needs
 * (Adam: two of the size of all variables; L-BFGS: 2 x history + 4).
 * Defaults: learning rate 0.1 (Adam 1e-3), momentum 0 (Nesterov 0.9),
 * maximum 10000 iterations, gradient tolerance 0 (off), no callback,
 * constant schedule. */
NC_API nc_status nc_optimizer_create(nc_optimizer **optimizer, nc_model *model,
                                     nc_algorithm algorithm);
/* Free; accepts NULL. Does not free the model. */
NC_API void nc_optimizer_destroy(nc_optimizer *optimizer);

/* Learning rate of every block: finite, > 0 (ignored by L-BFGS). */
NC_API nc_status nc_optimizer_set_learning_rate(nc_optimizer *optimizer, double lr);
/* Learning rate of one block (set after nc_optimizer_set_learning_rate, which
 * overrides it): finite, > 0. */
NC_API nc_status nc_optimizer_set_block_learning_rate(nc_optimizer *optimizer, nc_block block,
                                                      double lr);
/* Same as nc_optimizer_set_block_learning_rate(optimizer, NC_BLOCK_FEATURES, lr_H). */
NC_API nc_status nc_optimizer_set_feature_learning_rate(nc_optimizer *optimizer, double lr_H);
/* Momentum mu in [0, 1) of GD and Nesterov. The d x N buffer of H is
 * allocated here, the first time mu > 0 (NC_ERR_OUT_OF_MEMORY possible). */
NC_API nc_status nc_optimizer_set_momentum(nc_optimizer *optimizer, double momentum);
/* Adam's b1 in [0, 1), b2 in (0, 1) with b1^2 < b2, eps finite > 0. */
NC_API nc_status nc_optimizer_set_adam(nc_optimizer *optimizer, double beta1, double beta2,
                                       double eps);
/* L-BFGS history size (1..1000); reallocates, and clears the history. */
NC_API nc_status nc_optimizer_set_history(nc_optimizer *optimizer, size_t history);
/* Schedule: period >= 1; gamma in (0, 1] for STEP, floor in [0, 1] for COSINE
 * (the third argument is that parameter; ignored for CONSTANT). */
NC_API nc_status nc_optimizer_set_schedule(nc_optimizer *optimizer, nc_schedule schedule,
                                           size_t period, double parameter);
/* Maximum number of steps a call to nc_optimizer_run may take (>= 1). */
NC_API nc_status nc_optimizer_set_max_iterations(nc_optimizer *optimizer, size_t max_iterations);
/* Stop when the gradient norm (see above) is <= tol (finite, >= 0; 0 off). */
NC_API nc_status nc_optimizer_set_gradient_tolerance(nc_optimizer *optimizer, double tol);
/* Progress callback every `every` >= 1 steps; fn NULL removes it. */
NC_API nc_status nc_optimizer_set_callback(nc_optimizer *optimizer, nc_progress_fn fn,
                                           void *user_data, size_t every);

/* One step. Returns NC_SUCCESS, NC_ERR_DIVERGED (nothing changed),
 * NC_STOP_NO_PROGRESS (L-BFGS: no acceptable step, nothing changed; or this
 * step, taken, is the 20th in a row without a new lowest objective or
 * gradient norm: the limit of the arithmetic) or an error. Does not apply
 * the stopping tests and does not call the callback. */
NC_API nc_status nc_optimizer_step(nc_optimizer *optimizer);
/*
 * Run until a stopping test holds: NC_STOP_MAX_ITERATIONS after
 * max_iterations steps in this call, NC_STOP_GRADIENT_TOLERANCE when the
 * gradient norm of the model's final state is <= tol, NC_STOP_CALLBACK,
 * NC_STOP_NO_PROGRESS (L-BFGS), or a failure (NC_ERR_DIVERGED: the model
 * holds its last finite iterate).
 */
NC_API nc_status nc_optimizer_run(nc_optimizer *optimizer);
/* Zero the buffers, the L-BFGS history and the step counter. */
NC_API nc_status nc_optimizer_reset(nc_optimizer *optimizer);

/* Steps taken since creation or reset. */
NC_API size_t nc_optimizer_iterations(const nc_optimizer *optimizer);
/* Objective and gradient norm last recorded (see above); NaN before the
 * first step. */
NC_API double nc_optimizer_objective(const nc_optimizer *optimizer);
NC_API double nc_optimizer_gradient_norm(const nc_optimizer *optimizer);
/* Number of objective evaluations (passes over H) so far. */
NC_API size_t nc_optimizer_evaluations(const nc_optimizer *optimizer);
/* Message describing the last failure on this optimizer ("" if none). */
NC_API const char *nc_optimizer_last_error(const nc_optimizer *optimizer);


/* ---- second-order check of a point -------------------------------------------- */
/*
 * Is the model's current state a strict saddle, a local minimum, or is the
 * test inconclusive? A small gradient does not say: on the ReLU UFM projected
 * methods can stop at KKT points where a class is held at h = 0 far above the
 * optimum, and deep linear models stop at W = H = 0.
 *
 * The check computes the gradient (the KKT residual for ReLU features: a
 * component at h = 0 counts only if it is negative), the multipliers at
 * h = 0 (the gradient there; KKT needs them >= 0), the classes whose
 * features are all 0, and the extreme eigenvalues of the Hessian by Lanczos
 * (full reorthogonalisation, seeded random start) on Hessian-vector products
 * by central differences of exact gradients (about 1e-10 relative). With
 * ReLU features the variables at h = 0 are held fixed: the Hessian of the
 * face of active bounds. The point is
 *   NC_POINT_NOT_STATIONARY  gradient norm > gtol (default 1e-8);
 *   NC_POINT_STRICT_SADDLE   lambda_min < -ctol * max|lambda| (default ctol
 *                            1e-6): the Ritz vector is a direction of
 *                            negative curvature (a Rayleigh quotient, so a
 *                            certificate whether or not Lanczos converged);
 *   NC_POINT_LOCAL_MINIMUM   lambda_min - residual >= -ctol * max|lambda|
 *                            and, for ReLU features, every multiplier at
 *                            h = 0 > gtol: no direction of negative
 *                            curvature, a local minimum up to flat
 *                            directions (the objective is invariant under
 *                            rotations H -> Q H, W -> W Q^T, so its Hessian
 *                            has zero eigenvalues at every point), and not
 *                            necessarily the global one: compare with a
 *                            prediction, or let the optimizer's escape try
 *                            its non-local moves;
 *   NC_POINT_INCONCLUSIVE    otherwise (flat directions, degenerate
 *                            multipliers, Lanczos not converged).
 * Cost: 1 + 2 x (Lanczos steps, default at most 60) gradient evaluations and
 * (steps + 8) vectors of all variables. The model's state is the same, bit
 * for bit, after the call (its options too); the model is borrowed and
 * must outlive the handle. One handle per thread at a time.
 */
typedef struct nc_curvature nc_curvature;

typedef enum nc_point {
    NC_POINT_NOT_STATIONARY = 0,
    NC_POINT_STRICT_SADDLE = 1,
    NC_POINT_LOCAL_MINIMUM = 2,
    NC_POINT_INCONCLUSIVE = 3
} nc_point;

/* Short name ("strict saddle", ...); "unknown" otherwise. */
NC_API const char *nc_point_name(nc_point point);
/* A curvature handle of the model (borrowed). On a shard of an MPI model
 * (ncollapse_mpi.h) nc_curvature_compute is collective and checks the
 * global problem: every rank gets the same point and values, and
 * nc_curvature_get_direction gives the rank's part of the direction (the
 * shard's variable vector). */
NC_API nc_status nc_curvature_create(nc_curvature **curvature, nc_model *model);
/* Free; accepts NULL. */
NC_API void nc_curvature_destroy(nc_curvature *curvature);
/* Lanczos steps in [1, 10000] (default 60), relative residual rtol in (0, 1)
 * at which it stops (default 1e-6), seed of its random start (default 1). */
NC_API nc_status nc_curvature_set_lanczos(nc_curvature *curvature, size_t max_steps, double rtol,
                                          uint64_t seed);
/* gtol (gradient norm of a stationary point, default 1e-8) and ctol (the
 * band |lambda| <= ctol max|lambda| that is inconclusive, default 1e-6):
 * finite, >= 0. */
NC_API nc_status nc_curvature_set_tolerances(nc_curvature *curvature, double gtol, double ctol);
/* Check the model's current state. NC_ERR_OVERFLOW if a gradient overflows,
 * NC_ERR_OUT_OF_MEMORY, NC_ERR_LAPACK. */
NC_API nc_status nc_curvature_compute(nc_curvature *curvature);
/* Results of the last successful compute (NC_POINT_INCONCLUSIVE, NaN or 0
 * before one). */
NC_API nc_point nc_curvature_point(const nc_curvature *curvature);
NC_API double nc_curvature_objective(const nc_curvature *curvature);
NC_API double nc_curvature_gradient_norm(const nc_curvature *curvature);
/* Extreme Ritz values of the (face) Hessian and the Lanczos residual of the
 * lowest one: lambda_min lies within the residual of it. */
NC_API double nc_curvature_min_eigenvalue(const nc_curvature *curvature);
NC_API double nc_curvature_max_eigenvalue(const nc_curvature *curvature);
NC_API double nc_curvature_residual(const nc_curvature *curvature);
/* ReLU features: the smallest gradient component at h = 0 (NaN if no h is
 * 0) and the number of variables at the bound. */
NC_API double nc_curvature_min_multiplier(const nc_curvature *curvature);
NC_API size_t nc_curvature_active_bounds(const nc_curvature *curvature);
/* Classes whose features are all 0: their number, and their indices into
 * classes (K entries, may be NULL). */
NC_API size_t nc_curvature_dead_classes(const nc_curvature *curvature, size_t *classes);
NC_API size_t nc_curvature_lanczos_steps(const nc_curvature *curvature);
/* Gradient evaluations of the last compute. */
NC_API size_t nc_curvature_evaluations(const nc_curvature *curvature);
/* The unit Ritz vector of lambda_min in the order of nc_model_get_variables
 * (nc_model_num_variables values; 0 on variables at the bound). */
NC_API nc_status nc_curvature_get_direction(const nc_curvature *curvature, double *direction);
NC_API const char *nc_curvature_last_error(const nc_curvature *curvature);

/* The moves of the optimizer's escape (nc_optimizer_set_escape), each kept
 * only if it lowers the objective. */
typedef enum nc_escape {
    NC_ESCAPE_NONE = 0,                /* no move lowered the objective */
    NC_ESCAPE_NEGATIVE_CURVATURE = 1,  /* from a strict saddle, along negative curvature */
    NC_ESCAPE_REVIVE_CLASS = 2,        /* classes held at h = 0 given a coordinate each */
    NC_ESCAPE_FROM_ZERO = 3,           /* from W = H = 0, the classes activated one by one */
    NC_ESCAPE_RELOCATE_CLASS = 4       /* classes sharing coordinates given one each */
} nc_escape;

/* ---- checkpoints ----------------------------------------------------------- */
/*
 * Save the full state of a model (sizes, labels, options, all variables) and,
 * if optimizer != NULL, of its optimizer (hyperparameters, step counter,
 * momentum/Adam buffers, L-BFGS history; not the callback) to path. The file
 * is versioned, little-endian, ends with a 64-bit FNV-1a checksum, and is
 * replaced atomically (temporary file in the same directory, fsync, rename):
 * a crash never leaves a half-written checkpoint. The model is not changed
 * (non-const only for its message). Errors: NC_ERR_IO, NC_ERR_OUT_OF_MEMORY,
 * NC_ERR_MISMATCH (optimizer of another model).
 */
NC_API nc_status nc_checkpoint_save(const char *path, nc_model *model,
                                    const nc_optimizer *optimizer);
/*
 * Restore a checkpoint into a model (and optimizer) created with the same
 * sizes, depth and labels (and algorithm and L-BFGS history size); options and
 * all state are taken from the file. A resumed run continues bit-identically.
 * Refused, with nothing changed: NC_ERR_IO, NC_ERR_FORMAT (not a checkpoint,
 * unknown version, a loss past the last), NC_ERR_TRUNCATED, NC_ERR_FILE_SIZE,
 * NC_ERR_CHECKSUM (corrupted), NC_ERR_MISMATCH (other sizes, labels,
 * algorithm, or no optimizer section when one is asked for), NC_ERR_NON_FINITE
 * or NC_ERR_INVALID_VALUE (a loss parameter that nc_model_set_loss_parameter
 * would refuse).
 */
NC_API nc_status nc_checkpoint_load(const char *path, nc_model *model, nc_optimizer *optimizer);

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
 * Measures of large-K (language-model) studies, with u_k the unit vector of
 * mu_k - mu_G, V_k = (1/n_k) sum_{y_i=k} ||h_i - mu_k||^2 and "pairs" the
 * K(K-1)/2 distinct pairs j < k (std: n-1 denominator, 0 for one value):
 *  NC1 trace ratio tr(Sigma_W)/tr(Sigma_B) (Sigma_B weighted as for NC1).
 *  NC1 CDNV mean   mean over pairs of CDNV_jk = (V_j + V_k)/(2||mu_j - mu_k||^2)
 *                  (Galanti et al. 2022); NC1 CDNV CoV: std/mean of the same.
 *  GNC2 log        mean, and variance, over pairs of log(1/||u_j - u_k||)
 *                  (hyperspherical uniformity, Liu et al. 2023).
 *  GNC2 Riesz      mean, and variance, over pairs of 1/||u_j - u_k|| (Riesz
 *                  s = 1 energy; a simplex ETF is its minimiser for K <= d+1).
 *  UNC3            std/|mean| of cos(w_k, mu_k - mu_G) over the K classes
 *                  (uniform duality, Wu & Papyan 2024).
 *  NC2 log-norm    std of log ||mu_k - mu_G|| (means) or log ||w_k|| (W):
 *                  the equinorm spread on a log scale, scale invariant.
 *  interference    mean over pairs of cos(u_j, u_k) (means) or of the
 *                  cosines of rows of W; their spread is NC2 equiangle.
 * Metrics that need W (or b) are NC_ERR_UNAVAILABLE when none was given.
 *
 * Pairwise metrics never need a K x K matrix: they are sums over tiles of
 * the Gram matrices, each tile (tile x tile classes, from the K x d means
 * and W) computed by one DGEMM, summed in a fixed order. Memory is
 * O(K d + d^2 + threads tile^2). Whole K x K matrices remain available on
 * request: nc_structure_gram, nc_structure_cdnv (pairs).
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
    NC_METRIC_NC1_TRACE_RATIO = 13,
    NC_METRIC_NC1_CDNV_MEAN = 14,
    NC_METRIC_NC1_CDNV_COV = 15,
    NC_METRIC_GNC2_LOG_MEAN = 16,
    NC_METRIC_GNC2_LOG_VAR = 17,
    NC_METRIC_GNC2_RIESZ_MEAN = 18,
    NC_METRIC_GNC2_RIESZ_VAR = 19,
    NC_METRIC_UNC3 = 20,
    NC_METRIC_NC2_LOGNORM_MEANS = 21,
    NC_METRIC_NC2_LOGNORM_W = 22,
    NC_METRIC_INTERFERENCE_MEANS = 23,
    NC_METRIC_INTERFERENCE_W = 24,
    NC_METRIC_COUNT = 25 /* number of metrics; not a metric */
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

/*
 * How nc_metrics_compute and nc_metrics_compute_data obtain the within-class
 * scatter along the r kept directions of Sigma_B (r <= min(d, K - 1)) for
 * NC1 = tr(Sigma_W Sigma_B^+) / K: by projecting every h_i - mu_{y_i} on the
 * r directions (d r multiply-adds per sample), or from the d x d scatter
 * sum_i x_i x_i^T (one DSYRK per block, d^2 / 2 per sample, and d^2
 * doubles more memory). Both agree to rounding. Or not at all
 * (NC_NC1_PATH_NONE): NC1 is then NC_ERR_UNAVAILABLE and neither its
 * scatter nor the SVD of the centred means (nor their memory) is needed, and
 * every other metric (the NC1 trace ratio and CDNV included, which need only
 * the per-class sums of ||h_i - mu_{y_i}||^2) has the same bits as with the
 * other paths. At language-model sizes this scatter is most of the work:
 * N d^2 / 2 multiply-adds against the K^2 d / 2 of the pairwise metrics.
 */
typedef enum nc_nc1_path {
    NC_NC1_PATH_AUTO = 0,      /* the d x d scatter when 8 r >= 5 d, else the projections (default) */
    NC_NC1_PATH_PROJECTED = 1, /* always the projections on the r kept directions */
    NC_NC1_PATH_SCATTER = 2,   /* always the d x d scatter */
    NC_NC1_PATH_NONE = 3       /* no NC1 (tr(Sigma_W Sigma_B^+)): no scatter, no SVD for it */
} nc_nc1_path;

/* Create with default conventions: NC_GLOBAL_MEAN_SAMPLE, NC_BETWEEN_UNIFORM,
 * pseudo-inverse rtol = 1e-13 (relative to the largest eigenvalue). */
NC_API nc_status nc_metrics_create(nc_metrics **metrics);
/* Free; accepts NULL. */
NC_API void nc_metrics_destroy(nc_metrics *metrics);

NC_API nc_status nc_metrics_set_global_mean(nc_metrics *metrics, nc_global_mean convention);
NC_API nc_status nc_metrics_set_between_weight(nc_metrics *metrics, nc_between_weight weighting);
/* Relative eigenvalue threshold of the pseudo-inverse of Sigma_B: finite, in [0, 1). */
NC_API nc_status nc_metrics_set_pinv_rtol(nc_metrics *metrics, double rtol);
/* The NC1 path of the in-memory computes (default NC_NC1_PATH_AUTO; see
 * nc_nc1_path). NC_NC1_PATH_NONE also leaves NC1 out of
 * nc_metrics_compute_stream. Streams choose between their two scatters by
 * cost, and leave it out with nc_stream_set_nc1_path.
 * NC_ERR_INVALID_VALUE for a value outside the enum. */
NC_API nc_status nc_metrics_set_nc1_path(nc_metrics *metrics, nc_nc1_path path);
/*
 * Tiles of the pairwise metrics: 0 (default) keeps the whole K x K Gram
 * matrices of the NC2 and NC3 metrics when K <= 2048 (the results of earlier
 * versions, bit for bit) and uses tiles of 384 classes above; tile >= 1
 * always uses tiles of that many classes (results equal to the untiled ones
 * to about 1e-15 relative; values at the level of rounding, such as the
 * spread of the cosines of an exact frame, to about 1e-15 absolute).
 * NC_ERR_INVALID_VALUE above 65536.
 */
NC_API nc_status nc_metrics_set_tile(nc_metrics *metrics, size_t tile);
/*
 * Threads of the tiled pairwise pass, in [1, 1024] (default 0: the model's
 * thread count for nc_metrics_compute, 1 otherwise). Column strips of tiles
 * are dealt to the threads in a fixed way and summed in strip order, so the
 * results do not depend on the thread count. As for the model, run OpenBLAS
 * single-threaded when threads > 1. NC_ERR_INVALID_VALUE outside the range,
 * NC_ERR_OUT_OF_MEMORY if the threads cannot be started.
 */
NC_API nc_status nc_metrics_set_threads(nc_metrics *metrics, size_t threads);

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
/*
 * The metrics at layer l in [0, M) of a deep model: nc_metrics_compute_data
 * on the layer's features H_l and the classifier above them, C_l (see
 * nc_model_get_layer_features), with the model's labels and bias. Layer 0 is
 * nc_metrics_compute. NC4 and accuracy do not depend on l (C_l H_l = P H).
 * Allocates d x N + K x d doubles for the call.
 */
NC_API nc_status nc_metrics_compute_layer(nc_metrics *metrics, const nc_model *model,
                                          size_t layer);
/*
 * The same from caller arrays: H (d x N, ldh >= d), labels, the depth M >= 1
 * layers W_1 .. W_M (layers[l] = W_{l+1}; d x d row-major for l < M - 1 and
 * K x d for the classifier W_M, all with row stride lda >= d), optional b (K
 * values or NULL) and layer l < M. Every value must be finite.
 */
NC_API nc_status nc_metrics_compute_layer_data(nc_metrics *metrics, size_t d, size_t K, size_t N,
                                               const double *H, size_t ldh,
                                               const int32_t *labels, size_t depth,
                                               const double *const *layers, size_t lda,
                                               const double *b, size_t layer);
/* One result of the last compute. NC_ERR_UNAVAILABLE if it needs W that was
 * not given, or if nothing was computed yet. */
NC_API nc_status nc_metrics_get(const nc_metrics *metrics, nc_metric metric, double *value);
/* Short stable name ("nc1", "nc2_equinorm_means", ...); "unknown" otherwise. */
NC_API const char *nc_metric_name(nc_metric metric);
/* Per-class values of the last compute (nc_metrics_get_class). */
typedef enum nc_class_stat {
    NC_CLASS_COUNT = 0,       /* n_k */
    NC_CLASS_MEAN_NORM = 1,   /* ||mu_k - mu_G|| */
    NC_CLASS_W_NORM = 2,      /* ||w_k|| (needs W) */
    NC_CLASS_VARIANCE = 3,    /* V_k = (1/n_k) sum_{y_i=k} ||h_i - mu_k||^2 */
    NC_CLASS_NC4 = 4,         /* fraction of class k's samples whose classifier
                               * decision differs from the nearest mean (needs W) */
    NC_CLASS_ACCURACY = 5,    /* fraction of class k's samples classified as k (needs W) */
    NC_CLASS_DUALITY = 6,     /* cos(w_k, mu_k - mu_G), the terms of UNC3 (needs W) */
    NC_CLASS_STAT_COUNT = 7   /* number of values; not a value */
} nc_class_stat;
/* Short stable name ("count", "mean_norm", ...); "unknown" otherwise. */
NC_API const char *nc_class_stat_name(nc_class_stat stat);
/*
 * K values of one per-class statistic of the last compute (in-memory or
 * streamed) into values. NC_ERR_UNAVAILABLE (values untouched) if it needs
 * W that was not given, if the class means coincide (MEAN_NORM is then
 * rounding noise, DUALITY undefined), or if nothing was computed;
 * NC_ERR_SIZE_MISMATCH if K differs from the last compute's.
 */
NC_API nc_status nc_metrics_get_class(const nc_metrics *metrics, nc_class_stat stat, size_t K,
                                      double *values);
/*
 * Every available per-class statistic of the last compute to a .npy file
 * of shape (K, NC_CLASS_STAT_COUNT), float64, column s = nc_class_stat s
 * (NaN where unavailable), replacing path atomically. NC_ERR_UNAVAILABLE
 * before a compute, NC_ERR_IO, NC_ERR_OUT_OF_MEMORY.
 */
NC_API nc_status nc_metrics_save_classes(nc_metrics *metrics, const char *path);
/* Message describing the last failure on this handle ("" if none). */
NC_API const char *nc_metrics_last_error(const nc_metrics *metrics);

/* ---- a metrics history ---------------------------------------------------------- */
/*
 * Rows of (step, objective, gradient norm, chosen metrics at every layer),
 * recorded from a model: by the optimizer during nc_optimizer_run
 * (nc_optimizer_set_recorder: every n steps, step 0 and the final state) or
 * by the caller (nc_history_record). A row measures layer 0 with
 * nc_metrics_compute and, for deep models (unless all layers are turned
 * off), layers 1..M-1 with nc_metrics_compute_layer; a metric that cannot
 * be computed at a row is stored as NaN (nc_history_get: NC_ERR_UNAVAILABLE);
 * a compute out of memory fails the row (NC_ERR_OUT_OF_MEMORY). The metrics and the layers are fixed by the first row. Rows are kept in
 * memory (8 (3 + layers x metrics) bytes each) and written as CSV or JSON.
 * One handle per thread at a time.
 */
typedef struct nc_history nc_history;

NC_API nc_status nc_history_create(nc_history **history);
/* Free; accepts NULL. */
NC_API void nc_history_destroy(nc_history *history);
/* The metrics of a row, in this order: count distinct values (metrics NULL
 * and count 0: all, the default). NC_ERR_UNSUPPORTED once the history has
 * rows, NC_ERR_INVALID_VALUE for an unknown or repeated metric. */
NC_API nc_status nc_history_set_metrics(nc_history *history, const nc_metric *metrics,
                                        size_t count);
/* Measure every layer of deep models (nonzero, the default) or layer 0 only. */
NC_API nc_status nc_history_set_all_layers(nc_history *history, int enabled);
/* The handle that measures the rows: set its conventions (global mean,
 * between-class weighting, pinv rtol) with the nc_metrics setters. Owned
 * by the history. */
NC_API nc_metrics *nc_history_metrics(nc_history *history);
/* Append a row measuring the model's current state, with the given step,
 * objective and gradient norm. NC_ERR_MISMATCH if the model's depth differs
 * from the rows' (with all layers), NC_ERR_OUT_OF_MEMORY. */
NC_API nc_status nc_history_record(nc_history *history, const nc_model *model, size_t step,
                                   double objective, double gradient_norm);
NC_API size_t nc_history_rows(const nc_history *history);
/* Layers per row (0 before the first row). */
NC_API size_t nc_history_layers(const nc_history *history);
/* A row's step, objective and gradient norm (any may be NULL). */
NC_API nc_status nc_history_get_row(const nc_history *history, size_t row, size_t *step,
                                    double *objective, double *gradient_norm);
/* A row's metric at a layer: NC_ERR_UNAVAILABLE (value NaN) if not
 * recorded or not available at that row. */
NC_API nc_status nc_history_get(const nc_history *history, size_t row, size_t layer,
                                nc_metric metric, double *value);
/* Drop every row (the metrics and layers may then be chosen again). */
NC_API nc_status nc_history_clear(nc_history *history);
/*
 * Write the rows, replacing path atomically. CSV: a header line
 * "step,objective,gradient_norm,<metric>..." (for rows of several layers
 * "l<layer>_<metric>"), one line per row, 17 significant digits (values
 * read back bit for bit), "nan" for an unavailable value. JSON: {"metrics":
 * [names], "layers": L, "rows": [{"step": s, "objective": f,
 * "gradient_norm": g, "values": [[layer 0's values], ...]}, ...]}, null for
 * an unavailable value. NC_ERR_IO, NC_ERR_OUT_OF_MEMORY.
 */
NC_API nc_status nc_history_save_csv(nc_history *history, const char *path);
NC_API nc_status nc_history_save_json(nc_history *history, const char *path);
NC_API const char *nc_history_last_error(const nc_history *history);

/* ======================================================================== */
/* Analysis: frames, alignment, structure metrics, closed-form predictions  */
/* ======================================================================== */
/*
 * Frames. A frame is K vectors in R^d stored d x K column-major with
 * leading dimension ld >= d, one vector per column (vector k is
 * A[k*lda .. k*lda + d-1]). A K x d row-major classifier W with row stride
 * ldw is the same memory as the d x K frame of its rows with lda = ldw, so
 * class means (columns of Hbar) and classifier rows are passed alike.
 * Inputs are borrowed for the call and must be finite (NC_ERR_NON_FINITE);
 * results are invariant under (or scale exactly with) scaling of the input
 * by any power of two, so data of magnitude 1e-300 or 1e300 is fine.
 * d, K and every leading dimension must be at most INT_MAX (BLAS).
 */
/* Simplex ETF of K >= 2 unit vectors in R^d, d >= K-1 (NC_ERR_INVALID_SIZE
 * otherwise): column k = sqrt(K/(K-1)) (q_1k, ..., q_{K-1,k}, 0, ..., 0) with
 * q the (K-1) x K Helmert matrix (rows orthonormal and orthogonal to the
 * all-ones vector), so M^T M = (K/(K-1)) (I - J/K): pairwise cosines
 * -1/(K-1). Any other simplex ETF is Q M with Q orthogonal
 * (nc_frame_random_orthogonal, nc_frame_transform). */
NC_API nc_status nc_frame_simplex_etf(size_t d, size_t K, double *M, size_t ldm);
/* General orthogonal frame: column k = lengths[k] e_k (d >= K; lengths K
 * finite values >= 0, or NULL for all 1: the orthonormal frame). */
NC_API nc_status nc_frame_orthogonal(size_t d, size_t K, const double *lengths, double *M,
                                     size_t ldm);
/* Haar-random d x p matrix with orthonormal columns (1 <= p <= d): QR of a
 * Gaussian matrix drawn from seed (the library's generator), signs fixed so
 * that diag(R) > 0. p = d gives a random rotation (or reflection). */
NC_API nc_status nc_frame_random_orthogonal(size_t d, size_t p, uint64_t seed, double *Q,
                                            size_t ldq);
/* M <- Q M in place for a d x d matrix Q (column-major, ldq >= d) that does
 * not overlap M. */
NC_API nc_status nc_frame_transform(size_t d, size_t K, const double *Q, size_t ldq, double *M,
                                    size_t ldm);
/* C = A - a 1^T with a = (1/K) sum_k a_k (counts NULL: the centre of an ETF,
 * NC_GLOBAL_MEAN_CLASS_AVG) or a = sum_k (n_k/N) a_k (counts = K class
 * counts >= 1: the sample mean of collapsed features, NC_GLOBAL_MEAN_SAMPLE).
 * C may be A itself (then ldc must equal lda). */
NC_API nc_status nc_frame_center(size_t d, size_t K, const double *A, size_t lda,
                                 const size_t *counts, double *C, size_t ldc);
/* Euclidean norms of the K vectors (per-class norms of means or of rows of W). */
NC_API nc_status nc_frame_norms(size_t d, size_t K, const double *A, size_t lda, double *norms);
/*
 * Orthogonal Procrustes with scale: the orthogonal R (d x d) and scale s >= 0
 * minimising ||s R A - T||_F, for frames A and T (both d x K). With the SVD
 * T A^T = U S V^T: R = U V^T, s = tr(S)/||A||_F^2; *residual = ||s R A - T||_F
 * (absolute; divide by ||T||_F for a relative one). R (d x d column-major,
 * ldr >= d) may be NULL: then the cost is O(d K^2) through the thin QR of A;
 * with R it is O(d^2 K + d^3). R is unique when A has rank d (K >= d). A = 0
 * is NC_ERR_UNAVAILABLE (scale and residual set to NaN).
 */
NC_API nc_status nc_frame_align(size_t d, size_t K, const double *A, size_t lda, const double *T,
                                size_t ldt, double *R, size_t ldr, double *scale,
                                double *residual);
/*
 * Distance to the nearest simplex ETF: min over c >= 0 and ETFs E (any
 * rotation) of ||A - c E||_F / ||A||_F, in [0, 1], needs d >= K-1. Closed form
 * from one SVD: with P = I - J/K and s_1 >= ... >= s_{K-1} the largest
 * singular values of A P, distance^2 = (||A 1||^2/K + sum_{i<K} (s_i - sbar)^2
 * + sum_{i>=K} s_i^2) / ||A||_F^2, sbar their mean. The ETF is centred at 0: to
 * measure class means up to translation, centre them first (nc_frame_center
 * with counts NULL removes exactly the ||A 1||^2/K term). Invariant under
 * rotation and scale of A. A = 0 is NC_ERR_UNAVAILABLE (NaN).
 */
NC_API nc_status nc_frame_etf_distance(size_t d, size_t K, const double *A, size_t lda,
                                       double *distance);
/* Distance to the nearest orthogonal frame of equal lengths (c times K
 * orthonormal vectors), d >= K: distance^2 = sum_k (s_k - sbar)^2 / ||A||_F^2
 * with s the K singular values of A. */
NC_API nc_status nc_frame_orthogonal_distance(size_t d, size_t K, const double *A, size_t lda,
                                              double *distance);

/*
 * Structure metrics for imbalanced data. Matrices are column-major with a
 * leading dimension (K x K outputs: ldg >= K).
 */
/* Class means mu_k (d x K frame, ldm >= d) of features H (d x N, ldh >= d)
 * with labels in [0, K), every class non-empty; counts (K values) may be
 * NULL. Two passes (sum, then the mean of residuals added back). */
NC_API nc_status nc_structure_class_means(size_t d, size_t K, size_t N, const double *H,
                                          size_t ldh, const int32_t *labels, double *M,
                                          size_t ldm, size_t *counts);
/* G = A^T B (K x K) for d x K frames A and B; B NULL means A^T A.
 * W W^T: A = B = W (lda = ldw); Hbar^T Hbar: A = B = class means (centred
 * with nc_frame_center or not); W Hbar: A = W, B = class means
 * (G_jk = w_j . mu_k). NC_ERR_OVERFLOW if an entry overflows. */
NC_API nc_status nc_structure_gram(size_t d, size_t K, const double *A, size_t lda,
                                   const double *B, size_t ldb, double *G, size_t ldg);
/* || A/||A||_F - T/||T||_F ||_F for K x K matrices A (e.g. a Gram of a model)
 * and T (the target, e.g. a prediction's Gram), in [0, 2]. A or T zero:
 * NC_ERR_UNAVAILABLE (NaN). */
NC_API nc_status nc_structure_distance(size_t K, const double *A, size_t lda, const double *T,
                                       size_t ldt, double *distance);

/* Minority-collapse indicators (nc_structure_minority). */
typedef enum nc_minority_stat {
    NC_MINORITY_COS_MAJOR = 0,  /* mean cosine over pairs of majority vectors */
    NC_MINORITY_COS_MINOR = 1,  /* mean cosine over pairs of minority vectors */
    NC_MINORITY_COS_ACROSS = 2, /* mean cosine over (majority, minority) pairs */
    /* largest distance between two minority vectors over the largest norm of
     * all K vectors: 0 when the minority vectors coincide */
    NC_MINORITY_SPREAD = 3,
    NC_MINORITY_STAT_COUNT = 4 /* number of indicators; not an indicator */
} nc_minority_stat;
/*
 * Indicators of minority collapse of K vectors (a frame: rows of W, centred
 * class means, or columns of the logits Z of the class means). Groups:
 * minority[k] != 0 marks class k as minority; or minority NULL and counts
 * given: class k is minority iff n_k < max_j n_j. stats receives
 * NC_MINORITY_STAT_COUNT values; an indicator whose pairs do not exist (a
 * group of fewer than two classes) is NaN. A simplex ETF has every cosine
 * -1/(K-1) and spread sqrt(2K/(K-1)); collapsed minority vectors give
 * NC_MINORITY_COS_MINOR = 1 and spread 0. A zero vector
 * (cosine undefined) is NC_ERR_UNAVAILABLE; no minority class or no majority
 * class is NC_ERR_INVALID_VALUE.
 */
NC_API nc_status nc_structure_minority(size_t d, size_t K, const double *A, size_t lda,
                                       const int *minority, const size_t *counts, double *stats);
/*
 * Class-distance normalised variance (Galanti et al. 2022):
 * CDNV_ij = (V_i + V_j) / (2 ||mu_i - mu_j||^2), V_k = (1/n_k) sum_{y_i=k}
 * ||h_i - mu_k||^2. *mean = the average over the K(K-1)/2 pairs; pairs (K x K,
 * ldp >= K, symmetric with zero diagonal) may be NULL. Two equal class means
 * make the value undefined: NC_ERR_UNAVAILABLE (NaN).
 */
NC_API nc_status nc_structure_cdnv(size_t d, size_t K, size_t N, const double *H, size_t ldh,
                                   const int32_t *labels, double *mean, double *pairs,
                                   size_t ldp);

/*
 * Predictions: the global minimiser of a UFM in closed form (or by a
 * certified solver), in the library's "halves" convention
 * (docs/theory.md derives each and reports its validation). Inputs: the
 * kind, K and the class counts n_1..n_K (N = sum n_k), the weight decays
 * (a paper's no-halves lambda' is lambda = 2 lambda'), and per kind the bias,
 * depth, feature dimension d and classifier norm. After nc_prediction_compute
 * the getters copy out targets that the structure metrics compare a model
 * against. Every one-layer model depends on the decays only through
 * lambda = sqrt(lambda_W lambda_H) (and lambda_b), except for the split
 * between ||W|| and ||H||: W W^T scales as sqrt(lambda_H/lambda_W) and
 * Hbar^T Hbar as its inverse. Hong & Ling's 2 sqrt(lambda_W' lambda_H') (no
 * halves) is the same number as lambda.
 */
typedef struct nc_prediction nc_prediction;

/*
 * The kinds, one list as an X-macro X(name, value, id): the enumerator, its
 * value (0, 1, 2, ... in list order; pinned forever: a new kind gets the
 * next number) and a lowercase identifier of the kind, for token pasting
 * (the library names each kind's descriptor after it). The list yields the
 * nc_prediction_kind enum and the library's table of kinds, so the two
 * cannot drift. Callers may use it to loop over the kinds, e.g.
 * #define KIND(name, value, id) name, in an array initializer.
 */
#define NC_PREDICTION_KINDS(X)                                                              \
    /* CE, all n_k equal (else NC_ERR_INVALID_VALUE), with or without bias:                \
     * Z = m (I - J/K), m = log(1/(lambda sqrt(n)) - (K-1)) if                             \
     * lambda sqrt(n) < 1/K, else 0; b = 0. */                                              \
    X(NC_PREDICT_BALANCED_CE, 0, balanced_ce)                                               \
    /* MSE (1/2)||z - e_y||^2, all n_k equal; without bias Z = a I,                        \
     * a = max(0, 1 - K lambda sqrt(n)); with bias Z = a (I - J/K) + u J/K and             \
     * b = gamma 1 (u = 0, gamma = 1/(K(1 + lambda_b)) unless lambda_b is large,           \
     * see docs/theory.md). */                                                              \
    X(NC_PREDICT_BALANCED_MSE, 1, balanced_mse)                                             \
    /* Hong & Ling 2023: CE with bias (nc_prediction_set_bias(p, 0) removes                \
     * it), any counts; the convex problem in Y = Z D^{1/2} solved by                      \
     * proximal gradient (FISTA with restart, singular-value thresholding). */              \
    X(NC_PREDICT_HONG_LING_CE, 2, hong_ling_ce)                                             \
    /* Dang et al. 2024: CE, ReLU features H >= 0, no bias: orthogonal class               \
     * means, ||h_k||^2 = M_k sqrt((K-1) lambda_W / (K lambda_H n_k)). */                   \
    X(NC_PREDICT_DANG_RELU_CE, 3, dang_relu_ce)                                             \
    /* Dang et al. 2023: deep linear UFM (depth M, nc_prediction_set_depth),               \
     * MSE, no bias; per-class root by bisection, compared with x = 0. */                   \
    X(NC_PREDICT_DEEP_LINEAR_MSE, 4, deep_linear_mse)                                       \
    /* Yang et al. 2022: CE with the classifier fixed to a simplex ETF with                \
     * ||w_k|| = classifier norm, no bias, no W decay: h_i = t w_{y_i}/||w||. */            \
    X(NC_PREDICT_FIXED_ETF, 5, fixed_etf)

typedef enum nc_prediction_kind {
#define NC_PREDICTION_KIND_ENTRY(name, value, id) name = value,
    NC_PREDICTION_KINDS(NC_PREDICTION_KIND_ENTRY)
#undef NC_PREDICTION_KIND_ENTRY
} nc_prediction_kind;

/* Create for 2 <= K <= 46340 classes (K^2 must fit a LAPACK int) with
 * counts[k] >= 1 samples (copied). Defaults:
 * all decays 0 (set them: compute needs lambda_W, lambda_H > 0; the fixed
 * ETF needs lambda_H > 0 only), bias on for Hong & Ling and off otherwise,
 * depth 1, d = 0 (not checked), classifier norm 1, tolerance 1e-12 and
 * 1000000 iterations for the solver. */
NC_API nc_status nc_prediction_create(nc_prediction **prediction, nc_prediction_kind kind,
                                      size_t K, const size_t *counts);
NC_API void nc_prediction_destroy(nc_prediction *prediction);
/* Weight decays in the "halves" convention (finite, >= 0). */
NC_API nc_status nc_prediction_set_weight_decay(nc_prediction *prediction, double lambda_W,
                                                double lambda_H, double lambda_b);
NC_API nc_status nc_prediction_set_bias(nc_prediction *prediction, int enabled);
/* Depth M in [1, 1000] (deep linear kind only; others need 1). */
NC_API nc_status nc_prediction_set_depth(nc_prediction *prediction, size_t depth);
/* Feature dimension d of the model the prediction is for (0: unchecked).
 * Compute fails with NC_ERR_UNSUPPORTED if the predicted solution needs
 * rank > d (the closed forms assume d is large enough). */
NC_API nc_status nc_prediction_set_dim(nc_prediction *prediction, size_t d);
/* Norm of each row of the fixed ETF classifier (finite, > 0; default 1). */
NC_API nc_status nc_prediction_set_classifier_norm(nc_prediction *prediction, double norm);
/* Hong & Ling solver: stop when the certified relative residual (see
 * nc_prediction_residual) is <= tol (finite, > 0), or after max_iterations. */
NC_API nc_status nc_prediction_set_tolerance(nc_prediction *prediction, double tol,
                                             size_t max_iterations);
/* Compute. NC_SUCCESS, or NC_STOP_MAX_ITERATIONS if the solver stopped at its
 * iteration limit (results are those of the last iterate), or an error
 * (NC_ERR_INVALID_VALUE for missing decays, NC_ERR_UNSUPPORTED for options
 * the kind does not have, ...), with a message. */
NC_API nc_status nc_prediction_compute(nc_prediction *prediction);

/* Getters (NC_ERR_UNAVAILABLE before a successful compute). K x K outputs are
 * column-major with ld >= K (NC_ERR_SIZE_MISMATCH otherwise). */
/* Optimal objective F* of the UFM (same convention as nc_model_objective). */
NC_API nc_status nc_prediction_get_objective(const nc_prediction *prediction, double *objective);
/* Z = W Hbar (P Hbar for the deep model): column k = logits of class k's mean
 * feature, bias excluded. */
NC_API nc_status nc_prediction_get_logits(const nc_prediction *prediction, double *Z, size_t ldz);
/* W W^T (the end-to-end P P^T for the deep model). */
NC_API nc_status nc_prediction_get_classifier_gram(const nc_prediction *prediction, double *G,
                                                   size_t ldg);
/* Hbar^T Hbar of the uncentred class means. */
NC_API nc_status nc_prediction_get_feature_gram(const nc_prediction *prediction, double *G,
                                                size_t ldg);
/* Optimal bias (K values; zeros for kinds without bias). */
NC_API nc_status nc_prediction_get_bias(const nc_prediction *prediction, double *b);
/* ||w_k|| (rows of W, or of P for the deep model) and ||hbar_k||; either may be NULL. */
NC_API nc_status nc_prediction_get_norms(const nc_prediction *prediction, double *w_norms,
                                         double *h_norms);
/* K singular values: of Y = Z D^{1/2} (balanced, Hong & Ling; descending), or
 * for the deep model those of each layer W_m (sigma_k^{1/M}, class order).
 * NC_ERR_UNAVAILABLE for the ReLU and fixed-ETF kinds. */
NC_API nc_status nc_prediction_get_singular_values(const nc_prediction *prediction, double *s);
/* Yang et al.'s feature scale t = ||h_k|| (fixed-ETF kind only). */
NC_API nc_status nc_prediction_get_feature_scale(const nc_prediction *prediction, double *t);
/* collapsed[k] = 1 if class k's mean feature is zero (ReLU, deep linear) or
 * coincides with another class's (balanced, Hong & Ling: columns of Z equal
 * to 1e-6 relative), else 0. */
NC_API nc_status nc_prediction_get_collapsed(const nc_prediction *prediction, int *collapsed);
/* Collapse thresholds (no compute needed): class k collapses iff
 * sqrt(lambda_W lambda_H) >= lambda[k]. Balanced: 1/(K sqrt(n)); Hong & Ling:
 * sqrt(n_k)/N (for a group of >= 2 classes of equal size n_k); ReLU:
 * sqrt(n_k (K-1)/K)/N; deep linear with depth 1: sqrt(n_k)/N. Other kinds
 * and depths: NC_ERR_UNAVAILABLE. */
NC_API nc_status nc_prediction_get_thresholds(const nc_prediction *prediction, double *lambda);
/* Critical count at the computed decays and N: a class with n_k <= *n_crit
 * collapses (to zero: ReLU, deep linear; onto the other classes of its size:
 * Hong & Ling, for a group of >= 2 equal-size classes; all classes at once:
 * balanced kinds, where it is lambda sqrt(n) >= 1/K since N = K n).
 * Balanced and Hong & Ling: (N lambda)^2; ReLU:
 * N^2 lambda_W lambda_H K/(K-1); deep linear of depth M:
 * N c M^2 / (M-1)^{(M-1)/M} with c = lambda_W (N lambda_H)^{1/M} (M = 1:
 * N^2 lambda_W lambda_H); fixed ETF: 0 (never). */
NC_API nc_status nc_prediction_get_critical_count(const nc_prediction *prediction,
                                                  double *n_crit);
/* Solver iterations and certified residual of the last compute (Hong &
 * Ling; 0 for closed forms): 2 ||G|| / ||grad f(0)|| with G the
 * prox-gradient mapping, which bounds the distance of 0 to the subdifferential
 * at the returned point relative to the gradient at the origin. */
NC_API size_t nc_prediction_iterations(const nc_prediction *prediction);
NC_API double nc_prediction_residual(const nc_prediction *prediction);
NC_API const char *nc_prediction_last_error(const nc_prediction *prediction);

/*
 * The prediction for a model: the kind that covers the model's options, with
 * its counts, decays (lambda_W dropped for a fixed classifier), bias,
 * depth, dimension and, for a classifier fixed to a simplex ETF, its row
 * norm, so that model and prediction cannot disagree on an option. Not yet
 * computed. The kind: ReLU features: Dang et al. 2024; a fixed classifier
 * (CE, checked to be a simplex ETF to 1e-10): Yang et al. 2022; depth >= 2
 * (MSE): deep linear; CE without bias and equal counts: balanced CE; other
 * CE: Hong & Ling; MSE with equal counts: balanced MSE; other MSE without
 * bias: deep linear of depth 1. A model no kind covers (other losses, AllNC terms, an MSE
 * target scale other than 1, MSE with bias under imbalance, ...) is
 * NC_ERR_UNSUPPORTED with *prediction NULL and a message naming the option
 * in nc_model_last_error(model) (the model is otherwise not changed).
 */
NC_API nc_status nc_prediction_create_from_model(nc_prediction **prediction, nc_model *model);
/* The kind of a prediction (NC_PREDICT_BALANCED_CE for NULL). */
NC_API nc_prediction_kind nc_prediction_get_kind(const nc_prediction *prediction);

/* What nc_prediction_compare measures (indices of its values array). */
typedef enum nc_comparison_value {
    NC_COMPARE_OBJECTIVE = 0,           /* F of the model's state */
    NC_COMPARE_PREDICTED_OBJECTIVE = 1, /* F* */
    NC_COMPARE_OBJECTIVE_GAP = 2,       /* (F - F*) / |F*| */
    NC_COMPARE_CLASSIFIER_GRAM = 3,     /* ||P P^T - (P P^T)*||_F / ||(P P^T)*||_F */
    NC_COMPARE_FEATURE_GRAM = 4,        /* the same for Hbar^T Hbar (uncentred means) */
    NC_COMPARE_LOGITS = 5,              /* the same for Z = P Hbar */
    NC_COMPARE_COLLAPSE_AGREEMENT = 6,  /* fraction of classes whose collapse agrees */
    NC_COMPARE_COUNT = 7                /* number of values; not a value */
} nc_comparison_value;

/* The verdict of a comparison. */
typedef enum nc_verdict {
    NC_VERDICT_OPTIMUM = 0,            /* |gap| <= rtol, geometry within sqrt(rtol) */
    NC_VERDICT_ABOVE_PREDICTION = 1,   /* gap > rtol: not converged, or a spurious point */
    NC_VERDICT_BELOW_PREDICTION = 2,   /* gap < -rtol: the prediction is wrong for this model */
    NC_VERDICT_GEOMETRY_DIFFERS = 3    /* the objective agrees, the Grams or collapse do not */
} nc_verdict;

/* "optimum", "above the prediction", ...; "unknown" otherwise. */
NC_API const char *nc_verdict_name(nc_verdict verdict);

/*
 * Compare the model's current state with the prediction (computed first if
 * it was not): values (NC_COMPARE_COUNT doubles) and the verdict for the
 * relative tolerance rtol in (0, 1) on the objective (sqrt(rtol) on the
 * three relative distances, which are rotation invariant; each is absolute
 * when the predicted matrix is 0). A class collapses in the model by the
 * kind's rule: its mean feature below 1e-6 of the largest (ReLU, deep
 * linear), or its logit column within 1e-6 of another's (other kinds).
 * NC_ERR_SIZE_MISMATCH / NC_ERR_MISMATCH if K or the counts differ,
 * NC_ERR_INVALID_VALUE for rtol, the prediction's compute errors.
 */
NC_API nc_status nc_prediction_compare(nc_prediction *prediction, nc_model *model, double rtol,
                                       double *values, nc_verdict *verdict);

/* ======================================================================== */
/* Runs: what nc_optimizer_run records, checks and reports                  */
/* ======================================================================== */
/*
 * Record the metrics history of nc_optimizer_run into history (borrowed; NULL
 * stops recording): a row for the state after every `every` >= 1 steps,
 * step 0 (the state the run starts from) and the final state included, each
 * with the objective and gradient norm of that same state (a first-order
 * step measures the metrics before it moves H, since its pass reports the
 * state it starts from). Off by default, and free when off; on, each row
 * costs the metrics of every layer (nc_history).
 */
NC_API nc_status nc_optimizer_set_recorder(nc_optimizer *optimizer, nc_history *history,
                                           size_t every);
/*
 * Escape (default 0: off): when a run stops by the gradient tolerance or for
 * lack of progress, check the point (nc_curvature) and, up to max_escapes
 * times per run, leave it if it is a strict saddle, holds a class at h = 0
 * (ReLU features) or is W = H = 0, by the moves of nc_escape, each kept only
 * if the objective decreases; the run then goes on (the steps count against
 * its iteration limit; momentum buffers and the L-BFGS history restart).
 */
NC_API nc_status nc_optimizer_set_escape(nc_optimizer *optimizer, size_t max_escapes);
/* Check every stop by tolerance or lack of progress (nc_curvature), without
 * escaping (nonzero; default 0; implied by escapes). */
NC_API nc_status nc_optimizer_set_check(nc_optimizer *optimizer, int enabled);
/* Compare every stop of nc_optimizer_run with this prediction (borrowed;
 * NULL: none), at rtol 1e-6 (nc_prediction_compare): a stationary point
 * above F* is reported as such, never as the optimum. */
NC_API nc_status nc_optimizer_set_prediction(nc_optimizer *optimizer, nc_prediction *prediction);
/* Escapes taken by the last run. */
NC_API size_t nc_optimizer_escapes(const nc_optimizer *optimizer);
/* Steps of the last run taken through the divergence guard's second tier
 * (staged: copied, taken, checked). */
NC_API size_t nc_optimizer_staged_steps(const nc_optimizer *optimizer);
/* The check's verdict on the last run's final state (NC_POINT_INCONCLUSIVE
 * when no check ran). */
NC_API nc_point nc_optimizer_stop_point(const nc_optimizer *optimizer);
/* The comparison of the last run's final state with the prediction:
 * NC_ERR_UNAVAILABLE without one; values (NC_COMPARE_COUNT doubles) may be
 * NULL. */
NC_API nc_status nc_optimizer_stop_verdict(const nc_optimizer *optimizer, nc_verdict *verdict,
                                           double *values);
/* One line on why and where the last run stopped: the reason, the steps,
 * the objective and gradient norm, steps staged by the guard, escapes, a
 * warning at W = H = 0, the check's verdict and the comparison with the
 * prediction ("" before a run). Belongs to the optimizer. */
NC_API const char *nc_optimizer_stop_info(const nc_optimizer *optimizer);

/* ======================================================================== */
/* Data: .npy files and streaming metrics                                    */
/* ======================================================================== */
/*
 * .npy files (NumPy's format, versions 1.0, 2.0 and 3.0) of 1-D and 2-D
 * arrays: float32 and float64 features, 8- to 64-bit signed and unsigned
 * integer labels, either byte order, C or Fortran order.
 *
 * Rows: row r of a 2-D (R, C) array is its C elements (r, 0..C-1); a 1-D
 * (R,) array has R rows of one element. Row-range reads and writes take a
 * caller buffer in which row r lives at buf[r*ld .. r*ld + C-1], ld >= C.
 * So an (N, d) file is exactly the library's d x N column-major feature
 * matrix with ldh = ld (whatever the file's order: a Fortran-ordered file
 * is transposed while it is read), and a (K, d) file is a row-major W.
 *
 * Validation is strict: a bad magic string, version or header is
 * NC_ERR_FORMAT; a file shorter than its header declares NC_ERR_TRUNCATED,
 * a longer one NC_ERR_FILE_SIZE; a shape whose byte count overflows
 * NC_ERR_INVALID_SIZE; an unsupported dtype (or floats read as labels,
 * integers read as features) NC_ERR_DTYPE; arrays of other than 1 or 2
 * dimensions NC_ERR_UNSUPPORTED; a label outside [0, K)
 * NC_ERR_LABEL_OUT_OF_RANGE; system errors NC_ERR_IO. On a failed read the
 * output buffer's contents are unspecified.
 *
 * One reader or writer per thread at a time. Files larger than memory are
 * read and written in row ranges; a handle holds a fixed 64 KiB buffer and
 * allocates nothing per call.
 */
typedef enum nc_npy_dtype {
    NC_NPY_FLOAT32 = 0,
    NC_NPY_FLOAT64 = 1,
    NC_NPY_INT8 = 2,
    NC_NPY_INT16 = 3,
    NC_NPY_INT32 = 4,
    NC_NPY_INT64 = 5,
    NC_NPY_UINT8 = 6,
    NC_NPY_UINT16 = 7,
    NC_NPY_UINT32 = 8,
    NC_NPY_UINT64 = 9
} nc_npy_dtype;

typedef enum nc_npy_byte_order {
    NC_NPY_LITTLE_ENDIAN = 0,
    NC_NPY_BIG_ENDIAN = 1
} nc_npy_byte_order;

/* NumPy's name of a dtype ("float64", "uint8", ...); "unknown" otherwise. */
NC_API const char *nc_npy_dtype_name(nc_npy_dtype dtype);

/* Reader: parses the header once, then reads any row range. */
typedef struct nc_npy_reader nc_npy_reader;

NC_API nc_status nc_npy_reader_create(nc_npy_reader **reader);
/* Close the file if one is open, and free; accepts NULL. */
NC_API void nc_npy_reader_destroy(nc_npy_reader *reader);
/* Open path (a regular file), parse and validate its header and its size
 * (closing any file opened before). The message says what was wrong. */
NC_API nc_status nc_npy_reader_open(nc_npy_reader *reader, const char *path);
/* Close the open file, if any; accepts NULL. */
NC_API void nc_npy_reader_close(nc_npy_reader *reader);
/* The open array: dtype, number of dimensions (1 or 2), rows = shape[0]
 * and cols = shape[1] (1 for 1-D). Any pointer may be NULL.
 * NC_ERR_UNAVAILABLE if no file is open. */
NC_API nc_status nc_npy_reader_info(const nc_npy_reader *reader, nc_npy_dtype *dtype,
                                    size_t *ndim, size_t *rows, size_t *cols);
/* Its storage: format major version (1, 2 or 3), byte order (little for
 * 1-byte types) and order (1 = Fortran). Any pointer may be NULL. */
NC_API nc_status nc_npy_reader_format(const nc_npy_reader *reader, unsigned *version,
                                      nc_npy_byte_order *byte_order, int *fortran_order);
/* Read rows [row0, row0 + nrows) of a float32/float64 array as doubles:
 * row r goes to out[(r - row0)*ld .. + cols-1], ld >= cols. */
NC_API nc_status nc_npy_reader_read_rows(nc_npy_reader *reader, size_t row0, size_t nrows,
                                         double *out, size_t ld);
/* The same for a float32 array into floats (for nc_stream_add_float, with
 * no double copy of a chunk): rows of the machine's byte order in C order
 * with ld == cols are read straight into out. NC_ERR_DTYPE for any other
 * dtype (float64 is not narrowed). */
NC_API nc_status nc_npy_reader_read_rows_float(nc_npy_reader *reader, size_t row0, size_t nrows,
                                               float *out, size_t ld);
/* Read entries [row0, row0 + nrows) of an integer array of shape (N,) or
 * (N, 1) into labels[0 .. nrows-1], each checked to lie in [0, K)
 * (K == 0: in [0, INT32_MAX]). */
NC_API nc_status nc_npy_reader_read_labels(nc_npy_reader *reader, size_t row0, size_t nrows,
                                           int32_t *labels, size_t K);
/* Message describing the last failure on this reader ("" if none). */
NC_API const char *nc_npy_reader_last_error(const nc_npy_reader *reader);

/*
 * Writer: begin (header into a temporary file in the target's directory),
 * write rows in order in any number of calls, finish (fsync, rename over
 * the target, fsync the directory). Nothing is ever half-written: any
 * failure, nc_npy_writer_abort and nc_npy_writer_destroy remove the
 * temporary file, and an existing file at the target is replaced only by a
 * complete one. Defaults: format version automatic (1.0, the smallest that
 * holds the header, as NumPy), little-endian, C order.
 */
typedef struct nc_npy_writer nc_npy_writer;

NC_API nc_status nc_npy_writer_create(nc_npy_writer **writer);
/* Abort an unfinished file and free; accepts NULL. */
NC_API void nc_npy_writer_destroy(nc_npy_writer *writer);
/* Format of the next files: version 0 (automatic), 1, 2 or 3; byte order;
 * fortran_order nonzero for Fortran order. */
NC_API nc_status nc_npy_writer_set_format(nc_npy_writer *writer, unsigned version,
                                          nc_npy_byte_order byte_order, int fortran_order);
/* Start a file of shape (rows,) (ndim 1, cols must be 1) or (rows, cols)
 * (ndim 2). Zero-sized dimensions are allowed. */
NC_API nc_status nc_npy_writer_begin(nc_npy_writer *writer, const char *path, nc_npy_dtype dtype,
                                     size_t ndim, size_t rows, size_t cols);
/* Append the next nrows rows of a float file: row r from x[r*ld .. + cols-1],
 * ld >= cols. A finite value beyond the range of float32 is
 * NC_ERR_INVALID_VALUE (NaN and infinities are written as they are). */
NC_API nc_status nc_npy_writer_write_rows(nc_npy_writer *writer, const double *x, size_t nrows,
                                          size_t ld);
/* Append the next n entries of an integer file of shape (N,) or (N, 1);
 * a value that does not fit the dtype is NC_ERR_INVALID_VALUE. */
NC_API nc_status nc_npy_writer_write_labels(nc_npy_writer *writer, const int32_t *labels,
                                            size_t n);
/* Complete the file: every declared row must have been written
 * (NC_ERR_SIZE_MISMATCH otherwise, and the file is abandoned). */
NC_API nc_status nc_npy_writer_finish(nc_npy_writer *writer);
/* Abandon the file being written (its temporary file is removed); accepts
 * NULL and a writer with no file. */
NC_API void nc_npy_writer_abort(nc_npy_writer *writer);
/* Message describing the last failure on this writer ("" if none). */
NC_API const char *nc_npy_writer_last_error(const nc_npy_writer *writer);

/*
 * Streaming metrics: an nc_stream accumulates the summaries from which
 * nc_metrics_compute_stream gives the same values as nc_metrics_compute_data
 * on all the data at once (to about 1e-13 relative in practice; near-ties of
 * NC4 decisions can differ), for features passed in batches of any size,
 * including empty ones, in two passes over the data:
 *   pass 1  class counts, class means (stable pairwise merges of the batch
 *           means) and the largest |h|;
 *   pass 2  (after nc_stream_next_pass) the within-class scatter projected
 *           on an orthonormal basis of the span of the centred class means
 *           (a K x K matrix, valid for every convention of nc_metrics;
 *           none with nc_stream_set_nc1_path(NC_NC1_PATH_NONE)), the
 *           per-class sums of ||h_i - mu_{y_i}||^2, and the NC4 and accuracy
 *           counts when a classifier was set.
 * Pass 2 accumulates the d x d scatter itself instead of its projection
 * when that is cheaper: when d^2 <= 2 d K + K^2 (K >= about 0.41 d; the
 * projection costs d K + K^2 / 2 multiply-adds per sample, the d x d
 * scatter d^2 / 2); per class it also sums ||x||^2 and counts NC4 and
 * accuracy. Memory is O(d K + q^2 + d B) doubles (q = d or K, the side of
 * the scatter) with B = 32768 / max(d, K) columns (about 4 MB of columns
 * for the d x d scatter), independent of the number of samples; nothing is
 * allocated after creation. Each pass must see the same samples, in any
 * order and batching.
 *
 * Threads (nc_stream_set_threads): the passes over a batch (the class sums
 * of pass 1 by coordinates, the residuals and sums of ||x||^2 of pass 2 by
 * classes, the scatter in column strips of fixed width, NC4 in fixed blocks
 * of columns) and the tiled K x K pass of nc_metrics_compute_stream (when
 * the metrics handle has no threads of its own) run on the stream's
 * threads, in a fixed order: the accumulator and the metrics hold the same
 * bits for any thread count. Run OpenBLAS single-threaded with threads > 1.
 *
 * Shards: accumulators created with the same d, K and classifier merge in
 * either pass (nc_stream_merge), in any order. For pass 2 on shards, merge
 * the pass-1 accumulators, call nc_stream_next_pass on the result, and
 * nc_stream_copy it once per shard: pass-2 accumulators merge only if they
 * derive from the same pass 1 (NC_ERR_INVALID_VALUE otherwise). Across
 * processes or machines, nc_stream_save and nc_stream_load carry the
 * accumulators (and the merged pass 1) through files.
 *
 * A failed call leaves the accumulator unchanged. One stream per thread at
 * a time.
 */
typedef struct nc_stream nc_stream;

/* Accumulator for d >= 1 features and K >= 2 classes (d, K <= INT_MAX);
 * no classifier; pass 1. */
NC_API nc_status nc_stream_create(nc_stream **stream, size_t d, size_t K);
/* Deep copy (state, classifier, pass, thread count); a failure is reported
 * like a create's (nc_create_last_error). */
NC_API nc_status nc_stream_copy(nc_stream **copy, const nc_stream *stream);
/* Threads of the stream's passes, in [1, 1024] (default 1; see above):
 * threads - 1 workers are started (and the previous ones joined), with
 * 2 K counts and 2 K B doubles of scratch for each. Allowed in either pass;
 * the state is unchanged. NC_ERR_INVALID_VALUE outside the range,
 * NC_ERR_OUT_OF_MEMORY if the threads or their scratch cannot be had (the
 * stream keeps its previous threads). */
NC_API nc_status nc_stream_set_threads(nc_stream *stream, size_t threads);
/* The stream's thread count (0 for NULL). */
NC_API size_t nc_stream_get_threads(const nc_stream *stream);
/* Whether pass 2 accumulates the within-class scatter of NC1 =
 * tr(Sigma_W Sigma_B^+)/K: NC_NC1_PATH_AUTO (default: the d x d scatter or
 * its projection, the cheaper, as above) or NC_NC1_PATH_NONE (none: pass 2
 * costs O(d) per sample beside NC4, the scatter's O(q^2 + d q) doubles
 * are freed, NC1 of nc_metrics_compute_stream is NC_ERR_UNAVAILABLE, and
 * every other metric has the same bits as with AUTO). Pass 1 only, at any
 * time in it (the state is kept). Copies and files keep the path; streams
 * merge only with the same path. NC_ERR_INVALID_VALUE for another value
 * or in pass 2, NC_ERR_OUT_OF_MEMORY (the stream is unchanged). */
NC_API nc_status nc_stream_set_nc1_path(nc_stream *stream, nc_nc1_path path);
/* The stream's path: NC_NC1_PATH_AUTO or NC_NC1_PATH_NONE (AUTO for NULL). */
NC_API nc_nc1_path nc_stream_get_nc1_path(const nc_stream *stream);
/* Free; accepts NULL. */
NC_API void nc_stream_destroy(nc_stream *stream);
/* Classifier W (K x d row-major, stride ldw >= d) and optional bias b (K
 * values, NULL for none), copied; W == NULL removes it. Finite values only.
 * Allowed in pass 1 only. */
NC_API nc_status nc_stream_set_classifier(nc_stream *stream, const double *W, size_t ldw,
                                          const double *b);
/* Add a batch of n samples (n may be 0, with H and labels then unused): H
 * d x n column-major with stride ldh >= d, labels in [0, K), finite values. */
NC_API nc_status nc_stream_add(nc_stream *stream, size_t n, const double *H, size_t ldh,
                               const int32_t *labels);
/* The same for float32 features: H d x n column-major float, ldh >= d.
 * Each column is widened to double as it is used (no copy of the batch);
 * every sum is in double. The result equals nc_stream_add on the same
 * values converted to double. */
NC_API nc_status nc_stream_add_float(nc_stream *stream, size_t n, const float *H, size_t ldh,
                                     const int32_t *labels);
/* Merge other into stream (same d, K, classifier and pass; see above). */
NC_API nc_status nc_stream_merge(nc_stream *stream, const nc_stream *other);
/* End pass 1: every class must have samples (NC_ERR_EMPTY_CLASS). Freezes
 * the means and starts pass 2. */
NC_API nc_status nc_stream_next_pass(nc_stream *stream);
/* Current pass (1 or 2; 0 for NULL). */
NC_API int nc_stream_pass(const nc_stream *stream);
/* Samples added in the current pass (0 for NULL). */
NC_API size_t nc_stream_num_samples(const nc_stream *stream);
/* The class means of the samples of pass 1 into M (d x K column-major,
 * class k in column k, ldm >= d), as the stream holds them (the running
 * means of the features scaled by a power of two, scaled back by it, which
 * adds no rounding unless a mean is subnormal), and the K
 * class counts into counts unless it is NULL. In pass 1 the means so far
 * (zero for a class without samples); in pass 2 the frozen means. For the
 * caller's own use of the means (frames, structure metrics) without
 * summing the data a second time. NC_ERR_NULL_ARGUMENT, NC_ERR_SIZE_MISMATCH
 * (ldm < d). */
NC_API nc_status nc_stream_get_class_means(const nc_stream *stream, double *M, size_t ldm,
                                           size_t *counts);
/* Message describing the last failure on this stream ("" if none). */
NC_API const char *nc_stream_last_error(const nc_stream *stream);

/* Compute every metric from a stream in pass 2 that has seen, in pass 2,
 * the same class counts as in pass 1 (NC_ERR_SIZE_MISMATCH otherwise),
 * with the conventions of the metrics handle. Results, availability and
 * messages as nc_metrics_compute_data. */
NC_API nc_status nc_metrics_compute_stream(nc_metrics *metrics, const nc_stream *stream);

/* ---- stream files ------------------------------------------------------------ */
/*
 * Save the complete state of an accumulator to path: d, K, pass, classifier,
 * class counts and means, the largest |h|, and in pass 2 the frozen basis
 * and scaled classifier, the scatter sum with its compensation and the NC4
 * and accuracy counts. Shards can thus be accumulated by different
 * processes or machines and combined: an accumulator loaded from the file
 * merges, and gives metrics, bit for bit as the one saved. The file is
 * versioned (magic "NCSTRM\r\n", format 2; not a checkpoint), little-endian
 * whatever the host, ends with a 64-bit FNV-1a checksum, and replaces path
 * atomically (temporary file in the same directory, fsync, rename, fsync of
 * the directory): a crash never leaves a half-written file. The stream is
 * not changed (non-const only for its message). Errors:
 * NC_ERR_NULL_ARGUMENT, NC_ERR_IO, NC_ERR_OUT_OF_MEMORY.
 */
NC_API nc_status nc_stream_save(const char *path, nc_stream *stream);
/*
 * Replace the whole state of stream, created with the file's d and K, by the
 * state saved in path (pass and classifier included): a worker or a
 * coordinator creates nc_stream_create(d, K) and loads into it. A stream
 * never goes back a pass: a stream in pass 2 loads only a pass-2 file, one
 * in pass 1 loads either (this is how a worker receives the frozen pass 1
 * for its shard of pass 2). Saving a loaded stream writes the same bytes.
 * Refused, with the stream unchanged and the details in its message:
 * NC_ERR_NULL_ARGUMENT, NC_ERR_IO (cannot open or read), NC_ERR_FORMAT (not
 * a stream file, unknown version or flags, or contents no accumulator can
 * hold), NC_ERR_TRUNCATED, NC_ERR_FILE_SIZE (bytes after the checksum),
 * NC_ERR_CHECKSUM (corrupted), NC_ERR_MISMATCH (other d or K, or a pass-1
 * file for a stream in pass 2), NC_ERR_OUT_OF_MEMORY.
 */
NC_API nc_status nc_stream_load(const char *path, nc_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* NCOLLAPSE_H */

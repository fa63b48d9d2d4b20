/*
 * kernels/rule.h - the first-order update rules. nc__rules, below, is the one
 * list of them: for each rule its public algorithm, name, buffers, default
 * hyper-parameters, scalar form, divergence bound and the hyper-parameters a
 * checkpoint saves; its vector form, which the kernels apply to the columns
 * of H inside the pass, is its COL_* branch of FN(column) in
 * kernels/kernels_tmpl.h.
 * nc__rule_apply applies a rule to one variable (the optimizer's small
 * variables, the last rows of a column in the kernels).
 * docs/RECIPE-rule.md: how to add a rule.
 */
#ifndef NC_RULE_H
#define NC_RULE_H

#include "common/common.h"

/* A rule's kind is its index in nc__rules. */
typedef enum nc__rule_kind {
    NC__RULE_HEAVY_BALL,
    NC__RULE_NESTEROV,
    NC__RULE_ADAM,
    NC__RULE_COUNT
} nc__rule_kind;

/* A rule as applied in one step: its kind, its hyper-parameters and the
 * step's constants. The optimizer keeps the hyper-parameters in one of
 * these (nc_optimizer.hp) and completes a copy per step. */
typedef struct nc__rule {
    nc__rule_kind kind;
    double lr;
    double momentum;           /* heavy ball / Nesterov: 0 means plain GD */
    double beta1, beta2, eps;  /* Adam */
    double bc1, bc2;           /* Adam bias corrections 1/(1 - beta^t) */
    int project;               /* clamp the result at 0 (ReLU features) */
} nc__rule;

/* The hyper-parameters by number, for the checkpoints (nc__rule_param).
 * Checkpoint format 1 saves the first NC__PARAM_FORMAT1 of them for every
 * algorithm, in this order; one numbered from NC__PARAM_FORMAT1 on is
 * saved, after them, only for the rules whose nc__rule_def.params has it,
 * so that the files of the other algorithms keep their layout. */
typedef enum nc__param {
    NC__PARAM_MOMENTUM,
    NC__PARAM_BETA1,
    NC__PARAM_BETA2,
    NC__PARAM_EPS,
    NC__PARAM_COUNT
} nc__param;
#define NC__PARAM_FORMAT1 4
#define NC__PARAM_BIT(p) (1u << (p))

static inline double *nc__rule_param(nc__rule *r, nc__param p)
{
    switch (p) {
    case NC__PARAM_MOMENTUM: return &r->momentum;
    case NC__PARAM_BETA1: return &r->beta1;
    case NC__PARAM_BETA2: return &r->beta2;
    case NC__PARAM_EPS: return &r->eps;
    default: return NULL;
    }
}

/* ---- the scalar forms --------------------------------------------------------
 * The step (before the learning rate) of one variable with gradient g, its
 * buffers v, s updated in place (NULL when the rule does not keep them).
 * The kernels' vector forms repeat these operations in the same order.
 * Always inlined: nc__rule_apply then compiles as if they were written in
 * it, although the table takes their addresses (with GCC, an address taken
 * changes which calls it inlines early, and so the kernels' code). */
#if defined(__GNUC__)
#define NC__RULE_INLINE static inline __attribute__((always_inline))
#else
#define NC__RULE_INLINE static inline
#endif

/* Heavy ball: v <- mu v + g, step v; without v (mu = 0) plain GD. */
NC__RULE_INLINE double nc__rule_step_heavy_ball(const nc__rule *r, double g, double *v, double *s)
{
    double step;
    (void)s;
    if (v) {
        *v = r->momentum * *v + g;
        step = *v;
    } else
        step = g;
    return step;
}

/* Nesterov: v <- mu v + g, step g + mu v; without v (mu = 0) plain GD. */
NC__RULE_INLINE double nc__rule_step_nesterov(const nc__rule *r, double g, double *v, double *s)
{
    double step;
    (void)s;
    if (v) {
        *v = r->momentum * *v + g;
        step = g + r->momentum * *v;
    } else
        step = g;
    return step;
}

/* Adam: v <- b1 v + (1-b1) g, s <- b2 s + (1-b2) g^2, step (v bc1) / (sqrt(s bc2) + eps). */
NC__RULE_INLINE double nc__rule_step_adam(const nc__rule *r, double g, double *v, double *s)
{
    *v = r->beta1 * *v + (1.0 - r->beta1) * g;
    *s = r->beta2 * *s + (1.0 - r->beta2) * g * g;
    return (*v * r->bc1) / (sqrt(*s * r->bc2) + r->eps);
}

/* Adam's constants of step t = 1, 2, ...: the bias corrections. */
static inline void nc__rule_begin_adam(nc__rule *r, double t)
{
    r->bc1 = 1.0 / (1.0 - pow(r->beta1, t)); /* pow costs 1% of a tiny step */
    r->bc2 = 1.0 / (1.0 - pow(r->beta2, t));
}

/* ---- the divergence bounds ---------------------------------------------------
 * A bound on the norm of the step (before the learning rate) of n variables
 * whose gradient has norm at most g and whose buffer v has norm vn (the
 * optimizer's divergence guard, optimizer.c). */

/* Heavy ball and Nesterov: ||v'|| <= mu ||v|| + g, ||step|| <= g + mu ||v'||
 * (Nesterov's step, which also bounds heavy ball's v'). */
static inline double nc__rule_bound_momentum(const nc__rule *r, double g, double vn, double n)
{
    const double v1 = r->momentum * vn + g;
    (void)n;
    return g + r->momentum * v1;
}

/* Adam: every entry of the step is at most A = 1/sqrt((1-b2)(1-b1^2/b2))
 * (Cauchy-Schwarz on the moment sums), so ||step|| <= A sqrt(n). */
static inline double nc__rule_bound_adam(const nc__rule *r, double g, double vn, double n)
{
    const double A = 1.0 / sqrt((1.0 - r->beta2) * (1.0 - r->beta1 * r->beta1 / r->beta2));
    (void)g;
    (void)vn;
    return A * sqrt(n);
}

/* ---- the table ---------------------------------------------------------------- */

/* Buffers a rule keeps, one value per variable each (nc__rule_def.buffers). */
#define NC__RULE_V 1u          /* v */
#define NC__RULE_V_MOMENTUM 2u /* v while the momentum is > 0; without it the rule is
                                * plain gradient descent (the kernels' COL_GD) */
#define NC__RULE_S 4u          /* s */

typedef struct nc__rule_def {
    nc__rule_kind kind;     /* its index in nc__rules */
    nc_algorithm algorithm; /* the method's public name */
    const char *name;
    unsigned buffers;       /* NC__RULE_V, NC__RULE_V_MOMENTUM, NC__RULE_S */
    double lr, momentum;    /* defaults of nc_optimizer_create */
    /* Checkpoint fields: the hyper-parameters it reads,
     * NC__PARAM_BIT(NC__PARAM_*) (nc__param says where a file holds them),
     * and its buffers of H from .buffers: s with NC__RULE_S, v whenever
     * allocated (the file flags it). */
    unsigned params;
    /* Its scalar form, the case of nc__rule_apply. */
    double (*step)(const nc__rule *r, double g, double *v, double *s);
    /* Constants of step t (t = 1, 2, ...), or NULL. */
    void (*begin)(nc__rule *r, double t);
    /* Its divergence bound. */
    double (*step_bound)(const nc__rule *r, double g, double vn, double n);
} nc__rule_def;

/* In kind order. Each entry's vector form is the kernels' case COL_RULE +
 * kind (kernels_tmpl.h: its branch of FN(column)); the kernels check at
 * compile time that every kind has a case, tests/test_kernels_rules.c that each
 * case gives the bits of the scalar form. */
static const nc__rule_def nc__rules[] = {
    /* vector form: COL_HEAVY (with v), COL_GD (without) */
    {NC__RULE_HEAVY_BALL, NC_OPT_GD, "heavy_ball", NC__RULE_V_MOMENTUM, 0.1, 0.0,
     NC__PARAM_BIT(NC__PARAM_MOMENTUM), nc__rule_step_heavy_ball, NULL, nc__rule_bound_momentum},
    /* vector form: COL_NESTEROV (with v), COL_GD (without) */
    {NC__RULE_NESTEROV, NC_OPT_NESTEROV, "nesterov", NC__RULE_V_MOMENTUM, 0.1, 0.9,
     NC__PARAM_BIT(NC__PARAM_MOMENTUM), nc__rule_step_nesterov, NULL, nc__rule_bound_momentum},
    /* vector form: COL_ADAM */
    {NC__RULE_ADAM, NC_OPT_ADAM, "adam", NC__RULE_V | NC__RULE_S, 1e-3, 0.0,
     NC__PARAM_BIT(NC__PARAM_BETA1) | NC__PARAM_BIT(NC__PARAM_BETA2) | NC__PARAM_BIT(NC__PARAM_EPS),
     nc__rule_step_adam, nc__rule_begin_adam, nc__rule_bound_adam},
};
typedef char
    nc__rules_one_entry_per_kind[sizeof nc__rules / sizeof nc__rules[0] == NC__RULE_COUNT ? 1 : -1];

/* The rule of a first-order algorithm; NULL for L-BFGS and unknown values. */
static inline const nc__rule_def *nc__rule_lookup(nc_algorithm algorithm)
{
    int k;
    for (k = 0; k < NC__RULE_COUNT; k++)
        if (nc__rules[k].algorithm == algorithm) return &nc__rules[k];
    return NULL;
}

/* The buffers the rule uses at this momentum (NC__RULE_V, NC__RULE_S). */
static inline unsigned nc__rule_buffers(const nc__rule_def *def, double momentum)
{
    const unsigned b = def->buffers;
    return ((b & NC__RULE_V) || ((b & NC__RULE_V_MOMENTUM) && momentum > 0) ? NC__RULE_V : 0u) |
           (b & NC__RULE_S);
}

/* One variable x with gradient g and buffers v, s (NULL where the rule
 * keeps none, or v for a momentum rule at momentum 0). Returns the new x. */
static inline double nc__rule_apply(const nc__rule *r, double x, double g, double *v, double *s)
{
    double step;
    switch (r->kind) {
    case NC__RULE_ADAM: step = nc__rule_step_adam(r, g, v, s); break;
    case NC__RULE_NESTEROV: step = nc__rule_step_nesterov(r, g, v, s); break;
    case NC__RULE_HEAVY_BALL:
    default: step = nc__rule_step_heavy_ball(r, g, v, s); break;
    }
    x -= r->lr * step;
    if (r->project && x < 0.0) x = 0.0;
    return x;
}

#endif /* NC_RULE_H */

/*
 * kernels/rule.h - the first-order update rules, applied element by element
 * to the small variables (optimizer) and to the columns of H inside the
 * pass (the kernels' columns finish).
 */
#ifndef NC_RULE_H
#define NC_RULE_H

#include "common/common.h"

typedef enum nc__rule_kind { NC__RULE_HEAVY_BALL, NC__RULE_NESTEROV, NC__RULE_ADAM } nc__rule_kind;

typedef struct nc__rule {
    nc__rule_kind kind;
    double lr;
    double momentum;           /* heavy ball / Nesterov: 0 means plain GD */
    double beta1, beta2, eps;  /* Adam */
    double bc1, bc2;           /* Adam bias corrections 1/(1 - beta^t) */
    int project;               /* clamp the result at 0 (ReLU features) */
} nc__rule;

/* One variable x with gradient g and buffers v, s (unused ones may be NULL
 * when the rule does not need them). Returns the new x. */
static inline double nc__rule_apply(const nc__rule *r, double x, double g, double *v, double *s)
{
    double step;
    switch (r->kind) {
    case NC__RULE_ADAM:
        *v = r->beta1 * *v + (1.0 - r->beta1) * g;
        *s = r->beta2 * *s + (1.0 - r->beta2) * g * g;
        step = (*v * r->bc1) / (sqrt(*s * r->bc2) + r->eps);
        break;
    case NC__RULE_NESTEROV:
        if (v) {
            *v = r->momentum * *v + g;
            step = g + r->momentum * *v;
        } else
            step = g;
        break;
    default:
        if (v) {
            *v = r->momentum * *v + g;
            step = *v;
        } else
            step = g;
        break;
    }
    x -= r->lr * step;
    if (r->project && x < 0.0) x = 0.0;
    return x;
}

#endif /* NC_RULE_H */

/* params.c - the table of loss parameters: for each its name, the losses
 * that read it, its valid range and its default; the one check of a value,
 * used by nc_model_set_loss_parameter and by the checkpoint loader alike. */
#include "loss/loss.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Row p is parameter p (designated initializers); ranges and defaults are
 * those of the header's nc_loss and nc_loss_parameter. */
static const nc__loss_param_def param_table[] = {
    /* MSE: s > 0, default 1 */
    [NC_LOSS_PARAM_TARGET_SCALE] = {NC_LOSS_PARAM_TARGET_SCALE, "target_scale",
                                    NC__LOSS_BIT(NC_LOSS_MSE), 0.0, INFINITY, 0, 0, 1.0},
    /* label smoothing: eps in [0, 1), default 0.1 */
    [NC_LOSS_PARAM_SMOOTHING] = {NC_LOSS_PARAM_SMOOTHING, "smoothing",
                                 NC__LOSS_BIT(NC_LOSS_LABEL_SMOOTHING), 0.0, 1.0, 1, 0, 0.1},
    /* focal: gamma >= 0, default 2 */
    [NC_LOSS_PARAM_FOCAL_GAMMA] = {NC_LOSS_PARAM_FOCAL_GAMMA, "focal_gamma",
                                   NC__LOSS_BIT(NC_LOSS_FOCAL), 0.0, INFINITY, 1, 0, 2.0},
    /* logit adjustment: any finite tau, default 1 */
    [NC_LOSS_PARAM_LOGIT_TAU] = {NC_LOSS_PARAM_LOGIT_TAU, "logit_tau",
                                 NC__LOSS_BIT(NC_LOSS_LOGIT_ADJUSTED), -INFINITY, INFINITY, 0, 0,
                                 1.0},
    /* dot-regression: c > 0, default 1 */
    [NC_LOSS_PARAM_DOT_TARGET] = {NC_LOSS_PARAM_DOT_TARGET, "dot_target",
                                  NC__LOSS_BIT(NC_LOSS_DOT_REGRESSION), 0.0, INFINITY, 0, 0, 1.0},
};

NC__STATIC_ASSERT(sizeof param_table / sizeof param_table[0] == NC__LOSS_PARAM_COUNT,
                  one_row_per_loss_parameter);
/* every loss fits the bit mask of losses */
NC__STATIC_ASSERT(NC__LOSS_COUNT <= 32, loss_bits_fit_unsigned);

const nc__loss_param_def *nc__loss_param_lookup(nc_loss_parameter id)
{
    const int i = (int)id;
    return i >= 0 && i < NC__LOSS_PARAM_COUNT ? &param_table[i] : NULL;
}

/* "name (loss, loss)": the parameter and the losses that read it. */
static void describe(const nc__loss_param_def *p, char *buf, size_t size)
{
    size_t len;
    int l;
    const char *sep = " (";
    snprintf(buf, size, "%s", p->name);
    for (l = 0; l < NC__LOSS_COUNT; l++) {
        const nc__loss_def *def = nc__loss_lookup((nc_loss)l);
        if (!(p->losses & NC__LOSS_BIT(l)) || !def) continue;
        len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", sep, def->name);
        sep = ", ";
    }
    len = strlen(buf);
    if (sep[0] == ',') snprintf(buf + len, size - len, ")");
}

nc_status nc__loss_param_check(nc_loss_parameter id, double v, char *msg)
{
    const nc__loss_param_def *p = nc__loss_param_lookup(id);
    char name[96];
    if (p)
        describe(p, name, sizeof name);
    else
        snprintf(name, sizeof name, "%d", (int)id);
    if (!nc__is_finite(v)) {
        snprintf(msg, NC_MSG_SIZE, "loss parameter %s = %g is not finite", name, v);
        return NC_ERR_NON_FINITE;
    }
    if (!p) {
        snprintf(msg, NC_MSG_SIZE, "unknown loss parameter %s", name);
        return NC_ERR_INVALID_VALUE;
    }
    if (!(p->lo_closed ? v >= p->lo : v > p->lo) || !(p->hi_closed ? v <= p->hi : v < p->hi)) {
        snprintf(msg, NC_MSG_SIZE, "loss parameter %s = %.17g outside %c%g, %g%c", name, v,
                 p->lo_closed ? '[' : '(', p->lo, p->hi, p->hi_closed ? ']' : ')');
        return NC_ERR_INVALID_VALUE;
    }
    return NC_SUCCESS;
}

void nc__loss_param_defaults(double param[NC__LOSS_PARAM_COUNT])
{
    int i;
    for (i = 0; i < NC__LOSS_PARAM_COUNT; i++) param[i] = param_table[i].default_value;
}

/* loss.c - the table of losses; adding a loss is one file and one row here. */
#include "loss.h"

static const nc__loss_def loss_table[] = {
    {NC_LOSS_CE, "ce", nc__loss_ce_value_grad},
    {NC_LOSS_MSE, "mse", nc__loss_mse_value_grad},
};

const nc__loss_def *nc__loss_lookup(nc_loss id)
{
    size_t i;
    for (i = 0; i < sizeof loss_table / sizeof loss_table[0]; i++)
        if (loss_table[i].id == id) return &loss_table[i];
    return NULL;
}

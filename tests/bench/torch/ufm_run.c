/*
 * ufm_run.c - the libncollapse side of tests/bench/pytorch_compare.py.
 * Creates a UFM, writes its initial state, runs gradient descent and writes
 * the final state and the time per iteration. Raw native-endian files in DIR:
 *   labels.i32 (N int32), W0.f64 (K x d row-major), H0.f64 (N x d C order =
 *   d x N column-major), b0.f64 (K), then W.f64, H.f64, b.f64 after the steps.
 * Usage: ufm_run DIR K d N ce|mse steps threads lr lr_H momentum
 * Prints "seconds_per_iteration <median>" and "objective <value>".
 * Weight decays lambda_W = lambda_H = 5e-4, lambda_b = 1e-3, bias on.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ncollapse.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void save(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes || fclose(f) != 0) {
        fprintf(stderr, "ufm_run: cannot write %s\n", path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *dir;
    size_t K, d, N, steps, threads, k, i, batch, nb, s;
    double lr, lrH, mu, *W, *H, b[4096], *times, t;
    int32_t *labels;
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    if (argc != 11) {
        fprintf(stderr, "usage: ufm_run DIR K d N ce|mse steps threads lr lr_H momentum\n");
        return 2;
    }
    dir = argv[1];
    K = strtoul(argv[2], 0, 10);
    d = strtoul(argv[3], 0, 10);
    N = strtoul(argv[4], 0, 10);
    steps = strtoul(argv[6], 0, 10);
    threads = strtoul(argv[7], 0, 10);
    lr = atof(argv[8]);
    lrH = atof(argv[9]);
    mu = atof(argv[10]);
    if (K > 4096 || steps == 0) return 2;
    labels = malloc(N * sizeof *labels);
    W = malloc(K * d * sizeof *W);
    H = malloc(d * N * sizeof *H);
    times = malloc(steps * sizeof *times);
    for (i = 0; i < N; i++) labels[i] = (int32_t)(i % K); /* interleaved classes */
    if (nc_model_create(&m, d, K, N, labels) != NC_SUCCESS) return 1;
    nc_model_set_loss(m, strcmp(argv[5], "mse") == 0 ? NC_LOSS_MSE : NC_LOSS_CE);
    nc_model_set_bias(m, 1);
    nc_model_set_weight_decay(m, 5e-4, 5e-4, 1e-3);
    nc_model_init_gaussian(m, 0.1, 2024);
    for (k = 0; k < K; k++) b[k] = 0.01 * (double)((int)(k % 5) - 2);
    nc_model_set_b(m, b);
    if (nc_model_set_threads(m, threads) != NC_SUCCESS) return 1;
    nc_model_get_W(m, W, d);
    nc_model_get_H(m, H, d);
    save(dir, "labels.i32", labels, N * sizeof *labels);
    save(dir, "W0.f64", W, K * d * sizeof *W);
    save(dir, "H0.f64", H, d * N * sizeof *H);
    save(dir, "b0.f64", b, K * sizeof *b);

    nc_optimizer_create(&o, m, NC_OPT_GD);
    nc_optimizer_set_learning_rate(o, lr);
    nc_optimizer_set_feature_learning_rate(o, lrH);
    if (mu > 0) nc_optimizer_set_momentum(o, mu);
    /* Time steps in batches of >= 2 ms (single steps are too short to time
     * at the smallest sizes); the median batch gives the time per step. */
    t = now();
    if (nc_optimizer_step(o) != NC_SUCCESS) return 1;
    t = now() - t;
    batch = t > 2e-3 ? 1 : (size_t)(2e-3 / (t > 1e-7 ? t : 1e-7)) + 1;
    if (batch > steps) batch = 1;
    for (s = 1, nb = 0; s < steps; nb++) {
        const size_t n = steps - s < batch ? steps - s : batch;
        t = now();
        for (i = 0; i < n; i++)
            if (nc_optimizer_step(o) != NC_SUCCESS) return 1;
        times[nb] = (now() - t) / (double)n;
        s += n;
    }
    qsort(times, nb, sizeof *times, cmp_double);
    printf("seconds_per_iteration %.6e\n", nb ? times[nb / 2] : t);
    printf("objective %.17g\n", nc_optimizer_objective(o));
    nc_model_get_W(m, W, d);
    nc_model_get_H(m, H, d);
    nc_model_get_b(m, b);
    save(dir, "W.f64", W, K * d * sizeof *W);
    save(dir, "H.f64", H, d * N * sizeof *H);
    save(dir, "b.f64", b, K * sizeof *b);
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    free(labels); free(W); free(H); free(times);
    return 0;
}
